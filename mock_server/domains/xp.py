"""XP and levels (Xentree): the XP and learning-time record every learning activity writes to, and the rules of the
XP views. (The Timeback XP ledger, a separate API, is domains/xp_ledger.py.)

Conversations, Xentree English and Xentree Live call `award_xp` and `record_session`; the Profile & Analytics views
(profile, streaks, weekly activity, pulse, quests, learning time) and the XEL dashboard's learning time all read the
aggregates kept from these two tables (mock_server.domains.xp_aggregates) plus the booster, token-spend and
quest-claim side tables kept here, so they always agree with each other and cost O(days shown), not O(history).

Days are the user's local days (`users.timezone`, an unknown zone counts as UTC): an XP transaction belongs to the
local day of its `created_at`, a learning session to the local day it started. Every view reads the ledger as of
the mock clock's now, so moving the clock back hides what was written "later".

Rules (documented in the README):
- Booster: while a booster runs, `award_xp` multiplies the amount (rounded) before writing it.
- Tokens: 1 token per 10 lifetime XP, minus the tokens spent (`token_spends`, e.g. buying a booster).
- Streak: a day counts when the user earned XP on it. Every 7th day of a streak earns one freeze (hold at most 2).
  A past day without XP consumes a freeze while the streak is alive (the day is "covered": the streak survives but
  does not grow); with no freeze left the streak breaks. Today never breaks a streak: it is still open.
- Daily quests (fixtures/catalog/quests.yaml): progress counts the local day; `ready_to_complete` at the target; the
  next learning activity of that day claims the reward (a `quest` transaction) and the quest is `completed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from mock_server.catalogs import load_catalog, require
from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, tables
from mock_server.domains.xp_aggregates import (  # re-exported: the XP views and the writers import them from here
    Day,
    Ledger,
    Streaks,
    add_activity,
    day_start,
    lifetime_xp,
    load_ledger,
    local_day,
    streaks,
    touch,
    user_streaks,
    user_zone,
    within_day,
    xel_learning_seconds,
    zone,
)
from mock_server.errors import conflict

# The `source` values of XP transactions (XPProfileResponse.recent_transactions[].source).
SOURCES = (
    "task_submission",
    "module_completion",
    "conversation_session",
    "live_session",
    "quest",
    "evaluation",
    "bonus",
)
XP_PER_TOKEN = 10

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
-- XP boosters: `award_xp` multiplies amounts while one runs (starts_at <= t < ends_at).
CREATE TABLE IF NOT EXISTS xp_boosters (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    multiplier REAL NOT NULL CHECK (multiplier >= 1),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
-- Tokens spent; the balance is lifetime XP // 10 minus these.
CREATE TABLE IF NOT EXISTS token_spends (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    amount INTEGER NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Claimed daily quests, by the user's local date; the reward is the referenced `quest` transaction.
CREATE TABLE IF NOT EXISTS quest_claims (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    quest_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    PRIMARY KEY (user_id, day, quest_id)
);
""")


def recent_transactions(call: Call, user_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The newest transactions written up to now (ties: the later write first)."""
    now = call.clock.now()
    rows = call.store.all(
        "SELECT id, amount, source, description, created_at FROM xp_transactions WHERE user_id = ? "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (user_id, limit + 50),  # a margin for rows dated after a clock moved back
    )
    visible = [r for r in rows if parse_instant(r["created_at"]) <= now]
    visible.sort(key=lambda r: parse_instant(r["created_at"]), reverse=True)  # stable: keeps the rowid order on ties
    return visible[:limit]


# daily quests ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quest:
    id: str
    title: str
    description: str
    type: str
    target: int
    xp_reward: int


QUEST_METRICS: dict[str, Callable[[Day], int]] = {
    "earn_xp": lambda d: d.xp - d.quest_xp,
    "complete_session": lambda d: d.sessions,
    "learning_minutes": lambda d: d.learning_time // 60,
    "pass_quiz": lambda d: d.quizzes_passed,
    "complete_task": lambda d: d.tasks,
}


@cache
def quest_catalog() -> tuple[Quest, ...]:
    """The quests of fixtures/catalog/quests.yaml; a type no metric counts is refused at load (not with `assert`,
    which `python -O` strips)."""
    quests = tuple(Quest(**q) for q in load_catalog("quests.yaml")["quests"])
    unknown = {q.type for q in quests} - set(QUEST_METRICS)
    require(not unknown, "quests.yaml", f"unknown quest types {sorted(unknown)}")
    return quests


def quests_for_day(call: Call, user_id: str, ledger: Ledger, day: date) -> list[dict[str, Any]]:
    """The day's quests (QuestItem bodies) with progress from the ledger and claims from `quest_claims`."""
    claimed = {
        r["quest_id"]
        for r in call.store.all(
            "SELECT quest_id FROM quest_claims WHERE user_id = ? AND day = ?", (user_id, day.isoformat())
        )
    }
    resets_at = iso(day_start(day + timedelta(days=1), ledger.tz))
    stats = ledger.day(day)
    items = []
    for q in quest_catalog():
        progress = min(q.target, QUEST_METRICS[q.type](stats))
        status = "completed" if q.id in claimed else "ready_to_complete" if progress >= q.target else "active"
        items.append(
            {
                "id": q.id,
                "title": q.title,
                "description": q.description,
                "type": q.type,
                "target": q.target,
                "progress": progress,
                "status": status,
                "xp_reward": q.xp_reward,
                "resets_at": resets_at,
            }
        )
    return items


def _ready_quests(call: Call, user_id: str, day: date) -> list[Quest]:
    ledger = load_ledger(call, user_id, since=day)
    ready = {q["id"] for q in quests_for_day(call, user_id, ledger, day) if q["status"] == "ready_to_complete"}
    return [q for q in quest_catalog() if q.id in ready]


def _claim(call: Call, user_id: str, day: date, quests: list[Quest], at: datetime) -> None:
    for q in quests:
        tx = award_xp(call, user_id, q.xp_reward, "quest", f"Daily quest completed: {q.title}", at=at)
        call.store.insert(
            "quest_claims", {"user_id": user_id, "day": day.isoformat(), "quest_id": q.id, "transaction_id": tx["id"]}
        )


# boosters and tokens ---------------------------------------------------------------------------------------------
def active_booster(call: Call, user_id: str, at: datetime | None = None) -> dict[str, Any] | None:
    """The strongest booster running at `at` (default now), as `{multiplier, ends_at}`, or None."""
    moment = at or call.clock.now()
    rows = call.store.all("SELECT multiplier, starts_at, ends_at FROM xp_boosters WHERE user_id = ?", (user_id,))
    running = [b for b in rows if parse_instant(b["starts_at"]) <= moment < parse_instant(b["ends_at"])]
    if not running:
        return None
    best = max(running, key=lambda b: (b["multiplier"], b["ends_at"]))
    return {"multiplier": best["multiplier"], "ends_at": best["ends_at"]}


def tokens_spent(call: Call, user_id: str) -> int:
    row = call.store.one("SELECT COALESCE(SUM(amount), 0) AS n FROM token_spends WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0


def token_balance(total_xp: int, spent: int) -> int:
    return max(0, total_xp // XP_PER_TOKEN - spent)


def start_booster(
    call: Call, user_id: str, multiplier: float, starts_at: datetime, ends_at: datetime, token_cost: int
) -> dict[str, Any]:
    """Buy a booster with tokens (409 when the balance is short) and schedule it."""
    balance = token_balance(lifetime_xp(call, user_id), tokens_spent(call, user_id))
    if token_cost > balance:
        raise conflict(
            f"A {multiplier:g}x booster costs {token_cost} tokens; the balance is {balance}", "insufficient_tokens"
        )
    spend = {
        "id": call.store.new_id(),
        "user_id": user_id,
        "amount": token_cost,
        "reason": f"{multiplier:g}x XP booster",
        "created_at": iso(starts_at),
    }
    call.store.insert("token_spends", spend)
    row = {
        "id": call.store.new_id(),
        "user_id": user_id,
        "multiplier": float(multiplier),
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at),
    }
    touch(call, user_id)
    return call.store.insert("xp_boosters", row)


# writes: every learning activity -----------------------------------------------------------------------------------
def award_xp(
    call: Call, user_id: str, amount: int, source: str, description: str, at: datetime | None = None
) -> dict[str, Any]:
    """Write one XP transaction (at the mock clock's now unless `at` is given) and return it.

    A running booster multiplies the amount. Quests that were ready before this activity are claimed with it (their
    rewards are `quest` transactions, which never claim anything themselves)."""
    assert source in SOURCES, source
    moment = at or call.clock.now()
    booster = active_booster(call, user_id, moment)
    tz = user_zone(call, user_id)
    day = local_day(moment, tz)
    ready = _ready_quests(call, user_id, day) if source != "quest" else []
    row = {
        "id": call.store.new_id(),
        "user_id": user_id,
        "amount": round(max(0, int(amount)) * (booster["multiplier"] if booster else 1)),
        "source": source,
        "description": description,
        "created_at": iso(moment),
    }
    add_activity(call, user_id, txs=[row])
    _claim(call, user_id, day, ready, moment)
    return row


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
    """Record a finished learning session; its length counts as learning time on the local day it started.

    Quests of that day that were ready before the session are claimed with it."""
    tz = user_zone(call, user_id)
    day = local_day(started_at, tz)
    ready = _ready_quests(call, user_id, day)
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
    add_activity(call, user_id, sessions=[row])
    _claim(call, user_id, day, ready, within_day(ended_at, day, tz))
    return row


__all__ = [
    "Day",
    "Ledger",
    "Streaks",
    "add_activity",
    "award_xp",
    "day_start",
    "lifetime_xp",
    "load_ledger",
    "local_day",
    "record_session",
    "streaks",
    "user_streaks",
    "user_zone",
    "xel_learning_seconds",
    "zone",
]
