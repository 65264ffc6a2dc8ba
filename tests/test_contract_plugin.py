"""The pytest plugin (entry point `pytest11`): the mock and the contract suite as fixtures for any project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from contract_tests.plugin import XentreeMock, probe_budget


def test_xentree_mock_is_a_seeded_mock_with_controls(xentree_mock: XentreeMock, xentree_base_url: str) -> None:
    assert xentree_base_url == xentree_mock.url
    assert requests.get(f"{xentree_mock.url}/api/health", timeout=5).status_code == 200
    token = xentree_mock.login("demo")
    me = requests.get(f"{xentree_mock.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert me.json()["username"] == "demo"
    assert {u["username"] for u in xentree_mock.credentials()["users"]} >= {"demo", "admin"}
    assert xentree_mock.state is not None and xentree_mock.state.settings.seed == xentree_mock.seed

    frozen = xentree_mock.freeze("2026-03-01T09:00:00Z")
    assert frozen == {"now": "2026-03-01T09:00:00Z", "frozen": True}
    assert xentree_mock.advance(days=1, hours=2)["now"] == "2026-03-02T11:00:00Z"

    xentree_mock.fault("getHealth", status=503)
    assert requests.get(f"{xentree_mock.url}/api/health", timeout=5).status_code == 503
    assert xentree_mock.journal(limit=5)["entries"]


def test_xentree_mock_is_reset_before_each_test(xentree_mock: XentreeMock) -> None:
    """The previous test froze the clock, injected a fault and logged in: none of it is left."""
    assert requests.get(f"{xentree_mock.url}/api/health", timeout=5).status_code == 200
    assert xentree_mock.control("GET", "/clock")["frozen"] is False
    assert all(entry["path"] != "/api/auth/login" for entry in xentree_mock.journal(limit=500)["entries"])


def test_xentree_contract_runs_the_suite_against_the_mock(xentree_contract: Any, tmp_path: Path) -> None:
    result = xentree_contract(include_tags=["Health"], max_examples=3, report_dir=tmp_path / "reports")
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert result.identity["registered"] is True
    assert {"junit", "json", "html", "markdown"} == set(result.reports)
    assert (tmp_path / "reports" / "report.html").read_text().startswith("<!doctype html>")
    probe = next(s for s in result.scenarios if s.group == "rate-limit")  # on by default against the mock
    assert probe.status == "passed" and any(step.endswith("-> 429") for step in probe.steps), (
        probe.skip_reason,
        probe.steps,
    )
    assert result.severity_counts() == {"errors": 0, "warnings": 0}


def test_another_project_gets_the_fixtures_from_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_uses_mock.py").write_text(
        "import requests\n"
        "def test_mock(xentree_mock, xentree_base_url):\n"
        "    assert requests.get(xentree_base_url + '/api/health', timeout=5).status_code == 200\n"
        "    xentree_mock.freeze('2026-01-01T00:00:00Z')\n"
        "    assert xentree_mock.control('GET', '/clock')['now'] == '2026-01-01T00:00:00Z'\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--xentree-seed",
            "7",
            "--xentree-mock",
            "process",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_probe_budget_follows_the_mocks_rate_limit() -> None:
    """Enough requests to empty the mock's bucket while it refills (the run's default cap, 10,000, would not be)."""
    assert probe_budget("10000/7200") == 20_100 and probe_budget("5000/3600") == 10_100
    assert probe_budget("off") == 1  # no limit to reach: one request shows that, not ten thousand


def test_xentree_proxy_watches_the_sessions_traffic(xentree_proxy: Any, xentree_mock: XentreeMock) -> None:
    """The session's proxy stands in front of the mock: what goes through its URL shows in its results."""
    token = xentree_mock.login("demo")
    before = next(op for op in xentree_proxy.results()[0].operations if op.operation_id == "getXpProfile").cases
    answer = requests.get(f"{xentree_proxy.url}/api/xp/profile", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["username"] == "demo"
    (result,) = xentree_proxy.results()
    profile = next(op for op in result.operations if op.operation_id == "getXpProfile")
    assert profile.cases == before + 1 and profile.findings == [] and profile.statuses_seen[200] >= 1
    assert result.base_url == xentree_mock.url
