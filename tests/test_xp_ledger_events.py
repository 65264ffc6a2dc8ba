"""The XP ledger mock's Caliper ingestion: what becomes an entry, idempotency by event id, dropped events and
refused payloads. On a strict mock serving only the ledger, with the clock frozen (tests/xp_ledger_helpers.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests import xp_ledger_helpers
from tests.xp_ledger_helpers import (
    AVA,
    CHLOE,
    CONTEXT,
    DEV,
    EVENTS,
    MATH_SPRINT,
    NOBODY,
    READING_QUEST,
    Headers,
    entries,
    entries_url,
    envelope,
    event_id,
    grade_event,
    issues_of,
    send,
    session_event,
    token_of,
    view_event,
)

# the helpers' fixtures, bound by name so pytest finds them in this module (the ledger's `mock` over the conftest's)
ledger, mock, writer = xp_ledger_helpers.ledger, xp_ledger_helpers.mock, xp_ledger_helpers.writer


# ingestion ---------------------------------------------------------------------------------------------------------
def test_an_xp_grade_event_becomes_an_entry_with_the_documented_fields(ledger: TestClient, writer: Headers) -> None:
    course = {"id": "https://api.alpha-1edtech.ai/rostering/1.0/courses/math-grade-5"}
    ack = send(ledger, writer, envelope(grade_event(1, value=12, subject="Math", course=course)))
    assert ack == {
        "status": "accepted",
        "received": 1,
        "events": [{"id": event_id(1), "type": "GradeEvent", "action": "Graded", "status": "queued", "userId": DEV}],
    }
    [entry] = entries(ledger, writer)["entries"]
    assert entry == {
        "id": entry["id"],
        "value": 12,
        "userId": DEV,
        "applicationId": READING_QUEST,
        "sourceEventId": event_id(1),
        "dateGenerated": "2026-01-15T14:30:00.000Z",
        "subject": "Math",
        "courseName": "Math Grade 5",
        "sourceEvent": {"id": event_id(1), "extensions": {"subject": "Math", "course": course}},
    }


def test_a_bare_event_with_urn_ids_and_the_sdk_score_placement(ledger: TestClient, writer: Headers) -> None:
    event = grade_event(2, value=25, sdk_placement=True, subject="Reading")
    event["object"]["assignee"] = f"urn:uuid:{DEV}"
    ack = send(ledger, writer, event)
    assert ack["events"][0]["userId"] == DEV
    [entry] = entries(ledger, writer)["entries"]
    assert (entry["value"], entry["subject"], entry["courseName"]) == (25, "Reading", None)


def test_the_spec_examples_create_entries_for_the_example_student(
    ledger: TestClient, mock: Mock, writer: Headers
) -> None:
    examples = mock.specs["xp-ledger"].by_id["sendCaliperEvents"].body.media["application/json"].examples
    before = entries(ledger, writer, user=AVA)["total"]
    for name in ("xp_grade_event_envelope", "bare_xp_grade_event", "question_result_envelope"):
        send(ledger, writer, examples[name])
    page = entries(ledger, writer, user=AVA, endDate="2026-01-16T23:59:59Z", startDate="2026-01-15T00:00:00Z")
    fresh = {
        e["sourceEventId"]: e
        for e in page["entries"]
        if e["sourceEventId"].startswith("urn:uuid:6f1c") or e["sourceEventId"].startswith("urn:uuid:0c7d")
    }
    assert sorted(e["value"] for e in fresh.values()) == [12, 25]
    assert entries(ledger, writer, user=AVA)["total"] == before + 2  # the QUESTION_RESULT made none


@pytest.mark.parametrize(
    "score_type, sdk_placement", [("QUESTION_RESULT", False), ("QUESTION_RESULT", True), (None, False)]
)
def test_grade_events_not_typed_xp_make_no_entry(
    ledger: TestClient, writer: Headers, score_type: str | None, sdk_placement: bool
) -> None:
    ack = send(ledger, writer, grade_event(3, score_type=score_type, sdk_placement=sdk_placement))
    assert ack["events"][0]["status"] == "queued"
    assert entries(ledger, writer)["total"] == 0


def test_extensions_score_type_wins_over_the_score_field(ledger: TestClient, writer: Headers) -> None:
    xp_in_extensions = grade_event(4, value=4)
    xp_in_extensions["generated"]["scoreType"] = "QUESTION_RESULT"
    question_in_extensions = grade_event(5, value=5, score_type="QUESTION_RESULT")
    question_in_extensions["generated"]["scoreType"] = "XP"
    send(ledger, writer, envelope(xp_in_extensions, question_in_extensions))
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [4]


def test_only_session_events_answer_200_and_everything_else_202(ledger: TestClient, writer: Headers) -> None:
    ack = send(ledger, writer, envelope(session_event(10), session_event(11, "TimedOut")), status=200)
    assert ack["status"] == "processed" and [e["status"] for e in ack["events"]] == ["processed", "processed"]
    ack = send(ledger, writer, session_event(12, "LoggedOut"), status=200)
    assert ack["events"] == [
        {"id": event_id(12), "type": "SessionEvent", "action": "LoggedOut", "status": "processed", "userId": None}
    ]
    ack = send(ledger, writer, envelope(session_event(13), view_event(14), grade_event(15)))
    assert ack["status"] == "accepted" and ack["received"] == 3
    assert [(e["type"], e["status"], e["userId"]) for e in ack["events"]] == [
        ("SessionEvent", "processed", None),
        ("ViewEvent", "queued", None),
        ("GradeEvent", "queued", DEV),
    ]
    assert send(ledger, writer, view_event(16))["status"] == "accepted"
    assert entries(ledger, writer)["total"] == 1


def test_every_event_of_an_envelope_is_processed(ledger: TestClient, writer: Headers) -> None:
    send(ledger, writer, envelope(*(grade_event(20 + i, value=i + 1, at=f"2026-01-1{i}T10:00:00Z") for i in range(4))))
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [4, 3, 2, 1]


def test_values_are_signed_and_fractional_as_sent(ledger: TestClient, writer: Headers) -> None:
    send(
        ledger,
        writer,
        envelope(
            grade_event(30, value=-10.5, at="2026-01-15T10:00:00Z"),
            grade_event(31, value=10**30, at="2026-01-14T10:00:00Z"),
        ),
    )
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [-10.5, 10**30]


def test_event_time_with_an_offset_is_dated_in_utc(ledger: TestClient, writer: Headers) -> None:
    send(ledger, writer, grade_event(32, at="2026-01-15T15:30:00.250+01:00"))
    assert entries(ledger, writer)["entries"][0]["dateGenerated"] == "2026-01-15T14:30:00.250Z"


def test_an_unknown_course_gives_a_null_course_name(ledger: TestClient, writer: Headers) -> None:
    send(ledger, writer, grade_event(33, course={"id": "https://api.alpha-1edtech.ai/rostering/1.0/courses/nope"}))
    assert entries(ledger, writer)["entries"][0]["courseName"] is None


# idempotency -------------------------------------------------------------------------------------------------------
def test_an_event_id_sent_again_is_a_duplicate_and_creates_no_second_entry(ledger: TestClient, writer: Headers) -> None:
    first = send(ledger, writer, grade_event(40, value=9))
    again = send(ledger, writer, envelope(grade_event(40, value=99)))
    assert first["events"][0]["status"] == "queued"
    assert again["events"] == [{**first["events"][0], "status": "duplicate"}]
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [9]


def test_the_same_id_twice_in_one_envelope(ledger: TestClient, writer: Headers) -> None:
    ack = send(ledger, writer, envelope(grade_event(41, value=1), grade_event(41, value=2)))
    assert [e["status"] for e in ack["events"]] == ["queued", "duplicate"]
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [1]


def test_a_duplicate_session_event_still_answers_200(ledger: TestClient, writer: Headers) -> None:
    send(ledger, writer, session_event(42), status=200)
    ack = send(ledger, writer, session_event(42), status=200)
    assert ack["status"] == "processed" and ack["events"][0]["status"] == "duplicate"


def test_event_ids_are_idempotency_keys_per_application(ledger: TestClient, writer: Headers) -> None:
    send(ledger, writer, grade_event(43, value=3))
    ack = send(ledger, token_of(ledger, "Math Sprint"), grade_event(43, value=3))
    assert ack["events"][0]["status"] == "queued"
    assert sorted(e["applicationId"] for e in entries(ledger, writer)["entries"]) == [READING_QUEST, MATH_SPRINT]


# dropped events ----------------------------------------------------------------------------------------------------
def test_an_unknown_assignee_is_accepted_and_dropped(ledger: TestClient, writer: Headers) -> None:
    ack = send(ledger, writer, grade_event(50, student=NOBODY))
    assert ack["events"][0] == {
        "id": event_id(50),
        "type": "GradeEvent",
        "action": "Graded",
        "status": "queued",
        "userId": NOBODY,
    }
    assert ledger.get(entries_url(NOBODY), headers=writer).status_code == 404
    again = send(ledger, writer, grade_event(50, student=DEV))
    assert again["events"][0]["status"] == "duplicate"  # the id was received, even though nothing came of it
    assert entries(ledger, writer)["total"] == 0


@pytest.mark.parametrize(
    "assignee",
    [
        "urn:email:ava@example.org",
        "https://api.alpha-1edtech.ai/people/22222222",
        {"id": "https://example.org/users/", "type": "Person"},
    ],
)
def test_an_assignee_without_a_sourced_id_is_dropped(ledger: TestClient, writer: Headers, assignee: Any) -> None:
    event = grade_event(51)
    event["object"]["assignee"] = assignee
    assert send(ledger, writer, event)["events"][0]["userId"] is None
    assert entries(ledger, writer)["total"] == 0


def test_student_ids_compare_case_insensitively(ledger: TestClient, writer: Headers) -> None:
    ack = send(ledger, writer, grade_event(52, student=CHLOE.upper()))
    assert ack["events"][0]["userId"] == CHLOE
    at = "2026-01-15T14:30:00Z"
    assert entries(ledger, writer, user=CHLOE.upper(), startDate=at, endDate=at)["total"] == 1
    ack = send(ledger, writer, grade_event(53, student=NOBODY.upper()))
    assert ack["events"][0]["userId"] == NOBODY.upper()  # not a student: as sent, and dropped


# bad events --------------------------------------------------------------------------------------------------------
def _without_score(event: dict[str, Any]) -> dict[str, Any]:
    del event["generated"]["scoreGiven"]
    return event


BAD_EVENTS = {
    "missing-score": (lambda e: _without_score(e), "/data/0/generated/scoreGiven", "invalid_type"),
    "id-not-urn": (lambda e: {**e, "id": "6f1c2b9e-3d4a-5b6c-8d7e-9f0a1b2c3d4e"}, "/data/0/id", "invalid_string"),
    "extra-extension": (
        lambda e: {**e, "extensions": {"subject": "Math", "lesson": "x"}},
        "/data/0/extensions",
        "unrecognized_keys",
    ),
    "bad-event-time": (lambda e: {**e, "eventTime": "yesterday"}, "/data/0/eventTime", "invalid_string"),
}


@pytest.mark.parametrize("name", BAD_EVENTS)
def test_schema_breaking_events_are_400(ledger: TestClient, writer: Headers, name: str) -> None:
    change, _, _ = BAD_EVENTS[name]
    response = ledger.post(EVENTS, json=envelope(change(grade_event(60))), headers=writer)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.json()["issues"]
    assert entries(ledger, writer)["total"] == 0


@pytest.mark.parametrize("name", BAD_EVENTS)
def test_schema_breaking_events_name_the_field_by_json_pointer(ledger: TestClient, writer: Headers, name: str) -> None:
    change, field, code = BAD_EVENTS[name]
    response = ledger.post(EVENTS, json=envelope(change(grade_event(60))), headers=writer)
    assert ("body", field, code) in issues_of(response)


def test_an_unknown_event_type_is_named_with_the_accepted_ones(ledger: TestClient, writer: Headers) -> None:
    response = ledger.post(EVENTS, json=envelope({**grade_event(64), "type": "NavigationEvent"}), headers=writer)
    issue = next(i for i in response.json()["issues"] if i["field"] == "/data/0/type")
    assert issue["code"] == "invalid_enum_value" and "GradeEvent" in issue["message"]


@pytest.mark.parametrize(
    "body",
    [
        envelope(),
        {"@context": CONTEXT, "id": event_id(61), "type": "NavigationEvent", "action": "NavigatedTo"},
        {**grade_event(61), "action": "Viewed"},
        [grade_event(61)],
        {"sensor": "https://x.example"},
    ],
    ids=["empty-envelope", "unknown-type", "wrong-action", "array", "partial-envelope"],
)
def test_other_malformed_payloads_are_400(ledger: TestClient, writer: Headers, body: Any) -> None:
    response = ledger.post(EVENTS, json=body, headers=writer)
    assert response.status_code == 400 and response.json()["issues"]


@pytest.mark.parametrize(
    "raw, field",
    [
        (
            '{"sensor":"https://a.example","sendTime":"2026-01-15T14:30:05Z","dataVersion":"%s","data":[%s]}',
            "/data/0/generated/scoreGiven",
        ),
        ("%s", "/generated/scoreGiven"),
    ],
    ids=["envelope", "bare"],
)
def test_nan_and_infinity_are_refused(ledger: TestClient, writer: Headers, raw: str, field: str) -> None:
    event = json.dumps(grade_event(62)).replace('"scoreGiven": 10', '"scoreGiven": NaN')
    body = raw % (CONTEXT, event) if raw.startswith('{"sensor"') else raw % event
    response = ledger.post(EVENTS, content=body, headers={**writer, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert ("body", field, "invalid_type") in issues_of(response)
    infinite = json.dumps(grade_event(63)).replace('"maxScore": 100', '"maxScore": Infinity')
    response = ledger.post(EVENTS, content=infinite, headers={**writer, "Content-Type": "application/json"})
    assert response.status_code == 400 and ("body", "/generated/maxScore", "invalid_type") in issues_of(response)
    assert entries(ledger, writer)["total"] == 0


def test_events_must_be_json(ledger: TestClient, writer: Headers) -> None:
    response = ledger.post(EVENTS, content="x", headers={**writer, "Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"
