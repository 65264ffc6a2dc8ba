"""Reading the XP ledger back: the processing delay (moved with `set_processing_delay`, the control API and
`mock.clock`), listing and its filters, paging, and the seeded history. On a strict mock serving only the ledger,
with the clock frozen (tests/xp_ledger_helpers.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.xp_ledger import format_micros, micros, processing_delay, set_processing_delay
from tests import xp_ledger_helpers
from tests.conftest import make_client
from tests.xp_ledger_helpers import (
    AVA,
    DEV,
    MATH_SPRINT,
    NOBODY,
    NOW,
    READING_QUEST,
    Headers,
    entries,
    entries_url,
    envelope,
    event_id,
    grade_event,
    issues_of,
    send,
    token_of,
)

# the helpers' fixtures, bound by name so pytest finds them in this module (the ledger's `mock` over the conftest's)
ledger, mock, writer = xp_ledger_helpers.ledger, xp_ledger_helpers.mock, xp_ledger_helpers.writer


# processing delay --------------------------------------------------------------------------------------------------
def test_the_processing_delay_defaults_to_the_fixture_value(ledger: TestClient, mock: Mock) -> None:
    assert processing_delay(mock.store) == 0
    rows = ledger.get("/__mock__/state/xp_ledger_settings").json()
    assert json.dumps(rows).count("processing_delay_seconds") == 1


def test_entries_appear_after_the_processing_delay_on_the_mock_clock(
    ledger: TestClient, mock: Mock, writer: Headers
) -> None:
    set_processing_delay(mock.store, 30)
    send(ledger, writer, grade_event(70, value=70))
    assert entries(ledger, writer)["total"] == 0
    mock.clock.advance(29.9)
    assert entries(ledger, writer)["total"] == 0
    mock.clock.advance(0.1)
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [70]
    mock.clock.set(NOW)  # moving the clock back hides it again
    assert entries(ledger, writer)["total"] == 0


def test_a_delay_change_applies_to_events_received_afterwards(ledger: TestClient, mock: Mock, writer: Headers) -> None:
    set_processing_delay(mock.store, 600)
    send(ledger, writer, grade_event(71, value=1))
    set_processing_delay(mock.store, 0)
    send(ledger, writer, grade_event(72, value=2))
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [2]
    assert send(ledger, writer, grade_event(71))["events"][0]["status"] == "duplicate"  # received, not yet visible


def test_a_reset_restores_the_fixture_delay(ledger: TestClient, mock: Mock) -> None:
    set_processing_delay(mock.store, 5)
    assert ledger.post("/__mock__/reset").status_code == 200
    assert processing_delay(mock.store) == 0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_the_delay_must_be_a_finite_non_negative_number(mock: Mock, bad: float) -> None:
    with pytest.raises(ValueError):
        set_processing_delay(mock.store, bad)


def test_the_delay_is_a_run_time_setting_of_the_control_api(ledger: TestClient, writer: Headers) -> None:
    name = "xp-ledger.processing-delay-seconds"
    assert ledger.get("/__mock__/settings").json()[name]["value"] == 0
    assert ledger.put(f"/__mock__/settings/{name}", json={"value": 60}).json() == {"name": name, "value": 60}
    send(ledger, writer, grade_event(73, value=73))
    assert entries(ledger, writer)["total"] == 0
    assert ledger.post("/__mock__/clock/advance", json={"minutes": 1}).status_code == 200
    assert [e["value"] for e in entries(ledger, writer)["entries"]] == [73]
    for body in ({"value": -1}, {"value": "soon"}, {"value": True}, {}):
        refused = ledger.put(f"/__mock__/settings/{name}", json=body)
        assert refused.status_code == 400 and "body.value" in refused.json()["message"]
    assert ledger.put("/__mock__/settings/nope", json={"value": 1}).status_code == 404
    assert ledger.get("/__mock__/settings").json()[name]["value"] == 60


# listing -----------------------------------------------------------------------------------------------------------
def test_seeded_history_covers_both_applications_and_ends_at_the_clock(ledger: TestClient, writer: Headers) -> None:
    page = entries(ledger, writer, user=AVA, limit=100)
    assert page["total"] > 10
    assert {e["applicationId"] for e in page["entries"]} == {READING_QUEST, MATH_SPRINT}
    assert {(e["subject"], e["courseName"]) for e in page["entries"]} == {
        ("Reading", "Reading Grade 5"),
        ("Math", "Math Grade 5"),
    }
    dates = [e["dateGenerated"] for e in page["entries"]]
    assert max(dates) <= "2026-01-20T12:00:00.000Z" and min(dates) >= "2025-12-31T00:00:00.000Z"


def test_a_known_student_without_entries_gets_an_empty_page(ledger: TestClient, writer: Headers) -> None:
    assert entries(ledger, writer) == {"entries": [], "offset": 0, "limit": 50, "total": 0}


def test_an_unknown_student_is_404(ledger: TestClient, writer: Headers) -> None:
    response = ledger.get(entries_url(NOBODY), headers=writer)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "User not found"}


def test_a_user_id_that_is_not_a_uuid_is_400(ledger: TestClient, writer: Headers) -> None:
    response = ledger.get(entries_url("ava"), headers=writer)
    assert response.status_code == 400 and ("path", "userId", "invalid_string") in issues_of(response)


def test_entries_are_newest_first_with_ties_by_source_event_id(ledger: TestClient, writer: Headers) -> None:
    same = "2026-01-15T10:00:00Z"
    send(
        ledger,
        writer,
        envelope(
            grade_event(93, at=same),
            grade_event(91, at="2026-01-14T10:00:00Z"),
            grade_event(92, at=same),
            grade_event(94, at="2026-01-16T10:00:00Z"),
        ),
    )
    page = entries(ledger, writer)
    assert [e["sourceEventId"] for e in page["entries"]] == [event_id(94), event_id(92), event_id(93), event_id(91)]


def test_application_filter(ledger: TestClient, writer: Headers) -> None:
    every = entries(ledger, writer, user=AVA, limit=100)
    mine = entries(ledger, writer, user=AVA, limit=100, applicationId=READING_QUEST)
    assert 0 < mine["total"] < every["total"]
    assert {e["applicationId"] for e in mine["entries"]} == {READING_QUEST}
    assert mine["entries"] == [e for e in every["entries"] if e["applicationId"] == READING_QUEST]
    assert entries(ledger, writer, user=AVA, applicationId="no-such-app")["total"] == 0


@pytest.fixture
def dated(ledger: TestClient, writer: Headers) -> list[str]:
    """Five entries for Dev on 10, 11, ... 14 January at noon; returns their times."""
    times = [f"2026-01-{day}T12:00:00.000Z" for day in range(10, 15)]
    send(ledger, writer, envelope(*(grade_event(100 + i, at=t) for i, t in enumerate(times))))
    return times


def _dates(page: dict[str, Any]) -> list[str]:
    return sorted(e["dateGenerated"] for e in page["entries"])


def test_date_bounds_are_inclusive(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert _dates(entries(ledger, writer, startDate=dated[1], endDate=dated[3])) == dated[1:4]
    assert _dates(entries(ledger, writer, startDate=dated[3])) == dated[3:]
    assert _dates(entries(ledger, writer, endDate=dated[0])) == dated[:1]
    assert _dates(entries(ledger, writer, startDate="2026-01-11T12:00:00.001Z")) == dated[2:]
    assert _dates(entries(ledger, writer, endDate="2026-01-12T13:00:00+01:00")) == dated[:3]  # same instant


def test_after_and_before_are_aliases(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert entries(ledger, writer, after=dated[1], before=dated[3]) == entries(
        ledger, writer, startDate=dated[1], endDate=dated[3]
    )


def test_the_documented_names_win_over_the_aliases(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert _dates(entries(ledger, writer, startDate=dated[3], after=dated[0])) == dated[3:]
    assert _dates(entries(ledger, writer, endDate=dated[1], before=dated[4])) == dated[:2]


def test_a_start_after_the_end_is_an_empty_page(ledger: TestClient, writer: Headers, dated: list[str]) -> None:
    assert entries(ledger, writer, startDate=dated[3], endDate=dated[1]) == {
        "entries": [],
        "offset": 0,
        "limit": 50,
        "total": 0,
    }


@pytest.mark.parametrize("name", ["startDate", "after", "endDate", "before"])
@pytest.mark.parametrize(
    "value", ["2026-13-45T00:00:00Z", "yesterday", "2026-01-15", "2026-01-15T10:00:00", "2026-01-15T25:00:00Z", ""]
)
def test_malformed_dates_are_400(ledger: TestClient, writer: Headers, name: str, value: str) -> None:
    response = ledger.get(entries_url(DEV), params={name: value}, headers=writer)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert ("query", name, "invalid_string") in issues_of(response)


def test_time_helpers_handle_every_rfc3339_instant() -> None:
    assert micros("2026-01-15T14:30:00Z") == micros("2026-01-15t15:30:00+01:00") == 1768487400 * 10**6
    assert micros("1970-01-01T00:00:00.0000019Z") == 1  # sub-microsecond digits are cut
    assert micros("0000-01-01T00:00:00Z") is not None and micros("2016-12-31T23:59:60Z") is not None
    assert micros("2026-01-15") is None and micros("soon") is None
    assert format_micros(micros("2026-01-15T14:30:00.5Z") or 0, "x") == "2026-01-15T14:30:00.500Z"
    assert format_micros(micros("2026-01-15T14:30:00.000123Z") or 0, "x") == "2026-01-15T14:30:00.000123Z"
    assert format_micros(micros("0000-06-01T00:00:00Z") or 0, "as-sent") == "as-sent"


def test_instants_datetime_cannot_hold_are_stored_as_sent(ledger: TestClient, writer: Headers) -> None:
    late, early = "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"  # years 10000 and 0 in UTC
    send(ledger, writer, envelope(grade_event(110, at=early), grade_event(111, at=late)))
    assert [e["dateGenerated"] for e in entries(ledger, writer)["entries"]] == [late, early]
    assert [e["dateGenerated"] for e in entries(ledger, writer, endDate="0001-01-01T00:00:00Z")["entries"]] == [early]


# paging ------------------------------------------------------------------------------------------------------------
def test_pages_split_the_list_and_total_counts_every_match(ledger: TestClient, writer: Headers) -> None:
    full = entries(ledger, writer, user=AVA, limit=100)
    assert full["total"] == len(full["entries"]) and full["limit"] == 100
    pages = [entries(ledger, writer, user=AVA, limit=7, offset=o) for o in range(0, full["total"], 7)]
    assert all(p["total"] == full["total"] and p["limit"] == 7 for p in pages)
    assert [e for p in pages for e in p["entries"]] == full["entries"]
    beyond = entries(ledger, writer, user=AVA, offset=full["total"])
    assert beyond["entries"] == [] and beyond["total"] == full["total"] and beyond["offset"] == full["total"]


def test_default_page(ledger: TestClient, writer: Headers) -> None:
    page = entries(ledger, writer, user=AVA)
    assert (page["offset"], page["limit"]) == (0, 50)
    assert len(page["entries"]) == min(50, page["total"])


@pytest.mark.parametrize(
    "query, code",
    [
        ({"limit": 101}, "too_big"),
        ({"limit": 0}, "too_small"),
        ({"offset": -1}, "too_small"),
        ({"limit": "ten"}, "invalid_type"),
    ],
)
def test_paging_out_of_range_is_400(ledger: TestClient, writer: Headers, query: dict[str, Any], code: str) -> None:
    response = ledger.get(entries_url(AVA), params=query, headers=writer)
    assert response.status_code == 400
    assert ("query", next(iter(query)), code) in issues_of(response)


# determinism and the demo world ------------------------------------------------------------------------------------
def _ava_page(seed: int) -> dict[str, Any]:
    with make_client(api="xp-ledger", frozen_at=NOW, seed=seed) as c:
        return entries(c, token_of(c, "XP Dashboard"), user=AVA, limit=100)


def test_history_is_deterministic_for_the_seed() -> None:
    assert _ava_page(0) == _ava_page(0)
    assert _ava_page(0) != _ava_page(1)
