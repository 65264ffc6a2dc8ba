"""A frontend's whole day, through the public operations only: every activity shows up in every view, consistently.

A new learner in New York registers, chats in a conversation while a conversation session runs, keeps a note, finds
both with search, does an English task and a Live session, then reads the profile, streak, week, pulse, quests and
learning time. The clock then moves past local midnight: the quests reset and the streak is at risk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import bearer, login
from tests.profile_analytics_helpers import PRIVATE_VIEWS, assert_views_agree

MORNING = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # 09:00 on a Wednesday in New York (UTC-5)
FROZEN_AT = MORNING  # read by the conftest `client` fixture


class Frontend:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        user = {
            "username": "nia",
            "email": "nia@example.com",
            "password": "pass-word-1",
            "timezone": "America/New_York",
        }
        assert client.post("/api/auth/register", json=user).status_code == 201
        self.headers = bearer(login(client, "nia", "pass-word-1"))

    def send(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def advance(self, minutes: int) -> None:
        assert self.client.post("/__mock__/clock/advance", json={"minutes": minutes}).status_code == 200

    def views(self) -> dict[str, Any]:
        names = ("profile", "streak", "weekly", "pulse", "quests", "time")
        out = {name: self.send("GET", path) for name, path in zip(names, PRIVATE_VIEWS, strict=True)}
        out["public"] = self.send("GET", "/api/xp/public-profile/nia")
        return out


def test_a_learning_day_shows_up_in_every_view(client: TestClient) -> None:
    ui = Frontend(client)
    earned = 0

    conversation = ui.send("POST", "/api/core/conversations", 201, json={"title": "Photosynthesis"})
    cid = conversation["id"]
    ui.send("POST", f"/api/core/conversations/{cid}/session/start", 201)
    reply = ui.send(
        "POST", "/api/core/chat", json={"message": "How do chloroplasts capture light energy?", "conversation_id": cid}
    )
    assert reply["content"]
    for _ in range(3):  # a heartbeat every 4 minutes keeps the session counting
        ui.advance(4)
        ui.send("POST", f"/api/core/conversations/{cid}/session/activity")
    ended = ui.send("POST", f"/api/core/conversations/{cid}/session/end")
    assert ended["duration_seconds"] == 12 * 60 and ended["xp_awarded"] == 12
    earned += ended["xp_awarded"]
    messages = ui.send("GET", f"/api/core/conversations/{cid}/messages")
    assert [m["role"] for m in messages][:2] == ["user", "assistant"]

    ui.send(
        "POST",
        "/api/core/notes",
        201,
        json={"title": "Chloroplast notes", "content": "Thylakoid membranes", "conversation_id": cid},
    )
    found = ui.send("GET", "/api/core/search", params={"q": "chloroplast"})
    assert found["notes"] and found["messages"]

    task = {"module_id": "1", "task_id": "reading-1", "skill": "reading", "response": "London, nurse"}
    ui.send("POST", "/api/learn/english/modules/1/start")
    submitted = ui.send("POST", "/api/learn/english/tasks/submit", json=task)
    earned += submitted["xp_awarded"]

    live = ui.send("POST", "/api/live/session/start", 201, json={"session_type": "voice"})
    ui.advance(5)
    ui.send("POST", "/api/live/session/heartbeat", json={"session_id": live["session_id"]})
    live_end = ui.send("POST", "/api/live/session/end", json={"session_id": live["session_id"]})
    assert live_end["duration_seconds"] == 300

    views = ui.views()
    assert_views_agree(views, views["profile"]["total_xp"])
    transactions = views["profile"]["recent_transactions"]
    activity_xp = sum(t["amount"] for t in transactions if t["source"] != "quest")
    assert activity_xp >= earned  # the conversation session and the English task (Live may add its own)
    today = views["quests"]["date"]
    assert today == "2026-03-04"
    pulse_today = views["pulse"]["data"][-1]
    assert pulse_today["date"] == today and pulse_today["xp_earned"] == views["profile"]["total_xp"]
    assert pulse_today["sessions"] >= 2  # the conversation session and the Live session
    assert views["time"]["totalSessions"] >= 2
    assert views["time"]["totalLearningTime"] >= 12 * 60 + 300
    quests = {q["id"]: q for q in views["quests"]["quests"]}
    assert any(q["status"] != "active" for q in quests.values())  # the session quest was reached or claimed
    assert views["streak"]["current_streak"] == 1 and not views["streak"]["streak_at_risk"]

    ui.advance(15 * 60)  # just after midnight in New York
    ui.headers = bearer(login(client, "nia", "pass-word-1"))  # the access token lived an hour
    tomorrow = ui.views()
    assert tomorrow["quests"]["date"] == "2026-03-05"
    assert all(q["status"] == "active" and q["progress"] == 0 for q in tomorrow["quests"]["quests"])
    assert tomorrow["profile"]["today_xp"]["total"] == 0
    assert tomorrow["streak"]["current_streak"] == 1 and tomorrow["streak"]["streak_at_risk"]
    assert_views_agree(tomorrow, views["profile"]["total_xp"])
