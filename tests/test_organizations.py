"""Organizations and members: visibility, roles (owner, admin, member), the last-owner rule, API-key bounds."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.security import hash_api_key, make_api_key
from tests.conftest import bearer, login, user_ids

Headers = dict[str, str]
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def orgs(client: TestClient, demo: Headers) -> dict[str, str]:
    """Organization ids by slug (demo belongs to both fixture organizations)."""
    return {o["slug"]: o["id"] for o in client.get("/api/organizations", headers=demo).json()}


@pytest.fixture
def users(client: TestClient) -> dict[str, str]:
    return user_ids(client)


def newcomer(client: TestClient, name: str = "newbie") -> Headers:
    body = {"username": name, "email": f"{name}@example.com", "password": "password1"}
    assert client.post("/api/auth/register", json=body).status_code == 201
    return bearer(login(client, name, "password1"))


def create(client: TestClient, headers: Headers, slug: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/organizations", headers=headers, json={"name": slug.title(), "slug": slug, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def members(client: TestClient, headers: Headers, org_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/organizations/{org_id}/members", headers=headers)
    assert response.status_code == 200, response.text
    return {m["username"]: m for m in response.json()}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["error"] == code and detail["message"]
    return detail


# organizations -------------------------------------------------------------------------------------------------
def test_list_shows_my_organizations_with_my_role(
    client: TestClient, demo: Headers, alex: Headers, admin: Headers
) -> None:
    mine = client.get("/api/organizations", headers=demo).json()
    assert [(o["slug"], o["role"], o["member_count"]) for o in mine] == [
        ("acme-learning", "owner", 3),
        ("northwind-labs", "admin", 2),
    ]
    assert {o["slug"]: o["role"] for o in client.get("/api/organizations", headers=alex).json()} == {
        "acme-learning": "member",
        "northwind-labs": "owner",
    }
    assert [o["slug"] for o in client.get("/api/organizations", headers=admin).json()] == ["acme-learning"]
    assert client.get("/api/organizations", headers=newcomer(client)).json() == []


def test_create_makes_the_creator_owner(client: TestClient, alex: Headers, users: dict[str, str]) -> None:
    org = create(client, alex, "alex-books")
    assert org["role"] == "owner" and org["member_count"] == 1 and org["description"] is None
    assert org["created_at"] == org["updated_at"]
    assert client.get(f"/api/organizations/{org['id']}", headers=alex).json() == org
    (member,) = members(client, alex, org["id"]).values()
    assert member["user_id"] == users["alex"] and member["role"] == "owner" and member["team"] is None
    assert "alex-books" in [o["slug"] for o in client.get("/api/organizations", headers=alex).json()]


def test_create_refuses_a_taken_slug_with_409(client: TestClient, alex: Headers) -> None:
    detail = error(
        client.post("/api/organizations", headers=alex, json={"name": "Copy", "slug": "acme-learning"}),
        409,
        "slug_taken",
    )
    assert "acme-learning" in detail["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "No slug"},
        {"slug": "no-name"},
        {"name": "", "slug": "empty-name"},
        {"name": "Bad", "slug": "Bad Slug"},
        {"name": "Bad", "slug": "double--hyphen"},
        {"name": "Bad", "slug": "x" * 65},
        {"name": 5, "slug": "typed"},
        {"name": "Bad", "slug": "ok", "description": None},
        [],
    ],
)
def test_create_rejects_bad_input(client: TestClient, demo: Headers, body: Any) -> None:
    error(client.post("/api/organizations", headers=demo, json=body), 400, "validation_error")


def test_get_answers_404_outside_my_organizations(client: TestClient, admin: Headers, orgs: dict[str, str]) -> None:
    assert client.get(f"/api/organizations/{orgs['acme-learning']}", headers=admin).json()["role"] == "admin"
    for org_id in (orgs["northwind-labs"], UNKNOWN):
        detail = error(client.get(f"/api/organizations/{org_id}", headers=admin), 404, "not_found")
        assert "Northwind" not in detail["message"]
    error(client.get("/api/organizations/not-a-uuid", headers=admin), 400, "validation_error")


def test_get_accepts_an_uppercase_id(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    response = client.get(f"/api/organizations/{orgs['acme-learning'].upper()}", headers=demo)
    assert response.status_code == 200 and response.json()["id"] == orgs["acme-learning"]


def test_owner_and_admin_update_only_the_fields_sent(
    client: TestClient, mock: Mock, demo: Headers, admin: Headers, orgs: dict[str, str]
) -> None:
    url = f"/api/organizations/{orgs['acme-learning']}"
    client.post("/__mock__/clock/freeze", json={"at": "2026-06-01T10:00:00Z"})
    renamed = client.patch(url, headers=admin, json={"name": "Acme Academy"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Acme Academy" and renamed.json()["slug"] == "acme-learning"
    assert renamed.json()["updated_at"] == "2026-06-01T10:00:00Z" and renamed.json()["role"] == "admin"
    cleared = client.patch(url, headers=demo, json={"description": None, "slug": "acme-learning"}).json()
    assert cleared["description"] is None and cleared["name"] == "Acme Academy" and cleared["role"] == "owner"
    assert client.patch(url, headers=demo, json={"slug": "acme-academy"}).json()["slug"] == "acme-academy"


def test_update_needs_owner_or_admin(client: TestClient, alex: Headers, orgs: dict[str, str]) -> None:
    response = client.patch(f"/api/organizations/{orgs['acme-learning']}", headers=alex, json={"name": "Mine now"})
    detail = error(response, 403, "insufficient_role")
    assert "owner or admin" in detail["message"] and "member" in detail["message"]
    assert client.get(f"/api/organizations/{orgs['acme-learning']}", headers=alex).json()["name"] == "Acme Learning"


def test_update_refuses_a_slug_of_another_organization(client: TestClient, demo: Headers, orgs: dict[str, str]) -> None:
    response = client.patch(
        f"/api/organizations/{orgs['acme-learning']}", headers=demo, json={"slug": "northwind-labs"}
    )
    error(response, 409, "slug_taken")


@pytest.mark.parametrize("body", [{}, {"slug": "Not Valid"}, {"name": ""}, {"team": "x"}, {"name": None}])
def test_update_rejects_bad_input(client: TestClient, demo: Headers, orgs: dict[str, str], body: Any) -> None:
    error(client.patch(f"/api/organizations/{orgs['acme-learning']}", headers=demo, json=body), 400, "validation_error")


def test_update_of_a_foreign_organization_is_404(client: TestClient, admin: Headers, orgs: dict[str, str]) -> None:
    error(
        client.patch(f"/api/organizations/{orgs['northwind-labs']}", headers=admin, json={"name": "x"}),
        404,
        "not_found",
    )


def test_only_the_owner_deletes_and_everything_goes_with_it(
    client: TestClient,
    mock: Mock,
    demo: Headers,
    admin: Headers,
    alex: Headers,
    keys: dict[str, str],
    orgs: dict[str, str],
) -> None:
    url = f"/api/organizations/{orgs['acme-learning']}"
    error(client.delete(url, headers=admin), 403, "insufficient_role")
    error(client.delete(url, headers=alex), 403, "insufficient_role")
    error(client.delete(f"/api/organizations/{orgs['northwind-labs']}", headers=admin), 404, "not_found")
    assert client.delete(url, headers=demo).status_code == 204
    error(client.get(url, headers=demo), 404, "not_found")
    assert [o["slug"] for o in client.get("/api/organizations", headers=admin).json()] == []
    assert mock.store.all("SELECT * FROM memberships WHERE organization_id = ?", (orgs["acme-learning"],)) == []
    revoked = client.get("/api/organizations", headers={"X-API-Key": keys["demo-full-access"]})
    error(revoked, 401, "invalid_api_key")
    error(client.delete(url, headers=demo), 404, "not_found")


# members -------------------------------------------------------------------------------------------------------
def test_members_list_roles_and_teams_in_join_order(
    client: TestClient, alex: Headers, admin: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    listed = client.get(f"/api/organizations/{orgs['acme-learning']}/members", headers=alex).json()
    assert [(m["username"], m["role"], m["team"]) for m in listed] == [
        ("demo", "owner", None),
        ("admin", "admin", "Platform"),
        ("alex", "member", "Sales"),
    ]
    assert listed[0] == {
        **listed[0],
        "user_id": users["demo"],
        "organization_id": orgs["acme-learning"],
        "email": "demo@xentree.test",
        "full_name": "Demo Learner",
    }
    error(client.get(f"/api/organizations/{orgs['northwind-labs']}/members", headers=admin), 404, "not_found")


def test_add_member_by_email_or_id(client: TestClient, demo: Headers, users: dict[str, str]) -> None:
    newcomer(client, "sam")
    org = create(client, demo, "demo-club")
    url = f"/api/organizations/{org['id']}/members"
    by_email = client.post(url, headers=demo, json={"email": "SAM@example.com", "team": "Readers"})
    assert by_email.status_code == 201, by_email.text
    assert by_email.json()["username"] == "sam" and by_email.json()["role"] == "member"
    assert by_email.json()["team"] == "Readers" and by_email.json()["organization_id"] == org["id"]
    both = client.post(url, headers=demo, json={"user_id": users["alex"], "email": "sam@example.com", "role": "admin"})
    assert both.status_code == 201 and both.json()["username"] == "alex" and both.json()["role"] == "admin"
    assert client.get(f"/api/organizations/{org['id']}", headers=demo).json()["member_count"] == 3


def test_add_member_refusals(
    client: TestClient, demo: Headers, admin: Headers, alex: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    newcomer(client, "sam")
    url = f"/api/organizations/{orgs['acme-learning']}/members"
    error(client.post(url, headers=demo, json={"user_id": users["alex"]}), 409, "already_member")
    error(client.post(url, headers=demo, json={"user_id": UNKNOWN}), 404, "not_found")
    error(client.post(url, headers=demo, json={"email": "nobody@example.com"}), 404, "not_found")
    error(client.post(url, headers=alex, json={"email": "sam@example.com"}), 403, "insufficient_role")
    detail = error(
        client.post(url, headers=admin, json={"email": "sam@example.com", "role": "owner"}), 403, "insufficient_role"
    )
    assert "owner" in detail["message"]
    error(
        client.post(
            f"/api/organizations/{orgs['northwind-labs']}/members", headers=admin, json={"email": "sam@example.com"}
        ),
        404,
        "not_found",
    )
    assert client.post(url, headers=demo, json={"email": "sam@example.com", "role": "owner"}).json()["role"] == "owner"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"role": "admin"},
        {"email": "not-an-email"},
        {"user_id": "nope"},
        {"email": "a@example.com", "role": "boss"},
        {"email": "a@example.com", "team": ""},
    ],
)
def test_add_member_rejects_bad_input(client: TestClient, demo: Headers, orgs: dict[str, str], body: Any) -> None:
    url = f"/api/organizations/{orgs['acme-learning']}/members"
    error(client.post(url, headers=demo, json=body), 400, "validation_error")


def test_role_changes(
    client: TestClient, demo: Headers, admin: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    base = f"/api/organizations/{orgs['acme-learning']}/members"
    promoted = client.patch(f"{base}/{users['alex']}", headers=admin, json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin" and promoted.json()["team"] == "Sales"
    assert members(client, demo, orgs["acme-learning"])["alex"]["role"] == "admin"
    error(client.patch(f"{base}/{users['alex']}", headers=admin, json={"role": "owner"}), 403, "insufficient_role")
    error(client.patch(f"{base}/{users['demo']}", headers=admin, json={"role": "member"}), 403, "insufficient_role")
    assert client.patch(f"{base}/{users['alex']}", headers=demo, json={"role": "owner"}).json()["role"] == "owner"
    assert client.patch(f"{base}/{users['alex']}", headers=demo, json={"role": "member"}).json()["role"] == "member"


def test_the_last_owner_cannot_be_demoted(
    client: TestClient, demo: Headers, alex: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    url = f"/api/organizations/{orgs['acme-learning']}/members/{users['demo']}"
    detail = error(client.patch(url, headers=demo, json={"role": "admin"}), 400, "last_owner")
    assert "last owner" in detail["message"]
    assert members(client, demo, orgs["acme-learning"])["demo"]["role"] == "owner"
    client.patch(
        f"/api/organizations/{orgs['acme-learning']}/members/{users['alex']}", headers=demo, json={"role": "owner"}
    )
    assert client.patch(url, headers=alex, json={"role": "admin"}).json()["role"] == "admin"


def test_role_change_refusals(
    client: TestClient, demo: Headers, alex: Headers, admin: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    base = f"/api/organizations/{orgs['acme-learning']}/members"
    error(client.patch(f"{base}/{users['admin']}", headers=alex, json={"role": "member"}), 403, "insufficient_role")
    error(client.patch(f"{base}/{UNKNOWN}", headers=demo, json={"role": "admin"}), 404, "not_found")
    error(
        client.patch(
            f"/api/organizations/{orgs['northwind-labs']}/members/{users['alex']}",
            headers=admin,
            json={"role": "member"},
        ),
        404,
        "not_found",
    )
    for body in ({}, {"role": "boss"}, {"role": None}):
        error(client.patch(f"{base}/{users['alex']}", headers=demo, json=body), 400, "validation_error")


def test_comprehensive_update_sets_role_and_team(
    client: TestClient, demo: Headers, admin: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    url = f"/api/organizations/{orgs['acme-learning']}/members/{users['alex']}"
    kept = client.put(url, headers=admin, json={"role": "admin"})
    assert kept.status_code == 200 and (kept.json()["role"], kept.json()["team"]) == ("admin", "Sales")
    moved_team = client.put(url, headers=admin, json={"role": "member", "team": "Customer Success"}).json()
    assert moved_team["team"] == "Customer Success"
    assert client.put(url, headers=admin, json={"role": "member", "team": None}).json()["team"] is None
    same_org = client.put(url, headers=admin, json={"role": "member", "organization_id": orgs["acme-learning"]})
    assert same_org.status_code == 200 and same_org.json()["organization_id"] == orgs["acme-learning"]
    assert members(client, demo, orgs["acme-learning"])["alex"]["team"] is None


def test_comprehensive_update_moves_a_member(
    client: TestClient, mock: Mock, demo: Headers, admin: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    club = create(client, demo, "demo-club")
    url = f"/api/organizations/{orgs['acme-learning']}/members/{users['admin']}"
    moved = client.put(url, headers=demo, json={"role": "admin", "team": "Ops", "organization_id": club["id"].upper()})
    assert moved.status_code == 200, moved.text
    assert moved.json()["organization_id"] == club["id"] and (moved.json()["role"], moved.json()["team"]) == (
        "admin",
        "Ops",
    )
    assert "admin" not in members(client, demo, orgs["acme-learning"])
    assert members(client, demo, club["id"])["admin"]["role"] == "admin"
    assert [o["slug"] for o in client.get("/api/organizations", headers=admin).json()] == ["demo-club"]


def test_comprehensive_update_refusals(
    client: TestClient, demo: Headers, alex: Headers, admin: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    acme, northwind = orgs["acme-learning"], orgs["northwind-labs"]
    to_alex = f"/api/organizations/{acme}/members/{users['alex']}"
    # already a member of the destination
    error(
        client.put(to_alex, headers=demo, json={"role": "member", "organization_id": northwind}), 409, "already_member"
    )
    # destination the caller does not belong to
    error(client.put(to_alex, headers=demo, json={"role": "member", "organization_id": UNKNOWN}), 404, "not_found")
    error(
        client.put(
            f"/api/organizations/{acme}/members/{users['alex']}",
            headers=admin,
            json={"role": "member", "organization_id": northwind},
        ),
        404,
        "not_found",
    )
    # destination where the caller is a plain member
    alex_club = create(client, alex, "alex-club")
    client.post(f"/api/organizations/{alex_club['id']}/members", headers=alex, json={"user_id": users["demo"]})
    error(
        client.put(
            f"/api/organizations/{acme}/members/{users['admin']}",
            headers=demo,
            json={"role": "member", "organization_id": alex_club["id"]},
        ),
        403,
        "insufficient_role",
    )
    # a plain member, an unknown member, the last owner, and an admin granting owner
    error(
        client.put(f"/api/organizations/{acme}/members/{users['admin']}", headers=alex, json={"role": "member"}),
        403,
        "insufficient_role",
    )
    error(
        client.put(f"/api/organizations/{acme}/members/{UNKNOWN}", headers=demo, json={"role": "member"}),
        404,
        "not_found",
    )
    last = f"/api/organizations/{acme}/members/{users['demo']}"
    error(client.put(last, headers=demo, json={"role": "admin"}), 400, "last_owner")
    demo_club = create(client, demo, "demo-club")
    error(client.put(last, headers=demo, json={"role": "owner", "organization_id": demo_club["id"]}), 400, "last_owner")
    error(client.put(to_alex, headers=admin, json={"role": "owner"}), 403, "insufficient_role")
    for body in ({}, {"team": "x"}, {"role": "member", "organization_id": "nope"}, {"role": "member", "team": ""}):
        error(client.put(to_alex, headers=demo, json=body), 400, "validation_error")


def test_remove_member(
    client: TestClient, demo: Headers, admin: Headers, alex: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    base = f"/api/organizations/{orgs['acme-learning']}/members"
    error(client.delete(f"{base}/{users['admin']}", headers=alex), 403, "insufficient_role")
    error(client.delete(f"{base}/{users['demo']}", headers=admin), 403, "insufficient_role")  # an owner
    error(client.delete(f"{base}/{UNKNOWN}", headers=admin), 404, "not_found")
    assert client.delete(f"{base}/{users['alex']}", headers=admin).status_code == 204
    assert set(members(client, demo, orgs["acme-learning"])) == {"demo", "admin"}
    error(client.get(f"/api/organizations/{orgs['acme-learning']}", headers=alex), 404, "not_found")
    error(client.delete(f"{base}/{users['alex']}", headers=admin), 404, "not_found")


def test_anyone_may_leave_except_the_last_owner(
    client: TestClient, demo: Headers, alex: Headers, orgs: dict[str, str], users: dict[str, str]
) -> None:
    base = f"/api/organizations/{orgs['acme-learning']}/members"
    assert client.delete(f"{base}/{users['alex'].upper()}", headers=alex).status_code == 204
    assert "alex" not in members(client, demo, orgs["acme-learning"])
    detail = error(client.delete(f"{base}/{users['demo']}", headers=demo), 400, "last_owner")
    assert "last owner" in detail["message"]
    assert "demo" in members(client, demo, orgs["acme-learning"])


def test_leaving_revokes_my_keys_bound_to_that_organization(
    client: TestClient, demo: Headers, alex: Headers, keys: dict[str, str], orgs: dict[str, str], users: dict[str, str]
) -> None:
    key = {"X-API-Key": keys["alex-northwind"]}
    assert client.get("/api/organizations", headers=key).status_code == 200
    northwind = f"/api/organizations/{orgs['northwind-labs']}/members"
    client.patch(f"{northwind}/{users['demo']}", headers=alex, json={"role": "owner"})
    assert client.delete(f"{northwind}/{users['alex']}", headers=demo).status_code == 204
    error(client.get("/api/organizations", headers=key), 401, "invalid_api_key")


# API-key callers -----------------------------------------------------------------------------------------------
def test_an_api_key_sees_only_its_organization(client: TestClient, keys: dict[str, str], orgs: dict[str, str]) -> None:
    key = {"X-API-Key": keys["alex-northwind"]}
    assert [o["slug"] for o in client.get("/api/organizations", headers=key).json()] == ["northwind-labs"]
    error(client.get(f"/api/organizations/{orgs['acme-learning']}", headers=key), 404, "not_found")  # alex is a member
    error(client.get(f"/api/organizations/{orgs['acme-learning']}/members", headers=key), 404, "not_found")
    renamed = client.patch(f"/api/organizations/{orgs['northwind-labs']}", headers=key, json={"name": "Northwind"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Northwind"
    demo_key = {"X-API-Key": keys["demo-full-access"]}
    assert [o["slug"] for o in client.get("/api/organizations", headers=demo_key).json()] == ["acme-learning"]


def test_an_api_key_cannot_move_members_out_of_its_organization(
    client: TestClient, keys: dict[str, str], orgs: dict[str, str], users: dict[str, str]
) -> None:
    key = {"X-API-Key": keys["demo-full-access"]}
    url = f"/api/organizations/{orgs['acme-learning']}/members/{users['admin']}"
    error(
        client.put(url, headers=key, json={"role": "member", "organization_id": orgs["northwind-labs"]}),
        404,
        "not_found",
    )
    assert client.put(url, headers=key, json={"role": "member"}).json()["role"] == "member"


def test_an_api_key_cannot_create_organizations(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post(
        "/api/organizations",
        headers={"X-API-Key": keys["demo-full-access"]},
        json={"name": "Side project", "slug": "side-project"},
    )
    error(response, 403, "api_key_organization_bound")


def test_an_api_key_acts_with_its_owners_role(
    client: TestClient, mock: Mock, keys: dict[str, str], orgs: dict[str, str], users: dict[str, str]
) -> None:
    """A key held by a plain member cannot change the organization; the owner's key can delete it."""
    org_id = orgs["acme-learning"]
    member_key = make_api_key(b"m" * 64)
    mock.store.insert(
        "api_keys",
        {
            "id": UNKNOWN,
            "name": "alex-acme",
            "prefix": member_key[:11],
            "key_hash": hash_api_key(member_key),
            "user_id": users["alex"],
            "organization_id": org_id,
            "scopes": ["organizations:read", "organizations:write"],
            "created_at": "2026-01-01T00:00:00Z",
        },
    )
    as_member = {"X-API-Key": member_key}
    assert client.get(f"/api/organizations/{org_id}", headers=as_member).json()["role"] == "member"
    error(client.patch(f"/api/organizations/{org_id}", headers=as_member, json={"name": "x"}), 403, "insufficient_role")
    owner_key = {"X-API-Key": keys["demo-full-access"]}
    assert client.get(f"/api/organizations/{org_id}", headers=owner_key).json()["role"] == "owner"
    assert client.delete(f"/api/organizations/{org_id}", headers=owner_key).status_code == 204


def test_expired_and_address_bound_fixture_keys(client: TestClient, keys: dict[str, str]) -> None:
    error(client.get("/api/organizations", headers={"X-API-Key": keys["demo-expired"]}), 401, "api_key_expired")
    office = {"X-API-Key": keys["demo-office-only"]}
    error(client.get("/api/organizations", headers=office), 403, "ip_not_allowed")
    remote = TestClient(client.app, client=("203.0.113.5", 1), raise_server_exceptions=False)
    assert [o["slug"] for o in remote.get("/api/organizations", headers=office).json()] == ["acme-learning"]
