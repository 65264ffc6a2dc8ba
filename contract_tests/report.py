"""Reports of a run, written to `--report-dir`:

- `junit.xml`  one test case per operation and per scenario (CI test tabs)
- `report.json` everything, machine-readable (the same facts as `RunResult.to_dict()`)
- `report.html` one self-contained page: verdict and conformance score; per operation the result, checks run,
                status codes seen against those documented, failures with a curl reproduction, and provenance
- `summary.md`  a short Markdown summary for CI job summaries (e.g. `>> $GITHUB_STEP_SUMMARY`)

Every report shows errors (documented rules: they fail the run) and warnings (rules the spec infers) apart, each
finding with its provenance; the HTML page opens with them, then the operation × status-code matrix
(`contract_tests.matrix`), which `summary.md` repeats as a compact table.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from contract_tests import checks, matrix
from contract_tests.results import (
    ERRORED,
    FAILED,
    PASSED,
    SKIPPED,
    Finding,
    OperationResult,
    RunResult,
    ScenarioResult,
)

FILES = {"junit": "junit.xml", "json": "report.json", "html": "report.html", "markdown": "summary.md"}


def write_all(result: RunResult, directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    writers = {"junit": junit_xml, "json": json_report, "html": html_report, "markdown": markdown_summary}
    paths = {}
    for name, writer in writers.items():
        path = directory / FILES[name]
        path.write_text(writer(result), encoding="utf-8")
        paths[name] = str(path)
    return paths


def finding_text(finding: Finding) -> str:
    rank = f" ({finding.severity or 'error'}, {finding.provenance or 'documented'})"
    lines = [f"[{finding.code or finding.check}] {finding.title}{rank}", finding.message]
    if finding.status is not None:
        lines.append(f"status: {finding.status}")
    if finding.curl:
        lines.append(f"reproduce: {finding.curl}")
    return "\n".join(line for line in lines if line)


# JUnit -----------------------------------------------------------------------------------------------------------
def _testcase(suite: ET.Element, classname: str, name: str, unit: OperationResult | ScenarioResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{unit.seconds:.3f}")
    if unit.status == FAILED:
        message = "; ".join(dict.fromkeys(f"{f.code or f.check} {f.title}" for f in unit.findings))
        failure = ET.SubElement(case, "failure", message=message[:1000], type="contract")
        failure.text = "\n\n".join(finding_text(f) for f in unit.findings)
    elif unit.status == ERRORED:
        error = ET.SubElement(case, "error", message=(unit.errors[0] if unit.errors else "error")[:1000])
        error.text = "\n".join(unit.errors)
    elif unit.status == SKIPPED:
        ET.SubElement(case, "skipped", message=unit.skip_reason or "skipped")
    warnings = [f for f in unit.findings if not f.is_error]
    if warnings and unit.status != FAILED:  # a failed case lists every finding in its failure text already
        out = ET.SubElement(case, "system-out")
        out.text = "\n\n".join("warning: " + finding_text(f) for f in warnings)


def _suite(root: ET.Element, name: str, units: list[OperationResult] | list[ScenarioResult]) -> ET.Element:
    counts = {s: sum(1 for u in units if u.status == s) for s in (FAILED, ERRORED, SKIPPED)}
    return ET.SubElement(
        root,
        "testsuite",
        name=name,
        tests=str(len(units)),
        failures=str(counts[FAILED]),
        errors=str(counts[ERRORED]),
        skipped=str(counts[SKIPPED]),
        time=f"{sum(u.seconds for u in units):.3f}",
    )


def junit_xml(result: RunResult) -> str:
    counts = result.counts()
    root = ET.Element(
        "testsuites",
        name=f"xentree-contract {result.api}",
        tests=str(len(result.units)),
        failures=str(counts[FAILED]),
        errors=str(counts[ERRORED] + len(result.errors)),
        skipped=str(counts[SKIPPED]),
        time=f"{result.seconds:.3f}",
    )
    operations = _suite(root, "operations", result.operations)
    for op in result.operations:
        _testcase(operations, f"operations.{(op.tags or ['untagged'])[0]}", f"{op.label} ({op.operation_id})", op)
    scenarios = _suite(root, "scenarios", result.scenarios)
    for scenario in result.scenarios:
        _testcase(scenarios, f"scenarios.{scenario.group}", scenario.name, scenario)
    if result.errors:
        run = ET.SubElement(root, "testsuite", name="run", tests="1", failures="0", errors="1", skipped="0")
        case = ET.SubElement(run, "testcase", classname="run", name="target and credentials")
        error = ET.SubElement(case, "error", message=result.errors[0][:1000])
        error.text = "\n".join(result.errors)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# JSON --------------------------------------------------------------------------------------------------------------
def json_report(result: RunResult) -> str:
    data = result.to_dict()
    data["codes"] = checks.CODES
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


# Markdown ----------------------------------------------------------------------------------------------------------
def summary_lines(result: RunResult) -> list[str]:
    counts = result.counts()
    severities = result.severity_counts()
    score = f"{result.score}%" if result.score is not None else "n/a"
    return [
        f"xentree-contract: {result.verdict} (exit {result.exit_code}), conformance score {score}: "
        f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[ERRORED]} errored, {counts[SKIPPED]} skipped "
        f"in {result.seconds:.1f}s against {result.base_url}; {_plural(severities['errors'], 'error')}, "
        f"{_plural(severities['warnings'], 'warning')}",
        *[f"  error: {e}" for e in result.errors],
        *[
            f"  {'FAIL' if u.status == FAILED else 'ERROR'} {_name(u)}: {_first_problem(u)}"
            for u in result.units
            if u.status in (FAILED, ERRORED)
        ],
        *[
            f"  WARN {_name(u)}: [{f.code or f.check}] {f.title} ({f.provenance})"
            for u in result.units
            for f in u.findings
            if not f.is_error
        ],
    ]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _name(unit: OperationResult | ScenarioResult) -> str:
    return f"{unit.label} ({unit.operation_id})" if isinstance(unit, OperationResult) else unit.name


def _first_problem(unit: OperationResult | ScenarioResult) -> str:
    if unit.findings:
        f = next((f for f in unit.findings if f.is_error), unit.findings[0])
        more = f" (+{len(unit.findings) - 1} more)" if len(unit.findings) > 1 else ""
        return f"[{f.code or f.check}] {f.title}: {f.message.splitlines()[0][:160] if f.message else ''}{more}"
    return unit.errors[0].splitlines()[0][:200] if unit.errors else ""


API_TITLES = {"xentree": "Xentree", "xp-ledger": "XP ledger"}


def _title(result: RunResult) -> str:
    return API_TITLES.get(result.api, result.api)


def markdown_summary(result: RunResult) -> str:
    counts = result.counts()
    icon = {0: "✅", 1: "❌", 2: "⛔"}[result.exit_code]
    score = f"{result.score}%" if result.score is not None else "n/a"
    lines = [
        f"## {icon} {_title(result)} contract: {result.verdict}",
        "",
        f"Target `{result.base_url}` · spec `{Path(result.spec).name}` · seed {result.seed} · "
        f"{result.seconds:.1f}s · Schemathesis {result.schemathesis_version}",
        "",
        "| conformance score | passed | failed | errored | skipped |",
        "|---|---|---|---|---|",
        f"| **{score}** | {counts[PASSED]} | {counts[FAILED]} | {counts[ERRORED]} | {counts[SKIPPED]} |",
        "",
    ]
    severities = result.severity_counts()
    lines += [
        f"**{_plural(severities['errors'], 'error')}** (documented rules) · "
        f"**{_plural(severities['warnings'], 'warning')}** (inferred rules"
        f"{'; --strict-inferred makes them errors' if severities['warnings'] else ''})",
        "",
    ]
    if result.errors:
        lines += ["### Run errors", "", *[f"- {e}" for e in result.errors], ""]
    broken = [u for u in result.units if u.status in (FAILED, ERRORED)]
    if broken:
        lines += ["### Errors", "", "| test | problem |", "|---|---|"]
        lines += [f"| {_md(_name(u))} | {_md(_first_problem(u))} |" for u in broken[:50]]
        if len(broken) > 50:
            lines.append(f"| … | {len(broken) - 50} more in report.html |")
        lines.append("")
    warned = [(u, f) for u in result.units for f in u.findings if not f.is_error]
    if warned:
        lines += ["### Warnings", "", "| test | inferred rule | problem |", "|---|---|---|"]
        lines += [
            f"| {_md(_name(u))} | {_md(f.subject or f.check)} | [{f.code or f.check}] {_md(f.title)}: "
            f"{_md(f.message.splitlines()[0][:160] if f.message else '')} |"
            for u, f in warned[:50]
        ]
        lines.append("")
    table = matrix.markdown(result.operations)
    if table:
        lines += [
            "<details><summary>Status codes: ✓ documented and seen, · documented but never seen, ✗ seen but "
            "undocumented</summary>",
            "",
            *table,
            "",
            "</details>",
            "",
        ]
    lines += _since_lines(result.operations)
    skipped = [u for u in result.units if u.status == SKIPPED]
    if skipped:
        reasons: dict[str, int] = {}
        for unit in skipped:
            reasons[unit.skip_reason or "skipped"] = reasons.get(unit.skip_reason or "skipped", 0) + 1
        lines += [
            "<details><summary>Skipped</summary>",
            "",
            *[f"- {n} × {_md(r)}" for r, n in reasons.items()],
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def _since_lines(operations: list[OperationResult]) -> list[str]:
    """Per operation, the docs version that first lists it (the spec's x-since), as in the HTML table: drift between
    docs versions shows as new operations failing together."""
    if not any(op.since for op in operations):
        return []
    rows = [
        f"| `{op.label}` ({op.operation_id}) | {op.status} | {op.provenance} | {op.since or '-'} |" for op in operations
    ]
    return [
        "<details><summary>Operations by docs version (x-since)</summary>",
        "",
        "| operation | result | provenance | since |",
        "|---|---|---|---|",
        *rows,
        "",
        "</details>",
        "",
    ]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# HTML --------------------------------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#fff}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .6rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid #e3e6ec;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f6f9;font-weight:600}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;font-weight:600}
.passed{background:#dcf5e3;color:#17663a}.failed{background:#fde0e0;color:#9b1c1c}
.errored{background:#fff0d6;color:#8a5300}
.skipped{background:#eceff3;color:#555}.score{font-size:2.2rem;font-weight:700}
.undoc{color:#9b1c1c;font-weight:600}.unseen{color:#999}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f5f6f9;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
details{margin:.3rem 0}summary{cursor:pointer}.muted{color:#667}.doc{color:#17663a}.inf{color:#8a5300}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #e3e6ec;border-radius:.5rem;padding:.6rem 1rem}
.findings{list-style:none;padding:0}.finding{border-left:4px solid #9b1c1c;padding:.2rem .7rem;margin:.6rem 0}
.finding.warning{border-left-color:#b86e00}.matrix-wrap{overflow-x:auto}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(status: str) -> str:
    return f'<span class="badge {_e(status)}">{_e(status)}</span>'


def _checks_cell(op: OperationResult) -> str:
    if not op.checks:
        return '<span class="muted">-</span>'
    parts = []
    for name, tally in sorted(op.checks.items()):
        failed = tally.get("failed", 0)
        css = "undoc" if failed else ""
        parts.append(
            f'<span class="{css}" title="{tally.get("passed", 0)} passed, {failed} failed">{_e(name)}'
            f"{' ✗' + str(failed) if failed else ''}</span>"
        )
    return ", ".join(parts)


def _statuses_cell(op: OperationResult) -> str:
    undocumented = set(op.undocumented_statuses)
    seen = [
        f'<span class="{"undoc" if s in undocumented else ""}" title="{n} responses">{s}×{n}</span>'
        for s, n in sorted(op.statuses_seen.items())
    ]
    unseen = [f'<span class="unseen">{_e(s)}</span>' for s in op.documented_not_seen]
    return (
        f"seen: {' '.join(seen) or '-'}<br>"
        f"<span class='muted'>documented:</span> {' '.join(_e(s) for s in op.documented_statuses)}"
        + (f"<br><span class='muted'>never seen:</span> {' '.join(unseen)}" if unseen else "")
    )


def _provenance(value: str) -> str:
    css = {"documented": "doc", "inferred": "inf"}.get(value, "muted")
    return f'<span class="{css}">{_e(value)}</span>'


def _findings_html(findings: list[Finding], errors: list[str]) -> str:
    parts = []
    for f in findings:
        status = f", status {_e(f.status)}" if f.status is not None else ""
        curl = f"<div class='muted'>Reproduce:</div><pre>{_e(f.curl)}</pre>" if f.curl else ""
        rank = f" · {_e(f.severity or 'error')}, {_e(f.provenance or 'documented')}"
        parts.append(
            f"<div><b>[{_e(f.code or f.check)}] {_e(f.title)}</b> <span class='muted'>check {_e(f.check)}"
            f"{status}{rank}</span><pre>{_e(f.message)}</pre>{curl}</div>"
        )
    parts += [f"<div><b>error</b><pre>{_e(e)}</pre></div>" for e in errors]
    return "".join(parts)


def _severity_group(result: RunResult, errors: bool) -> str:
    """The findings of one severity, each with where it happened, its provenance and its reproduction."""
    items = []
    for unit in result.units:
        for f in (f for f in unit.findings if f.is_error == errors):
            anchor = f"#op-{_e(unit.operation_id)}" if isinstance(unit, OperationResult) else "#scenarios"
            subject = f" · {_e(f.subject)}" if f.subject else ""
            curl = f"<pre>{_e(f.curl)}</pre>" if f.curl else ""
            items.append(
                f"<li class='finding {'error' if errors else 'warning'}'><a href='{anchor}'>{_e(_name(unit))}"
                f"</a> <b>[{_e(f.code or f.check)}] {_e(f.title)}</b> {_provenance(f.provenance)}"
                f"<span class='muted'>{subject}{', status ' + _e(f.status) if f.status else ''}</span>"
                f"<pre>{_e(f.message)}</pre>{curl}</li>"
            )
    if not items:
        return ""
    title = (
        "Errors: documented rules broken"
        if errors
        else "Warnings: inferred rules broken (errors with --strict-inferred)"
    )
    return (
        f"<h2 id='{'errors' if errors else 'warnings'}'>{title} ({len(items)})</h2><ul class='findings'>"
        f"{''.join(items)}</ul>"
    )


def _matrix_section(result: RunResult) -> str:
    if not result.operations:
        return ""
    cells = matrix.counts(matrix.rows(result.operations)[1])
    return (
        f"<h2 id='matrix'>Status codes by operation</h2><div class='muted'>{cells[matrix.SEEN]} documented and "
        f"seen · {cells[matrix.UNSEEN]} documented, never seen · {cells[matrix.UNDOCUMENTED]} seen, "
        f"undocumented</div><div class='matrix-wrap'>{matrix.svg(result.operations)}</div>"
    )


def _operation_row(op: OperationResult) -> str:
    detail = _findings_html(op.findings, op.errors)
    problems = len(op.findings) + len(op.errors)
    failures = f"<details><summary>{problems} problem(s)</summary>{detail}</details>" if detail else "-"
    phases = " ".join(f"{_e(k)}:{_badge(v)}" for k, v in op.phases.items())
    skip = f"<br><span class='muted'>{_e(op.skip_reason)}</span>" if op.skip_reason else ""
    return (
        f"<tr id='op-{_e(op.operation_id)}'><td>{_badge(op.status)}</td><td><code>{_e(op.label)}</code><br>"
        f"<span class='muted'>{_e(op.operation_id)} · {_e(', '.join(op.tags))}</span>{skip}</td>"
        f"<td>{_provenance(op.provenance)}</td><td>{_e(op.since or '-')}</td>"
        f"<td>{_checks_cell(op)}<br><span class='muted'>{phases}</span></td>"
        f"<td>{_statuses_cell(op)}</td><td>{op.cases}</td><td>{failures}</td></tr>"
    )


def _scenario_row(sc: ScenarioResult) -> str:
    detail = _findings_html(sc.findings, sc.errors)
    steps = "<br>".join(_e(s) for s in sc.steps)
    steps_html = f"<details><summary>steps</summary><code>{steps}</code></details>" if steps else ""
    rule = sc.skip_reason or (sc.description.splitlines()[0] if sc.description else "")
    where = f" · {_e(sc.operation)}" if sc.operation else ""
    return (
        f"<tr><td>{_badge(sc.status)}</td><td>{_e(sc.name)}<br><span class='muted'>{_e(sc.group)}{where}</span>"
        f"</td><td>{_e(rule)}</td><td>{detail or '-'}{steps_html}</td></tr>"
    )


def html_report(result: RunResult) -> str:
    counts = result.counts()
    severities = result.severity_counts()
    score = f"{result.score}%" if result.score is not None else "n/a"
    rows = [_operation_row(op) for op in result.operations]
    scenario_rows = [_scenario_row(sc) for sc in result.scenarios]
    provenance = {p: sum(1 for op in result.operations if op.provenance == p) for p in ("documented", "inferred")}
    errors = "".join(f"<li>{_e(e)}</li>" for e in result.errors)
    warnings = "".join(f"<li>{_e(w)}</li>" for w in result.warnings)
    identity = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in result.identity.items() if v not in (None, False, ""))
    codes = "".join(f"<tr><td><code>{_e(c)}</code></td><td>{_e(n)}</td></tr>" for n, c in checks.CODES.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(_title(result))} contract report: {_e(result.verdict)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head><body>
<h1>{_e(_title(result))} contract report {_badge({0: PASSED, 1: FAILED, 2: ERRORED}[result.exit_code])}</h1>
<div class="muted">{_e(result.base_url)} · spec {_e(Path(result.spec).name)} · seed {result.seed} ·
started {_e(result.started_at)} · {result.seconds:.1f}s · Schemathesis {_e(result.schemathesis_version)}
{(" · identity " + identity) if identity else ""}</div>
<p><b>{severities["errors"]} error(s)</b> · <b>{severities["warnings"]} warning(s)</b></p>
{f"<h2>Run errors</h2><ul>{errors}</ul>" if errors else ""}
{_severity_group(result, True)}
{_severity_group(result, False)}
{_matrix_section(result)}
<div class="cards">
<div class="card"><div class="muted">conformance score</div><div class="score">{_e(score)}</div>
<div class="muted">tested operations and scenarios that passed</div></div>
<div class="card"><div class="muted">verdict</div><div class="score">{_e(result.verdict)}</div>
<div class="muted">exit code {result.exit_code}</div></div>
<div class="card">{_badge(PASSED)} {counts[PASSED]}<br>{_badge(FAILED)} {counts[FAILED]}<br>
{_badge(ERRORED)} {counts[ERRORED]}<br>{_badge(SKIPPED)} {counts[SKIPPED]}</div>
<div class="card"><div class="muted">operations by provenance</div>
<span class="doc">documented</span> {provenance["documented"]}<br>
<span class="inf">inferred</span> {provenance["inferred"]}</div>
</div>
{f"<h2>Run warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<h2>Operations ({len(result.operations)})</h2>
<table><thead><tr><th>result</th><th>operation</th><th>provenance</th><th>since</th><th>checks run</th>
<th>status codes</th><th>cases</th><th>failures</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<h2 id="scenarios">Scenarios ({len(result.scenarios)})</h2>
<table><thead><tr><th>result</th><th>scenario</th><th>rule</th><th>details</th></tr></thead><tbody>
{"".join(scenario_rows)}
</tbody></table>
<h2>Failure codes of the suite's own rules</h2>
<table><tbody>{codes}</tbody></table>
<p class="muted">ST codes come from Schemathesis (<code>st explain ST108</code>); XC codes are this suite's rules.</p>
</body></html>
"""
