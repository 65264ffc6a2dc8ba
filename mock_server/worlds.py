"""Seeded worlds, built once per process and cloned: loading the demo world (users with scrypt hashes, a year of XP
history) costs a few hundred milliseconds, copying a finished SQLite database with the backup API well under one.

A world depends only on what it was seeded from: the APIs served, the seed, the fixture set (and its file), and the
clock it was seeded at. A frozen clock is part of the key; a running one counts by the UTC hour, as a world seeded
a few minutes earlier is what any test already accepts from a mock started a few minutes earlier. Only in-memory
stores with seed-derived tokens are cloned: a state file is its own world, and a random signing secret must never
be shared between two mocks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

from mock_server.registry import Registry
from mock_server.resources import fixtures_dir
from mock_server.store import Store

MAX_WORLDS = 8
WorldKey = tuple[object, ...]

_worlds: OrderedDict[WorldKey, Store] = OrderedDict()


def key(apis: list[str], seed: int, fixture: str, frozen_at: datetime | None) -> WorldKey:
    when = frozen_at.isoformat() if frozen_at else f"running:{int(time.time() // 3600)}"
    return (tuple(apis), seed, fixture, _stamp(fixture), when)


def _stamp(fixture: str) -> int:
    """The fixture file's modification time: an edited fixture set is a new world."""
    for path in (Path(fixture), fixtures_dir() / f"{fixture}.yaml"):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            return path.stat().st_mtime_ns
    return 0


def restore(world: WorldKey, store: Store, registry: Registry) -> bool:
    """Copy the world into `store` when it was built before, then let the domains rebuild what lives outside the
    database (`registry.copy_hooks`); False when it must be seeded."""
    template = _worlds.get(world)
    if template is None:
        return False
    _worlds.move_to_end(world)
    store.copy_from(template)
    for rebuild in registry.copy_hooks:
        rebuild(store)
    return True


def remember(world: WorldKey, store: Store, registry: Registry) -> None:
    """Keep a copy of a freshly seeded world for the next mock with the same key."""
    template = Store(None, schemas=registry.schemas)
    template.copy_from(store)
    _worlds[world] = template
    while len(_worlds) > MAX_WORLDS:
        _worlds.popitem(last=False)[1].close()
