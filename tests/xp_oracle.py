"""The XP views computed from scratch: the computation every view used before the aggregates, kept as the oracle.

Every read walks every XP transaction and learning session of the user (O(history)) in the user's zone as of the
mock clock's now; tests/test_xp_aggregates.py checks that the aggregate-based views answer exactly this. Only the
formulas that do not read the ledger (level curve, intensity, weeks, quest catalog, streak rules) are shared.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call
from mock_server.domains.profile import PULSE_DAYS, WEEKDAYS, intensity, level_of, level_start, week_of
from mock_server.domains.xp import (
    QUEST_METRICS,
    Day,
    Ledger,
    active_booster,
    day_start,
    local_day,
    quest_catalog,
    recent_transactions,
    streaks,
    token_balance,
    tokens_spent,
    user_zone,
)
from mock_server.domains.xp_aggregates import QUIZ_SOURCES


def scratch_ledger(call: Call, user_id: str) -> Ledger:
    """Every transaction and session up to now, bucketed into local days (the old `load_ledger`)."""
    tz = user_zone(call, user_id)
    now = call.clock.now()
    ledger = Ledger(tz, now, local_day(now, tz))
    for tx in call.store.all("SELECT amount, source, created_at FROM xp_transactions WHERE user_id = ?", (user_id,)):
        at = parse_instant(tx["created_at"])
        if at > now:
            continue
        bucket = ledger.days.setdefault(local_day(at, tz), Day())
        bucket.xp += tx["amount"]
        bucket.quiz_xp += tx["amount"] if tx["source"] in QUIZ_SOURCES else 0
        bucket.quest_xp += tx["amount"] if tx["source"] == "quest" else 0
        bucket.tasks += tx["source"] == "task_submission"
        ledger.total_xp += tx["amount"]
    for s in call.store.all(
        "SELECT started_at, seconds, quizzes, quizzes_passed FROM learning_sessions WHERE user_id = ?", (user_id,)
    ):
        at = parse_instant(s["started_at"])
        if at > now:
            continue
        bucket = ledger.days.setdefault(local_day(at, tz), Day())
        bucket.learning_time += s["seconds"]
        bucket.sessions += 1
        bucket.quizzes += s["quizzes"]
        bucket.quizzes_passed += s["quizzes_passed"]
    return ledger


def _level_fields(total_xp: int) -> dict[str, Any]:
    level = level_of(total_xp)
    into, span = total_xp - level_start(level), 100 * level
    return {
        "level": level,
        "total_xp": total_xp,
        "xp_into_level": into,
        "xp_for_next_level": span,
        "progress_percent": round(100 * into / span, 1),
    }


def _quests(call: Call, user_id: str, ledger: Ledger) -> list[dict[str, Any]]:
    day = ledger.today
    claimed = {
        r["quest_id"]
        for r in call.store.all(
            "SELECT quest_id FROM quest_claims WHERE user_id = ? AND day = ?", (user_id, day.isoformat())
        )
    }
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
                "resets_at": iso(day_start(day + timedelta(days=1), ledger.tz)),
            }
        )
    return items


def views(call: Call, user_id: str, time_range: tuple[date | None, date | None] = (None, None)) -> dict[str, Any]:
    """Every aggregate-based view's body, by the view's path (learning time for `time_range`)."""
    user = call.store.one("SELECT * FROM users WHERE id = ?", (user_id,))
    assert user is not None
    ledger = scratch_ledger(call, user_id)
    streak = streaks(ledger.active_days(), ledger.today)
    today = ledger.day(ledger.today)
    quests = _quests(call, user_id, ledger)
    level = _level_fields(ledger.total_xp)
    week = week_of(ledger.today)
    days = [{"date": d.isoformat(), "day": WEEKDAYS[i], "xp": ledger.day(d).xp} for i, d in enumerate(week)]
    first = ledger.today - timedelta(days=PULSE_DAYS - 1)
    pulse = [ledger.day(first + timedelta(days=i)) for i in range(PULSE_DAYS)]
    entries = [
        {
            "date": (first + timedelta(days=i)).isoformat(),
            "xp_earned": s.xp,
            "learning_time": s.learning_time,
            "sessions": s.sessions,
            "quizzes": s.quizzes,
            "quizzes_passed": s.quizzes_passed,
            "level": intensity(s.xp),
        }
        for i, s in enumerate(pulse)
    ]
    low, high = time_range
    spans = sorted(
        d for d, v in ledger.days.items() if v.sessions and (not low or d >= low) and (not high or d <= high)
    )
    breakdown = [
        {"date": d.isoformat(), "learningTime": ledger.days[d].learning_time, "sessions": ledger.days[d].sessions}
        for d in spans
    ]
    total, sessions = sum(b["learningTime"] for b in breakdown), sum(b["sessions"] for b in breakdown)
    last = streak.last_activity
    xel = call.store.one(
        "SELECT COALESCE(SUM(seconds), 0) AS s FROM learning_sessions WHERE user_id = ? AND kind = 'xel'", (user_id,)
    )
    return {
        "/api/xp/profile": {
            "username": user["username"],
            **level,
            "current_streak": streak.current,
            "longest_streak": streak.longest,
            "token_balance": token_balance(ledger.total_xp, tokens_spent(call, user_id)),
            "booster": active_booster(call, user_id),
            "today_xp": {"segments_xp": today.xp - today.quiz_xp, "quiz_xp": today.quiz_xp, "total": today.xp},
            "recent_transactions": recent_transactions(call, user_id),
            "active_quests": [q for q in quests if q["status"] != "completed"],
        },
        f"/api/xp/public-profile/{user['username']}": {
            "username": user["username"],
            "display_name": user["full_name"],
            "level": level["level"],
            "total_xp": level["total_xp"],
            "current_streak": streak.current,
            "longest_streak": streak.longest,
            "joined": parse_instant(user["created_at"]).astimezone(ledger.tz).date().isoformat(),
        },
        "/api/xp/streak-status": {
            "current_streak": streak.current,
            "longest_streak": streak.longest,
            "freezes_available": streak.freezes_available,
            "freezes_used": streak.freezes_used,
            "last_activity": last.isoformat() if last else None,
            "days_since_activity": (ledger.today - last).days if last else None,
            "streak_at_risk": streak.at_risk,
        },
        "/api/xp/weekly-activity": {
            "week_start": week[0].isoformat(),
            "week_end": week[-1].isoformat(),
            "timezone": ledger.tz.key,
            "days": days,
            "total_xp": sum(d["xp"] for d in days),
            "freeze_covered_dates": [d.isoformat() for d in week if d in set(streak.covered)],
        },
        "/api/xp/learning-pulse": {
            "data": entries,
            "total_learning_time": sum(e["learning_time"] for e in entries),
            "total_sessions": sum(e["sessions"] for e in entries),
            "total_quizzes": sum(e["quizzes"] for e in entries),
            "total_quizzes_passed": sum(e["quizzes_passed"] for e in entries),
            "year": ledger.today.year,
        },
        "/api/xp/quests": {
            "date": ledger.today.isoformat(),
            "timezone": ledger.tz.key,
            "quests": quests,
            "resets_at": iso(day_start(ledger.today + timedelta(days=1), ledger.tz)),
        },
        "/api/analytics/learning-time": {
            "totalLearningTime": total,
            "totalSessions": sessions,
            "avgSessionLength": round(total / sessions, 1) if sessions else 0.0,
            "dailyBreakdown": breakdown,
            "from": low.isoformat() if low else None,
            "to": high.isoformat() if high else None,
        },
        "xel_total_time_seconds": int(xel["s"] if xel else 0),
    }
