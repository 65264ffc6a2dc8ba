"""What the ledger's scenarios share: the API's operations, Caliper XP events of the suite's own, reads of a student's
entries, the student the run writes for, and waiting out the target's processing delay."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from contract_tests.http import Exchange
from contract_tests.scenarios import Case, ScenarioContext, Skip

API = "xp-ledger"
SEND, LIST, TOKEN = "sendCaliperEvents", "listUserXpEntries", "issueAccessToken"
ACCEPTED = (200, 202)
MAX_LIMIT = 100
PAGES = 6  # pages walked by the paging case
MAX_READ_PAGES = 20  # pages read when looking for an event's entries
CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
SENSOR = uuid.uuid5(uuid.NAMESPACE_URL, "xentree-contract")  # the `actor` of the suite's events


# time --------------------------------------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    """RFC 3339 in UTC, microseconds when they matter, else milliseconds (the docs' form)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[:-3] if text.endswith("000") else text) + "Z"


def instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def now() -> datetime:
    """The current instant, to the millisecond (the precision the docs write)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# events --------------------------------------------------------------------------------------------------------------
def new_event_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def grade_event(
    student: str,
    *,
    event_id: str,
    event_time: str,
    value: float,
    score_type: str = "XP",
) -> dict[str, Any]:
    """A bare Caliper GradeEvent for the student. The score type goes where both a live client
    (`generated.extensions.scoreType`) and the SDK (`generated.scoreType`) put it."""
    return {
        "@context": CONTEXT,
        "id": event_id,
        "type": "GradeEvent",
        "profile": "GradingProfile",
        "action": "Graded",
        "eventTime": event_time,
        "actor": {"id": f"urn:uuid:{SENSOR}", "type": "SoftwareApplication"},
        "object": {"id": f"urn:uuid:{uuid.uuid4()}", "type": "Attempt", "assignee": f"urn:uuid:{student}"},
        "generated": {
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": "Score",
            "scoreType": score_type,
            "scoreGiven": value,
            "maxScore": max(value, 0),
            "extensions": {"scoreType": score_type},
        },
    }


def is_entry_of(entry: Any, event_id: str) -> bool:
    """An entry produced by the event: `sourceEventId` is the event id as sent, or its bare uuid."""
    if not isinstance(entry, dict):
        return False
    bare = event_id.removeprefix("urn:uuid:")
    source = entry.get("sourceEventId")
    nested = entry.get("sourceEvent", {}).get("id") if isinstance(entry.get("sourceEvent"), dict) else None
    return source in (event_id, bare) or nested in (event_id, bare)


def page_of(answer: Exchange) -> dict[str, Any] | None:
    body = answer.json
    if answer.status != 200 or not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        return None
    return body


def error_shape_problems(ctx: ScenarioContext, answer: Exchange) -> list[str]:
    body = answer.json
    if body is None:
        return [f"the {answer.status} body is not JSON: {answer.text(200)!r}"]
    validator = ctx.spec.error_validator
    if validator is None:
        return []
    return [
        f"the {answer.status} body breaks the Error shape at "
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


# credentials and the student -------------------------------------------------------------------------------------
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run_token(ctx: ScenarioContext) -> dict[str, str]:
    if not ctx.principal.token:
        raise Skip("needs a token: pass --client-id/--client-secret (or --token)")
    return bearer(ctx.principal.token)


def scope_of(ctx: ScenarioContext, operation_id: str) -> str | None:
    scopes = ctx.op(operation_id).bearer_scopes
    return scopes[0] if scopes else None


def student_candidates(ctx: ScenarioContext) -> list[str]:
    """Ids to try: the spec's examples of a student id, then (a xentree-mock target) the mock's student table."""
    found: list[str] = []
    op = ctx.op(LIST)
    for param in ctx.spec.parameters(op, "path"):
        schema = param.get("schema", {})
        found += [str(v) for v in [*schema.get("examples", []), *([schema["example"]] if "example" in schema else [])]]
        found += [str(v.get("value")) for v in (param.get("examples") or {}).values() if isinstance(v, dict)]
    try:
        answer = ctx.client.request("GET", "/__mock__/state/xp_ledger_students", observe=False, wait_on_429=False)
        rows = answer.json.get("rows", []) if answer.status == 200 and isinstance(answer.json, dict) else []
        found += [str(r["id"]) for r in rows if isinstance(r, dict) and r.get("id")]
    except Exception:  # noqa: BLE001 - any target: the control API is only a hint
        pass
    return list(dict.fromkeys(found))


def student(ctx: ScenarioContext) -> str:
    """The student the scenarios use: --student-id, else the first candidate the target knows (200 on the read)."""
    if "student" in ctx.shared:
        found = ctx.shared["student"]
        if isinstance(found, Skip):
            raise found
        return str(found)
    headers = run_token(ctx)
    reason = ""
    if ctx.options.student_id:
        candidates, given = [ctx.options.student_id], True
    else:
        candidates, given = student_candidates(ctx), False
    for candidate in candidates:
        answer = ctx.call(LIST, headers, path={"userId": candidate}, params={"limit": 1})
        if answer.status == 200:
            ctx.shared["student"] = candidate
            return candidate
        if answer.status in (401, 403):
            skip = Skip(f"the run's token cannot read the ledger (it needs {scope_of(ctx, LIST)}): {answer.summary()}")
            ctx.shared["student"] = skip
            raise skip
        reason = (
            f"the target does not know {'--student-id ' if given else 'the student '}{candidate}: {answer.summary()}"
        )
    if not candidates:
        reason = "no student id in the spec's examples or the target's control API"
    skip = Skip(f"needs a student id the target knows: pass --student-id (XENTREE_STUDENT_ID); {reason}")
    ctx.shared["student"] = skip
    raise skip


# requests ----------------------------------------------------------------------------------------------------------
def send(ctx: ScenarioContext, case: Case, event: dict[str, Any], headers: dict[str, str] | None = None) -> Exchange:
    """Send one event as the run; a refusal of the run's own credentials skips (they may lack events.write)."""
    answer = ctx.call(SEND, headers if headers is not None else run_token(ctx), body=event)
    if answer.status == 403 and headers is None:
        case.skip(f"the run's token may not send events (403; it needs {scope_of(ctx, SEND)}): {answer.text(200)}")
    return answer


def read(ctx: ScenarioContext, who: str, *, headers: dict[str, str] | None = None, **params: object) -> Exchange:
    return ctx.call(
        LIST,
        headers if headers is not None else run_token(ctx),
        path={"userId": who},
        params={k: v for k, v in params.items() if v is not None},
    )


def entries_of_event(ctx: ScenarioContext, who: str, event_id: str, since: str) -> list[dict[str, Any]]:
    """Every entry the event produced, from the student's entries dated `since` or later (all pages)."""
    found: list[dict[str, Any]] = []
    offset = 0
    for _ in range(MAX_READ_PAGES):
        answer = read(ctx, who, startDate=since, limit=MAX_LIMIT, offset=offset)
        page = page_of(answer)
        if page is None:
            raise AssertionError(f"reading the student's entries failed: {answer.summary()}")
        found += [e for e in page["entries"] if is_entry_of(e, event_id)]
        offset += len(page["entries"])
        if not page["entries"] or offset >= int(page.get("total") or 0):
            break
    return found


def settle(ctx: ScenarioContext, probe: Any, done: Any) -> tuple[Any, float]:
    """Call `probe()` until `done(value)` or `--settle-seconds` pass; returns the last value and the time waited."""
    start = time.monotonic()
    pause = 0.2
    while True:
        value = probe()
        waited = time.monotonic() - start
        if done(value) or waited >= ctx.options.settle_seconds:
            return value, waited
        time.sleep(min(pause, max(0.0, ctx.options.settle_seconds - waited)))
        pause = min(pause * 2, 1.0)


def create_entries(ctx: ScenarioContext, case: Case, who: str, count: int) -> bool:
    """XP events of the suite's own (fresh ids, small values): `count` new entries for the student. False (and a
    failure recorded) when the target refuses one."""
    for index in range(count):
        answer = send(ctx, case, grade_event(who, event_id=new_event_id(), event_time=iso(now()), value=1 + index))
        if not case.expect(
            answer.status in ACCEPTED, f"an XP GradeEvent for student {who} was refused: {answer.summary()}", answer
        ):
            return False
    return True
