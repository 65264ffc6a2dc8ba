"""Domain behaviour, one module per docs group, registered by operationId.

A handler receives a `Call` (validated input, the caller's identity, the store and the clock) and returns the
response body (and optionally a status). It never parses the spec and never builds HTTP errors by hand: it raises
`ApiError` (see mock_server.errors). Operations without a handler are answered by the generator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mock_server.clock import Clock
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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        assert self.identity is not None, "handler of a public operation asked for the caller"
        return self.identity.user_id


@dataclass(frozen=True)
class Result:
    """A handler's answer when it is not simply the success body: another status, or no body."""

    body: Any = None
    status: int | None = None


Handler = Callable[[Call], Any]
HANDLERS: dict[str, Handler] = {}
MODULES = ("accounts",)


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[operation_id] = fn
        return fn

    return register


def load_handlers() -> dict[str, Handler]:
    for name in MODULES:
        importlib.import_module(f"mock_server.domains.{name}")
    return HANDLERS
