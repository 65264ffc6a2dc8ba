"""Serving more than one API: each keeps its own routes, security schemes, error shape and docs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.errors import ApiError, ErrorShape
from tests.conftest import bearer, login, make_client, mock_of

ENTRIES = "/xp/1.0/users/5f0c6b0e-8d5f-4a47-9d6c-2f3b1a7e9c11/entries"


@pytest.fixture
def both() -> Iterator[TestClient]:
    with make_client(api="xentree,xp-ledger") as c:
        yield c


def client_token(client: TestClient, *scopes: str) -> dict[str, str]:
    mock: Mock = mock_of(client)
    return bearer(mock.tokens.issue_client("test-client", "Test client", list(scopes)))


def test_error_shape_is_read_from_each_spec() -> None:
    with make_client(api="xentree,xp-ledger") as client:
        mock: Mock = mock_of(client)
        assert mock.specs["xentree"].error_shape == ErrorShape("detail", "errors", False)
        where = frozenset({"body", "query", "path", "header"})  # the `in` enum of the ledger's issue objects
        assert mock.specs["xp-ledger"].error_shape == ErrorShape(None, "issues", True, "invalid_request", where)
    error = ApiError(400, "invalid_request", "bad", issues=[])
    assert ErrorShape(None, "issues", True).render(error) == {"error": "invalid_request", "message": "bad"}


def test_both_apis_answer_in_their_own_error_shape(both: TestClient) -> None:
    xentree = both.get("/api/auth/me")
    assert xentree.status_code == 401 and xentree.json()["detail"]["error"] == "not_authenticated"
    ledger = both.get(ENTRIES)
    assert ledger.status_code == 401
    assert ledger.json() == {"error": "invalid_token", "message": "Authorization Bearer token is missing"}
    assert ledger.headers["www-authenticate"].startswith("Bearer")


def test_ledger_validation_names_each_field_as_an_issue(both: TestClient) -> None:
    response = both.get(
        ENTRIES, params={"limit": 101, "startDate": "yesterday"}, headers=client_token(both, "events.readonly")
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    issues = {(i["in"], i["field"], i["code"]) for i in response.json()["issues"]}
    assert ("query", "limit", "too_big") in issues
    assert ("query", "startDate", "invalid_string") in issues


def test_client_tokens_need_the_operation_scope(both: TestClient) -> None:
    response = both.get(ENTRIES, headers=client_token(both, "events.write"))
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "message": "This operation requires the scope events.readonly",
        "required_scope": "events.readonly",
        "granted_scopes": ["events.write"],
    }


def test_expired_client_token_is_refused(both: TestClient) -> None:
    headers = client_token(both, "events.readonly")
    mock: Mock = mock_of(both)
    mock.clock.freeze(mock.clock.now() + timedelta(seconds=3601))
    response = both.get(ENTRIES, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert "expired" in response.json()["message"]


def test_tokens_of_one_api_are_refused_by_the_other(both: TestClient) -> None:
    user = bearer(login(both))
    assert both.get(ENTRIES, headers=user).status_code == 401
    assert both.get("/api/auth/me", headers=client_token(both, "events.readonly")).status_code == 401
    assert both.get("/api/auth/me", headers=user).status_code == 200


def test_malformed_basic_credentials_get_the_basic_challenge(both: TestClient) -> None:
    response = both.post(
        "/auth/1.0/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic %%%"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_each_api_has_its_spec_files_and_docs(both: TestClient) -> None:
    assert "title: Xentree" in both.get("/openapi.yaml").text  # the first API is the primary one
    assert both.get("/xentree/openapi.json").json()["info"]["title"].startswith("Xentree")
    ledger = both.get("/xp-ledger/openapi.json").json()
    assert "/xp/1.0/users/{userId}/entries" in ledger["paths"]
    assert '"/xp-ledger/openapi.json"' in both.get("/xp-ledger/docs").text


def test_the_ledger_alone_is_the_primary_api() -> None:
    with make_client(api="xp-ledger") as client:
        assert "/events/1.0/" in client.get("/openapi.json").json()["paths"]
        assert client.get("/api/auth/me").json() == {"error": "not_found", "message": "No operation at /api/auth/me"}
        assert client.get("/xp-ledger/openapi.json").status_code == 404  # prefixed copies only when several are served
