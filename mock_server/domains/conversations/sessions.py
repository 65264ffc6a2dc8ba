"""Conversation sessions: the learning time of a conversation (rules: the package docstring's "Conversation
sessions")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, handles
from mock_server.domains.conversations.messages import own_conversation
from mock_server.domains.xp import award_xp, record_session
from mock_server.errors import not_found

IDLE_CAP_SECONDS = 300  # the most one gap between session signals counts
XP_PER_MINUTE = 1


def active_session(call: Call, conversation_id: str) -> dict[str, Any] | None:
    return call.store.one(
        "SELECT * FROM conversation_sessions WHERE conversation_id = ? AND ended_at IS NULL", (conversation_id,)
    )


def _required_session(call: Call) -> dict[str, Any]:
    conversation = own_conversation(call, call.path["conversation_id"])
    session = active_session(call, conversation["id"])
    if session is None:
        raise not_found(f"No active session for conversation {conversation['id']}; start one first")
    return session


def counted_seconds(session: dict[str, Any], now: datetime) -> int:
    """Learning time so far: the counted time up to the last signal plus the gap since, capped at the idle limit."""
    gap = (now - parse_instant(session["last_activity_at"])).total_seconds()
    return int(session["counted_seconds"]) + int(min(IDLE_CAP_SECONDS, max(0.0, gap)))


@handles("startConversationSession")
def start_session(call: Call) -> Result:
    conversation = own_conversation(call, call.path["conversation_id"])
    session = active_session(call, conversation["id"])
    if session is None:
        now = iso(call.clock.now())
        session = {
            "id": call.store.new_id(),
            "conversation_id": conversation["id"],
            "user_id": call.user_id,
            "started_at": now,
            "last_activity_at": now,
            "counted_seconds": 0,
        }
        call.store.insert("conversation_sessions", session)
    return Result(
        {
            "session_id": session["id"],
            "conversation_id": conversation["id"],
            "started_at": session["started_at"],
            "status": "active",
        },
        201,
    )


@handles("updateConversationSessionActivity")
def session_activity(call: Call) -> dict[str, Any]:
    session = _required_session(call)
    now = call.clock.now()
    seconds = counted_seconds(session, now)
    call.store.run(
        "UPDATE conversation_sessions SET counted_seconds = ?, last_activity_at = ? WHERE id = ?",
        (seconds, iso(now), session["id"]),
    )
    return {"session_id": session["id"], "last_activity_at": iso(now), "active_seconds": seconds}


@handles("endConversationSession")
def end_session(call: Call) -> dict[str, Any]:
    session = _required_session(call)
    now = call.clock.now()
    seconds = counted_seconds(session, now)
    started = parse_instant(session["started_at"])
    record_session(call, call.user_id, "conversation", started, started + timedelta(seconds=seconds))
    minutes = seconds // 60
    xp = 0
    if minutes:
        tx = award_xp(
            call, call.user_id, minutes * XP_PER_MINUTE, "conversation_session", f"Conversation session ({minutes} min)"
        )
        xp = int(tx["amount"])
    call.store.run(
        "UPDATE conversation_sessions SET counted_seconds = ?, last_activity_at = ?, ended_at = ?, "
        "xp_awarded = ? WHERE id = ?",
        (seconds, iso(now), iso(now), xp, session["id"]),
    )
    return {"session_id": session["id"], "ended_at": iso(now), "duration_seconds": seconds, "xp_awarded": xp}


@handles("getConversationSessionStatus")
def session_status(call: Call) -> dict[str, Any]:
    conversation = own_conversation(call, call.path["conversation_id"])
    session = active_session(call, conversation["id"])
    if session is None:
        return {"active": False, "session_id": None, "started_at": None, "active_seconds": 0}
    return {
        "active": True,
        "session_id": session["id"],
        "started_at": session["started_at"],
        "active_seconds": counted_seconds(session, call.clock.now()),
    }
