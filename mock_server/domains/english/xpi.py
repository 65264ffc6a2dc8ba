"""The XPI (Xentree Proficiency Index) and the XEL streak, read from the score samples and the activity log.

XPI: per skill, the mean of the user's latest XPI_WINDOW score samples (a skill without samples counts 0); the XPI is
the mean of the four skills. History: one entry per UTC day with XEL activity, the XPI as of the end of that day.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from mock_server.domains import Call
from mock_server.domains.english.catalog import SKILLS
from mock_server.domains.english.rubric import cefr

XPI_WINDOW = 5


def _breakdown(windows: dict[str, deque[int]]) -> dict[str, float]:
    return {s: round(sum(windows[s]) / len(windows[s]), 1) if windows[s] else 0.0 for s in SKILLS}


def _xpi(breakdown: dict[str, float]) -> float:
    return round(sum(breakdown.values()) / len(SKILLS), 1)


def _windows() -> dict[str, deque[int]]:
    return {s: deque(maxlen=XPI_WINDOW) for s in SKILLS}


def _samples(call: Call, user_id: str) -> list[dict[str, Any]]:
    return call.store.all(
        "SELECT skill, score, ts, created_at FROM xel_scores WHERE user_id = ? ORDER BY ts, seq", (user_id,)
    )


def current_xpi(call: Call, user_id: str) -> dict[str, Any]:
    windows = _windows()
    samples = _samples(call, user_id)
    for s in samples:
        windows[s["skill"]].append(s["score"])
    breakdown = _breakdown(windows)
    xpi = _xpi(breakdown)
    updated = max(samples, key=lambda s: s["ts"])["created_at"] if samples else None
    return {"xpi": xpi, "breakdown": breakdown, "level": cefr(xpi), "updated_at": updated}


def xpi_history(call: Call, user_id: str) -> list[dict[str, Any]]:
    """One entry per UTC day with XEL activity, oldest first: the XPI from the samples up to that day's end."""
    rows = call.store.all("SELECT DISTINCT ts FROM xel_activity WHERE user_id = ?", (user_id,))
    days = sorted({datetime.fromtimestamp(r["ts"], UTC).date() for r in rows})
    samples = _samples(call, user_id)
    windows, i, history = _windows(), 0, []
    for day in days:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC).timestamp()
        while i < len(samples) and samples[i]["ts"] < end:
            windows[samples[i]["skill"]].append(samples[i]["score"])
            i += 1
        breakdown = _breakdown(windows)
        history.append({"date": day.isoformat(), "xpi": _xpi(breakdown), "breakdown": breakdown})
    return history


def streak(days: Iterable[date], today: date) -> int:
    """Consecutive local days with XEL activity ending today, or yesterday while today has none yet."""
    active = set(days)
    day = today if today in active else today - timedelta(days=1)
    count = 0
    while day in active:
        count += 1
        day -= timedelta(days=1)
    return count
