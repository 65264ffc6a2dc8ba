"""Xentree Live: plans and the monthly quota, sessions (start, heartbeat, end) on the mock clock, the documented
`live_quota_exceeded` 429, the month reset, learning time and XP, and the nickname (transcripts:
tests/test_live_transcripts.py). The clock is frozen so every second is exact."""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.live import month_slices, next_period, period_start, plans
from mock_server.resources import load_yaml, spec_path
from mock_server.spec import resolve_refs
from tests import live_helpers
from tests.conftest import bearer, login, make_client
from tests.live_helpers import (
    NOW,
    QUOTA_BODY,
    advance,
    assert_quota_error,
    beat,
    end,
    quota,
    relogin,
    set_clock,
    start,
    user_id,
)

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
keys, demo = live_helpers.keys, live_helpers.demo  # fixtures: bound here so pytest finds them


# plans, periods and the quota ------------------------------------------------------------------------------------
def test_plans_cover_the_spec_enum_and_the_demo_users() -> None:
    spec = load_yaml(spec_path().read_text(encoding="utf-8"))
    enum = spec["components"]["schemas"]["LiveQuotaResponse"]["properties"]["plan"]["enum"]
    assert sorted(plans()) == sorted(enum)
    assert {p: plans()[p].monthly_live_seconds for p in enum} == {"free": 3600, "pro": 18000, "team": 72000}


def test_periods_are_utc_calendar_months() -> None:
    assert period_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_period(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_period(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)
    span = list(
        month_slices(
            datetime(2026, 4, 30, 23, 50, tzinfo=UTC).timestamp(), datetime(2026, 5, 1, 0, 10, tzinfo=UTC).timestamp()
        )
    )
    assert span == [("2026-04", 600), ("2026-05", 600)]


def test_demo_quota_has_seeded_usage_this_month(client: TestClient, demo: dict[str, str]) -> None:
    q = quota(client, demo)
    assert q["plan"] == "pro" and q["monthly_quota_seconds"] == 18000
    assert 18 * 60 <= q["used_seconds"] <= 36 * 60 and q["used_seconds"] % 60 == 0
    assert q["remaining_seconds"] == 18000 - q["used_seconds"]
    assert (q["period_start"], q["resets_at"]) == ("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z")


def test_other_plans_and_fresh_users(client: TestClient, alex: dict[str, str], admin: dict[str, str]) -> None:
    assert quota(client, alex) | {"period_start": None} == {
        "plan": "free",
        "monthly_quota_seconds": 3600,
        "used_seconds": 0,
        "remaining_seconds": 3600,
        "resets_at": "2026-05-01T00:00:00Z",
        "period_start": None,
    }
    assert quota(client, admin)["monthly_quota_seconds"] == 72000


def test_quota_is_deterministic_for_the_seed() -> None:
    def snapshot(seed: int) -> tuple[Any, ...]:
        with make_client(frozen_at=NOW, seed=seed) as c:
            h = bearer(login(c))
            return quota(c, h), c.get("/api/live/transcripts", headers=h).json()

    assert snapshot(0) == snapshot(0)


def test_api_key_scopes(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    read_only = keys["demo-read-only"]
    assert client.get("/api/live/quota", headers=read_only).status_code == 200
    refused = client.post("/api/live/session/start", json={"session_type": "voice"}, headers=read_only)
    assert refused.status_code == 403 and refused.json()["detail"]["required_scope"] == "live:write"


# sessions ----------------------------------------------------------------------------------------------------------
def test_session_lifecycle_books_time_and_records_learning(
    client: TestClient, mock: Mock, demo: dict[str, str]
) -> None:
    before = quota(client, demo)
    session = start(client, demo, "avatar")
    assert session["status"] == "active" and session["session_type"] == "avatar"
    assert session["started_at"] == "2026-04-16T10:00:00Z"
    assert session["remaining_seconds"] == before["remaining_seconds"]
    assert session["monthly_quota_seconds"] == 18000
    advance(client, 120)
    # reads count the running session's unbooked time
    assert quota(client, demo)["used_seconds"] == before["used_seconds"] + 120
    b = beat(client, demo, session["session_id"])
    assert b.status_code == 200, b.text
    assert b.json() == {
        "session_id": session["session_id"],
        "status": "active",
        "elapsed_seconds": 120,
        "used_seconds_this_month": before["used_seconds"] + 120,
        "remaining_seconds": before["remaining_seconds"] - 120,
    }
    advance(client, 30 * 60)
    e = end(client, demo, session["session_id"])
    assert e.status_code == 200, e.text
    assert e.json() == {
        "session_id": session["session_id"],
        "status": "ended",
        "started_at": "2026-04-16T10:00:00Z",
        "ended_at": "2026-04-16T10:32:00Z",
        "duration_seconds": 1920,
        "remaining_seconds": before["remaining_seconds"] - 1920,
    }
    assert quota(client, demo)["used_seconds"] == before["used_seconds"] + 1920
    demo_id = user_id(client, "demo")
    rows = mock.store.all(
        "SELECT * FROM learning_sessions WHERE user_id = ? AND kind = 'live' AND started_at = ?",
        (demo_id, "2026-04-16T10:00:00Z"),
    )
    assert [r["seconds"] for r in rows] == [1920]
    xp = mock.store.all(
        "SELECT * FROM xp_transactions WHERE user_id = ? AND source = 'live_session' AND created_at = ?",
        (demo_id, "2026-04-16T10:32:00Z"),
    )
    assert len(xp) == 1 and xp[0]["description"] == "Xentree Live avatar session (32 min)"
    assert xp[0]["amount"] in (32, 64)  # the demo's seeded booster may double it
    # ended: no more heartbeats or ends
    assert beat(client, demo, session["session_id"]).status_code == 404
    assert end(client, demo, session["session_id"]).status_code == 404


def test_learning_time_shows_up_in_analytics(client: TestClient, alex: dict[str, str]) -> None:
    session = start(client, alex)
    advance(client, 300)
    assert end(client, alex, session["session_id"]).status_code == 200
    relogin(client, alex)
    day = client.get("/api/analytics/learning-time", headers=alex, params={"from": "2026-04-16", "to": "2026-04-16"})
    assert day.status_code == 200 and day.json()["totalLearningTime"] == 300
    txs = client.get("/api/xp/profile", headers=alex).json()
    assert txs["total_xp"] >= 5


def test_a_short_session_records_no_xp(client: TestClient, mock: Mock, alex: dict[str, str]) -> None:
    session = start(client, alex)
    advance(client, 59)
    assert end(client, alex, session["session_id"]).json()["duration_seconds"] == 59
    alex_id = user_id(client, "alex")
    assert mock.store.all("SELECT * FROM xp_transactions WHERE user_id = ?", (alex_id,)) == []
    assert len(mock.store.all("SELECT * FROM learning_sessions WHERE user_id = ?", (alex_id,))) == 1


def test_an_immediately_ended_session_records_nothing(client: TestClient, mock: Mock, alex: dict[str, str]) -> None:
    session = start(client, alex)
    assert end(client, alex, session["session_id"]).json()["duration_seconds"] == 0
    assert mock.store.all("SELECT * FROM learning_sessions WHERE user_id = ?", (user_id(client, "alex"),)) == []


def test_starting_again_ends_the_running_session(client: TestClient, alex: dict[str, str]) -> None:
    first = start(client, alex)
    advance(client, 600)
    second = start(client, alex, "avatar")
    assert second["remaining_seconds"] == 3000  # the first session's 600 s are booked
    assert beat(client, alex, first["session_id"]).status_code == 404
    assert end(client, alex, first["session_id"]).status_code == 404
    assert beat(client, alex, second["session_id"]).status_code == 200


def test_unknown_and_foreign_sessions_are_404(client: TestClient, alex: dict[str, str], demo: dict[str, str]) -> None:
    mine = start(client, demo)
    for call in (beat, end):
        missing = call(client, alex, "3f1c2b9e-7a44-4d2f-9b1e-5c6d7e8f9a01")
        assert missing.status_code == 404 and missing.json()["detail"]["error"] == "not_found"
        foreign = call(client, alex, mine["session_id"])
        assert foreign.status_code == 404
    assert beat(client, demo, mine["session_id"]).status_code == 200  # untouched


def test_bad_session_inputs_are_400(client: TestClient, alex: dict[str, str]) -> None:
    assert client.post("/api/live/session/start", json={"session_type": "video"}, headers=alex).status_code == 400
    assert client.post("/api/live/session/start", json={}, headers=alex).status_code == 400
    assert beat(client, alex, "not-a-uuid").status_code == 400
    assert client.post("/api/live/session/end", json={}, headers=alex).status_code == 400


def test_moving_the_clock_back_never_books_negative_time(client: TestClient, alex: dict[str, str]) -> None:
    session = start(client, alex)
    advance(client, 100)
    assert beat(client, alex, session["session_id"]).json()["used_seconds_this_month"] == 100
    set_clock(client, "2026-04-16T09:59:00Z")
    b = beat(client, alex, session["session_id"]).json()
    assert (b["elapsed_seconds"], b["used_seconds_this_month"]) == (0, 100)
    set_clock(client, "2026-04-16T10:02:00Z")  # 20 s after the last booking (10:01:40)
    assert beat(client, alex, session["session_id"]).json()["used_seconds_this_month"] == 120
    assert end(client, alex, session["session_id"]).json()["duration_seconds"] == 120


# the quota limit ---------------------------------------------------------------------------------------------------
def test_quota_exhaustion_answers_the_documented_429(client: TestClient, alex: dict[str, str]) -> None:
    session = start(client, alex)
    advance(client, 3601)
    relogin(client, alex)
    now = datetime(2026, 4, 16, 11, 0, 1, tzinfo=UTC)
    reset = datetime(2026, 5, 1, tzinfo=UTC)
    assert_quota_error(beat(client, alex, session["session_id"]), now, reset, 3600)
    assert_quota_error(
        client.post("/api/live/session/start", json={"session_type": "voice"}, headers=alex), now, reset, 3600
    )
    assert quota(client, alex) | {"period_start": None} == {
        "plan": "free",
        "monthly_quota_seconds": 3600,
        "used_seconds": 3600,
        "remaining_seconds": 0,
        "period_start": None,
        "resets_at": "2026-05-01T00:00:00Z",
    }
    # the session stays active so the client can end it gracefully; only the quota's worth counts
    advance(client, 600)
    e = end(client, alex, session["session_id"])
    assert e.status_code == 200 and e.json()["duration_seconds"] == 3600 and e.json()["remaining_seconds"] == 0
    later = datetime(2026, 4, 16, 11, 10, 1, tzinfo=UTC)
    assert_quota_error(
        client.post("/api/live/session/start", json={"session_type": "avatar"}, headers=alex), later, reset, 3600
    )


def test_the_payload_matches_the_spec_example() -> None:
    spec = load_yaml(spec_path().read_text(encoding="utf-8"))
    example = spec["components"]["responses"]["LiveQuotaExceeded"]["content"]["application/json"]["examples"]
    assert example["live_quota_exceeded"]["value"] == QUOTA_BODY
    for op in ("/api/live/session/start", "/api/live/session/heartbeat"):
        assert spec["paths"][op]["post"]["responses"]["429"]["$ref"].endswith("/LiveQuotaExceeded")


def test_heartbeat_reaching_the_quota_exactly_is_429(client: TestClient, alex: dict[str, str]) -> None:
    session = start(client, alex)
    advance(client, 3599)
    assert beat(client, alex, session["session_id"]).json()["remaining_seconds"] == 1
    advance(client, 1)
    relogin(client, alex)  # the access token expired with the hour
    assert beat(client, alex, session["session_id"]).status_code == 429


def test_the_quota_resets_at_the_start_of_the_month(client: TestClient, alex: dict[str, str]) -> None:
    set_clock(client, "2026-04-30T20:00:00Z")
    relogin(client, alex)
    session = start(client, alex)
    advance(client, 3700)
    relogin(client, alex)
    assert beat(client, alex, session["session_id"]).status_code == 429
    assert end(client, alex, session["session_id"]).json()["duration_seconds"] == 3600
    set_clock(client, "2026-05-01T00:00:00Z")
    relogin(client, alex)
    q = quota(client, alex)
    assert (q["used_seconds"], q["remaining_seconds"]) == (0, 3600)
    assert (q["period_start"], q["resets_at"]) == ("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z")
    assert start(client, alex)["remaining_seconds"] == 3600


def test_a_session_across_the_month_boundary_books_each_side_to_its_month(
    client: TestClient, mock: Mock, alex: dict[str, str]
) -> None:
    set_clock(client, "2026-04-30T23:50:00Z")
    relogin(client, alex)
    session = start(client, alex)
    advance(client, 1200)  # 00:10 on May 1st
    b = beat(client, alex, session["session_id"]).json()
    assert (b["elapsed_seconds"], b["used_seconds_this_month"], b["remaining_seconds"]) == (1200, 600, 3000)
    rows = mock.store.all(
        "SELECT period, seconds FROM live_usage WHERE session_id = ? ORDER BY seq", (session["session_id"],)
    )
    assert rows == [{"period": "2026-04", "seconds": 600}, {"period": "2026-05", "seconds": 600}]


def test_an_exhausted_month_does_not_leak_into_the_next(client: TestClient, alex: dict[str, str]) -> None:
    """A session left running over the boundary: only its time after midnight counts in the new month."""
    set_clock(client, "2026-04-30T22:00:00Z")
    relogin(client, alex)
    session = start(client, alex)
    set_clock(client, "2026-05-01T00:05:00Z")
    relogin(client, alex)
    assert quota(client, alex)["used_seconds"] == 300
    b = beat(client, alex, session["session_id"])
    assert b.status_code == 200 and b.json()["used_seconds_this_month"] == 300


# nickname ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Sam", "Sam"),
        ("  Zoë   Müller ", "Zoë Müller"),
        ("O'Brien-Smith_2", "O'Brien-Smith_2"),
        ("李雷", "李雷"),
        ("Dr. Who", "Dr. Who"),
    ],
)
def test_nickname_is_normalised_and_stored(
    client: TestClient, mock: Mock, alex: dict[str, str], sent: str, stored: str
) -> None:
    response = client.put("/api/live/nickname", json={"nickname": sent}, headers=alex)
    assert response.status_code == 200, response.text
    assert response.json() == {"nickname": stored, "updated_at": "2026-04-16T10:00:00Z"}
    assert mock.store.one("SELECT nickname FROM users WHERE username = 'alex'")["nickname"] == stored


@pytest.mark.parametrize(
    "sent", ["   ", "Sam😀", "a\u0000b", "a\tb", "Sam\u200b", "<script>", "-Sam", "-_.'", "x" * 51, "\u0301e"]
)
def test_bad_nicknames_are_400_naming_the_field(client: TestClient, alex: dict[str, str], sent: str) -> None:
    response = client.put("/api/live/nickname", json={"nickname": sent}, headers=alex)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["message"].startswith("body.nickname: ")
    assert client.get("/api/auth/me", headers=alex).status_code == 200


def test_the_nickname_pattern_admits_only_letters_and_digits_first() -> None:
    """The spec's pattern: every character of its letter class is a Unicode letter or digit."""
    spec = resolve_refs(load_yaml(spec_path().read_text(encoding="utf-8")))
    nickname = spec["paths"]["/api/live/nickname"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    pattern = re.compile(nickname["properties"]["nickname"]["pattern"])
    first = [chr(c) for c in range(0x10000) if pattern.fullmatch(chr(c))]
    assert len(first) > 20000 and all(unicodedata.category(ch)[0] in "LN" for ch in first)
    ascii_after_first = {ch for ch in map(chr, range(0x80)) if pattern.fullmatch("a" + ch)}
    assert ascii_after_first - set(string.ascii_letters + string.digits) == set(" .'_-")


def test_nickname_needs_live_write(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    assert client.put("/api/live/nickname", json={"nickname": "Sam"}, headers=keys["demo-read-only"]).status_code == 403
    assert (
        client.put("/api/live/nickname", json={"nickname": "Sam"}, headers=keys["demo-full-access"]).status_code == 200
    )
