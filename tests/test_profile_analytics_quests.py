"""Profile & Analytics: daily quests, the booster, tokens, recent transactions and the public profile. Every view is
computed from the XP ledger and learning sessions, in the user's local days (tests/profile_analytics_helpers.py).
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.profile_analytics_helpers import WINTER, Learner, advance, assert_views_agree, set_clock

FROZEN_AT = WINTER  # the conftest `client` fixture freezes the mock clock here (demo history ends there)


# quests ------------------------------------------------------------------------------------------------------------
def _quests(learner: Learner) -> dict[str, dict[str, Any]]:
    return {q["type"]: q for q in learner.get("/api/xp/quests")["quests"]}


def test_quest_progress_follows_activity_and_the_next_activity_claims_ready_quests(client: TestClient) -> None:
    learner = Learner(client, "quester", "UTC")
    learner.session(10, quizzes=1, passed=1)
    q = _quests(learner)
    assert {t: (x["progress"], x["status"]) for t, x in q.items()} == {
        "earn_xp": (0, "active"),
        "complete_session": (1, "ready_to_complete"),
        "learning_minutes": (10, "ready_to_complete"),
        "pass_quiz": (1, "ready_to_complete"),
        "complete_task": (0, "active"),
    }
    profile = learner.get("/api/xp/profile")
    assert len(profile["active_quests"]) == 5 and profile["total_xp"] == 0  # nothing claimed yet
    learner.award(30)  # the next activity claims the three ready quests: 15 + 20 + 10 XP
    q = _quests(learner)
    assert [q[t]["status"] for t in ("complete_session", "learning_minutes", "pass_quiz")] == ["completed"] * 3
    assert (q["earn_xp"]["progress"], q["complete_task"]["progress"]) == (30, 1)  # quest rewards never feed quests
    profile = learner.get("/api/xp/profile")
    assert profile["total_xp"] == 30 + 45 == learner.sql_total()
    assert [x["type"] for x in profile["active_quests"]] == ["earn_xp", "complete_task"]
    rewards = [t for t in profile["recent_transactions"] if t["source"] == "quest"]
    assert sorted(t["description"] for t in rewards) == [
        "Daily quest completed: Complete a session",
        "Daily quest completed: Learn for 10 minutes",
        "Daily quest completed: Pass a quiz",
    ]
    assert profile["today_xp"] == {"segments_xp": 45, "quiz_xp": 30, "total": 75}
    learner.award(25)
    learner.award(1)  # earn_xp reached 55 (shown capped at 50) and complete_task 3 are ready; nothing claims twice
    q = _quests(learner)
    assert (q["earn_xp"]["progress"], q["earn_xp"]["status"]) == (50, "completed")
    assert learner.sql_total() == 30 + 45 + 25 + 1 + 10
    assert (q["complete_task"]["progress"], q["complete_task"]["status"]) == (3, "ready_to_complete")
    assert_views_agree(learner.views(), learner.sql_total())


def test_quests_reset_at_local_midnight_and_unclaimed_ones_lapse(client: TestClient) -> None:
    learner = Learner(client, "resetter", "Europe/Berlin")
    set_clock(client, "2026-01-14T22:50:00Z")  # 23:50 in Berlin
    learner.session(15)
    assert _quests(learner)["learning_minutes"]["status"] == "ready_to_complete"
    advance(client, minutes=10)  # 00:00 in Berlin: a new day of quests
    quests = learner.get("/api/xp/quests")
    assert quests["date"] == "2026-01-15" and quests["resets_at"] == "2026-01-15T23:00:00Z"
    assert all((x["progress"], x["status"]) == (0, "active") for x in quests["quests"])
    learner.award(5)  # a new day's activity does not claim yesterday's quests
    assert learner.sql_total() == 5


def test_a_session_claims_quests_of_the_day_it_started(client: TestClient) -> None:
    learner = Learner(client, "claimer", "UTC")
    learner.award(60)
    assert _quests(learner)["earn_xp"]["status"] == "ready_to_complete"
    advance(client, minutes=30)
    learner.session(20, kind="conversation")
    assert _quests(learner)["earn_xp"]["status"] == "completed"
    assert learner.sql_total() == 70


# booster, tokens, transactions -------------------------------------------------------------------------------------
def test_demo_booster_doubles_awards_until_it_ends(client: TestClient) -> None:
    demo = Learner(client, "demo")
    profile = demo.get("/api/xp/profile")
    assert profile["booster"] == {"multiplier": 2, "ends_at": "2026-01-14T13:00:00Z"}
    before = profile["total_xp"]
    written = demo.award(10, "evaluation")
    assert written["amount"] == 20
    profile = demo.get("/api/xp/profile")
    assert {t["id"]: t["amount"] for t in profile["recent_transactions"]}[written["id"]] == 20
    claimed = [
        t for t in profile["recent_transactions"] if t["source"] == "quest" and t["created_at"] == written["created_at"]
    ]  # quests ready before it
    assert profile["total_xp"] == before + 20 + sum(t["amount"] for t in claimed)
    set_clock(client, "2026-01-14T13:00:00Z")  # ends_at is exclusive
    profile = demo.get("/api/xp/profile")
    assert profile["booster"] is None
    assert demo.award(10, "evaluation")["amount"] == 10


def test_token_balance_is_one_per_ten_xp_minus_spent(client: TestClient) -> None:
    learner = Learner(client, "saver", "UTC")
    learner.award(95, "bonus")
    assert learner.get("/api/xp/profile")["token_balance"] == 9
    demo = Learner(client, "demo").get("/api/xp/profile")
    assert demo["token_balance"] == demo["total_xp"] // 10 - 50  # the seeded booster cost 50 tokens


def test_recent_transactions_are_the_last_ten_newest_first(client: TestClient) -> None:
    learner = Learner(client, "busy", "UTC")
    written = []
    for _i in range(12):
        written.append(learner.award(1, "bonus"))  # 12 XP in all: no quest gets ready, so no reward interleaves
        advance(client, minutes=1)
    recent = learner.get("/api/xp/profile")["recent_transactions"]
    assert [t["id"] for t in recent] == [t["id"] for t in reversed(written[-10:])]
    assert recent[0] == {k: written[-1][k] for k in ("id", "amount", "source", "description", "created_at")}


def test_moving_the_clock_back_hides_later_transactions(client: TestClient) -> None:
    learner = Learner(client, "traveller", "UTC")
    learner.award(10)
    advance(client, hours=2)
    learner.award(20)
    set_clock(client, "2026-01-14T11:00:00Z")
    v = learner.views()
    assert v["profile"]["total_xp"] == 10 and len(v["profile"]["recent_transactions"]) == 1
    assert_views_agree(v, 10)


# public profile ----------------------------------------------------------------------------------------------------
def test_public_profile_needs_no_auth_and_holds_no_private_fields(client: TestClient) -> None:
    Learner(client, "publicist", "UTC").award(150)
    body = client.get("/api/xp/public-profile/publicist").json()
    assert body == {
        "username": "publicist",
        "display_name": "Publicist",
        "level": 2,
        "total_xp": 150,
        "current_streak": 1,
        "longest_streak": 1,
        "joined": "2026-01-14",
    }
    demo = client.get("/api/xp/public-profile/DEMO")  # usernames match case-insensitively
    assert demo.status_code == 200 and demo.json()["username"] == "demo"
    text = demo.text
    assert "@" not in text and "token" not in text and "id" not in demo.json()
    assert demo.json()["joined"] < "2025-01-14"  # the demo learner joined before its year of history


def test_public_profile_of_an_unknown_user_is_404(client: TestClient) -> None:
    for name in ("nobody", "%20", "demo%2Fx", "a" * 300):
        response = client.get(f"/api/xp/public-profile/{name}")
        assert response.status_code == 404, name
        assert response.json()["detail"]["error"] == "not_found"
