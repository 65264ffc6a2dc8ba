"""Domain behaviour, one module per docs group, registered by operationId.

A handler receives a `Call` (validated input, the caller's identity, the store and the clock) and returns the
response body (or a `Result` for another status). It never parses the spec and never builds HTTP errors by hand:
it raises `ApiError` (see mock_server.errors). Operations without a handler are answered by the generator.

A domain module may also declare its tables (`tables(ddl)`, created at startup) and a seeder (`@seeder`) that adds
its part of the demo world after the users, organizations and API keys of the fixture set exist.
Every module in this package is loaded; nothing else needs registering. The decorators fill one `Registry`
(mock_server.registry), which `load_domains()` returns: the runtime hands it to the pipeline, store, fixture loader
and world cache, so nothing outside this package reads its globals.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from mock_server.errors import not_found
from mock_server.registry import Call, CopyHook, Handler, Knob, Registry, Result, Seeder, World
from mock_server.store import Store

__all__ = [
    "REGISTRY",
    "Call",
    "Handler",
    "Result",
    "Seeder",
    "World",
    "handles",
    "load_domains",
    "on_copy",
    "own_row",
    "seeder",
    "setting",
    "tables",
]

REGISTRY = Registry()  # filled by the decorators below as each domain module is imported


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        REGISTRY.handlers[operation_id] = fn
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
    if ddl not in REGISTRY.schemas:
        REGISTRY.schemas.append(ddl)


def setting(name: str, description: str, get: Callable[[Store], Any], set: Callable[[Store, Any], None]) -> None:
    """Expose a run-time `Knob` under `name` (GET/PUT /__mock__/settings)."""
    REGISTRY.knobs[name] = Knob(description, get, set)


def on_copy(fn: CopyHook) -> CopyHook:
    """Run `fn(store)` after a seeded world is copied into a new store (mock_server.worlds): for state a domain keeps
    outside the main database, which a copy does not carry (the search index lives in TEMP)."""
    if fn not in REGISTRY.copy_hooks:
        REGISTRY.copy_hooks.append(fn)
    return fn


def seeder(fn: Seeder) -> Seeder:
    if fn not in REGISTRY.seeders:
        REGISTRY.seeders.append(fn)
    return fn


def load_domains() -> Registry:
    """Import every module of this package (each registers itself) and return what they registered."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
    return REGISTRY
