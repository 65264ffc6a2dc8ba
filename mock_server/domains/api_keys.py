"""API keys (bearer-only management) and the caller's tenants.

Rules (documented in the README):
- Create: the caller must be an owner or admin of the key's organization (403 otherwise, also for an organization
  they do not belong to, so its existence is not revealed). The full key (`xntr-` + 86 URL-safe base64 characters)
  is in the create response only; the store keeps its SHA-256 hash and an 11-character prefix.
- Scopes come from the documented table (the request schema's enum refuses others with 400); `expires_at` must lie
  in the future; `allowed_ips` holds IPv4/IPv6 addresses or CIDR ranges. Authentication (mock_server.security)
  enforces both: an expired key gets 401 `api_key_expired`, a request from an address outside the list 403
  `ip_not_allowed`.
- Visibility: a user sees (and may delete) the keys they created, plus every key of the organizations they own or
  administer. Others' keys answer 404. Deleting revokes at once: the key gets 401 from the next request.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, handles
from mock_server.domains.organizations import MANAGERS, role_in
from mock_server.errors import bad_request, forbidden, not_found
from mock_server.security import hash_api_key, make_api_key

PREFIX_LENGTH = 11  # `xntr-` plus 6 characters, as APIKeyResponse.prefix documents

_VISIBLE = """(k.user_id = ? OR k.organization_id IN
    (SELECT organization_id FROM memberships WHERE user_id = ? AND role IN ('owner', 'admin')))"""


def _response(row: dict[str, Any]) -> dict[str, Any]:
    """The stored row as APIKeyResponse: never the hash, and timestamps in one RFC 3339 style."""
    expires = row["expires_at"]
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"][:PREFIX_LENGTH],
        "scopes": json.loads(row["scopes"]),
        "organization_id": row["organization_id"],
        "created_by": row["user_id"],
        "created_at": row["created_at"],
        "expires_at": iso(parse_instant(str(expires))) if expires else None,
        "allowed_ips": json.loads(row["allowed_ips"]),
        "last_used_at": row["last_used_at"],
    }


def _expiry(call: Call, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        instant = parse_instant(value.upper())  # RFC 3339 allows a lowercase `t` and `z`
    except ValueError as exc:
        raise bad_request(f"body.expires_at: {value!r} is not an RFC 3339 date-time", "invalid_expiry") from exc
    if instant <= call.clock.now():
        raise bad_request(
            f"body.expires_at: {value} is not in the future (now is {iso(call.clock.now())})", "expiry_in_past"
        )
    return iso(instant)


def _networks(entries: list[str]) -> list[str]:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise bad_request(
                f"body.allowed_ips: {entry!r} is not an IPv4/IPv6 address or CIDR range", "invalid_ip_allow_list"
            ) from exc
    return entries


@handles("listApiKeys")
def list_keys(call: Call) -> list[dict[str, Any]]:
    rows = call.store.all(
        f"SELECT k.* FROM api_keys k WHERE {_VISIBLE} ORDER BY k.created_at, k.rowid", (call.user_id, call.user_id)
    )
    return [_response(r) for r in rows]


@handles("createApiKey")
def create_key(call: Call) -> Result:
    body = call.body
    org_id = body["organization_id"].lower()
    role = role_in(call, org_id, call.user_id)
    if role is None:
        raise forbidden(
            f"You are not an owner or admin of organization {org_id} (or it does not exist)", "not_organization_member"
        )
    if role not in MANAGERS:
        raise forbidden(
            f"Creating API keys requires the owner or admin role in the organization; your role is {role}",
            "insufficient_role",
        )
    expires_at = _expiry(call, body.get("expires_at"))
    allowed_ips = _networks(body.get("allowed_ips", []))
    key, key_id = issue_key(call, body["name"], call.user_id, org_id, body["scopes"], allowed_ips, expires_at)
    stored = call.store.one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
    assert stored is not None
    return Result({**_response(stored), "key": key}, 201)


def issue_key(
    call: Call,
    name: str,
    user_id: str,
    organization_id: str,
    scopes: list[str],
    allowed_ips: list[str] | None = None,
    expires_at: str | None = None,
    created_at: str | None = None,
) -> tuple[str, str]:
    """Mint a key for `user_id` in `organization_id` and store only its hash and prefix: the full key (shown once)
    and the row's id. The create handler and the fixture sets both issue keys here, so a seeded key is like one a
    user created."""
    key = make_api_key(call.store.token(64))
    key_id = call.store.new_id()
    row = {
        "id": key_id,
        "name": name,
        "prefix": key[:PREFIX_LENGTH],
        "key_hash": hash_api_key(key),
        "user_id": user_id,
        "organization_id": organization_id,
        "scopes": scopes,
        "allowed_ips": allowed_ips or [],
        "expires_at": expires_at,
        "created_at": created_at or iso(call.clock.now()),
        "last_used_at": None,
    }
    call.store.insert("api_keys", row)
    return key, key_id


@handles("deleteApiKey")
def delete_key(call: Call) -> Result:
    key_id = str(call.path["key_id"]).lower()
    if not call.store.run(
        f"DELETE FROM api_keys AS k WHERE k.id = ? AND {_VISIBLE}", (key_id, call.user_id, call.user_id)
    ):
        raise not_found(f"API key {key_id} not found or not visible")
    return Result(None)


@handles("listTenants")
def list_tenants(call: Call) -> list[dict[str, Any]]:
    return call.store.all(
        "SELECT o.id, o.name, o.slug, m.role FROM organizations o JOIN memberships m ON m.organization_id = o.id"
        " WHERE m.user_id = ? ORDER BY o.name, o.slug",
        (call.user_id,),
    )
