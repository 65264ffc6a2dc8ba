"""The XP ledger mock: client-credentials tokens, Caliper ingestion into the ledger, and reading the ledger back.

Every rule of mock_server/domains/xp_ledger.py is checked through HTTP on a strict mock serving only the ledger,
with the clock frozen; the processing delay is moved with `set_processing_delay` and the clock with `mock.clock`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.xp_ledger import (
    format_micros,
    micros,
    processing_delay,
    set_processing_delay,
)
from tests.conftest import bearer, login, make_client

NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
TOKEN = "/auth/1.0/token"
EVENTS = "/events/1.0/"
AVA = "22222222-2222-2222-2222-222222222222"  # seeded history from Reading Quest and Math Sprint
DEV = "55555555-5555-5555-5555-555555555555"  # a known student without history
CHLOE = "c4f0e1a2-7b3d-4e5f-8a9b-0c1d2e3f4a5b"  # a student whose id has letters
NOBODY = "9999aaaa-9999-4999-8999-999999999999"
READING_QUEST = "0f6a2c1e-8b3d-4e5f-9a7b-1c2d3e4f5a6b"
MATH_SPRINT = "8c2e4a6b-1d3f-4e5a-9b7c-2d4f6a8b0c1e"
CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
Headers = dict[str, str]


def entries_url(user: str) -> str:
    return f"/xp/1.0/users/{user}/entries"


def event_id(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


def grade_event(
    n: int,
    *,
    student: str = DEV,
    value: float = 10,
    at: str = "2026-01-15T14:30:00.000Z",
    score_type: str | None = "XP",
    sdk_placement: bool = False,
    **extensions: Any,
) -> dict[str, Any]:
    """An XP GradeEvent as the live client sends it (or with `generated.scoreType`, the SDK's placement)."""
    score: dict[str, Any] = {
        "id": f"https://reading.example.org/scores/{n}",
        "type": "Score",
        "scoreGiven": value,
        "maxScore": 100,
    }
    if score_type is not None:
        if sdk_placement:
            score["scoreType"] = score_type
        else:
            score["extensions"] = {"scoreType": score_type}
    event: dict[str, Any] = {
        "@context": CONTEXT,
        "id": event_id(n),
        "type": "GradeEvent",
        "profile": "GradingProfile",
        "action": "Graded",
        "eventTime": at,
        "actor": {"id": f"urn:uuid:{READING_QUEST}", "type": "SoftwareApplication"},
        "object": {
            "id": f"https://reading.example.org/attempts/{n}",
            "type": "Attempt",
            "count": 1,
            "assignee": {"id": f"https://api.alpha-1edtech.ai/rostering/1.0/users/{student}", "type": "Person"},
        },
        "generated": score,
    }
    if extensions:
        event["extensions"] = extensions
    return event


def session_event(n: int, action: str = "LoggedIn") -> dict[str, Any]:
    actor = (
        {"id": f"urn:uuid:{DEV}", "type": "Person"}
        if action != "TimedOut"
        else {"id": f"urn:uuid:{READING_QUEST}", "type": "SoftwareApplication"}
    )
    return {
        "@context": CONTEXT,
        "id": event_id(n),
        "type": "SessionEvent",
        "action": action,
        "eventTime": "2026-01-15T14:00:00.000Z",
        "actor": actor,
        "object": {"id": f"urn:uuid:{READING_QUEST}", "type": "SoftwareApplication"},
    }


def view_event(n: int) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": event_id(n),
        "type": "ViewEvent",
        "action": "Viewed",
        "eventTime": "2026-01-15T14:05:00.000Z",
        "actor": {"id": f"urn:uuid:{DEV}", "type": "Person"},
        "object": {"id": "https://reading.example.org/books/1", "type": "DigitalResource"},
    }


def envelope(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "sensor": "https://reading.example.org",
        "sendTime": "2026-01-15T14:30:05.000Z",
        "dataVersion": CONTEXT,
        "data": list(events),
    }


# fixtures ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def ledger() -> Iterator[TestClient]:
    with make_client(api="xp-ledger", frozen_at=NOW) as c:
        yield c


@pytest.fixture
def mock(ledger: TestClient) -> Mock:
    return ledger.app.state.mock  # type: ignore[attr-defined]


def application(mock: Mock, name: str) -> dict[str, Any]:
    """A fixture application's credentials, as the banner and GET /__mock__/credentials show them."""
    return next(a for a in mock.credentials.applications if a["name"] == name)


def basic(app: dict[str, Any]) -> Headers:
    raw = f"{app['client_id']}:{app['client_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def token_of(client: TestClient, name: str, scope: str | None = None) -> Headers:
    mock: Mock = client.app.state.mock  # type: ignore[attr-defined]
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = client.post(TOKEN, data=form, headers=basic(application(mock, name)))
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


@pytest.fixture
def writer(ledger: TestClient) -> Headers:
    """Reading Quest, with both scopes."""
    return token_of(ledger, "Reading Quest")


def send(client: TestClient, headers: Headers, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
    response = client.post(EVENTS, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def entries(client: TestClient, headers: Headers, user: str = DEV, **query: Any) -> dict[str, Any]:
    response = client.get(entries_url(user), params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def issues_of(response: Any) -> set[tuple[str, str, str]]:
    return {(i["in"], i["field"], i["code"]) for i in response.json()["issues"]}


# token endpoint ----------------------------------------------------------------------------------------------------
def test_basic_credentials_get_a_bearer_token_with_every_scope_of_the_application(
    ledger: TestClient, mock: Mock
) -> None:
    response = ledger.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic(application(mock, "Reading Quest"))
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "events.readonly events.write"
    assert body["access_token"].count(".") == 2


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_credentials_in_the_body_as_form_or_json(ledger: TestClient, mock: Mock, as_json: bool) -> None:
    app = application(mock, "XP Dashboard")
    body = {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"]}
    response = ledger.post(TOKEN, json=body) if as_json else ledger.post(TOKEN, data=body)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "events.readonly"


def test_the_spec_example_credentials_are_a_fixture_application(ledger: TestClient, mock: Mock) -> None:
    example = mock.specs["xp-ledger"].by_id["issueAccessToken"].body.media["application/json"].examples
    response = ledger.post(TOKEN, json=example["credentials_in_json"])
    assert response.status_code == 200 and response.json()["scope"] == "events.write"


def test_a_requested_scope_subset_is_all_the_token_carries(ledger: TestClient, mock: Mock) -> None:
    reader = token_of(ledger, "Reading Quest", scope="events.readonly")
    assert ledger.get(entries_url(AVA), headers=reader).status_code == 200
    response = ledger.post(EVENTS, json=grade_event(1), headers=reader)
    assert response.status_code == 403
    assert response.json()["required_scope"] == "events.write"
    assert response.json()["granted_scopes"] == ["events.readonly"]


@pytest.mark.parametrize("scope", ["events.write", "events.readonly events.write", "roster.readonly"])
def test_a_scope_the_application_does_not_hold_is_invalid_scope(ledger: TestClient, mock: Mock, scope: str) -> None:
    response = ledger.post(
        TOKEN,
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(application(mock, "XP Dashboard")),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    refused = [s for s in scope.split() if s != "events.readonly"]
    assert response.json()["message"] == f"Scope not granted to this client: {' '.join(refused)}"


@pytest.mark.parametrize(
    "change", [{"client_secret": "wrong"}, {"client_id": "no-such-client"}], ids=["wrong-secret", "unknown-client"]
)
def test_wrong_credentials_are_invalid_client(ledger: TestClient, mock: Mock, change: dict[str, str]) -> None:
    app = application(mock, "Math Sprint")
    body = {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"]}
    for response in (
        ledger.post(TOKEN, data={**body, **change}),
        ledger.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic({**app, **change})),
    ):
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_client", "message": "Invalid client credentials"}
        assert response.headers["www-authenticate"].startswith("Basic")


def test_no_credentials_at_all_is_invalid_client(ledger: TestClient) -> None:
    response = ledger.post(TOKEN, data={"grant_type": "client_credentials", "scope": "events.readonly"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_credentials_in_both_header_and_body_are_invalid_request(ledger: TestClient, mock: Mock) -> None:
    app = application(mock, "Math Sprint")
    body = {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"]}
    response = ledger.post(TOKEN, data=body, headers=basic(app))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_malformed_basic_header_is_invalid_client(ledger: TestClient) -> None:
    response = ledger.post(TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"grant_type": "password"}, "/grant_type"),
        ({"scope": "events.readonly"}, "/grant_type"),
        ({"grant_type": "client_credentials", "client_id": "7nq4k2m9x5c8v1b3z6w0p4r2t8"}, ""),
        ({"grant_type": "client_credentials", "scope": "events.readonly  events.write"}, "/scope"),
    ],
    ids=["grant-type", "no-grant-type", "id-without-secret", "double-space-scope"],
)
def test_malformed_token_requests_are_400_with_issues(ledger: TestClient, body: dict[str, str], field: str) -> None:
    response = ledger.post(TOKEN, data=body)
    assert response.status_code == 400, response.text
    assert field in {i["field"] for i in response.json()["issues"]}


def test_a_token_expires_after_an_hour_of_mock_time(ledger: TestClient, mock: Mock, writer: Headers) -> None:
    assert ledger.get(entries_url(AVA), headers=writer).status_code == 200
    mock.clock.advance(3599)
    assert ledger.get(entries_url(AVA), headers=writer).status_code == 200
    mock.clock.advance(1)
    response = ledger.get(entries_url(AVA), headers=writer)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


# scopes ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Token abc"}],
    ids=["none", "garbage", "other-scheme"],
)
def test_both_operations_need_a_valid_bearer_token(ledger: TestClient, headers: Headers) -> None:
    for response in (
        ledger.get(entries_url(AVA), headers=headers),
        ledger.post(EVENTS, json=grade_event(1), headers=headers),
    ):
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_reading_needs_events_readonly(ledger: TestClient) -> None:
    response = ledger.get(entries_url(AVA), headers=token_of(ledger, "Event Relay"))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope" and response.json()["required_scope"] == "events.readonly"


def test_sending_needs_events_write(ledger: TestClient) -> None:
    response = ledger.post(EVENTS, json=grade_event(1), headers=token_of(ledger, "XP Dashboard"))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope" and response.json()["required_scope"] == "events.write"
    assert response.json()["granted_scopes"] == ["events.readonly"]


def test_a_write_only_application_sends_and_a_read_only_one_reads(ledger: TestClient) -> None:
    send(ledger, token_of(ledger, "Event Relay"), grade_event(1, value=7))
    page = entries(ledger, token_of(ledger, "XP Dashboard"))
    assert [(e["value"], e["applicationId"]) for e in page["entries"]] == [(7, "6e8a0c2d-4f6b-4a8c-9d1e-5f7b9d1a3c4e")]


def test_with_both_apis_served_user_tokens_are_not_client_tokens() -> None:
    with make_client(api="xentree,xp-ledger", frozen_at=NOW) as both:
        user = bearer(login(both))
        assert both.get(entries_url(AVA), headers=user).status_code == 401
        client = token_of(both, "Reading Quest")
        assert both.get(entries_url(AVA), headers=client).status_code == 200
        assert both.get("/api/auth/me", headers=client).status_code == 401


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


# processing delay --------------------------------------------------------------------------------------------------
def test_the_processing_delay_defaults_to_the_fixture_value(ledger: TestClient, mock: Mock) -> None:
    assert processing_delay(mock.store) == 0
    rows = ledger.get("/__mock__/state/xp_ledger_settings").json()
    assert json.dumps(rows).count("processing_delay_seconds") == 1


def test_entries_appear_after_the_processing_delay_on_the_mock_clock(
    ledger: TestClient, mock: Mock, writer: Headers
) -> None:
    set_processing_delay(mock.store, 30)
    send(ledger, writer, grade_event(70, value=70))
    assert entries(ledger, writer)["total"] == 0
    mock.clock.advance(29.9)
    assert entries(ledger, writer)["total"] == 0
    mock.clock.advance(0.1)
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [70]
    mock.clock.set(NOW)  # moving the clock back hides it again
    assert entries(ledger, writer)["total"] == 0


def test_a_delay_change_applies_to_events_received_afterwards(ledger: TestClient, mock: Mock, writer: Headers) -> None:
    set_processing_delay(mock.store, 600)
    send(ledger, writer, grade_event(71, value=1))
    set_processing_delay(mock.store, 0)
    send(ledger, writer, grade_event(72, value=2))
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [2]
    assert send(ledger, writer, grade_event(71))["events"][0]["status"] == "duplicate"  # received, not yet visible


def test_a_reset_restores_the_fixture_delay(ledger: TestClient, mock: Mock) -> None:
    set_processing_delay(mock.store, 5)
    assert ledger.post("/__mock__/reset").status_code == 200
    assert processing_delay(mock.store) == 0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_the_delay_must_be_a_finite_non_negative_number(mock: Mock, bad: float) -> None:
    with pytest.raises(ValueError):
        set_processing_delay(mock.store, bad)


# listing -----------------------------------------------------------------------------------------------------------
def test_seeded_history_covers_both_applications_and_ends_at_the_clock(ledger: TestClient, writer: Headers) -> None:
    page = entries(ledger, writer, user=AVA, limit=100)
    assert page["total"] > 10
    assert {e["applicationId"] for e in page["entries"]} == {READING_QUEST, MATH_SPRINT}
    assert {(e["subject"], e["courseName"]) for e in page["entries"]} == {
        ("Reading", "Reading Grade 5"),
        ("Math", "Math Grade 5"),
    }
    dates = [e["dateGenerated"] for e in page["entries"]]
    assert max(dates) <= "2026-01-20T12:00:00.000Z" and min(dates) >= "2025-12-31T00:00:00.000Z"


def test_a_known_student_without_entries_gets_an_empty_page(ledger: TestClient, writer: Headers) -> None:
    assert entries(ledger, writer) == {"entries": [], "offset": 0, "limit": 50, "total": 0}


def test_an_unknown_student_is_404(ledger: TestClient, writer: Headers) -> None:
    response = ledger.get(entries_url(NOBODY), headers=writer)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "User not found"}


def test_a_user_id_that_is_not_a_uuid_is_400(ledger: TestClient, writer: Headers) -> None:
    response = ledger.get(entries_url("ava"), headers=writer)
    assert response.status_code == 400 and ("path", "userId", "invalid_string") in issues_of(response)


def test_entries_are_newest_first_with_ties_by_source_event_id(ledger: TestClient, writer: Headers) -> None:
    same = "2026-01-15T10:00:00Z"
    send(
        ledger,
        writer,
        envelope(
            grade_event(93, at=same),
            grade_event(91, at="2026-01-14T10:00:00Z"),
            grade_event(92, at=same),
            grade_event(94, at="2026-01-16T10:00:00Z"),
        ),
    )
    page = entries(ledger, writer)
    assert [e["sourceEventId"] for e in page["entries"]] == [event_id(94), event_id(92), event_id(93), event_id(91)]


def test_application_filter(ledger: TestClient, writer: Headers) -> None:
    every = entries(ledger, writer, user=AVA, limit=100)
    mine = entries(ledger, writer, user=AVA, limit=100, applicationId=READING_QUEST)
    assert 0 < mine["total"] < every["total"]
    assert {e["applicationId"] for e in mine["entries"]} == {READING_QUEST}
    assert mine["entries"] == [e for e in every["entries"] if e["applicationId"] == READING_QUEST]
    assert entries(ledger, writer, user=AVA, applicationId="no-such-app")["total"] == 0


@pytest.fixture
def dated(ledger: TestClient, writer: Headers) -> list[str]:
    """Five entries for Dev on 10, 11, ... 14 January at noon; returns their times."""
    times = [f"2026-01-{day}T12:00:00.000Z" for day in range(10, 15)]
    send(ledger, writer, envelope(*(grade_event(100 + i, at=t) for i, t in enumerate(times))))
    return times


def _dates(page: dict[str, Any]) -> list[str]:
    return sorted(e["dateGenerated"] for e in page["entries"])


def test_date_bounds_are_inclusive(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert _dates(entries(ledger, writer, startDate=dated[1], endDate=dated[3])) == dated[1:4]
    assert _dates(entries(ledger, writer, startDate=dated[3])) == dated[3:]
    assert _dates(entries(ledger, writer, endDate=dated[0])) == dated[:1]
    assert _dates(entries(ledger, writer, startDate="2026-01-11T12:00:00.001Z")) == dated[2:]
    assert _dates(entries(ledger, writer, endDate="2026-01-12T13:00:00+01:00")) == dated[:3]  # same instant


def test_after_and_before_are_aliases(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert entries(ledger, writer, after=dated[1], before=dated[3]) == entries(
        ledger, writer, startDate=dated[1], endDate=dated[3]
    )


def test_the_documented_names_win_over_the_aliases(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert _dates(entries(ledger, writer, startDate=dated[3], after=dated[0])) == dated[3:]
    assert _dates(entries(ledger, writer, endDate=dated[1], before=dated[4])) == dated[:2]


def test_a_start_after_the_end_is_an_empty_page(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert entries(ledger, writer, startDate=dated[3], endDate=dated[1]) == {
        "entries": [],
        "offset": 0,
        "limit": 50,
        "total": 0,
    }


@pytest.mark.parametrize("name", ["startDate", "after", "endDate", "before"])
@pytest.mark.parametrize(
    "value", ["2026-13-45T00:00:00Z", "yesterday", "2026-01-15", "2026-01-15T10:00:00", "2026-01-15T25:00:00Z", ""]
)
def test_malformed_dates_are_400(ledger: TestClient, writer: Headers, name: str, value: str) -> None:
    response = ledger.get(entries_url(DEV), params={name: value}, headers=writer)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert ("query", name, "invalid_string") in issues_of(response)


def test_time_helpers_handle_every_rfc3339_instant() -> None:
    assert micros("2026-01-15T14:30:00Z") == micros("2026-01-15t15:30:00+01:00") == 1768487400 * 10**6
    assert micros("1970-01-01T00:00:00.0000019Z") == 1  # sub-microsecond digits are cut
    assert micros("0000-01-01T00:00:00Z") is not None and micros("2016-12-31T23:59:60Z") is not None
    assert micros("2026-01-15") is None and micros("soon") is None
    assert format_micros(micros("2026-01-15T14:30:00.5Z") or 0, "x") == "2026-01-15T14:30:00.500Z"
    assert format_micros(micros("2026-01-15T14:30:00.000123Z") or 0, "x") == "2026-01-15T14:30:00.000123Z"
    assert format_micros(micros("0000-06-01T00:00:00Z") or 0, "as-sent") == "as-sent"


def test_instants_datetime_cannot_hold_are_stored_as_sent(ledger: TestClient, writer: Headers) -> None:
    late, early = "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"  # years 10000 and 0 in UTC
    send(ledger, writer, envelope(grade_event(110, at=early), grade_event(111, at=late)))
    assert [e["dateGenerated"] for e in entries(ledger, writer)["entries"]] == [late, early]
    assert [e["dateGenerated"] for e in entries(ledger, writer, endDate="0001-01-01T00:00:00Z")["entries"]] == [early]


# paging ------------------------------------------------------------------------------------------------------------
def test_pages_split_the_list_and_total_counts_every_match(ledger: TestClient, writer: Headers) -> None:
    full = entries(ledger, writer, user=AVA, limit=100)
    assert full["total"] == len(full["entries"]) and full["limit"] == 100
    pages = [entries(ledger, writer, user=AVA, limit=7, offset=o) for o in range(0, full["total"], 7)]
    assert all(p["total"] == full["total"] and p["limit"] == 7 for p in pages)
    assert [e for p in pages for e in p["entries"]] == full["entries"]
    beyond = entries(ledger, writer, user=AVA, offset=full["total"])
    assert beyond["entries"] == [] and beyond["total"] == full["total"] and beyond["offset"] == full["total"]


def test_default_page(ledger: TestClient, writer: Headers) -> None:
    page = entries(ledger, writer, user=AVA)
    assert (page["offset"], page["limit"]) == (0, 50)
    assert len(page["entries"]) == min(50, page["total"])


@pytest.mark.parametrize(
    "query, code",
    [
        ({"limit": 101}, "too_big"),
        ({"limit": 0}, "too_small"),
        ({"offset": -1}, "too_small"),
        ({"limit": "ten"}, "invalid_type"),
    ],
)
def test_paging_out_of_range_is_400(ledger: TestClient, writer: Headers, query: dict[str, Any], code: str) -> None:
    response = ledger.get(entries_url(AVA), params=query, headers=writer)
    assert response.status_code == 400
    assert ("query", next(iter(query)), code) in issues_of(response)


# determinism and the demo world ------------------------------------------------------------------------------------
def _ava_page(seed: int) -> dict[str, Any]:
    with make_client(api="xp-ledger", frozen_at=NOW, seed=seed) as c:
        return entries(c, token_of(c, "XP Dashboard"), user=AVA, limit=100)


def test_history_is_deterministic_for_the_seed() -> None:
    assert _ava_page(0) == _ava_page(0)
    assert _ava_page(0) != _ava_page(1)


def test_the_credentials_list_shows_the_applications(ledger: TestClient) -> None:
    apps = {a["name"]: a for a in ledger.get("/__mock__/credentials").json()["applications"]}
    assert set(apps) == {"Reading Quest", "Math Sprint", "XP Dashboard", "Event Relay"}
    assert apps["XP Dashboard"]["scopes"] == ["events.readonly"]


def test_secrets_are_stored_hashed(mock: Mock) -> None:
    stored = json.dumps(mock.store.dump("xp_ledger_applications"))
    assert all(a["client_secret"] not in stored for a in mock.credentials.applications)


def test_an_unsupported_grant_type_gets_the_rfc_6749_code(ledger: TestClient) -> None:
    response = ledger.post(
        "/auth/1.0/token",
        data={"grant_type": "password"},
        auth=("7nq4k2m9x5c8v1b3z6w0p4r2t8", "example-client-secret-not-real"),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert response.json()["issues"][0]["field"] == "/grant_type"


def test_the_delay_is_a_run_time_setting_of_the_control_api(ledger: TestClient, writer: Headers) -> None:
    name = "xp-ledger.processing-delay-seconds"
    assert ledger.get("/__mock__/settings").json()[name]["value"] == 0
    assert ledger.put(f"/__mock__/settings/{name}", json={"value": 60}).json() == {"name": name, "value": 60}
    send(ledger, writer, grade_event(73, value=73))
    assert entries(ledger, writer)["total"] == 0
    assert ledger.post("/__mock__/clock/advance", json={"minutes": 1}).status_code == 200
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [73]
    for body in ({"value": -1}, {"value": "soon"}, {"value": True}, {}):
        refused = ledger.put(f"/__mock__/settings/{name}", json=body)
        assert refused.status_code == 400 and "body.value" in refused.json()["message"]
    assert ledger.put("/__mock__/settings/nope", json={"value": 1}).status_code == 404
    assert ledger.get("/__mock__/settings").json()[name]["value"] == 60
