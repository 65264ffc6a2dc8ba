"""The XEL tables: per-user module progress, task variants, submissions, score samples, activity, learning sessions
and their transcripts (the catalog itself is static: fixtures/catalog/xel-modules.yaml)."""

from __future__ import annotations

from mock_server.domains import tables

tables("""
CREATE TABLE IF NOT EXISTS xel_progress (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    PRIMARY KEY (user_id, module_id)
);
-- The user's current variant of a task (absent = variant 1).
CREATE TABLE IF NOT EXISTS xel_variants (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    variant INTEGER NOT NULL,
    PRIMARY KEY (user_id, task_id)
);
-- Every submission is kept; the latest one per task is the task's state.
CREATE TABLE IF NOT EXISTS xel_submissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    variant INTEGER NOT NULL,
    response TEXT NOT NULL,
    time_spent_seconds INTEGER NOT NULL,
    score INTEGER,
    status TEXT NOT NULL,
    xp_awarded INTEGER NOT NULL,
    submitted_at TEXT NOT NULL
);
-- Score samples the XPI is computed from: scored submissions and evaluations.
CREATE TABLE IF NOT EXISTS xel_scores (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    score INTEGER NOT NULL,
    source TEXT NOT NULL,
    module_id TEXT,
    task_id TEXT,
    text_hash TEXT,
    ts REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS xel_scores_user_time ON xel_scores (user_id, ts);
CREATE TABLE IF NOT EXISTS xel_activity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    module_id TEXT,
    task_id TEXT,
    description TEXT NOT NULL,
    xp_awarded INTEGER NOT NULL,
    ts REAL NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS xel_activity_user_time ON xel_activity (user_id, ts);
CREATE TABLE IF NOT EXISTS xel_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id TEXT,
    session_type TEXT NOT NULL,
    skill TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS xel_transcripts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES xel_sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    timestamp TEXT NOT NULL,
    created_at TEXT NOT NULL
);
""")
