"""Helpers for the integration-token tests: demo world reads, organizations and API keys put straight into the store,
and the grant/verify calls with their 200 asserted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.clock import iso
from mock_server.domains.api_keys import issue_key

FROZEN = datetime(2026, 4, 16, 10, 0, tzinfo=UTC)
GRANT = {"mode": "api", "origin": "https://partner.example.com", "scopes": ["profile:read", "quota:read"]}
UNKNOWN = "3f2c8a1e-5b7d-4e9a-9c3f-1a2b3c4d5e6f"


def user_id_of(mock: Mock, username: str) -> str:
    return mock.store.one("SELECT id FROM users WHERE username = ?", (username,))["id"]  # type: ignore[index]


def first_org(mock: Mock, username: str) -> str:
    row = mock.store.one(
        "SELECT organization_id FROM memberships WHERE user_id = ? ORDER BY joined_at, rowid",
        (user_id_of(mock, username),),
    )
    assert row is not None
    return row["organization_id"]


def add_org(mock: Mock, slug: str, members: dict[str, str] | None = None) -> str:
    org_id = mock.store.new_id()
    now = iso(mock.clock.now())
    mock.store.insert(
        "organizations",
        {"id": org_id, "name": slug, "slug": slug, "description": None, "created_at": now, "updated_at": now},
    )
    for username, role in (members or {}).items():
        mock.store.insert(
            "memberships",
            {
                "organization_id": org_id,
                "user_id": user_id_of(mock, username),
                "role": role,
                "team": None,
                "joined_at": now,
            },
        )
    return org_id


def add_key(mock: Mock, owner: str, org_id: str, scopes: list[str]) -> dict[str, str]:
    key, _ = issue_key(mock.internal_call(), f"test-{len(scopes)}", user_id_of(mock, owner), org_id, scopes)
    return {"X-API-Key": key}


def grant(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post("/api/integration/grant", headers=headers, json={**GRANT, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def verify(client: TestClient, headers: dict[str, str], token: str, tenant: str, **extra: Any) -> dict[str, Any]:
    body = {"token": token, "tenantId": tenant, **extra}
    response = client.post("/api/integration/verify", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def error(response: Any) -> str:
    return response.json()["detail"]["error"]
