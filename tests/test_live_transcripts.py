"""Xentree Live transcripts: saving, listing newest first with previews, UTC times, refused bodies, linking one of the
caller's sessions, bearer-only saving and isolation between users. The clock is frozen so every second is exact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests import live_helpers
from tests.conftest import bearer, login, make_client
from tests.live_helpers import (
    NOW,
    TRANSCRIPT,
    quota,
    relogin,
    start,
    user_id,
)

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
keys, demo = live_helpers.keys, live_helpers.demo  # fixtures: bound here so pytest finds them


# transcripts -------------------------------------------------------------------------------------------------------
def save(client: TestClient, h: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/api/live/transcripts", json=body, headers=h)


def test_save_list_and_get_a_transcript(client: TestClient, alex: dict[str, str]) -> None:
    saved = save(client, alex, TRANSCRIPT)
    assert saved.status_code == 201, saved.text
    assert saved.json()["turn_count"] == 2 and saved.json()["created_at"] == "2026-04-16T10:00:00Z"
    listed = client.get("/api/live/transcripts", headers=alex).json()
    item = {
        "id": saved.json()["id"],
        "session_started_at": "2026-04-16T08:00:00Z",
        "session_ended_at": "2026-04-16T08:05:00Z",
        "turn_count": 2,
        "preview": "Hello Xentree",
    }
    assert listed == {"total": 1, "transcripts": [item]}
    detail = client.get(f"/api/live/transcripts/{saved.json()['id']}", headers=alex).json()
    assert detail == {"id": saved.json()["id"], "session_id": None, **TRANSCRIPT, "created_at": "2026-04-16T10:00:00Z"}


def test_transcripts_are_listed_newest_session_first_with_short_previews(
    client: TestClient, alex: dict[str, str]
) -> None:
    long_text = "word " * 100
    for day in ("2026-04-10", "2026-04-14", "2026-04-12"):
        body = {
            "session_started_at": f"{day}T09:00:00Z",
            "session_ended_at": f"{day}T09:30:00Z",
            "transcripts": [{"role": "user", "text": long_text, "timestamp": f"{day}T09:01:00Z"}],
        }
        assert save(client, alex, body).status_code == 201
    items = client.get("/api/live/transcripts", headers=alex).json()["transcripts"]
    assert [i["session_started_at"][:10] for i in items] == ["2026-04-14", "2026-04-12", "2026-04-10"]
    assert all(len(i["preview"]) == 200 for i in items)


def test_times_are_stored_in_utc(client: TestClient, alex: dict[str, str]) -> None:
    body = {
        "session_started_at": "2026-04-16T10:00:00+02:00",
        "session_ended_at": "2026-04-16t08:05:00z",
        "transcripts": [{"role": "ai", "text": "Hi", "timestamp": "2026-04-16T04:00:03-04:00"}],
    }
    saved = save(client, alex, body).json()
    detail = client.get(f"/api/live/transcripts/{saved['id']}", headers=alex).json()
    assert detail["session_started_at"] == "2026-04-16T08:00:00Z"
    assert detail["session_ended_at"] == "2026-04-16T08:05:00Z"
    assert detail["transcripts"][0]["timestamp"] == "2026-04-16T08:00:03Z"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"session_ended_at": "2026-04-16T07:59:59Z"}, 400, "invalid_time_range"),
        ({"session_started_at": "0001-01-01T00:00:00+14:00"}, 400, "invalid_date_time"),
        ({"session_ended_at": "yesterday"}, 400, "validation_error"),
        ({"transcripts": []}, 400, "validation_error"),
        (
            {"transcripts": [{"role": "robot", "text": "x", "timestamp": "2026-04-16T08:00:03Z"}]},
            400,
            "validation_error",
        ),
        ({"session_id": "3f1c2b9e-7a44-4d2f-9b1e-5c6d7e8f9a01"}, 404, "not_found"),
    ],
)
def test_bad_transcripts_are_refused(
    client: TestClient, alex: dict[str, str], change: dict[str, Any], status: int, error: str
) -> None:
    response = save(client, alex, {**TRANSCRIPT, **change})
    assert response.status_code == status, response.text
    assert response.json()["detail"]["error"] == error


def test_a_transcript_may_name_one_of_the_callers_sessions(
    client: TestClient, alex: dict[str, str], demo: dict[str, str]
) -> None:
    mine = start(client, alex)["session_id"]
    saved = save(client, alex, {**TRANSCRIPT, "session_id": mine})
    assert saved.status_code == 201
    assert client.get(f"/api/live/transcripts/{saved.json()['id']}", headers=alex).json()["session_id"] == mine
    theirs = start(client, demo)["session_id"]
    assert save(client, alex, {**TRANSCRIPT, "session_id": theirs}).status_code == 404


def test_saving_is_bearer_only(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    response = save(client, keys["demo-full-access"], TRANSCRIPT)
    assert response.status_code == 401 and response.json()["detail"]["error"] == "api_key_not_accepted"


def test_transcripts_are_private(client: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    mine = save(client, alex, TRANSCRIPT).json()["id"]
    theirs = client.get("/api/live/transcripts", headers=demo).json()
    assert mine not in str(theirs)
    hidden = client.get(f"/api/live/transcripts/{mine}", headers=demo)
    assert hidden.status_code == 404 and "Hello Xentree" not in hidden.text
    assert client.get("/api/live/transcripts/3f1c2b9e-7a44-4d2f-9b1e-5c6d7e8f9a01", headers=alex).status_code == 404
    assert client.get("/api/live/transcripts/not-a-uuid", headers=alex).status_code == 400
    assert client.get(f"/api/live/transcripts/{mine}", headers=alex).status_code == 200


def test_demo_has_two_seeded_transcripts_of_its_sessions(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    listed = client.get("/api/live/transcripts", headers=demo).json()
    assert listed["total"] == 2
    for item in listed["transcripts"]:
        detail = client.get(f"/api/live/transcripts/{item['id']}", headers=demo).json()
        assert item["turn_count"] == len(detail["transcripts"]) == 4
        session = mock.store.one("SELECT * FROM live_sessions WHERE id = ?", (detail["session_id"],))
        times = (detail["session_started_at"], detail["session_ended_at"])
        assert (session["started_at"], session["ended_at"]) == times
        assert "2026-04-01T00:00:00Z" <= detail["session_ended_at"] <= "2026-04-16T10:00:00Z"
    nickname = mock.store.one("SELECT nickname FROM live_nicknames WHERE user_id = ?", (user_id(client, "demo"),))
    assert nickname["nickname"] == "Demo"


def test_seeded_usage_counts_this_month_even_on_the_first() -> None:
    with make_client(frozen_at=datetime(2026, 5, 1, 0, 0, tzinfo=UTC)) as c:
        q = quota(c, bearer(login(c)))
        assert q["used_seconds"] >= 18 * 60 and q["period_start"] == "2026-05-01T00:00:00Z"


def test_a_reset_restores_the_demo_world(client: TestClient, alex: dict[str, str]) -> None:
    save(client, alex, TRANSCRIPT)
    assert client.post("/__mock__/reset", json={}).status_code == 200
    relogin(client, alex)
    assert client.get("/api/live/transcripts", headers=alex).json()["total"] == 0
    assert quota(client, bearer(login(client)))["used_seconds"] > 0
