"""XEL learning sessions and their transcripts. A session gives no XP: its length is learning time
(xp.record_session, kind `xel`), and its quizzes are the score samples taken during it (passed = score >= 60)."""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, handles, own_row
from mock_server.domains.english.catalog import find_module
from mock_server.domains.english.progress import record_activity
from mock_server.domains.xp import record_session
from mock_server.errors import conflict

PASS_SCORE = 60


def _own_session(call: Call, session_id: str) -> dict[str, Any]:
    return own_row(call, "xel_sessions", session_id, f"Learning session {session_id} not found")


@handles("startXelSession")
def start_session(call: Call) -> Result:
    body = call.body or {}
    if "module_id" in body:
        find_module(body["module_id"])
    row = {
        "id": call.store.new_id(),
        "user_id": call.user_id,
        "module_id": body.get("module_id"),
        "session_type": body.get("session_type", "practice"),
        "skill": body.get("skill"),
        "started_at": iso(call.clock.now()),
        "ended_at": None,
    }
    call.store.insert("xel_sessions", row)
    return Result(
        {
            "session_id": row["id"],
            "started_at": row["started_at"],
            "module_id": row["module_id"],
            "session_type": row["session_type"],
            "skill": row["skill"],
        },
        201,
    )


@handles("endXelSession")
def end_session(call: Call) -> dict[str, Any]:
    session = _own_session(call, call.body["session_id"])
    if session["ended_at"] is not None:
        raise conflict(f"Learning session {session['id']} already ended at {session['ended_at']}", "session_ended")
    started = parse_instant(session["started_at"])
    ended = max(call.clock.now(), started)  # a clock set back never gives a negative length
    samples = call.store.all(
        "SELECT score FROM xel_scores WHERE user_id = ? AND ts >= ? AND ts <= ?",
        (call.user_id, started.timestamp(), ended.timestamp()),
    )
    passed = sum(s["score"] >= PASS_SCORE for s in samples)
    record_session(call, call.user_id, "xel", started, ended, quizzes=len(samples), quizzes_passed=passed)
    call.store.run("UPDATE xel_sessions SET ended_at = ? WHERE id = ?", (iso(ended), session["id"]))
    duration = int((ended - started).total_seconds())
    label = f"{session['session_type'].title()} session ({duration // 60} min)"
    record_activity(call, call.user_id, "session", session["module_id"], None, label, 0, ended)
    return {
        "session_id": session["id"],
        "started_at": session["started_at"],
        "ended_at": iso(ended),
        "duration_seconds": duration,
        "xp_awarded": 0,
    }


@handles("saveXelTranscript")
def save_transcript(call: Call) -> Result:
    body = call.body
    session = _own_session(call, body["session_id"])
    now = call.clock.now()
    spoken = parse_instant(body["timestamp"]) if "timestamp" in body else now
    row = {
        "id": call.store.new_id(),
        "session_id": session["id"],
        "role": body["role"],
        "text": body["text"],
        "ts": spoken.timestamp(),
        "timestamp": iso(spoken),
        "created_at": iso(now),
    }
    call.store.insert("xel_transcripts", row)
    return Result({"id": row["id"], "session_id": row["session_id"], "created_at": row["created_at"]}, 201)


@handles("listXelTranscripts")
def get_transcripts(call: Call) -> list[dict[str, Any]]:
    session = _own_session(call, str(call.path["session_id"]))
    rows = call.store.all(
        "SELECT id, session_id, role, text, timestamp FROM xel_transcripts WHERE session_id = ? ORDER BY ts, seq",
        (session["id"],),
    )
    return rows
