"""`xentree-contract run` as a user runs it: exit codes, credentials from flags and environment, reports, progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract_tests import cli
from tests.conftest import ROOT, Server, free_port

BIN = Path(sys.executable).parent / "xentree-contract"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XENTREE_")}
    return subprocess.run(
        [str(BIN), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**clean, **(env or {})}
    )


@pytest.fixture(scope="module")
def mock_url() -> str:
    server = Server("--strict", "--quiet", "--rate-limit", "off", "--seed", "5").start()
    yield server.url  # type: ignore[misc]
    server.stop()


def test_a_target_that_is_down_exits_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_cli("run", "--base-url", url, "--report-dir", str(tmp_path), "--quiet")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"the target {url} is unreachable" in done.stdout and "not run (exit 2)" in done.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == 2 and report["verdict"] == "not run" and report["errors"]
    assert "<error" in (tmp_path / "junit.xml").read_text()  # CI shows the run as broken, never green


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = run_cli("run", "--no-report")
    assert missing.returncode == 2 and "--base-url (or XENTREE_BASE_URL) is required" in missing.stderr
    bad_phase = run_cli("run", "--base-url", "http://127.0.0.1:9", "--phases", "warp", "--no-report")
    assert bad_phase.returncode == 2 and "unknown phase(s) warp" in bad_phase.stderr
    assert cli.main(["run", "--base-url", "http://127.0.0.1:9", "--rate-limit", "fast", "--no-report"]) == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--no-such-flag"])
    assert exc.value.code == 2


def test_refused_credentials_fail_the_run_loudly(mock_url: str, tmp_path: Path) -> None:
    token = run_cli("run", "--base-url", mock_url, "--token", "not-a-token", "--no-report", "--quiet")
    assert token.returncode == 2, token.stdout
    assert "credentials refused: the target refused the bearer token" in token.stdout and "401" in token.stdout
    password = run_cli(
        "run",
        "--no-report",
        "--quiet",
        env={"XENTREE_BASE_URL": mock_url, "XENTREE_USERNAME": "demo", "XENTREE_PASSWORD": "wrong-password"},
    )
    assert password.returncode == 2 and "login as 'demo' was refused" in password.stdout
    key = run_cli("run", "--base-url", mock_url, "--api-key", "xntr-" + "A" * 86, "--no-report", "--quiet")
    assert key.returncode == 2 and "the target refused the API key" in key.stdout


def test_a_conformant_selection_exits_0_with_reports(mock_url: str, tmp_path: Path) -> None:
    """Credentials from the environment, two tags, every phase: zero failures against the mock."""
    env = {
        "XENTREE_BASE_URL": mock_url,
        "XENTREE_USERNAME": "demo",
        "XENTREE_PASSWORD": "demo-password",
        "XENTREE_MAX_EXAMPLES": "3",
        "XENTREE_REPORT_DIR": str(tmp_path),
    }
    done = run_cli("run", "--include-tag", "Health", "--include-tag", "Authentication", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conformant (exit 0), conformance score 100.0%" in done.stdout
    assert "property tests" in done.stderr and "phase coverage" in done.stderr  # the progress display
    report = json.loads((tmp_path / "report.json").read_text())
    tested = {op["operation_id"] for op in report["operations"] if op["status"] == "passed"}
    assert {"getHealth", "getDetailedHealth", "loginUser", "getCurrentUser"} <= tested
    assert report["identity"]["username"] == "demo" and report["options"]["password"] == "[Filtered]"
    skipped = {op["operation_id"]: op["skip_reason"] for op in report["operations"] if op["status"] == "skipped"}
    assert "updateCurrentUser" in skipped and "--register" in skipped["updateCurrentUser"]  # the real user is spared
    assert skipped["listNotes"] == "not selected"
    scenarios = {s["name"]: s["status"] for s in report["scenarios"]}
    assert scenarios["session: logout invalidates the token"] == "passed"
    assert scenarios["session: refresh rotates the refresh token"] == "passed"
    assert scenarios["public: getHealth"] == "passed" and scenarios["public: loginUser"] == "passed"
    assert all(status != "failed" for status in scenarios.values())
    assert {p.name for p in tmp_path.iterdir()} >= {"junit.xml", "report.json", "report.html", "summary.md"}


def test_python_dash_m_runs_the_same_cli(mock_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "contract_tests",
            "run",
            "--base-url",
            mock_url,
            "--register",
            "--operation",
            "getHealth",
            "--phases",
            "examples,scenarios",
            "--no-report",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conformant (exit 0)" in done.stdout


LOADED = (
    "import sys\n"
    "from contract_tests.__main__ import main\n"
    "sys.argv = ['xentree-contract', '--help']\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "import hypothesis  # as a run imports it\n"
    "print('hypothesis' in sys.modules, 'trio' in sys.modules)\n"
)


@pytest.mark.parametrize(("setting", "plugins_run"), [(None, False), ("", True)])
def test_the_command_leaves_hypothesis_plugins_out_unless_the_environment_says(
    setting: str | None, plugins_run: bool
) -> None:
    """Selenium brings trio, whose Hypothesis plugin imports trio and pytest into every run; the command sets
    HYPOTHESIS_NO_PLUGINS only where the environment has not set it."""
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_NO_PLUGINS"}
    if setting is not None:
        env["HYPOTHESIS_NO_PLUGINS"] = setting
    done = subprocess.run([sys.executable, "-c", LOADED], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["True", str(plugins_run)]  # after the help text
