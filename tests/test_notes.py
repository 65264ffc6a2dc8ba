"""Notes: create, list, partial update (PUT), delete; links to the owner's conversations; isolation between users;
the demo user's seeded notes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.domains.conversations import catalog
from tests.conftest import bearer, login, make_client

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NOTES = "/api/core/notes"
MISSING = "0b7d4c3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e"


@pytest.fixture
def app() -> Iterator[TestClient]:
    with make_client(frozen_at=NOW) as c:
        yield c


@pytest.fixture
def demo(app: TestClient) -> dict[str, str]:
    return bearer(login(app))


@pytest.fixture
def alex(app: TestClient) -> dict[str, str]:
    return bearer(login(app, "alex"))


def advance(app: TestClient, **amount: float) -> None:
    assert app.post("/__mock__/clock/advance", json=amount).status_code == 200


def create(app: TestClient, h: dict[str, str], status: int = 201, **body: Any) -> dict[str, Any]:
    response = app.post(NOTES, json={"title": "Launch plan", "content": "Milestones for Q3", **body}, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def update(app: TestClient, h: dict[str, str], note_id: str, body: Any, status: int = 200) -> dict[str, Any]:
    response = app.put(f"{NOTES}/{note_id}", json=body, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def conversation(app: TestClient, h: dict[str, str]) -> str:
    response = app.post("/api/core/conversations", json={"title": "Linked"}, headers=h)
    assert response.status_code == 201
    return response.json()["id"]


def test_create_returns_the_note_with_defaults(app: TestClient, alex: dict[str, str]) -> None:
    note = create(app, alex)
    assert note == {"id": note["id"], "title": "Launch plan", "content": "Milestones for Q3", "conversation_id": None,
                    "tags": [], "created_at": "2026-03-10T12:00:00Z", "updated_at": "2026-03-10T12:00:00Z"}  # fmt: skip
    assert app.get(NOTES, headers=alex).json() == [note]


def test_create_links_an_own_conversation_only(app: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    cid = conversation(app, alex)
    assert create(app, alex, conversation_id=cid, tags=["q3", "launch"])["conversation_id"] == cid
    for foreign in (conversation(app, demo), MISSING):
        body = create(app, alex, 404, conversation_id=foreign)
        assert "not found" in body["detail"]["message"]
    assert len(app.get(NOTES, headers=alex).json()) == 1


@pytest.mark.parametrize("body", [
    {"content": "no title"}, {"title": "no content"}, {"title": "", "content": "x"}, {"title": "t", "content": ""},
    {"title": "x" * 201, "content": "x"}, {"title": "t", "content": "x", "tags": ["a", "a"]},
    {"title": "t", "content": "x", "tags": [""]}, {"title": "t", "content": "x", "conversation_id": "nope"},
    {"title": "t", "content": "x", "tags": ["t"] * 21},
])  # fmt: skip
def test_create_rejects_bad_bodies(app: TestClient, alex: dict[str, str], body: dict[str, Any]) -> None:
    response = app.post(NOTES, json=body, headers=alex)
    assert response.status_code == 400, response.text


def test_list_is_most_recently_updated_first(app: TestClient, alex: dict[str, str]) -> None:
    first = create(app, alex, title="first")
    advance(app, minutes=1)
    second = create(app, alex, title="second")
    assert [n["id"] for n in app.get(NOTES, headers=alex).json()] == [second["id"], first["id"]]
    advance(app, minutes=1)
    update(app, alex, first["id"], {"content": "edited"})
    assert [n["id"] for n in app.get(NOTES, headers=alex).json()] == [first["id"], second["id"]]


def test_update_changes_only_the_fields_sent(app: TestClient, alex: dict[str, str]) -> None:
    cid = conversation(app, alex)
    note = create(app, alex, tags=["a"], conversation_id=cid)
    advance(app, minutes=5)
    updated = update(app, alex, note["id"], {"title": "Renamed", "tags": ["b", "c"]})
    assert (updated["title"], updated["content"], updated["tags"], updated["conversation_id"]) == (
        "Renamed", "Milestones for Q3", ["b", "c"], cid)
    assert (updated["created_at"], updated["updated_at"]) == ("2026-03-10T12:00:00Z", "2026-03-10T12:05:00Z")
    assert update(app, alex, note["id"], {"conversation_id": None})["conversation_id"] is None
    assert update(app, alex, note["id"], {"conversation_id": cid})["conversation_id"] == cid


def test_update_with_only_unknown_keys_changes_nothing(app: TestClient, alex: dict[str, str]) -> None:
    note = create(app, alex)
    advance(app, minutes=5)
    assert update(app, alex, note["id"], {"colour": "red"}) == note


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"content": ""}, {"tags": "x"}, {"conversation_id": "x"}, []])
def test_update_rejects_bad_bodies(app: TestClient, alex: dict[str, str], body: Any) -> None:
    note = create(app, alex)
    update(app, alex, note["id"], body, 400)


def test_update_to_a_foreign_or_unknown_conversation_is_404(app: TestClient, alex: dict[str, str],
                                                            demo: dict[str, str]) -> None:  # fmt: skip
    note = create(app, alex)
    for foreign in (conversation(app, demo), MISSING):
        update(app, alex, note["id"], {"conversation_id": foreign, "title": "moved"}, 404)
    assert app.get(NOTES, headers=alex).json() == [note]  # nothing changed


def test_delete_removes_the_note(app: TestClient, alex: dict[str, str]) -> None:
    note = create(app, alex)
    assert app.delete(f"{NOTES}/{note['id']}", headers=alex).status_code == 204
    assert app.get(NOTES, headers=alex).json() == []
    assert app.delete(f"{NOTES}/{note['id']}", headers=alex).status_code == 404
    update(app, alex, note["id"], {"title": "x"}, 404)


def test_unknown_and_malformed_ids(app: TestClient, alex: dict[str, str]) -> None:
    update(app, alex, MISSING, {"title": "x"}, 404)
    assert app.delete(f"{NOTES}/{MISSING}", headers=alex).status_code == 404
    assert app.delete(f"{NOTES}/not-a-uuid", headers=alex).status_code == 400


def test_other_users_notes_are_not_found(app: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    note = create(app, demo, title="demo secret")
    assert all(n["id"] != note["id"] for n in app.get(NOTES, headers=alex).json())
    assert app.put(f"{NOTES}/{note['id']}", json={"title": "hijacked"}, headers=alex).status_code == 404
    assert app.delete(f"{NOTES}/{note['id']}", headers=alex).status_code == 404
    mine = [n for n in app.get(NOTES, headers=demo).json() if n["id"] == note["id"]]
    assert mine == [note]


def test_deleting_the_conversation_unlinks_its_notes(app: TestClient, alex: dict[str, str]) -> None:
    cid = conversation(app, alex)
    note = create(app, alex, conversation_id=cid)
    assert app.delete(f"/api/core/conversations/{cid}", headers=alex).status_code == 204
    assert app.get(NOTES, headers=alex).json() == [{**note, "conversation_id": None}]


def test_notes_need_the_scopes(app: TestClient) -> None:
    mock = app.app.state.mock  # type: ignore[attr-defined]
    keys = {k["name"]: k["key"] for k in mock.credentials.api_keys}
    read_only = {"X-API-Key": keys["demo-read-only"]}
    assert app.get(NOTES, headers=read_only).status_code == 200
    response = app.post(NOTES, json={"title": "t", "content": "c"}, headers=read_only)
    assert response.status_code == 403 and response.json()["detail"]["required_scope"] == "conversations:write"
    assert app.get(NOTES).status_code == 401


def test_the_demo_user_has_seeded_notes(app: TestClient, demo: dict[str, str]) -> None:
    notes = app.get(NOTES, headers=demo).json()
    spec = catalog()["demo"]["notes"]
    assert [n["title"] for n in notes] == [s["title"] for s in reversed(spec)]  # the last one is the newest
    titles = {c["id"]: c["title"] for c in app.get("/api/core/conversations", headers=demo).json()}
    by_title = {n["title"]: n for n in notes}
    for s in spec:
        note = by_title[s["title"]]
        assert (note["content"], note["tags"]) == (s["content"], s["tags"])
        assert titles.get(note["conversation_id"]) == s["conversation"]
