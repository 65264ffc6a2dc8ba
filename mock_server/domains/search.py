"""Search: SQLite FTS5 full-text search over the caller's conversations (titles), messages and notes (title,
content, tags), plus the admin status and reindex operations.

The index is one FTS5 table per collection in the connection's TEMP schema (porter stemming, unicode61 with
diacritics removed), kept in sync by TEMP triggers on the source tables: every insert, update and delete (including
cascades, e.g. a deleted conversation's messages) updates it in the same transaction. Living in TEMP keeps the index
out of the store's table list, so resets, counts and dumps never touch FTS5's shadow tables; a collection whose size
differs from its table (e.g. a state file reopened: TEMP starts empty) is rebuilt before a search or status reads it.

Query: the words of `q` (runs of letters and digits; everything else, FTS5 syntax included, is a separator) become
quoted FTS5 phrases joined by AND, the last one a prefix (`"learn" "pla"*`); a `q` without words finds nothing.
Ranking: bm25 (weights title 3, content 1, tags 2 for notes), best first, ties newest first. `score` is the match's
bm25 relevance relative to the best match of its list (the best scores 1.0). Snippets: up to 12 tokens around the
match, "..." where text was cut, no highlight markers. Only the caller's documents are searched.

Reindex (admin): rebuilds the listed collections (all when omitted) from their tables. Without `force` a collection
that looks up to date (FTS5 integrity check passes and its size equals its table's) is skipped; the answer lists the
rebuilt collections only. Status (admin) reports per-collection sizes, health (integrity checks) and the last
rebuild that rebuilt anything.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, handles, on_copy, tables
from mock_server.domains import conversations as _conversations  # noqa: F401  (their tables come first: triggers)
from mock_server.domains import notes as _notes  # noqa: F401
from mock_server.store import Store

ENGINE = "sqlite-fts5"
TOKENIZER = "porter unicode61 remove_diacritics 2"
WORDS = re.compile(r"[^\W_]+")
MAX_TERMS = 32
SNIPPET_TOKENS = 12
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class Collection:
    """One searchable collection: its source table, and each indexed column with its SQL (row alias `{r}`)."""

    name: str
    source: str
    columns: tuple[tuple[str, str, float], ...]  # (column, expression, bm25 weight)

    @property
    def fts(self) -> str:
        return f"{self.name}_fts"

    def values(self, row: str) -> str:
        return ", ".join(expr.format(r=row) for _, expr, _ in self.columns)

    @property
    def column_names(self) -> str:
        return ", ".join(c for c, _, _ in self.columns)

    @property
    def weights(self) -> str:
        return ", ".join(["0.0", *(str(w) for _, _, w in self.columns)])  # 0.0: the unindexed user_id


TAGS = "(SELECT COALESCE(group_concat(value, ' '), '') FROM json_each({r}.tags))"
COLLECTIONS = (
    Collection("conversations", "conversations", (("title", "{r}.title", 1.0),)),
    Collection("messages", "messages", (("content", "{r}.content", 1.0),)),
    Collection("notes", "notes", (("title", "{r}.title", 3.0), ("content", "{r}.content", 1.0), ("tags", TAGS, 2.0))),
)
BY_NAME = {c.name: c for c in COLLECTIONS}


def _ddl(c: Collection) -> str:
    insert = f"INSERT INTO {c.fts} (rowid, user_id, {c.column_names}) VALUES (new.seq, new.user_id, {c.values('new')});"
    delete = f"DELETE FROM {c.fts} WHERE rowid = old.seq;"
    return f"""
CREATE VIRTUAL TABLE IF NOT EXISTS temp.{c.fts} USING fts5(user_id UNINDEXED, {c.column_names}, tokenize='{TOKENIZER}');
CREATE TEMP TRIGGER IF NOT EXISTS {c.fts}_insert AFTER INSERT ON main.{c.source} BEGIN {insert} END;
CREATE TEMP TRIGGER IF NOT EXISTS {c.fts}_delete AFTER DELETE ON main.{c.source} BEGIN {delete} END;
CREATE TEMP TRIGGER IF NOT EXISTS {c.fts}_update AFTER UPDATE OF {c.column_names}, user_id ON main.{c.source}
BEGIN {delete} {insert} END;
"""


for _collection in COLLECTIONS:
    tables(_ddl(_collection))
tables("""
-- Rebuilds that rebuilt at least one collection (GET /api/core/search/status reports the last one).
CREATE TABLE IF NOT EXISTS search_reindexes (
    id TEXT PRIMARY KEY,
    collections TEXT NOT NULL,  -- JSON: [{"name", "indexed"}]
    total_indexed INTEGER NOT NULL,
    reindexed_at TEXT NOT NULL,
    ts REAL NOT NULL
);
""")


# index maintenance -------------------------------------------------------------------------------------------------
def indexed(store: Store, c: Collection) -> int:
    row = store.one(f"SELECT COUNT(*) AS n FROM temp.{c.fts}")
    return int(row["n"]) if row else 0


def stored(store: Store, c: Collection) -> int:
    row = store.one(f"SELECT COUNT(*) AS n FROM main.{c.source}")
    return int(row["n"]) if row else 0


def intact(store: Store, c: Collection) -> bool:
    try:
        store.run(f"INSERT INTO temp.{c.fts} ({c.fts}) VALUES ('integrity-check')")
    except sqlite3.DatabaseError:
        return False
    return True


def rebuild(store: Store, c: Collection) -> int:
    """Refill a collection from its table; returns the documents indexed."""
    store.run(f"DELETE FROM temp.{c.fts}")
    store.run(
        f"INSERT INTO temp.{c.fts} (rowid, user_id, {c.column_names}) "
        f"SELECT s.seq, s.user_id, {c.values('s')} FROM main.{c.source} AS s"
    )
    return indexed(store, c)


@on_copy
def rebuild_all(store: Store) -> None:
    """After a world was copied in: the TEMP index still holds the previous world's documents."""
    for c in COLLECTIONS:
        rebuild(store, c)


def ensure_index(store: Store) -> None:
    """Rebuild any collection whose size differs from its table (the triggers keep it equal once built)."""
    for c in COLLECTIONS:
        if indexed(store, c) != stored(store, c):
            rebuild(store, c)


# querying ----------------------------------------------------------------------------------------------------------
def match_expression(q: str) -> str | None:
    """User text as an FTS5 query that cannot be a syntax error: quoted word phrases, AND-ed, the last a prefix."""
    words = WORDS.findall(q)[:MAX_TERMS]
    if not words:
        return None
    return " ".join(f'"{w}"' for w in words) + "*"


def _hits(call: Call, c: Collection, match: str, limit: int, snippet_column: int) -> list[dict[str, Any]]:
    return call.store.all(
        f"SELECT rowid AS seq, bm25({c.fts}, {c.weights}) AS relevance, "
        f"snippet({c.fts}, {snippet_column}, '', '', '...', {SNIPPET_TOKENS}) AS snippet "
        f"FROM temp.{c.fts} WHERE {c.fts} MATCH ? AND user_id = ? ORDER BY relevance, rowid DESC LIMIT ?",
        (match, call.user_id, limit),
    )


def _scored(hits: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """bm25 is negative, lower is better: relevance = -bm25, relative to the list's best match."""
    best = max((-h["relevance"] for h in hits), default=0.0)
    return [(h, round(-h["relevance"] / best, 4) if best > 0 else 1.0) for h in hits]


def _rows(call: Call, table: str, columns: str, hits: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    if not hits:
        return {}
    marks = ", ".join("?" for _ in hits)
    rows = call.store.all(
        f"SELECT seq, {columns} FROM {table} WHERE seq IN ({marks}) AND user_id = ?",
        (*(h["seq"] for h in hits), call.user_id),
    )
    return {r["seq"]: r for r in rows}


def search_conversations(call: Call, match: str, limit: int) -> list[dict[str, Any]]:
    hits = _hits(call, BY_NAME["conversations"], match, limit, 1)
    rows = _rows(call, "conversations", "id, title", hits)
    return [
        {
            "conversation_id": rows[h["seq"]]["id"],
            "title": rows[h["seq"]]["title"],
            "score": score,
            "snippet": h["snippet"],
        }
        for h, score in _scored(hits)
        if h["seq"] in rows
    ]


def search_messages(call: Call, match: str, limit: int) -> list[dict[str, Any]]:
    hits = _hits(call, BY_NAME["messages"], match, limit, 1)
    rows = _rows(call, "messages", "id, conversation_id, role, created_at", hits)
    return [
        {
            "message_id": r["id"],
            "conversation_id": r["conversation_id"],
            "role": r["role"],
            "snippet": h["snippet"],
            "score": score,
            "created_at": r["created_at"],
        }
        for h, score in _scored(hits)
        if (r := rows.get(h["seq"]))
    ]


def search_notes(call: Call, match: str, limit: int) -> list[dict[str, Any]]:
    hits = _hits(call, BY_NAME["notes"], match, limit, -1)
    rows = _rows(call, "notes", "id, title", hits)
    return [
        {"note_id": rows[h["seq"]]["id"], "title": rows[h["seq"]]["title"], "snippet": h["snippet"], "score": score}
        for h, score in _scored(hits)
        if h["seq"] in rows
    ]


@handles("searchUserContent")
def search(call: Call) -> dict[str, Any]:
    q: str = call.query["q"]
    limit = int(call.query.get("limit") or DEFAULT_LIMIT)
    match = match_expression(q)
    result: dict[str, Any] = {"query": q, "conversations": [], "messages": [], "notes": []}
    if match is not None:
        ensure_index(call.store)
        result |= {
            "conversations": search_conversations(call, match, limit),
            "messages": search_messages(call, match, limit),
            "notes": search_notes(call, match, limit),
        }
    result["total"] = sum(len(result[k]) for k in ("conversations", "messages", "notes"))
    return result


# maintenance (admin) -----------------------------------------------------------------------------------------------
@handles("getSearchStatus")
def status(call: Call) -> dict[str, Any]:
    ensure_index(call.store)
    sizes = [{"name": c.name, "num_documents": indexed(call.store, c)} for c in COLLECTIONS]
    last = call.store.one("SELECT reindexed_at FROM search_reindexes ORDER BY ts DESC, rowid DESC LIMIT 1")
    return {
        "healthy": all(intact(call.store, c) for c in COLLECTIONS),
        "engine": ENGINE,
        "documents_indexed": sum(s["num_documents"] for s in sizes),
        "collections": sizes,
        "last_reindexed_at": last["reindexed_at"] if last else None,
    }


@handles("rebuildSearchIndex")
def reindex(call: Call) -> dict[str, Any]:
    wanted = set(call.body.get("collections") or BY_NAME)
    force = bool(call.body.get("force", False))
    rebuilt: list[dict[str, Any]] = []
    for c in COLLECTIONS:
        if c.name in wanted and (
            force or not (intact(call.store, c) and indexed(call.store, c) == stored(call.store, c))
        ):
            rebuilt.append({"name": c.name, "indexed": rebuild(call.store, c)})
    now = call.clock.now()
    total = sum(r["indexed"] for r in rebuilt)
    if rebuilt:
        call.store.insert(
            "search_reindexes",
            {
                "id": call.store.new_id(),
                "collections": json.dumps(rebuilt),
                "total_indexed": total,
                "reindexed_at": iso(now),
                "ts": now.timestamp(),
            },
        )
    skipped = len(wanted) - len(rebuilt)
    message = (
        f"Search index rebuilt: {len(rebuilt)} collection(s), {total} document(s)"
        if rebuilt
        else "Search index already up to date: nothing rebuilt (send force: true to rebuild anyway)"
    )
    if rebuilt and skipped:
        message += f"; {skipped} already up to date"
    return {"message": message, "collections": rebuilt, "total_indexed": total, "reindexed_at": iso(now)}
