"""Seeded worlds are built once per process and copied: a copy must be indistinguishable from a freshly seeded mock,
and every copy is independent of the others."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from mock_server import worlds
from mock_server.app import Settings, build_mock, create_app
from tests.conftest import LOCAL, bearer, login

FROZEN = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def _settings(**extra: object) -> Settings:
    return Settings(**{"seed": 11, "frozen_at": FROZEN, "access_log": False, **extra})  # type: ignore[arg-type]


def _fresh(**extra: object) -> object:
    worlds._worlds.clear()
    return build_mock(_settings(**extra))


def test_a_copied_world_equals_a_freshly_seeded_one() -> None:
    seeded = _fresh()
    copied = build_mock(_settings())
    assert copied.credentials == seeded.credentials  # type: ignore[attr-defined]
    assert copied.store.counts() == seeded.store.counts()  # type: ignore[attr-defined]
    assert copied.store.new_id() == seeded.store.new_id()  # type: ignore[attr-defined]  # the id stream goes on alike
    for mock in (seeded, copied):
        with TestClient(create_app(mock=mock), client=LOCAL) as client:  # type: ignore[arg-type]
            headers = bearer(login(client))
            found = client.get("/api/core/search", params={"q": "photosynthesis"}, headers=headers)
            assert found.status_code == 200, found.text
    first = TestClient(create_app(mock=seeded), client=LOCAL)  # type: ignore[arg-type]
    second = TestClient(create_app(mock=copied), client=LOCAL)  # type: ignore[arg-type]
    a = first.get("/api/core/search", params={"q": "the"}, headers=bearer(login(first))).json()
    b = second.get("/api/core/search", params={"q": "the"}, headers=bearer(login(second))).json()
    assert a["total"] > 0 and a == b  # the search index was rebuilt in the copy, hit for hit


def test_copies_are_independent() -> None:
    one, two = build_mock(_settings()), build_mock(_settings())
    with TestClient(create_app(mock=one), client=LOCAL) as client:
        note = client.post(
            "/api/core/notes", json={"title": "only here", "content": "x"}, headers=bearer(login(client))
        )
        assert note.status_code == 201
    assert one.store.counts()["notes"] == two.store.counts()["notes"] + 1


def test_another_seed_clock_or_fixture_file_is_another_world(tmp_path: Path) -> None:
    base = worlds.key(["xentree"], 11, "demo", FROZEN)
    assert worlds.key(["xentree"], 12, "demo", FROZEN) != base
    assert worlds.key(["xentree"], 11, "demo", datetime(2027, 1, 1, tzinfo=UTC)) != base
    assert worlds.key(["xentree", "xp-ledger"], 11, "demo", FROZEN) != base
    fixture = tmp_path / "mine.yaml"
    fixture.write_text("users: []\n")
    before = worlds.key(["xentree"], 11, str(fixture), FROZEN)
    fixture.write_text("users: []\n# edited\n")
    os.utime(fixture, ns=(1, 10**18))
    assert worlds.key(["xentree"], 11, str(fixture), FROZEN) != before


def test_state_files_and_random_secrets_are_never_copied(tmp_path: Path) -> None:
    worlds._worlds.clear()
    build_mock(_settings(state=tmp_path / "a.sqlite"))
    build_mock(_settings(host="0.0.0.0"))
    assert not worlds._worlds


def test_a_reset_copies_the_world_back_and_the_search_index_with_it() -> None:
    mock = build_mock(_settings())
    counts = mock.store.counts()
    with TestClient(create_app(mock=mock), client=LOCAL) as client:
        headers = bearer(login(client))
        client.post("/api/core/notes", json={"title": "zyxwordunique", "content": "x"}, headers=headers)
        assert client.get("/api/core/search", params={"q": "zyxwordunique"}, headers=headers).json()["total"] == 1
        assert client.post("/__mock__/reset", json={}).status_code == 200
        assert {k: v for k, v in mock.store.counts().items() if k != "refresh_tokens"} == {
            k: v for k, v in counts.items() if k != "refresh_tokens"
        }
        headers = bearer(login(client))
        assert client.get("/api/core/search", params={"q": "zyxwordunique"}, headers=headers).json()["total"] == 0
