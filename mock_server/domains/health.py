"""Health: a liveness probe and a detailed report (store status, uptime, version, record counts).

Uptime is measured on the mock clock from the moment the demo world was first loaded into this mock (a reset keeps
it), so a frozen clock gives a reproducible report and advancing the clock advances the uptime. A mock reopened from a
state file starts counting at its first health request.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from weakref import WeakKeyDictionary

import mock_server
from mock_server.clock import Clock, iso
from mock_server.domains import Call, World, handles, seeder

REQUIRED_COUNTS = ("users", "organizations", "conversations", "api_keys")  # present even before their tables exist
_started: WeakKeyDictionary[Clock, float] = WeakKeyDictionary()  # one mock = one clock


@seeder
def mark_start(call: Call, world: World) -> None:
    _started.setdefault(call.clock, call.clock.timestamp())


def _uptime(call: Call) -> int:
    started = _started.setdefault(call.clock, call.clock.timestamp())
    return max(0, int(call.clock.timestamp() - started))


def _store_status(call: Call) -> str:
    try:
        call.store.one("SELECT 1")
    except sqlite3.Error:
        return "down"
    return "ok"


def _counts(call: Call) -> dict[str, int]:
    """Rows per table of the store (every domain's tables that exist), plus zeros for the documented kinds."""
    try:
        counts = call.store.counts()
    except sqlite3.Error:
        counts = {}
    return {**dict.fromkeys(REQUIRED_COUNTS, 0), **{t: n for t, n in counts.items() if not t.startswith("sqlite_")}}


def _summary(call: Call, checks: dict[str, str]) -> dict[str, Any]:
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return {"status": status, "version": mock_server.__version__, "time": iso(call.clock.now())}


@handles("getHealth")
def health(call: Call) -> dict[str, Any]:
    return _summary(call, {"store": _store_status(call)})


@handles("getDetailedHealth")
def detailed_health(call: Call) -> dict[str, Any]:
    checks = {"store": _store_status(call)}
    return {**_summary(call, checks), "uptime_seconds": _uptime(call), "checks": checks, "counts": _counts(call)}
