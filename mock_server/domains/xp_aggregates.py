"""The aggregates of the XP ledger and learning sessions (mock_server.domains.xp): what every XP view reads.

Aggregates (written by `add_activity`, in the transaction of the activity that writes the ledger rows):
- `xp_days`: one row per user and local day (XP, quiz XP, quest XP, tasks, learning seconds, sessions, quizzes,
  quizzes passed), bucketed in the zone named by `xp_totals.tz`.
- `xp_totals`: per user the lifetime XP, XEL learning seconds, the newest instant written (`latest`), the zone of the
  buckets, and a checkpoint of the streak walk (its state after the local day `streak_day`).
- Why per local day rather than finer UTC buckets folded at read: a day row is read as it is (the 365-day pulse reads
  at most 365 rows), while 15-minute buckets (needed for :30/:45 zones such as Asia/Kathmandu) would read several
  rows per day and convert each. The price is a rebucket when the zone changes: a read or write that finds the
  user's zone different from `xp_totals.tz` (or no totals row: a new user, or a state file written before the
  aggregates existed) rebuilds that user's rows from the ledger once, O(history), and then costs O(days) again.
- The clock: a past local day only holds rows before today's midnight, so its row is exact as of any later now.
  Rows dated after now exist only when the clock was moved back (`latest` > now); then today is folded from its raw
  rows (those up to now) and the lifetime XP drops the later days' rows and today's later part.
- Streak checkpoint: the walk over days (rules below) only looks at the days before today to reach its state at
  yesterday, so that state is stored and the next read walks only the days since. A write on or before the
  checkpoint's day (a back-dated activity) drops it; a clock set back before it walks from the first active day.
  It keeps only the covered dates of its last 7 days (what the weekly view can show), plus their count.
- `/__mock__/reset` empties these tables with the ledger; the fixture's seeders write through `add_activity` again.

Time zones: days are the user's local days (`users.timezone`; a name zoneinfo does not know counts as UTC).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, tables

QUIZ_SOURCES = ("task_submission", "evaluation")  # today_xp.quiz_xp; every other source is segments_xp
FREEZE_EVERY = 7  # streak days per earned freeze
MAX_FREEZES = 2
_versions = itertools.count(random.SystemRandom().getrandbits(62))


def next_version() -> int:
    """A number no earlier write in this process got: `xp_totals.version`, what kept view answers are checked
    against (mock_server.domains.xp_cache)."""
    return next(_versions)


tables("""
-- Aggregates kept by add_activity (module docstring): per user and local day of `xp_totals.tz`, and per user.
CREATE TABLE IF NOT EXISTS xp_days (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    xp INTEGER NOT NULL,
    quiz_xp INTEGER NOT NULL,
    quest_xp INTEGER NOT NULL,
    tasks INTEGER NOT NULL,
    learning_time INTEGER NOT NULL,
    sessions INTEGER NOT NULL,
    quizzes INTEGER NOT NULL,
    quizzes_passed INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS xp_totals (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tz TEXT NOT NULL,
    xp INTEGER NOT NULL,
    xel_seconds INTEGER NOT NULL,
    latest INTEGER NOT NULL,
    version INTEGER NOT NULL,
    streak_day TEXT,
    streak_state TEXT
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
    """One local day of a user's activity (an `xp_days` row; fields in the order of DAY_COLUMNS)."""

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

    def add_transaction(self, amount: int, source: str) -> None:
        self.xp += amount
        self.quiz_xp += amount if source in QUIZ_SOURCES else 0
        self.quest_xp += amount if source == "quest" else 0
        self.tasks += source == "task_submission"

    def add_session(self, seconds: int, quizzes: int, quizzes_passed: int) -> None:
        self.learning_time += seconds
        self.sessions += 1
        self.quizzes += quizzes
        self.quizzes_passed += quizzes_passed

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, c) for c in DAY_COLUMNS)


DAY_COLUMNS = tuple(f.name for f in fields(Day))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Whole microseconds since the epoch: exact for the clock's and the ledger's instants (floats are not)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Totals:
    """A user's `xp_totals` row: lifetime sums over every ledger row (whatever its date) and the streak checkpoint."""

    tz: str
    xp: int
    xel_seconds: int
    latest: int  # micros() of the newest created_at / started_at written
    streak_day: str | None
    streak_state: str | None


@dataclass
class Ledger:
    """A user's activity as of `now`, in local days of `tz`: `days` holds the days asked for (up to today)."""

    tz: ZoneInfo
    now: datetime
    today: date
    days: dict[date, Day] = field(default_factory=dict)
    total_xp: int = 0
    totals: Totals | None = None
    has_today: bool = False  # `days` reaches today (load_ledger's `since` was not after it)

    def day(self, d: date) -> Day:
        return self.days.get(d) or Day()

    def active_days(self) -> set[date]:
        return {d for d, v in self.days.items() if v.active}


def fold(
    txs: Iterable[dict[str, Any]], sessions: Iterable[dict[str, Any]], tz: ZoneInfo, until: datetime | None = None
) -> dict[date, Day]:
    """Ledger rows into local days of `tz` (only those at or before `until`, when given): the from-scratch sum that
    the aggregates are built from and that today is recomputed with when later rows exist."""
    days: dict[date, Day] = {}
    for tx in txs:
        at = parse_instant(tx["created_at"])
        if until is None or at <= until:
            days.setdefault(local_day(at, tz), Day()).add_transaction(tx["amount"], tx["source"])
    for s in sessions:
        at = parse_instant(s["started_at"])
        if until is None or at <= until:
            days.setdefault(local_day(at, tz), Day()).add_session(s["seconds"], s["quizzes"], s["quizzes_passed"])
    return days


TX_COLUMNS = ("id", "user_id", "amount", "source", "description", "created_at")
SESSION_COLUMNS = ("id", "user_id", "kind", "started_at", "ended_at", "seconds", "quizzes", "quizzes_passed")
_UPSERT_DAY = (
    f"INSERT INTO xp_days (user_id, day, {', '.join(DAY_COLUMNS)}) VALUES (?, ?{', ?' * len(DAY_COLUMNS)}) "
    f"ON CONFLICT (user_id, day) DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in DAY_COLUMNS)
)


def _latest(txs: Iterable[dict[str, Any]], sessions: Iterable[dict[str, Any]]) -> int:
    stamps = [micros(parse_instant(t["created_at"])) for t in txs]
    stamps += [micros(parse_instant(s["started_at"])) for s in sessions]
    return max(stamps, default=0)


def _xel_seconds(sessions: Iterable[dict[str, Any]]) -> int:
    return sum(s["seconds"] for s in sessions if s["kind"] == "xel")


def rebuild(call: Call, user_id: str, tz: ZoneInfo) -> Totals:
    """Recompute a user's aggregates from the whole ledger in zone `tz` (a zone change, or none kept yet)."""
    txs = call.store.all("SELECT amount, source, created_at FROM xp_transactions WHERE user_id = ?", (user_id,))
    sessions = call.store.all(
        "SELECT kind, started_at, seconds, quizzes, quizzes_passed FROM learning_sessions WHERE user_id = ?", (user_id,)
    )
    days = fold(txs, sessions, tz)
    totals = Totals(tz.key, sum(t["amount"] for t in txs), _xel_seconds(sessions), _latest(txs, sessions), None, None)
    with call.store.transaction():
        call.store.run("DELETE FROM xp_days WHERE user_id = ?", (user_id,))
        call.store.db.executemany(_UPSERT_DAY, [(user_id, d.isoformat(), *v.values()) for d, v in days.items()])
        call.store.run(
            "INSERT OR REPLACE INTO xp_totals (user_id, tz, xp, xel_seconds, latest, version, streak_day, "
            "streak_state) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
            (user_id, tz.key, totals.xp, totals.xel_seconds, totals.latest, next_version()),
        )
    return totals


def user_totals(call: Call, user_id: str, tz: ZoneInfo) -> Totals:
    """The user's totals, rebuilt first when they are missing or bucketed in another zone."""
    row = call.store.one(
        "SELECT tz, xp, xel_seconds, latest, streak_day, streak_state FROM xp_totals WHERE user_id = ?", (user_id,)
    )
    if row is None or row["tz"] != tz.key:
        return rebuild(call, user_id, tz)
    return Totals(**row)


def touch(call: Call, user_id: str) -> None:
    """A write the views read besides the ledger (a booster, a token spend): kept answers no longer hold."""
    user_totals(call, user_id, user_zone(call, user_id))
    call.store.run("UPDATE xp_totals SET version = ? WHERE user_id = ?", (next_version(), user_id))


def add_activity(
    call: Call,
    user_id: str,
    txs: Sequence[dict[str, Any]] = (),
    sessions: Sequence[dict[str, Any]] = (),
) -> None:
    """Write ledger rows (dicts with TX_COLUMNS / SESSION_COLUMNS) and fold them into the aggregates, in bulk and in
    the caller's transaction. The only way rows enter the ledger, so the aggregates never drift from it."""
    tz = user_zone(call, user_id)
    user_totals(call, user_id, tz)  # before the insert: a rebuild would otherwise count the new rows twice
    with call.store.transaction():
        if txs:
            call.store.db.executemany(
                f"INSERT INTO xp_transactions ({', '.join(TX_COLUMNS)}) VALUES ({', '.join('?' * len(TX_COLUMNS))})",
                [tuple(t[c] for c in TX_COLUMNS) for t in txs],
            )
        if sessions:
            call.store.db.executemany(
                f"INSERT INTO learning_sessions ({', '.join(SESSION_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(SESSION_COLUMNS))})",
                [tuple(s[c] for c in SESSION_COLUMNS) for s in sessions],
            )
        days = fold(txs, sessions, tz)
        if not days:
            return
        call.store.db.executemany(_UPSERT_DAY, [(user_id, d.isoformat(), *v.values()) for d, v in days.items()])
        call.store.run(
            "UPDATE xp_totals SET xp = xp + ?, xel_seconds = xel_seconds + ?, latest = MAX(latest, ?), version = ?, "
            "streak_day = CASE WHEN streak_day >= ? THEN NULL ELSE streak_day END WHERE user_id = ?",
            (
                sum(t["amount"] for t in txs),
                _xel_seconds(sessions),
                _latest(txs, sessions),
                next_version(),
                min(days).isoformat(),
                user_id,
            ),
        )


def _raw_day(call: Call, user_id: str, tz: ZoneInfo, day: date, until: datetime) -> Day:
    """Local `day` folded from its ledger rows written up to `until` (coarse SQL bounds a day wide: ISO strings with
    and without fractions do not sort exactly; exact in Python)."""
    low, high = iso(day_start(day, tz) - timedelta(days=1)), iso(day_start(day + timedelta(days=2), tz))
    txs = call.store.all(
        "SELECT amount, source, created_at FROM xp_transactions WHERE user_id = ? "
        "AND created_at >= ? AND created_at < ?",
        (user_id, low, high),
    )
    sessions = call.store.all(
        "SELECT started_at, seconds, quizzes, quizzes_passed FROM learning_sessions "
        "WHERE user_id = ? AND started_at >= ? AND started_at < ?",
        (user_id, low, high),
    )
    return fold(txs, sessions, tz, until).get(day) or Day()


def load_ledger(call: Call, user_id: str, since: date | Callable[[date], date] | None = None) -> Ledger:
    """The user's days from local day `since` (all days when None; none when after today; a function of today for
    views whose range ends today) up to today, and the lifetime XP, as of the clock's now. O(days read) from the
    aggregates (module docstring)."""
    tz = user_zone(call, user_id)
    now = call.clock.now()
    today = local_day(now, tz)
    since = since(today) if callable(since) else since
    totals = user_totals(call, user_id, tz)
    ledger = Ledger(tz, now, today, total_xp=totals.xp, totals=totals)
    ledger.has_today = since is None or since <= today
    if ledger.has_today:
        rows = call.store.db.execute(
            f"SELECT day, {', '.join(DAY_COLUMNS)} FROM xp_days WHERE user_id = ? AND day >= ? AND day <= ?",
            (user_id, since.isoformat() if since else "", today.isoformat()),
        )
        ledger.days = {date.fromisoformat(r[0]): Day(*r[1:]) for r in rows}
    if totals.latest > micros(now):  # rows dated after now (the clock went back): today and the total, exactly
        stored = call.store.one("SELECT xp FROM xp_days WHERE user_id = ? AND day = ?", (user_id, today.isoformat()))
        later = call.store.one(
            "SELECT COALESCE(SUM(xp), 0) AS xp FROM xp_days WHERE user_id = ? AND day > ?", (user_id, today.isoformat())
        )
        exact = _raw_day(call, user_id, tz, today, now)
        ledger.total_xp -= int(later["xp"] if later else 0) + (stored["xp"] if stored else 0) - exact.xp
        if ledger.has_today:
            ledger.days.pop(today, None)
            if exact != Day():
                ledger.days[today] = exact
    return ledger


def lifetime_xp(call: Call, user_id: str) -> int:
    """XP earned up to now (what level and tokens are computed from), without reading any day."""
    return load_ledger(call, user_id, since=date.max).total_xp


def xel_learning_seconds(call: Call, user_id: str) -> int:
    """Seconds of every XEL learning session written (the XEL dashboard's total time)."""
    return user_totals(call, user_id, user_zone(call, user_id)).xel_seconds


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


@dataclass
class Walk:
    """The streak walk's state after some day: what `streaks` ends with and what the checkpoint stores."""

    streak: int = 0
    longest: int = 0
    available: int = 0
    used: int = 0
    covered: list[date] = field(default_factory=list)
    last: date | None = None

    def step(self, day: date, active: bool, today: date) -> None:
        """One day of the rules (module docstring); days must come in order, without gaps."""
        if active:
            self.streak += 1
            self.longest = max(self.longest, self.streak)
            self.last = day
            if self.streak % FREEZE_EVERY == 0 and self.available < MAX_FREEZES:
                self.available += 1
        elif day < today and self.streak > 0:
            if self.available:
                self.available, self.used = self.available - 1, self.used + 1
                self.covered.append(day)
            else:
                self.streak = 0

    def result(self, active_today: bool) -> Streaks:
        return Streaks(
            self.streak, self.longest, self.available, self.used, tuple(self.covered), self.last, active_today
        )

    def dumps(self) -> str:
        return json.dumps(
            [
                self.streak,
                self.longest,
                self.available,
                self.used,
                [d.isoformat() for d in self.covered],
                self.last.isoformat() if self.last else None,
            ]
        )

    @classmethod
    def loads(cls, text: str) -> Walk:
        streak, longest, available, used, covered, last = json.loads(text)
        return cls(
            streak,
            longest,
            available,
            used,
            [date.fromisoformat(d) for d in covered],
            date.fromisoformat(last) if last else None,
        )


def streaks(active: Iterable[date], today: date) -> Streaks:
    """Walk the days from the first active one to today and apply the streak and freeze rules (module docstring)."""
    days = {d for d in active if d <= today}
    if not days:
        return Streaks()
    walk, day = Walk(), min(days)
    while day <= today:
        walk.step(day, day in days, today)
        day += timedelta(days=1)
    return walk.result(today in days)


def user_streaks(call: Call, user_id: str, ledger: Ledger) -> Streaks:
    """`streaks` of the user's active days as of the ledger's now, walking only the days since the checkpoint (or
    from the first active day when there is none before today), and moving the checkpoint to yesterday."""
    assert ledger.totals is not None and ledger.has_today, "load_ledger(since <= today) first"
    today, yesterday = ledger.today, ledger.today - timedelta(days=1)
    totals = ledger.totals
    if totals.streak_day and totals.streak_state and date.fromisoformat(totals.streak_day) <= yesterday:
        walk, start = Walk.loads(totals.streak_state), date.fromisoformat(totals.streak_day) + timedelta(days=1)
    else:
        first = call.store.one("SELECT MIN(day) AS day FROM xp_days WHERE user_id = ? AND xp > 0", (user_id,))
        walk, start = Walk(), date.fromisoformat(first["day"]) if first and first["day"] else today
    if start <= yesterday:
        active = {
            date.fromisoformat(r[0])
            for r in call.store.db.execute(
                "SELECT day FROM xp_days WHERE user_id = ? AND xp > 0 AND day >= ? AND day <= ?",
                (user_id, start.isoformat(), yesterday.isoformat()),
            )
        }
        day = start
        while day <= yesterday:
            walk.step(day, day in active, today)
            day += timedelta(days=1)
        walk.covered = [d for d in walk.covered if d > yesterday - timedelta(days=7)]  # what a week can show
    if totals.streak_day != yesterday.isoformat():
        call.store.run(
            "UPDATE xp_totals SET streak_day = ?, streak_state = ? WHERE user_id = ?",
            (yesterday.isoformat(), walk.dumps(), user_id),
        )
    active_today = ledger.day(today).active
    walk.step(today, active_today, today)
    return walk.result(active_today)
