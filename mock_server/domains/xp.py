"""The XP ledger and learning-time record that every learning activity writes to.

Conversations, Xentree English and Xentree Live call `award_xp` and `record_session`; the Profile & Analytics views
(profile, streaks, weekly activity, pulse, quests, learning time) are all computed from these two tables (plus the
booster, token-spend and quest-claim side tables kept here), so they always agree with each other.

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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, tables
from mock_server.errors import conflict
from mock_server.resources import fixtures_dir

# The `source` values of XP transactions (XPProfileResponse.recent_transactions[].source).
SOURCES = ("task_submission", "module_completion", "conversation_session", "live_session", "quest", "evaluation",
           "bonus")  # fmt: skip
QUIZ_SOURCES = ("task_submission", "evaluation")  # today_xp.quiz_xp; every other source is segments_xp
XP_PER_TOKEN = 10
FREEZE_EVERY = 7  # streak days per earned freeze
MAX_FREEZES = 2

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


# time zones and local days ---------------------------------------------------------------------------------------
@cache
def zone(name: str | None) -> ZoneInfo:
    """The user's zone; a name zoneinfo does not know counts as UTC, so a bad value never breaks a view."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def user_zone(call: Call, user_id: str) -> ZoneInfo:
    row = call.store.one("SELECT timezone FROM users WHERE id = ?", (user_id,))
    return zone(row["timezone"] if row else None)


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The local midnight that starts `day`, as an aware UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def within_day(moment: datetime, day: date, tz: ZoneInfo) -> datetime:
    """`moment` if it falls on local `day`, else the last second of that day (rewards stay on their quest's day)."""
    return moment if local_day(moment, tz) == day else day_start(day + timedelta(days=1), tz) - timedelta(seconds=1)


# the per-day ledger ----------------------------------------------------------------------------------------------
@dataclass
class Day:
    """One local day of a user's activity, from the two ledger tables."""

    xp: int = 0
    quiz_xp: int = 0
    quest_xp: int = 0
    tasks: int = 0
    learning_time: int = 0
    sessions: int = 0
    quizzes: int = 0
    quizzes_passed: int = 0

    @property
    def active(self) -> bool:
        return self.xp > 0


@dataclass
class Ledger:
    """A user's activity as of `now`, bucketed into local days of `tz`."""

    tz: ZoneInfo
    now: datetime
    today: date
    days: dict[date, Day] = field(default_factory=dict)
    total_xp: int = 0

    def day(self, d: date) -> Day:
        return self.days.get(d) or Day()

    def active_days(self) -> set[date]:
        return {d for d, v in self.days.items() if v.active}


def load_ledger(call: Call, user_id: str, since: date | None = None) -> Ledger:
    """Read the user's transactions and sessions up to now (from local day `since` on, when given)."""
    tz = user_zone(call, user_id)
    now = call.clock.now()
    ledger = Ledger(tz, now, local_day(now, tz))
    # Coarse SQL bound a day early (ISO strings with and without fractions do not sort exactly); exact in Python.
    low = iso(day_start(since, tz) - timedelta(days=1)) if since else ""
    for tx in call.store.all(
        "SELECT amount, source, created_at FROM xp_transactions WHERE user_id = ? AND created_at >= ?", (user_id, low)
    ):
        at = parse_instant(tx["created_at"])
        d = local_day(at, tz)
        if at > now or (since and d < since):
            continue
        bucket = ledger.days.setdefault(d, Day())
        bucket.xp += tx["amount"]
        bucket.quiz_xp += tx["amount"] if tx["source"] in QUIZ_SOURCES else 0
        bucket.quest_xp += tx["amount"] if tx["source"] == "quest" else 0
        bucket.tasks += tx["source"] == "task_submission"
        ledger.total_xp += tx["amount"]
    for s in call.store.all(
        "SELECT started_at, seconds, quizzes, quizzes_passed FROM learning_sessions WHERE user_id = ? "
        "AND started_at >= ?",
        (user_id, low),
    ):
        at = parse_instant(s["started_at"])
        d = local_day(at, tz)
        if at > now or (since and d < since):
            continue
        bucket = ledger.days.setdefault(d, Day())
        bucket.learning_time += s["seconds"]
        bucket.sessions += 1
        bucket.quizzes += s["quizzes"]
        bucket.quizzes_passed += s["quizzes_passed"]
    return ledger


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


# streaks and freezes ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Streaks:
    current: int = 0
    longest: int = 0
    freezes_available: int = 0
    freezes_used: int = 0
    covered: tuple[date, ...] = ()
    last_activity: date | None = None
    active_today: bool = False

    @property
    def at_risk(self) -> bool:
        """Only learning today (or a freeze) saves a running streak; with a freeze in stock it is not at risk."""
        return self.current > 0 and not self.active_today and self.freezes_available == 0


def streaks(active: Iterable[date], today: date) -> Streaks:
    """Walk the days from the first active one to today and apply the streak and freeze rules (module docstring)."""
    days = {d for d in active if d <= today}
    if not days:
        return Streaks()
    streak = longest = available = used = 0
    covered: list[date] = []
    day = min(days)
    while day <= today:
        if day in days:
            streak += 1
            longest = max(longest, streak)
            if streak % FREEZE_EVERY == 0 and available < MAX_FREEZES:
                available += 1
        elif day < today and streak > 0:
            if available:
                available, used = available - 1, used + 1
                covered.append(day)
            else:
                streak = 0
        day += timedelta(days=1)
    return Streaks(streak, longest, available, used, tuple(covered), max(days), today in days)


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
    data = yaml.safe_load((fixtures_dir() / "catalog" / "quests.yaml").read_text(encoding="utf-8"))
    quests = tuple(Quest(**q) for q in data["quests"])
    unknown = {q.type for q in quests} - set(QUEST_METRICS)
    assert not unknown, f"quests.yaml: unknown quest types {unknown}"
    return quests


def quests_for_day(call: Call, user_id: str, ledger: Ledger, day: date) -> list[dict[str, Any]]:
    """The day's quests (QuestItem bodies) with progress from the ledger and claims from `quest_claims`."""
    claimed = {r["quest_id"] for r in call.store.all(
        "SELECT quest_id FROM quest_claims WHERE user_id = ? AND day = ?", (user_id, day.isoformat()))}  # fmt: skip
    resets_at = iso(day_start(day + timedelta(days=1), ledger.tz))
    stats = ledger.day(day)
    items = []
    for q in quest_catalog():
        progress = min(q.target, QUEST_METRICS[q.type](stats))
        status = "completed" if q.id in claimed else "ready_to_complete" if progress >= q.target else "active"
        items.append({"id": q.id, "title": q.title, "description": q.description, "type": q.type,
                      "target": q.target, "progress": progress, "status": status, "xp_reward": q.xp_reward,
                      "resets_at": resets_at})  # fmt: skip
    return items


def _ready_quests(call: Call, user_id: str, day: date) -> list[Quest]:
    ledger = load_ledger(call, user_id, since=day)
    ready = {q["id"] for q in quests_for_day(call, user_id, ledger, day) if q["status"] == "ready_to_complete"}
    return [q for q in quest_catalog() if q.id in ready]


def _claim(call: Call, user_id: str, day: date, quests: list[Quest], at: datetime) -> None:
    for q in quests:
        tx = award_xp(call, user_id, q.xp_reward, "quest", f"Daily quest completed: {q.title}", at=at)
        call.store.insert("quest_claims", {"user_id": user_id, "day": day.isoformat(), "quest_id": q.id,
                                           "transaction_id": tx["id"]})  # fmt: skip


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
    balance = token_balance(load_ledger(call, user_id).total_xp, tokens_spent(call, user_id))
    if token_cost > balance:
        raise conflict(f"A {multiplier:g}x booster costs {token_cost} tokens; the balance is {balance}",
                       "insufficient_tokens")  # fmt: skip
    spend = {"id": call.store.new_id(), "user_id": user_id, "amount": token_cost,
             "reason": f"{multiplier:g}x XP booster", "created_at": iso(starts_at)}  # fmt: skip
    call.store.insert("token_spends", spend)
    row = {"id": call.store.new_id(), "user_id": user_id, "multiplier": float(multiplier),
           "starts_at": iso(starts_at), "ends_at": iso(ends_at)}  # fmt: skip
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
    call.store.insert("xp_transactions", row)
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
    call.store.insert("learning_sessions", row)
    _claim(call, user_id, day, ready, within_day(ended_at, day, tz))
    return row
