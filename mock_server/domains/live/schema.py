"""The Live tables: sessions, the seconds booked per UTC month, nicknames and saved transcripts."""

from __future__ import annotations

from mock_server.domains import tables

tables("""
CREATE TABLE IF NOT EXISTS live_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_type TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_ts REAL NOT NULL,
    booked_until REAL NOT NULL,          -- mock-clock instant up to which the session's time is booked
    used_seconds INTEGER NOT NULL DEFAULT 0,
    ended_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS live_sessions_one_active ON live_sessions (user_id) WHERE ended_at IS NULL;
-- Seconds booked against a user's allowance, by UTC month ('YYYY-MM').
CREATE TABLE IF NOT EXISTS live_usage (
    seq INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    period TEXT NOT NULL,
    seconds INTEGER NOT NULL CHECK (seconds >= 0)
);
CREATE INDEX IF NOT EXISTS live_usage_user_period ON live_usage (user_id, period);
CREATE TABLE IF NOT EXISTS live_nicknames (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    nickname TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS live_transcripts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    session_started_at TEXT NOT NULL,
    session_ended_at TEXT NOT NULL,
    started_ts REAL NOT NULL,
    turns TEXT NOT NULL,                 -- JSON list of TranscriptTurn
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS live_transcripts_user ON live_transcripts (user_id, started_ts);
""")
