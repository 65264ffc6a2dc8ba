"""Knowledge Base: upload plain text, Markdown and JSON documents, chunk them, index the chunks with SQLite FTS5,
search them (ranked chunks with 0-1 scores) and answer questions from them with citations.

Rules (documented in the README):
- A knowledge base belongs to one user: the docs say "the current user's" documents and nothing about
  organizations, so an API key reads and writes its owner's documents (whatever its organization).
- Accepted files: text/plain (.txt, .text), text/markdown (.md, .markdown) and application/json (.json), UTF-8
  (a BOM is fine). A specific declared type (text/markdown, text/x-markdown, application/json, text/json) wins; a
  generic one (none, application/octet-stream, text/plain) defers to a known extension; text/plain with any other
  extension, or a generic type on a name without one, is plain text. Anything else is 415; bytes that are not
  UTF-8 text (or contain NUL), invalid JSON, JSON with an unpaired surrogate escape (`"\\ud800"`, in a key or a
  value: valid JSON syntax, but no UTF-8 text) and files without any text are 400; bodies over 1 MiB are refused
  with 413 by the engine.
- Chunking: text and Markdown are split into paragraphs (blank lines) and merged greedily up to 800 characters; a
  paragraph longer than that is cut at word boundaries into 800-character windows overlapping by 100 characters;
  a short last paragraph (at most 200 characters, e.g. a heading) is repeated at the start of the next chunk.
  JSON is flattened to `path: value` lines (`team.members[0].name: Ada`), merged the same way.
- Search: the query's words (Unicode letters and digits; English stop words dropped unless nothing else is left;
  at most 32) are each quoted and OR-ed into an FTS5 query (Porter stemming), so no user text is FTS5 syntax.
  score = 0.5 * coverage + 0.5 * bm25 / (best bm25 among the caller's matches), rounded to 4 places, where coverage
  is the share of the query's words found in the chunk (FTS5's raw bm25 is near 0 in small corpora, so it only
  ranks); results by descending score (ties: better bm25, then document and chunk order).
- Query: the best chunks (top_k) are retrieved like a search; the answer joins up to 3 sentences: those sharing the
  most words with the question, then the sentence after each as context while there is room, each followed by its
  citation number [n]; the citations are the chunks those sentences come from, by descending score. With no
  matching chunk the answer says so and `citations` is empty. Deterministic; provider `auto`, model `gpt-5-mini`.
- The FTS5 index is a TEMP table of the store's connection, derived from `rag_chunks` (rebuilt when it is out of
  step, e.g. after a restart on a state file). In the main schema it would break: the store's reset deletes the rows
  of every table there, FTS5's shadow tables included, which corrupts the index.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, Result, World, handles, seeder, tables
from mock_server.errors import ApiError, bad_request
from mock_server.store import Store
from mock_server.validation import UploadedFile

CHUNK_CHARS = 800
WINDOW_OVERLAP = 100
CARRY_MAX = 200  # a last paragraph this short is repeated at the start of the next chunk
MAX_TERMS = 32
MAX_CANDIDATES = 200
EXCERPT_CHARS = 240
ANSWER_SENTENCES = 3
SENTENCE_CHARS = 300
DEFAULT_TOP_K = 5
PROVIDER, MODEL = "auto", "gpt-5-mini"
NO_ANSWER = (
    "I could not find anything about that in your knowledge base, so I cannot answer it from your "
    "documents. Try other words, or upload a document that covers the topic."
)

TYPES = {
    "text/plain": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "application/json": "application/json",
    "text/json": "application/json",
}
EXTENSIONS = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
}
GENERIC = {"", "application/octet-stream", "text/plain"}
DEFAULT_NAMES = {"text/plain": "document.txt", "text/markdown": "document.md", "application/json": "document.json"}
_STOP_WORDS = """a about above after again all am an and any are as at be been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours out
over own same she should so some such than that the their theirs them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your yours"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

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


# reading an upload -------------------------------------------------------------------------------------------------
def media_type(filename: str, declared: str) -> str:
    """The document's type from the part's Content-Type and the file extension (module docstring); 415 otherwise."""
    declared = declared.split(";")[0].strip().lower()
    ext = PurePosixPath(filename.lower()).suffix
    if declared in TYPES and declared != "text/plain":
        return TYPES[declared]
    if declared in GENERIC:
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
        if declared == "text/plain" or not ext:
            return "text/plain"
    shown = declared or "no content type"
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Unsupported document type ({shown}, file {filename or 'without a name'!r}): upload plain text "
        "(.txt), Markdown (.md) or JSON (.json)",
    )


def clean_filename(raw: str, kind: str) -> str:
    """The base name of what the client sent (no directories, at most 255 characters)."""
    name = re.split(r"[\\/]", raw.strip())[-1].strip()
    return name[:255] or DEFAULT_NAMES[kind]


def decode(content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"body.file: not UTF-8 text (invalid byte at offset {exc.start}); upload plain text, "
            "Markdown or JSON encoded as UTF-8",
            "undecodable_document",
        ) from None
    if "\x00" in text:
        raise bad_request("body.file: contains NUL bytes, so it is not a text document", "undecodable_document")
    return text


# chunking ----------------------------------------------------------------------------------------------------------
def windows(text: str, size: int = CHUNK_CHARS, overlap: int = WINDOW_OVERLAP) -> list[str]:
    """Cut a long piece at word boundaries into windows of at most `size` characters overlapping by ~`overlap`."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        if end >= len(text):
            break
        back = text.find(" ", max(start + 1, end - overlap), end)
        start = back + 1 if back != -1 else end
    return [w for w in out if w]


def merge(pieces: list[str], joiner: str) -> list[str]:
    """Greedy merge up to CHUNK_CHARS; a short last piece is carried into the next chunk as overlap."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0  # len(joiner.join(current)), kept as we go: a file may hold many thousand pieces
    for piece in (w for p in pieces for w in (windows(p) if len(p) > CHUNK_CHARS else [p])):
        if current and size + len(joiner) + len(piece) > CHUNK_CHARS:
            chunks.append(current)
            last = current[-1]
            carry = len(current) > 1 and len(last) <= CARRY_MAX and len(last) + len(joiner) + len(piece) <= CHUNK_CHARS
            current, size = ([last], len(last)) if carry else ([], 0)
        size += len(piece) + (len(joiner) if current else 0)
        current.append(piece)
    if current:
        chunks.append(current)
    return [joiner.join(c) for c in chunks]


def paragraphs(text: str) -> list[str]:
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [b.strip() for b in blocks if b.strip()]


def flatten(value: Any, path: str = "") -> Iterator[str]:
    """JSON as `path: value` lines, depth first (iterative: a deeply nested file must not exhaust the stack)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict) and item:
            stack.extend(reversed([(f"{where}.{k}" if where else str(k), v) for k, v in item.items()]))
        elif isinstance(item, list) and item:
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(item)]))
        else:
            shown = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            yield f"{where}: {shown}" if where else shown


def chunk(text: str, kind: str) -> list[str]:
    if kind != "application/json":
        return merge(paragraphs(text), "\n\n")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"body.file: not valid JSON ({str(exc)[:200]})", "invalid_json_document") from None
    lines = [" ".join(line.split()) for line in flatten(data)]
    if not all(_utf8(line) for line in lines):
        raise bad_request(
            "body.file: the JSON holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is "
            "not text; escape whole surrogate pairs or write the characters as UTF-8",
            "undecodable_document",
        )
    return merge([line for line in lines if line], "\n")


def _utf8(text: str) -> bool:
    """Can the text be stored and sent back as UTF-8? Not with a lone surrogate, which JSON escapes let in."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


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


# search ------------------------------------------------------------------------------------------------------------
def query_terms(text: str) -> list[str]:
    """Distinct lowercase words of the query (stop words dropped unless nothing else is left), at most MAX_TERMS."""
    words = list(dict.fromkeys(w.lower() for w in re.findall(r"[^\W_]+", text)))
    content = [w for w in words if w not in STOP_WORDS]
    return (content or words)[:MAX_TERMS]


def fts_query(terms: list[str]) -> str:
    """Each term as an FTS5 string (quotes doubled, though [^\\W_]+ has none), OR-ed: user text is never syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


@dataclass(frozen=True)
class Hit:
    row: dict[str, Any]
    rank: float  # -bm25: higher is better
    score: float


def search(call: Call, text: str, top_k: int) -> list[Hit]:
    """The caller's best chunks for `text`, by descending score (module docstring for the formula)."""
    terms = query_terms(text)
    if not terms:
        return []
    sync_index(call.store)
    rows = call.store.all(
        "SELECT c.seq, c.id, c.document_id, c.chunk_index, c.text, d.title, d.filename, -bm25(rag_fts) AS relevance "
        "FROM temp.rag_fts JOIN rag_chunks c ON c.seq = rag_fts.rowid JOIN rag_documents d ON d.id = c.document_id "
        "WHERE rag_fts MATCH ? AND c.user_id = ? ORDER BY bm25(rag_fts) LIMIT ?",
        (fts_query(terms), call.user_id, MAX_CANDIDATES),
    )
    if not rows:
        return []
    seqs = {r["seq"] for r in rows}
    found = {r["seq"]: 0 for r in rows}
    for term in terms:
        for match in call.store.all("SELECT rowid FROM temp.rag_fts WHERE rag_fts MATCH ?", (fts_query([term]),)):
            if match["rowid"] in seqs:
                found[match["rowid"]] += 1
    best = max(r["relevance"] for r in rows)
    hits = []
    for r in rows:
        relative = r["relevance"] / best if best > 0 else 1.0
        score = round(min(1.0, max(0.0, 0.5 * found[r["seq"]] / len(terms) + 0.5 * relative)), 4)
        hits.append(Hit(r, r["relevance"], score))
    hits.sort(key=lambda h: (-h.score, -h.rank, h.row["document_id"], h.row["chunk_index"]))
    return hits[:top_k]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit - 1)
    return flat[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def top_k(call: Call) -> int:
    """JSON Schema's `integer` admits 3.0, so the value is made an int here."""
    return int(call.body.get("top_k", DEFAULT_TOP_K))


@handles("searchKnowledgeBase")
def search_knowledge(call: Call) -> dict[str, Any]:
    hits = search(call, call.body["query"], top_k(call))
    results = [
        {
            "document_id": h.row["document_id"],
            "chunk_id": h.row["id"],
            "chunk_index": h.row["chunk_index"],
            "title": h.row["title"],
            "filename": h.row["filename"],
            "text": h.row["text"],
            "score": h.score,
        }
        for h in hits
    ]
    return {"query": call.body["query"], "results": results}


# answers -----------------------------------------------------------------------------------------------------------
def stem(word: str) -> str:
    """A crude stem for sentence picking (FTS5's Porter stemmer already chose the chunks)."""
    return word[:5] if len(word) > 5 else word


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [" ".join(p.split()) for p in parts if p.strip()]


def compose(question: str, hits: list[Hit]) -> tuple[str, list[Hit]]:
    """An extractive answer: the sentences sharing the most words with the question (ties: the better chunk, the
    earlier sentence), then the sentence after each as context while there is room; each with its citation."""
    wanted = {stem(t) for t in query_terms(question)}
    texts = [sentences(h.row["text"]) for h in hits]
    scored = sorted(
        (
            (-len(wanted & {stem(w.lower()) for w in re.findall(r"[^\W_]+", sentence)}), h, i)
            for h, found in enumerate(texts)
            for i, sentence in enumerate(found)
        )
    )
    chosen = [(h, i) for overlap, h, i in scored if overlap < 0][:ANSWER_SENTENCES] or [scored[0][1:]]
    for h, i in list(chosen):
        if len(chosen) < ANSWER_SENTENCES and i + 1 < len(texts[h]) and (h, i + 1) not in chosen:
            chosen.append((h, i + 1))
    order: list[int] = []  # indexes into hits, in citation order (= descending score)
    parts = []
    for h, i in sorted(chosen):
        if h not in order:
            order.append(h)
        parts.append(f"{excerpt(texts[h][i], SENTENCE_CHARS)} [{order.index(h) + 1}]")
    return "According to your knowledge base: " + " ".join(parts), [hits[h] for h in order]


@handles("queryKnowledgeBase")
def query_knowledge(call: Call) -> dict[str, Any]:
    question = call.body["query"]
    hits = search(call, question, top_k(call))
    answer, cited = compose(question, hits) if hits else (NO_ANSWER, [])
    citations = [
        {
            "document_id": h.row["document_id"],
            "chunk_id": h.row["id"],
            "filename": h.row["filename"],
            "score": h.score,
            "excerpt": excerpt(h.row["text"]),
        }
        for h in cited
    ]
    return {"query": question, "answer": answer, "citations": citations, "provider": PROVIDER, "model": MODEL}


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


# the demo world --------------------------------------------------------------------------------------------------
DEMO_USER = "demo"
LAUNCH_NOTES = """# Launch meeting notes

Attendees: Demo (product), Ada (platform), Alex (sales).

## Launch plan

The beta opens on 12 May. Training sessions for the support team start the week before, on 5 May.
Invitations go out in two waves: existing customers first, then the waiting list.

## Budget

Marketing spends most of the launch budget on webinars and a short video series. The remaining budget covers
translations of the help centre into German and Spanish, which the localisation agency delivers by 8 May.

## Feedback

Beta users report feedback through the in-app form. The product team reviews it every Friday and publishes a
short changelog on Monday. Critical bugs go straight to the on-call engineer.

## Risks

The mobile app review may take longer than planned. If it slips, we launch on the web first and ship the app a
week later.

## Action items

Ada prepares the status page. Alex writes the FAQ for customers. Demo sends the launch email on 11 May.
"""
GLOSSARY = {
    "title": "Team glossary",
    "terms": [
        {"term": "XPI", "meaning": "Xentree Proficiency Index, a 0-100 score of English skills"},
        {"term": "Live quota", "meaning": "Monthly seconds of Xentree Live sessions included in a plan"},
        {"term": "Streak freeze", "meaning": "Keeps a learning streak alive on a day without XP"},
    ],
    "owner": {"team": "Platform", "contact": "ada@xentree.test"},
}


@seeder
def seed_demo(call: Call, world: World) -> None:
    """Two documents in the demo user's knowledge base (Markdown meeting notes and a JSON glossary), uploaded 3 and
    2 days ago. Ids come from their own stream, so the ids the API hands out stay put."""
    call.store.run("DELETE FROM temp.rag_fts")  # seeding follows a reset: the index starts empty too
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    ids = random.Random(f"xentree-kb-demo-ids:{world.seed}")

    def new_id() -> str:
        return str(uuid.UUID(int=ids.getrandbits(128), version=4))

    now = call.clock.now()
    docs = (
        ("launch-notes.md", "Launch meeting notes", "text/markdown", LAUNCH_NOTES, 3),
        ("team-glossary.json", "Team glossary", "application/json", json.dumps(GLOSSARY, indent=2), 2),
    )
    for filename, title, kind, text, days_ago in docs:
        store_document(
            call.store,
            new_id,
            user["id"],
            filename,
            title,
            kind,
            len(text.encode()),
            chunk(text, kind),
            now - timedelta(days=days_ago),
        )
