"""API keys and tenants: the key shown once, scopes, organization binding, expiry, IP allow-list, visibility,
revocation."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login, make_client, user_ids

Headers = dict[str, str]
UNKNOWN = "00000000-0000-4000-8000-000000000000"
KEY = re.compile(r"^xntr-[A-Za-z0-9_-]{86}$")


@pytest.fixture
def orgs(client: TestClient, demo: Headers) -> dict[str, str]:
    return {t["slug"]: t["id"] for t in client.get("/api/api-keys/tenants", headers=demo).json()}


def mint(client: TestClient, headers: Headers, org_id: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    body = {"name": extra.pop("name", "test key"), "organization_id": org_id, "scopes": scopes, **extra}
    response = client.post("/api/api-keys", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def names(client: TestClient, headers: Headers) -> set[str]:
    response = client.get("/api/api-keys", headers=headers)
    assert response.status_code == 200, response.text
    return {k["name"] for k in response.json()}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["error"] == code and detail["message"]
    return detail


def key_header(created: dict[str, Any]) -> Headers:
    return {"X-API-Key": created["key"]}


# create ---------------------------------------------------------------------------------------------------------
def test_create_returns_the_full_key_once_and_stores_only_its_hash(
    client: TestClient, mock: Mock, demo: Headers, orgs: dict[str, str]
) -> None:
    client.post("/__mock__/clock/freeze", json={"at": "2026-06-01T10:00:00Z"})
    created = mint(client, demo, orgs["acme-learning"], ["rag:read", "organizations:read"], name="CI pipeline")
    assert KEY.match(created["key"]) and len(created["key"]) == 91
    assert created["prefix"] == created["key"][:11] and re.fullmatch(r"xntr-[A-Za-z0-9_-]{6}", created["prefix"])
    assert created["name"] == "CI pipeline" and created["scopes"] == ["rag:read", "organizations:read"]
    assert created["organization_id"] == orgs["acme-learning"] and created["created_at"] == "2026-06-01T10:00:00Z"
    assert created["expires_at"] is None and created["allowed_ips"] == [] and created["last_used_at"] is None
    (row,) = mock.store.all("SELECT * FROM api_keys WHERE id = ?", (created["id"],))
    assert row["key_hash"] == hashlib.sha256(created["key"].encode()).hexdigest()
    assert created["key"] not in json.dumps(mock.store.dump("api_keys"))
    listed = {k["id"]: k for k in client.get("/api/api-keys", headers=demo).json()}[created["id"]]
    assert "key" not in listed and listed == {k: v for k, v in created.items() if k != "key"}
    assert created["key"] not in client.get("/api/api-keys", headers=demo).text


def test_keys_are_deterministic_for_the_seed() -> None:
    made = []
    for _ in range(2):
        with make_client() as c:
            headers = bearer(login(c))
            org = {t["slug"]: t["id"] for t in c.get("/api/api-keys/tenants", headers=headers).json()}
            made.append(mint(c, headers, org["acme-learning"], ["rag:read"])["key"])
    assert made[0] == made[1]


def test_a_new_key_authenticates_with_its_scopes_in_its_organization(
    client: TestClient, alex: Headers, orgs: dict[str, str]
) -> None:
    created = mint(client, alex, orgs["northwind-labs"], ["organizations:read"])
    listed = client.get("/api/organizations", headers=key_header(created))
    assert listed.status_code == 200 and [o["slug"] for o in listed.json()] == ["northwind-labs"]
    denied = client.patch(
        f"/api/organizations/{orgs['northwind-labs']}", headers=key_header(created), json={"name": "x"}
    )
    detail = error(denied, 403, "INSUFFICIENT_API_KEY_SCOPE")
    assert detail["required_scope"] == "organizations:write" and detail["granted_scopes"] == ["organizations:read"]


@pytest.mark.parametrize(
    "change",
    [
        {"scopes": ["organizations:delete"]},
        {"scopes": []},
        {"scopes": ["rag:read", "rag:read"]},
        {"scopes": "rag:read"},
        {"name": ""},
        {"name": None},
        {"organization_id": "acme"},
        {"expires_at": "tomorrow"},
        {"allowed_ips": ["300.1.1.1"]},
        {"allowed_ips": ["example.com"]},
        {"allowed_ips": "10.0.0.0/8"},
        {"scopes": None},
        {"scopes": ["rag:read"] * 18},
    ],
)
def test_create_rejects_bad_input(client: TestClient, demo: Headers, orgs: dict[str, str], change: Any) -> None:
    body = {"name": "bad", "organization_id": orgs["acme-learning"], "scopes": ["rag:read"], **change}
    error(client.post("/api/api-keys", headers=demo, json=body), 400, "validation_error")


def test_create_rejects_missing_fields(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    full = {"name": "bad", "organization_id": orgs["acme-learning"], "scopes": ["rag:read"]}
    for field in full:
        body = {k: v for k, v in full.items() if k != field}
        detail = error(client.post("/api/api-keys", headers=demo, json=body), 400, "validation_error")
        assert field in detail["message"]


def test_an_unknown_scope_names_the_scope(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    body = {"name": "bad", "organization_id": orgs["acme-learning"], "scopes": ["rag:read", "teleport:write"]}
    detail = error(client.post("/api/api-keys", headers=demo, json=body), 400, "validation_error")
    assert "teleport:write" in detail["message"]


def test_only_owners_and_admins_of_the_organization_create_keys(
    client: TestClient, alex: Headers, admin: Headers, orgs: dict[str, str]
) -> None:
    body = {"name": "k", "scopes": ["rag:read"]}
    member = client.post("/api/api-keys", headers=alex, json={**body, "organization_id": orgs["acme-learning"]})
    assert "member" in error(member, 403, "insufficient_role")["message"]
    for org_id in (orgs["northwind-labs"], UNKNOWN):  # admin does not belong to Northwind; UNKNOWN does not exist
        outsider = client.post("/api/api-keys", headers=admin, json={**body, "organization_id": org_id})
        error(outsider, 403, "not_organization_member")
    assert mint(client, admin, orgs["acme-learning"], ["rag:read"])["organization_id"] == orgs["acme-learning"]


# expiry ---------------------------------------------------------------------------------------------------------
def test_expiry_is_enforced_on_the_mock_clock(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    client.post("/__mock__/clock/freeze", json={"at": "2026-06-01T10:00:00Z"})
    created = mint(client, demo, orgs["acme-learning"], ["organizations:read"], expires_at="2026-06-01T13:00:00+02:00")
    assert created["expires_at"] == "2026-06-01T11:00:00Z"  # normalised to UTC
    client.post("/__mock__/clock/freeze", json={"at": "2026-06-01T10:59:59Z"})
    assert client.get("/api/organizations", headers=key_header(created)).status_code == 200
    client.post("/__mock__/clock/advance", json={"seconds": 1})
    error(client.get("/api/organizations", headers=key_header(created)), 401, "api_key_expired")


def test_expiry_must_be_in_the_future(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    client.post("/__mock__/clock/freeze", json={"at": "2026-06-01T10:00:00Z"})
    for past in ("2026-06-01T10:00:00Z", "2020-01-01T00:00:00Z"):
        body = {"name": "k", "organization_id": orgs["acme-learning"], "scopes": ["rag:read"], "expires_at": past}
        detail = error(client.post("/api/api-keys", headers=demo, json=body), 400, "expiry_in_past")
        assert past in detail["message"]
    lower = mint(client, demo, orgs["acme-learning"], ["rag:read"], expires_at="2026-12-31t23:59:59.5z")
    assert lower["expires_at"] == "2026-12-31T23:59:59.500000Z"
    assert mint(client, demo, orgs["acme-learning"], ["rag:read"], expires_at=None)["expires_at"] is None


def test_the_expired_fixture_key_gets_401(client: TestClient, keys: dict[str, str]) -> None:
    error(client.get("/api/organizations", headers={"X-API-Key": keys["demo-expired"]}), 401, "api_key_expired")


# IP allow-list --------------------------------------------------------------------------------------------------
def test_the_allow_list_is_enforced(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    created = mint(
        client,
        demo,
        orgs["acme-learning"],
        ["organizations:read"],
        allowed_ips=["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"],
    )
    assert created["allowed_ips"] == ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]
    detail = error(client.get("/api/organizations", headers=key_header(created)), 403, "ip_not_allowed")
    assert "127.0.0.1" in detail["message"]
    for address in ("203.0.113.5", "198.51.100.7", "2001:db8::1"):
        remote = TestClient(client.app, client=(address, 1), raise_server_exceptions=False)
        assert remote.get("/api/organizations", headers=key_header(created)).status_code == 200, address
    other = TestClient(client.app, client=("198.51.100.8", 1), raise_server_exceptions=False)
    error(other.get("/api/organizations", headers=key_header(created)), 403, "ip_not_allowed")


def test_the_office_only_fixture_key(client: TestClient, keys: dict[str, str]) -> None:
    office = {"X-API-Key": keys["demo-office-only"]}
    error(client.get("/api/organizations", headers=office), 403, "ip_not_allowed")
    remote = TestClient(client.app, client=("203.0.113.5", 1), raise_server_exceptions=False)
    assert remote.get("/api/organizations", headers=office).status_code == 200


@pytest.mark.parametrize("entry", ["::::/12", ":::", "1:2:3:4:5:6:7:8:9"])
def test_allow_list_entries_that_only_look_like_addresses_are_400(
    client: TestClient, demo: Headers, orgs: dict[str, str], entry: str
) -> None:
    body = {"name": "k", "organization_id": orgs["acme-learning"], "scopes": ["rag:read"], "allowed_ips": [entry]}
    response = client.post("/api/api-keys", headers=demo, json=body)
    assert response.status_code == 400, response.text
    assert entry in response.json()["detail"]["message"]


# list and delete ------------------------------------------------------------------------------------------------
FIXTURE_ACME_KEYS = {"demo-full-access", "demo-read-only", "demo-expired", "demo-office-only"}


def test_visibility_follows_the_organization_role(
    client: TestClient, demo: Headers, alex: Headers, admin: Headers, orgs: dict[str, str]
) -> None:
    assert names(client, demo) == FIXTURE_ACME_KEYS | {"alex-northwind"}  # owner of Acme, admin of Northwind
    assert names(client, admin) == FIXTURE_ACME_KEYS  # admin of Acme only
    assert names(client, alex) == {"alex-northwind"}  # a plain member of Acme sees none of its keys
    mint(client, admin, orgs["acme-learning"], ["rag:read"], name="admin key")
    assert "admin key" in names(client, demo) and "admin key" not in names(client, alex)
    stranger = {"username": "stranger", "email": "s@example.com", "password": "password1"}
    client.post("/api/auth/register", json=stranger)
    assert client.get("/api/api-keys", headers=bearer(login(client, "stranger", "password1"))).json() == []


def test_a_member_sees_the_keys_they_created_after_losing_the_admin_role(
    client: TestClient, demo: Headers, admin: Headers, orgs: dict[str, str], mock: Mock
) -> None:
    mint(client, admin, orgs["acme-learning"], ["rag:read"], name="admin key")
    admin_id = user_ids(client)["admin"]
    demoted = client.patch(
        f"/api/organizations/{orgs['acme-learning']}/members/{admin_id}", headers=demo, json={"role": "member"}
    )
    assert demoted.status_code == 200
    assert names(client, admin) == {"admin key"}


def test_delete_revokes_at_once(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    created = mint(client, demo, orgs["acme-learning"], ["organizations:read"])
    assert client.get("/api/organizations", headers=key_header(created)).status_code == 200
    assert client.delete(f"/api/api-keys/{created['id'].upper()}", headers=demo).status_code == 204
    error(client.get("/api/organizations", headers=key_header(created)), 401, "invalid_api_key")
    assert "test key" not in names(client, demo)
    error(client.delete(f"/api/api-keys/{created['id']}", headers=demo), 404, "not_found")


def test_delete_follows_visibility(client: TestClient, demo: Headers, alex: Headers, keys: dict[str, str]) -> None:
    ids = {k["name"]: k["id"] for k in client.get("/api/api-keys", headers=demo).json()}
    error(client.delete(f"/api/api-keys/{ids['demo-full-access']}", headers=alex), 404, "not_found")
    assert client.get("/api/organizations", headers={"X-API-Key": keys["demo-full-access"]}).status_code == 200
    assert client.delete(f"/api/api-keys/{ids['alex-northwind']}", headers=demo).status_code == 204  # Northwind admin
    error(client.get("/api/organizations", headers={"X-API-Key": keys["alex-northwind"]}), 401, "invalid_api_key")
    error(client.delete(f"/api/api-keys/{UNKNOWN}", headers=demo), 404, "not_found")
    error(client.delete("/api/api-keys/not-a-uuid", headers=demo), 400, "validation_error")


# bearer only, tenants -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/api-keys"),
        ("POST", "/api/api-keys"),
        ("DELETE", f"/api/api-keys/{UNKNOWN}"),
        ("GET", "/api/api-keys/tenants"),
    ],
)
def test_api_key_operations_are_bearer_only(client: TestClient, keys: dict[str, str], method: str, path: str) -> None:
    response = client.request(method, path, headers={"X-API-Key": keys["demo-full-access"]})
    error(response, 401, "api_key_not_accepted")


def test_tenants_are_my_organizations_with_my_role(
    client: TestClient, demo: Headers, alex: Headers, admin: Headers
) -> None:
    def tenants(headers: Headers) -> list[tuple[str, str, str]]:
        return [(t["name"], t["slug"], t["role"]) for t in client.get("/api/api-keys/tenants", headers=headers).json()]

    assert tenants(demo) == [("Acme Learning", "acme-learning", "owner"), ("Northwind Labs", "northwind-labs", "admin")]
    assert tenants(alex) == [
        ("Acme Learning", "acme-learning", "member"),
        ("Northwind Labs", "northwind-labs", "owner"),
    ]
    assert tenants(admin) == [("Acme Learning", "acme-learning", "admin")]
    ids = {o["id"] for o in client.get("/api/organizations", headers=demo).json()}
    assert {t["id"] for t in client.get("/api/api-keys/tenants", headers=demo).json()} == ids
    error(client.get("/api/api-keys/tenants"), 401, "not_authenticated")
