"""The proxy's edges in time: an upstream that answers too late, and a proxy process stopped by SIGTERM or by its
own `--duration` — each ends in the spec's Error shape or the four reports, never a hang or a lost report."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contract_tests.plugin import ThreadServer, WatchedProxy, free_port
from contract_tests.resources import spec_path
from contract_tests.spec import ApiSpec
from tests import web
from tests.conftest import ROOT

REPORTS = {"junit.xml", "report.json", "report.html", "summary.md"}


async def slow_health(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("sleep", "0")))
    return JSONResponse({"status": "ok", "timestamp": "2026-12-02T00:00:00Z"})


@pytest.fixture(scope="module")
def slow_url() -> Iterator[str]:
    with ThreadServer(Starlette(routes=[Route("/api/health", slow_health)]), timeout_graceful_shutdown=1) as server:
        yield server.url


def test_an_upstream_that_answers_too_late_gives_502_in_the_error_shape_and_a_report_entry(slow_url: str) -> None:
    spec = ApiSpec.load(spec_path("xentree"))
    with WatchedProxy(slow_url, request_timeout=1) as proxy:
        started = time.monotonic()
        answer = web.get(proxy.url + "/api/health?sleep=5", timeout=30)
        waited = time.monotonic() - started
        (result,) = proxy.results()
    assert answer.status_code == 502 and waited < 5  # the proxy gave up; it did not wait for the upstream
    body = answer.json()
    assert spec.error_validator is not None and list(spec.error_validator.iter_errors(body)) == []
    assert body["detail"]["error"] == "upstream_unreachable" and "Timeout" in body["detail"]["message"]
    (finding,) = next(op for op in result.operations if op.operation_id == "getHealth").findings
    assert finding.code == "XC503" and finding.status == 502


def start_proxy(upstream: str, reports: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "contract_tests", "proxy", "--upstream", upstream, "--port", str(port)]
    cmd += ["--report-dir", str(reports), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            web.get(url + "/api/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()) from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the proxy did not start")


def health_cases(reports: Path) -> int:
    data = json.loads((reports / "report.json").read_text())
    return int(next(op["cases"] for op in data["operations"] if op["operation_id"] == "getHealth"))


def test_sigterm_writes_the_reports(slow_url: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc, url = start_proxy(slow_url, reports)
    try:
        assert web.get(url + "/api/health", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert {p.name for p in reports.iterdir()} == REPORTS
    assert health_cases(reports) == 2  # the start-up probe and the request


def test_duration_stops_the_proxy_by_itself_and_writes_the_reports(slow_url: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc, url = start_proxy(slow_url, reports, "--duration", "4")
    try:
        assert web.get(url + "/api/health", timeout=10).status_code == 200
        out, err = proc.communicate(timeout=60)  # no signal: it ends on its own
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert {p.name for p in reports.iterdir()} == REPORTS
    assert health_cases(reports) == 2
