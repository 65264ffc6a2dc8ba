"""The XP ledger mock's client-credentials token endpoint, the scopes its tokens carry, and the fixture
applications behind them. On a strict mock serving only the ledger, with the clock frozen (tests/xp_ledger_helpers.py).
"""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests import xp_ledger_helpers
from tests.conftest import bearer, login, make_client
from tests.xp_ledger_helpers import (
    AVA,
    EVENTS,
    NOW,
    TOKEN,
    Headers,
    application,
    basic,
    entries,
    entries_url,
    grade_event,
    send,
    token_of,
)

# the helpers' fixtures, bound by name so pytest finds them in this module (the ledger's `mock` over the conftest's)
ledger, mock, writer = xp_ledger_helpers.ledger, xp_ledger_helpers.mock, xp_ledger_helpers.writer


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


# the fixture applications ----------------------------------------------------------------------------------------
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
