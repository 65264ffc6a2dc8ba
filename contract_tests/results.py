"""The outcome of a contract run: one result per operation (property tests) and per scenario, plus the verdict.

Everything the reports show is here, as plain data: each report format (JUnit, JSON, HTML, Markdown) is a view of
`RunResult.to_dict()`-level facts, so no report knows anything the others do not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, ERRORED, SKIPPED = "passed", "failed", "errored", "skipped"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2
ERROR, WARNING = "error", "warning"  # severities: documented rules are errors, rules we inferred are warnings


@dataclass
class Finding:
    """One distinct contract failure: what rule, what went wrong, and how to reproduce it."""

    check: str  # a Schemathesis check name or a scenario rule, e.g. `response_schema_conformance`
    title: str
    message: str
    code: str = ""  # Schemathesis failure code (ST108, ...) or the suite's (XC4xx)
    curl: str = ""
    status: int | None = None
    operation: str | None = None  # operationId, when the finding belongs to one
    provenance: str = ""  # documented | inferred: the spec's mark on what the finding concerns (`subject`)
    severity: str = ""  # error | warning (empty until ranked: counts as an error)
    subject: str = ""  # what in the spec the finding concerns, e.g. `header Retry-After`, `field /total_xp`

    def key(self) -> tuple[str, str, str]:
        return self.check, self.title, self.message[:300]

    @property
    def is_error(self) -> bool:
        return self.severity != WARNING


def _verdict(findings: list[Finding], errors: list[str]) -> str | None:
    """FAILED when a finding is an error, ERRORED when the unit could not be evaluated; warnings alone pass."""
    if any(f.is_error for f in findings):
        return FAILED
    return ERRORED if errors else None


@dataclass
class OperationResult:
    operation_id: str
    label: str  # GET /api/health
    tags: list[str]
    provenance: str
    documented_statuses: list[str]
    status: str = SKIPPED
    skip_reason: str | None = None
    phases: dict[str, str] = field(default_factory=dict)  # phase -> passed|failed|skipped|errored
    statuses_seen: Counter[int] = field(default_factory=Counter)
    checks: dict[str, dict[str, int]] = field(default_factory=dict)  # check -> {"passed": n, "failed": n}
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cases: int = 0
    seconds: float = 0.0
    since: str = ""  # the spec's x-since: the docs version that first lists the operation

    def record_check(self, name: str, ok: bool) -> None:
        entry = self.checks.setdefault(name, {"passed": 0, "failed": 0})
        entry["passed" if ok else "failed"] += 1

    def add_finding(self, finding: Finding) -> None:
        if all(f.key() != finding.key() for f in self.findings):
            self.findings.append(finding)

    def finish(self) -> None:
        """The operation's verdict from its phases: an error finding fails it, an error errors it, else it passed
        (warnings, findings on rules the spec only infers, are reported but do not fail it)."""
        verdict = _verdict(self.findings, self.errors)
        if verdict is not None:
            self.status = verdict
        elif any(v == PASSED for v in self.phases.values()) or self.cases:
            self.status = PASSED
            self.skip_reason = None
        elif self.status != SKIPPED:
            self.status = SKIPPED

    @property
    def undocumented_statuses(self) -> list[int]:
        documented = {s.upper() for s in self.documented_statuses}
        return sorted(
            s
            for s in self.statuses_seen
            if str(s) not in documented and f"{str(s)[0]}XX" not in documented and "DEFAULT" not in documented
        )

    @property
    def documented_not_seen(self) -> list[str]:
        seen = {str(s) for s in self.statuses_seen}
        return [s for s in self.documented_statuses if s not in seen]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["statuses_seen"] = {str(k): v for k, v in sorted(self.statuses_seen.items())}
        data["undocumented_statuses"] = self.undocumented_statuses
        data["documented_not_seen"] = self.documented_not_seen
        return data


@dataclass
class ScenarioResult:
    name: str  # e.g. `scope enforcement: listConversations`
    group: str  # scopes | auth-errors | public | isolation | sessions | live-quota | stateful
    description: str = ""
    operation: str | None = None
    status: str = PASSED
    skip_reason: str | None = None
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # what was sent and got back, one line each
    seconds: float = 0.0

    def fail(self, finding: Finding) -> None:
        if all(f.key() != finding.key() for f in self.findings):
            self.findings.append(finding)

    def finish(self) -> None:
        if self.status == SKIPPED and not self.findings:
            return
        self.status = _verdict(self.findings, self.errors) or PASSED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    api: str
    base_url: str
    spec: str
    seed: int
    options: dict[str, Any]
    operations: list[OperationResult] = field(default_factory=list)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # run-level problems (target down, refused credentials, ...)
    warnings: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    seconds: float = 0.0
    schemathesis_version: str = ""
    fatal: bool = False  # the run could not be carried out (exit 2)
    target_gone: bool = False  # the target stopped answering mid-run and did not come back (exit 1)
    reports: dict[str, str] = field(default_factory=dict)  # format -> path, once written

    @property
    def units(self) -> list[OperationResult | ScenarioResult]:
        return [*self.operations, *self.scenarios]

    def counts(self) -> dict[str, int]:
        counter = Counter(u.status for u in self.units)
        return {k: counter.get(k, 0) for k in (PASSED, FAILED, ERRORED, SKIPPED)}

    @property
    def findings(self) -> list[Finding]:
        return [f for u in self.units for f in u.findings]

    def severity_counts(self) -> dict[str, int]:
        """Findings by severity: errors fail the run, warnings (inferred rules) are reported only."""
        errors = sum(1 for f in self.findings if f.is_error)
        return {"errors": errors, "warnings": len(self.findings) - errors}

    @property
    def score(self) -> float | None:
        """Conformance score: the share of tested operations and scenarios that passed, in percent."""
        counts = self.counts()
        tested = counts[PASSED] + counts[FAILED] + counts[ERRORED]
        return round(100.0 * counts[PASSED] / tested, 1) if tested else None

    @property
    def exit_code(self) -> int:
        if self.fatal:
            return EXIT_USAGE
        counts = self.counts()
        return EXIT_FAILURES if counts[FAILED] or counts[ERRORED] or self.errors else EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "conformant", EXIT_FAILURES: "contract failures", EXIT_USAGE: "not run"}[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "base_url": self.base_url,
            "spec": self.spec,
            "seed": self.seed,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "schemathesis_version": self.schemathesis_version,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "score": self.score,
            "counts": self.counts(),
            "findings": self.severity_counts(),
            "identity": self.identity,
            "options": self.options,
            "errors": self.errors,
            "warnings": self.warnings,
            "operations": [op.to_dict() for op in self.operations],
            "scenarios": [s.to_dict() for s in self.scenarios],
        }
