"""Profile & Analytics: learning-time analytics, agreement of all views over random activity, and the demo user's year
of history. Every view is computed from the XP ledger and learning sessions, in the user's local days
(tests/profile_analytics_helpers.py).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login, make_client, mock_of
from tests.profile_analytics_helpers import WINTER, Learner, advance, assert_views_agree, set_clock

FROZEN_AT = WINTER  # the conftest `client` fixture freezes the mock clock here (demo history ends there)


# learning time analytics -------------------------------------------------------------------------------------------
def _learner_with_sessions(client: TestClient) -> Learner:
    learner = Learner(client, "timer", "Europe/Berlin")
    for end, minutes in (
        ("2026-01-10T12:30:00Z", 30),
        ("2026-01-12T12:10:00Z", 10),
        ("2026-01-12T18:20:00Z", 20),
        ("2026-01-15T00:30:00Z", 60),
    ):  # the last one started at 23:30 UTC: Jan 15 in Berlin
        set_clock(client, end)
        learner.session(minutes)
    set_clock(client, "2026-01-16T09:00:00Z")
    return learner


def test_learning_time_range_is_inclusive_in_local_days(client: TestClient) -> None:
    learner = _learner_with_sessions(client)
    every = learner.get("/api/analytics/learning-time")
    assert [b["date"] for b in every["dailyBreakdown"]] == ["2026-01-10", "2026-01-12", "2026-01-15"]
    assert (every["totalLearningTime"], every["totalSessions"], every["avgSessionLength"]) == (7200, 4, 1800)
    span = learner.get("/api/analytics/learning-time", **{"from": "2026-01-12", "to": "2026-01-15"})
    assert span["dailyBreakdown"] == [
        {"date": "2026-01-12", "learningTime": 1800, "sessions": 2},
        {"date": "2026-01-15", "learningTime": 3600, "sessions": 1},
    ]
    assert (span["totalLearningTime"], span["totalSessions"], span["avgSessionLength"]) == (5400, 3, 1800)
    assert (span["from"], span["to"]) == ("2026-01-12", "2026-01-15")
    one = learner.get("/api/analytics/learning-time", **{"from": "2026-01-12", "to": "2026-01-12"})
    assert (one["totalLearningTime"], one["totalSessions"], one["avgSessionLength"]) == (1800, 2, 900)
    since = learner.get("/api/analytics/learning-time", **{"from": "2026-01-11"})
    assert since["totalSessions"] == 3 and since["to"] is None
    until = learner.get("/api/analytics/learning-time", to="2026-01-14")
    assert until["totalSessions"] == 3 and until["from"] is None
    empty = learner.get("/api/analytics/learning-time", **{"from": "2026-01-13", "to": "2026-01-14"})
    assert empty["dailyBreakdown"] == [] and empty["avgSessionLength"] == 0
    v = learner.views()
    assert v["pulse"]["total_learning_time"] == 7200 and v["pulse"]["total_sessions"] == 4
    assert_views_agree(v, learner.sql_total())


def test_learning_time_refuses_a_reversed_or_malformed_range(client: TestClient) -> None:
    learner = Learner(client, "badrange", "UTC")
    body = learner.get("/api/analytics/learning-time", 400, **{"from": "2026-01-15", "to": "2026-01-14"})
    assert body["detail"]["error"] == "invalid_date_range" and "after" in body["detail"]["message"]
    for params in ({"from": "2026-13-01"}, {"to": "yesterday"}, {"from": "2026-1-5"}):
        body = learner.get("/api/analytics/learning-time", 400, **params)
        assert body["detail"]["error"] == "validation_error"


def test_learning_time_with_an_api_key(client: TestClient) -> None:
    mock: Mock = mock_of(client)
    key = {k["name"]: k["key"] for k in mock.credentials.api_keys}["demo-read-only"]
    response = client.get("/api/analytics/learning-time", headers={"X-API-Key": key}, params={"from": "2026-01-01"})
    assert response.status_code == 200 and response.json()["totalSessions"] > 0


# agreement over random activity -------------------------------------------------------------------------------------
@pytest.mark.parametrize("timezone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"])
def test_all_views_agree_after_weeks_of_random_activity(client: TestClient, timezone: str) -> None:
    learner = Learner(client, "wanderer", timezone)
    rng = random.Random(timezone)
    set_clock(client, "2025-12-20T06:00:00Z")
    for _ in range(60):  # ~25 days of activity at odd hours, with gaps
        advance(client, minutes=rng.randint(60, 900))
        if rng.random() < 0.6:
            learner.award(rng.randint(1, 40), rng.choice(["task_submission", "evaluation", "live_session", "bonus"]))
        else:
            learner.session(rng.randint(1, 50), quizzes=2, passed=rng.randint(0, 2))
        if rng.random() < 0.2:
            assert_views_agree(learner.views(), learner.sql_total())
    assert_views_agree(learner.views(), learner.sql_total())


# the demo user's history -------------------------------------------------------------------------------------------
def test_demo_has_a_year_of_history_that_looks_real(client: TestClient) -> None:
    demo = Learner(client, "demo")
    v = demo.views()
    assert_views_agree(v, demo.sql_total())
    levels = {e["level"] for e in v["pulse"]["data"]}
    assert levels == {0, 1, 2, 3, 4}
    active = sum(e["xp_earned"] > 0 for e in v["pulse"]["data"])
    assert 200 <= active <= 330
    s = v["streak"]
    assert s["current_streak"] >= 6 and s["days_since_activity"] in (0, 1)
    assert s["freezes_used"] > 0 and s["longest_streak"] >= s["current_streak"]
    assert v["weekly"]["timezone"] == "Europe/Berlin" and v["profile"]["level"] > 10
    assert v["time"]["totalSessions"] >= v["pulse"]["total_sessions"] > 300


def test_demo_history_is_deterministic_for_seed_and_clock() -> None:
    def pulse(seed: int) -> Any:
        with make_client(frozen_at=WINTER, seed=seed) as c:
            return c.get("/api/xp/learning-pulse", headers=bearer(login(c))).json()

    assert pulse(0) == pulse(0)
    assert pulse(0) != pulse(1)


def test_demo_history_ends_at_the_mock_clock_when_seeded_late_in_the_day() -> None:
    with make_client(frozen_at=datetime(2026, 5, 5, 19, 0, tzinfo=UTC)) as c:  # 21:00 in Berlin
        mock: Mock = mock_of(c)
        latest = mock.store.one("SELECT MAX(created_at) AS t FROM xp_transactions")["t"]
        assert latest <= "2026-05-05T19:00:00Z"
        s = c.get("/api/xp/streak-status", headers=bearer(login(c))).json()
        assert s["days_since_activity"] in (0, 1) and s["current_streak"] >= 6
