"""Xentree English (XEL): the module catalog, the module list and detail, and module progress. The clock is frozen so
times are exact (tests/english_helpers.py).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.english import LEVELS, CatalogError, catalog, parse_catalog
from tests.conftest import bearer, login
from tests.english_helpers import BASE, NOW, advance, relogin, submit, xp_rows

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here


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
