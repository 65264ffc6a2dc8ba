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

Modules, one job each: chunking.py (reading an upload and chunking it, pure), documents.py (the tables, storing and
indexing documents, upload and list), retrieval.py (search and answers), seed.py (the demo user's documents).
Importing the package registers them.
"""

from __future__ import annotations

from mock_server.domains.knowledge import documents, retrieval, seed  # noqa: F401  (importing registers them)
from mock_server.domains.knowledge.chunking import CHUNK_CHARS, chunk, merge, windows
from mock_server.domains.knowledge.retrieval import NO_ANSWER, fts_query, query_terms

__all__ = ["CHUNK_CHARS", "NO_ANSWER", "chunk", "fts_query", "merge", "query_terms", "windows"]
