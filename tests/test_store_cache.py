"""The store's read cache (store.py) never answers what the database would not: every write, rolled back or not, a
copy into the store, a clear, and a commit by another connection to a state file are seen by the next read; what a
caller gets is its own copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mock_server.store import Store

USERS = "SELECT id, username FROM users ORDER BY id"
ONE = "SELECT username FROM users WHERE id = ?"
COUNT = "SELECT COUNT(*) FROM users"


def add_user(store: Store, user_id: str, username: str) -> None:
    store.insert(
        "users",
        {"id": user_id, "username": username, "email": f"{username}@x.test", "password_hash": "-", "created_at": "now"},
    )


@pytest.fixture
def store() -> Store:
    store = Store()
    add_user(store, "u1", "ada")
    return store


def test_a_write_is_seen_by_the_next_read(store: Store) -> None:
    assert store.one(ONE, ("u1",)) == {"username": "ada"}
    assert store.count(COUNT) == 1
    store.run("UPDATE users SET username = 'bea' WHERE id = 'u1'")
    assert store.one(ONE, ("u1",)) == {"username": "bea"}
    add_user(store, "u2", "cy")
    assert store.count(COUNT) == 2
    assert [r["username"] for r in store.all(USERS)] == ["bea", "cy"]
    store.run("DELETE FROM users")
    assert store.one(ONE, ("u1",)) is None
    assert store.all(USERS) == []


def test_a_rolled_back_write_is_not_seen(store: Store) -> None:
    assert store.count(COUNT) == 1
    with pytest.raises(RuntimeError), store.transaction():
        add_user(store, "u2", "cy")
        assert store.count(COUNT) == 2  # inside the transaction, the write is visible
        raise RuntimeError("refused")
    assert store.count(COUNT) == 1


def test_a_copy_and_a_clear_are_seen(store: Store) -> None:
    other = Store()
    add_user(other, "u9", "zed")
    assert [r["id"] for r in store.all(USERS)] == ["u1"]
    store.copy_from(other)
    assert [r["id"] for r in store.all(USERS)] == ["u9"]
    store.clear()
    assert store.all(USERS) == []


def test_callers_get_copies(store: Store) -> None:
    first = store.one(ONE, ("u1",))
    assert first is not None
    first["username"] = "changed by the caller"
    rows = store.all(USERS)
    rows[0]["username"] = "changed too"
    rows.append({"id": "fake"})
    assert store.one(ONE, ("u1",)) == {"username": "ada"}
    assert store.all(USERS) == [{"id": "u1", "username": "ada"}]


def test_another_connection_to_a_state_file_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store, writer = Store(path), Store(path)
    add_user(writer, "u1", "ada")
    assert store.count(COUNT) == 1
    add_user(writer, "u2", "bea")
    assert store.count(COUNT) == 2
    writer.run("UPDATE users SET username = 'cy' WHERE id = 'u1'")
    assert store.one(ONE, ("u1",)) == {"username": "cy"}
    store.close()
    writer.close()


def test_unhashable_parameters_are_read_every_time(store: Store) -> None:
    params: tuple[object, ...] = ("u1",)
    assert store.one(ONE, params) == {"username": "ada"}
    with pytest.raises(sqlite3.ProgrammingError):  # SQLite refuses a list parameter, as it did before the cache
        store.one(ONE, (["u1"],))
