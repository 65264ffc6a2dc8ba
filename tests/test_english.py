"""Xentree English (XEL): catalog and progress, tasks and variants, the evaluation rubric, XPI, sessions and
transcripts, the dashboard, XP, and the demo user's seeded progress. The clock is frozen so times are exact."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.english import (
    LEVELS,
    CatalogError,
    answer_score,
    catalog,
    cefr,
    evaluate_text,
    parse_catalog,
    text_features,
)
from tests.conftest import bearer, login, make_client

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday, 12:00 UTC (07:00 in New York, alex's zone)
FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here
BASE = "/api/learn/english"
GOOD_TEXT = (
    "Hello, my name is Alex and I work as a software engineer in Boston. I enjoy my job because every project "
    "teaches me something new. However, I also like meeting people, so I joined a running club last year. "
    "For example, on Saturdays we run along the river and then have breakfast together. I am looking forward "
    "to working with you and learning about your projects."
)
POOR_TEXT = "i am alex i am alex i like like work"


def advance(client: TestClient, **amount: int) -> None:
    assert client.post("/__mock__/clock/advance", json=amount).status_code == 200


def relogin(client: TestClient, h: dict[str, str], username: str = "alex") -> None:
    """Access tokens live an hour: after moving the clock further, log in again (in place, for the test's headers)."""
    h.update(bearer(login(client, username)))


def submit(
    client: TestClient,
    h: dict[str, str],
    task_id: str,
    response: str = "An answer.",
    module_id: str | None = None,
    **extra: Any,
) -> Any:
    skill = task_id.split("-")[0]
    body = {"module_id": module_id or task_id.split("-")[1], "task_id": task_id, "skill": skill, "response": response}
    return client.post(f"{BASE}/tasks/submit", json={**body, **extra}, headers=h)


def xp_rows(mock: Mock, username: str, source: str) -> list[dict[str, Any]]:
    return mock.store.all(
        "SELECT x.* FROM xp_transactions x JOIN users u ON u.id = x.user_id WHERE u.username = ? AND x.source = ? "
        "ORDER BY x.created_at",
        (username, source),
    )


# the catalog -----------------------------------------------------------------------------------------------------
def test_catalog_has_every_level_and_skill_with_prompts() -> None:
    modules = catalog()
    assert list(modules) == [str(i) for i in range(1, 13)]
    assert {m.level for m in modules.values()} == set(LEVELS)
    skills = {t.skill for m in modules.values() for t in m.tasks}
    assert skills == {"reading", "writing", "listening", "speaking"}
    for m in modules.values():
        for t in m.tasks:
            assert t.id == f"{t.skill}-{m.id}" and len(t.variants) >= 2
            assert all(v.prompt for v in t.variants)
            assert all(bool(v.answer) == (t.skill in ("reading", "listening")) for v in t.variants)


def test_a_broken_catalog_fails_loudly() -> None:
    task = {"id": "writing-1", "skill": "writing", "title": "t", "variants": [{"prompt": "p"}]}
    with pytest.raises(CatalogError, match="at least two variants"):
        parse_catalog(
            {
                "target_words": {"A1": 25},
                "modules": [{"id": "1", "title": "t", "description": "d", "level": "A1", "tasks": [task]}],
            }
        )
    with pytest.raises(CatalogError, match="task reading-2"):
        parse_catalog(
            {
                "target_words": {"A1": 25},
                "modules": [
                    {"id": "1", "title": "t", "description": "d", "level": "A1", "tasks": [{**task, "id": "reading-2"}]}
                ],
            }
        )


def test_the_catalog_checks_hold_under_python_O() -> None:
    """The checks are code, not asserts: `python -O` strips asserts but must still refuse a broken catalog."""
    script = (
        "from mock_server.domains.english import CatalogError, parse_catalog\n"
        "task = {'id': 'writing-1', 'skill': 'writing', 'title': 't', 'variants': [{'prompt': 'p'}]}\n"
        "module = {'id': '1', 'title': 't', 'description': 'd', 'level': 'A1', 'tasks': [task]}\n"
        "try:\n"
        "    parse_catalog({'target_words': {'A1': 25}, 'modules': [module]})\n"
        "except CatalogError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused: xel-modules.yaml: task writing-1: at least two variants"


def test_modules_list_with_fresh_progress(client: TestClient, alex: dict[str, str]) -> None:
    modules = client.get(f"{BASE}/modules", headers=alex).json()
    assert [m["id"] for m in modules] == [str(i) for i in range(1, 13)]
    first = modules[0]
    assert first == {
        "id": "1",
        "title": "Introducing yourself",
        "level": "A1",
        "skills": ["reading", "writing", "listening", "speaking"],
        "task_count": 4,
        "status": "not_started",
        "progress_percent": 0,
        "started_at": None,
        "completed_at": None,
    }
    assert modules[-1]["skills"] == ["reading", "writing", "speaking"] and modules[-1]["task_count"] == 3


def test_module_detail_and_unknown_modules(client: TestClient, alex: dict[str, str]) -> None:
    detail = client.get(f"{BASE}/modules/1", headers=alex).json()
    assert detail["description"].startswith("Say hello")
    assert [t["id"] for t in detail["tasks"]] == ["reading-1", "writing-1", "listening-1", "speaking-1"]
    writing = detail["tasks"][1]
    assert writing == {
        "id": "writing-1",
        "skill": "writing",
        "title": "Write a short self-introduction",
        "prompt": "Write a short paragraph introducing yourself to a new colleague.",
        "variant": 1,
        "status": "not_started",
        "score": None,
    }
    for bad in ("13", "0", "one", "1 "):
        missing = client.get(f"{BASE}/modules/{bad}", headers=alex)
        assert missing.status_code == 404 and missing.json()["detail"]["error"] == "not_found"
    assert client.get(f"{BASE}/modules/{'9' * 65}", headers=alex).status_code == 400
    assert client.post(f"{BASE}/modules/99/start", headers=alex).status_code == 404
    assert client.post(f"{BASE}/modules/99/complete", headers=alex).status_code == 404


# module progress -----------------------------------------------------------------------------------------------
def test_start_is_idempotent_and_keeps_the_first_start(client: TestClient, alex: dict[str, str]) -> None:
    started = client.post(f"{BASE}/modules/2/start", headers=alex)
    assert started.status_code == 200
    assert started.json() == {
        "module_id": "2",
        "status": "in_progress",
        "started_at": "2026-03-10T12:00:00Z",
        "xp_awarded": 0,
    }
    advance(client, hours=1)
    relogin(client, alex)
    again = client.post(f"{BASE}/modules/2/start", headers=alex).json()
    assert again["started_at"] == "2026-03-10T12:00:00Z" and again["xp_awarded"] == 0
    summary = client.get(f"{BASE}/modules", headers=alex).json()[1]
    assert summary["status"] == "in_progress" and summary["started_at"] == "2026-03-10T12:00:00Z"


def test_progress_is_per_user(client: TestClient, alex: dict[str, str]) -> None:
    submit(client, alex, "reading-1", "London, nurse")
    admin = bearer(login(client, "admin"))
    assert client.get(f"{BASE}/modules/1", headers=admin).json()["status"] == "not_started"
    assert client.get(f"{BASE}/modules/1", headers=alex).json()["progress_percent"] == 25


def test_complete_needs_every_task_then_awards_xp_once(client: TestClient, alex: dict[str, str], mock: Mock) -> None:
    client.post(f"{BASE}/modules/12/start", headers=alex)
    early = client.post(f"{BASE}/modules/12/complete", headers=alex)
    assert early.status_code == 409
    assert early.json()["detail"] == {
        "error": "module_incomplete",
        "message": "Module 12 cannot be completed yet: submit reading-12, writing-12, speaking-12 first",
    }
    for task_id in ("reading-12", "writing-12"):
        assert submit(client, alex, task_id).status_code == 200
    assert "speaking-12" in client.post(f"{BASE}/modules/12/complete", headers=alex).json()["detail"]["message"]
    assert submit(client, alex, "speaking-12").status_code == 200
    advance(client, minutes=5)
    done = client.post(f"{BASE}/modules/12/complete", headers=alex)
    assert done.status_code == 200
    assert done.json() == {
        "module_id": "12",
        "status": "completed",
        "completed_at": "2026-03-10T12:05:00Z",
        "xp_awarded": 50,
    }
    advance(client, minutes=5)
    again = client.post(f"{BASE}/modules/12/complete", headers=alex).json()
    assert again == {**done.json(), "xp_awarded": 0}
    assert client.post(f"{BASE}/modules/12/start", headers=alex).json()["status"] == "completed"
    rows = xp_rows(mock, "alex", "module_completion")
    assert [(r["amount"], r["description"]) for r in rows] == [(50, 'Completed "Style and nuance"')]
    summary = client.get(f"{BASE}/modules", headers=alex).json()[11]
    assert summary["status"] == "completed" and summary["progress_percent"] == 100


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


# the evaluation rubric -------------------------------------------------------------------------------------------
def test_rubric_scores_are_fixed_for_a_known_text() -> None:
    """Locks the documented formulas: the docs' example sentence against its prompt, B1-level target (60 words)."""
    result = evaluate_text(
        "I would introduce myself confidently in a short paragraph.",
        "writing",
        60,
        "Write a short paragraph introducing yourself to a new colleague.",
    )
    assert {c["name"]: c["score"] for c in result["criteria"]} == {
        "grammar": 100,
        "vocabulary": 75,
        "coherence": 20,
        "task_achievement": 36,
    }
    assert result["overall_score"] == 62  # 0.30*100 + 0.25*75 + 0.20*20 + 0.25*36 = 61.75
    assert result["cefr_estimate"] == "B1"
    assert "focus next on coherence" in result["feedback"]


def test_text_features_measure_the_documented_properties() -> None:
    f = text_features("i think so. However the the cat sleeps, for example on my bed! Um it is nice")
    assert f.count == 17 and f.sentences == 3 and f.capitalised == 2
    assert f.lowercase_i == 1 and f.doubled == 1 and f.fillers == 1 and not f.final_punctuation
    assert f.connectors == ("for example", "however", "so")


def test_better_writing_scores_higher_on_every_criterion() -> None:
    good = evaluate_text(GOOD_TEXT, "writing", 60, "Write a short paragraph introducing yourself to a colleague.")
    poor = evaluate_text(POOR_TEXT, "writing", 60, "Write a short paragraph introducing yourself to a colleague.")
    for g, p in zip(good["criteria"], poor["criteria"], strict=True):
        assert g["score"] > p["score"], g["name"]
    assert good["overall_score"] >= 85 and poor["overall_score"] < 30
    assert poor["cefr_estimate"] == "A1"
    grammar = next(c for c in poor["criteria"] if c["name"] == "grammar")
    assert "capital letter" in grammar["feedback"] and "repeated" in grammar["feedback"]


def test_speaking_adds_fluency_and_penalises_fillers() -> None:
    clean = evaluate_text("I usually get up at seven and I walk to work because it is close.", "speaking", 25, None)
    filled = evaluate_text(
        "Um I usually uh get up at seven and um I walk to work uh because it is close.", "speaking", 25, None
    )
    assert [c["name"] for c in clean["criteria"]] == [
        "fluency",
        "grammar",
        "vocabulary",
        "coherence",
        "task_achievement",
    ]
    fluency = {r["skill"]: r["criteria"][0]["score"] for r in (clean,)} | {"filled": filled["criteria"][0]["score"]}
    assert fluency["speaking"] > fluency["filled"]


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "A1"),
        (29, "A1"),
        (30, "A2"),
        (49.9, "A2"),
        (50, "B1"),
        (72, "B1"),
        (73, "B2"),
        (85, "C1"),
        (94, "C1"),
        (95, "C2"),
        (100, "C2"),
    ],
)
def test_cefr_bands(score: float, level: str) -> None:
    assert cefr(score) == level


def test_evaluate_endpoint_links_the_task_and_awards_xp_once_per_text(
    client: TestClient, alex: dict[str, str], mock: Mock
) -> None:
    submit(client, alex, "writing-1", GOOD_TEXT)
    body = {"skill": "writing", "text": GOOD_TEXT, "module_id": "1", "task_id": "writing-1"}
    first = client.post(f"{BASE}/evaluate", json=body, headers=alex)
    assert first.status_code == 200
    result = first.json()
    module = catalog()["1"]
    prompt = module.tasks[1].variants[0].prompt  # writing-1, variant 1
    expected = evaluate_text(GOOD_TEXT, "writing", module.target_words, prompt)
    assert result == {**expected, "xp_awarded": 15}
    task = client.get(f"{BASE}/modules/1", headers=alex).json()["tasks"][1]
    assert task["status"] == "evaluated" and task["score"] == result["overall_score"]
    again = client.post(f"{BASE}/evaluate", json={**body, "text": GOOD_TEXT.upper().lower()}, headers=alex).json()
    assert again["xp_awarded"] == 0 and again["overall_score"] <= result["overall_score"]
    assert [r["amount"] for r in xp_rows(mock, "alex", "evaluation")] == [15]


def test_evaluate_without_a_task_or_with_a_task_id_alone(client: TestClient, alex: dict[str, str]) -> None:
    free = client.post(f"{BASE}/evaluate", json={"skill": "speaking", "text": "I like tea."}, headers=alex).json()
    assert free == {**evaluate_text("I like tea.", "speaking", 60, None), "xp_awarded": 15}
    by_task = client.post(
        f"{BASE}/evaluate", json={"skill": "writing", "text": POOR_TEXT, "task_id": "writing-11"}, headers=alex
    ).json()
    assert (
        by_task["overall_score"]
        == evaluate_text(POOR_TEXT, "writing", 150, catalog()["11"].tasks[1].variants[0].prompt)["overall_score"]
    )
    blank = client.post(f"{BASE}/evaluate", json={"skill": "writing", "text": "  ?! "}, headers=alex)
    assert blank.status_code == 200 and blank.json()["overall_score"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"skill": "reading", "text": "x"}, 400),
        ({"skill": "writing", "text": ""}, 400),
        ({"skill": "writing"}, 400),
        ({"text": "Hello."}, 400),
        ({"skill": "writing", "text": "x" * 10001}, 400),
        ({"skill": "writing", "text": "Hello.", "module_id": "42"}, 404),
        ({"skill": "writing", "text": "Hello.", "task_id": "writing-42"}, 404),
        ({"skill": "writing", "text": "Hello.", "task_id": "reading-1"}, 404),
        ({"skill": "speaking", "text": "Hello.", "module_id": "2", "task_id": "speaking-1"}, 404),
    ],
)
def test_evaluate_refuses_bad_input(
    client: TestClient, alex: dict[str, str], body: dict[str, Any], status: int
) -> None:
    assert client.post(f"{BASE}/evaluate", json=body, headers=alex).status_code == status
    assert client.get(f"{BASE}/xpi", headers=alex).json()["updated_at"] is None


# XPI -------------------------------------------------------------------------------------------------------------
def test_xpi_starts_at_zero(client: TestClient, alex: dict[str, str]) -> None:
    assert client.get(f"{BASE}/xpi", headers=alex).json() == {
        "xpi": 0.0,
        "breakdown": {"reading": 0.0, "writing": 0.0, "listening": 0.0, "speaking": 0.0},
        "level": "A1",
        "updated_at": None,
    }
    assert client.get(f"{BASE}/xpi/history", headers=alex).json() == []


def test_xpi_is_the_mean_of_skills_over_the_latest_five_samples(client: TestClient, alex: dict[str, str]) -> None:
    for answer in ("", "london", "london nurse", "london nurse", "london nurse", "london nurse", "nothing"):
        submit(client, alex, "reading-1", answer or "no")
        advance(client, minutes=1)
    # reading samples 0, 50, 100, 100, 100, 100, 0 -> the latest five: 100, 100, 100, 100, 0 -> 80
    submit(client, alex, "listening-1", "twenty-five")  # 50
    evaluation = client.post(f"{BASE}/evaluate", json={"skill": "writing", "text": GOOD_TEXT}, headers=alex).json()
    xpi = client.get(f"{BASE}/xpi", headers=alex).json()
    w = evaluation["overall_score"]
    assert xpi["breakdown"] == {"reading": 80.0, "writing": float(w), "listening": 50.0, "speaking": 0.0}
    assert xpi["xpi"] == round((80 + w + 50 + 0) / 4, 1) and xpi["level"] == cefr(xpi["xpi"])
    assert xpi["updated_at"] == "2026-03-10T12:07:00Z"


def test_xpi_history_has_one_entry_per_active_day(client: TestClient, alex: dict[str, str]) -> None:
    submit(client, alex, "reading-1", "london nurse")  # day 1: reading 100
    advance(client, days=1)
    relogin(client, alex)
    client.post(f"{BASE}/modules/4/start", headers=alex)  # day 2: activity without a score
    advance(client, days=2)
    relogin(client, alex)
    submit(client, alex, "reading-2", "two")  # day 4: reading (100 + 50) / 2
    history = client.get(f"{BASE}/xpi/history", headers=alex).json()
    assert [h["date"] for h in history] == ["2026-03-10", "2026-03-11", "2026-03-13"]
    assert [h["breakdown"]["reading"] for h in history] == [100.0, 100.0, 75.0]
    assert [h["xpi"] for h in history] == [25.0, 25.0, 18.8]
    assert history[-1]["xpi"] == client.get(f"{BASE}/xpi", headers=alex).json()["xpi"]


# sessions and transcripts ----------------------------------------------------------------------------------------
def start_session(client: TestClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/sessions/start", json=body, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


def test_session_records_learning_time_and_quizzes(client: TestClient, alex: dict[str, str], mock: Mock) -> None:
    session = start_session(client, alex)
    assert session["session_type"] == "practice" and session["module_id"] is None and session["skill"] is None
    assert session["started_at"] == "2026-03-10T12:00:00Z"
    advance(client, minutes=5)
    submit(client, alex, "reading-1", "london nurse")  # 100: passed
    submit(client, alex, "listening-1", "no")  # 0: failed
    submit(client, alex, "writing-1", GOOD_TEXT)  # not scored: no quiz
    advance(client, minutes=15)
    ended = client.post(f"{BASE}/sessions/end", json={"session_id": session["session_id"]}, headers=alex)
    assert ended.status_code == 200
    assert ended.json() == {
        "session_id": session["session_id"],
        "started_at": "2026-03-10T12:00:00Z",
        "ended_at": "2026-03-10T12:20:00Z",
        "duration_seconds": 1200,
        "xp_awarded": 0,
    }
    rows = mock.store.all(
        "SELECT kind, started_at, ended_at, seconds, quizzes, quizzes_passed FROM learning_sessions "
        "WHERE user_id = (SELECT id FROM users WHERE username = 'alex')"
    )
    assert rows == [
        {
            "kind": "xel",
            "started_at": "2026-03-10T12:00:00Z",
            "ended_at": "2026-03-10T12:20:00Z",
            "seconds": 1200,
            "quizzes": 2,
            "quizzes_passed": 1,
        }
    ]
    twice = client.post(f"{BASE}/sessions/end", json={"session_id": session["session_id"]}, headers=alex)
    assert twice.status_code == 409 and twice.json()["detail"]["error"] == "session_ended"
    assert client.get(f"{BASE}/dashboard", headers=alex).json()["total_time_seconds"] == 1200


def test_session_start_validates_its_fields(client: TestClient, alex: dict[str, str]) -> None:
    session = start_session(client, alex, module_id="3", session_type="conversation", skill="speaking")
    assert (session["module_id"], session["session_type"], session["skill"]) == ("3", "conversation", "speaking")
    assert client.post(f"{BASE}/sessions/start", json={"module_id": "30"}, headers=alex).status_code == 404
    assert client.post(f"{BASE}/sessions/start", json={"session_type": "lecture"}, headers=alex).status_code == 400
    assert client.post(f"{BASE}/sessions/start", json={"skill": "math"}, headers=alex).status_code == 400


def test_transcripts_are_saved_and_listed_chronologically(client: TestClient, alex: dict[str, str]) -> None:
    sid = start_session(client, alex, skill="speaking")["session_id"]
    saved = client.post(
        f"{BASE}/transcripts", json={"session_id": sid, "role": "ai", "text": "How are you?"}, headers=alex
    )
    assert saved.status_code == 201
    assert saved.json()["session_id"] == sid and saved.json()["created_at"] == "2026-03-10T12:00:00Z"
    earlier = {"session_id": sid, "role": "user", "text": "Hello!", "timestamp": "2026-03-10T11:59:30+00:00"}
    assert client.post(f"{BASE}/transcripts", json=earlier, headers=alex).status_code == 201
    items = client.get(f"{BASE}/transcripts/{sid}", headers=alex).json()
    assert [(i["role"], i["text"], i["timestamp"]) for i in items] == [
        ("user", "Hello!", "2026-03-10T11:59:30Z"),
        ("ai", "How are you?", "2026-03-10T12:00:00Z"),
    ]
    assert items[1]["id"] == saved.json()["id"]
    client.post(f"{BASE}/sessions/end", json={"session_id": sid}, headers=alex)
    after = {"session_id": sid, "role": "user", "text": "Bye."}  # saving after the end is allowed (late upload)
    assert client.post(f"{BASE}/transcripts", json=after, headers=alex).status_code == 201
    assert len(client.get(f"{BASE}/transcripts/{sid}", headers=alex).json()) == 3


def test_sessions_of_other_users_are_not_found(client: TestClient, alex: dict[str, str]) -> None:
    sid = start_session(client, alex)["session_id"]
    client.post(f"{BASE}/transcripts", json={"session_id": sid, "role": "user", "text": "Private."}, headers=alex)
    demo = bearer(login(client, "demo"))
    assert client.get(f"{BASE}/transcripts/{sid}", headers=demo).status_code == 404
    assert (
        client.post(
            f"{BASE}/transcripts", json={"session_id": sid, "role": "user", "text": "x"}, headers=demo
        ).status_code
        == 404
    )
    assert client.post(f"{BASE}/sessions/end", json={"session_id": sid}, headers=demo).status_code == 404
    assert len(client.get(f"{BASE}/transcripts/{sid}", headers=alex).json()) == 1


def test_session_and_transcript_bad_input(client: TestClient, alex: dict[str, str]) -> None:
    unknown = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
    assert client.post(f"{BASE}/sessions/end", json={"session_id": unknown}, headers=alex).status_code == 404
    assert client.post(f"{BASE}/sessions/end", json={"session_id": "nope"}, headers=alex).status_code == 400
    assert client.post(f"{BASE}/sessions/end", json={}, headers=alex).status_code == 400
    assert client.get(f"{BASE}/transcripts/{unknown}", headers=alex).status_code == 404
    assert client.get(f"{BASE}/transcripts/not-a-uuid", headers=alex).status_code == 400
    sid = start_session(client, alex)["session_id"]
    for body in (
        {"session_id": sid, "role": "robot", "text": "x"},
        {"session_id": sid, "role": "user", "text": ""},
        {"session_id": sid, "role": "user", "text": "x", "timestamp": "yesterday"},
        {"session_id": sid, "text": "x"},
    ):
        assert client.post(f"{BASE}/transcripts", json=body, headers=alex).status_code == 400, body
    assert (
        client.post(
            f"{BASE}/transcripts", json={"session_id": unknown, "role": "user", "text": "x"}, headers=alex
        ).status_code
        == 404
    )


def test_a_clock_set_back_never_gives_a_negative_session(client: TestClient, alex: dict[str, str]) -> None:
    sid = start_session(client, alex)["session_id"]
    client.post("/__mock__/clock/set", json={"at": "2026-03-10T11:00:00Z"})
    ended = client.post(f"{BASE}/sessions/end", json={"session_id": sid}, headers=alex).json()
    assert ended["duration_seconds"] == 0 and ended["ended_at"] == ended["started_at"]


# dashboard -------------------------------------------------------------------------------------------------------
def test_dashboard_agrees_with_modules_xpi_activity_and_xp(
    client: TestClient, alex: dict[str, str], mock: Mock
) -> None:
    granted = 0
    for task_id, answer in (("reading-12", "truth charitably"), ("writing-12", GOOD_TEXT), ("speaking-12", "Hi.")):
        granted += submit(client, alex, task_id, answer).json()["xp_awarded"]
    granted += client.post(f"{BASE}/modules/12/complete", headers=alex).json()["xp_awarded"]
    granted += client.post(f"{BASE}/evaluate", json={"skill": "writing", "text": GOOD_TEXT}, headers=alex).json()[
        "xp_awarded"
    ]
    client.post(f"{BASE}/modules/1/start", headers=alex)
    dash = client.get(f"{BASE}/dashboard", headers=alex).json()
    xpi = client.get(f"{BASE}/xpi", headers=alex).json()
    assert (dash["modules_completed"], dash["modules_in_progress"], dash["total_modules"]) == (1, 1, 12)
    assert dash["xpi"] == xpi["xpi"] and dash["skills"] == xpi["breakdown"] and dash["level"] == xpi["level"]
    kinds = [a["type"] for a in dash["recent_activity"]]
    assert kinds == [
        "module_started",
        "evaluation",
        "module_completed",
        "task_submitted",
        "task_submitted",
        "task_submitted",
        "module_started",
    ]
    assert dash["recent_activity"][-1]["description"] == 'Started "Style and nuance"'
    assert sum(a["xp_awarded"] for a in dash["recent_activity"]) == granted == 10 * 3 + 50 + 15
    ledger = sum(
        r["amount"] for s in ("task_submission", "module_completion", "evaluation") for r in xp_rows(mock, "alex", s)
    )
    assert ledger == granted
    assert dash["streak"] == 1 and dash["total_time_seconds"] == 0


def test_dashboard_recent_activity_is_capped_at_twenty(client: TestClient, alex: dict[str, str]) -> None:
    for i in range(25):
        submit(client, alex, "reading-1", f"answer {i}")
        advance(client, seconds=1)
    recent = client.get(f"{BASE}/dashboard", headers=alex).json()["recent_activity"]
    assert len(recent) == 20 and recent[0]["occurred_at"] > recent[-1]["occurred_at"]


def test_dashboard_streak_counts_local_days(client: TestClient, alex: dict[str, str]) -> None:
    """alex is in New York: 2026-03-10 02:00 UTC is still 9 March there."""

    def at(instant: str) -> None:
        client.post("/__mock__/clock/set", json={"at": instant})
        relogin(client, alex)

    at("2026-03-08T15:00:00Z")
    submit(client, alex, "reading-1", "x")  # Sun 8 Mar local
    at("2026-03-10T02:00:00Z")
    submit(client, alex, "reading-2", "x")  # Mon 9 Mar local (Tue in UTC)
    assert client.get(f"{BASE}/dashboard", headers=alex).json()["streak"] == 2
    at("2026-03-10T20:00:00Z")  # Tue 10 Mar: nothing yet today, the streak still stands
    assert client.get(f"{BASE}/dashboard", headers=alex).json()["streak"] == 2
    submit(client, alex, "reading-3", "x")
    assert client.get(f"{BASE}/dashboard", headers=alex).json()["streak"] == 3
    at("2026-03-12T20:00:00Z")  # Wednesday 11 March was missed
    assert client.get(f"{BASE}/dashboard", headers=alex).json()["streak"] == 0
    history = client.get(f"{BASE}/xpi/history", headers=alex).json()  # UTC days
    assert [h["date"] for h in history] == ["2026-03-08", "2026-03-10"]


# access ----------------------------------------------------------------------------------------------------------
def test_api_key_scopes(client: TestClient, mock: Mock) -> None:
    keys = {k["name"]: k["key"] for k in mock.credentials.api_keys}
    read_only = {"X-API-Key": keys["demo-read-only"]}
    assert client.get(f"{BASE}/modules", headers=read_only).status_code == 200
    denied = client.post(
        f"{BASE}/tasks/submit",
        headers=read_only,
        json={"module_id": "1", "task_id": "reading-1", "skill": "reading", "response": "x"},
    )
    assert denied.status_code == 403 and denied.json()["detail"]["required_scope"] == "xel:write"
    full = {"X-API-Key": keys["demo-full-access"]}
    assert submit(client, full, "reading-4", "sandwich monday").json()["score"] == 100
    assert (
        client.get(f"{BASE}/xpi", headers=bearer(login(client, "demo"))).json()["updated_at"] == "2026-03-10T12:00:00Z"
    )
    assert client.get(f"{BASE}/dashboard").status_code == 401


# the demo user ---------------------------------------------------------------------------------------------------
def test_demo_user_has_seeded_progress_consistent_with_the_ledger(client: TestClient, mock: Mock) -> None:
    demo = bearer(login(client, "demo"))
    statuses = [m["status"] for m in client.get(f"{BASE}/modules", headers=demo).json()]
    assert statuses[:4] == ["completed", "completed", "in_progress", "not_started"]
    module3 = client.get(f"{BASE}/modules/3", headers=demo).json()
    assert module3["progress_percent"] == 50 and all(t["score"] is not None for t in module3["tasks"][:2])
    dash = client.get(f"{BASE}/dashboard", headers=demo).json()
    assert dash["modules_completed"] == 2 and dash["xpi"] > 0 and len(dash["recent_activity"]) == 20
    assert dash["total_time_seconds"] > 0  # XEL learning time from the generated year of sessions
    history = client.get(f"{BASE}/xpi/history", headers=demo).json()
    assert len(history) == 3 and history[-1]["xpi"] == dash["xpi"]
    activity = mock.store.all(
        "SELECT description, xp_awarded, occurred_at FROM xel_activity a JOIN users u "
        "ON u.id = a.user_id WHERE u.username = 'demo' AND xp_awarded > 0"
    )
    ledger = {
        (r["description"], r["amount"], r["created_at"])
        for s in ("task_submission", "evaluation", "module_completion")
        for r in xp_rows(mock, "demo", s)
    }
    assert {(a["description"], a["xp_awarded"], a["occurred_at"]) for a in activity} <= ledger
    assert len(activity) == 4 + 2 + 4 + 2 + 2 + 1 + 2  # 10 submissions, 5 evaluations, 2 completions


def test_demo_seed_is_deterministic_and_each_mock_has_its_own_copy() -> None:
    """Two mocks of one seed start from the same world, and a submission in one leaves the other untouched (the
    seeded world is copied per mock, never shared). How fast a mock is built is measured by bench/, not here."""
    snapshots = []
    with make_client(frozen_at=NOW) as first, make_client(frozen_at=NOW) as second:
        for c in (first, second):
            h = bearer(login(c, "demo"))
            snapshots.append(
                (c.get(f"{BASE}/dashboard", headers=h).json(), c.get(f"{BASE}/xpi/history", headers=h).json())
            )
        assert snapshots[0] == snapshots[1]
        alex = [bearer(login(c, "alex")) for c in (first, second)]
        before = [c.get(f"{BASE}/dashboard", headers=h).json() for c, h in zip((first, second), alex, strict=True)]
        assert before[0] == before[1]
        scored = submit(first, alex[0], "reading-1", "She lives in London and works as a nurse.")
        assert scored.status_code == 200 and scored.json()["xp_awarded"] == 10
        assert first.get(f"{BASE}/dashboard", headers=alex[0]).json() != before[0]
        assert second.get(f"{BASE}/dashboard", headers=alex[1]).json() == before[1]


# a frontend's whole flow -----------------------------------------------------------------------------------------
def test_scenario_a_learner_works_through_a_module(client: TestClient, alex: dict[str, str], mock: Mock) -> None:
    """Pick a module, open a session, practise every task (regenerating one), get the writing and speaking
    evaluated, complete the module, keep the transcript, end the session; every view then agrees, and the XP
    profile (Profile & Analytics) saw exactly the XP the XEL answers reported."""
    xp_before = client.get("/api/xp/profile", headers=alex).json()["total_xp"]
    module = next(m for m in client.get(f"{BASE}/modules", headers=alex).json() if m["level"] == "B1")
    mid = module["id"]
    session = start_session(client, alex, module_id=mid, session_type="practice")
    assert client.post(f"{BASE}/modules/{mid}/start", headers=alex).json()["status"] == "in_progress"
    tasks = client.get(f"{BASE}/modules/{mid}", headers=alex).json()["tasks"]
    regenerated = client.post(
        f"{BASE}/tasks/regenerate", json={"module_id": mid, "task_id": tasks[1]["id"]}, headers=alex
    ).json()
    assert regenerated["variant"] == 2 and regenerated["prompt"] != tasks[1]["prompt"]
    granted = 0
    for task in tasks:
        advance(client, minutes=2)
        variant = catalog()[mid].task(task["id"]).variant(2 if task is tasks[1] else 1)  # type: ignore[union-attr]
        answer = " ".join(k[0] for k in variant.answer) if variant.answer else GOOD_TEXT
        result = submit(client, alex, task["id"], answer, module_id=mid, time_spent_seconds=120).json()
        granted += result["xp_awarded"]
        client.post(
            f"{BASE}/transcripts",
            json={"session_id": session["session_id"], "role": "user", "text": answer},
            headers=alex,
        )
        if task["skill"] in ("writing", "speaking"):
            evaluation = client.post(
                f"{BASE}/evaluate",
                headers=alex,
                json={"skill": task["skill"], "text": answer, "module_id": mid, "task_id": task["id"]},
            ).json()
            granted += evaluation["xp_awarded"]
    granted += client.post(f"{BASE}/modules/{mid}/complete", headers=alex).json()["xp_awarded"]
    advance(client, minutes=2)
    ended = client.post(f"{BASE}/sessions/end", json={"session_id": session["session_id"]}, headers=alex).json()
    assert ended["duration_seconds"] == 10 * 60
    detail = client.get(f"{BASE}/modules/{mid}", headers=alex).json()
    assert detail["status"] == "completed" and detail["progress_percent"] == 100
    assert all(t["status"] == "evaluated" and t["score"] is not None for t in detail["tasks"])
    assert len(client.get(f"{BASE}/transcripts/{session['session_id']}", headers=alex).json()) == 4
    dash = client.get(f"{BASE}/dashboard", headers=alex).json()
    assert dash["modules_completed"] == 1 and dash["total_time_seconds"] == 600 and dash["streak"] == 1
    assert (
        all(v > 0 for v in dash["skills"].values())
        and dash["xpi"] == client.get(f"{BASE}/xpi", headers=alex).json()["xpi"]
    )
    assert granted == 4 * 10 + 2 * 15 + 50
    quests = sum(r["amount"] for r in xp_rows(mock, "alex", "quest"))  # daily quests reached along the way
    assert client.get("/api/xp/profile", headers=alex).json()["total_xp"] == xp_before + granted + quests
