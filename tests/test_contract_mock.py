"""Acceptance: the whole contract suite (every operation, every phase, every scenario) finds zero failures in the mock.

The real mock process (strict, seeded), the real CLI, a throw-away user, destructive operations and the Live quota
rule included; example counts are small to keep CI fast (the default-size run is timed by bench/contract_run.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import ROOT, Server


def test_the_full_suite_finds_zero_failures_in_the_mock(server_factory: type[Server], tmp_path: Path) -> None:
    server = server_factory("--strict", "--quiet", "--rate-limit", "off", "--seed", "4").start()
    cmd = [
        sys.executable,
        "-m",
        "contract_tests",
        "run",
        "--base-url",
        server.url,
        "--register",
        "--allow-destructive",
        "--live-quota",
        "--max-examples",
        "3",
        "--seed",
        "2",
        "--report-dir",
        str(tmp_path),
        "--quiet",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["score"] == 100.0 and report["counts"]["failed"] == 0 and report["counts"]["errored"] == 0
    assert report["findings"] == {"errors": 0, "warnings": 0}, [  # warnings (inferred rules) count here too
        (op["operation_id"], f["message"][:200]) for op in report["operations"] for f in op["findings"]
    ]
    operations = {op["operation_id"]: op for op in report["operations"]}
    assert all(op["status"] == "passed" for op in operations.values()), [
        (k, op["status"], op["skip_reason"]) for k, op in operations.items() if op["status"] != "passed"
    ]
    scenarios = {s["name"]: s for s in report["scenarios"]}
    for name in (
        "scope enforcement: listConversations",
        "bearer only: createApiKey",
        "public: getPublicXpProfile",
        "isolation: notes",
        "isolation: organizations",
        "isolation: API keys",
        "session: logout invalidates the token",
        "session: refresh rotates the refresh token",
        "live quota: sessions beyond the quota get 429 live_quota_exceeded",
        "stateful: sequences following the spec's links",
    ):
        assert scenarios[name]["status"] == "passed", scenarios.get(name)
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == len(operations) + len(scenarios)
    assert junit.find(".//failure") is None and junit.find(".//error") is None
