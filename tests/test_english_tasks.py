"""Xentree English (XEL): submitting tasks and regenerating their variants. The clock is frozen so times are exact
(tests/english_helpers.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.english import answer_score, catalog
from tests.conftest import bearer, login, make_client
from tests.english_helpers import BASE, GOOD_TEXT, NOW, submit, xp_rows

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here


# tasks -----------------------------------------------------------------------------------------------------------
def test_reading_and_listening_are_scored_at_once(client: TestClient, alex: dict[str, str]) -> None:
    full = submit(client, alex, "reading-1", "She lives in London and works as a nurse.", time_spent_seconds=90)
    assert full.status_code == 200
    body = full.json()
    assert body["status"] == "evaluated" and body["score"] == 100 and body["xp_awarded"] == 10
    assert body["submitted_at"] == "2026-03-10T12:00:00Z" and len(body["submission_id"]) == 36
    half = submit(client, alex, "listening-1", "He is 25 years old.").json()  # the second spelling counts
    assert half["score"] == 50
    assert submit(client, alex, "listening-2", "No idea.").json()["score"] == 0


def test_answer_keywords_match_whole_words() -> None:
    variant = catalog()["1"].tasks[2].variants[0]  # twenty-five|25, canada
    assert answer_score(variant, "Twenty-five; from CANADA!") == 100
    assert answer_score(variant, "He is 250 and from canadian parents") == 0


def test_writing_waits_for_evaluation_and_submitting_starts_the_module(
    client: TestClient, alex: dict[str, str]
) -> None:
    body = submit(client, alex, "writing-3", GOOD_TEXT).json()
    assert body["status"] == "submitted" and body["score"] is None and body["skill"] == "writing"
    module = client.get(f"{BASE}/modules/3", headers=alex).json()
    assert module["status"] == "in_progress" and module["started_at"] == "2026-03-10T12:00:00Z"
    assert module["progress_percent"] == 25
    assert module["tasks"][1]["status"] == "submitted" and module["tasks"][1]["score"] is None


def test_submission_xp_once_per_task_variant(client: TestClient, alex: dict[str, str], mock: Mock) -> None:
    assert submit(client, alex, "reading-1", "london").json()["xp_awarded"] == 10
    resubmitted = submit(client, alex, "reading-1", "london nurse").json()
    assert resubmitted["xp_awarded"] == 0 and resubmitted["score"] == 100
    assert client.get(f"{BASE}/modules/1", headers=alex).json()["tasks"][0]["score"] == 100  # the latest counts
    client.post(f"{BASE}/tasks/regenerate", json={"module_id": "1", "task_id": "reading-1"}, headers=alex)
    assert submit(client, alex, "reading-1", "japan bank").json() | {"submission_id": ""} == {
        "submission_id": "",
        "module_id": "1",
        "task_id": "reading-1",
        "skill": "reading",
        "status": "evaluated",
        "score": 100,
        "xp_awarded": 10,
        "submitted_at": "2026-03-10T12:00:00Z",
    }
    assert [r["amount"] for r in xp_rows(mock, "alex", "task_submission")] == [10, 10]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"module_id": "99", "task_id": "writing-1", "skill": "writing"}, 404, "XEL module '99' not found"),
        ({"module_id": "1", "task_id": "writing-9", "skill": "writing"}, 404, "Module 1 has no task 'writing-9'"),
        ({"module_id": "1", "task_id": "essay", "skill": "writing"}, 404, "Module 1 has no task 'essay'"),
        ({"module_id": "1", "task_id": "writing-1", "skill": "reading"}, 404, "writing-1 is a writing task"),
        ({"module_id": "12", "task_id": "listening-12", "skill": "listening"}, 404, "has no task 'listening-12'"),
        ({"module_id": "1", "task_id": "writing-1", "skill": "drawing"}, 400, "skill"),
        ({"module_id": "1", "task_id": "writing-1"}, 400, "skill"),
        ({"module_id": "1", "task_id": "writing-1", "skill": "writing", "response": ""}, 400, "response"),
        ({"module_id": "1", "task_id": "writing-1", "skill": "writing", "time_spent_seconds": -1}, 400, "time_spent"),
        ({"module_id": "", "task_id": "writing-1", "skill": "writing"}, 400, "module_id"),
    ],
)
def test_submit_refuses_bad_input(
    client: TestClient, alex: dict[str, str], body: dict[str, Any], status: int, fragment: str
) -> None:
    response = client.post(f"{BASE}/tasks/submit", json={"response": "An answer.", **body}, headers=alex)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]["message"]
    assert client.get(f"{BASE}/modules/1", headers=alex).json()["status"] == "not_started"


# variants ----------------------------------------------------------------------------------------------------------
def test_regenerate_increments_the_variant_and_changes_the_prompt(client: TestClient, alex: dict[str, str]) -> None:
    prompts = [catalog()["1"].task("writing-1").variants[i].prompt for i in range(3)]  # type: ignore[union-attr]
    seen = []
    for expected in (2, 3, 4, 5):
        r = client.post(
            f"{BASE}/tasks/regenerate",
            json={"module_id": "1", "task_id": "writing-1", "skill": "writing"},
            headers=alex,
        )
        assert r.status_code == 200
        body = r.json()
        assert body["variant"] == expected and body["skill"] == "writing" and body["task_id"] == "writing-1"
        seen.append(body["prompt"])
    assert seen == [prompts[1], prompts[2], prompts[0], prompts[1]]  # cycles; never the same twice in a row
    task = client.get(f"{BASE}/modules/1", headers=alex).json()["tasks"][1]
    assert task["variant"] == 5 and task["prompt"] == prompts[1]
    admin = bearer(login(client, "admin"))  # variants are per user
    assert client.get(f"{BASE}/modules/1", headers=admin).json()["tasks"][1]["variant"] == 1


def test_regenerate_is_deterministic_across_mocks(alex: dict[str, str]) -> None:
    results = []
    for _ in range(2):
        with make_client(frozen_at=NOW) as c:
            h = bearer(login(c, "alex"))
            results.append(
                [
                    c.post(
                        f"{BASE}/tasks/regenerate", json={"module_id": "5", "task_id": "speaking-5"}, headers=h
                    ).json()
                    for _ in range(3)
                ]
            )
    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"module_id": "1", "task_id": "writing-2"}, 404),
        ({"module_id": "77", "task_id": "writing-1"}, 404),
        ({"module_id": "1", "task_id": "writing-1", "skill": "speaking"}, 404),
        ({"module_id": "1"}, 400),
        ({"task_id": "writing-1"}, 400),
        ({"module_id": "1", "task_id": "writing-1", "skill": "singing"}, 400),
    ],
)
def test_regenerate_refuses_bad_input(
    client: TestClient, alex: dict[str, str], body: dict[str, Any], status: int
) -> None:
    assert client.post(f"{BASE}/tasks/regenerate", json=body, headers=alex).status_code == status
    assert client.get(f"{BASE}/modules/1", headers=alex).json()["tasks"][1]["variant"] == 1
