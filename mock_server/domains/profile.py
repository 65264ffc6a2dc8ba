"""Profile & Analytics: XP profile, public profile, streaks, weekly activity, learning pulse, quests, learning time.

Every view is computed from the XP ledger and the learning sessions (mock_server.domains.xp) in the user's local
days, as of the mock clock's now, so the views agree with each other and with the transactions. The rules for
streaks, freezes, boosters, tokens and quests are in xp.py; this module adds the level curve, the heatmap intensity
and the demo user's year of generated history.

Level curve: going from level n to n+1 takes 100·n XP, so reaching level n takes 50·n·(n−1) XP in total
(level 2 at 100 XP, 3 at 300, 4 at 600, 10 at 4,500, 20 at 19,000).
Pulse intensity (by the day's XP): 0 = none, 1 = 1–29, 2 = 30–59, 3 = 60–99, 4 = 100 or more.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from math import isqrt
from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, World, handles, seeder
from mock_server.domains.xp import (
    QUEST_METRICS,
    Day,
    active_booster,
    add_activity,
    day_start,
    load_ledger,
    quest_catalog,
    quests_for_day,
    recent_transactions,
    start_booster,
    token_balance,
    tokens_spent,
    user_streaks,
    zone,
)
from mock_server.domains.xp_cache import cached_view
from mock_server.errors import bad_request, not_found, unauthorized
from mock_server.ids import seeded_uuid

LEVEL_STEP = 100  # XP from level n to n+1 = LEVEL_STEP * n
INTENSITY = (1, 30, 60, 100)  # the day's XP from which levels 1, 2, 3 and 4 start
PULSE_DAYS = 365
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# formulas --------------------------------------------------------------------------------------------------------
def level_start(level: int) -> int:
    """Total XP at which `level` begins: 50·n·(n−1)."""
    return LEVEL_STEP * level * (level - 1) // 2


def level_of(total_xp: int) -> int:
    """The largest n with level_start(n) <= total_xp (the closed form, then a guard against rounding)."""
    n = (1 + isqrt(1 + 8 * max(0, total_xp) // LEVEL_STEP)) // 2
    while level_start(n + 1) <= total_xp:
        n += 1
    while n > 1 and level_start(n) > total_xp:
        n -= 1
    return max(1, n)


def intensity(xp: int) -> int:
    return sum(xp >= threshold for threshold in INTENSITY)


def week_of(day: date) -> list[date]:
    """The Sunday-to-Saturday week containing `day`."""
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    return [sunday + timedelta(days=i) for i in range(7)]


# shared reads ----------------------------------------------------------------------------------------------------
def _user(call: Call, user_id: str) -> dict[str, Any]:
    user = call.store.one("SELECT * FROM users WHERE id = ?", (user_id,))
    if user is None:  # the credential outlived its user
        raise unauthorized("The credential's user no longer exists", "invalid_token")
    return user


def only_today(today: date) -> date:
    """`load_ledger(since=...)` for the views that show today alone."""
    return today


def _level_fields(total_xp: int) -> dict[str, Any]:
    level = level_of(total_xp)
    into, span = total_xp - level_start(level), LEVEL_STEP * level
    return {
        "level": level,
        "total_xp": total_xp,
        "xp_into_level": into,
        "xp_for_next_level": span,
        "progress_percent": round(100 * into / span, 1),
    }


def kept(view: Callable[[Call], dict[str, Any]]) -> Callable[[Call], Any]:
    """A view of the caller whose answer xp_cache keeps until something it reads can change."""

    @wraps(view)
    def handler(call: Call) -> Any:
        return cached_view(call, call.user_id, view.__name__, lambda: view(call))

    return handler


# handlers --------------------------------------------------------------------------------------------------------
@handles("getXpProfile")
@kept
def xp_profile(call: Call) -> dict[str, Any]:
    user = _user(call, call.user_id)
    ledger = load_ledger(call, user["id"], since=only_today)
    streak = user_streaks(call, user["id"], ledger)
    today = ledger.day(ledger.today)
    quests = quests_for_day(call, user["id"], ledger, ledger.today)
    return {
        "username": user["username"],
        **_level_fields(ledger.total_xp),
        "current_streak": streak.current,
        "longest_streak": streak.longest,
        "token_balance": token_balance(ledger.total_xp, tokens_spent(call, user["id"])),
        "booster": active_booster(call, user["id"]),
        "today_xp": {"segments_xp": today.xp - today.quiz_xp, "quiz_xp": today.quiz_xp, "total": today.xp},
        "recent_transactions": recent_transactions(call, user["id"]),
        "active_quests": [q for q in quests if q["status"] != "completed"],
    }


@handles("getPublicXpProfile")
def public_profile(call: Call) -> Any:
    """Public-safe: no email, no ids, no token data. Usernames match case-insensitively, like at login."""
    user = call.store.one("SELECT * FROM users WHERE username = ?", (call.path["username"],))
    if user is None:
        raise not_found(f"No user named {call.path['username']!r}")
    return cached_view(call, user["id"], "public_profile", lambda: _public_profile(call, user))


def _public_profile(call: Call, user: dict[str, Any]) -> dict[str, Any]:
    ledger = load_ledger(call, user["id"], since=only_today)
    streak = user_streaks(call, user["id"], ledger)
    level = _level_fields(ledger.total_xp)
    return {
        "username": user["username"],
        "display_name": user["full_name"],
        "level": level["level"],
        "total_xp": level["total_xp"],
        "current_streak": streak.current,
        "longest_streak": streak.longest,
        "joined": parse_instant(user["created_at"]).astimezone(ledger.tz).date().isoformat(),
    }


@handles("getStreakStatus")
@kept
def streak_status(call: Call) -> dict[str, Any]:
    ledger = load_ledger(call, call.user_id, since=only_today)
    streak = user_streaks(call, call.user_id, ledger)
    last = streak.last_activity
    return {
        "current_streak": streak.current,
        "longest_streak": streak.longest,
        "freezes_available": streak.freezes_available,
        "freezes_used": streak.freezes_used,
        "last_activity": last.isoformat() if last else None,
        "days_since_activity": (ledger.today - last).days if last else None,
        "streak_at_risk": streak.at_risk,
    }


@handles("getWeeklyXpActivity")
@kept
def weekly_activity(call: Call) -> dict[str, Any]:
    ledger = load_ledger(call, call.user_id, since=lambda today: week_of(today)[0])
    week = week_of(ledger.today)
    covered = set(user_streaks(call, call.user_id, ledger).covered)
    days = [{"date": d.isoformat(), "day": WEEKDAYS[i], "xp": ledger.day(d).xp} for i, d in enumerate(week)]
    return {
        "week_start": week[0].isoformat(),
        "week_end": week[-1].isoformat(),
        "timezone": ledger.tz.key,
        "days": days,
        "total_xp": sum(d["xp"] for d in days),
        "freeze_covered_dates": [d.isoformat() for d in week if d in covered],
    }


@handles("getLearningPulse")
@kept
def learning_pulse(call: Call) -> dict[str, Any]:
    """The 365 local days ending today, oldest first."""
    ledger = load_ledger(call, call.user_id, since=lambda today: today - timedelta(days=PULSE_DAYS - 1))
    first = ledger.today - timedelta(days=PULSE_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(PULSE_DAYS)]
    entries = [_pulse_entry(day, ledger.day(day)) for day in days]
    return {
        "data": entries,
        "total_learning_time": sum(e["learning_time"] for e in entries),
        "total_sessions": sum(e["sessions"] for e in entries),
        "total_quizzes": sum(e["quizzes"] for e in entries),
        "total_quizzes_passed": sum(e["quizzes_passed"] for e in entries),
        "year": ledger.today.year,
    }


def _pulse_entry(day: date, stats: Day) -> dict[str, Any]:
    return {
        "date": day.isoformat(),
        "xp_earned": stats.xp,
        "learning_time": stats.learning_time,
        "sessions": stats.sessions,
        "quizzes": stats.quizzes,
        "quizzes_passed": stats.quizzes_passed,
        "level": intensity(stats.xp),
    }


@handles("getDailyQuests")
@kept
def daily_quests(call: Call) -> dict[str, Any]:
    ledger = load_ledger(call, call.user_id, since=only_today)
    quests = quests_for_day(call, call.user_id, ledger, ledger.today)
    resets_at = iso(day_start(ledger.today + timedelta(days=1), ledger.tz))
    return {"date": ledger.today.isoformat(), "timezone": ledger.tz.key, "quests": quests, "resets_at": resets_at}


@handles("getLearningTimeAnalytics")
def learning_time(call: Call) -> Any:
    """Inclusive local-date range; either bound may be omitted (open-ended), both omitted = all time."""
    start, end = call.query.get("from"), call.query.get("to")
    low, high = _date_param("from", start), _date_param("to", end)
    if low and high and low > high:
        raise bad_request(
            f"query.from ({start}) is after query.to ({end}); the range is inclusive and must not be reversed",
            "invalid_date_range",
        )
    return cached_view(
        call, call.user_id, "learning_time", lambda: _learning_time(call, start, end, low, high), start, end
    )


def _learning_time(
    call: Call, start: str | None, end: str | None, low: date | None, high: date | None
) -> dict[str, Any]:
    ledger = load_ledger(call, call.user_id, since=low)
    days = sorted(d for d, v in ledger.days.items() if v.sessions and (not low or d >= low) and (not high or d <= high))
    breakdown: list[dict[str, Any]] = [
        {"date": d.isoformat(), "learningTime": ledger.days[d].learning_time, "sessions": ledger.days[d].sessions}
        for d in days
    ]
    total, sessions = sum(b["learningTime"] for b in breakdown), sum(b["sessions"] for b in breakdown)
    return {
        "totalLearningTime": total,
        "totalSessions": sessions,
        "avgSessionLength": round(total / sessions, 1) if sessions else 0.0,
        "dailyBreakdown": breakdown,
        "from": start,
        "to": end,
    }


def _date_param(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"query.{name}: {value!r} is not a date (YYYY-MM-DD)") from None


# generated history: the demo user's year, and `history_days` of any fixture user ---------------------------------
HISTORY_USER = "demo"  # gets PULSE_DAYS of history unless its fixture entry says otherwise
SESSION_KINDS = ("conversation", "xel", "xel", "live")
TASKS = ("reading", "writing", "listening", "speaking")


def history_days(spec: dict[str, Any]) -> int:
    """A fixture user's `history_days` (the demo user's default is a year, everyone else's none); the fixture
    loader has checked it is a whole number of days in range."""
    return int(spec.get("history_days", PULSE_DAYS if spec.get("username") == HISTORY_USER else 0))


@seeder
def seed_history(call: Call, world: World) -> None:
    """Generated activity ending now for every fixture user with `history_days` (the demo user: a year): a
    real-looking heatmap, freezes used on the way, and a current streak of 6-14 days ending yesterday (today too
    when, after 09:00 local time, a session fits before now). Written in bulk through the aggregates."""
    for spec in world.data.get("users", []):
        days = history_days(spec)
        if days and spec["username"] in world.users:
            _seed_user(call, world, world.users[spec["username"]], days)


def _seed_user(call: Call, world: World, user: dict[str, Any], history: int) -> None:
    # The demo user's streams keep their names, so its history is the same as before `history_days` existed.
    name = "" if user["username"] == HISTORY_USER else f":{user['username']}"
    rng = random.Random(f"xentree-demo-history:{world.seed}{name}")
    ids = random.Random(f"xentree-demo-history-ids:{world.seed}{name}")  # own id stream: the shared one stays put
    tz, now = zone(user["timezone"]), call.clock.now()
    today = now.astimezone(tz).date()
    streak_days = rng.randint(6, 14)
    txs: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for offset in range(history, -1, -1):
        day = today - timedelta(days=offset)
        if offset == 0:
            active = now.astimezone(tz).hour >= 9
        elif offset <= streak_days:
            active = True
        elif offset <= streak_days + 3:  # a break longer than two freezes, so the current streak starts clean
            active = False
        else:
            active = rng.random() < (0.55 if day.weekday() >= 5 else 0.8)
        if active:
            _seed_day(rng, ids, user["id"], day, tz, now, txs, sessions, rewards=offset > 0)
    add_activity(call, user["id"], txs, sessions)
    joined = datetime.combine(today - timedelta(days=history + 20), time(10), tzinfo=tz)
    call.store.run("UPDATE users SET created_at = ? WHERE id = ?", (iso(joined), user["id"]))
    start_booster(call, user["id"], 2, now - timedelta(hours=1), now + timedelta(hours=3), token_cost=50)


def _seed_day(
    rng: random.Random,
    ids: random.Random,
    user_id: str,
    day: date,
    tz: Any,
    now: datetime,
    txs: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    *,
    rewards: bool,
) -> None:
    """One active day: 1-4 sessions between 07:00 and 22:00 local (never after now), their XP, and on past days
    the rewards of the quests the day's activity reached."""
    stats = Day()

    def tx(amount: int, source: str, description: str, at: datetime) -> None:
        txs.append(
            {
                "id": seeded_uuid(ids),
                "user_id": user_id,
                "amount": amount,
                "source": source,
                "description": description,
                "created_at": iso(at),
            }
        )
        stats.xp += amount
        stats.tasks += source == "task_submission"

    hour, end = 7, datetime.min.replace(tzinfo=UTC)
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        hour = min(21, hour + rng.randint(0, 4))
        start = datetime.combine(day, time(hour, rng.randrange(60)), tzinfo=tz).astimezone(UTC)
        minutes = rng.randint(5, 45)
        end = start + timedelta(minutes=minutes)
        if end > now:
            break
        kind = rng.choice(SESSION_KINDS)
        quizzes = passed = 0
        if kind == "xel":
            quizzes = rng.randint(1, 4)
            for i in range(quizzes):
                ok = rng.random() < 0.8
                passed += ok
                skill = rng.choice(TASKS)
                at = start + timedelta(minutes=minutes * (i + 1) / (quizzes + 1))
                tx(
                    rng.randint(10, 25) if ok else 5,
                    "task_submission",
                    f"{skill.title()} task {skill}-{rng.randint(1, 6)} submitted",
                    at,
                )
                if skill in ("writing", "speaking") and ok:
                    tx(rng.randint(15, 30), "evaluation", f"{skill.title()} evaluation scored", at)
            if rng.random() < 0.08:
                tx(50, "module_completion", f"Module {rng.randint(1, 12)} completed", end)
        else:
            source = "conversation_session" if kind == "conversation" else "live_session"
            label = "Conversation session" if kind == "conversation" else "Xentree Live voice session"
            tx(minutes, source, f"{label} ({minutes} min)", end)
        sessions.append(
            {
                "id": seeded_uuid(ids),
                "user_id": user_id,
                "kind": kind,
                "started_at": iso(start),
                "ended_at": iso(end),
                "seconds": minutes * 60,
                "quizzes": quizzes,
                "quizzes_passed": passed,
            }
        )
        stats.sessions += 1
        stats.learning_time += minutes * 60
        stats.quizzes_passed += passed
    if rewards and stats.sessions:
        reached = [q for q in quest_catalog() if QUEST_METRICS[q.type](stats) >= q.target]
        for q in reached:
            tx(q.xp_reward, "quest", f"Daily quest completed: {q.title}", end + timedelta(minutes=1))
