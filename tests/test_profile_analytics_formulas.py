"""Profile & Analytics: the level curve, intensity, weeks and the streak rules, as functions. Every view is computed
from the XP ledger and learning sessions, in the user's local days (tests/profile_analytics_helpers.py).
"""

from __future__ import annotations

from datetime import date, timedelta

from mock_server.domains.profile import intensity, level_of, level_start, week_of
from mock_server.domains.xp import streaks
from tests.profile_analytics_helpers import d


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
