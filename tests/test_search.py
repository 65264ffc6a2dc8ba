"""Search: FTS5 over the caller's conversations, messages and notes (ranking, snippets, isolation, staying in sync
with every write), input that must never break the query, and the admin status and reindex operations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.search import COLLECTIONS, match_expression
from tests.conftest import bearer, login, make_client, mock_of

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
BASE = "/api/core"


def search(client: TestClient, h: dict[str, str], q: str, status: int = 200, **params: Any) -> dict[str, Any]:
    response = client.get(f"{BASE}/search", params={"q": q, **params}, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def note(client: TestClient, h: dict[str, str], title: str, content: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/notes", json={"title": title, "content": content, **body}, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


def conversation(client: TestClient, h: dict[str, str], title: str, *turns: str) -> str:
    response = client.post(f"{BASE}/conversations", json={"title": title, "provider": "openai"}, headers=h)
    assert response.status_code == 201
    cid = response.json()["id"]
    for text in turns:
        assert client.post(f"{BASE}/chat", json={"message": text, "conversation_id": cid}, headers=h).status_code == 200
    return cid


def ids(result: dict[str, Any], kind: str) -> list[str]:
    key = {"conversations": "conversation_id", "messages": "message_id", "notes": "note_id"}[kind]
    return [r[key] for r in result[kind]]


# searching -----------------------------------------------------------------------------------------------------------
def test_finds_conversations_messages_and_notes(client: TestClient, alex: dict[str, str]) -> None:
    cid = conversation(client, alex, "Onboarding checklist", "What belongs in an onboarding checklist for engineers?")
    n = note(client, alex, "Onboarding notes", "Buddy, laptop, accounts", tags=["hr"])
    found = search(client, alex, "onboarding")
    assert ids(found, "conversations") == [cid]
    assert found["conversations"][0]["title"] == "Onboarding checklist"
    assert {m["conversation_id"] for m in found["messages"]} == {cid}
    assert {m["role"] for m in found["messages"]} == {"user", "assistant"}  # the reply quotes the question
    assert ids(found, "notes") == [n["id"]]
    assert found["query"] == "onboarding"
    assert found["total"] == len(found["conversations"]) + len(found["messages"]) + len(found["notes"])
    message = next(m for m in found["messages"] if m["role"] == "user")
    assert message["snippet"] == "What belongs in an onboarding checklist for engineers?"
    assert message["created_at"] == "2026-03-10T12:00:00Z"


def test_only_the_callers_content_is_searched(client: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    note(client, demo, "Zanzibar trip", "zanzibar")
    conversation(client, demo, "Zanzibar", "Tell me about Zanzibar")
    assert search(client, alex, "zanzibar")["total"] == 0
    mine = note(client, alex, "Zanzibar too", "mine")
    assert ids(search(client, alex, "zanzibar"), "notes") == [mine["id"]]
    assert len(search(client, demo, "zanzibar")["notes"]) == 1


def test_ranking_is_bm25_with_title_weighted_above_content(client: TestClient, alex: dict[str, str]) -> None:
    body_only = note(client, alex, "Misc", "Something about kanban boards somewhere in a long text of other words here")
    in_title = note(client, alex, "Kanban", "Columns and limits")
    note(client, alex, "Unrelated", "Nothing to see")
    found = search(client, alex, "kanban")["notes"]
    assert [n["note_id"] for n in found] == [in_title["id"], body_only["id"]]
    assert found[0]["score"] == 1.0 and 0 < found[1]["score"] < 1.0


def test_tags_are_searchable(client: TestClient, alex: dict[str, str]) -> None:
    tagged = note(client, alex, "Plain", "Plain text", tags=["quarterly-review"])
    assert ids(search(client, alex, "quarterly"), "notes") == [tagged["id"]]


def test_words_are_anded_stemmed_and_the_last_is_a_prefix(client: TestClient, alex: dict[str, str]) -> None:
    both = note(client, alex, "Retrospective formats", "Planning the sprint retrospectives")
    note(client, alex, "Sprint planning", "Capacity")
    assert ids(search(client, alex, "sprint retrospective"), "notes") == [both["id"]]  # AND; stem matches plural
    assert ids(search(client, alex, "retro"), "notes") == [both["id"]]  # prefix
    assert len(search(client, alex, "plans")["notes"]) == 2  # "plans" and "planning" share the stem


def test_snippets_cut_long_text_around_the_match(client: TestClient, alex: dict[str, str]) -> None:
    filler = " ".join(f"word{i}" for i in range(40))
    note(client, alex, "Long", f"{filler} marmalade {filler}")
    snippet = search(client, alex, "marmalade")["notes"][0]["snippet"]
    assert "marmalade" in snippet and snippet.startswith("...") and snippet.endswith("...")
    assert len(snippet.split()) <= 13


def test_limit_caps_each_list(client: TestClient, alex: dict[str, str]) -> None:
    for i in range(5):
        note(client, alex, f"Budget {i}", "budget")
    conversation(client, alex, "Budget talk")
    found = search(client, alex, "budget", limit=3)
    assert len(found["notes"]) == 3 and len(found["conversations"]) == 1
    assert [n["score"] for n in found["notes"]] == sorted((n["score"] for n in found["notes"]), reverse=True)


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "*",
        "AND(",
        "NEAR(a b",
        "a OR",
        "-x",
        "^",
        ":",
        "'",
        "title:x",
        "()",
        "   ",
        '"unbalanced',
        "x" * 200,
        "ünïcödé",
        "NOT",
        "a\u0000b",
        "🙂",
    ],
)
def test_hostile_queries_never_fail(client: TestClient, demo: dict[str, str], q: str) -> None:
    found = search(client, demo, q)
    assert found["query"] == q and found["total"] == len(found["conversations"]) + len(found["messages"]) + len(
        found["notes"]
    )


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "x" * 201}, {"q": "a", "limit": 0}, {"q": "a", "limit": 51}, {"q": "a", "limit": "ten"}],
)
def test_bad_parameters_are_400(client: TestClient, demo: dict[str, str], params: dict[str, Any]) -> None:
    assert client.get(f"{BASE}/search", params=params, headers=demo).status_code == 400


def test_match_expression_quotes_every_word() -> None:
    assert match_expression('learning "plan" AND(x*') == '"learning" "plan" "AND" "x"*'
    assert match_expression("  -- ** ") is None
    assert match_expression("naïve café") == '"naïve" "café"*'


# staying in sync -----------------------------------------------------------------------------------------------------
def test_note_updates_and_deletes_reach_the_index(client: TestClient, alex: dict[str, str]) -> None:
    n = note(client, alex, "Gooseberry", "jam")
    assert client.put(f"{BASE}/notes/{n['id']}", json={"title": "Raspberry"}, headers=alex).status_code == 200
    assert search(client, alex, "gooseberry")["total"] == 0
    assert ids(search(client, alex, "raspberry"), "notes") == [n["id"]]
    assert client.put(f"{BASE}/notes/{n['id']}", json={"tags": ["preserves"]}, headers=alex).status_code == 200
    assert ids(search(client, alex, "preserves"), "notes") == [n["id"]]
    assert client.delete(f"{BASE}/notes/{n['id']}", headers=alex).status_code == 204
    assert search(client, alex, "raspberry")["total"] == 0


def test_deleting_a_conversation_removes_it_and_its_messages(client: TestClient, alex: dict[str, str]) -> None:
    cid = conversation(client, alex, "Photosynthesis", "Explain photosynthesis simply")
    linked = note(client, alex, "Photosynthesis notes", "light", conversation_id=cid)
    assert search(client, alex, "photosynthesis")["total"] >= 3
    assert client.delete(f"{BASE}/conversations/{cid}", headers=alex).status_code == 204
    found = search(client, alex, "photosynthesis")
    assert (found["conversations"], found["messages"], ids(found, "notes")) == ([], [], [linked["id"]])


def test_a_chat_title_from_the_first_message_is_searchable(client: TestClient, alex: dict[str, str]) -> None:
    response = client.post(f"{BASE}/conversations", json={}, headers=alex)
    cid = response.json()["id"]
    client.post(f"{BASE}/chat", json={"message": "Tips for negotiating salaries", "conversation_id": cid}, headers=alex)
    assert ids(search(client, alex, "negotiating"), "conversations") == [cid]


def test_the_index_survives_a_reset(client: TestClient, mock: Mock, alex: dict[str, str]) -> None:
    note(client, alex, "Before reset", "ephemeral")
    assert client.post("/__mock__/reset").status_code == 200
    h = bearer(login(client))
    assert search(client, h, "ephemeral")["total"] == 0
    assert len(search(client, h, "vocabulary")["notes"]) == 1  # the demo world is indexed again
    assert all(intact for intact in _integrity(mock))


def test_a_reopened_state_file_is_indexed(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with make_client(frozen_at=NOW, state=state) as first:
        h = bearer(login(first, "alex"))
        n = note(first, h, "Persisted", "durable words")
    with make_client(frozen_at=NOW, state=state) as second:
        h = bearer(login(second, "alex"))
        assert ids(search(second, h, "durable"), "notes") == [n["id"]]


def _integrity(mock: Mock) -> list[bool]:
    from mock_server.domains.search import intact

    return [intact(mock.store, c) for c in COLLECTIONS]


# status and reindex (admin) ------------------------------------------------------------------------------------------
def test_status_reports_the_index(client: TestClient, mock: Mock, admin: dict[str, str]) -> None:
    status = client.get(f"{BASE}/search/status", headers=admin).json()
    tables = {c.name: mock.store.one(f"SELECT COUNT(*) AS n FROM {c.source}")["n"] for c in COLLECTIONS}
    assert status == {
        "healthy": True,
        "engine": "sqlite-fts5",
        "documents_indexed": sum(tables.values()),
        "collections": [{"name": k, "num_documents": v} for k, v in tables.items()],
        "last_reindexed_at": None,
    }
    assert tables["messages"] > 0 and tables["notes"] > 0


def test_maintenance_needs_the_admin_role(client: TestClient, demo: dict[str, str]) -> None:
    for response in (
        client.get(f"{BASE}/search/status", headers=demo),
        client.post(f"{BASE}/search/reindex", json={}, headers=demo),
    ):
        assert response.status_code == 403
        assert response.json()["detail"]["error"] == "insufficient_role"
    keys = {k["name"]: k["key"] for k in mock_of(client).credentials.api_keys}
    full = {"X-API-Key": keys["demo-full-access"]}  # every scope, but the key's owner is no admin
    assert client.post(f"{BASE}/search/reindex", json={}, headers=full).json()["detail"]["error"] == "insufficient_role"


def test_reindex_skips_what_is_up_to_date(client: TestClient, admin: dict[str, str]) -> None:
    result = client.post(f"{BASE}/search/reindex", json={}, headers=admin).json()
    assert (result["collections"], result["total_indexed"]) == ([], 0)
    assert "nothing rebuilt" in result["message"]
    assert client.get(f"{BASE}/search/status", headers=admin).json()["last_reindexed_at"] is None


def test_forced_reindex_rebuilds_and_reports(client: TestClient, mock: Mock, admin: dict[str, str]) -> None:
    result = client.post(f"{BASE}/search/reindex", json={"force": True}, headers=admin).json()
    sizes = {c.name: mock.store.one(f"SELECT COUNT(*) AS n FROM {c.source}")["n"] for c in COLLECTIONS}
    assert result["collections"] == [{"name": k, "indexed": v} for k, v in sizes.items()]
    assert result["total_indexed"] == sum(sizes.values())
    assert result["reindexed_at"] == "2026-03-10T12:00:00Z"
    assert client.get(f"{BASE}/search/status", headers=admin).json()["last_reindexed_at"] == "2026-03-10T12:00:00Z"
    some = client.post(f"{BASE}/search/reindex", json={"collections": ["notes"], "force": True}, headers=admin).json()
    assert some["collections"] == [{"name": "notes", "indexed": sizes["notes"]}]


def test_reindex_repairs_a_collection_out_of_sync(
    client: TestClient, mock: Mock, admin: dict[str, str], demo: dict[str, str]
) -> None:
    mock.store.run("DELETE FROM temp.messages_fts WHERE rowid IN (SELECT rowid FROM temp.messages_fts LIMIT 3)")
    result = client.post(f"{BASE}/search/reindex", json={}, headers=admin).json()
    total = mock.store.one("SELECT COUNT(*) AS n FROM messages")["n"]
    assert result["collections"] == [{"name": "messages", "indexed": total}]
    assert "2 already up to date" in result["message"]


@pytest.mark.parametrize(
    "body", [{"collections": []}, {"collections": ["users"]}, {"collections": ["notes", "notes"]}, {"force": "yes"}, []]
)
def test_reindex_rejects_bad_bodies(client: TestClient, admin: dict[str, str], body: Any) -> None:
    assert client.post(f"{BASE}/search/reindex", json=body, headers=admin).status_code == 400
