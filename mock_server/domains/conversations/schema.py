"""The conversation tables: conversations, their messages, and their learning-time sessions (the search index over
conversations and messages is search.py's, built on these tables' rowids)."""

from __future__ import annotations

from mock_server.domains import tables

tables("""
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY,  -- creation order (ties) and the search index's rowid
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    provider TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_ts REAL NOT NULL  -- updated_at as a number: ISO strings with and without fractions do not sort
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user_id, updated_ts);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,  -- message order within a conversation, and the search index's rowid
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, seq);
-- Learning-time sessions of a conversation; at most one active (ended_at NULL) per conversation.
CREATE TABLE IF NOT EXISTS conversation_sessions (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    counted_seconds INTEGER NOT NULL DEFAULT 0,  -- learning time up to last_activity_at
    ended_at TEXT,
    xp_awarded INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS conversation_sessions_active ON conversation_sessions (conversation_id)
    WHERE ended_at IS NULL;
""")
