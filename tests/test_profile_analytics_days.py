"""Profile & Analytics: an empty ledger, local days across time zones and daylight saving, and streaks as the days move.
Every view is computed from the XP ledger and learning sessions, in the user's local days
(tests/profile_analytics_helpers.py).
"""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.profile_analytics_helpers import PRIVATE_VIEWS, WINTER, Learner, advance, assert_views_agree, set_clock

FROZEN_AT = WINTER  # the conftest `client` fixture freezes the mock clock here (demo history ends there)


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
