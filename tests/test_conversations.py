"""Conversations: providers, conversations and messages, the deterministic chat, conversation sessions (learning
time and XP through the shared ledger), isolation between users, and the demo user's seeded conversations.
The clock is frozen so times and durations are exact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.conversations import (
    IDLE_CAP_SECONDS,
    catalog,
    compose_reply,
    count_tokens,
    keywords,
    providers,
    title_from,
    topic_of,
)
from tests.conftest import bearer, login, make_client, mock_of

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday noon UTC
FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
BASE = "/api/core"
MISSING = "0b7d4c3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e"
PROMPT = "Create a learning plan for my team."


@pytest.fixture
def keys(mock: Mock) -> dict[str, str]:
    return {k["name"]: k["key"] for k in mock.credentials.api_keys}


def register(client: TestClient, username: str) -> dict[str, str]:
    body = {"username": username, "email": f"{username}@example.com", "password": "pass-word-1", "timezone": "UTC"}
    assert client.post("/api/auth/register", json=body).status_code == 201
    return bearer(login(client, username, "pass-word-1"))


def advance(client: TestClient, **amount: float) -> None:
    assert client.post("/__mock__/clock/advance", json=amount).status_code == 200


def create(client: TestClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/conversations", json=body, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


def chat(client: TestClient, h: dict[str, str], status: int = 200, **body: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/chat", json={"message": PROMPT, **body}, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def messages(client: TestClient, h: dict[str, str], cid: str) -> list[dict[str, Any]]:
    response = client.get(f"{BASE}/conversations/{cid}/messages", headers=h)
    assert response.status_code == 200, response.text
    return response.json()


def session(client: TestClient, h: dict[str, str], cid: str, action: str, status: int = 200) -> dict[str, Any]:
    method = client.get if action == "status" else client.post
    response = method(f"{BASE}/conversations/{cid}/session/{action}", headers=h)
    assert response.status_code == status, response.text
    return response.json()


# providers ---------------------------------------------------------------------------------------------------------
def test_providers_list_auto_as_the_single_default(client: TestClient, demo: dict[str, str]) -> None:
    listed = client.get(f"{BASE}/providers", headers=demo).json()
    assert [p["id"] for p in listed] == [p.id for p in providers()]
    assert [p["id"] for p in listed if p["default"]] == ["auto"]
    assert all(p["models"] for p in listed)
    assert set(listed[0]) == {"id", "name", "models", "default"}


def test_providers_with_a_read_only_key(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get(f"{BASE}/providers", headers={"X-API-Key": keys["demo-read-only"]}).status_code == 200


# conversations -----------------------------------------------------------------------------------------------------
def test_create_applies_the_defaults(client: TestClient, alex: dict[str, str]) -> None:
    conv = create(client, alex)
    assert (conv["title"], conv["provider"], conv["message_count"]) == ("New conversation", "auto", 0)
    assert conv["created_at"] == conv["updated_at"] == "2026-03-10T12:00:00Z"
    assert create(client, alex, title="Plan", provider="openai")["provider"] == "openai"


def test_create_with_an_unknown_provider_is_404(client: TestClient, alex: dict[str, str]) -> None:
    response = client.post(f"{BASE}/conversations", json={"provider": "skynet"}, headers=alex)
    assert response.status_code == 404
    assert "skynet" in response.json()["detail"]["message"]
    assert client.get(f"{BASE}/conversations", headers=alex).json() == []


@pytest.mark.parametrize("body", [{"title": ""}, {"title": "x" * 201}, {"provider": ""}, {"title": 5}, []])
def test_create_rejects_bad_bodies(client: TestClient, alex: dict[str, str], body: Any) -> None:
    assert client.post(f"{BASE}/conversations", json=body, headers=alex).status_code == 400


def test_list_is_the_callers_own_most_recently_updated_first(client: TestClient, alex: dict[str, str]) -> None:
    first = create(client, alex, title="first")
    advance(client, minutes=1)
    second = create(client, alex, title="second")
    listed = client.get(f"{BASE}/conversations", headers=alex).json()
    assert [c["id"] for c in listed] == [second["id"], first["id"]]
    advance(client, minutes=1)
    chat(client, alex, conversation_id=first["id"])  # a new message moves it to the top
    listed = client.get(f"{BASE}/conversations", headers=alex).json()
    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert (listed[0]["message_count"], listed[0]["updated_at"]) == (2, "2026-03-10T12:02:00Z")


def test_other_users_conversations_are_not_found(
    client: TestClient, demo: dict[str, str], alex: dict[str, str]
) -> None:
    mine = create(client, demo, title="private plans")
    assert all(c["id"] != mine["id"] for c in client.get(f"{BASE}/conversations", headers=alex).json())
    cid = mine["id"]
    for response in (
        client.get(f"{BASE}/conversations/{cid}/messages", headers=alex),
        client.delete(f"{BASE}/conversations/{cid}", headers=alex),
        client.post(f"{BASE}/conversations/{cid}/session/start", headers=alex),
        client.post(f"{BASE}/conversations/{cid}/session/activity", headers=alex),
        client.post(f"{BASE}/conversations/{cid}/session/end", headers=alex),
        client.get(f"{BASE}/conversations/{cid}/session/status", headers=alex),
        client.post(f"{BASE}/chat", json={"message": "hi", "conversation_id": cid}, headers=alex),
    ):
        assert response.status_code == 404, response.request.url
        assert "private plans" not in response.text
    assert messages(client, demo, cid) == []  # still there, untouched


def test_delete_removes_the_conversation_and_its_messages(client: TestClient, alex: dict[str, str]) -> None:
    conv = create(client, alex)
    chat(client, alex, conversation_id=conv["id"])
    assert client.delete(f"{BASE}/conversations/{conv['id']}", headers=alex).status_code == 204
    assert client.get(f"{BASE}/conversations/{conv['id']}/messages", headers=alex).status_code == 404
    assert client.delete(f"{BASE}/conversations/{conv['id']}", headers=alex).status_code == 404
    assert client.get(f"{BASE}/conversations", headers=alex).json() == []
    mock: Mock = mock_of(client)
    assert mock.store.one("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?", (conv["id"],))["n"] == 0


def test_ids_match_case_insensitively_and_bad_ids_are_400(client: TestClient, alex: dict[str, str]) -> None:
    conv = create(client, alex)
    assert client.get(f"{BASE}/conversations/{conv['id'].upper()}/messages", headers=alex).status_code == 200
    assert client.get(f"{BASE}/conversations/not-a-uuid/messages", headers=alex).status_code == 400
    assert client.get(f"{BASE}/conversations/{MISSING}/messages", headers=alex).status_code == 404


def test_an_api_key_acts_as_its_owner(client: TestClient, alex: dict[str, str], keys: dict[str, str]) -> None:
    key = {"X-API-Key": keys["alex-northwind"]}
    conv = create(client, key, title="via key")
    assert [c["id"] for c in client.get(f"{BASE}/conversations", headers=alex).json()] == [conv["id"]]
    assert client.delete(f"{BASE}/conversations/{conv['id']}", headers=key).status_code == 204


def test_a_read_only_key_cannot_write(client: TestClient, keys: dict[str, str]) -> None:
    key = {"X-API-Key": keys["demo-read-only"]}
    response = client.post(f"{BASE}/conversations", json={}, headers=key)
    assert response.status_code == 403
    assert response.json()["detail"]["error"] == "INSUFFICIENT_API_KEY_SCOPE"
    assert client.get(f"{BASE}/conversations", headers=key).status_code == 200


# chat --------------------------------------------------------------------------------------------------------------
def test_the_same_seed_and_prompt_give_the_same_reply(client: TestClient, demo: dict[str, str]) -> None:
    first = chat(client, demo, provider="openai")
    assert chat(client, demo, provider="openai") == first
    with make_client(frozen_at=NOW) as other:  # a second mock with the same seed
        assert chat(other, bearer(login(other)), provider="openai") == first
    assert chat(client, demo, provider="openai", message="How do I learn Spanish verbs?")["content"] != first["content"]


def test_another_seed_changes_the_replies(client: TestClient, demo: dict[str, str]) -> None:
    prompts = [f"Explain topic number {i} about negotiation skills." for i in range(6)]
    replies = [chat(client, demo, message=p, provider="openai")["content"] for p in prompts]
    with make_client(frozen_at=NOW, seed=7) as other:
        h = bearer(login(other))
        assert [chat(other, h, message=p, provider="openai")["content"] for p in prompts] != replies


def test_the_reply_is_composed_from_the_prompt(client: TestClient, demo: dict[str, str]) -> None:
    reply = chat(client, demo, provider="anthropic")
    book = catalog()["replies"]["en"]
    assert reply["content"] == compose_reply(0, "claude-haiku-4-5", PROMPT, None, 0)
    assert "Create a learning plan for my team" in reply["content"]
    assert any(reply["content"].startswith(o.split("{")[0]) for o in book["openers"])
    assert any(reply["content"].endswith(c) for c in book["closers"])
    assert book["follow_up"].split("{")[0] not in reply["content"]


def test_auto_routes_to_one_of_its_models_and_reports_no_usage(client: TestClient, demo: dict[str, str]) -> None:
    auto = next(p for p in providers() if p.id == "auto")
    seen = set()
    for i in range(8):
        reply = chat(client, demo, provider="auto", message=f"Question {i} about presentations")
        assert reply["provider"] == "auto" and reply["usage"] is None and reply["model"] in auto.models
        seen.add(reply["model"])
    assert len(seen) > 1  # the route depends on the prompt
    assert chat(client, demo)["provider"] == "auto"  # the default when none is named


def test_a_concrete_provider_answers_with_its_first_model_and_usage(client: TestClient, demo: dict[str, str]) -> None:
    history = [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi!"}]
    reply = chat(client, demo, provider="OpenAI", conversation_history=history)
    assert (reply["provider"], reply["model"]) == ("OpenAI", "gpt-5-mini")
    prompt_tokens = count_tokens(PROMPT) + count_tokens("Hello there") + count_tokens("Hi!")
    assert reply["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": count_tokens(reply["content"]),
        "total_tokens": prompt_tokens + count_tokens(reply["content"]),
    }
    assert "2 earlier turns" in reply["content"]


def test_a_model_name_selects_that_model(client: TestClient, demo: dict[str, str]) -> None:
    reply = chat(client, demo, provider="gemini-2.5-pro")
    assert (reply["provider"], reply["model"]) == ("gemini-2.5-pro", "gemini-2.5-pro")


def test_an_unknown_provider_is_404(client: TestClient, demo: dict[str, str]) -> None:
    body = chat(client, demo, 404, provider="skynet-9000")
    assert body["detail"]["error"] == "not_found" and "skynet-9000" in body["detail"]["message"]


def test_user_language_picks_the_phrasebook(client: TestClient, demo: dict[str, str]) -> None:
    german = chat(client, demo, provider="openai", user_language="de-AT")["content"]
    assert any(german.endswith(c) for c in catalog()["replies"]["de"]["closers"])
    english = chat(client, demo, provider="openai", user_language="ja")["content"]  # no Japanese phrasebook
    assert any(english.endswith(c) for c in catalog()["replies"]["en"]["closers"])


def test_chat_stores_both_turns_in_the_conversation(client: TestClient, alex: dict[str, str]) -> None:
    conv = create(client, alex)
    reply = chat(client, alex, conversation_id=conv["id"], message="How do I run better retrospectives?\nDetails...")
    stored = messages(client, alex, conv["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "How do I run better retrospectives?\nDetails..."),
        ("assistant", reply["content"]),
    ]
    assert all(m["conversation_id"] == conv["id"] and m["created_at"] == "2026-03-10T12:00:00Z" for m in stored)
    listed = client.get(f"{BASE}/conversations", headers=alex).json()[0]
    assert listed["title"] == "How do I run better retrospectives?"  # a new conversation takes its first line
    second = chat(client, alex, conversation_id=conv["id"], message="And for remote teams?")
    assert "2 earlier turns" in second["content"]  # the stored messages are the prior turns
    assert len(messages(client, alex, conv["id"])) == 4
    assert client.get(f"{BASE}/conversations", headers=alex).json()[0]["title"] == "How do I run better retrospectives?"


def test_chat_keeps_a_chosen_title_and_uses_the_conversation_provider(client: TestClient, alex: dict[str, str]) -> None:
    conv = create(client, alex, title="Mine", provider="google")
    reply = chat(client, alex, conversation_id=conv["id"])
    assert (reply["provider"], reply["model"]) == ("google", "gemini-2.5-flash")
    assert client.get(f"{BASE}/conversations", headers=alex).json()[0]["title"] == "Mine"


def test_chat_into_an_unknown_conversation_is_404_and_stores_nothing(client: TestClient, alex: dict[str, str]) -> None:
    chat(client, alex, 404, conversation_id=MISSING)
    mock: Mock = mock_of(client)
    assert mock.store.one("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?", (MISSING,))["n"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"provider": "auto"},
        {"message": "x" * 10001},
        {"message": "hi", "user_language": "english!"},
        {"message": "hi", "conversation_history": [{"role": "robot", "content": "x"}]},
        {"message": "hi", "conversation_id": "nope"},
        {"message": 42},
    ],
)
def test_chat_rejects_bad_bodies(client: TestClient, demo: dict[str, str], body: dict[str, Any]) -> None:
    response = client.post(f"{BASE}/chat", json=body, headers=demo)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["message"]


def test_a_message_without_words_still_gets_a_reply(client: TestClient, demo: dict[str, str]) -> None:
    reply = chat(client, demo, message="   ?! ", provider="openai")
    assert "your question" in reply["content"] or "your goal" in reply["content"]


def test_composition_helpers() -> None:
    assert keywords("Plan the plan, then the team plan and the budget review", ["a", "b", "c"]) == [
        "plan",
        "budget",
        "review",
    ]
    assert keywords("Hi", ["your goal", "the basics", "daily practice"]) == [
        "your goal",
        "the basics",
        "daily practice",
    ]
    assert topic_of("One two three. Four five", "x") == "One two three"
    assert topic_of(" ".join(str(i) for i in range(20)), "x").endswith("11...")
    assert topic_of("  ", "fallback") == "fallback"
    assert title_from("\n\n  Short title  \nmore") == "Short title"
    assert title_from("word " * 30).endswith("...") and len(title_from("word " * 30) or "") <= 63
    assert title_from("   ") is None
    assert count_tokens("Hello, world!") == 4


# conversation sessions ---------------------------------------------------------------------------------------------
def test_session_lifecycle_counts_time_and_awards_xp(client: TestClient) -> None:
    h = register(client, "sam")
    cid = create(client, h)["id"]
    assert session(client, h, cid, "status") == {
        "active": False,
        "session_id": None,
        "started_at": None,
        "active_seconds": 0,
    }
    started = session(client, h, cid, "start", 201)
    assert (started["status"], started["started_at"], started["conversation_id"]) == (
        "active",
        "2026-03-10T12:00:00Z",
        cid,
    )
    advance(client, minutes=4)
    beat = session(client, h, cid, "activity")
    assert (beat["session_id"], beat["active_seconds"], beat["last_activity_at"]) == (
        started["session_id"],
        240,
        "2026-03-10T12:04:00Z",
    )
    advance(client, minutes=3, seconds=30)
    status = session(client, h, cid, "status")
    assert (status["active"], status["session_id"], status["active_seconds"]) == (True, started["session_id"], 450)
    ended = session(client, h, cid, "end")
    assert ended == {
        "session_id": started["session_id"],
        "ended_at": "2026-03-10T12:07:30Z",
        "duration_seconds": 450,
        "xp_awarded": 7,
    }
    assert session(client, h, cid, "status")["active"] is False
    profile = client.get("/api/xp/profile", headers=h).json()
    tx = [t for t in profile["recent_transactions"] if t["source"] == "conversation_session"]
    assert [(t["amount"], t["description"]) for t in tx] == [(7, "Conversation session (7 min)")]
    analytics = client.get("/api/analytics/learning-time", headers=h).json()
    assert (analytics["totalLearningTime"], analytics["totalSessions"]) == (450, 1)


def test_idle_time_beyond_the_cap_does_not_count(client: TestClient) -> None:
    h = register(client, "idle")
    cid = create(client, h)["id"]
    session(client, h, cid, "start", 201)
    advance(client, minutes=30)
    assert session(client, h, cid, "status")["active_seconds"] == IDLE_CAP_SECONDS
    assert session(client, h, cid, "activity")["active_seconds"] == IDLE_CAP_SECONDS
    advance(client, minutes=2)
    assert session(client, h, cid, "end")["duration_seconds"] == IDLE_CAP_SECONDS + 120


def test_starting_again_returns_the_active_session(client: TestClient, alex: dict[str, str]) -> None:
    cid = create(client, alex)["id"]
    first = session(client, alex, cid, "start", 201)
    advance(client, minutes=2)
    assert session(client, alex, cid, "start", 201) == first
    other = create(client, alex)["id"]  # every conversation has its own session
    assert session(client, alex, other, "start", 201)["session_id"] != first["session_id"]


def test_activity_and_end_without_an_active_session_are_404(client: TestClient, alex: dict[str, str]) -> None:
    cid = create(client, alex)["id"]
    for action in ("activity", "end"):
        body = session(client, alex, cid, action, 404)
        assert "No active session" in body["detail"]["message"]
    session(client, alex, cid, "start", 201)
    session(client, alex, cid, "end")
    session(client, alex, cid, "end", 404)  # ending twice
    assert session(client, alex, cid, "start", 201)["started_at"] == "2026-03-10T12:00:00Z"  # a new one can start


def test_a_session_under_a_minute_earns_no_xp_but_counts(client: TestClient) -> None:
    h = register(client, "brief")
    cid = create(client, h)["id"]
    session(client, h, cid, "start", 201)
    advance(client, seconds=45)
    assert session(client, h, cid, "end")["xp_awarded"] == 0
    assert client.get("/api/analytics/learning-time", headers=h).json()["totalSessions"] == 1
    assert client.get("/api/xp/profile", headers=h).json()["recent_transactions"] == []


def test_a_running_booster_multiplies_the_session_xp(client: TestClient, demo: dict[str, str]) -> None:
    cid = create(client, demo)["id"]  # the demo user's seeded 2x booster runs for 3 more hours
    session(client, demo, cid, "start", 201)
    advance(client, minutes=3)
    assert session(client, demo, cid, "end")["xp_awarded"] == 6


def test_a_ten_minute_session_completes_the_session_quests(client: TestClient) -> None:
    h = register(client, "quester")
    cid = create(client, h)["id"]
    session(client, h, cid, "start", 201)
    for _ in range(3):
        advance(client, minutes=4)
        session(client, h, cid, "activity")
    assert session(client, h, cid, "end")["xp_awarded"] == 12
    quests = {q["id"]: q for q in client.get("/api/xp/quests", headers=h).json()["quests"]}
    assert quests["daily-complete-session"]["status"] == "completed"
    assert quests["daily-learning-minutes"]["status"] == "completed"
    rewards = [
        t for t in client.get("/api/xp/profile", headers=h).json()["recent_transactions"] if t["source"] == "quest"
    ]
    assert sorted(t["amount"] for t in rewards) == [15, 20]


def test_deleting_a_conversation_discards_its_active_session(client: TestClient, mock: Mock) -> None:
    h = register(client, "leaver")
    cid = create(client, h)["id"]
    session(client, h, cid, "start", 201)
    advance(client, minutes=5)
    assert client.delete(f"{BASE}/conversations/{cid}", headers=h).status_code == 204
    session(client, h, cid, "status", 404)
    assert mock.store.one("SELECT COUNT(*) AS n FROM conversation_sessions WHERE conversation_id = ?", (cid,))["n"] == 0
    assert client.get("/api/analytics/learning-time", headers=h).json()["totalSessions"] == 0


def test_session_writes_need_the_write_scope(client: TestClient, demo: dict[str, str], keys: dict[str, str]) -> None:
    cid = client.get(f"{BASE}/conversations", headers=demo).json()[0]["id"]
    key = {"X-API-Key": keys["demo-read-only"]}
    assert client.post(f"{BASE}/conversations/{cid}/session/start", headers=key).status_code == 403
    assert client.get(f"{BASE}/conversations/{cid}/session/status", headers=key).status_code == 200


# the demo world ----------------------------------------------------------------------------------------------------
def test_the_demo_user_has_seeded_conversations(client: TestClient, demo: dict[str, str], alex: dict[str, str]) -> None:
    listed = client.get(f"{BASE}/conversations", headers=demo).json()
    spec = catalog()["demo"]["conversations"]
    assert sorted(c["title"] for c in listed) == sorted(s["title"] for s in spec)
    assert [c["title"] for c in listed] == [s["title"] for s in sorted(spec, key=lambda s: s["days_ago"])]
    by_title = {c["title"]: c for c in listed}
    for s in spec:
        stored = messages(client, demo, by_title[s["title"]]["id"])
        assert [m["content"] for m in stored if m["role"] == "user"] == s["turns"]
        assert [m["role"] for m in stored] == ["user", "assistant"] * len(s["turns"])
        assert all(a["created_at"] < NOW.isoformat() for a in stored)
    assert client.get(f"{BASE}/conversations", headers=alex).json() == []


def test_seeded_replies_are_what_the_chat_would_answer(client: TestClient, demo: dict[str, str]) -> None:
    conv = next(
        c for c in client.get(f"{BASE}/conversations", headers=demo).json() if c["title"] == "Team learning plan"
    )
    stored = messages(client, demo, conv["id"])
    fresh = create(client, demo, provider=conv["provider"])
    reply = chat(client, demo, conversation_id=fresh["id"], message=stored[0]["content"])
    assert reply["content"] == stored[1]["content"]


def test_seeding_is_deterministic_for_the_seed() -> None:
    def world(seed: int) -> list[Any]:
        with make_client(frozen_at=NOW, seed=seed) as c:
            h = bearer(login(c))
            return [
                (conv["id"], conv["created_at"], messages(c, h, conv["id"]))
                for conv in c.get(f"{BASE}/conversations", headers=h).json()
            ]

    assert world(3) == world(3)
    assert world(3) != world(4)
