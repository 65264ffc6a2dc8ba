"""Answers of the XP views kept until something they read can change, with their JSON already encoded.

A frontend opens the same views on every page; between two activities their answers only change at a local
midnight or when a booster starts or ends. So a view's answer is kept (per process, LRU) with:
- the user's aggregate `version` (xp_totals.version: a fresh number from a process-wide counter with a random start
  at every write of the ledger, boosters or token spends, and at every rebuild, so a reset, a rebuild or another
  store never meets an old number; a rolled-back write rolls its version back together with its data),
- the user's row fields the views show or bucket by (username, full name, zone, joined),
- the interval of clock instants it holds for: from the later of today's local midnight, the newest ledger row and
  the last booster boundary, to the earlier of the next local midnight and the next booster boundary.
Nothing is kept while rows dated after now exist (the clock was moved back) or the aggregates need a rebuild: those
reads are computed afresh. At most CACHE_BYTES of encoded answers are kept (least recently read dropped first).
The encoded bytes are what the pipeline would have produced (`json_bytes`, see pipeline._render); strict mode still
validates the body, which is the same dict.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mock_server.clock import parse_instant
from mock_server.domains import Call
from mock_server.domains.xp_aggregates import day_start, local_day, micros, zone

CACHE_BYTES = 8 * 1024 * 1024  # encoded bytes kept (the dicts beside them cost a few times more); LRU beyond


class Encoded(dict):  # type: ignore[type-arg]
    """A response body that carries its JSON encoding (`json_bytes`); treated as read-only."""

    json_bytes: bytes


@dataclass(frozen=True)
class Entry:
    version: int
    user: tuple[Any, ...]
    low: int  # micros(): valid for low <= now < high
    high: int
    body: Encoded


_cache: OrderedDict[tuple[Hashable, ...], Entry] = OrderedDict()
_kept_bytes = 0


def encoded(body: dict[str, Any]) -> Encoded:
    out = Encoded(body)
    out.json_bytes = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return out


def cached_view(call: Call, user_id: str, view: str, compute: Callable[[], dict[str, Any]], *params: Hashable) -> Any:
    """`compute()`, or its answer kept from an earlier read that is still exactly right (module docstring)."""
    row = call.store.one(
        "SELECT u.username, u.full_name, u.timezone, u.created_at, t.tz, t.version, t.latest "
        "FROM users u LEFT JOIN xp_totals t ON t.user_id = u.id WHERE u.id = ?",
        (user_id,),
    )
    now_at = call.clock.now()
    now = micros(now_at)
    if row is None or row["version"] is None or row["tz"] != zone(row["timezone"]).key or row["latest"] > now:
        return compute()
    key = (id(call.store), user_id, view, *params)
    user = (row["username"], row["full_name"], row["timezone"], row["created_at"])
    entry = _cache.get(key)
    if entry and entry.version == row["version"] and entry.user == user and entry.low <= now < entry.high:
        _cache.move_to_end(key)
        return entry.body
    body = encoded(compute())
    after = call.store.one("SELECT version FROM xp_totals WHERE user_id = ?", (user_id,))
    if after is None or after["version"] != row["version"]:  # compute wrote (a rebuild): keep nothing
        return body
    low, high = _window(call, user_id, now_at, row["timezone"], row["latest"])
    _keep(key, Entry(row["version"], user, low, high, body))
    return body


def _keep(key: tuple[Hashable, ...], entry: Entry) -> None:
    """Keep `entry` under `key`, dropping the least recently read answers beyond CACHE_BYTES."""
    global _kept_bytes
    old = _cache.pop(key, None)
    _kept_bytes += len(entry.body.json_bytes) - (len(old.body.json_bytes) if old else 0)
    _cache[key] = entry
    while _kept_bytes > CACHE_BYTES and len(_cache) > 1:
        _, dropped = _cache.popitem(last=False)
        _kept_bytes -= len(dropped.body.json_bytes)


def _window(call: Call, user_id: str, now: datetime, timezone: str, latest: int) -> tuple[int, int]:
    """The clock instants for which nothing a view reads changes: within today, after the newest row, between
    booster boundaries."""
    tz = zone(timezone)
    today = local_day(now, tz)
    low, high = max(micros(day_start(today, tz)), latest), micros(day_start(today + timedelta(days=1), tz))
    for b in call.store.all("SELECT starts_at, ends_at FROM xp_boosters WHERE user_id = ?", (user_id,)):
        for edge in (micros(parse_instant(b["starts_at"])), micros(parse_instant(b["ends_at"]))):
            if edge <= micros(now):
                low = max(low, edge)
            else:
                high = min(high, edge)
    return low, high
