"""Load a fixture set (a YAML file in fixtures/) into the store: the demo world, deterministic for the seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mock_server.clock import iso
from mock_server.domains import SEEDERS, Call, World
from mock_server.domains.accounts import create_user
from mock_server.resources import fixtures_dir
from mock_server.security import hash_api_key, make_api_key

ALL_SCOPES = (
    "conversations:read", "conversations:write", "rag:read", "rag:write", "quiz:read", "quiz:write",
    "live:read", "live:write", "organizations:read", "organizations:write", "integrations:read",
    "integrations:write", "xel:read", "xel:write", "api:read", "api:write", "api:admin",
)  # fmt: skip


@dataclass
class Credentials:
    """What a developer needs to log in: shown in the banner and by GET /__mock__/credentials."""

    users: list[dict[str, str]] = field(default_factory=list)
    api_keys: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)  # XP ledger OAuth2 clients


def available() -> list[str]:
    return sorted(p.stem for p in fixtures_dir().glob("*.yaml"))


def load(call: Call, name: str = "demo", seed: int = 0) -> Credentials:
    path: Path = fixtures_dir() / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no fixture set {name!r} (available: {', '.join(available())})")
    world = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    creds = Credentials()
    users: dict[str, dict[str, Any]] = {}
    for spec in world.get("users", []):
        users[spec["username"]] = create_user(call, spec)
        creds.users.append({"username": spec["username"], "password": spec["password"], "role": spec.get("role", "user")})
    orgs: dict[str, dict[str, Any]] = {}
    now = iso(call.clock.now())
    for spec in world.get("organizations", []):
        org = {"id": call.store.new_id(), "name": spec["name"], "slug": spec["slug"],
               "description": spec.get("description"), "created_at": now, "updated_at": now}  # fmt: skip
        orgs[spec["slug"]] = call.store.insert("organizations", org)
        for member in spec.get("members", []):
            call.store.insert("memberships", {
                "organization_id": org["id"], "user_id": users[member["username"]]["id"],
                "role": member["role"], "team": member.get("team"), "joined_at": now,
            })  # fmt: skip
    for spec in world.get("api_keys", []):
        key = make_api_key(call.store.token(64))
        scopes = list(ALL_SCOPES) if spec["scopes"] == "all" else list(spec["scopes"])
        call.store.insert("api_keys", {
            "id": call.store.new_id(), "name": spec["name"], "prefix": key[:11], "key_hash": hash_api_key(key),
            "user_id": users[spec["owner"]]["id"], "organization_id": orgs[spec["organization"]]["id"],
            "scopes": scopes, "allowed_ips": spec.get("allowed_ips", []), "expires_at": spec.get("expires_at"),
            "created_at": now,
        })  # fmt: skip
        limits = {k: spec[k] for k in ("expires_at", "allowed_ips") if spec.get(k)}
        creds.api_keys.append({"name": spec["name"], "owner": spec["owner"], "organization": spec["organization"],
                               "key": key, "scopes": scopes, **limits})  # fmt: skip
    for app in world.get("xp_ledger", {}).get("applications", []):
        creds.applications.append({k: app[k] for k in ("name", "client_id", "client_secret", "scopes")})
    world_view = World(world, users, orgs, seed)
    for seed_domain in SEEDERS:
        seed_domain(call, world_view)
    return creds
