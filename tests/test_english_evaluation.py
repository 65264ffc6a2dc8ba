"""Xentree English (XEL): the evaluation rubric and the XPI built from its scores. The clock is frozen so times are
exact (tests/english_helpers.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.english import catalog, cefr, evaluate_text, text_features
from tests.english_helpers import BASE, GOOD_TEXT, NOW, POOR_TEXT, advance, relogin, submit, xp_rows

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here


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
