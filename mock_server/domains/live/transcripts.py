"""The Live nickname and saved session transcripts (times in UTC; previews of the first turn)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, handles, own_row
from mock_server.errors import bad_request, not_found

PREVIEW_CHARS = 200


def clean_nickname(raw: str) -> str:
    """Trim and collapse runs of spaces. The character rules (letters and digits of the common scripts plus
    space . ' ’ _ -, starting with a letter or digit) are the spec's `pattern`, so the request validation refuses
    anything else with 400 before this runs, and generated clients and fuzzers know the rule too."""
    return " ".join(raw.split())


@handles("updateLiveNickname")
def update_nickname(call: Call) -> dict[str, Any]:
    name, now = clean_nickname(call.body["nickname"]), iso(call.clock.now())
    call.store.run(
        "INSERT INTO live_nicknames (user_id, nickname, updated_at) VALUES (?, ?, ?) ON CONFLICT (user_id) "
        "DO UPDATE SET nickname = excluded.nickname, updated_at = excluded.updated_at",
        (call.user_id, name, now),
    )
    call.store.run("UPDATE users SET nickname = ? WHERE id = ?", (name, call.user_id))
    return {"nickname": name, "updated_at": now}


# transcripts ---------------------------------------------------------------------------------------------------------
def instant(where: str, text: str) -> datetime:
    """An RFC 3339 date-time (already format-checked) as aware UTC; 400 for what Python cannot represent (a
    lowercase `t`/`z` is fine, year 1 at +14:00 is not)."""
    try:
        return parse_instant(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_request(f"{where}: {text!r} is outside the supported date-time range", "invalid_date_time") from None


def save_transcript(
    call: Call, user_id: str, body: dict[str, Any], transcript_id: str, created: datetime
) -> dict[str, Any]:
    """Store one session's transcript (also used by the seeder, so demo transcripts look like saved ones).
    Times are stored and returned in UTC."""
    started = instant("body.session_started_at", body["session_started_at"])
    ended = instant("body.session_ended_at", body["session_ended_at"])
    if ended < started:
        raise bad_request("body.session_ended_at: must not be before session_started_at", "invalid_time_range")
    turns = [
        {
            "role": t["role"],
            "text": t["text"],
            "timestamp": iso(instant(f"body.transcripts.{i}.timestamp", t["timestamp"])),
        }
        for i, t in enumerate(body["transcripts"])
    ]
    row = {
        "id": transcript_id,
        "user_id": user_id,
        "session_id": body.get("session_id"),
        "session_started_at": iso(started),
        "session_ended_at": iso(ended),
        "started_ts": started.timestamp(),
        "turns": turns,
        "created_at": iso(created),
    }
    return call.store.insert("live_transcripts", row)


@handles("saveLiveTranscripts")
def save_transcripts(call: Call) -> Result:
    body = call.body
    session_id = body.get("session_id")
    if (
        session_id is not None
        and call.store.one("SELECT 1 FROM live_sessions WHERE id = ? AND user_id = ?", (session_id, call.user_id))
        is None
    ):
        raise not_found(f"No Live session {session_id} (unknown or not yours)")
    now = call.clock.now()
    row = save_transcript(call, call.user_id, body, call.store.new_id(), now)
    return Result({"id": row["id"], "turn_count": len(row["turns"]), "created_at": row["created_at"]}, 201)


@handles("listLiveTranscripts")
def list_transcripts(call: Call) -> dict[str, Any]:
    rows = call.store.all(
        "SELECT * FROM live_transcripts WHERE user_id = ? ORDER BY started_ts DESC, rowid DESC", (call.user_id,)
    )
    items = []
    for row in rows:
        turns = json.loads(row["turns"])
        items.append(
            {
                "id": row["id"],
                "session_started_at": row["session_started_at"],
                "session_ended_at": row["session_ended_at"],
                "turn_count": len(turns),
                "preview": turns[0]["text"][:PREVIEW_CHARS] if turns else "",
            }
        )
    return {"transcripts": items, "total": len(items)}


@handles("getLiveTranscript")
def get_transcript(call: Call) -> dict[str, Any]:
    transcript_id = str(call.path["transcript_id"])
    row = own_row(call, "live_transcripts", transcript_id, f"No Live transcript {transcript_id} (unknown or not yours)")
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "session_started_at": row["session_started_at"],
        "session_ended_at": row["session_ended_at"],
        "transcripts": json.loads(row["turns"]),
        "created_at": row["created_at"],
    }
