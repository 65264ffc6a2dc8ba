"""The Timeback XP ledger (openapi/xp-ledger.yaml): client-credentials tokens, Caliper ingestion, the XP entries.

Partner applications get a token (`issueAccessToken`), send Caliper events (`sendCaliperEvents`) and read a
student's XP ledger back (`listUserXpEntries`). The engine authenticates the Bearer token and checks its scope; this
module decides what the events mean.

Rules (documented in the README):
- Token: credentials in a Basic header or as `client_id` + `client_secret` in the body (not both: 400
  invalid_request; neither: 401 invalid_client, RFC 6749 section 5.2). A wrong id or secret is 401 invalid_client.
  `scope` must be a subset of the application's scopes (else 400 invalid_scope); omitted, the token gets them all.
- Ingestion: a bare event or an envelope (`data[]`). 200 when every event is a SessionEvent, else 202. A GradeEvent
  whose score type is `XP` (`generated.extensions.scoreType`, else `generated.scoreType`) becomes one entry:
  userId from `object.assignee` (`urn:uuid:<id>` or `.../users/<id>`), value = `generated.scoreGiven`,
  applicationId = the caller's application, sourceEventId = the event `id`, dateGenerated = `eventTime`,
  subject = `extensions.subject`, courseName = the name of the course `extensions.course.id` names (null when
  unknown). An assignee that is not a known student is accepted and dropped (no entry). The schema allows only
  `subject` and `course` in a GradeEvent's top-level `extensions` (a live server answered 400 `unrecognized_keys`).
  NaN and Infinity (which Python's JSON parser lets through) are refused with 400 `invalid_request`.
- Idempotency: the event `id` is the key per application; an id the application sent before (in this or an earlier
  request) is acknowledged as `duplicate` and creates nothing.
- Processing delay: an entry becomes readable `processing_delay_seconds` after its event was received (mock clock;
  fixture `xp_ledger.processing_delay_seconds`, default 0; changed at run time with `set_processing_delay`).
- Listing: newest first (dateGenerated descending, then sourceEventId, then id); `startDate`/`after` and
  `endDate`/`before` are inclusive bounds on dateGenerated (microsecond precision); `startDate` wins over `after`
  and `endDate` over `before`; a start after the end gives an empty page; `total` counts every match; an unknown
  student is 404.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from mock_server.domains import Call, Result, World, handles, seeder, setting, tables
from mock_server.errors import ApiError, Issue, not_found
from mock_server.ids import seeded_uuid

TOKEN_TTL_SECONDS = 3600
XP_SCORE_TYPE = "XP"
DELAY_KEY = "processing_delay_seconds"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="mock"'}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

tables("""
-- OAuth2 client applications; the secret is stored as a SHA-256 of `client_id:secret`.
CREATE TABLE IF NOT EXISTS xp_ledger_applications (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS xp_ledger_students (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS xp_ledger_courses (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
-- Every event id an application sent (the idempotency keys), whatever its type.
CREATE TABLE IF NOT EXISTS xp_ledger_events (
    application_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (application_id, event_id)
);
-- XP entries. `value` is the JSON number as sent; `date_us` (dateGenerated in microseconds since the epoch) sorts
-- and filters; `visible_us` is when processing "finishes" (received + processing delay, mock clock).
CREATE TABLE IF NOT EXISTS xp_ledger_entries (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    source_event_id TEXT NOT NULL,
    value TEXT NOT NULL,
    date_generated TEXT NOT NULL,
    date_us INTEGER NOT NULL,
    subject TEXT,
    course_name TEXT,
    extensions TEXT,
    visible_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS xp_ledger_entries_user ON xp_ledger_entries (user_id, date_us);
-- Run-time settings of the ledger (processing_delay_seconds); reset with the fixture.
CREATE TABLE IF NOT EXISTS xp_ledger_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""")


# time ------------------------------------------------------------------------------------------------------------
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))")


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (proleptic Gregorian), for any year: RFC 3339 allows 0000, `datetime` does not."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def micros(text: str) -> int | None:
    """An RFC 3339 date-time as microseconds since the epoch (UTC), or None when it is not one. Leap seconds and
    year 0000 are arithmetic here, so whatever the schema's date-time check accepts compares without errors."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = int((m.group(7) or "0")[:6].ljust(6, "0"))
    offset = 0
    if m.group(8):
        offset = (int(m.group(9)) * 3600 + int(m.group(10)) * 60) * (1 if m.group(8) == "+" else -1)
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000 + fraction


def format_micros(value: int, fallback: str) -> str:
    """UTC with milliseconds as in the docs (`2026-01-15T14:30:00.000Z`), microseconds when they matter; the text as
    sent when `datetime` cannot represent the instant."""
    try:
        moment = EPOCH + timedelta(microseconds=value)
    except OverflowError:
        return fallback
    if not 1 <= moment.year <= 9999:
        return fallback
    digits = f"{moment.microsecond:06d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + (digits[:3] if digits.endswith("000") else digits) + "Z"


def _now_us(call: Call) -> int:
    return round(call.clock.timestamp() * 1_000_000)


def _iso_us(value: int) -> str:
    return format_micros(value, "1970-01-01T00:00:00.000Z")


# settings --------------------------------------------------------------------------------------------------------
MAX_DELAY_SECONDS = 365 * 86400  # a year: larger values overflow the date arithmetic of visibility


def processing_delay(store: Any) -> float:
    row = store.one("SELECT value FROM xp_ledger_settings WHERE key = ?", (DELAY_KEY,))
    return float(row["value"]) if row else 0.0


def set_processing_delay(store: Any, seconds: float) -> None:
    """Change how long new XP entries stay invisible after their event is received (mock clock seconds)."""
    numeric = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not numeric or not math.isfinite(seconds) or not 0 <= seconds <= MAX_DELAY_SECONDS:
        raise ValueError(f"processing delay must be a number of seconds from 0 to {MAX_DELAY_SECONDS}, not {seconds!r}")
    store.run(
        "INSERT INTO xp_ledger_settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (DELAY_KEY, str(float(seconds))),
    )


setting(
    "xp-ledger.processing-delay-seconds",
    "Seconds (mock clock) between receiving an XP event and its entry becoming visible",
    processing_delay,
    set_processing_delay,
)


# token endpoint --------------------------------------------------------------------------------------------------
def secret_hash(client_id: str, secret: str) -> str:
    return hashlib.sha256(f"{client_id}:{secret}".encode()).hexdigest()


def _client_credentials(call: Call) -> tuple[str, str]:
    """The client id and secret from the Basic header or the body: exactly one of the two (RFC 6749 2.3)."""
    basic = call.basic
    body = call.body if isinstance(call.body, dict) else {}
    in_body = "client_id" in body or "client_secret" in body
    if basic is not None and in_body:
        raise ApiError(
            400,
            "invalid_request",
            "Send the client credentials either in a Basic header or as client_id "
            "and client_secret in the body, not both",
        )
    if basic is not None:
        return basic
    if not in_body:
        raise ApiError(
            401,
            "invalid_client",
            "Client authentication is required: send a Basic header or client_id and client_secret in the body",
            headers=BASIC_CHALLENGE,
        )
    return str(body.get("client_id", "")), str(body.get("client_secret", ""))


@handles("issueAccessToken")
def issue_access_token(call: Call) -> dict[str, Any]:
    client_id, secret = _client_credentials(call)
    app = call.store.one("SELECT * FROM xp_ledger_applications WHERE client_id = ?", (client_id,))
    if app is None or not hmac.compare_digest(app["secret_hash"], secret_hash(client_id, secret)):
        raise ApiError(401, "invalid_client", "Invalid client credentials", headers=BASIC_CHALLENGE)
    held: list[str] = json.loads(app["scopes"])
    requested = call.body.get("scope") if isinstance(call.body, dict) else None
    scopes = list(dict.fromkeys(str(requested).split())) if requested else held
    refused = [s for s in scopes if s not in held]
    if refused:
        raise ApiError(400, "invalid_scope", f"Scope not granted to this client: {' '.join(refused)}")
    token = call.tokens.issue_client(client_id, app["name"], scopes, ttl=TOKEN_TTL_SECONDS)
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL_SECONDS, "scope": " ".join(scopes)}


# ingestion -------------------------------------------------------------------------------------------------------
def _events(body: dict[str, Any]) -> list[Any]:
    """The events of the request: the envelope's `data`, or the bare event.

    The schema's `oneOf` has already made sure the body is exactly one of the two. It is the envelope when it has
    the envelope's keys, unless it also has an event's keys and its `data` is not a list of events (then it is a
    bare event that happens to carry envelope-like extra properties)."""
    data = body.get("data")
    envelope_keys = {"sensor", "sendTime", "dataVersion"} <= body.keys() and isinstance(data, list)
    bare_keys = {"@context", "type", "actor"} <= body.keys()
    if (
        isinstance(data, list)
        and envelope_keys
        and (not bare_keys or all(isinstance(e, dict) and "type" in e for e in data))
    ):
        return list(data)
    return [body]


def _ref_id(value: Any) -> str | None:
    """The id of an entity reference: an IRI string, or an object's `id`."""
    ref = value.get("id") if isinstance(value, dict) else value
    return ref if isinstance(ref, str) else None


def _sourced_id(iri: str | None, collection: str) -> str | None:
    """`urn:uuid:<id>` or an HTTPS URL ending in `/<collection>/<id>` → `<id>` (the sourcedId); else None."""
    if not iri:
        return None
    if iri.startswith("urn:uuid:"):
        return iri.removeprefix("urn:uuid:")
    if iri.startswith("https://"):
        parts = urlsplit(iri).path.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == collection and parts[-1]:
            return parts[-1]
    return None


def _score_type(event: dict[str, Any]) -> Any:
    """`generated.extensions.scoreType` (a live client's placement) wins over `generated.scoreType` (the SDK's)."""
    score = event.get("generated")
    if not isinstance(score, dict):
        return None
    extensions = score.get("extensions")
    placed = extensions.get("scoreType") if isinstance(extensions, dict) else None
    return placed if placed is not None else score.get("scoreType")


def _application(call: Call) -> dict[str, Any]:
    """The caller's application (the token's subject is its client id)."""
    client_id = call.user_id
    app = call.store.one("SELECT id, name FROM xp_ledger_applications WHERE client_id = ?", (client_id,))
    return app or {"id": client_id, "name": client_id}  # a token that outlived its application (fixture reloaded)


def _student(call: Call, sourced_id: str | None) -> str | None:
    if not sourced_id:
        return None
    row = call.store.one("SELECT id FROM xp_ledger_students WHERE id = ?", (sourced_id.lower(),))
    return row["id"] if row else None


def _course_name(call: Call, extensions: Any) -> str | None:
    course = extensions.get("course") if isinstance(extensions, dict) else None
    sourced_id = _sourced_id(_ref_id(course), "courses")
    row = call.store.one("SELECT name FROM xp_ledger_courses WHERE id = ?", (sourced_id,)) if sourced_id else None
    return row["name"] if row else None


def _record_entry(call: Call, event: dict[str, Any], student: str, app_id: str, received_us: int, value: float) -> None:
    """The ledger entry of an XP GradeEvent, readable once the processing delay has passed."""
    event_time = str(event.get("eventTime", ""))
    date_us = micros(event_time)
    if date_us is None:  # the schema guarantees a date-time; stay safe anyway
        date_us, event_time = received_us, _iso_us(received_us)
    extensions = event.get("extensions") if isinstance(event.get("extensions"), dict) else None
    subject = extensions.get("subject") if extensions else None
    delay_us = round(processing_delay(call.store) * 1_000_000)
    call.store.insert(
        "xp_ledger_entries",
        {
            "id": call.store.new_id(),
            "user_id": student,
            "application_id": app_id,
            "source_event_id": event["id"],
            "value": json.dumps(value),
            "date_generated": format_micros(date_us, event_time),
            "date_us": date_us,
            "subject": subject if isinstance(subject, str) else None,
            "course_name": _course_name(call, extensions),
            "extensions": json.dumps(extensions) if extensions else None,
            "visible_us": received_us + delay_us,
        },
    )


def _ingest(call: Call, event: dict[str, Any], app_id: str, received_us: int) -> dict[str, Any]:
    """One event: remembered by id (per application), and an XP entry when it is an XP GradeEvent for a student."""
    kind = str(event.get("type"))
    ack: dict[str, Any] = {
        "id": event.get("id"),
        "type": kind,
        "action": event.get("action"),
        "status": "processed" if kind == "SessionEvent" else "queued",
        "userId": None,
    }
    student = None
    if kind == "GradeEvent":
        assignee = _ref_id(event.get("object", {}).get("assignee") if isinstance(event.get("object"), dict) else None)
        sourced_id = _sourced_id(assignee, "users")
        student = _student(call, sourced_id)
        ack["userId"] = student or sourced_id
    seen = call.store.one(
        "SELECT 1 FROM xp_ledger_events WHERE application_id = ? AND event_id = ?", (app_id, event.get("id"))
    )
    if seen:
        ack["status"] = "duplicate"
        return ack
    call.store.insert(
        "xp_ledger_events",
        {"application_id": app_id, "event_id": event.get("id"), "type": kind, "received_at": _iso_us(received_us)},
    )
    if kind == "GradeEvent" and _score_type(event) == XP_SCORE_TYPE and student is not None:
        score = event["generated"].get("scoreGiven")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            _record_entry(call, event, student, app_id, received_us, score)
    return ack


@handles("sendCaliperEvents")
def send_caliper_events(call: Call) -> Result:
    body = call.body if isinstance(call.body, dict) else {}
    events = _events(body)
    app_id = _application(call)["id"]
    received_us = _now_us(call)
    acks = [_ingest(call, event, app_id, received_us) for event in events if isinstance(event, dict)]
    synchronous = all(a["type"] == "SessionEvent" for a in acks)
    status = "processed" if synchronous else "accepted"
    return Result({"status": status, "received": len(acks), "events": acks}, status=200 if synchronous else 202)


# the ledger ------------------------------------------------------------------------------------------------------
def _entry(row: dict[str, Any]) -> dict[str, Any]:
    extensions = json.loads(row["extensions"]) if row["extensions"] else None
    return {
        "id": row["id"],
        "value": json.loads(row["value"]),
        "userId": row["user_id"],
        "applicationId": row["application_id"],
        "sourceEventId": row["source_event_id"],
        "dateGenerated": row["date_generated"],
        "subject": row["subject"],
        "courseName": row["course_name"],
        "sourceEvent": {"id": row["source_event_id"], "extensions": extensions},
    }


def _bound(call: Call, name: str, alias: str) -> int | None:
    """A date filter: the documented name wins over its alias when both are sent."""
    text = call.query.get(name, call.query.get(alias))
    if text is None:
        return None
    value = micros(str(text))
    if value is None:  # the schema's date-time check answers first; this is the belt to its braces
        raise ApiError(
            400,
            "invalid_request",
            f"{name} must be an ISO 8601 date-time",
            issues=[Issue("query", name if name in call.query else alias, "invalid_string", "Invalid datetime")],
        )
    return value


@handles("listUserXpEntries")
def list_user_xp_entries(call: Call) -> dict[str, Any]:
    user_id = str(call.path["userId"]).lower()
    if call.store.one("SELECT 1 FROM xp_ledger_students WHERE id = ?", (user_id,)) is None:
        raise not_found("User not found")
    where = ["user_id = ?", "visible_us <= ?"]
    params: list[Any] = [user_id, _now_us(call)]
    if "applicationId" in call.query:
        where.append("application_id = ?")
        params.append(call.query["applicationId"])
    for column_test, value in (
        ("date_us >= ?", _bound(call, "startDate", "after")),
        ("date_us <= ?", _bound(call, "endDate", "before")),
    ):
        if value is not None:
            where.append(column_test)
            params.append(value)
    clause = " AND ".join(where)
    offset, limit = int(call.query.get("offset", 0)), int(call.query.get("limit", 50))
    total = call.store.count(f"SELECT COUNT(*) FROM xp_ledger_entries WHERE {clause}", tuple(params))
    rows = call.store.all(
        f"SELECT * FROM xp_ledger_entries WHERE {clause} ORDER BY date_us DESC, source_event_id, id LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return {"entries": [_entry(r) for r in rows], "offset": offset, "limit": limit, "total": total}


# demo world ------------------------------------------------------------------------------------------------------
@seeder
def seed(call: Call, world: World) -> None:
    """Applications, students, courses and a few weeks of XP history per student from the applications that have a
    `history` (one entry on most days, in the afternoon UTC, never after the mock clock's now)."""
    data = world.data.get("xp_ledger") or {}
    set_processing_delay(call.store, float(data.get(DELAY_KEY, 0)))
    apps = data.get("applications", [])
    for app in apps:
        call.store.insert(
            "xp_ledger_applications",
            {
                "id": app["id"],
                "name": app["name"],
                "client_id": app["client_id"],
                "secret_hash": secret_hash(app["client_id"], app["client_secret"]),
                "scopes": list(app["scopes"]),
            },
        )
    for student in data.get("students", []):
        call.store.insert("xp_ledger_students", {"id": str(student["id"]).lower(), "name": student["name"]})
    courses = {c["id"]: c["name"] for c in data.get("courses", [])}
    for course_id, name in courses.items():
        call.store.insert("xp_ledger_courses", {"id": course_id, "name": name})
    rng = random.Random(f"xp-ledger:{world.seed}")
    now_us = _now_us(call)
    today = call.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    producers = [a for a in apps if a.get("history")]
    for student in (s for s in data.get("students", []) if s.get("history", True)):
        for days_ago in range(int(data.get("history_days", 0)) - 1, -1, -1):
            for app in producers:
                if rng.random() >= 0.7:
                    continue
                moment = today - timedelta(days=days_ago, seconds=-rng.randrange(13 * 3600, 21 * 3600))
                date_us = round(moment.timestamp() * 1_000_000)
                if date_us > now_us:
                    continue
                history = app["history"]
                course = history.get("course")
                extensions = {
                    "subject": history["subject"],
                    **(
                        {"course": {"id": f"https://api.alpha-1edtech.ai/rostering/1.0/courses/{course}"}}
                        if course
                        else {}
                    ),
                }
                event_id = f"urn:uuid:{seeded_uuid(rng)}"
                call.store.insert(
                    "xp_ledger_events",
                    {
                        "application_id": app["id"],
                        "event_id": event_id,
                        "type": "GradeEvent",
                        "received_at": _iso_us(date_us),
                    },
                )
                call.store.insert(
                    "xp_ledger_entries",
                    {
                        "id": seeded_uuid(rng),
                        "user_id": str(student["id"]).lower(),
                        "application_id": app["id"],
                        "source_event_id": event_id,
                        "value": json.dumps(rng.randrange(5, 46)),
                        "date_generated": _iso_us(date_us),
                        "date_us": date_us,
                        "subject": history["subject"],
                        "course_name": courses.get(course),
                        "extensions": json.dumps(extensions),
                        "visible_us": date_us,
                    },
                )
