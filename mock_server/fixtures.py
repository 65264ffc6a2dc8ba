"""Load a fixture set into the store: the demo world, deterministic for the seed.

A fixture set is named (`fixtures/<name>.yaml`) or given as a path to a `.yaml`/`.yml` file, so a frontend can be
tried against a world of its own (e.g. one user with `history_days: 7300`, a 20-year learner). The file is read and
checked (`read`) before anything is loaded, so a control request with a broken file leaves the running world as it
was; the messages never quote the file's content.

Per user, besides the account fields: `history_days` (0 to MAX_HISTORY_DAYS; default: a year for the demo user,
none for the others) days of generated XP and learning history ending at the mock clock's now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mock_server.clock import iso
from mock_server.domains.accounts import create_user
from mock_server.domains.api_keys import issue_key
from mock_server.registry import Call, Seeder, World
from mock_server.resources import fixtures_dir, load_yaml, spec_path
from mock_server.spec import load_spec


def all_scopes() -> list[str]:
    """`scopes: all` in a fixture set: every scope the spec's API-key request accepts (its enum), read from the spec."""
    schema = load_spec(spec_path("xentree")).raw["components"]["schemas"]["APIKeyCreateRequest"]
    return list(schema["properties"]["scopes"]["items"]["enum"])


@dataclass
class Credentials:
    """What a developer needs to log in: shown in the banner and by GET /__mock__/credentials."""

    users: list[dict[str, str]] = field(default_factory=list)
    api_keys: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)  # XP ledger OAuth2 clients


MAX_HISTORY_DAYS = 36_600  # a century of generated history per user
YAML_SUFFIXES = (".yaml", ".yml")


class FixtureError(ValueError):
    """A fixture set that exists but cannot be loaded; the message says why without quoting the file."""


def available() -> list[str]:
    return sorted(p.stem for p in fixtures_dir().glob("*.yaml"))


def find(name: str) -> Path | None:
    """The file of a fixture set: `fixtures/<name>.yaml`, or `name` itself when it is a path to a YAML file."""
    if name in available():
        return fixtures_dir() / f"{name}.yaml"
    try:
        path = Path(name).expanduser()
        return path if path.suffix.lower() in YAML_SUFFIXES and path.is_file() else None
    except (OSError, RuntimeError, ValueError):  # an unusable path (NUL byte, unknown ~user, too long) names nothing
        return None


def read(name: str) -> dict[str, Any]:
    """Parse and check a fixture set; FileNotFoundError when there is none by that name or path, else FixtureError
    for a file that is not a loadable world."""
    path = find(name)
    if path is None:
        raise FileNotFoundError(
            f"no fixture set {name!r} (available: {', '.join(available())}, or a path to a "
            f"{'/'.join(YAML_SUFFIXES)} file)"
        )
    try:
        world = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FixtureError(f"{path.name}: not a readable YAML file in UTF-8 ({type(exc).__name__})") from None
    world = {} if world is None else world
    if not isinstance(world, dict):
        raise FixtureError(f"{path.name}: a fixture set is a mapping (users, organizations, api_keys, ...)")
    users = world.get("users", [])
    if not isinstance(users, list) or not all(
        isinstance(u, dict) and isinstance(u.get("username"), str) for u in users
    ):
        raise FixtureError(f"{path.name}: `users` must be a list of mappings, each with a username")
    for user in users:
        days = user.get("history_days", 0)
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_HISTORY_DAYS:
            raise FixtureError(
                f"{path.name}: user {user['username'][:100]!r}: history_days must be a whole number "
                f"of days from 0 to {MAX_HISTORY_DAYS}"
            )
    return world


def load(call: Call, name: str, seed: int, seeders: list[Seeder]) -> Credentials:
    """Load the fixture set `name`: users, organizations and API keys here, then each domain's part (`seeders`)."""
    world = read(name)
    creds = Credentials()
    users: dict[str, dict[str, Any]] = {}
    for entry in world.get("users", []):
        users[entry["username"]] = create_user(call, entry)
        creds.users.append(
            {"username": entry["username"], "password": entry["password"], "role": entry.get("role", "user")}
        )
    orgs: dict[str, dict[str, Any]] = {}
    now = iso(call.clock.now())
    for entry in world.get("organizations", []):
        org = {
            "id": call.store.new_id(),
            "name": entry["name"],
            "slug": entry["slug"],
            "description": entry.get("description"),
            "created_at": now,
            "updated_at": now,
        }
        orgs[entry["slug"]] = call.store.insert("organizations", org)
        for member in entry.get("members", []):
            call.store.insert(
                "memberships",
                {
                    "organization_id": org["id"],
                    "user_id": users[member["username"]]["id"],
                    "role": member["role"],
                    "team": member.get("team"),
                    "joined_at": now,
                },
            )
    for entry in world.get("api_keys", []):
        scopes = all_scopes() if entry["scopes"] == "all" else list(entry["scopes"])
        owner, organization = users[entry["owner"]]["id"], orgs[entry["organization"]]["id"]
        limits = {k: entry[k] for k in ("expires_at", "allowed_ips") if entry.get(k)}
        key, _ = issue_key(call, entry["name"], owner, organization, scopes, **limits, created_at=now)
        creds.api_keys.append(
            {
                "name": entry["name"],
                "owner": entry["owner"],
                "organization": entry["organization"],
                "key": key,
                "scopes": scopes,
                **limits,
            }
        )
    for app in world.get("xp_ledger", {}).get("applications", []):
        creds.applications.append({k: app[k] for k in ("name", "client_id", "client_secret", "scopes")})
    world_view = World(world, users, seed)
    for seed_domain in seeders:
        seed_domain(call, world_view)
    return creds
