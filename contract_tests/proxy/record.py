"""Fold observed exchanges into the results `run` reports: one `RunResult` per API, one `OperationResult` per
operation (exchanges seen, statuses seen against documented, checks run, violations with their exchange), one
scenario per request that is not in the spec, and the operations the traffic never reached (skipped).

Exchanges are checked off the request path, in one worker thread, in the order they were answered; with
`--enforce` an exchange is checked on the spot (`judge`) so a violation can replace the answer. Each violation is
also printed as one live line on stderr: severity, operation, rule, status, request.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import schemathesis

from contract_tests import report
from contract_tests.proxy.capture import Captured
from contract_tests.proxy.har import HarRecorder
from contract_tests.proxy.observe import NOT_IN_SPEC, Observation, SpecObserver
from contract_tests.results import PASSED, SKIPPED, Finding, OperationResult, RunResult, ScenarioResult

NEVER_REACHED = "never reached by the observed traffic"
MAX_UNKNOWN = 200  # distinct requests not in the spec listed one by one; the rest are counted together
MAX_STEPS = 20


class Recorder:
    """The proxy's watcher (see `forwarding.Watcher`)."""

    def __init__(
        self,
        observers: list[SpecObserver],
        upstream: str,
        *,
        options: dict[str, Any] | None = None,
        har: Path | None = None,
        live: TextIO | None = None,
        sanitize: bool = True,
    ) -> None:
        self.observers = observers
        self.upstream = upstream.rstrip("/")
        self.live = live if live is not None else sys.stderr
        self.har = HarRecorder(har, sanitize) if har is not None else None
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.results = {o.api: self._empty(o, options or {}) for o in observers}
        self.operations = {o.api: {op.operation_id: op for op in self.results[o.api].operations} for o in observers}
        self.unknown: dict[str, dict[tuple[str, str], ScenarioResult]] = {o.api: {} for o in observers}
        self.notes: dict[str, Counter[str]] = {o.api: Counter() for o in observers}
        self.exchanges = 0
        self.queue: queue.Queue[Captured | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="proxy-observer", daemon=True)
        self.worker.start()

    def _empty(self, observer: SpecObserver, options: dict[str, Any]) -> RunResult:
        spec = observer.spec
        result = RunResult(
            api=observer.api,
            base_url=self.upstream,
            spec=str(spec.path),
            seed=0,
            options={"mode": "proxy", **options},
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            schemathesis_version=schemathesis.__version__,
            identity={"mode": "proxy: observed traffic"},
        )
        result.operations = [
            OperationResult(
                operation_id=op.operation_id,
                label=op.label,
                tags=list(op.tags),
                provenance=op.provenance,
                documented_statuses=list(op.statuses),
                skip_reason=NEVER_REACHED,
            )
            for op in spec.operations
        ]
        return result

    # the watcher -------------------------------------------------------------------------------------------------
    def submit(self, captured: Captured) -> None:
        self.queue.put(captured)

    def judge(self, captured: Captured) -> bytes | None:
        observer, observation = self.record(captured)
        violations = [f for f in observation.response_violations if f.is_error]
        if not violations:
            return None
        first = violations[0]
        captured.enforced = f"[{first.code or first.check}] {first.check}"
        where = observation.operation.operation_id if observation.operation else "request"
        summary = first.message.split("\n\nexchange:")[0].splitlines()[0] if first.message else ""
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        message = f"{where}: [{first.code or first.check}] {first.title}: {summary}{more}"
        return observer.error_body("response_contract_violation", message)

    def unanswered_body(self, captured: Captured) -> bytes:
        observer = self._observer(captured)
        return observer.error_body("upstream_unreachable", f"The upstream did not answer: {captured.upstream_error}")

    # recording ---------------------------------------------------------------------------------------------------
    def _observer(self, captured: Captured) -> SpecObserver:
        """The API whose spec has this operation, else the one that knows the path, else the first."""
        for observer in self.observers:
            if observer.match(captured.method, captured.path):
                return observer
        return next((o for o in self.observers if o.knows_path(captured.path)), self.observers[0])

    def record(self, captured: Captured) -> tuple[SpecObserver, Observation]:
        observer = self._observer(captured)
        observation = observer.observe(captured, self.upstream)
        with self.lock:
            self.exchanges += 1
            self._fold(observation, captured)
        for finding in observation.findings:
            self._live(finding, captured)
        if self.har is not None:
            self.har.add(captured, self.upstream + captured.target)
        return observer, observation

    def _fold(self, observation: Observation, captured: Captured) -> None:
        api = observation.api
        label = observation.operation.label if observation.operation else f"{captured.method} {captured.path}"
        for note in observation.notes:
            self.notes[api][f"{label}: {note}"] += 1
        if observation.operation is None:
            self._fold_unknown(api, observation, captured)
            return
        unit = self.operations[api][observation.operation.operation_id]
        unit.cases += 1
        unit.seconds += captured.elapsed
        unit.phases["traffic"] = PASSED
        if captured.status:
            unit.statuses_seen[captured.status] += 1
        for name, ok in observation.checks_run.items():
            unit.record_check(name, ok)
        for finding in observation.findings:
            unit.add_finding(finding)

    def _fold_unknown(self, api: str, observation: Observation, captured: Captured) -> None:
        known = self.unknown[api]
        key = (captured.method, captured.path) if len(known) < MAX_UNKNOWN else ("*", "(more requests)")
        unit = known.get(key)
        if unit is None:
            unit = known[key] = ScenarioResult(
                name=f"{NOT_IN_SPEC.replace('_', ' ')}: {key[0]} {key[1]}",
                group="not in the spec",
                description="Forwarded to the upstream; the spec has no operation for it, so nothing was validated",
            )
        if len(unit.steps) < MAX_STEPS:
            unit.steps.append(f"{captured.method} {captured.target} -> {captured.status}")
        unit.seconds += captured.elapsed
        for finding in observation.findings:
            unit.fail(finding)

    def _live(self, finding: Finding, captured: Captured) -> None:
        where = finding.operation or "(not in the spec)"
        line = (
            f"proxy: {finding.severity or 'error'} {where} [{finding.code or finding.check}] {finding.check} "
            f"status {captured.status} {captured.method} {captured.target}: {finding.title}"
        )
        try:
            print(line, file=self.live, flush=True)
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the proxy

    def _work(self) -> None:
        while True:
            captured = self.queue.get()
            try:
                if captured is None:
                    return
                self.record(captured)
            except Exception as exc:  # one exchange the checks cannot read must not stop the observation
                with self.lock:
                    api = self._observer(captured).api if captured else self.observers[0].api
                    self.notes[api][
                        f"{captured.method if captured else ''} {captured.target if captured else ''}: "
                        f"not validated: {type(exc).__name__}: {exc}"
                    ] += 1
            finally:
                self.queue.task_done()

    # results -----------------------------------------------------------------------------------------------------
    def drain(self) -> None:
        """Wait until every submitted exchange is checked."""
        self.queue.join()

    def finish(self) -> list[RunResult]:
        """Every exchange checked, verdicts settled: the results as the reports show them (callable repeatedly)."""
        self.drain()
        with self.lock:
            seconds = time.monotonic() - self.started
            for api, result in self.results.items():
                result.seconds = seconds
                result.scenarios = list(self.unknown[api].values())
                result.warnings = [
                    f"{note} ({n} exchange{'s' if n > 1 else ''})" for note, n in self.notes[api].items()
                ]
                for unit in result.units:
                    unit.finish()
                    if isinstance(unit, OperationResult) and unit.status == SKIPPED and not unit.cases:
                        unit.skip_reason = NEVER_REACHED
            return list(self.results.values())

    def write_reports(self, directory: Path) -> dict[str, dict[str, str]]:
        """The four reports of `run`, per API (in `DIR/<api>/` when several APIs are watched)."""
        results = self.finish()
        written = {}
        for result in results:
            target = directory if len(results) == 1 else directory / result.api
            result.reports = report.write_all(result, target)
            written[result.api] = result.reports
        return written

    def close(self) -> None:
        self.queue.put(None)
        self.worker.join(timeout=30)
        if self.har is not None:
            self.har.close()
