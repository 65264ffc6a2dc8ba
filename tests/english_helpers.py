"""Helpers shared by the Xentree English (XEL) tests (tests/test_english_*.py): the frozen instant, sample texts,
and calls to submit tasks, start sessions, move the clock and read the XP ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday, 12:00 UTC (07:00 in New York, alex's zone)
BASE = "/api/learn/english"
GOOD_TEXT = (
    "Hello, my name is Alex and I work as a software engineer in Boston. I enjoy my job because every project "
    "teaches me something new. However, I also like meeting people, so I joined a running club last year. "
    "For example, on Saturdays we run along the river and then have breakfast together. I am looking forward "
    "to working with you and learning about your projects."
)
POOR_TEXT = "i am alex i am alex i like like work"


def advance(client: TestClient, **amount: int) -> None:
    assert client.post("/__mock__/clock/advance", json=amount).status_code == 200


def relogin(client: TestClient, h: dict[str, str], username: str = "alex") -> None:
    """Access tokens live an hour: after moving the clock further, log in again (in place, for the test's headers)."""
    h.update(bearer(login(client, username)))


def submit(
    client: TestClient,
    h: dict[str, str],
    task_id: str,
    response: str = "An answer.",
    module_id: str | None = None,
    **extra: Any,
) -> Any:
    skill = task_id.split("-")[0]
    body = {"module_id": module_id or task_id.split("-")[1], "task_id": task_id, "skill": skill, "response": response}
    return client.post(f"{BASE}/tasks/submit", json={**body, **extra}, headers=h)


def xp_rows(mock: Mock, username: str, source: str) -> list[dict[str, Any]]:
    return mock.store.all(
        "SELECT x.* FROM xp_transactions x JOIN users u ON u.id = x.user_id WHERE u.username = ? AND x.source = ? "
        "ORDER BY x.created_at",
        (username, source),
    )


def start_session(client: TestClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/sessions/start", json=body, headers=h)
    assert response.status_code == 201, response.text
    return response.json()
