"""The XP views read aggregates kept on write; these tests prove they answer exactly what the from-scratch
computation (tests/xp_oracle.py, the code every view ran before) answers, through HTTP.

A Hypothesis property writes random histories through the domain's own write functions (`award_xp`,
`record_session`: what conversations, XEL and Live call), across zones with DST (Europe/Berlin, America/New_York),
:45 and :30 offsets (Asia/Kathmandu, Pacific/Chatham, Australia/Lord_Howe with its 30-minute DST), around
midnights, DST changes and month ends, with activity dated before and after the clock, the clock set forward and
back, and the zone changed through `PATCH /api/auth/me`; every view is compared with the oracle as it goes. Plus:
reset, heavy users from a fixture file (`history_days`), and the fixture loader's refusals.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.xp import SOURCES, award_xp, record_session
from tests import web, xp_oracle
from tests.conftest import ROOT, Server, bearer, make_client, mock_of, user_ids
from tests.profile_analytics_helpers import PRIVATE_VIEWS

FROZEN_AT = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe", "UTC")
# Instants near which the histories happen: DST changes (Berlin, New York, Lord Howe, Chatham), month and year ends.
PIVOTS = (
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 15, tzinfo=UTC),
    datetime(2026, 4, 4, 14, 45, tzinfo=UTC),
    datetime(2026, 9, 26, 13, 30, tzinfo=UTC),
    datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
    datetime(2026, 2, 28, 18, 15, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
)
_names = itertools.count()


# helpers -----------------------------------------------------------------------------------------------------------
def headers_for(mock: Mock, user_id: str) -> dict[str, str]:
    """A token minted at the clock's now (the clock jumps by days here, past any token's hour)."""
    user = mock.store.one("SELECT * FROM users WHERE id = ?", (user_id,))
    return bearer(mock.tokens.issue(user)["access_token"])


def register(client: TestClient, timezone: str) -> str:
    name = f"learner{next(_names)}"
    body = {"username": name, "email": f"{name}@example.com", "password": "pass-word-1", "timezone": timezone}
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def set_clock(client: TestClient, at: datetime) -> None:
    assert client.post("/__mock__/clock/set", json={"at": at.isoformat()}).status_code == 200


def assert_views_match(client: TestClient, user_id: str, time_range: tuple[date | None, date | None] = (None, None)):
    """Every aggregate-based view over HTTP equals the oracle's from-scratch body."""
    mock = mock_of(client)
    expected = xp_oracle.views(mock.internal_call(), user_id, time_range)
    headers = headers_for(mock, user_id)
    username = next(name for name, id_ in user_ids(client).items() if id_ == user_id)
    for path in (*PRIVATE_VIEWS, f"/api/xp/public-profile/{username}"):
        params = (
            {k: v.isoformat() for k, v in zip(("from", "to"), time_range, strict=True) if v}
            if path == "/api/analytics/learning-time"
            else {}
        )
        response = client.get(path, headers=headers, params=params)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == expected[path], path
    dashboard = client.get("/api/learn/english/dashboard", headers=headers)
    assert dashboard.status_code == 200, dashboard.text
    assert dashboard.json()["total_time_seconds"] == expected["xel_total_time_seconds"]


# the property ------------------------------------------------------------------------------------------------------
minutes = st.integers(min_value=-40 * 24 * 60, max_value=40 * 24 * 60)  # around the pivot, in minutes
step = st.one_of(
    st.tuples(st.just("award"), minutes, st.integers(0, 120), st.sampled_from(SOURCES)),
    st.tuples(
        st.just("session"),
        minutes,
        st.integers(0, 3 * 3600),
        st.integers(0, 4),
        st.integers(0, 4),
        st.sampled_from(("conversation", "xel", "live")),
    ),
    # daily learning up to about now with a few days skipped: streaks that earn freezes, gaps that use them
    st.tuples(
        st.just("run"), st.integers(-600, 600), st.integers(1, 24), st.frozensets(st.integers(0, 23), max_size=3)
    ),
    st.tuples(st.just("clock"), minutes),
    st.tuples(st.just("zone"), st.sampled_from(ZONES)),
    st.tuples(st.just("check"), st.one_of(st.none(), minutes), st.one_of(st.none(), st.integers(0, 60))),
)


@pytest.fixture(scope="module")
def shared() -> TestClient:
    """One mock for every example (each example registers its own learner)."""
    with make_client(frozen_at=FROZEN_AT) as client:
        yield client


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(zone=st.sampled_from(ZONES), pivot=st.sampled_from(PIVOTS), steps=st.lists(step, min_size=1, max_size=30))
def test_aggregate_views_equal_the_from_scratch_computation(
    shared: TestClient, zone: str, pivot: datetime, steps: list[tuple[Any, ...]]
) -> None:
    mock = mock_of(shared)
    set_clock(shared, pivot)
    user_id = register(shared, zone)
    for kind, *args in steps:
        if kind == "award":
            offset, amount, source = args
            with mock.store.transaction():
                award_xp(
                    mock.internal_call(), user_id, amount, source, "property test", at=pivot + timedelta(minutes=offset)
                )
        elif kind == "session":
            offset, seconds, quizzes, passed, session_kind = args
            start = pivot + timedelta(minutes=offset)
            with mock.store.transaction():
                record_session(
                    mock.internal_call(),
                    user_id,
                    session_kind,
                    start,
                    start + timedelta(seconds=seconds),
                    quizzes=quizzes,
                    quizzes_passed=min(passed, quizzes),
                )
        elif kind == "run":
            offset, length, skipped = args
            first = mock.clock.now() + timedelta(minutes=offset, days=-length)
            with mock.store.transaction():
                for day in sorted(set(range(length)) - skipped):
                    award_xp(mock.internal_call(), user_id, 10, "bonus", "daily", at=first + timedelta(days=day))
        elif kind == "clock":
            set_clock(shared, pivot + timedelta(minutes=args[0]))
        elif kind == "zone":
            response = shared.patch("/api/auth/me", json={"timezone": args[0]}, headers=headers_for(mock, user_id))
            assert response.status_code == 200, response.text
        else:
            low_offset, span = args
            low = (pivot + timedelta(minutes=low_offset)).date() if low_offset is not None else None
            high = low + timedelta(days=span) if low and span is not None else None
            assert_views_match(shared, user_id, (low, high))
    assert_views_match(shared, user_id)
    set_clock(shared, pivot - timedelta(days=3))  # back before much of it: what was written "later" is hidden
    assert_views_match(shared, user_id)


# the demo world, reset and the clock -------------------------------------------------------------------------------
def demo_id(client: TestClient) -> str:
    return user_ids(client)["demo"]


def test_demo_views_equal_the_oracle_across_clock_moves_zone_changes_and_reset() -> None:
    with make_client(frozen_at=FROZEN_AT) as client:
        mock, user_id = mock_of(client), demo_id(client)
        assert_views_match(client, user_id)
        for days in (1, 6, 30, 400):  # the streak checkpoint moves forward; a long gap breaks the streak
            set_clock(client, FROZEN_AT + timedelta(days=days))
            assert_views_match(client, user_id)
        set_clock(client, FROZEN_AT - timedelta(days=20, hours=5))  # back: the checkpoint is ahead of today
        assert_views_match(client, user_id)
        for zone in ("Asia/Kathmandu", "America/New_York", "Not/AZone"):  # rebucketed; an unknown zone is UTC
            mock.store.run("UPDATE users SET timezone = ? WHERE id = ?", (zone, user_id))
            assert_views_match(client, user_id, (date(2025, 6, 1), date(2025, 12, 31)))
        with mock.store.transaction():  # an activity on a day before the checkpoint drops it
            award_xp(mock.internal_call(), user_id, 40, "bonus", "back-dated", at=FROZEN_AT - timedelta(days=60))
        assert_views_match(client, user_id)
        set_clock(client, FROZEN_AT)
        assert client.post("/__mock__/reset", json={}).status_code == 200
        user_id = demo_id(client)
        assert mock.store.one("SELECT tz FROM xp_totals WHERE user_id = ?", (user_id,))["tz"] == "Europe/Berlin"
        assert_views_match(client, user_id)


def test_a_freeze_covered_day_early_in_the_week_stays_listed_as_the_checkpoint_moves() -> None:
    """Ten days of learning, Monday missed (a freeze covers it), read on each day up to Saturday: the week lists
    Monday every time, as the streak checkpoint moves from day to day."""
    saturday = datetime(2026, 1, 17, 18, 0, tzinfo=UTC)
    with make_client(frozen_at=saturday - timedelta(days=4)) as client:
        mock = mock_of(client)
        user_id = register(client, "Europe/Berlin")
        with mock.store.transaction():
            for day in range(14, -1, -1):
                if day != 5:  # Monday 2026-01-12
                    award_xp(mock.internal_call(), user_id, 25, "bonus", "daily", at=saturday - timedelta(days=day))
        for day in (4, 3, 2, 1, 0):
            set_clock(client, saturday - timedelta(days=day))
            assert_views_match(client, user_id)
            weekly = client.get("/api/xp/weekly-activity", headers=headers_for(mock, user_id)).json()
            assert weekly["freeze_covered_dates"] == ["2026-01-12"]


def test_aggregates_rebuild_from_a_ledger_written_without_them() -> None:
    """A state file from before the aggregates (ledger rows, no xp_days/xp_totals) reads exactly right."""
    with make_client(frozen_at=FROZEN_AT) as client:
        mock, user_id = mock_of(client), demo_id(client)
        expected = client.get("/api/xp/learning-pulse", headers=headers_for(mock, user_id)).json()
        mock.store.run("DELETE FROM xp_days")
        mock.store.run("DELETE FROM xp_totals")
        assert client.get("/api/xp/learning-pulse", headers=headers_for(mock, user_id)).json() == expected
        assert_views_match(client, user_id)


# heavy users from a fixture file ---------------------------------------------------------------------------------
HEAVY = """\
users:
  - {username: veteran, email: veteran@xentree.test, password: veteran-password, full_name: Vera Veteran,
     timezone: Asia/Kathmandu, history_days: %d}
  - {username: newcomer, email: newcomer@xentree.test, password: newcomer-password, timezone: UTC}
"""


@pytest.fixture
def heavy_file(tmp_path: Path) -> Path:
    path = tmp_path / "heavy.yaml"
    path.write_text(HEAVY % 1200, encoding="utf-8")
    return path


def user_id_of(client: TestClient, username: str) -> str:
    return user_ids(client)[username]


def test_a_fixture_file_gives_a_user_years_of_history(heavy_file: Path) -> None:
    with make_client(frozen_at=FROZEN_AT, fixture=str(heavy_file)) as client:
        veteran = user_id_of(client, "veteran")
        assert_views_match(client, veteran, (date(2023, 1, 1), date(2024, 12, 31)))
        pulse = client.get("/api/xp/learning-pulse", headers=headers_for(mock_of(client), veteran)).json()
        assert sum(e["xp_earned"] > 0 for e in pulse["data"]) > 200  # a year of real-looking activity
        first = mock_of(client).store.one(
            "SELECT MIN(created_at) AS t FROM xp_transactions WHERE user_id = ?", (veteran,)
        )["t"]
        assert first[:10] <= (FROZEN_AT - timedelta(days=1190)).date().isoformat()
        newcomer = user_id_of(client, "newcomer")  # no history_days: none
        assert client.get("/api/xp/profile", headers=headers_for(mock_of(client), newcomer)).json()["total_xp"] == 0
        assert_views_match(client, newcomer)


def test_control_api_loads_a_fixture_file_by_path(heavy_file: Path) -> None:
    with make_client(frozen_at=FROZEN_AT) as client:
        response = client.post("/__mock__/reset", json={"fixture": str(heavy_file)})
        assert response.status_code == 200, response.text
        assert client.get("/__mock__").json()["fixture"] == str(heavy_file)
        assert_views_match(client, user_id_of(client, "veteran"))
        response = client.post(f"/__mock__/fixtures/{heavy_file}")  # the path after the prefix
        assert response.status_code == 200, response.text
        assert client.post("/__mock__/fixtures/demo").status_code == 200


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("- just\n- a list\n", "a fixture set is a mapping"),
        ("users: {demo: 1}\n", "`users` must be a list"),
        ("users: [{username: v, email: v@x.test, password: p, history_days: -1}]\n", "history_days"),
        ("users: [{username: v, email: v@x.test, password: p, history_days: ten}]\n", "history_days"),
        ("users: [{username: v, email: v@x.test, password: p, history_days: true}]\n", "history_days"),
        ("users: [{username: v, email: v@x.test, password: p, history_days: 1000000000}]\n", "history_days"),
        ("users: [{username: v, email: v@x.test, password: p, history_days: 2.5}]\n", "history_days"),
        ("users: [unclosed\nsecret: hunter2\n", "not a readable YAML file"),
        ("\xff\xfe binary", "not a readable YAML file"),
    ],
)
def test_a_broken_fixture_file_is_a_400_and_the_world_stays(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content.encode("latin-1"))
    with make_client(frozen_at=FROZEN_AT) as client:
        before = client.get("/__mock__/state").json()
        for response in (
            client.post("/__mock__/reset", json={"fixture": str(path)}),
            client.post(f"/__mock__/fixtures/{path}"),
        ):
            assert response.status_code == 400, response.text
            detail = response.json()["detail"]
            assert detail["error"] == "invalid_fixture" and why in detail["message"]
            assert "hunter2" not in response.text  # the file's content is never echoed
        assert client.get("/__mock__/state").json() == before  # refused before the store was emptied
        assert client.post("/api/auth/login", data={"username": "demo", "password": "demo-password"}).status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "/nonexistent/world.yaml",
        "/etc/passwd",
        "../../etc/hostname",
        "demo\x00.yaml",
        "~nosuchuser/x.yaml",
        str(ROOT / "pyproject.toml"),
    ],
)
def test_a_fixture_that_is_not_a_yaml_file_is_a_404(name: str) -> None:
    with make_client(frozen_at=FROZEN_AT) as client:
        response = client.post("/__mock__/reset", json={"fixture": name})
        assert response.status_code == 404, response.text
        assert response.json()["detail"]["error"] == "not_found"
        assert "root:" not in response.text


def test_cli_serves_a_fixture_file_and_refuses_a_broken_one(tmp_path: Path, heavy_file: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("users: [{username: v, history_days: -3}]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "serve", "--fixture", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "--fixture" in result.stderr and "history_days" in result.stderr
    assert "Traceback" not in result.stderr
    server = Server("--fixture", str(heavy_file), "--quiet").start()
    try:
        login = web.post(f"{server.url}/api/auth/login", data={"username": "veteran", "password": "veteran-password"})
        assert login.status_code == 200, login.text
        profile = web.get(f"{server.url}/api/xp/profile", headers=bearer(login.json()["access_token"]))
        assert profile.status_code == 200 and profile.json()["total_xp"] > 50_000
    finally:
        server.stop()
