"""`xentree-mock` as a newcomer meets it: help with defaults and environment variables, a busy port, `make serve`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests import web
from tests.conftest import ROOT, free_port

MOCK = [sys.executable, "-m", "mock_server"]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MOCK, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def test_bare_command_prints_its_help() -> None:
    result = _run()
    assert result.returncode == 0
    assert "usage: xentree-mock" in result.stdout and "serve" in result.stdout


def test_serve_help_shows_every_default_and_environment_variable() -> None:
    help_text = " ".join(_run("serve", "--help").stdout.split())
    for option, env, default in [
        ("--host", "XENTREE_MOCK_HOST", "127.0.0.1"),
        ("--port", "XENTREE_MOCK_PORT", "4010"),
        ("--seed", "XENTREE_MOCK_SEED", "0"),
        ("--rate-limit", "XENTREE_MOCK_RATE_LIMIT", "6000/60"),
        ("--auth-failure-limit", "XENTREE_MOCK_AUTH_FAILURE_LIMIT", "10/60"),
        ("--fixture", "XENTREE_MOCK_FIXTURE", "demo"),
        ("--api", "XENTREE_MOCK_API", "xentree"),
    ]:
        assert option in help_text and env in help_text, option
        assert f"(default: {default})" in help_text, option
    for flag in (
        "--state",
        "--strict",
        "--admin-token",
        "--cors-origin",
        "--forwarded-allow-ips",
        "--jwt-secret",
        "--deterministic-tokens",
        "--freeze-at",
        "--reload",
        "--quiet",
    ):
        assert flag in help_text
    env_names = [word for word in help_text.split() if word.startswith("XENTREE_MOCK_")]
    assert len(env_names) >= 18


def test_secrets_from_the_environment_are_not_echoed_by_help() -> None:
    result = _run(
        "serve",
        "--help",
        env={"XENTREE_MOCK_JWT_SECRET": "s3cret-value-of-the-team", "XENTREE_MOCK_ADMIN_TOKEN": "admin-t0ken"},
    )
    assert "s3cret-value-of-the-team" not in result.stdout and "admin-t0ken" not in result.stdout


def test_a_busy_port_is_one_clear_line_and_a_non_zero_exit_before_any_banner() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("serve", "--port", str(port), "--quiet")
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == [f"xentree-mock: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "demo-password" not in result.stdout  # no banner with credentials for a server that never ran


def test_a_bad_rate_limit_is_one_clear_line() -> None:
    result = _run("serve", "--rate-limit", "lots", "--port", str(free_port()))
    assert result.returncode != 0
    assert "--rate-limit 'lots': expected N/SECONDS" in result.stderr


def _wait(url: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(300):
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if web.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def test_environment_variables_configure_serve_and_the_banner_follows_the_bind() -> None:
    port = free_port()
    env = {
        **os.environ,
        "XENTREE_MOCK_PORT": str(port),
        "XENTREE_MOCK_SEED": "7",
        "XENTREE_MOCK_QUIET": "1",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [*MOCK, "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait(f"http://127.0.0.1:{port}", proc)
        index = web.get(f"http://127.0.0.1:{port}/__mock__").json()
        assert index["seed"] == 7
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert out.startswith("xentree-mock ") and f"http://127.0.0.1:{port}" in out.splitlines()[0]
    assert "GET /api/health" not in out  # XENTREE_MOCK_QUIET=1


@pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / ".venv" / ".installed").exists(),
    reason="make serve needs make and the installed .venv (make test builds it)",
)
def test_make_serve_takes_host_and_port() -> None:
    port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PORT={port}", "HOST=127.0.0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait(f"http://127.0.0.1:{port}", proc)
        assert web.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
    finally:
        os.killpg(proc.pid, 15)
        proc.communicate(timeout=10)
