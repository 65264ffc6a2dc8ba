"""Xentree Live: the monthly quota of the user's plan, voice/avatar sessions with heartbeats, the Live nickname and
saved session transcripts.

Rules (documented in the README):
- Plans (fixtures/catalog/plans.yaml) give a monthly allowance in seconds: free 1 h, pro 5 h, team 20 h. The period
  is the UTC calendar month; `resets_at` is 00:00 UTC on the 1st of the next month.
- Usage accrues on the mock clock: a heartbeat or the end of a session books the seconds since the session's last
  booking (its start at first), capped by what is left of the month's allowance. Time on both sides of a month
  boundary is booked to its own month. Reads (quota, start) count the unbooked time of the running session too, so
  every view agrees even while no heartbeat arrives. There is no idle timeout.
- One active session per user: starting a new one ends the running one first (booked, learning time recorded).
- When nothing is left, start and heartbeat answer 429 with exactly the documented `live_quota_exceeded` payload,
  plus `Retry-After` and `RateLimit-Reset` (seconds until the reset), `RateLimit-Limit` (the plan's seconds) and
  `RateLimit-Remaining: 0`. The session stays active so the client can end it gracefully.
- Ending a session records its booked seconds as learning time (`record_session`, kind `live`) and awards 1 XP per
  full minute (`live_session`), as the demo history in profile.py does.
- Heartbeat and end of an unknown, ended or other user's session answer 404; transcripts of other users too.
- Nickname: the spec's pattern allows letters and digits of the common scripts plus space . ' ’ _ -, starting with a
  letter or digit (400 otherwise); the stored value is trimmed with runs of spaces collapsed.
- Transcripts: saved with times in UTC; an end before the start is 400, a `session_id` that is not one of the
  caller's Live sessions 404; listed newest session first with a 200-character preview of the first turn.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import yaml

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, World, handles, own_row, seeder, tables
from mock_server.domains.xp import award_xp, record_session
from mock_server.errors import ApiError, bad_request, not_found
from mock_server.resources import fixtures_dir

QUOTA_ERROR = "live_quota_exceeded"
QUOTA_MESSAGE = "Monthly Live session quota exceeded"  # the documented payload, word for word
DEFAULT_PLAN = "free"
PREVIEW_CHARS = 200

tables("""
CREATE TABLE IF NOT EXISTS live_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_type TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_ts REAL NOT NULL,
    booked_until REAL NOT NULL,          -- mock-clock instant up to which the session's time is booked
    used_seconds INTEGER NOT NULL DEFAULT 0,
    ended_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS live_sessions_one_active ON live_sessions (user_id) WHERE ended_at IS NULL;
-- Seconds booked against a user's allowance, by UTC month ('YYYY-MM').
CREATE TABLE IF NOT EXISTS live_usage (
    seq INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    period TEXT NOT NULL,
    seconds INTEGER NOT NULL CHECK (seconds >= 0)
);
CREATE INDEX IF NOT EXISTS live_usage_user_period ON live_usage (user_id, period);
CREATE TABLE IF NOT EXISTS live_nicknames (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    nickname TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS live_transcripts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    session_started_at TEXT NOT NULL,
    session_ended_at TEXT NOT NULL,
    started_ts REAL NOT NULL,
    turns TEXT NOT NULL,                 -- JSON list of TranscriptTurn
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS live_transcripts_user ON live_transcripts (user_id, started_ts);
""")


# plans and periods -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    monthly_live_seconds: int


@cache
def plans() -> dict[str, Plan]:
    data = yaml.safe_load((fixtures_dir() / "catalog" / "plans.yaml").read_text(encoding="utf-8"))
    return {p["id"]: Plan(**p) for p in data["plans"]}


def user_plan(call: Call, user_id: str) -> Plan:
    """The user's plan; an unknown plan name counts as the default plan, so a bad value never breaks Live."""
    row = call.store.one("SELECT plan FROM users WHERE id = ?", (user_id,))
    return plans().get(row["plan"] if row else DEFAULT_PLAN) or plans()[DEFAULT_PLAN]


def period_start(moment: datetime) -> datetime:
    """00:00 UTC on the first day of `moment`'s UTC month."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_period(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def period_key(moment: datetime) -> str:
    return period_start(moment).strftime("%Y-%m")


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def month_slices(start_ts: float, end_ts: float) -> Iterator[tuple[str, int]]:
    """(period, whole seconds) for each UTC month the span [start, end) touches."""
    cursor = start_ts
    while cursor < end_ts:
        boundary = next_period(period_start(_at(cursor))).timestamp()
        stop = min(boundary, end_ts)
        yield period_key(_at(cursor)), int(stop - cursor)
        cursor = stop


# quota -------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quota:
    plan: Plan
    start: datetime
    used: int  # booked this period plus the running session's unbooked time (capped)

    @property
    def limit(self) -> int:
        return self.plan.monthly_live_seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def resets_at(self) -> datetime:
        return next_period(self.start)


def booked(call: Call, user_id: str, period: str) -> int:
    row = call.store.one(
        "SELECT COALESCE(SUM(seconds), 0) AS n FROM live_usage WHERE user_id = ? AND period = ?", (user_id, period)
    )
    return int(row["n"]) if row else 0


def active_session(call: Call, user_id: str) -> dict[str, Any] | None:
    return call.store.one("SELECT * FROM live_sessions WHERE user_id = ? AND ended_at IS NULL", (user_id,))


def quota(call: Call, user_id: str) -> Quota:
    """This month's quota as of now, the running session's unbooked time included."""
    now = call.clock.now()
    plan, start = user_plan(call, user_id), period_start(now)
    used = booked(call, user_id, period_key(now))
    session = active_session(call, user_id)
    if session is not None:
        pending = max(0, int(now.timestamp() - max(session["booked_until"], start.timestamp())))
        used += min(pending, max(0, plan.monthly_live_seconds - used))
    return Quota(plan, start, used)


def book(call: Call, session: dict[str, Any]) -> int:
    """Book the session's time since its last booking, month by month, each capped by that month's allowance."""
    advance = math.floor(call.clock.timestamp() - session["booked_until"])
    if advance <= 0:
        return 0  # nothing new, or the clock was moved back
    limit = user_plan(call, session["user_id"]).monthly_live_seconds
    total = 0
    for period, seconds in month_slices(session["booked_until"], session["booked_until"] + advance):
        take = min(seconds, max(0, limit - booked(call, session["user_id"], period)))
        if take:
            call.store.insert(
                "live_usage",
                {"user_id": session["user_id"], "session_id": session["id"], "period": period, "seconds": take},
            )
            total += take
    # Fractions of a second stay unbooked until the next booking (booked_until moves by whole seconds only).
    session["booked_until"] += advance
    session["used_seconds"] += total
    call.store.run(
        "UPDATE live_sessions SET booked_until = ?, used_seconds = ? WHERE id = ?",
        (session["booked_until"], session["used_seconds"], session["id"]),
    )
    return total


def quota_exceeded(q: Quota, now: datetime) -> ApiError:
    """The documented payload, with the headers the spec requires on a 429 (the quota window's figures)."""
    reset = max(0, math.ceil((q.resets_at - now).total_seconds()))
    headers = {
        "Retry-After": str(reset),
        "RateLimit-Limit": str(q.limit),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(reset),
    }
    return ApiError(429, QUOTA_ERROR, QUOTA_MESSAGE, headers=headers)


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


# handlers: quota and sessions ----------------------------------------------------------------------------------------
@handles("getLiveQuota")
def get_quota(call: Call) -> dict[str, Any]:
    q = quota(call, call.user_id)
    return {
        "plan": q.plan.id,
        "monthly_quota_seconds": q.limit,
        "used_seconds": q.used,
        "remaining_seconds": q.remaining,
        "period_start": iso(q.start),
        "resets_at": iso(q.resets_at),
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


# handlers: nickname ------------------------------------------------------------------------------------------------
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


# handlers: transcripts -----------------------------------------------------------------------------------------------
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


# the demo world --------------------------------------------------------------------------------------------------
DEMO_USER = "demo"
DEMO_DIALOGUES = (
    (
        "voice",
        [
            ("user", "Hi Xentree, can we practise small talk for a conference?"),
            ("ai", "Of course! Imagine we just met at the coffee break. How are you enjoying the talks so far?"),
            ("user", "I really liked the keynote about remote teams, it was very practical."),
            ("ai", "Great answer. Try adding a question back, for example: which talk did you like most?"),
        ],
    ),
    (
        "avatar",
        [
            ("user", "Let's rehearse my launch update for the team meeting."),
            ("ai", "Sure. Start with the headline: what is the one thing everyone should remember?"),
            ("user", "The beta opens on 12 May and training starts the week before."),
            ("ai", "Clear and short. Now add who to contact with questions, and you are done."),
        ],
    ),
)


@seeder
def seed_demo(call: Call, world: World) -> None:
    """Two finished Live sessions of the demo user this month (8-16 and 10-20 min, booked this month whatever the
    day) with their transcripts, and the nickname "Demo". Quota bookkeeping only: the demo's learning history in
    profile.py already has its own Live sessions, so no learning time or XP is added here."""
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    rng = random.Random(f"xentree-live-demo:{world.seed}")
    ids = random.Random(f"xentree-live-demo-ids:{world.seed}")  # own id stream: the shared one stays put
    now = call.clock.now()
    start = period_start(now)
    for n, (kind, turns) in enumerate(DEMO_DIALOGUES, start=1):
        minutes = rng.randint(8, 16) if n == 1 else rng.randint(10, 20)
        ended = start + (now - start) * n / (len(DEMO_DIALOGUES) + 1)
        started = ended - timedelta(minutes=minutes)
        session_id = _uuid(ids)
        call.store.insert(
            "live_sessions",
            {
                "id": session_id,
                "user_id": user["id"],
                "session_type": kind,
                "started_at": iso(started),
                "started_ts": started.timestamp(),
                "booked_until": ended.timestamp(),
                "used_seconds": minutes * 60,
                "ended_at": iso(ended),
            },
        )
        call.store.insert(
            "live_usage",
            {"user_id": user["id"], "session_id": session_id, "period": period_key(now), "seconds": minutes * 60},
        )
        step = timedelta(minutes=minutes) / (len(turns) + 1)
        body = {
            "session_id": session_id,
            "session_started_at": iso(started),
            "session_ended_at": iso(ended),
            "transcripts": [
                {"role": role, "text": text, "timestamp": iso(started + step * (i + 1))}
                for i, (role, text) in enumerate(turns)
            ],
        }
        save_transcript(call, user["id"], body, _uuid(ids), ended + timedelta(seconds=1))
    call.store.run(
        "INSERT INTO live_nicknames (user_id, nickname, updated_at) VALUES (?, ?, ?)", (user["id"], "Demo", iso(now))
    )
    call.store.run("UPDATE users SET nickname = ? WHERE id = ?", ("Demo", user["id"]))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
