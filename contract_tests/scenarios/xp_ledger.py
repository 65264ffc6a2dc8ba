"""The Timeback XP ledger's rules (openapi/xp-ledger.yaml), each checked as one or more JUnit cases.

- Idempotency: the same XP GradeEvent (same event id) sent twice creates exactly one ledger entry (read back through
  listUserXpEntries, matched by `sourceEventId`); the second acknowledgement says `duplicate`.
- Paging: with `limit=k` and several offsets, `total` is the same on every page, the pages do not overlap, each has
  `min(k, total - offset)` entries, and a limit above 100 (or below 1, or a negative offset) answers 400.
- Filters: `startDate`/`endDate` are inclusive bounds on `dateGenerated` (an entry exactly at a bound is listed, one
  just outside is not); `applicationId` lists only that application's entries (an unknown one gives an empty page);
  a malformed date answers 400 with the Error shape; an unknown student answers 404.
- Scopes: a token without `events.readonly` gets 403 on the read, one without `events.write` gets 403 on ingestion
  (tokens minted at the token operation with `scope=...`; skipped when the target will not mint them).
- Authentication: a missing or garbage token gets 401 with `WWW-Authenticate: Bearer ...`; a wrong client secret
  gets 401 `invalid_client` from the token operation.

The ledger has no delete: the only writes are XP events of the suite's own, each with a fresh `urn:uuid:<uuid4>` id,
for one student (`--student-id`, else discovered from the target). Entries may appear after a processing delay: reads
are polled for up to `--settle-seconds`.
"""

from __future__ import annotations

import copy
import math
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contract_tests.http import Exchange
from contract_tests.scenarios import Case, ScenarioContext, Skip, scenario

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


# (e) authentication ------------------------------------------------------------------------------------------------
@scenario(
    "ledger-auth",
    "ledger: missing or invalid token answers 401",
    __doc__ or "",
    api=API,
    needs=(SEND, LIST),
    subjects=(SEND, LIST, TOKEN),
)
def unauthenticated(ctx: ScenarioContext) -> None:
    with ctx.case(
        "ledger auth: a missing or garbage token answers 401",
        group="ledger-auth",
        rule="ledger_auth",
        operation=LIST,
        description="No token and a garbage token both get 401, the Error shape and "
        "WWW-Authenticate: Bearer, on the read and on ingestion",
    ) as case:
        who = str(uuid.uuid4())
        harmless = grade_event(
            who, event_id=new_event_id(), event_time=iso(now()), value=1, score_type="QUESTION_RESULT"
        )  # creates no XP entry, whatever the target does
        for label, headers in (
            ("no token", {}),
            ("a garbage token", bearer("not-a-token")),
            ("a malformed JWT", bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")),
        ):
            calls = ((LIST, read(ctx, who, headers=headers)), (SEND, ctx.call(SEND, headers, body=harmless)))
            for operation_id, answer in calls:
                case.expect(
                    answer.status == 401, f"{operation_id} with {label}: expected 401, got {answer.summary()}", answer
                )
                challenge = answer.headers.get("www-authenticate", "")
                case.expect(
                    answer.status != 401 or challenge.lower().startswith("bearer"),
                    f"{operation_id} with {label}: 401 without a Bearer challenge (WWW-Authenticate {challenge!r})",
                    answer,
                )
    if ctx.principal.client_id and TOKEN in ctx.spec.by_id:
        with ctx.case(
            "ledger auth: a wrong client secret answers 401 invalid_client",
            group="ledger-auth",
            rule="ledger_auth",
            operation=TOKEN,
            description="The token operation refuses a wrong secret with 401 invalid_client and "
            "WWW-Authenticate: Basic",
        ) as case:
            from contract_tests.auth import request_token

            answer = request_token(ctx.client, ctx.spec, ctx.principal.client_id, "wrong-" + uuid.uuid4().hex)
            if case.expect(answer.status == 401, f"expected 401 for a wrong client secret, got {answer.summary()}"):
                case.expect(
                    answer.error_code == "invalid_client",
                    f"expected error invalid_client, got {answer.error_code!r}: {answer.text(200)}",
                )
                challenge = answer.headers.get("www-authenticate", "")
                case.expect(
                    challenge.lower().startswith("basic"),
                    f"the token operation's 401 has WWW-Authenticate {challenge!r}, expected a Basic challenge",
                )


# (d) scopes --------------------------------------------------------------------------------------------------------
def narrower_token(ctx: ScenarioContext, case: Case, without: str) -> tuple[str, list[str]]:
    """A token of the run's client carrying every scope except `without` (minted at the token operation)."""
    from contract_tests.auth import CredentialsRefused, client_token

    principal = ctx.principal
    if not (principal.client_id and principal.client_secret):
        case.skip("needs --client-id/--client-secret to mint tokens with fewer scopes (a --token cannot be narrowed)")
    held = list(principal.scopes) if principal.scopes is not None else list(ctx.spec.oauth2_scopes)
    others = [s for s in held if s != without] or [s for s in ctx.spec.oauth2_scopes if s != without]
    if not others:
        case.skip(f"the API has no scope other than {without} to ask for")
    try:
        narrow = client_token(
            ctx.client, ctx.spec, principal.client_id or "", principal.client_secret or "", " ".join(others)
        )
    except CredentialsRefused as exc:
        case.skip(f"the target will not mint a token without {without}: {exc}")
    if narrow.scopes is not None and without in narrow.scopes:
        case.skip(f"the target granted {without} although only {' '.join(others)} was asked for")
    return narrow.token or "", others


def check_insufficient_scope(
    case: Case, answer: Exchange, operation_id: str, required: str, granted: list[str]
) -> None:
    prefix = f"{operation_id} with a token lacking {required} (scopes: {' '.join(granted)})"
    if not case.expect(answer.status == 403, f"{prefix}: expected 403, got {answer.summary()}", answer):
        return
    case.expect(
        answer.error_code == "insufficient_scope",
        f"{prefix}: 403 names error {answer.error_code!r}, expected 'insufficient_scope'",
        answer,
    )
    body = answer.json if isinstance(answer.json, dict) else {}
    if "required_scope" in body:
        case.expect(
            body["required_scope"] == required,
            f"{prefix}: 403 names required_scope {body['required_scope']!r}, expected {required!r}",
            answer,
        )


@scenario(
    "ledger-scopes",
    "ledger: scopes are enforced",
    __doc__ or "",
    api=API,
    needs=(SEND, LIST, TOKEN),
    subjects=(SEND, LIST),
)
def scope_enforcement(ctx: ScenarioContext) -> None:
    read_scope, write_scope = scope_of(ctx, LIST), scope_of(ctx, SEND)
    who = str(uuid.uuid4())
    with ctx.case(
        f"ledger scopes: a token without {read_scope} cannot read XP",
        group="ledger-scopes",
        rule="ledger_scope",
        operation=LIST,
        description=f"listUserXpEntries needs {read_scope}: 403 insufficient_scope without it",
    ) as case:
        if read_scope is None:
            case.skip("listUserXpEntries names no scope")
        token, granted = narrower_token(ctx, case, read_scope)
        check_insufficient_scope(case, read(ctx, who, headers=bearer(token)), LIST, read_scope, granted)
        if write_scope in granted:
            event = grade_event(
                who, event_id=new_event_id(), event_time=iso(now()), value=1, score_type="QUESTION_RESULT"
            )
            answer = ctx.call(SEND, bearer(token), body=event)
            case.expect(
                answer.status in ACCEPTED,
                f"a token with {write_scope} could not send an event (one that creates no XP): {answer.summary()}",
                answer,
            )
    with ctx.case(
        f"ledger scopes: a token without {write_scope} cannot send events",
        group="ledger-scopes",
        rule="ledger_scope",
        operation=SEND,
        description=f"sendCaliperEvents needs {write_scope}: 403 insufficient_scope without it",
    ) as case:
        if write_scope is None:
            case.skip("sendCaliperEvents names no scope")
        token, granted = narrower_token(ctx, case, write_scope)
        # a schema-valid event that creates no XP entry, so a target that ignores the scope changes nothing
        event = grade_event(who, event_id=new_event_id(), event_time=iso(now()), value=1, score_type="QUESTION_RESULT")
        check_insufficient_scope(case, ctx.call(SEND, bearer(token), body=event), SEND, write_scope, granted)
        if read_scope in granted:
            answer = read(ctx, who, headers=bearer(token))
            case.expect(
                answer.status not in (401, 403),
                f"a token with {read_scope} could not read the ledger: {answer.summary()}",
                answer,
            )


# (a) idempotency ---------------------------------------------------------------------------------------------------
@scenario(
    "ledger-idempotency",
    "ledger: a repeated event id creates one entry",
    __doc__ or "",
    api=API,
    needs=(SEND, LIST),
    subjects=(SEND,),
)
def idempotency(ctx: ScenarioContext) -> None:
    with ctx.case(
        "ledger idempotency: the same XP event sent twice creates one entry",
        group="ledger-idempotency",
        rule="ledger_idempotency",
        operation=SEND,
        description="An XP GradeEvent sent twice (same id) gives exactly one entry with that "
        "sourceEventId; the second acknowledgement says duplicate",
    ) as case:
        who = student(ctx)
        event_id, sent_at = new_event_id(), now()
        event = grade_event(who, event_id=event_id, event_time=iso(sent_at), value=7)
        first = send(ctx, case, event)
        if not case.expect(first.status in ACCEPTED, f"the XP GradeEvent was refused: {first.summary()}", first):
            return
        second = send(ctx, case, copy.deepcopy(event))
        if not case.expect(
            second.status in ACCEPTED, f"the repeated XP GradeEvent was refused: {second.summary()}", second
        ):
            return
        since = iso(sent_at - timedelta(minutes=1))
        found, waited = settle(ctx, lambda: entries_of_event(ctx, who, event_id, since), bool)
        if not case.expect(
            bool(found),
            f"no ledger entry with sourceEventId {event_id} for student {who} appeared "
            f"within {ctx.options.settle_seconds:g}s (--settle-seconds)",
        ):
            return
        if waited:  # a target that processes asynchronously: give the repeated event as long again
            time.sleep(min(waited, ctx.options.settle_seconds))
            found = entries_of_event(ctx, who, event_id, since)
        if case.expect(
            len(found) == 1,
            f"the event {event_id}, sent twice, produced {len(found)} ledger entries "
            f"(ids {[e.get('id') for e in found]}); expected exactly one",
        ):
            entry = found[0]
            case.expect(entry.get("userId") == who, f"the entry's userId is {entry.get('userId')!r}, expected {who!r}")
            case.expect(
                entry.get("value") == 7,
                f"the entry's value is {entry.get('value')!r}, expected 7 (the event's scoreGiven)",
            )
        acks = second.json.get("events") if isinstance(second.json, dict) else None
        if isinstance(acks, list) and acks and isinstance(acks[0], dict):
            case.expect(
                acks[0].get("status") == "duplicate",
                f"the repeated event is acknowledged as {acks[0].get('status')!r}, expected 'duplicate'",
                second,
            )


# (b) paging --------------------------------------------------------------------------------------------------------
@scenario("ledger-paging", "ledger: paging", __doc__ or "", api=API, needs=(SEND, LIST), subjects=(LIST,))
def paging(ctx: ScenarioContext) -> None:
    with ctx.case(
        "ledger paging: total is stable and pages split the entries",
        group="ledger-paging",
        rule="ledger_paging",
        operation=LIST,
        description="limit=k at offsets 0, k, 2k, ...: same total on every page, no overlap, "
        "min(k, total - offset) entries per page",
    ) as case:
        who = student(ctx)
        first = page_of(read(ctx, who, limit=1))
        if first is None:
            case.fail(f"the student's first page could not be read: {case.last.summary() if case.last else ''}")
            return
        if int(first.get("total") or 0) < 3:
            if not create_entries(ctx, case, who, 3 - int(first.get("total") or 0)):
                return
            settle(ctx, lambda: page_of(read(ctx, who, limit=1)), lambda p: p is not None and p.get("total", 0) >= 3)
        until = iso(now())  # entries dated later (other writers) do not move the totals under the pages
        total = page_of(read(ctx, who, endDate=until, limit=1))
        if total is None or int(total.get("total") or 0) < 2:
            case.skip(
                f"the student has fewer than 2 entries to page through: {case.last.summary() if case.last else ''}"
            )
        expected_total = int(total["total"])
        k = min(MAX_LIMIT, max(1, math.ceil(expected_total / PAGES)))
        seen: dict[str, int] = {}
        for index in range(PAGES + 1):  # one page past the end (or as many as PAGES allows)
            offset = index * k
            answer = read(ctx, who, endDate=until, limit=k, offset=offset)
            page = page_of(answer)
            if not case.expect(page is not None, f"page offset={offset} limit={k}: {answer.summary()}", answer):
                return
            assert page is not None
            entries = page["entries"]
            case.expect(
                page.get("total") == expected_total,
                f"page offset={offset} limit={k} says total "
                f"{page.get('total')!r}, the first page said {expected_total}",
                answer,
            )
            case.expect(
                (page.get("offset"), page.get("limit")) == (offset, k),
                f"page offset={offset} limit={k} echoes offset={page.get('offset')!r} limit={page.get('limit')!r}",
                answer,
            )
            wanted = max(0, min(k, expected_total - offset))
            case.expect(
                len(entries) == wanted,
                f"page offset={offset} limit={k} of total {expected_total} has "
                f"{len(entries)} entries, expected {wanted}",
                answer,
            )
            for entry in entries:
                key = str(entry.get("id")) if isinstance(entry, dict) else repr(entry)
                if key in seen:
                    case.fail(
                        f"entry {key} is on the page at offset {seen[key]} and again at offset {offset} (limit={k})",
                        answer,
                    )
                seen.setdefault(key, offset)
            if offset >= expected_total:
                break
        walked = min(expected_total, (PAGES + 1) * k)
        case.expect(
            len(seen) == walked,
            f"the pages (limit={k}) hold {len(seen)} distinct entries, expected {walked} of total {expected_total}",
        )
    with ctx.case(
        "ledger paging: limits outside 1-100 and negative offsets answer 400",
        group="ledger-paging",
        rule="ledger_paging",
        operation=LIST,
        description="limit=101, limit=0 and offset=-1 are refused with 400 and the Error shape",
    ) as case:
        who = student(ctx)
        bad: tuple[dict[str, Any], ...] = ({"limit": MAX_LIMIT + 1}, {"limit": 0}, {"offset": -1})
        for params in bad:
            answer = read(ctx, who, **params)
            shown = "&".join(f"{k}={v}" for k, v in params.items())
            if case.expect(answer.status == 400, f"{shown}: expected 400, got {answer.summary()}", answer):
                for problem in error_shape_problems(ctx, answer):
                    case.fail(f"{shown}: {problem}", answer)


# (c) filters -------------------------------------------------------------------------------------------------------
def plus(text: str, delta: timedelta) -> str:
    moment = instant(text)
    assert moment is not None, f"not a date-time: {text!r}"
    return iso(moment + delta)


@scenario("ledger-filters", "ledger: filters", __doc__ or "", api=API, needs=(SEND, LIST), subjects=(LIST,))
def filters(ctx: ScenarioContext) -> None:
    with ctx.case(
        "ledger filters: startDate and endDate are inclusive",
        group="ledger-filters",
        rule="ledger_filters",
        operation=LIST,
        description="An entry dated exactly at startDate/endDate is listed; 1 ms outside it is not; "
        "every listed entry lies within the bounds",
    ) as case:
        who = student(ctx)
        page = page_of(read(ctx, who, limit=1))
        if page is None or not page["entries"]:
            if not create_entries(ctx, case, who, 1):
                return
            page, _ = settle(ctx, lambda: page_of(read(ctx, who, limit=1)), lambda p: p is not None and p["entries"])
        if page is None or not page["entries"]:
            case.skip(f"the student has no entry to filter on: {case.last.summary() if case.last else ''}")
        entry = page["entries"][0]
        stamp = str(entry.get("dateGenerated"))
        at = instant(stamp)
        if at is None:
            case.fail(f"entry {entry.get('id')} has dateGenerated {stamp!r}, not a date-time")
            return
        one_ms = timedelta(milliseconds=1)
        bounds: tuple[tuple[str, dict[str, Any], bool], ...] = (
            ("startDate=endDate=its dateGenerated", {"startDate": stamp, "endDate": stamp}, True),
            ("startDate=its dateGenerated", {"startDate": stamp}, True),
            ("endDate=its dateGenerated", {"endDate": stamp}, True),
            ("startDate=1 ms after it", {"startDate": plus(stamp, one_ms)}, False),
            ("endDate=1 ms before it", {"endDate": plus(stamp, -one_ms)}, False),
        )
        for label, params, listed in bounds:
            answer = read(ctx, who, limit=MAX_LIMIT, **params)
            got = page_of(answer)
            if not case.expect(got is not None, f"{label}: {answer.summary()}", answer):
                continue
            assert got is not None
            ids = {str(e.get("id")) for e in got["entries"] if isinstance(e, dict)}
            present = str(entry.get("id")) in ids
            if listed and not present and len(got["entries"]) < MAX_LIMIT:
                case.fail(
                    f"{label} ({stamp}): entry {entry.get('id')} dated exactly at the bound is not listed "
                    "(the bounds are inclusive)",
                    answer,
                )
            if not listed and present:
                case.fail(f"{label}: entry {entry.get('id')} dated {stamp} is listed outside the range", answer)
            low, high = instant(params.get("startDate")), instant(params.get("endDate"))
            for other in got["entries"]:
                when = instant(other.get("dateGenerated")) if isinstance(other, dict) else None
                if when is None or (low and when < low) or (high and when > high):
                    case.fail(
                        f"{label}: entry {other.get('id') if isinstance(other, dict) else other} dated "
                        f"{other.get('dateGenerated') if isinstance(other, dict) else '?'} lies outside "
                        f"{params}",
                        answer,
                    )
                    break

    with ctx.case(
        "ledger filters: applicationId lists only that application's entries",
        group="ledger-filters",
        rule="ledger_filters",
        operation=LIST,
        description="applicationId=A lists only A's entries (as many as the unfiltered list holds); an "
        "unknown application gives an empty page",
    ) as case:
        who = student(ctx)
        answer = read(ctx, who, limit=MAX_LIMIT)
        everything = page_of(answer)
        if everything is None or not everything["entries"]:
            case.skip(f"the student has no entries: {answer.summary()}")
        assert everything is not None
        apps: dict[str, int] = {}
        for entry in everything["entries"]:
            apps[str(entry.get("applicationId"))] = apps.get(str(entry.get("applicationId")), 0) + 1
        complete = int(everything.get("total") or 0) <= len(everything["entries"])
        for app, count in sorted(apps.items(), key=lambda item: -item[1])[:2]:
            answer = read(ctx, who, applicationId=app, limit=MAX_LIMIT)
            page = page_of(answer)
            if not case.expect(page is not None, f"applicationId={app}: {answer.summary()}", answer):
                continue
            assert page is not None
            strangers = [e for e in page["entries"] if str(e.get("applicationId")) != app]
            case.expect(
                not strangers,
                f"applicationId={app} lists entries of other applications: "
                f"{sorted({str(e.get('applicationId')) for e in strangers})}",
                answer,
            )
            if complete:
                case.expect(
                    page.get("total") == count,
                    f"applicationId={app}: total {page.get('total')!r}, but the "
                    f"unfiltered list holds {count} entries of that application",
                    answer,
                )
        unknown = str(uuid.uuid4())
        answer = read(ctx, who, applicationId=unknown)
        page = page_of(answer)
        if case.expect(
            page is not None,
            f"applicationId={unknown} (unknown): expected 200 with an empty page, got {answer.summary()}",
            answer,
        ):
            assert page is not None
            case.expect(
                page["entries"] == [] and page.get("total") == 0,
                f"applicationId={unknown} (unknown) lists {len(page['entries'])} entries, total {page.get('total')!r}",
                answer,
            )

    with ctx.case(
        "ledger filters: a malformed date answers 400",
        group="ledger-filters",
        rule="ledger_filters",
        operation=LIST,
        description="startDate/endDate that are not RFC 3339 date-times get 400 with "
        "the Error shape, naming the parameter",
    ) as case:
        who = student(ctx)
        for name, value in (("startDate", "not-a-date"), ("endDate", "2026-02-30T25:61:00Z")):
            query: dict[str, Any] = {name: value}
            answer = read(ctx, who, **query)
            if not case.expect(answer.status == 400, f"{name}={value}: expected 400, got {answer.summary()}", answer):
                continue
            for problem in error_shape_problems(ctx, answer):
                case.fail(f"{name}={value}: {problem}", answer)
            issues = answer.json.get("issues") if isinstance(answer.json, dict) else None
            if isinstance(issues, list) and issues:
                fields = [i.get("field") for i in issues if isinstance(i, dict)]
                case.expect(name in fields, f"{name}={value}: the 400 issues name {fields}, not {name}", answer)

    with ctx.case(
        "ledger filters: an unknown student answers 404",
        group="ledger-filters",
        rule="ledger_filters",
        operation=LIST,
        description="listUserXpEntries for a student id the target does not know gets 404 with the Error shape",
    ) as case:
        run_token(ctx)
        unknown = str(uuid.uuid4())
        answer = read(ctx, unknown)
        if answer.status in (401, 403):
            case.skip(f"the run's token cannot read the ledger: {answer.summary()}")
        if case.expect(
            answer.status == 404, f"unknown student {unknown}: expected 404, got {answer.summary()}", answer
        ):
            for problem in error_shape_problems(ctx, answer):
                case.fail(f"unknown student: {problem}", answer)
