"""Notes: create, list, partial update (PUT), delete; links to the owner's conversations; isolation between users;
the demo user's seeded notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.domains.conversations import catalog
from tests.conftest import mock_of

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
NOTES = "/api/core/notes"
MISSING = "0b7d4c3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e"


def advance(client: TestClient, **amount: float) -> None:
    assert client.post("/__mock__/clock/advance", json=amount).status_code == 200


def create(client: TestClient, h: dict[str, str], status: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post(NOTES, json={"title": "Launch plan", "content": "Milestones for Q3", **body}, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def update(client: TestClient, h: dict[str, str], note_id: str, body: Any, status: int = 200) -> dict[str, Any]:
    response = client.put(f"{NOTES}/{note_id}", json=body, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def conversation(client: TestClient, h: dict[str, str]) -> str:
    response = client.post("/api/core/conversations", json={"title": "Linked"}, headers=h)
    assert response.status_code == 201
    return response.json()["id"]


def test_create_returns_the_note_with_defaults(client: TestClient, alex: dict[str, str]) -> None:
    note = create(client, alex)
    assert note == {
        "id": note["id"],
        "title": "Launch plan",
        "content": "Milestones for Q3",
        "conversation_id": None,
        "tags": [],
        "created_at": "2026-03-10T12:00:00Z",
        "updated_at": "2026-03-10T12:00:00Z",
    }
    assert client.get(NOTES, headers=alex).json() == [note]


def test_create_links_an_own_conversation_only(client: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    cid = conversation(client, alex)
    assert create(client, alex, conversation_id=cid, tags=["q3", "launch"])["conversation_id"] == cid
    for foreign in (conversation(client, demo), MISSING):
        body = create(client, alex, 404, conversation_id=foreign)
        assert "not found" in body["detail"]["message"]
    assert len(client.get(NOTES, headers=alex).json()) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"content": "no title"},
        {"title": "no content"},
        {"title": "", "content": "x"},
        {"title": "t", "content": ""},
        {"title": "x" * 201, "content": "x"},
        {"title": "t", "content": "x", "tags": ["a", "a"]},
        {"title": "t", "content": "x", "tags": [""]},
        {"title": "t", "content": "x", "conversation_id": "nope"},
        {"title": "t", "content": "x", "tags": ["t"] * 21},
    ],
)
def test_create_rejects_bad_bodies(client: TestClient, alex: dict[str, str], body: dict[str, Any]) -> None:
    response = client.post(NOTES, json=body, headers=alex)
    assert response.status_code == 400, response.text


def test_list_is_most_recently_updated_first(client: TestClient, alex: dict[str, str]) -> None:
    first = create(client, alex, title="first")
    advance(client, minutes=1)
    second = create(client, alex, title="second")
    assert [n["id"] for n in client.get(NOTES, headers=alex).json()] == [second["id"], first["id"]]
    advance(client, minutes=1)
    update(client, alex, first["id"], {"content": "edited"})
    assert [n["id"] for n in client.get(NOTES, headers=alex).json()] == [first["id"], second["id"]]


def test_update_changes_only_the_fields_sent(client: TestClient, alex: dict[str, str]) -> None:
    cid = conversation(client, alex)
    note = create(client, alex, tags=["a"], conversation_id=cid)
    advance(client, minutes=5)
    updated = update(client, alex, note["id"], {"title": "Renamed", "tags": ["b", "c"]})
    assert (updated["title"], updated["content"], updated["tags"], updated["conversation_id"]) == (
        "Renamed",
        "Milestones for Q3",
        ["b", "c"],
        cid,
    )
    assert (updated["created_at"], updated["updated_at"]) == ("2026-03-10T12:00:00Z", "2026-03-10T12:05:00Z")
    assert update(client, alex, note["id"], {"conversation_id": None})["conversation_id"] is None
    assert update(client, alex, note["id"], {"conversation_id": cid})["conversation_id"] == cid


def test_update_with_only_unknown_keys_changes_nothing(client: TestClient, alex: dict[str, str]) -> None:
    note = create(client, alex)
    advance(client, minutes=5)
    assert update(client, alex, note["id"], {"colour": "red"}) == note


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"content": ""}, {"tags": "x"}, {"conversation_id": "x"}, []])
def test_update_rejects_bad_bodies(client: TestClient, alex: dict[str, str], body: Any) -> None:
    note = create(client, alex)
    update(client, alex, note["id"], body, 400)


def test_update_to_a_foreign_or_unknown_conversation_is_404(
    client: TestClient, alex: dict[str, str], demo: dict[str, str]
) -> None:
    note = create(client, alex)
    for foreign in (conversation(client, demo), MISSING):
        update(client, alex, note["id"], {"conversation_id": foreign, "title": "moved"}, 404)
    assert client.get(NOTES, headers=alex).json() == [note]  # nothing changed


def test_delete_removes_the_note(client: TestClient, alex: dict[str, str]) -> None:
    note = create(client, alex)
    assert client.delete(f"{NOTES}/{note['id']}", headers=alex).status_code == 204
    assert client.get(NOTES, headers=alex).json() == []
    assert client.delete(f"{NOTES}/{note['id']}", headers=alex).status_code == 404
    update(client, alex, note["id"], {"title": "x"}, 404)


def test_unknown_and_malformed_ids(client: TestClient, alex: dict[str, str]) -> None:
    update(client, alex, MISSING, {"title": "x"}, 404)
    assert client.delete(f"{NOTES}/{MISSING}", headers=alex).status_code == 404
    assert client.delete(f"{NOTES}/not-a-uuid", headers=alex).status_code == 400


def test_other_users_notes_are_not_found(client: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    note = create(client, demo, title="demo secret")
    assert all(n["id"] != note["id"] for n in client.get(NOTES, headers=alex).json())
    assert client.put(f"{NOTES}/{note['id']}", json={"title": "hijacked"}, headers=alex).status_code == 404
    assert client.delete(f"{NOTES}/{note['id']}", headers=alex).status_code == 404
    mine = [n for n in client.get(NOTES, headers=demo).json() if n["id"] == note["id"]]
    assert mine == [note]


def test_deleting_the_conversation_unlinks_its_notes(client: TestClient, alex: dict[str, str]) -> None:
    cid = conversation(client, alex)
    note = create(client, alex, conversation_id=cid)
    assert client.delete(f"/api/core/conversations/{cid}", headers=alex).status_code == 204
    assert client.get(NOTES, headers=alex).json() == [{**note, "conversation_id": None}]


def test_notes_need_the_scopes(client: TestClient) -> None:
    mock = mock_of(client)
    keys = {k["name"]: k["key"] for k in mock.credentials.api_keys}
    read_only = {"X-API-Key": keys["demo-read-only"]}
    assert client.get(NOTES, headers=read_only).status_code == 200
    response = client.post(NOTES, json={"title": "t", "content": "c"}, headers=read_only)
    assert response.status_code == 403 and response.json()["detail"]["required_scope"] == "conversations:write"
    assert client.get(NOTES).status_code == 401


def test_the_demo_user_has_seeded_notes(client: TestClient, demo: dict[str, str]) -> None:
    notes = client.get(NOTES, headers=demo).json()
    spec = catalog()["demo"]["notes"]
    assert [n["title"] for n in notes] == [s["title"] for s in reversed(spec)]  # the last one is the newest
    titles = {c["id"]: c["title"] for c in client.get("/api/core/conversations", headers=demo).json()}
    by_title = {n["title"]: n for n in notes}
    for s in spec:
        note = by_title[s["title"]]
        assert (note["content"], note["tags"]) == (s["content"], s["tags"])
        assert titles.get(note["conversation_id"]) == s["conversation"]
