"""Domain behaviour, one module per docs group, registered by operationId.

A handler receives a `Call` (validated input, the caller's identity, the store and the clock) and returns the
response body (or a `Result` for another status). It never parses the spec and never builds HTTP errors by hand:
it raises `ApiError` (see mock_server.errors). Operations without a handler are answered by the generator.

A domain module may also declare its tables (`tables(ddl)`, created at startup) and a seeder (`@seeder`) that adds
its part of the demo world after the users, organizations and API keys of the fixture set exist.
Every module in this package is loaded; nothing else needs registering.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mock_server.clock import Clock
from mock_server.errors import not_found
from mock_server.security import Identity, Tokens
from mock_server.store import Store


@dataclass
class Call:
    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, Any]
    body: Any
    identity: Identity | None
    store: Store
    clock: Clock
    tokens: Tokens
    client: str | None = None
    basic: tuple[str, str] | None = None  # `Authorization: Basic` id and secret, for operations that take Basic
    seed: int = 0  # the mock's --seed: what generated content (chat replies, ...) is deterministic for

    @property
    def user_id(self) -> str:
        assert self.identity is not None, "handler of a public operation asked for the caller"
        return self.identity.user_id


@dataclass(frozen=True)
class Result:
    """A handler's answer when it is not simply the success body: another status, or no body."""

    body: Any = None
    status: int | None = None


@dataclass(frozen=True)
class World:
    """What a seeder gets: the fixture set's YAML, and the users and organizations already created from it."""

    data: dict[str, Any]
    users: dict[str, dict[str, Any]]  # by username
    organizations: dict[str, dict[str, Any]]  # by slug
    seed: int


Handler = Callable[[Call], Any]
Seeder = Callable[[Call, World], None]


@dataclass(frozen=True)
class Setting:
    """A knob a domain exposes at run time through `/__mock__/settings/<name>` (e.g. the XP ledger's processing
    delay). `set` raises ValueError for a value it refuses."""

    description: str
    get: Callable[[Store], Any]
    set: Callable[[Store, Any], None]


HANDLERS: dict[str, Handler] = {}
SCHEMAS: list[str] = []
SEEDERS: list[Seeder] = []
SETTINGS: dict[str, Setting] = {}
COPY_HOOKS: list[Callable[[Store], None]] = []


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[operation_id] = fn
        return fn

    return register


def own_row(call: Call, table: str, row_id: Any, missing: str) -> dict[str, Any]:
    """The caller's row of `table`, or 404 with `missing`: another user's object is "not found or not visible"."""
    row = call.store.one(f"SELECT * FROM {table} WHERE id = ? AND user_id = ?", (row_id, call.user_id))
    if row is None:
        raise not_found(missing)
    return row


def tables(ddl: str) -> None:
    """Declare a domain's tables (idempotent DDL: CREATE ... IF NOT EXISTS)."""
    if ddl not in SCHEMAS:
        SCHEMAS.append(ddl)


def setting(name: str, description: str, get: Callable[[Store], Any], set: Callable[[Store, Any], None]) -> None:
    SETTINGS[name] = Setting(description, get, set)


def on_copy(fn: Callable[[Store], None]) -> Callable[[Store], None]:
    """Run `fn(store)` after a seeded world is copied into a new store (mock_server.worlds): for state a domain keeps
    outside the main database, which a copy does not carry (the search index lives in TEMP)."""
    if fn not in COPY_HOOKS:
        COPY_HOOKS.append(fn)
    return fn


def seeder(fn: Seeder) -> Seeder:
    if fn not in SEEDERS:
        SEEDERS.append(fn)
    return fn


def load_domains() -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
