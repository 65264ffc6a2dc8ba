"""Xentree English (XEL): the dashboard, API-key access, the demo user's seeded progress, and a frontend's whole flow
through a module. The clock is frozen so times are exact (tests/english_helpers.py).
"""

from __future__ import annotations

from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains.english import catalog
from tests.conftest import bearer, login, make_client
from tests.english_helpers import BASE, GOOD_TEXT, NOW, advance, relogin, start_session, submit, xp_rows

FROZEN_AT = NOW  # the conftest `client` fixture freezes the mock clock here


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
