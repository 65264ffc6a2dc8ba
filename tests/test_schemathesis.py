"""Acceptance: upstream Schemathesis, all checks and all four phases, against the real mock process, zero failures.

`logoutUser` is left out of the run because it revokes the very token the run authenticates with (every later
request would be a 401); logout is covered by tests/test_accounts.py. Example counts are bounded to keep CI fast (3
per operation in the fuzzing and stateful phases; the coverage phase does not depend on it): the large run is
`bench/bench_fuzz.py`. The run is judged by its exit code, its JUnit report and the mock's journal, never by its text.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests import web
from tests.conftest import ROOT, Server

MAX_EXAMPLES = "3"


def test_upstream_schemathesis_finds_zero_failures(server_factory: type[Server], tmp_path: Path) -> None:
    server = server_factory("--strict", "--quiet", "--rate-limit", "off", "--seed", "3").start()
    login = web.post(f"{server.url}/api/auth/login", data={"username": "admin", "password": "admin-password"})
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
    assert result.returncode == 0, result.stdout[-6000:]
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    cases = junit.findall(".//testcase")
    assert len(cases) >= 80  # one per operation (and the stateful tests)
    broken = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert not broken, result.stdout[-6000:]
    # The run really exercised the mock: the journal saw every tag's operations.
    journal = web.get(f"{server.url}/__mock__/journal", params={"limit": 500}).json()
    assert journal["total"] >= 400
    assert len({e["operation_id"] for e in journal["entries"]}) > 20
