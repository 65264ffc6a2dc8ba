"""Helpers shared by the Profile & Analytics tests (tests/test_profile_analytics_*.py) and tests/test_frontend_flow.py:
a `Learner` who learns through the ledger functions (`award_xp`, `record_session`) and reads every view, clock moves,
and `assert_views_agree`, the invariants that tie the views to each other and to the transactions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains import Call
from mock_server.domains.profile import intensity, level_start
from mock_server.domains.xp import award_xp, record_session
from tests.conftest import bearer, login, mock_of, user_ids

WINTER = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)  # a Wednesday; Berlin is UTC+1
PRIVATE_VIEWS = (
    "/api/xp/profile",
    "/api/xp/streak-status",
    "/api/xp/weekly-activity",
    "/api/xp/learning-pulse",
    "/api/xp/quests",
    "/api/analytics/learning-time",
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# fixtures and helpers ----------------------------------------------------------------------------------------------
class Learner:
    """A registered user (in a chosen time zone) who learns through the ledger functions and reads the views."""

    def __init__(self, client: TestClient, username: str, timezone: str = "UTC", password: str = "pass-word") -> None:
        self.client, self.username, self.password = client, username, password
        if username != "demo":
            body = {
                "username": username,
                "email": f"{username}@example.com",
                "password": password,
                "full_name": username.title(),
                "timezone": timezone,
            }
            assert client.post("/api/auth/register", json=body).status_code == 201
        self.mock: Mock = mock_of(client)
        self.id = user_ids(client)[username]
        self._token: tuple[float, str] | None = None

    @property
    def call(self) -> Call:
        return self.mock.internal_call()

    def award(self, amount: int, source: str = "task_submission", when: datetime | None = None) -> dict[str, Any]:
        with self.mock.store.transaction():
            return award_xp(self.call, self.id, amount, source, f"{source} for the test", at=when)

    def session(self, minutes: int, *, quizzes: int = 0, passed: int = 0, kind: str = "xel") -> dict[str, Any]:
        """A session that ends now and lasted `minutes`."""
        end = self.mock.clock.now()
        with self.mock.store.transaction():
            return record_session(
                self.call, self.id, kind, end - timedelta(minutes=minutes), end, quizzes=quizzes, quizzes_passed=passed
            )

    def headers(self) -> dict[str, str]:
        now = self.mock.clock.timestamp()
        if self._token is None or now - self._token[0] > 1800:  # access tokens live an hour on the mock clock
            password = "demo-password" if self.username == "demo" else self.password
            self._token = (now, login(self.client, self.username, password))
        return bearer(self._token[1])

    def get(self, path: str, status: int = 200, **params: str) -> Any:
        response = self.client.get(path, headers=self.headers(), params=params)
        assert response.status_code == status, response.text
        return response.json()

    def views(self) -> dict[str, Any]:
        names = ("profile", "streak", "weekly", "pulse", "quests", "time")
        out = {n: self.get(p) for n, p in zip(names, PRIVATE_VIEWS, strict=True)}
        out["public"] = self.get(f"/api/xp/public-profile/{self.username}")
        return out

    def sql_total(self) -> int:
        row = self.mock.store.one(
            "SELECT COALESCE(SUM(amount), 0) AS n FROM xp_transactions WHERE user_id = ?", (self.id,)
        )
        return row["n"]


def advance(client: TestClient, **amount: float) -> None:
    assert client.post("/__mock__/clock/advance", json=amount).status_code == 200


def set_clock(client: TestClient, when: str) -> None:
    assert client.post("/__mock__/clock/set", json={"at": when}).status_code == 200


def assert_views_agree(v: dict[str, Any], total_xp: int) -> None:
    """The invariants that tie the views to each other and to the ledger."""
    profile, pulse, weekly, streak, public = v["profile"], v["pulse"], v["weekly"], v["streak"], v["public"]
    assert profile["total_xp"] == total_xp == public["total_xp"]
    assert level_start(profile["level"]) + profile["xp_into_level"] == total_xp
    assert profile["xp_into_level"] < profile["xp_for_next_level"] == 100 * profile["level"]
    by_date = {e["date"]: e for e in pulse["data"]}
    today = v["quests"]["date"]
    assert pulse["data"][-1]["date"] == today and len(pulse["data"]) == 365
    assert profile["today_xp"]["total"] == by_date[today]["xp_earned"]
    assert profile["today_xp"]["segments_xp"] + profile["today_xp"]["quiz_xp"] == profile["today_xp"]["total"]
    for day in weekly["days"]:
        assert day["xp"] == (by_date[day["date"]]["xp_earned"] if day["date"] in by_date else 0)
    assert weekly["total_xp"] == sum(day["xp"] for day in weekly["days"])
    assert today in [day["date"] for day in weekly["days"]]
    for entry in pulse["data"]:
        assert entry["level"] == intensity(entry["xp_earned"])
    assert pulse["total_learning_time"] == sum(e["learning_time"] for e in pulse["data"])
    assert pulse["total_sessions"] == sum(e["sessions"] for e in pulse["data"])
    assert pulse["total_quizzes"] == sum(e["quizzes"] for e in pulse["data"])
    assert pulse["total_quizzes_passed"] == sum(e["quizzes_passed"] for e in pulse["data"])
    assert streak["current_streak"] == profile["current_streak"] == public["current_streak"]
    assert streak["longest_streak"] == profile["longest_streak"] == public["longest_streak"]
    assert profile["level"] == public["level"]
    active = [e["date"] for e in pulse["data"] if e["xp_earned"] > 0]
    assert streak["last_activity"] == (active[-1] if active else None)
    assert profile["active_quests"] == [q for q in v["quests"]["quests"] if q["status"] != "completed"]
    time_days = {b["date"]: b for b in v["time"]["dailyBreakdown"]}
    for entry in pulse["data"]:
        if entry["sessions"]:
            assert time_days[entry["date"]] == {
                "date": entry["date"],
                "learningTime": entry["learning_time"],
                "sessions": entry["sessions"],
            }
    assert (
        sum(t["sessions"] for t in time_days.values() if t["date"] >= pulse["data"][0]["date"])
        == pulse["total_sessions"]
    )
