"""SQLite state: in memory by default, a file when asked (WAL, one transaction per request).

The identity tables that security needs (users, tokens, organizations, memberships, API keys) are here; each domain
module declares its own tables beside its handlers (`domains.tables`). Ids come from a generator seeded by `--seed`,
so the same seed and the same requests give the same ids. A state file reopened later gets a fresh id stream (seeded
by the seed and a boot counter kept in the file), so ids never repeat across restarts, whatever was deleted.

Reads (`one`, `all`, `count`) are answered from a small cache while no row has changed since they were run
(`version`: SQLite's count of changed rows on the connection, plus rollbacks and copies into the store, plus, for a
file, commits by other connections). A frontend reads far more than it writes, and the same few queries (the
caller's user row, a list) run on every page; any write, rolled back or not, empties the cache. The cache holds only
what the same query would read again, since the mock's SQL uses no clock or random function (the clock's instants
are parameters). Callers get copies, so they may change what they got.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from mock_server.ids import seeded_uuid

READ_CACHE_ENTRIES = 512  # queries kept per store; the cache is emptied when full
READ_CACHE_ROWS = 200  # longer answers are not kept (copying them would cost what reading them does)
READ_CACHE_BYTES = 4 * 1024 * 1024  # text and blobs kept in all (an answer over a sixteenth of it is not kept)
_MISSING = object()

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    full_name TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    role TEXT NOT NULL DEFAULT 'user',
    plan TEXT NOT NULL DEFAULT 'free',
    nickname TEXT,
    created_at TEXT NOT NULL
);
-- Every issued refresh token; `used_at` makes rotation one-shot, `revoked_at` ends it at logout.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_jti TEXT NOT NULL,
    sid TEXT NOT NULL DEFAULT '',
    expires_at REAL NOT NULL,
    used_at REAL,
    revoked_at REAL
);
-- Access tokens revoked before they expire.
CREATE TABLE IF NOT EXISTS revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
-- Login sessions (token families): every access and refresh token of one login carries its `sid`. Logout and a
-- reused refresh token revoke the whole family.
CREATE TABLE IF NOT EXISTS revoked_sessions (
    sid TEXT PRIMARY KEY,
    revoked_at REAL NOT NULL
);
-- The mock's own bookkeeping, never cleared by a reset: boot counter, reset epoch, signing secret, credentials.
CREATE TABLE IF NOT EXISTS mock_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    team TEXT,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
-- API keys are stored as a SHA-256 hash of the full key; `prefix` is what lists show.
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    allowed_ips TEXT NOT NULL DEFAULT '[]',
    expires_at TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT
);
"""


@cache
def _empty_database(scripts: tuple[str, ...]) -> sqlite3.Connection:
    """An in-memory database holding only the tables of `scripts`, built once per process. A new in-memory store
    starts as a copy of its main schema (the backup API copies no temp schema: the search indexes are created after),
    which halves what a store costs to open (2.8 -> 1.5 ms); every test's mock opens at least one."""
    empty = sqlite3.connect(":memory:", check_same_thread=False)
    for ddl in scripts:
        empty.executescript(ddl)
    return empty


class Store:
    def __init__(self, path: str | Path | None = None, seed: int = 0, schemas: list[str] | None = None) -> None:
        self.path = str(path) if path else ":memory:"
        self._in_memory = self.path == ":memory:"
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")  # nothing acknowledged is lost on kill -9
        scripts = (SCHEMA, *(schemas or []))
        if self._in_memory:
            _empty_database(scripts).backup(self.db)
        for ddl in scripts:  # every statement is IF NOT EXISTS: what is there stays, the temp schema is created
            self.db.executescript(ddl)
        self._uncounted = 0  # copies into the store and rollbacks: they change rows without counting them as changes
        self._reads: dict[tuple[Any, ...], Any] = {}  # (kind, sql, params) -> answer at `_reads_version`
        self._reads_version = -1
        self._reads_bytes = 0
        self.reseed(seed)

    @property
    def version(self) -> int:
        """Moves whenever a row of this store may have changed: every INSERT, UPDATE and DELETE on this connection
        (SQLite's `total_changes`), every rolled-back transaction (which undoes rows without counting), every copy
        into it, and for a file every commit of another connection (`PRAGMA data_version`, in the low 32 bits).
        Equal versions mean equal contents, so what was read at one version may be kept until the version moves."""
        own = self.db.total_changes + self._uncounted
        if self._in_memory:
            return own
        others = int(self.db.execute("PRAGMA data_version").fetchone()[0])
        return own << 32 | others & 0xFFFFFFFF

    # ids -----------------------------------------------------------------------------------------------------
    def reseed(self, seed: int, stream: str = "") -> None:
        self._rng = random.Random(f"xentree-mock-ids:{seed}{stream}")

    def next_boot(self, seed: int) -> int:
        """Count this start of a reused state file and move ids to that boot's own stream."""
        boot = int(self.meta("boots") or 0) + 1
        self.set_meta("boots", str(boot))
        self.reseed(seed, f":boot{boot}")
        return boot

    def copy_from(self, other: Store) -> None:
        """Become a copy of `other`: every table of its main database and the position of its id stream."""
        other.db.backup(self.db)
        self._uncounted += 1
        self._rng.setstate(other._rng.getstate())

    # the mock's bookkeeping ------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM mock_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO mock_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
            (key, value, value),
        )

    def new_id(self) -> str:
        return seeded_uuid(self._rng)

    def token(self, nbytes: int) -> bytes:
        return self._rng.randbytes(nbytes)

    # transactions ----------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, commit_on: Callable[[BaseException], bool] | None = None) -> Iterator[None]:
        """One transaction per request: all of a handler's writes land, or none do (unless `commit_on` says an
        exception is a refusal whose writes must land, like revoking a leaked token family)."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException as exc:
            self._uncounted += 1  # a ROLLBACK undoes rows without counting a change: the version must move anyway
            self.db.execute("COMMIT" if commit_on is not None and commit_on(exc) else "ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # queries ---------------------------------------------------------------------------------------------------
    def _reads_now(self) -> dict[tuple[Any, ...], Any]:
        """The kept answers, emptied first when a row may have changed since they were read."""
        version = self.version
        if version != self._reads_version:
            self._reads.clear()
            self._reads_bytes = 0
            self._reads_version = version
        return self._reads

    def _keep(self, key: tuple[Any, ...], answer: Any, rows: list[dict[str, Any]], read_at: int) -> None:
        """Keep an answer read when the cache was at version `read_at`; not if another caller (a thread) has moved
        the cache to a newer version meanwhile, which the answer might not belong to."""
        if read_at != self._reads_version:
            return
        size = sum(len(v) for row in rows for v in row.values() if isinstance(v, (str, bytes)))
        if size > READ_CACHE_BYTES // 16:
            return
        if len(self._reads) >= READ_CACHE_ENTRIES or self._reads_bytes + size > READ_CACHE_BYTES:
            self._reads.clear()
            self._reads_bytes = 0
        self._reads[key] = answer
        self._reads_bytes += size

    def _read(
        self,
        kind: str,
        sql: str,
        params: tuple[Any, ...],
        fetch: Callable[[], Any],
        rows: Callable[[Any], list[dict[str, Any]] | None],
    ) -> Any:
        """The kept answer of this query, else `fetch()`, kept unless `rows(answer)` is None (too long to keep)."""
        key = (kind, sql, params)
        try:
            kept = self._reads_now().get(key, _MISSING)
        except TypeError:  # an unhashable parameter: read, not kept
            return fetch()
        if kept is _MISSING:
            read_at = self._reads_version
            kept = fetch()
            kept_rows = rows(kept)
            if kept_rows is not None:
                self._keep(key, kept, kept_rows, read_at)
        return kept

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        def fetch() -> dict[str, Any] | None:
            row = self.db.execute(sql, params).fetchone()
            return dict(row) if row else None

        kept = self._read("one", sql, params, fetch, lambda row: [row] if row else [])
        return dict(kept) if kept is not None else None

    def count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """The integer a `SELECT COUNT(*) ...` query answers."""

        def fetch() -> int:
            return int(self.db.execute(sql, params).fetchone()[0])

        return int(self._read("count", sql, params, fetch, lambda _: []))

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        def fetch() -> list[dict[str, Any]]:
            return [dict(r) for r in self.db.execute(sql, params).fetchall()]

        kept = self._read("all", sql, params, fetch, lambda rows: rows if len(rows) <= READ_CACHE_ROWS else None)
        return [dict(r) for r in kept]

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self.db.execute(sql, params).rowcount

    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        values = tuple(json.dumps(v) if isinstance(v, (list, dict)) else v for v in row.values())
        self.db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)
        return row

    # inspection and reset --------------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """The domain tables, virtual ones (FTS5) included; never their shadow tables, which only the virtual
        table itself may change (deleting from them directly corrupts the index), nor the mock's own `mock_meta`."""
        rows = self.db.execute(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual')"
            " AND name NOT LIKE 'sqlite_%' AND name != 'mock_meta' ORDER BY name"
        ).fetchall()
        return [r["name"] for r in rows]

    def counts(self) -> dict[str, int]:
        return {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in self.tables()}

    def dump(self, table: str, limit: int = 100) -> list[dict[str, Any]]:
        if table not in self.tables():
            raise KeyError(table)
        return self.all(f"SELECT * FROM {table} LIMIT ?", (limit,))

    def clear(self) -> None:
        with self.transaction():
            self.db.execute("PRAGMA defer_foreign_keys = ON")
            for table in self.tables():
                self.db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        self.db.close()
