"""Live sessions: start (ending the running one first), heartbeat and end, each booking time against the quota;
ending records the learning time and awards 1 XP per full minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, handles
from mock_server.domains.live.quota import active_session, book, quota, quota_exceeded
from mock_server.domains.xp import award_xp, record_session
from mock_server.errors import not_found


def _own_active(call: Call, session_id: str) -> dict[str, Any]:
    session = call.store.one(
        "SELECT * FROM live_sessions WHERE id = ? AND user_id = ? AND ended_at IS NULL", (session_id, call.user_id)
    )
    if session is None:
        raise not_found(f"No active Live session {session_id} (unknown, already ended, or not yours)")
    return session


def finish(call: Call, session: dict[str, Any]) -> dict[str, Any]:
    """Final booking, then the learning time and XP of what was booked (a session cut by the quota counts only up
    to the quota)."""
    book(call, session)
    started = parse_instant(session["started_at"])
    ended = max(call.clock.now(), started)
    duration = int(session["used_seconds"])
    call.store.run("UPDATE live_sessions SET ended_at = ? WHERE id = ?", (iso(ended), session["id"]))
    if duration > 0:
        record_session(call, session["user_id"], "live", started, started + timedelta(seconds=duration))
    minutes = duration // 60
    if minutes:
        award_xp(
            call,
            session["user_id"],
            minutes,
            "live_session",
            f"Xentree Live {session['session_type']} session ({minutes} min)",
            at=ended,
        )
    return {
        "session_id": session["id"],
        "status": "ended",
        "started_at": session["started_at"],
        "ended_at": iso(ended),
        "duration_seconds": duration,
    }


@handles("startLiveSession")
def start_session(call: Call) -> Result:
    now = call.clock.now()
    q = quota(call, call.user_id)
    if q.remaining == 0:
        raise quota_exceeded(q, now)
    running = active_session(call, call.user_id)
    if running is not None:
        finish(call, running)
    row = {
        "id": call.store.new_id(),
        "user_id": call.user_id,
        "session_type": call.body["session_type"],
        "started_at": iso(now),
        "started_ts": now.timestamp(),
        "booked_until": now.timestamp(),
        "used_seconds": 0,
        "ended_at": None,
    }
    call.store.insert("live_sessions", row)
    return Result(
        {
            "session_id": row["id"],
            "session_type": row["session_type"],
            "status": "active",
            "started_at": row["started_at"],
            "remaining_seconds": quota(call, call.user_id).remaining,
            "monthly_quota_seconds": q.limit,
        },
        201,
    )


@handles("heartbeatLiveSession")
def heartbeat(call: Call) -> dict[str, Any]:
    """Book the time since the last heartbeat; 429 once the allowance is used up (the session stays active)."""
    session = _own_active(call, call.body["session_id"])
    book(call, session)
    now = call.clock.now()
    q = quota(call, call.user_id)
    if q.remaining == 0:
        raise quota_exceeded(q, now)
    elapsed = max(0, int(now.timestamp() - session["started_ts"]))
    return {
        "session_id": session["id"],
        "status": "active",
        "elapsed_seconds": elapsed,
        "used_seconds_this_month": q.used,
        "remaining_seconds": q.remaining,
    }


@handles("endLiveSession")
def end_session(call: Call) -> dict[str, Any]:
    ended = finish(call, _own_active(call, call.body["session_id"]))
    return {**ended, "remaining_seconds": quota(call, call.user_id).remaining}
