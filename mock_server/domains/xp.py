"""The XP ledger and learning-time record that every learning activity writes to.

Conversations, Xentree English and Xentree Live call `award_xp` and `record_session`; the Profile & Analytics views
(profile, streaks, weekly activity, pulse, quests, learning time) are all computed from these two tables, so they
always agree with each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, tables

# The `source` values of XP transactions (XPProfileResponse.recent_transactions[].source).
SOURCES = ("task_submission", "module_completion", "conversation_session", "live_session", "quest", "evaluation",
           "bonus")  # fmt: skip

tables("""
CREATE TABLE IF NOT EXISTS xp_transactions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    source TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS xp_transactions_user_time ON xp_transactions (user_id, created_at);
-- One row per finished learning session (conversation, XEL, live); quizzes count evaluated tasks.
CREATE TABLE IF NOT EXISTS learning_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    seconds INTEGER NOT NULL CHECK (seconds >= 0),
    quizzes INTEGER NOT NULL DEFAULT 0,
    quizzes_passed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS learning_sessions_user_time ON learning_sessions (user_id, started_at);
""")


def award_xp(
    call: Call, user_id: str, amount: int, source: str, description: str, at: datetime | None = None
) -> dict[str, Any]:
    """Write one XP transaction (at the mock clock's now unless `at` is given) and return it."""
    assert source in SOURCES, source
    row = {
        "id": call.store.new_id(),
        "user_id": user_id,
        "amount": max(0, int(amount)),
        "source": source,
        "description": description,
        "created_at": iso(at or call.clock.now()),
    }
    return call.store.insert("xp_transactions", row)


def record_session(
    call: Call,
    user_id: str,
    kind: str,
    started_at: datetime,
    ended_at: datetime,
    *,
    quizzes: int = 0,
    quizzes_passed: int = 0,
) -> dict[str, Any]:
    """Record a finished learning session; its length counts as learning time on the day it started."""
    row = {
        "id": call.store.new_id(),
        "user_id": user_id,
        "kind": kind,
        "started_at": iso(started_at),
        "ended_at": iso(ended_at),
        "seconds": max(0, int((ended_at - started_at).total_seconds())),
        "quizzes": quizzes,
        "quizzes_passed": quizzes_passed,
    }
    return call.store.insert("learning_sessions", row)
