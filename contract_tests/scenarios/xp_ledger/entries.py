"""The ledger's entries: idempotency of event ids, paging and filters (see the package docstring for the rules)."""

from __future__ import annotations

import copy
import math
import time
import uuid
from datetime import timedelta
from typing import Any

from contract_tests.scenarios import ScenarioContext, scenario
from contract_tests.scenarios.xp_ledger import RULES
from contract_tests.scenarios.xp_ledger.ledger import (
    ACCEPTED,
    API,
    LIST,
    MAX_LIMIT,
    PAGES,
    SEND,
    create_entries,
    entries_of_event,
    error_shape_problems,
    grade_event,
    instant,
    iso,
    new_event_id,
    now,
    page_of,
    read,
    run_token,
    send,
    settle,
    student,
)


# (a) idempotency ---------------------------------------------------------------------------------------------------
@scenario(
    "ledger-idempotency",
    "ledger: a repeated event id creates one entry",
    RULES,
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
@scenario("ledger-paging", "ledger: paging", RULES, api=API, needs=(SEND, LIST), subjects=(LIST,))
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


@scenario("ledger-filters", "ledger: filters", RULES, api=API, needs=(SEND, LIST), subjects=(LIST,))
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
