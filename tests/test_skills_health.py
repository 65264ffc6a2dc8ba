"""Skills Connector (integrations, Google Calendar OAuth start) and Health (liveness, detailed report)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

import mock_server
from mock_server.app import Mock
from tests.conftest import bearer, login, make_client, mock_of
from tests.integration_helpers import add_key, first_org

FROZEN = datetime(2026, 4, 16, 10, 0, tzinfo=UTC)
START = "/api/integrations/google-calendar/oauth/start"


@pytest.fixture
def frozen() -> Iterator[TestClient]:
    with make_client(frozen_at=FROZEN) as c:
        yield c


def _query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "accounts.google.com", "/o/oauth2/v2/auth")
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


# skills connector ----------------------------------------------------------------------------------------------
def test_demo_user_starts_with_a_google_calendar_integration(frozen: TestClient) -> None:
    listed = frozen.get("/api/integrations", headers=bearer(login(frozen)))
    assert listed.status_code == 200
    (calendar,) = listed.json()
    assert calendar["provider"] == "google_calendar" and calendar["status"] == "active"
    assert calendar["account_email"] == "demo.learner@gmail.com"
    assert "https://www.googleapis.com/auth/calendar.readonly" in calendar["scopes"]
    assert calendar["connected_at"] == "2026-04-02T10:00:00Z"  # 14 days before the mock's start


def test_integrations_are_per_user(client: TestClient) -> None:
    assert client.get("/api/integrations", headers=bearer(login(client, "alex"))).json() == []


def test_oauth_start_returns_a_consent_url_with_a_stored_state(client: TestClient, mock: Mock) -> None:
    alex = bearer(login(client, "alex"))
    response = client.post(START, headers=alex)
    assert response.status_code == 200, response.text
    started = response.json()
    query = _query(started["authorization_url"])
    assert query["state"] == started["state"] and 16 <= len(started["state"]) <= 128
    assert query["client_id"] and query["response_type"] == "code"
    assert query["redirect_uri"] == "https://my.xentree.com/settings/integrations/callback"
    assert "https://www.googleapis.com/auth/calendar.readonly" in query["scope"].split(" ")
    row = mock.store.one("SELECT * FROM integrations WHERE oauth_state = ?", (started["state"],))
    assert row is not None and row["status"] == "pending"
    (pending,) = client.get("/api/integrations", headers=alex).json()
    assert pending == {
        "id": row["id"],
        "provider": "google_calendar",
        "status": "pending",
        "connected_at": row["connected_at"],
        "scopes": [],
        "account_email": None,
    }


def test_starting_again_replaces_the_pending_flow(client: TestClient, mock: Mock) -> None:
    alex = bearer(login(client, "alex"))
    first = client.post(START, headers=alex).json()
    second = client.post(START, headers=alex, json={"redirect_uri": "http://localhost:3000/callback"}).json()
    assert second["state"] != first["state"]
    assert _query(second["authorization_url"])["redirect_uri"] == "http://localhost:3000/callback"
    assert len(client.get("/api/integrations", headers=alex).json()) == 1
    assert mock.store.one("SELECT 1 FROM integrations WHERE oauth_state = ?", (first["state"],)) is None


def test_revoked_integrations_are_not_listed(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    mock.store.run("UPDATE integrations SET status = 'revoked'")
    assert client.get("/api/integrations", headers=demo).json() == []


def test_reconnecting_keeps_the_active_integration_listed(client: TestClient, demo: dict[str, str]) -> None:
    client.post(START, headers=demo)
    assert [i["status"] for i in client.get("/api/integrations", headers=demo).json()] == ["active", "pending"]


@pytest.mark.parametrize(
    "body", [{"redirect_uri": "ftp://example.com/cb"}, {"redirect_uri": "not a url"}, {"redirect_uri": 42}, [1]]
)
def test_oauth_start_rejects_bad_input(client: TestClient, demo: dict[str, str], body: Any) -> None:
    response = client.post(START, headers=demo, json=body)
    assert response.status_code == 400, response.text


def test_skills_connector_scopes_and_auth(client: TestClient, mock: Mock) -> None:
    org = first_org(mock, "demo")
    writer = add_key(mock, "demo", org, ["integrations:write", "integrations:read"])
    reader = add_key(mock, "demo", org, ["integrations:read"])
    assert client.get("/api/integrations", headers=reader).status_code == 200
    assert client.post(START, headers=writer).status_code == 200
    refused = client.post(START, headers=reader)
    assert refused.status_code == 403 and refused.json()["detail"]["required_scope"] == "integrations:write"
    nothing = add_key(mock, "demo", org, ["xel:read"])
    assert client.get("/api/integrations", headers=nothing).status_code == 403
    assert client.get("/api/integrations").status_code == 401
    assert client.post(START).status_code == 401


# health --------------------------------------------------------------------------------------------------------
def test_health_is_public_and_reports_version_and_mock_time(frozen: TestClient) -> None:
    response = frozen.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": mock_server.__version__, "time": "2026-04-16T10:00:00Z"}
    assert frozen.post("/api/health").status_code == 405


def test_detailed_health_counts_what_the_store_holds(frozen: TestClient) -> None:
    mock: Mock = mock_of(frozen)
    report = frozen.get("/api/health/detailed").json()
    assert report["status"] == "ok" and report["checks"] == {"store": "ok"}
    assert report["version"] == mock_server.__version__ and report["time"] == "2026-04-16T10:00:00Z"
    counts = report["counts"]
    for table in ("users", "organizations", "api_keys", "memberships", "integrations"):
        assert counts[table] == mock.store.counts()[table], table
    assert counts["conversations"] >= 0  # always reported, even before any conversation table exists
    user = {"username": "newbie", "email": "newbie@example.com", "password": "newbie-password"}
    assert frozen.post("/api/auth/register", json=user).status_code == 201
    assert frozen.get("/api/health/detailed").json()["counts"]["users"] == counts["users"] + 1


def test_uptime_follows_the_mock_clock_and_survives_a_reset(frozen: TestClient) -> None:
    mock: Mock = mock_of(frozen)
    assert frozen.get("/api/health/detailed").json()["uptime_seconds"] == 0
    mock.clock.advance(90.7)
    assert frozen.get("/api/health/detailed").json()["uptime_seconds"] == 90
    mock.reset()  # the clock goes back to where the mock started; the start instant itself survives
    assert frozen.get("/api/health/detailed").json()["uptime_seconds"] == 0
    mock.clock.advance(30)
    assert frozen.get("/api/health/detailed").json()["uptime_seconds"] == 30


def test_a_failing_store_degrades_the_report(frozen: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    mock: Mock = mock_of(frozen)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(mock.store, "one", broken)
    assert frozen.get("/api/health").json()["status"] == "degraded"
    report = frozen.get("/api/health/detailed").json()
    assert report["status"] == "degraded" and report["checks"]["store"] == "down"


def test_health_reports_are_reproducible() -> None:
    def run() -> list[Any]:
        with make_client(frozen_at=FROZEN, seed=5) as c:
            return [c.get("/api/health").json(), c.get("/api/health/detailed").json()]

    assert run() == run()
