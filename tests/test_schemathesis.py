"""Acceptance: upstream Schemathesis, all checks and all four phases, against the real mock process, zero failures.

`logoutUser` is left out of the run because it revokes the very token the run authenticates with (every later
request would be a 401); logout is covered by tests/test_accounts.py. Example counts are bounded to keep CI fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, Server

MAX_EXAMPLES = "8"


def test_upstream_schemathesis_finds_zero_failures(server_factory: type[Server], tmp_path: Path) -> None:
    server = server_factory("--strict", "--quiet", "--rate-limit", "off", "--seed", "3").start()
    login = httpx.post(f"{server.url}/api/auth/login", data={"username": "admin", "password": "admin-password"})
    token = login.json()["access_token"]
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        "openapi/xentree.yaml",
        "--url",
        server.url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        "1",
        "--no-color",
        "--exclude-operation-id",
        "logoutUser",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(tmp_path),
        "--report-junit-path",
        str(tmp_path / "junit.xml"),
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    tail = result.stdout[-6000:]
    assert result.returncode == 0, tail
    assert "generated" in tail and "failures" not in tail.split("SUMMARY")[-1].lower().replace("0 failures", ""), tail
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count("<testcase") >= 80  # one per operation (and the stateful tests)
    assert "<failure" not in junit
    # The run really exercised the mock: the journal saw every tag's operations.
    journal = httpx.get(f"{server.url}/__mock__/journal", params={"limit": 500}).json()
    assert journal["total"] >= 400
    assert len({e["operation_id"] for e in journal["entries"]}) > 20
    assert json.dumps(journal)  # serialisable
