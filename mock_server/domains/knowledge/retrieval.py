"""Retrieval over the caller's chunks: ranked search with 0-1 scores, and extractive answers with citations (rules:
the package docstring's "Search" and "Query")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mock_server.domains import Call, handles
from mock_server.domains.knowledge.documents import sync_index

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
_STOP_WORDS = """a about above after again all am an and any are as at be been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours out
over own same she should so some such than that the their theirs them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your yours"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


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
