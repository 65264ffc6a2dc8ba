"""The knowledge base's tables and its documents: storing a document with its chunks in the FTS5 index, and the
upload and list operations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, Result, handles, tables
from mock_server.domains.knowledge.chunking import chunk, clean_filename, decode, media_type
from mock_server.errors import bad_request
from mock_server.store import Store
from mock_server.validation import UploadedFile

tables("""
CREATE TABLE IF NOT EXISTS rag_documents (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    title TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rag_documents_user ON rag_documents (user_id, created_at);
CREATE TABLE IF NOT EXISTS rag_chunks (
    seq INTEGER PRIMARY KEY,             -- the chunk's rowid in the FTS5 index
    id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rag_chunks_document ON rag_chunks (document_id, chunk_index);
CREATE VIRTUAL TABLE IF NOT EXISTS temp.rag_fts USING fts5(text, tokenize = 'porter unicode61');
""")


# the index ---------------------------------------------------------------------------------------------------------
def sync_index(store: Store) -> None:
    """Rebuild the TEMP FTS5 index from rag_chunks when the two disagree (fresh connection on a state file, or
    rows deleted through cascades)."""
    indexed = store.one("SELECT COUNT(*) AS n FROM temp.rag_fts")
    stored = store.one("SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS top FROM rag_chunks")
    top = store.one("SELECT COALESCE(MAX(rowid), 0) AS top FROM temp.rag_fts")
    if indexed and stored and top and (indexed["n"], top["top"]) == (stored["n"], stored["top"]):
        return
    store.run("DELETE FROM temp.rag_fts")
    store.run("INSERT INTO temp.rag_fts (rowid, text) SELECT seq, text FROM rag_chunks")


def store_document(
    store: Store,
    new_id: Callable[[], str],
    user_id: str,
    filename: str,
    title: str,
    kind: str,
    size: int,
    texts: list[str],
    created: datetime,
) -> dict[str, Any]:
    """Insert a document and its chunks, and index the chunks (also used by the seeder)."""
    doc = {
        "id": new_id(),
        "user_id": user_id,
        "filename": filename,
        "title": title,
        "content_type": kind,
        "size_bytes": size,
        "chunks": len(texts),
        "created_at": iso(created),
    }
    store.insert("rag_documents", doc)
    for index, text in enumerate(texts):
        cur = store.db.execute(
            "INSERT INTO rag_chunks (id, document_id, user_id, chunk_index, text) VALUES (?, ?, ?, ?, ?)",
            (new_id(), doc["id"], user_id, index, text),
        )
        store.run("DELETE FROM temp.rag_fts WHERE rowid = ?", (cur.lastrowid,))  # a leftover of a reset store
        store.run("INSERT INTO temp.rag_fts (rowid, text) VALUES (?, ?)", (cur.lastrowid, text))
    return doc


def document_view(doc: dict[str, Any], id_key: str = "id") -> dict[str, Any]:
    return {
        id_key: doc["id"],
        "filename": doc["filename"],
        "title": doc["title"],
        "content_type": doc["content_type"],
        "size_bytes": doc["size_bytes"],
        "chunks": doc["chunks"],
        "status": "indexed",
        "created_at": doc["created_at"],
    }


# documents ---------------------------------------------------------------------------------------------------------
@handles("uploadKnowledgeBaseDocument")
def upload(call: Call) -> Result:
    part = call.body["file"]
    if isinstance(part, UploadedFile):
        raw_name, declared, content = part.filename, part.content_type, part.content
    else:  # a plain form field instead of a file part: its text is the document
        raw_name, declared, content = "", "text/plain", str(part).encode()
    kind = media_type(raw_name, declared)
    filename = clean_filename(raw_name, kind)
    texts = chunk(decode(content), kind)
    if not texts:
        raise bad_request("body.file: the document has no text to index", "empty_document")
    title = " ".join(str(call.body.get("title") or "").split()) or filename
    doc = store_document(
        call.store, call.store.new_id, call.user_id, filename, title, kind, len(content), texts, call.clock.now()
    )
    return Result(document_view(doc, "document_id"), 201)


@handles("listKnowledgeBaseDocuments")
def list_documents(call: Call) -> list[dict[str, Any]]:
    rows = call.store.all(
        "SELECT * FROM rag_documents WHERE user_id = ? ORDER BY created_at DESC, rowid DESC", (call.user_id,)
    )
    return [document_view(r) for r in rows]
