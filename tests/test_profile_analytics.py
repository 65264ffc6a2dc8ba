"""Profile & Analytics: every view computed from the XP ledger and learning sessions, in the user's local days.

Activity is written the way other domains write it (`award_xp`, `record_session`); the clock is moved across days,
weeks, midnights and time zones, and every view is checked against the others and against the transactions.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains import Call
from mock_server.domains.profile import intensity, level_of, level_start, week_of
from mock_server.domains.xp import award_xp, record_session, streaks
from tests.conftest import bearer, login, make_client, user_ids

WINTER = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)  # a Wednesday; Berlin is UTC+1
FROZEN_AT = WINTER  # the conftest `client` fixture freezes the mock clock here (demo history ends there)
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
        self.mock: Mock = client.app.state.mock  # type: ignore[attr-defined]
        self.id = user_ids(client)[username]
        self._token: tuple[float, str] | None = None

    @property
    def call(self) -> Call:
        return Call({}, {}, {}, None, None, self.mock.store, self.mock.clock, self.mock.tokens)

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


# formulas ----------------------------------------------------------------------------------------------------------
def test_level_curve_is_quadratic_and_documented() -> None:
    """From level n to n+1 takes 100·n XP: level n starts at 50·n·(n−1) total XP."""
    assert [level_start(n) for n in range(1, 6)] == [0, 100, 300, 600, 1000]
    cases = {0: 1, 99: 1, 100: 2, 299: 2, 300: 3, 599: 3, 600: 4, 4499: 9, 4500: 10, 19_000: 20, 10**7: 447}
    assert {xp: level_of(xp) for xp in cases} == cases
    for xp in range(0, 30_000, 7):
        n = level_of(xp)
        assert level_start(n) <= xp < level_start(n + 1)


def test_intensity_thresholds() -> None:
    assert [intensity(x) for x in (0, 1, 29, 30, 59, 60, 99, 100, 5000)] == [0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_weeks_run_sunday_to_saturday() -> None:
    assert week_of(d("2026-01-14"))[0] == d("2026-01-11") and week_of(d("2026-01-14"))[-1] == d("2026-01-17")
    assert week_of(d("2026-01-11"))[0] == d("2026-01-11")  # a Sunday starts its own week
    assert week_of(d("2026-01-17"))[0] == d("2026-01-11")  # a Saturday ends it


def _days(first: str, count: int) -> list[date]:
    return [d(first) + timedelta(days=i) for i in range(count)]


def test_streak_rules_freezes_are_earned_every_7_days_and_cover_missed_days() -> None:
    week = _days("2026-01-01", 7)
    s = streaks(week, d("2026-01-07"))
    assert (s.current, s.longest, s.freezes_available, s.freezes_used, s.active_today) == (7, 7, 1, 0, True)
    s = streaks(week, d("2026-01-08"))  # today is still open: nothing consumed, not at risk thanks to the freeze
    assert (s.current, s.freezes_available, s.at_risk) == (7, 1, False)
    s = streaks(week, d("2026-01-09"))  # Jan 8 was missed: the freeze covered it
    assert (s.current, s.freezes_available, s.freezes_used, s.covered, s.at_risk) == (7, 0, 1, (d("2026-01-08"),), True)
    s = streaks(week, d("2026-01-10"))  # Jan 9 missed too, no freeze left: broken
    assert (s.current, s.longest, s.at_risk, s.last_activity) == (0, 7, False, d("2026-01-07"))
    s = streaks([*week, d("2026-01-09")], d("2026-01-09"))  # learning after the covered day continues the streak
    assert (s.current, s.covered) == (8, (d("2026-01-08"),))


def test_streak_freezes_are_capped_at_two_and_a_long_gap_breaks_after_using_them() -> None:
    month = _days("2026-01-01", 28)  # 4 multiples of 7, but at most 2 freezes are held
    assert streaks(month, d("2026-01-28")).freezes_available == 2
    s = streaks(month, d("2026-02-01"))  # Jan 29, 30 covered; Jan 31 breaks it
    assert (s.current, s.freezes_available, s.freezes_used, s.covered) == (0, 0, 2, (d("2026-01-29"), d("2026-01-30")))
    assert streaks([], d("2026-01-01")) == streaks([d("2026-02-01")], d("2026-01-01"))  # future days do not count
    assert streaks([d("2026-01-01")], d("2026-01-02")).at_risk is True  # 1-day streak, no freeze, nothing today


# an empty ledger ---------------------------------------------------------------------------------------------------
def test_a_new_user_has_empty_but_complete_views(client: TestClient) -> None:
    v = Learner(client, "newcomer", "Europe/Berlin").views()
    p = v["profile"]
    assert p["level"] == 1 and p["total_xp"] == 0 and p["xp_into_level"] == 0 and p["xp_for_next_level"] == 100
    assert p["progress_percent"] == 0 and p["token_balance"] == 0 and p["booster"] is None
    assert p["today_xp"] == {"segments_xp": 0, "quiz_xp": 0, "total": 0} and p["recent_transactions"] == []
    assert [q["status"] for q in p["active_quests"]] == ["active"] * 5
    assert v["streak"] == {
        "current_streak": 0,
        "longest_streak": 0,
        "freezes_available": 0,
        "freezes_used": 0,
        "last_activity": None,
        "days_since_activity": None,
        "streak_at_risk": False,
    }
    assert v["weekly"]["week_start"] == "2026-01-11" and v["weekly"]["week_end"] == "2026-01-17"
    assert v["weekly"]["total_xp"] == 0 and v["weekly"]["freeze_covered_dates"] == []
    assert [x["day"] for x in v["weekly"]["days"]] == ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    assert v["pulse"]["data"][0]["date"] == "2025-01-15" and v["pulse"]["year"] == 2026
    assert v["time"] == {
        "totalLearningTime": 0,
        "totalSessions": 0,
        "avgSessionLength": 0,
        "dailyBreakdown": [],
        "from": None,
        "to": None,
    }
    assert_views_agree(v, 0)


def test_private_views_need_credentials(client: TestClient) -> None:
    for path in PRIVATE_VIEWS:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["detail"]["error"]


# time zones and local days -----------------------------------------------------------------------------------------
def test_an_award_at_2330_utc_counts_on_the_next_local_day_in_berlin(client: TestClient) -> None:
    berlin, london = Learner(client, "berliner", "Europe/Berlin"), Learner(client, "londoner", "UTC")
    set_clock(client, "2026-01-14T23:30:00Z")
    berlin.award(40)
    london.award(40)
    b, u = berlin.views(), london.views()
    assert b["quests"]["date"] == "2026-01-15" and u["quests"]["date"] == "2026-01-14"
    assert b["profile"]["today_xp"]["total"] == 40 == u["profile"]["today_xp"]["total"]
    assert {x["date"]: x["xp"] for x in b["weekly"]["days"]}["2026-01-15"] == 40
    assert {x["date"]: x["xp"] for x in u["weekly"]["days"]}["2026-01-14"] == 40
    assert b["pulse"]["data"][-1] == {**b["pulse"]["data"][-1], "date": "2026-01-15", "xp_earned": 40, "level": 2}
    assert b["streak"]["last_activity"] == "2026-01-15" and u["streak"]["last_activity"] == "2026-01-14"
    assert_views_agree(b, 40)
    assert_views_agree(u, 40)
    advance(client, hours=1)  # 00:30 UTC: a new day in London too, still the same day in Berlin
    assert london.get("/api/xp/profile")["today_xp"]["total"] == 0
    assert berlin.get("/api/xp/profile")["today_xp"]["total"] == 40
    assert london.get("/api/xp/streak-status")["days_since_activity"] == 1


def test_new_york_evening_activity_stays_on_the_local_day(client: TestClient) -> None:
    ny = Learner(client, "newyorker", "America/New_York")
    set_clock(client, "2026-01-15T03:00:00Z")  # 22:00 on Jan 14 in New York
    ny.session(20)
    ny.award(25)
    v = ny.views()
    assert v["quests"]["date"] == "2026-01-14" and v["pulse"]["data"][-1]["date"] == "2026-01-14"
    assert v["time"]["dailyBreakdown"] == [{"date": "2026-01-14", "learningTime": 1200, "sessions": 1}]
    assert v["quests"]["resets_at"] == "2026-01-15T05:00:00Z"  # the next local midnight, as UTC


def test_the_week_turns_at_local_sunday_midnight(client: TestClient) -> None:
    berlin, london = Learner(client, "weekberlin", "Europe/Berlin"), Learner(client, "weeklondon", "UTC")
    set_clock(client, "2026-01-17T23:30:00Z")  # Saturday night in London, Sunday 00:30 in Berlin
    berlin.award(10)
    london.award(10)
    wb, wl = berlin.get("/api/xp/weekly-activity"), london.get("/api/xp/weekly-activity")
    assert (wb["week_start"], wb["week_end"], wb["timezone"]) == ("2026-01-18", "2026-01-24", "Europe/Berlin")
    assert wb["days"][0] == {"date": "2026-01-18", "day": "sun", "xp": 10} and wb["total_xp"] == 10
    assert (wl["week_start"], wl["week_end"], wl["timezone"]) == ("2026-01-11", "2026-01-17", "UTC")
    assert wl["days"][-1] == {"date": "2026-01-17", "day": "sat", "xp": 10}
    advance(client, weeks=1)  # a week later the old XP has left the week, but not the pulse
    assert berlin.get("/api/xp/weekly-activity")["total_xp"] == 0
    assert sum(e["xp_earned"] for e in berlin.get("/api/xp/learning-pulse")["data"]) == 10


def test_quests_reset_at_local_midnight_across_daylight_saving(client: TestClient) -> None:
    berlin = Learner(client, "dstberlin", "Europe/Berlin")
    assert berlin.get("/api/xp/quests")["resets_at"] == "2026-01-14T23:00:00Z"  # CET, UTC+1
    set_clock(client, "2026-07-01T10:00:00Z")
    q = berlin.get("/api/xp/quests")
    assert q["resets_at"] == "2026-07-01T22:00:00Z" and all(x["resets_at"] == q["resets_at"] for x in q["quests"])
    set_clock(client, "2026-03-28T12:00:00Z")  # the night the clocks go forward: midnight is still 23:00 UTC
    assert berlin.get("/api/xp/quests")["resets_at"] == "2026-03-28T23:00:00Z"


def test_an_unknown_stored_time_zone_counts_as_utc(client: TestClient) -> None:
    odd = Learner(client, "oddzone", "UTC")
    odd.mock.store.run("UPDATE users SET timezone = 'Mars/Olympus_Mons' WHERE id = ?", (odd.id,))
    odd.award(10)
    v = odd.views()
    assert v["weekly"]["timezone"] == "UTC" and v["quests"]["timezone"] == "UTC"
    assert_views_agree(v, 10)


# streaks over moving days ------------------------------------------------------------------------------------------
def test_streak_freeze_covers_a_missed_day_and_the_week_shows_it(client: TestClient) -> None:
    learner = Learner(client, "streaker", "UTC")
    set_clock(client, "2026-01-04T12:00:00Z")  # Sunday
    for _ in range(7):  # Jan 4 - Jan 10
        learner.award(10)
        advance(client, days=1)
    s = learner.get("/api/xp/streak-status")  # Jan 11, nothing yet today
    assert (s["current_streak"], s["freezes_available"], s["streak_at_risk"]) == (7, 1, False)
    assert s["days_since_activity"] == 1
    advance(client, days=1)  # Jan 12: Jan 11 was covered by the freeze
    s = learner.get("/api/xp/streak-status")
    assert (s["current_streak"], s["freezes_available"], s["freezes_used"], s["streak_at_risk"]) == (7, 0, 1, True)
    w = learner.get("/api/xp/weekly-activity")
    assert w["week_start"] == "2026-01-11" and w["freeze_covered_dates"] == ["2026-01-11"]
    learner.award(10)  # learning on Jan 12 saves and extends the streak
    s = learner.get("/api/xp/streak-status")
    assert (s["current_streak"], s["longest_streak"], s["streak_at_risk"], s["days_since_activity"]) == (8, 8, False, 0)
    assert_views_agree(learner.views(), 80)
    advance(client, days=2)  # Jan 14: Jan 13 missed without a freeze: broken
    s = learner.get("/api/xp/streak-status")
    assert s == {
        "current_streak": 0,
        "longest_streak": 8,
        "freezes_available": 0,
        "freezes_used": 1,
        "last_activity": "2026-01-12",
        "days_since_activity": 2,
        "streak_at_risk": False,
    }
    assert learner.get("/api/xp/weekly-activity")["freeze_covered_dates"] == ["2026-01-11"]
    advance(client, weeks=1)  # the covered date belongs to last week now
    assert learner.get("/api/xp/weekly-activity")["freeze_covered_dates"] == []


def test_a_zero_xp_transaction_does_not_count_as_activity(client: TestClient) -> None:
    learner = Learner(client, "zeroxp", "UTC")
    learner.award(0)
    s = learner.get("/api/xp/streak-status")
    assert s["current_streak"] == 0 and s["last_activity"] is None


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
    mock: Mock = client.app.state.mock  # type: ignore[attr-defined]
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
        mock: Mock = c.app.state.mock  # type: ignore[attr-defined]
        latest = mock.store.one("SELECT MAX(created_at) AS t FROM xp_transactions")["t"]
        assert latest <= "2026-05-05T19:00:00Z"
        s = c.get("/api/xp/streak-status", headers=bearer(login(c))).json()
        assert s["days_since_activity"] in (0, 1) and s["current_streak"] >= 6
