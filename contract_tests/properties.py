"""Schemathesis 4 property tests, run in-process through its engine, folded into one result per operation.

The engine runs the examples, coverage, fuzzing and stateful phases (positive and negative data, every built-in
check plus the suite's own from `contract_tests.checks`). Its events carry each scenario's cases, responses and
check outcomes; this module turns them into `OperationResult`s (statuses seen, checks run, failures with curl) and
one `ScenarioResult` for the stateful sequences that follow the spec's links.
"""

from __future__ import annotations

import gc
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events, from_schema

from contract_tests import checks, outage, provenance
from contract_tests.auth import LOGOUT, Principal
from contract_tests.http import secret_header
from contract_tests.options import SCHEMATHESIS_PHASES, RunOptions
from contract_tests.results import (
    ERRORED,
    FAILED,
    PASSED,
    SKIPPED,
    Finding,
    OperationResult,
    ScenarioResult,
)
from contract_tests.spec import ApiSpec, OperationInfo, parsed_once, read_spec

# 413 is how the platform refuses an oversized body: a rejection like 400 (the project's schemathesis.toml agrees).
NEGATIVE_DATA_REJECTION = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
POSITIVE_DATA_ACCEPTANCE = ["2xx", "401", "403", "404", "409", "429", "5xx"]  # Schemathesis' default, plus 429
PHASE_STATUS = {
    Status.SUCCESS: PASSED,
    Status.FAILURE: FAILED,
    Status.ERROR: ERRORED,
    Status.SKIP: SKIPPED,
    Status.INTERRUPTED: ERRORED,
}
STATEFUL = "stateful: sequences following the spec's links"
REQUEST_CHECKS = frozenset({"negative_data_rejection", "positive_data_acceptance"})  # judged by what was sent
# positive coverage cases at a boundary name it only in words: the keywords they stand on
BOUNDARIES = {
    "maximum value": ("maximum",),
    "minimum value": ("minimum",),
    "near-boundary number": ("minimum", "maximum"),
    "maximum length string": ("maxLength",),
    "minimum length string": ("minLength",),
    "near-boundary length string": ("minLength", "maxLength"),
    "maximum items array": ("maxItems",),
    "near-boundary items array": ("minItems", "maxItems"),
}
BODY_BOUNDARY = re.compile(r"^Object with valid '([^']+)' value: (.+)$")


def _place(location: Any) -> str:
    return str(getattr(location, "value", location) or "")


def _mutated(mutation: Any) -> provenance.Violation | None:
    """A fuzzing mutation: parameters of one place are mutated as one object (`/properties/<name>/...`)."""
    place, name = _place(mutation.parameter_location), mutation.parameter
    pointer = tuple(p for p in str(mutation.schema_pointer or "").split("/") if p)
    if place != "body" and len(pointer) >= 2 and pointer[0] == "properties":
        name, pointer = pointer[1], pointer[2:]
    return provenance.Violation(place, name, pointer, tuple(mutation.keywords)) if mutation.keywords else None


def _covered(data: Any) -> provenance.Violation | None:
    """A coverage case: its location is a schema pointer whose last step is the keyword (negative cases), or its
    scenario / description names the boundary it stands on (positive ones)."""
    place, name = _place(data.parameter_location), data.parameter
    steps = tuple(p for p in str(data.location or "").split("/") if p)
    if steps:
        return provenance.Violation(place, name, steps[:-1], (steps[-1],))
    if place != "body" and name and str(data.scenario) == "missing_parameter":
        return provenance.Violation(place, name, (), ("required",))
    body = BODY_BOUNDARY.match(str(data.description or "")) if place == "body" else None
    words = body.group(2) if body else str(data.scenario).replace("_", " ").replace("near boundary", "near-boundary")
    keywords = BOUNDARIES.get(words.lower())
    if keywords is None:
        return None
    return provenance.Violation(place, None if body else name, ("properties", body.group(1)) if body else (), keywords)


def violations(case: Any) -> list[provenance.Violation]:
    """What a generated request broke (negative data) or kept to at a boundary (positive data), from Schemathesis'
    case metadata; nothing when it does not say (random bytes, plain positive data)."""
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    if data is None:
        return []
    found = [v for v in (_mutated(m) for m in getattr(data, "mutations", ()) or ()) if v is not None]
    if not found and hasattr(data, "scenario"):
        found = [v for v in (_covered(data),) if v is not None]
    return found


class TargetDown(Exception):
    """The target stopped answering during the property tests and did not come back (the outage is recorded)."""


def _masked(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: "[Filtered]" if secret_header(k) else v for k, v in headers.items()}


def config_for(
    options: RunOptions, spec: ApiSpec | None = None, only_phases: tuple[str, ...] | None = None
) -> SchemathesisConfig:
    """The engine's configuration; `only_phases` narrows the phases (a run resumed after an outage)."""
    enabled = options.phases if only_phases is None else only_phases
    phases: dict[str, Any] = {name: {"enabled": name in enabled} for name in SCHEMATHESIS_PHASES}
    phases["stateful"]["max-steps"] = options.stateful_steps
    data: dict[str, Any] = {
        "seed": options.seed,
        "base-url": options.base_url,
        "workers": options.workers,
        "request-timeout": options.request_timeout,
        "tls-verify": options.tls_verify,
        "cache": {"enabled": False},
        "generation": {"max-examples": options.max_examples, "database": "none", "mode": "all"},
        "phases": phases,
        "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_REJECTION}},
        "output": {"sanitization": {"enabled": options.sanitize}},
    }
    if options.rate_limit != "off":
        data["rate-limit"] = options.rate_limit
    overrides: dict[str, list[str]] = {}
    for op in spec.operations if spec is not None else []:
        # A documented rule refuses some schema-valid input (e.g. `from` after `to`): the spec says with which status.
        rejected = [str(code) for code in op.raw.get("x-valid-input-rejected-with", [])]
        if rejected:
            overrides[op.operation_id] = [*POSITIVE_DATA_ACCEPTANCE, *rejected]
    if overrides:
        data["operations"] = [
            {
                "include-operation-id": operation_id,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": statuses},
                    "negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_REJECTION},
                },
            }
            for operation_id, statuses in overrides.items()
        ]
    return SchemathesisConfig.from_dict(data)


def _install_auth(schema: Any, spec: ApiSpec, principal: Principal, fresh_token: Callable[[], str | None]) -> None:
    """Credentials per operation (a Bearer token, an API key, or the client's Basic header on the token operation);
    the logout operation gets a fresh session each time so the run's token survives."""
    lock = threading.Lock()

    class RunAuth:
        def get(self, case: Any, context: Any) -> dict[str, str] | None:
            op = spec.by_label.get(context.operation.label)
            if op is not None and op.operation_id == LOGOUT:
                with lock:
                    token = fresh_token()
                return {"Authorization": f"Bearer {token}"} if token else None
            return principal.headers_for(op) or None

        def set(self, case: Any, data: dict[str, str], context: Any) -> None:
            case.headers = {**(case.headers or {}), **data}

    schema.auth(refresh_interval=None)(RunAuth)


class Collector:
    """Folds engine events into per-operation results."""

    def __init__(self, spec: ApiSpec, results: dict[str, OperationResult], notify: Callable[[str, str, str], None]):
        self.spec = spec
        self.results = results  # by operationId
        self.notify = notify
        self.stateful = ScenarioResult(
            STATEFUL,
            "stateful",
            "Schemathesis state machine over the spec's links",
            status=SKIPPED,
            skip_reason="stateful phase not run",
        )
        self.stop_reason: StopReason | None = None
        self.warnings: list[str] = []
        self.sequences = 0
        self.calls: Counter[str] = Counter()
        self.links = ""
        self.phase = ""  # the phase running now (where an outage happened)
        self.finished: dict[str, set[str]] = defaultdict(set)  # phase -> operationIds that ran it to the end
        self.last_sent: outage.Unanswered | None = None  # the last request that got no answer
        # The last request answered, built only when an outage follows it: a curl line for each of thousands of
        # answered requests cost ~7% of the client's CPU in a full run.
        self.last_answered: Callable[[], outage.Unanswered] | None = None

    def install(self, schema: Any, sanitize: bool) -> None:
        """Hooks that remember the last request sent and the last one answered: Schemathesis forgets the case
        whose request found the server gone, and that request is the report's most important line."""

        def remember(case: Any, headers: dict[str, Any], detail: str, answered: bool) -> outage.Unanswered:
            try:
                curl = case.as_curl_command(headers=_masked(headers) if sanitize else headers)
            except Exception:  # a reproduction that cannot be built must not hide the outage
                curl = ""
            op = self.spec.by_label.get(case.operation.label)
            return outage.Unanswered(
                f"{case.method.upper()} {case.formatted_path}", curl, op.operation_id if op else None, detail, answered
            )

        def after_network_error(context: Any, case: Any, request: Any) -> None:
            self.last_sent = remember(case, dict(request.headers), "connection refused, reset or timed out", False)

        def after_call(context: Any, case: Any, response: Any) -> None:
            request = getattr(response, "request", None)
            self.last_answered = partial(remember, case, dict(getattr(request, "headers", {}) or {}), "", True)

        schema.hooks.register_hook_with_name(after_network_error, "after_network_error")
        schema.hooks.register_hook_with_name(after_call, "after_call")

    def unanswered(self) -> outage.Unanswered | None:
        return self.last_sent or (self.last_answered() if self.last_answered else None)

    def _op(self, label: str | None) -> OperationResult | None:
        op = self.spec.by_label.get(label or "")
        return self.results.get(op.operation_id) if op else None

    def handle(self, event: events.EngineEvent) -> None:
        if isinstance(event, events.ScenarioStarted) and event.phase.value in SCHEMATHESIS_PHASES:
            self.phase = event.phase.value  # (phases skipped after an outage still announce themselves)
        elif isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            self._scenario(event)
        elif isinstance(event, events.NonFatalError):
            self._error(event)
        elif isinstance(event, events.PhaseStarted) and event.phase.name.value in SCHEMATHESIS_PHASES:
            self.notify("phase", event.phase.name.value, "")
            if event.payload is not None:
                p = event.payload
                self.links = (
                    f"links: {p.transitions_selected} selected of {p.transitions_total} "
                    f"({p.inferred_transitions} inferred by Schemathesis)"
                )
        elif isinstance(event, events.PhaseFinished) and event.phase.name.value == "stateful":
            if event.phase.skip_reason is not None and self.stateful.status == SKIPPED:
                self.stateful.skip_reason = f"stateful phase skipped: {event.phase.skip_reason.value}"
        elif isinstance(event, events.EngineFinished):
            self.stop_reason = event.stop_reason
        elif isinstance(event, events.FatalError):
            raise RuntimeError(f"Schemathesis stopped: {event.exception}") from event.exception

    def _scenario(self, event: events.ScenarioFinished) -> None:
        phase = event.phase.value
        recorder = event.recorder
        if phase == "stateful":
            if event.status != Status.SKIP:
                if self.stateful.status == SKIPPED:
                    self.stateful.status, self.stateful.skip_reason = PASSED, None
                self.stateful.seconds += event.elapsed_time
                self.sequences += 1
                self.calls.update(node.value.operation.label for node in recorder.cases.values())
        else:
            result = self._op(event.label)
            if result is None:
                return
            outcome = PHASE_STATUS.get(event.status, ERRORED)
            if event.status in (Status.SUCCESS, Status.FAILURE):
                self.finished[phase].add(result.operation_id)
            previous = result.phases.get(phase)
            result.phases[phase] = outcome if previous in (None, SKIPPED) or outcome == FAILED else previous
            if event.status == Status.SKIP and event.skip_reason:
                result.skip_reason = result.skip_reason or event.skip_reason
            result.seconds += event.elapsed_time
            self.notify("operation", f"{phase} {event.label}", outcome)
        for case_id, node in recorder.cases.items():
            result = self._op(node.value.operation.label)
            if result is None:
                continue
            result.cases += 1
            interaction = recorder.interactions.get(case_id)
            status = interaction.response.status_code if interaction and interaction.response is not None else None
            if status is not None and node.value.method.upper() == node.value.operation.method.upper():
                result.statuses_seen[status] += 1  # (answers to probes with other methods are not this operation's)
            for check in recorder.checks.get(case_id, []):
                result.record_check(check.name, check.status != Status.FAILURE)
                if check.failure_info is None:
                    continue
                finding = provenance.from_failure(
                    self.spec,
                    check.name,
                    check.failure_info.failure,
                    status=status,
                    operation=result.operation_id,
                    curl=check.failure_info.code_sample,
                    violations=violations(node.value) if check.name in REQUEST_CHECKS else (),
                )
                result.add_finding(finding)
                if phase == "stateful":
                    self.stateful.fail(finding)

    def _error(self, event: events.NonFatalError) -> None:
        title, message = event.info.title, event.info.message
        if event.label == "Stateful tests" or event.phase is not None and event.phase.value == "stateful":
            if "excluded by filters" in message or "links" in message.lower():
                self.stateful.status, self.stateful.skip_reason = SKIPPED, message.splitlines()[0]
            else:
                self.stateful.errors.append(f"{title}: {message}")
                self.stateful.status = ERRORED
            return
        result = self._op(event.label)
        if result is not None:
            result.errors.append(f"{title}: {message}")
        else:
            self.warnings.append(f"{event.label}: {title}: {message}")


Segment = tuple[tuple[str, ...], list[OperationInfo]]  # phases, and the operations they run over


def _resumed(
    phases: tuple[str, ...], ops: list[OperationInfo], interrupted: str, finished: dict[str, set[str]]
) -> list[Segment]:
    """What runs after a comeback: the interrupted phase over the operations that had not finished it (the
    stateful phase, whose sequences span operations, over all), then the phases after it over all operations."""
    if interrupted not in phases:
        return [(phases, ops)]
    at = phases.index(interrupted)
    unfinished = [op for op in ops if interrupted == "stateful" or op.operation_id not in finished[interrupted]]
    return [((interrupted,), unfinished), (phases[at + 1 :], ops)]


def refused_everywhere(result: OperationResult, credentials: dict[str, str]) -> None:
    """Plain Schemathesis only warns when every answer is 401; with credentials sent, that is a failure here."""
    answers = {status for status in result.statuses_seen if status != 405}  # 405: probes with other methods
    if credentials and answers == {401}:
        result.add_finding(
            Finding(
                check="credentials",
                title="Valid credentials refused",
                code=checks.CODES["credentials"],
                message=f"every response of {result.operation_id} was 401 although the run's "
                f"{' / '.join(credentials)} credentials were sent (verified before the run)",
                status=401,
                operation=result.operation_id,
            )
        )


def only(schema: Any, spec: ApiSpec, tested: list[OperationInfo]) -> Any:
    """The schema narrowed to the tested operations, by excluding the rest: with `[[operations]]` entries in the
    config, Schemathesis 4 keeps an always-true include filter and `include()` only adds alternatives to it, so
    including would quietly test everything (destructive operations too)."""
    keep = {op.operation_id for op in tested}
    return schema.exclude(operation_id=[op.operation_id for op in spec.operations if op.operation_id not in keep])


def load_schema(path: Path, config: SchemathesisConfig) -> Any:
    """`schemathesis.openapi.from_path`, with the file parsed (by Schemathesis' own loader) once per version in a
    process: the YAML is most of a load, and a process may run the suite many times (the pytest plugin's
    `xentree_contract`, a run resumed after an outage)."""
    document = parsed_once(path, read_spec)
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.location = path.absolute().as_uri()  # as from_path sets it
    return schema


def _engine(
    spec: ApiSpec,
    options: RunOptions,
    principal: Principal,
    tested: list[OperationInfo],
    phases: tuple[str, ...],
    collector: Collector,
    fresh_token: Callable[[], str | None],
) -> None:
    schema = load_schema(spec.path, config_for(options, spec, phases))
    schema.config.checks.update(included_check_names=["all"])
    _install_auth(schema, spec, principal, fresh_token)
    schema = only(schema, spec, tested)
    collector.install(schema, options.sanitize)
    collector.stop_reason = None
    collector.phase = ""
    collector.last_sent = collector.last_answered = None
    with long_lived_objects_frozen():
        for event in from_schema(schema).execute():
            collector.handle(event)


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """The engine's run with every object alive at its start (modules, the spec, the engine's schema) kept out of
    the cyclic garbage collector's reach, and handed back to it afterwards. Generation allocates heavily, so full
    collections come often, and each walked the whole spec again: a tenth of a full run's CPU. (`gc.freeze` moves
    them to a permanent generation that collections skip; objects are still freed when their last reference goes.)"""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run(
    spec: ApiSpec,
    options: RunOptions,
    principal: Principal,
    tested: list[OperationInfo],
    results: dict[str, OperationResult],
    *,
    fresh_token: Callable[[], str | None],
    notify: Callable[[str, str, str], None],
    outages: list[str] | None = None,
) -> tuple[ScenarioResult, list[str]]:
    """Run the Schemathesis phases over the tested operations; fills `results`, returns the stateful unit.

    When the target stops answering, the request before the outage fails its operation, the run waits for the
    target (`--outage-wait`) and resumes without the operation whose request preceded the outage: the interrupted
    phase for the operations that had not finished it (Schemathesis cannot resume a phase midway, and those that
    finished it must not send their requests twice), then the later phases for all of them. `outages` receives one
    line per outage. A target that does not come back raises TargetDown after everything so far is recorded."""
    checks.activate(spec)
    collector = Collector(spec, results, notify)
    plan: list[Segment] = [(tuple(p for p in SCHEMATHESIS_PHASES if p in options.phases), list(tested))]
    gone: set[str | None] = set()  # operations whose request preceded an outage
    outages_seen = 0
    while plan:
        phases, ops = plan.pop(0)
        ops = [op for op in ops if op.operation_id not in gone]
        if not ops or not phases:
            continue
        _engine(spec, options, principal, ops, phases, collector, fresh_token)
        if collector.stop_reason != StopReason.SERVER_UNAVAILABLE:
            continue
        outages_seen += 1
        request = collector.unanswered() or outage.Unanswered("(no request recorded)", "", None, "unknown")
        where = f"the {collector.phase or 'property'} phase"
        found = outage.finding(request, where)
        if request.operation in results:
            results[request.operation].add_finding(found)
        else:
            collector.stateful.fail(found)
        waited = outage.wait_for_target(options.base_url, options.outage_wait, tls_verify=options.tls_verify)
        line = outage.summary(request, where, waited, options.outage_wait)
        last = outages_seen > outage.MAX_OUTAGES
        if waited is not None and last:
            line += f"; after {outage.MAX_OUTAGES + 1} outages the rest of the property tests was skipped"
        (outages if outages is not None else collector.warnings).append(line)
        notify("stage", "target stopped responding", "" if waited is None else f"back after {waited:.1f}s")
        if waited is None or last:
            for op in [*ops, *(op for _, left in plan for op in left)]:
                entry = results[op.operation_id]
                if not entry.cases and not entry.findings:
                    entry.skip_reason = outage.STOPPED
            raise TargetDown(line)
        gone.add(request.operation)
        plan[:0] = _resumed(phases, ops, collector.phase, collector.finished)
    for op in tested:
        refused_everywhere(results[op.operation_id], principal.headers_for(op))
    collector.stateful.finish()
    if collector.sequences:
        collector.stateful.steps = [
            f"{collector.sequences} sequences, {sum(collector.calls.values())} calls over {len(collector.calls)} "
            f"operations",
            *([collector.links] if collector.links else []),
            *[f"{label}: {count} calls" for label, count in collector.calls.most_common()],
        ]
    return collector.stateful, collector.warnings
