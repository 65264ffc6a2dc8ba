"""Knowledge Base: uploads (types, sizes, bad bytes), chunking, the FTS5 index, ranked search with 0-1 scores,
extractive answers with citations, per-user isolation, and the demo user's seeded documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.knowledge import (
    CHUNK_CHARS,
    NO_ANSWER,
    chunk,
    fts_query,
    merge,
    query_terms,
    windows,
)
from mock_server.resources import load_yaml, spec_path
from tests.conftest import bearer, login, make_client

NOW = datetime(2026, 4, 16, 10, 0, tzinfo=UTC)
FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
DOCS = "/api/rag/documents"
SEARCH = "/api/knowledge/search"
QUERY = "/api/rag/query"
RECIPES = """Pancakes

Mix flour, milk and two eggs. Let the batter rest for ten minutes.

Fry the pancakes in butter until golden. Serve with maple syrup.
"""


@pytest.fixture
def keys(mock: Mock) -> dict[str, dict[str, str]]:
    return {k["name"]: {"X-API-Key": k["key"]} for k in mock.credentials.api_keys}


def upload(
    client: TestClient,
    h: dict[str, str],
    name: str,
    content: bytes | str,
    content_type: str = "text/plain",
    **data: str,
) -> Any:
    raw = content.encode() if isinstance(content, str) else content
    return client.post(DOCS, files={"file": (name, raw, content_type)}, data=data, headers=h)


def search(client: TestClient, h: dict[str, str], query: str, **extra: Any) -> list[dict[str, Any]]:
    response = client.post(SEARCH, json={"query": query, **extra}, headers=h)
    assert response.status_code == 200, response.text
    assert response.json()["query"] == query
    return response.json()["results"]


def ask(client: TestClient, h: dict[str, str], query: str, **extra: Any) -> dict[str, Any]:
    response = client.post(QUERY, json={"query": query, **extra}, headers=h)
    assert response.status_code == 200, response.text
    return response.json()


# chunking ----------------------------------------------------------------------------------------------------------
def test_paragraphs_merge_up_to_the_chunk_size() -> None:
    paras = [f"Paragraph {i} " + "text " * 30 for i in range(10)]  # ~165 characters each
    chunks = chunk("\n\n".join(paras), "text/plain")
    assert len(chunks) > 1 and all(len(c) <= CHUNK_CHARS for c in chunks)
    assert chunks[0].startswith("Paragraph 0") and "Paragraph 3" in chunks[0]
    for before, after in pairwise(chunks):  # short last paragraphs carry over
        assert after.startswith(before.split("\n\n")[-1])


def test_long_paragraphs_become_overlapping_windows() -> None:
    words = " ".join(f"w{i:04d}" for i in range(600))  # 3,599 characters, no blank line
    parts = windows(words)
    assert len(parts) == 5 and all(len(p) <= CHUNK_CHARS for p in parts)
    for before, after in pairwise(parts):
        first = after.split()[0]
        assert first in before.split() and len(before) - before.index(first) <= 100
    assert chunk(words, "text/plain") == parts
    assert windows("x" * 2000) == ["x" * 800, "x" * 800, "x" * 400]  # no space: hard cuts


def test_a_heading_carries_into_the_next_chunk() -> None:
    text = "A " * 300 + "\n\n## Next section\n\n" + "B " * 300
    first, second = chunk(text, "text/markdown")
    assert first.endswith("## Next section") and second.startswith("## Next section\n\nB B")


def test_json_is_flattened_to_key_value_lines() -> None:
    doc = {"team": {"name": "Platform", "members": [{"name": "Ada", "role": "lead"}], "tags": []}, "active": True}
    assert chunk(json.dumps(doc), "application/json") == [
        "team.name: Platform\nteam.members[0].name: Ada\nteam.members[0].role: lead\nteam.tags: []\nactive: true"
    ]
    assert chunk('"only a string"', "application/json") == ["only a string"]
    many = {f"key{i}": "value " * 20 for i in range(40)}
    assert all(len(c) <= CHUNK_CHARS for c in chunk(json.dumps(many), "application/json"))
    assert merge([], "\n") == []


def test_query_terms_are_quoted_words_only() -> None:
    assert query_terms('When does the "beta" open? AND( NEAR* beta') == ["beta", "open", "near"]
    assert query_terms("the and of") == ["the", "and", "of"]  # only stop words: keep them
    assert query_terms('"*^-:()') == []
    assert fts_query(["beta", "open"]) == '"beta" OR "open"'
    assert len(query_terms(" ".join(f"t{i}" for i in range(100)))) == 32


# uploads -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content_type", "stored"),
    [
        ("notes.txt", "text/plain", "text/plain"),
        ("notes.md", "text/markdown", "text/markdown"),
        ("notes.md", "text/plain", "text/markdown"),  # a browser's text/plain for a .md file defers to the extension
        ("notes.markdown", "application/octet-stream", "text/markdown"),
        ("data.json", "application/json", "application/json"),
        ("data.JSON", "application/octet-stream", "application/json"),
        ("README", "application/octet-stream", "text/plain"),  # no extension: plain text
        ("notes.txt", "text/x-markdown; charset=utf-8", "text/markdown"),  # a specific declared type wins
    ],
)
def test_accepted_types(client: TestClient, demo: dict[str, str], name: str, content_type: str, stored: str) -> None:
    content = '{"topic": "pancakes"}' if stored == "application/json" else RECIPES
    response = upload(client, demo, name, content, content_type)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == stored and body["filename"] == name and body["title"] == name
    assert body["status"] == "indexed" and body["chunks"] >= 1 and body["size_bytes"] == len(content.encode())
    assert body["created_at"] == "2026-04-16T10:00:00Z"


def test_title_and_filename(client: TestClient, demo: dict[str, str]) -> None:
    titled = upload(client, demo, "C:\\Users\\me\\recipes.txt", RECIPES, title="  Family   recipes ").json()
    assert (titled["filename"], titled["title"]) == ("recipes.txt", "Family recipes")
    blank = upload(client, demo, "../../etc/recipes.txt", RECIPES, title="   ").json()
    assert (blank["filename"], blank["title"]) == ("recipes.txt", "recipes.txt")
    assert upload(client, demo, "r.txt", RECIPES, title="x" * 201).status_code == 400


def test_a_plain_form_field_is_taken_as_text(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post(DOCS, files={"file": (None, RECIPES)}, headers=demo)  # a part without a filename
    assert response.status_code == 201, response.text
    assert (response.json()["filename"], response.json()["content_type"]) == ("document.txt", "text/plain")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("photo.png", "image/png"),
        ("paper.pdf", "application/pdf"),
        ("paper.pdf", "application/octet-stream"),
        ("page.html", "text/html"),
    ],
)
def test_other_types_are_415(client: TestClient, demo: dict[str, str], name: str, content_type: str) -> None:
    response = upload(client, demo, name, b"%PDF-1.4 binary", content_type)
    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "unsupported_media_type" and "Markdown" in detail["message"]


def test_the_spec_documents_415_and_413_for_uploads() -> None:
    spec = load_yaml(spec_path().read_text(encoding="utf-8"))
    assert {"413", "415", "400"} <= set(spec["paths"][DOCS]["post"]["responses"])


def test_bodies_over_one_mib_are_413(client: TestClient, demo: dict[str, str]) -> None:
    response = upload(client, demo, "big.txt", b"a" * (1024 * 1024 + 1))
    assert response.status_code == 413 and response.json()["detail"]["error"] == "payload_too_large"
    assert client.get(DOCS, headers=demo).json()[0]["filename"] != "big.txt"


@pytest.mark.parametrize(
    ("content", "content_type", "error"),
    [
        (b"caf\xe9 au lait", "text/plain", "undecodable_document"),
        (b"\xff\xfe\x00\x00", "text/plain", "undecodable_document"),
        (b"text\x00with nul", "text/plain", "undecodable_document"),
        (b'{"open": ', "application/json", "invalid_json_document"),
        (b"[" * 200_000, "application/json", "invalid_json_document"),  # nested too deep for the parser
        (b"   \n\n\t ", "text/plain", "empty_document"),
        (b"", "text/markdown", "empty_document"),
    ],
)
def test_bad_documents_are_400(
    client: TestClient, demo: dict[str, str], content: bytes, content_type: str, error: str
) -> None:
    name = "doc.json" if content_type == "application/json" else "doc.txt"
    response = upload(client, demo, name, content, content_type)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["error"] == error


def test_a_utf8_bom_is_fine(client: TestClient, demo: dict[str, str]) -> None:
    assert upload(client, demo, "bom.txt", "\ufeffZoë's notes about pancakes").status_code == 201
    assert search(client, demo, "Zoë")[0]["text"] == "Zoë's notes about pancakes"


def test_upload_needs_rag_write(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    refused = upload(client, keys["demo-read-only"], "r.txt", RECIPES)
    assert refused.status_code == 403 and refused.json()["detail"]["required_scope"] == "rag:write"
    assert upload(client, keys["demo-full-access"], "r.txt", RECIPES).status_code == 201


# listing and isolation -------------------------------------------------------------------------------------------
def test_demo_has_two_seeded_documents(client: TestClient, demo: dict[str, str]) -> None:
    docs = client.get(DOCS, headers=demo).json()
    assert [(d["filename"], d["content_type"]) for d in docs] == [
        ("team-glossary.json", "application/json"),
        ("launch-notes.md", "text/markdown"),
    ]
    assert [d["created_at"] for d in docs] == ["2026-04-14T10:00:00Z", "2026-04-13T10:00:00Z"]
    assert docs[1]["chunks"] == 2 and all(d["status"] == "indexed" for d in docs)


def test_documents_are_per_user_newest_first(
    client: TestClient, demo: dict[str, str], alex: dict[str, str], keys: dict[str, dict[str, str]]
) -> None:
    assert client.get(DOCS, headers=alex).json() == []
    first = upload(client, alex, "one.txt", RECIPES).json()["document_id"]
    assert client.post("/__mock__/clock/advance", json={"seconds": 60}).status_code == 200
    second = upload(client, alex, "two.txt", RECIPES).json()["document_id"]
    assert [d["id"] for d in client.get(DOCS, headers=alex).json()] == [second, first]
    assert first not in str(client.get(DOCS, headers=demo).json())
    # an API key works on its owner's knowledge base
    assert len(client.get(DOCS, headers=keys["demo-read-only"]).json()) == 2
    assert search(client, keys["demo-read-only"], "pancakes") == []
    assert search(client, demo, "pancakes") == [] and ask(client, demo, "pancakes")["citations"] == []
    assert {r["document_id"] for r in search(client, alex, "pancakes")} == {first, second}


# search ------------------------------------------------------------------------------------------------------------
def test_search_ranks_chunks_with_scores(client: TestClient, demo: dict[str, str], mock: Mock) -> None:
    results = search(client, demo, "meeting notes about the launch plan")
    assert results, "the seeded launch notes match"
    top = results[0]
    assert top["title"] == "Launch meeting notes" and top["filename"] == "launch-notes.md"
    assert top["chunk_index"] == 0 and "beta opens on 12 May" in top["text"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert top["score"] == 1.0  # every word found, and the best bm25
    chunk_row = mock.store.one("SELECT * FROM rag_chunks WHERE id = ?", (top["chunk_id"],))
    assert (chunk_row["document_id"], chunk_row["chunk_index"]) == (top["document_id"], 0)


def test_scores_reflect_coverage(client: TestClient, demo: dict[str, str]) -> None:
    full = search(client, demo, "localisation agency")[0]
    partial = search(client, demo, "localisation zebra unicorn")[0]
    assert full["score"] == 1.0 and partial["score"] == round(0.5 / 3 + 0.5, 4)
    assert full["chunk_id"] == partial["chunk_id"]


def test_stemming_and_json_lines(client: TestClient, demo: dict[str, str]) -> None:
    assert search(client, demo, "launching")[0]["title"] == "Launch meeting notes"
    glossary = search(client, demo, "streak freeze")[0]
    assert glossary["filename"] == "team-glossary.json" and "terms[2].term: Streak freeze" in glossary["text"]


def test_top_k_limits_results(client: TestClient, alex: dict[str, str]) -> None:
    for i in range(8):
        upload(client, alex, f"p{i}.txt", f"Pancakes note number {i}.")
    assert len(search(client, alex, "pancakes")) == 5  # the default
    assert len(search(client, alex, "pancakes", top_k=3)) == 3
    assert len(search(client, alex, "pancakes", top_k=20)) == 8
    assert len(search(client, alex, "pancakes", top_k=2.0)) == 2  # an integral number is an integer in JSON Schema
    assert len(ask(client, alex, "pancakes", top_k=1.0)["citations"]) == 1
    assert client.post(SEARCH, json={"query": "pancakes", "top_k": 0}, headers=alex).status_code == 400
    assert client.post(SEARCH, json={"query": ""}, headers=alex).status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "*",
        "AND(",
        "beta AND( launch",
        "NEAR(a b)",
        "col:beta",
        "^beta",
        "-",
        "a OR",
        "'; DROP TABLE rag_chunks; --",
        "\u0000",
        "_",
        "emoji 🚀 beta",
        "x" * 1000,
        "(((((",
        "{}[]",
    ],
)
def test_fts_syntax_in_queries_never_breaks_search(client: TestClient, demo: dict[str, str], query: str) -> None:
    search(client, demo, query)
    ask(client, demo, query)


def test_the_index_is_rebuilt_when_out_of_step(client: TestClient, demo: dict[str, str], mock: Mock) -> None:
    before = search(client, demo, "beta")
    mock.store.run("DELETE FROM temp.rag_fts")  # as on a fresh connection to a state file
    assert search(client, demo, "beta") == before
    assert client.post("/__mock__/reset", json={}).status_code == 200
    demo = bearer(login(client))
    assert [r["chunk_id"] for r in search(client, demo, "beta")] == [r["chunk_id"] for r in before]


# query -------------------------------------------------------------------------------------------------------------
def test_query_answers_with_citations(client: TestClient, demo: dict[str, str]) -> None:
    answer = ask(client, demo, "When does the beta open?")
    assert answer["query"] == "When does the beta open?"
    assert answer["answer"].startswith("According to your knowledge base: The beta opens on 12 May. [1]")
    assert (answer["provider"], answer["model"]) == ("auto", "gpt-5-mini")
    cited = answer["citations"]
    assert cited and cited[0]["filename"] == "launch-notes.md" and 0 < cited[0]["score"] <= 1
    assert "beta opens on 12 May" in cited[0]["excerpt"] and len(cited[0]["excerpt"]) <= 240
    hit = search(client, demo, "When does the beta open?")[0]
    assert (cited[0]["document_id"], cited[0]["chunk_id"]) == (hit["document_id"], hit["chunk_id"])
    assert ask(client, demo, "When does the beta open?") == answer  # deterministic


def test_query_markers_follow_the_citations(client: TestClient, demo: dict[str, str]) -> None:
    answer = ask(client, demo, "XPI localisation agency")
    assert len(answer["citations"]) == 2
    assert "[1]" in answer["answer"] and "[2]" in answer["answer"] and "[3]" not in answer["answer"]
    scores = [c["score"] for c in answer["citations"]]
    assert scores == sorted(scores, reverse=True)


def test_query_without_a_match_says_so(client: TestClient, demo: dict[str, str], alex: dict[str, str]) -> None:
    for h, question in ((demo, "What is the weather in Paris?"), (alex, "When does the beta open?")):
        answer = ask(client, h, question)
        assert answer == {
            "query": question,
            "answer": NO_ANSWER,
            "citations": [],
            "provider": "auto",
            "model": "gpt-5-mini",
        }


def test_query_top_k_bounds_the_citations(client: TestClient, alex: dict[str, str]) -> None:
    for i in range(4):
        upload(client, alex, f"p{i}.txt", f"Pancakes note {i}. Pancakes again.")
    assert len(ask(client, alex, "pancakes", top_k=1)["citations"]) == 1
    assert 1 <= len(ask(client, alex, "pancakes")["citations"]) <= 3  # at most one per answer sentence
    assert client.post(QUERY, json={"query": "x", "top_k": 21}, headers=alex).status_code == 400


def test_knowledge_needs_rag_read(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    refused = client.post(SEARCH, json={"query": "beta"}, headers=keys["alex-northwind"])
    assert refused.status_code == 403 and refused.json()["detail"]["required_scope"] == "rag:read"
    assert client.post(SEARCH, json={"query": "beta"}).status_code == 401


def test_the_index_is_rebuilt_after_a_restart_on_a_state_file(tmp_path: Any) -> None:
    state = tmp_path / "state.db"
    with make_client(frozen_at=NOW, state=state) as first:
        h = bearer(login(first, "alex"))
        assert upload(first, h, "recipes.txt", RECIPES).status_code == 201
        before = search(first, h, "pancakes butter")
    with make_client(frozen_at=NOW, state=state) as second:  # a new connection: its TEMP index starts empty
        h = bearer(login(second, "alex"))
        assert search(second, h, "pancakes butter") == before
        assert search(second, bearer(login(second)), "beta")[0]["filename"] == "launch-notes.md"
