"""Helpers shared by the XP ledger tests (tests/test_xp_ledger_*.py): ids of the fixture world, Caliper event
builders, the ledger-only strict mock with its clock frozen, and client-credentials tokens.

The fixtures (`ledger`, `mock` over it, `writer`) are bound into each test module by name, so pytest finds them
there and the ledger's `mock` overrides the conftest one for those modules only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, make_client, mock_of

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
    return mock_of(ledger)


def application(mock: Mock, name: str) -> dict[str, Any]:
    """A fixture application's credentials, as the banner and GET /__mock__/credentials show them."""
    return next(a for a in mock.credentials.applications if a["name"] == name)


def basic(app: dict[str, Any]) -> Headers:
    raw = f"{app['client_id']}:{app['client_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def token_of(client: TestClient, name: str, scope: str | None = None) -> Headers:
    mock: Mock = mock_of(client)
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
