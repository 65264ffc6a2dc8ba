"""What the engine and the domains agree on: the `Call` a handler receives, the `Result` it may return, the `World`
a seeder gets, the `Knob`s a domain exposes, and the `Registry` that holds them all.

This module knows no domain. The domains package fills one `Registry` through its decorators (`handles`, `tables`,
`seeder`, `setting`, `on_copy`) and hands it out from `load_domains()`; the runtime passes it on to the pipeline
(handlers), the store (tables), the fixture loader (seeders), the world cache (copy hooks) and the control API
(knobs). Nothing reads a module global of the domains package, so the pipeline never imports a domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mock_server.clock import Clock
from mock_server.security import Identity, Tokens
from mock_server.spec import Spec
from mock_server.store import Store


@dataclass
class Call:
    """What a handler receives: validated input, the caller's identity, the store and the clock."""

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
    """A handler's result when it is not simply the success body: another status, or no body."""

    body: Any = None
    status: int | None = None


@dataclass(frozen=True)
class World:
    """What a seeder gets: the fixture set's YAML and the users already created from it."""

    data: dict[str, Any]
    users: dict[str, dict[str, Any]]  # by username
    seed: int


Handler = Callable[[Call], Any]
Seeder = Callable[[Call, World], None]
CopyHook = Callable[[Store], None]


@dataclass(frozen=True)
class Knob:
    """A value a domain lets tests change at run time, through `/__mock__/settings/<name>` (e.g. the XP ledger's
    processing delay). Kept in the store, so a reset restores the fixture's value. `set` raises ValueError for a
    value it refuses."""

    description: str
    get: Callable[[Store], Any]
    set: Callable[[Store, Any], None]


@dataclass
class Registry:
    """Every domain's contributions, in registration order: handlers by operationId, table DDL, seeders of the demo
    world, run-time knobs by name, and hooks that rebuild out-of-database state after a world is copied."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    schemas: list[str] = field(default_factory=list)  # idempotent DDL (CREATE ... IF NOT EXISTS)
    seeders: list[Seeder] = field(default_factory=list)
    knobs: dict[str, Knob] = field(default_factory=dict)
    copy_hooks: list[CopyHook] = field(default_factory=list)

    def handlers_for(self, specs: Iterable[Spec]) -> dict[str, Handler]:
        """The handlers of the operations these specs declare (another API's handlers stay out of the pipeline)."""
        declared = {op_id for spec in specs for op_id in spec.by_id}
        return {op_id: handler for op_id, handler in self.handlers.items() if op_id in declared}
