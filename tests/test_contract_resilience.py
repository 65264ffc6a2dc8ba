"""Acceptance: the contract suite on deployments it has never seen — targets that die, 429s it must provoke, leaked
secrets, and findings ranked by the provenance of the rule they break.

The dying targets are REAL processes (the strict mock app behind a wrapper that kills the process with `os._exit`
on its N-th request, before answering: the connection is reset like a crashed server's), started as
`python -m tests.dying_mock serve ...` (a light module that imports only the mock and uvicorn); the others are the
mock behind a small ASGI wrapper in a uvicorn thread (tests/test_contract_broken.py). The suite talks HTTP to them
like to any target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract_tests.plugin import ThreadServer, wait_until_up
from contract_tests.results import FAILED, PASSED, SKIPPED
from tests.conftest import ROOT, free_port
from tests.test_contract_broken import Scope, contract, mock_app, problems, rewrite_response, serve  # noqa: F401

OUTAGE_CHECK = "target_unresponsive"


# the dying target (a real process, tests/dying_mock.py) -----------------------------------------------------------
class DyingTarget:
    """The dying mock as a child process; `revive_after` seconds after it died, the same port serves it again (same
    state file, never dying), like a supervisor restarting a crashed service."""

    def __init__(self, tmp_path: Path, die_after: int, revive_after: float | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.record = tmp_path / "killer.json"
        self.state = tmp_path / "state.sqlite"
        self.die_after = die_after
        self.revive_after = revive_after
        self.procs: list[subprocess.Popen[bytes]] = []
        self.revived = threading.Event()
        self._stop = threading.Event()

    def _spawn(self, die_after: int) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "tests.dying_mock",
            "serve",
            "--port",
            str(self.port),
            "--die-after",
            str(die_after),
            "--record",
            str(self.record),
            "--state",
            str(self.state),
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def _supervise(self, first: subprocess.Popen[bytes]) -> None:
        while first.poll() is None:
            if self._stop.wait(0.05):
                return
        if self.revive_after is None or self._stop.wait(self.revive_after):
            return
        self._spawn(0)
        wait_until_up(self.url, path="/openapi.json")
        self.revived.set()

    def __enter__(self) -> DyingTarget:
        first = self._spawn(0 if self.die_after <= 0 else self.die_after)
        wait_until_up(self.url, path="/openapi.json")
        threading.Thread(target=self._supervise, args=(first,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)

    def killer(self) -> dict[str, str]:
        return json.loads(self.record.read_text())


def run_cli(url: str, report_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XENTREE_")}
    cmd = [
        sys.executable,
        "-m",
        "contract_tests",
        "run",
        "--base-url",
        url,
        "--register",
        "--allow-destructive",
        "--max-examples",
        "3",
        "--seed",
        "1",
        "--report-dir",
        str(report_dir),
        "--quiet",
        *args,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=clean)


def outage_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    units = [*report["operations"], *report["scenarios"]]
    return [f for u in units for f in u["findings"] if f["check"] == OUTAGE_CHECK]


SELECTION = (
    "--include-tag",
    "Health",
    "--include-operation-id",
    "listNotes",
    "--include-operation-id",
    "createNote",
    "--include-operation-id",
    "getStreakStatus",
    "--phases",
    "examples,coverage,fuzzing,scenarios",
)


@dataclass
class Outage:
    """A CLI run against a dying target: the process, who killed it, whether it came back, and the reports."""

    done: subprocess.CompletedProcess[str]
    killer: dict[str, str]
    revived: bool
    reports: Path

    @property
    def report(self) -> dict[str, Any]:
        return dict(json.loads((self.reports / "report.json").read_text()))


@pytest.fixture
def dying_run(tmp_path: Path) -> Callable[..., Outage]:
    """`dying_run(die_after, *cli_args, revive_after=None)`: the CLI against a DyingTarget, stopped afterwards."""

    def run(die_after: int, *args: str, revive_after: float | None = None) -> Outage:
        with DyingTarget(tmp_path, die_after=die_after, revive_after=revive_after) as target:
            done = run_cli(target.url, tmp_path / "r", *args)
            return Outage(done, target.killer(), target.revived.is_set(), tmp_path / "r")

    return run


def test_a_target_that_dies_mid_run_keeps_every_result_and_names_the_request(dying_run: Callable[..., Outage]) -> None:
    run = dying_run(60, *SELECTION, "--outage-wait", "0.5")
    done, killer, reports = run.done, run.killer, run.reports
    assert done.returncode == 1, done.stdout + done.stderr  # broke during the run: 1, never 2
    assert {p.name for p in reports.iterdir()} >= {"junit.xml", "report.json", "report.html", "summary.md"}
    report = run.report
    assert report["exit_code"] == 1 and report["verdict"] == "contract failures"
    found = outage_findings(report)
    assert len(found) == 1, found
    outage = found[0]
    assert outage["code"] == "XC503" and outage["severity"] == "error"
    assert "the target stopped responding after this request" in outage["message"]
    assert f"{killer['method']} " in outage["message"] and killer["path"] in outage["curl"]
    assert outage["curl"].startswith("curl -X " + killer["method"])
    by_id = {op["operation_id"]: op for op in report["operations"]}
    assert by_id[outage["operation"]]["status"] == FAILED
    tested = [op for op in by_id.values() if op["cases"]]
    assert tested, "the results from before the outage are kept"
    assert any("did not answer again within 0.5 s" in e for e in report["errors"]), report["errors"]
    assert any(s["skip_reason"] == "the target stopped responding" for s in report["scenarios"])
    junit = (reports / "junit.xml").read_text()
    assert "XC503" in junit and "<failure" in junit
    assert "The target stopped responding" in (reports / "report.html").read_text()


def test_a_target_that_dies_and_comes_back_is_tested_to_the_end(dying_run: Callable[..., Outage]) -> None:
    run = dying_run(60, *SELECTION, "--outage-wait", "30", revive_after=1.0)
    assert run.revived
    done, killer = run.done, run.killer
    assert done.returncode == 1, done.stdout + done.stderr
    report = run.report
    found = outage_findings(report)
    assert len(found) == 1 and killer["path"] in found[0]["curl"], found
    assert any("answered again after" in e and "the run went on" in e for e in report["errors"]), report["errors"]
    by_id = {op["operation_id"]: op for op in report["operations"]}
    others = [
        op for op_id, op in by_id.items() if op["skip_reason"] != "not selected" and op_id != found[0]["operation"]
    ]
    assert others and all(op["status"] == PASSED and op["phases"].get("fuzzing") == PASSED for op in others), [
        (op["operation_id"], op["status"], op["phases"], op["findings"][:1]) for op in others
    ]
    scenarios = {s["name"]: s["status"] for s in report["scenarios"]}
    assert scenarios["public: getHealth"] == PASSED, scenarios  # the scenarios ran after the comeback


def test_a_target_that_dies_during_the_scenarios_fails_that_request(dying_run: Callable[..., Outage]) -> None:
    run = dying_run(25, "--phases", "scenarios", "--outage-wait", "0.5")
    done, killer = run.done, run.killer
    assert done.returncode == 1, done.stdout + done.stderr
    report = run.report
    found = outage_findings(report)
    assert found and all(killer["path"] in f["curl"] for f in found), found
    assert "during the scenario" in found[0]["message"]
    failed = [s for s in report["scenarios"] if s["status"] == FAILED]
    assert failed and any(f["check"] == OUTAGE_CHECK for s in failed for f in s["findings"])
    assert any(s["skip_reason"] == "the target stopped responding" for s in report["scenarios"])
    assert (run.reports / "summary.md").read_text().count("XC503") >= 1


def test_a_target_never_reachable_is_still_exit_2(tmp_path: Path) -> None:
    done = run_cli(f"http://127.0.0.1:{free_port()}", tmp_path / "r", "--outage-wait", "0")
    assert done.returncode == 2 and "is unreachable" in done.stdout


# 429s the run must provoke ------------------------------------------------------------------------------------------
def strip_retry_after(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    if status == 429:
        headers.pop("retry-after", None)
    return status, headers, body


def throttled(serve: Callable[[Any], str]) -> str:  # noqa: F811
    """A fresh mock with a small limit (40 per hour per identity) whose 429s lack Retry-After."""
    from mock_server.app import Settings, create_app

    app = create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="40/3600"))
    return serve(rewrite_response(app, lambda scope: True, strip_retry_after))


def test_429s_without_retry_after_are_caught_only_by_the_probe(
    serve: Callable[[Any], str],  # noqa: F811
    tmp_path: Path,
) -> None:
    plain = contract(throttled(serve), tmp_path, operations=["getHealth"], phases=["scenarios"])
    assert not [f for f in plain.findings if f.check == "rate_limit_headers"], problems(plain)
    assert plain.exit_code == 0, problems(plain)

    probed = contract(
        throttled(serve),
        tmp_path,
        operations=["getHealth"],
        phases=["scenarios"],
        probe_rate_limit=True,
        probe_max_wait=0,
    )
    found = [f for f in probed.findings if f.check == "rate_limit_headers"]
    assert found and found[0].code == "XC429" and "429 response has no Retry-After header" in found[0].message
    assert found[0].operation == "getHealth" and found[0].subject == "header Retry-After"
    # Retry-After on 429 is our inference (the docs do not state it): a warning, an error with --strict-inferred
    assert (found[0].provenance, found[0].severity, probed.exit_code) == ("inferred", "warning", 0)
    strict = contract(
        throttled(serve),
        tmp_path,
        operations=["getHealth"],
        phases=["scenarios"],
        probe_rate_limit=True,
        probe_max_wait=0,
        strict_inferred=True,
    )
    assert strict.exit_code == 1 and any(
        f.check == "rate_limit_headers" and f.severity == "error" for f in strict.findings
    )


def test_the_probe_passes_a_conformant_limit_and_waits_out_the_reset(tmp_path: Path) -> None:
    from mock_server.app import Settings, create_app

    app = create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="30/30"))
    with ThreadServer(app) as server:
        result = contract(
            server.url,
            tmp_path,
            operations=["getHealth"],
            phases=["scenarios"],
            probe_rate_limit=True,
            probe_max_wait=5,
        )
    probe = next(s for s in result.scenarios if s.group == "rate-limit")
    assert probe.status == PASSED and not result.findings, problems(result)
    assert result.exit_code == 0 and any(step.endswith("-> 429") for step in probe.steps), probe.steps


def test_a_probe_over_budget_is_skipped_with_a_warning(tmp_path: Path) -> None:
    from mock_server.app import Settings, create_app

    app = create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="5000/60"))
    with ThreadServer(app) as server:
        result = contract(
            server.url,
            tmp_path,
            operations=["getHealth"],
            phases=["scenarios"],
            probe_rate_limit=True,
            probe_max_requests=100,
        )
    probe = next(s for s in result.scenarios if s.group == "rate-limit")
    assert probe.status == SKIPPED and "beyond --probe-max-requests 100" in (probe.skip_reason or "")
    assert any("rate-limit probe skipped" in w for w in result.warnings) and result.exit_code == 0


# secrets and severity ----------------------------------------------------------------------------------------------
def add_field(path: str, method: str, field: str, value: Any) -> Callable[[Any], Any]:
    def change(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        data = json.loads(body) if body else None
        if status == 200 and isinstance(data, dict):
            data[field] = value
        return status, headers, json.dumps(data).encode()

    return lambda app: rewrite_response(app, lambda s: s["path"] == path and s["method"] == method, change)


def test_a_password_hash_in_me_is_an_error(serve: Callable[[Any], str], tmp_path: Path) -> None:  # noqa: F811
    leak = add_field("/api/auth/me", "GET", "password_hash", "scrypt:32768:8:1$c2FsdA$aGFzaA")
    result = contract(serve(leak(mock_app())), tmp_path, operations=["getCurrentUser"], phases=["coverage"])
    found = [f for f in result.findings if f.check == "secrets_exposure"]
    assert found and found[0].code == "XC452" and found[0].operation == "getCurrentUser", problems(result)
    assert "password or hash field '/password_hash'" in found[0].message
    # getCurrentUser's path is inferred, but a leaked secret is an error whatever the provenance
    assert found[0].severity == "error" and result.exit_code == 1


def test_a_break_of_an_inferred_field_is_a_warning(serve: Callable[[Any], str], tmp_path: Path) -> None:  # noqa: F811
    """getXpProfile is documented, but its `total_xp` field is our inference: the most specific mark wins."""
    url = serve(add_field("/api/xp/profile", "GET", "total_xp", "lots")(mock_app()))
    result = contract(url, tmp_path, operations=["getXpProfile"], phases=["examples", "coverage"])
    found = [f for f in result.findings if f.check == "response_schema_conformance"]
    assert found and all(f.provenance == "inferred" and f.severity == "warning" for f in found), problems(result)
    assert "total_xp" in found[0].subject and result.exit_code == 0
    profile = next(op for op in result.operations if op.operation_id == "getXpProfile")
    assert profile.status == PASSED  # reported, not failed
    strict = contract(url, tmp_path, operations=["getXpProfile"], phases=["coverage"], strict_inferred=True)
    assert strict.exit_code == 1


def test_a_break_of_a_documented_field_is_an_error(serve: Callable[[Any], str], tmp_path: Path) -> None:  # noqa: F811
    # (issue 15 marked every XP profile field inferred, `level` too: the streak's current_streak is documented)
    url = serve(add_field("/api/xp/streak-status", "GET", "current_streak", "seven")(mock_app()))
    result = contract(url, tmp_path, operations=["getStreakStatus"], phases=["examples", "coverage"])
    found = [f for f in result.findings if f.check == "response_schema_conformance"]
    assert found and found[0].provenance == "documented" and found[0].severity == "error", problems(result)
    assert "current_streak" in found[0].subject and result.exit_code == 1
