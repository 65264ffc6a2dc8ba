"""Shared by the Live test modules: the frozen instant, the sample transcript, the demo user's API keys as fixtures,
and helpers that drive sessions and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login, user_ids

NOW = datetime(2026, 4, 16, 10, 0, tzinfo=UTC)  # mid-month: demo's seeded usage lies between Apr 1 and now

QUOTA_BODY = {"detail": {"error": "live_quota_exceeded", "message": "Monthly Live session quota exceeded"}}
TRANSCRIPT = {
    "session_started_at": "2026-04-16T08:00:00Z",
    "session_ended_at": "2026-04-16T08:05:00Z",
    "transcripts": [
        {"role": "user", "text": "Hello Xentree", "timestamp": "2026-04-16T08:00:03Z"},
        {"role": "ai", "text": "Hi, how can I help you today?", "timestamp": "2026-04-16T08:00:05Z"},
    ],
}


@pytest.fixture
def keys(mock: Mock) -> dict[str, dict[str, str]]:
    return {k["name"]: {"X-API-Key": k["key"]} for k in mock.credentials.api_keys}


@pytest.fixture
def demo(client: TestClient, keys: dict[str, dict[str, str]]) -> dict[str, str]:
    """The demo user's full-access API key: it survives moving the clock by hours (tokens live one hour)."""
    return keys["demo-full-access"]


def set_clock(client: TestClient, when: str) -> None:
    assert client.post("/__mock__/clock/set", json={"at": when}).status_code == 200


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/__mock__/clock/advance", json={"seconds": seconds}).status_code == 200


def relogin(client: TestClient, h: dict[str, str], username: str = "alex") -> None:
    h.update(bearer(login(client, username)))


def quota(client: TestClient, h: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/live/quota", headers=h)
    assert response.status_code == 200, response.text
    return response.json()


def start(client: TestClient, h: dict[str, str], kind: str = "voice") -> dict[str, Any]:
    response = client.post("/api/live/session/start", json={"session_type": kind}, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


def beat(client: TestClient, h: dict[str, str], session_id: str) -> Any:
    return client.post("/api/live/session/heartbeat", json={"session_id": session_id}, headers=h)


def end(client: TestClient, h: dict[str, str], session_id: str) -> Any:
    return client.post("/api/live/session/end", json={"session_id": session_id}, headers=h)


def user_id(client: TestClient, username: str) -> str:
    return user_ids(client)[username]


def assert_quota_error(response: Any, now: datetime, resets_at: datetime, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == QUOTA_BODY
    wait = int((resets_at - now).total_seconds())
    assert response.headers["retry-after"] == str(wait) == response.headers["ratelimit-reset"]
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
