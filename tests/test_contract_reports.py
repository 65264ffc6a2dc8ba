"""The contract suite's reports without a server: JUnit, JSON, HTML and Markdown from a sample run, every operation
and scenario, errors and warnings by provenance, the status matrix and each operation's docs version."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from contract_tests import report
from contract_tests.results import (
    FAILED,
    PASSED,
    SKIPPED,
    Finding,
    OperationResult,
    RunResult,
    ScenarioResult,
)
from mock_server.resources import spec_path


# reports -----------------------------------------------------------------------------------------------------------
def sample_result() -> RunResult:
    result = RunResult("xentree", "http://127.0.0.1:1", str(spec_path()), 1, {"max_examples": 3}, seconds=1.5)
    ok = OperationResult(
        "getHealth",
        "GET /api/health",
        ["Health"],
        "inferred",
        ["200", "429"],
        status=PASSED,
        statuses_seen=Counter({200: 4}),
        checks={"not_a_server_error": {"passed": 4, "failed": 0}},
    )
    bad = OperationResult(
        "getPublicXpProfile",
        "GET /api/xp/public-profile/{username}",
        ["Profile & Analytics"],
        "documented",
        ["200", "400", "404", "429"],
        status=FAILED,
        statuses_seen=Counter({200: 2, 500: 1}),
        since="2026-04-23",
    )
    bad.findings.append(
        Finding(
            "public_profile_privacy",
            "Public profile leaks private data",
            "public profile field '/email' <holds> an email address",
            "XC451",
            "curl -X GET 'http://127.0.0.1:1/api/xp/public-profile/demo'",
            200,
        )
    )
    skipped = OperationResult(
        "deleteNote",
        "DELETE /api/core/notes/{note_id}",
        ["Conversations"],
        "documented",
        ["204"],
        skip_reason="destructive",
    )
    result.operations = [ok, bad, skipped]
    result.scenarios = [
        ScenarioResult("public: getHealth", "public"),
        ScenarioResult("live quota", "live-quota", status=SKIPPED, skip_reason="opt-in"),
    ]
    return result


def test_reports_show_every_operation_and_scenario(tmp_path: Path) -> None:
    result = sample_result()
    assert (result.exit_code, result.score) == (1, 66.7)
    paths = report.write_all(result, tmp_path)
    assert set(paths) == {"junit", "json", "html", "markdown"}
    junit = ET.parse(paths["junit"]).getroot()
    cases = junit.findall(".//testcase")
    assert len(cases) == 5  # one per operation and per scenario
    failure = junit.find(".//testcase[@name='GET /api/xp/public-profile/{username} (getPublicXpProfile)']/failure")
    assert failure is not None and "XC451" in failure.get("message", "") and "curl -X GET" in (failure.text or "")
    assert junit.find(".//testcase[@name='live quota']/skipped").get("message") == "opt-in"  # type: ignore[union-attr]
    data = json.loads(Path(paths["json"]).read_text())
    assert data["score"] == 66.7 and data["exit_code"] == 1 and data["counts"][FAILED] == 1
    assert data["operations"][1]["undocumented_statuses"] == [500]
    page = Path(paths["html"]).read_text()
    assert "<script src" not in page and "<link" not in page and "http://" not in page.split("<body>")[0]
    assert "66.7%" in page and "&lt;holds&gt;" in page and "curl -X GET" in page and "undoc" in page
    assert "never seen" in page and "inferred" in page and "documented" in page
    assert "<th>since</th>" in page and "<td>2026-04-23</td>" in page  # x-since column (issue 15)
    summary = Path(paths["markdown"]).read_text()
    assert "66.7%" in summary and "getPublicXpProfile" in summary and "| **66.7%** | 2 | 1 | 0 | 2 |" in summary


def test_reports_show_errors_warnings_and_the_matrix(tmp_path: Path) -> None:
    result = sample_result()
    ok = result.operations[0]
    ok.findings.append(
        Finding(
            "rate_limit_headers",
            "429 lacks headers",
            "429 response has no Retry-After header",
            "XC429",
            status=429,
            operation="getHealth",
            provenance="inferred",
            subject="header Retry-After",
            severity="warning",
        )
    )
    ok.cases = 4
    ok.finish()
    assert ok.status == PASSED and result.severity_counts() == {"errors": 1, "warnings": 1} and result.exit_code == 1
    paths = report.write_all(result, tmp_path)
    page = Path(paths["html"]).read_text()
    body = page.split("<body>")[1]
    assert (
        body.index("Errors: documented rules broken")
        < body.index("Warnings: inferred rules")
        < body.index("<svg")
        < body.index("conformance score")
    )  # opens with the failures, then the matrix
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed
    assert 'class="cell documented-and-seen"' in svg and 'class="cell seen-but-undocumented"' in svg
    assert 'class="cell documented-never-seen"' in svg and ">Profile &amp; Analytics<" in svg
    assert "getPublicXpProfile 500: seen-but-undocumented (1 responses)" in svg
    summary = Path(paths["markdown"]).read_text()
    assert "**1 error** (documented rules) · **1 warning** (inferred rules" in summary
    assert "### Warnings" in summary and "header Retry-After" in summary
    assert "| tag | operation | 200 | 204 | 400 | 404 | 429 | 500 |" in summary
    assert "| Health | `GET /api/health` ⚠️ | ✓ |  |  |  | · |  |" in summary
    junit = ET.parse(paths["junit"]).getroot()
    out = junit.find(".//testcase[@name='GET /api/health (getHealth)']/system-out")
    assert out is not None and "warning: [XC429]" in (out.text or "") and "(warning, inferred)" in (out.text or "")
    data = json.loads(Path(paths["json"]).read_text())
    assert data["findings"] == {"errors": 1, "warnings": 1}
    assert data["operations"][0]["findings"][0]["severity"] == "warning"


def test_the_markdown_summary_shows_each_operations_docs_version() -> None:
    result = sample_result()
    summary = report.markdown_summary(result)
    assert "Operations by docs version (x-since)" in summary
    assert (
        "| `GET /api/xp/public-profile/{username}` (getPublicXpProfile) | failed | documented | 2026-04-23 |" in summary
    )
    assert "| `GET /api/health` (getHealth) | passed | inferred | - |" in summary  # no x-since: said so, not hidden
    for op in result.operations:
        op.since = ""
    assert "x-since" not in report.markdown_summary(result)  # a spec without versions gets no empty table
