"""Xentree English (XEL): learning sessions and their transcripts. The clock is frozen so times are exact
(tests/english_helpers.py).
"""

from __future__ import annotations

from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login
from tests.english_helpers import BASE, GOOD_TEXT, NOW, advance, start_session, submit

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here


# sessions and transcripts ----------------------------------------------------------------------------------------
def test_session_records_learning_time_and_quizzes(client: TestClient, alex: dict[str, str], mock: Mock) -> None:
    session = start_session(client, alex)
    assert session["session_type"] == "practice" and session["module_id"] is None and session["skill"] is None
    assert session["started_at"] == "2026-03-10T12:00:00Z"
    advance(client, minutes=5)
    submit(client, alex, "reading-1", "london nurse")  # 100: passed
    submit(client, alex, "listening-1", "no")  # 0: failed
    submit(client, alex, "writing-1", GOOD_TEXT)  # not scored: no quiz
    advance(client, minutes=15)
    ended = client.post(f"{BASE}/sessions/end", json={"session_id": session["session_id"]}, headers=alex)
    assert ended.status_code == 200
    assert ended.json() == {
        "session_id": session["session_id"],
        "started_at": "2026-03-10T12:00:00Z",
        "ended_at": "2026-03-10T12:20:00Z",
        "duration_seconds": 1200,
        "xp_awarded": 0,
    }
    rows = mock.store.all(
        "SELECT kind, started_at, ended_at, seconds, quizzes, quizzes_passed FROM learning_sessions "
        "WHERE user_id = (SELECT id FROM users WHERE username = 'alex')"
    )
    assert rows == [
        {
            "kind": "xel",
            "started_at": "2026-03-10T12:00:00Z",
            "ended_at": "2026-03-10T12:20:00Z",
            "seconds": 1200,
            "quizzes": 2,
            "quizzes_passed": 1,
        }
    ]
    twice = client.post(f"{BASE}/sessions/end", json={"session_id": session["session_id"]}, headers=alex)
    assert twice.status_code == 409 and twice.json()["detail"]["error"] == "session_ended"
    assert client.get(f"{BASE}/dashboard", headers=alex).json()["total_time_seconds"] == 1200


def test_session_start_validates_its_fields(client: TestClient, alex: dict[str, str]) -> None:
    session = start_session(client, alex, module_id="3", session_type="conversation", skill="speaking")
    assert (session["module_id"], session["session_type"], session["skill"]) == ("3", "conversation", "speaking")
    assert client.post(f"{BASE}/sessions/start", json={"module_id": "30"}, headers=alex).status_code == 404
    assert client.post(f"{BASE}/sessions/start", json={"session_type": "lecture"}, headers=alex).status_code == 400
    assert client.post(f"{BASE}/sessions/start", json={"skill": "math"}, headers=alex).status_code == 400


def test_transcripts_are_saved_and_listed_chronologically(client: TestClient, alex: dict[str, str]) -> None:
    sid = start_session(client, alex, skill="speaking")["session_id"]
    saved = client.post(
        f"{BASE}/transcripts", json={"session_id": sid, "role": "ai", "text": "How are you?"}, headers=alex
    )
    assert saved.status_code == 201
    assert saved.json()["session_id"] == sid and saved.json()["created_at"] == "2026-03-10T12:00:00Z"
    earlier = {"session_id": sid, "role": "user", "text": "Hello!", "timestamp": "2026-03-10T11:59:30+00:00"}
    assert client.post(f"{BASE}/transcripts", json=earlier, headers=alex).status_code == 201
    items = client.get(f"{BASE}/transcripts/{sid}", headers=alex).json()
    assert [(i["role"], i["text"], i["timestamp"]) for i in items] == [
        ("user", "Hello!", "2026-03-10T11:59:30Z"),
        ("ai", "How are you?", "2026-03-10T12:00:00Z"),
    ]
    assert items[1]["id"] == saved.json()["id"]
    client.post(f"{BASE}/sessions/end", json={"session_id": sid}, headers=alex)
    after = {"session_id": sid, "role": "user", "text": "Bye."}  # saving after the end is allowed (late upload)
    assert client.post(f"{BASE}/transcripts", json=after, headers=alex).status_code == 201
    assert len(client.get(f"{BASE}/transcripts/{sid}", headers=alex).json()) == 3


def test_sessions_of_other_users_are_not_found(client: TestClient, alex: dict[str, str]) -> None:
    sid = start_session(client, alex)["session_id"]
    client.post(f"{BASE}/transcripts", json={"session_id": sid, "role": "user", "text": "Private."}, headers=alex)
    demo = bearer(login(client, "demo"))
    assert client.get(f"{BASE}/transcripts/{sid}", headers=demo).status_code == 404
    assert (
        client.post(
            f"{BASE}/transcripts", json={"session_id": sid, "role": "user", "text": "x"}, headers=demo
        ).status_code
        == 404
    )
    assert client.post(f"{BASE}/sessions/end", json={"session_id": sid}, headers=demo).status_code == 404
    assert len(client.get(f"{BASE}/transcripts/{sid}", headers=alex).json()) == 1


def test_session_and_transcript_bad_input(client: TestClient, alex: dict[str, str]) -> None:
    unknown = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
    assert client.post(f"{BASE}/sessions/end", json={"session_id": unknown}, headers=alex).status_code == 404
    assert client.post(f"{BASE}/sessions/end", json={"session_id": "nope"}, headers=alex).status_code == 400
    assert client.post(f"{BASE}/sessions/end", json={}, headers=alex).status_code == 400
    assert client.get(f"{BASE}/transcripts/{unknown}", headers=alex).status_code == 404
    assert client.get(f"{BASE}/transcripts/not-a-uuid", headers=alex).status_code == 400
    sid = start_session(client, alex)["session_id"]
    for body in (
        {"session_id": sid, "role": "robot", "text": "x"},
        {"session_id": sid, "role": "user", "text": ""},
        {"session_id": sid, "role": "user", "text": "x", "timestamp": "yesterday"},
        {"session_id": sid, "text": "x"},
    ):
        assert client.post(f"{BASE}/transcripts", json=body, headers=alex).status_code == 400, body
    assert (
        client.post(
            f"{BASE}/transcripts", json={"session_id": unknown, "role": "user", "text": "x"}, headers=alex
        ).status_code
        == 404
    )


def test_a_clock_set_back_never_gives_a_negative_session(client: TestClient, alex: dict[str, str]) -> None:
    sid = start_session(client, alex)["session_id"]
    client.post("/__mock__/clock/set", json={"at": "2026-03-10T11:00:00Z"})
    ended = client.post(f"{BASE}/sessions/end", json={"session_id": sid}, headers=alex).json()
    assert ended["duration_seconds"] == 0 and ended["ended_at"] == ended["started_at"]
