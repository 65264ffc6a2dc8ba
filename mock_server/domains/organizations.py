"""Organizations (workspaces) and their members, with the roles owner, admin and member.

Rules (documented in the README):
- Visibility: a caller sees only organizations they belong to; any other id answers 404 ("not found or not
  visible"). An API key sees only the organization it is bound to (other ids: 404) and cannot create another one.
- Roles: every member may read the organization and its members; owners and admins change the organization and its
  memberships; only an owner may delete it, and only an owner may grant or take away the `owner` role (which
  includes adding, removing or moving an owner). A plain member gets 403 `insufficient_role`.
- The last owner can neither be demoted, moved nor removed (400 `last_owner`), so an organization always has one.
- A member who leaves (removed or moved) loses the API keys they had bound to that organization.
"""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, Result, handles
from mock_server.errors import bad_request, conflict, forbidden, not_found

MANAGERS = ("owner", "admin")
OWNERS = ("owner",)

_ORG_COLUMNS = """o.id, o.name, o.slug, o.description, o.created_at, o.updated_at, m.role,
    (SELECT COUNT(*) FROM memberships c WHERE c.organization_id = o.id) AS member_count"""
_MEMBER_COLUMNS = "m.user_id, m.organization_id, u.username, u.email, u.full_name, m.role, m.team, m.joined_at"


# lookups -------------------------------------------------------------------------------------------------------
def role_in(call: Call, org_id: str, user_id: str) -> str | None:
    """A user's role in an organization, or None when they are not a member (also used by the API-key domain)."""
    row = call.store.one("SELECT role FROM memberships WHERE organization_id = ? AND user_id = ?", (org_id, user_id))
    return row["role"] if row else None


def visible(call: Call, org_id: str) -> dict[str, Any]:
    """The organization as the caller sees it (with their role), or 404: non-members learn nothing about it."""
    identity = call.identity
    assert identity is not None
    org_id = org_id.lower()
    row = None
    if identity.via != "api_key" or identity.organization_id == org_id:
        row = call.store.one(
            f"SELECT {_ORG_COLUMNS} FROM organizations o JOIN memberships m ON m.organization_id = o.id"
            " WHERE o.id = ? AND m.user_id = ?",
            (org_id, identity.user_id),
        )
    if row is None:
        raise not_found(f"Organization {org_id} not found or not visible")
    return row


def require_role(org: dict[str, Any], allowed: tuple[str, ...], action: str) -> None:
    if org["role"] not in allowed:
        needed = " or ".join(allowed)
        raise forbidden(
            f"{action} requires the {needed} role in the organization; your role is {org['role']}", "insufficient_role"
        )


def _member(call: Call, org_id: str, user_id: str) -> dict[str, Any] | None:
    return call.store.one(
        f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = ? AND m.user_id = ?",
        (org_id, user_id),
    )


def _target(call: Call, org_id: str) -> dict[str, Any]:
    user_id = str(call.path["target_user_id"]).lower()
    member = _member(call, org_id, user_id)
    if member is None:
        raise not_found(f"User {user_id} is not a member of organization {org_id}")
    return member


def _owner_count(call: Call, org_id: str) -> int:
    row = call.store.one(
        "SELECT COUNT(*) AS n FROM memberships WHERE organization_id = ? AND role = 'owner'", (org_id,)
    )
    return row["n"] if row else 0


def _ensure_slug_free(call: Call, slug: str, except_id: str = "") -> None:
    if call.store.one("SELECT 1 FROM organizations WHERE slug = ? AND id != ?", (slug, except_id)):
        raise conflict(f"The slug {slug!r} is already taken by another organization; choose another", "slug_taken")


def _org_body(org: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "slug", "description", "created_at", "updated_at", "member_count", "role")
    return {k: org[k] for k in keys}


# role rules ----------------------------------------------------------------------------------------------------
def _check_role_change(call: Call, org: dict[str, Any], member: dict[str, Any], new_role: str | None) -> None:
    """Owner role changes need an owner; the last owner keeps the role. `new_role` None means leaving the org."""
    if member["role"] == new_role:
        return
    if "owner" in (member["role"], new_role):
        require_role(org, OWNERS, "Granting or taking away the owner role")
    if member["role"] == "owner" and _owner_count(call, org["id"]) == 1:
        what = "removed or moved" if new_role is None else "demoted"
        raise bad_request(
            f"The last owner of the organization cannot be {what}; make another member owner first", "last_owner"
        )


def _leave(call: Call, org_id: str, user_id: str) -> None:
    """End a membership; the API keys the user bound to this organization stop working with it."""
    call.store.run("DELETE FROM memberships WHERE organization_id = ? AND user_id = ?", (org_id, user_id))
    call.store.run("DELETE FROM api_keys WHERE organization_id = ? AND user_id = ?", (org_id, user_id))


def _join(call: Call, org_id: str, user_id: str, role: str, team: str | None) -> dict[str, Any]:
    call.store.insert(
        "memberships",
        {"organization_id": org_id, "user_id": user_id, "role": role, "team": team, "joined_at": iso(call.clock.now())},
    )
    member = _member(call, org_id, user_id)
    assert member is not None
    return member


# organizations -------------------------------------------------------------------------------------------------
@handles("listOrganizations")
def list_organizations(call: Call) -> list[dict[str, Any]]:
    identity = call.identity
    assert identity is not None
    sql = (
        f"SELECT {_ORG_COLUMNS} FROM organizations o JOIN memberships m ON m.organization_id = o.id WHERE m.user_id = ?"
    )
    params: tuple[Any, ...] = (identity.user_id,)
    if identity.via == "api_key":
        sql, params = sql + " AND o.id = ?", (*params, identity.organization_id)
    return [_org_body(o) for o in call.store.all(sql + " ORDER BY o.name, o.slug", params)]


@handles("createOrganization")
def create_organization(call: Call) -> Any:
    identity = call.identity
    assert identity is not None
    if identity.via == "api_key":
        raise forbidden(
            "An API key is bound to its organization and cannot create another one; use a bearer token",
            "api_key_organization_bound",
        )
    body = call.body
    _ensure_slug_free(call, body["slug"])
    now = iso(call.clock.now())
    org_id = call.store.new_id()
    call.store.insert(
        "organizations",
        {
            "id": org_id,
            "name": body["name"],
            "slug": body["slug"],
            "description": body.get("description"),
            "created_at": now,
            "updated_at": now,
        },
    )
    _join(call, org_id, identity.user_id, "owner", None)
    return Result(_org_body(visible(call, org_id)), 201)


@handles("getOrganization")
def get_organization(call: Call) -> dict[str, Any]:
    return _org_body(visible(call, call.path["org_id"]))


@handles("updateOrganization")
def update_organization(call: Call) -> dict[str, Any]:
    org = visible(call, call.path["org_id"])
    require_role(org, MANAGERS, "Updating the organization")
    changes = {k: v for k, v in call.body.items() if k in ("name", "slug", "description")}
    if "slug" in changes:
        _ensure_slug_free(call, changes["slug"], org["id"])
    for column, value in {**changes, "updated_at": iso(call.clock.now())}.items():
        call.store.run(f"UPDATE organizations SET {column} = ? WHERE id = ?", (value, org["id"]))
    return _org_body(visible(call, org["id"]))


@handles("deleteOrganization")
def delete_organization(call: Call) -> Result:
    org = visible(call, call.path["org_id"])
    require_role(org, OWNERS, "Deleting the organization")
    call.store.run("DELETE FROM organizations WHERE id = ?", (org["id"],))  # memberships and API keys cascade
    return Result(None)


# members -------------------------------------------------------------------------------------------------------
@handles("listOrganizationMembers")
def list_members(call: Call) -> list[dict[str, Any]]:
    org = visible(call, call.path["org_id"])
    return call.store.all(
        f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = ? ORDER BY m.joined_at, m.rowid",
        (org["id"],),
    )


def _find_user(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    if "user_id" in body:
        user = call.store.one("SELECT id FROM users WHERE id = ?", (body["user_id"].lower(),))
        what = f"id {body['user_id']}"
    else:
        user = call.store.one("SELECT id FROM users WHERE email = ?", (body["email"],))
        what = f"email {body['email']}"
    if user is None:
        raise not_found(f"No user with {what}")
    return user


@handles("addOrganizationMember")
def add_member(call: Call) -> Result:
    org = visible(call, call.path["org_id"])
    require_role(org, MANAGERS, "Adding members")
    role = call.body.get("role", "member")
    if role == "owner":
        require_role(org, OWNERS, "Adding an owner")
    user = _find_user(call, call.body)
    if role_in(call, org["id"], user["id"]) is not None:
        raise conflict(f"User {user['id']} is already a member of this organization", "already_member")
    return Result(_join(call, org["id"], user["id"], role, call.body.get("team")), 201)


@handles("updateOrganizationMemberRole")
def update_member_role(call: Call) -> dict[str, Any]:
    org = visible(call, call.path["org_id"])
    require_role(org, MANAGERS, "Changing a member's role")
    member = _target(call, org["id"])
    role = call.body["role"]
    _check_role_change(call, org, member, role)
    call.store.run(
        "UPDATE memberships SET role = ? WHERE organization_id = ? AND user_id = ?",
        (role, org["id"], member["user_id"]),
    )
    return {**member, "role": role}


@handles("updateOrganizationMember")
def update_member(call: Call) -> dict[str, Any]:
    """Replace role and team, optionally moving the member to another organization the caller manages."""
    org = visible(call, call.path["org_id"])
    require_role(org, MANAGERS, "Updating a member")
    member = _target(call, org["id"])
    body = call.body
    role = body["role"]
    team = body["team"] if "team" in body else member["team"]
    destination = str(body.get("organization_id") or org["id"]).lower()
    if destination == org["id"]:
        _check_role_change(call, org, member, role)
        call.store.run(
            "UPDATE memberships SET role = ?, team = ? WHERE organization_id = ? AND user_id = ?",
            (role, team, org["id"], member["user_id"]),
        )
        return {**member, "role": role, "team": team}
    target_org = visible(call, destination)
    require_role(target_org, MANAGERS, "Moving a member into an organization")
    if role == "owner":
        require_role(target_org, OWNERS, "Granting the owner role")
    _check_role_change(call, org, member, None)
    if role_in(call, destination, member["user_id"]) is not None:
        raise conflict(f"User {member['user_id']} is already a member of organization {destination}", "already_member")
    _leave(call, org["id"], member["user_id"])
    return _join(call, destination, member["user_id"], role, team)


@handles("removeOrganizationMember")
def remove_member(call: Call) -> Result:
    """Owners and admins remove members; anyone may leave on their own (the last owner never)."""
    org = visible(call, call.path["org_id"])
    assert call.identity is not None
    if str(call.path["target_user_id"]).lower() != call.identity.user_id:
        require_role(org, MANAGERS, "Removing another member")
    member = _target(call, org["id"])
    _check_role_change(call, org, member, None)
    _leave(call, org["id"], member["user_id"])
    return Result(None)
