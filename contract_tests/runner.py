"""One contract run, start to finish: reach the target, establish who we are, select, test, clean up, judge.

    reachable? -> credentials verified -> operations selected (filters, safety) -> Schemathesis phases
    -> scenario tests -> clean-up -> credentials still accepted? -> findings ranked -> RunResult (exit 0, 1 or 2)

A target that does not answer at the start, or refuses the credentials, gives a fatal result (exit 2) that says
why; it is never a pass. A target that stops answering later is a finding (`contract_tests.outage`): the run waits
for it, goes on or finishes, keeps every result and exits 1. Findings are ranked by the provenance of the rule they
break (`contract_tests.provenance`): only errors change the exit code. Nothing here prints: progress goes to the
`notify` callback, results to `contract_tests.report`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from contract_tests import auth, outage, properties, provenance, scenarios
from contract_tests.http import Client, Exchange, Pacer, TargetUnreachable, reachable
from contract_tests.options import SCHEMATHESIS_PHASES, RunOptions, UsageError
from contract_tests.resources import spec_path
from contract_tests.results import (
    ERRORED,
    FAILED,
    SKIPPED,
    OperationResult,
    RunResult,
    ScenarioResult,
)
from contract_tests.spec import HTTP_METHODS, ApiSpec, OperationInfo

Notify = Callable[[str, str, str], None]
SCENARIO_ORDER = (
    "public",
    "scopes",
    "isolation",
    "sessions",
    "live-quota",
    "ledger-auth",
    "ledger-scopes",
    "ledger-idempotency",
    "ledger-paging",
    "ledger-filters",
    "rate-limit",
)


def _quiet(kind: str, name: str, status: str) -> None:
    return None


def spec_file(options: RunOptions) -> ApiSpec:
    if options.spec is not None:
        path = options.spec
    else:
        path = spec_path(options.api)
    if not path.is_file():
        raise UsageError(f"no spec for --api {options.api!r} at {path}")
    return ApiSpec.load(path)


def _patterns(flag: str, values: tuple[str, ...]) -> list[re.Pattern[str]]:
    try:
        return [re.compile(v) for v in values]
    except re.error as exc:
        raise UsageError(f"{flag}: invalid regular expression: {exc}") from None


def _known(spec: ApiSpec, options: RunOptions) -> None:
    """Unknown tags, operationIds and methods are usage errors: a typo must not quietly select nothing."""
    tags = {t.lower() for t in spec.tags}
    for flag, values in (("--include-tag", options.include_tags), ("--exclude-tag", options.exclude_tags)):
        unknown = [t for t in values if t.lower() not in tags]
        if unknown:
            raise UsageError(f"{flag}: unknown tag(s) {', '.join(unknown)}; tags: {', '.join(spec.tags)}")
    for flag, values in (
        ("--include-operation-id", options.operations),
        ("--exclude-operation-id", options.exclude_operations),
    ):
        unknown = [o for o in values if o not in spec.by_id]
        if unknown:
            raise UsageError(f"{flag}: unknown operationId(s) {', '.join(unknown)}")
    for flag, values in (("--include-method", options.include_methods), ("--exclude-method", options.exclude_methods)):
        unknown = [m for m in values if m.lower() not in HTTP_METHODS]
        if unknown:
            raise UsageError(f"{flag}: unknown method(s) {', '.join(unknown)}; methods: {', '.join(HTTP_METHODS)}")


def choose(spec: ApiSpec, options: RunOptions) -> list[OperationInfo]:
    """The operations the filters select, named as Schemathesis names them. Included tags and operationIds add up
    (either selects an operation); included path patterns and methods narrow that (all must match); every exclude
    removes. No include of a kind means all of that kind."""
    _known(spec, options)
    include_paths = _patterns("--include-path-regex", options.include_path_regex)
    exclude_paths = _patterns("--exclude-path-regex", options.exclude_path_regex)
    wanted_tags = {t.lower() for t in options.include_tags}
    unwanted_tags = {t.lower() for t in options.exclude_tags}
    methods = {m.upper() for m in options.include_methods}
    unwanted_methods = {m.upper() for m in options.exclude_methods}

    def selected(op: OperationInfo) -> bool:
        tags = {t.lower() for t in op.tags}
        if (wanted_tags or options.operations) and not (op.operation_id in options.operations or tags & wanted_tags):
            return False
        if include_paths and not any(p.search(op.path) for p in include_paths):
            return False
        if methods and op.method not in methods:
            return False
        return not (
            op.operation_id in options.exclude_operations
            or tags & unwanted_tags
            or any(p.search(op.path) for p in exclude_paths)
            or op.method in unwanted_methods
        )

    return [op for op in spec.operations if selected(op)]


def safety_skip(op: OperationInfo, options: RunOptions, principal: auth.Principal) -> str | None:
    """Why the property tests leave this operation out on this target, or None when it may be fuzzed."""
    if op.operation_id == auth.LOGOUT:
        return None if principal.can_login else "ends the run's own session; needs --username/--password or --register"
    if options.allow_destructive:
        return None
    if op.changes_account:
        if principal.registered:
            return None
        return "changes the account under test; needs --register or --allow-destructive"
    if op.irreversible:
        return "irreversible writes (the spec marks them x-destructive: irreversible); needs --allow-destructive"
    if op.destructive:
        return "destructive (deletes or revokes state the suite did not create); needs --allow-destructive"
    if op.admin_only:
        return "admin-only operation; needs --allow-destructive"
    return None


def _new_results(spec: ApiSpec) -> dict[str, OperationResult]:
    return {
        op.operation_id: OperationResult(
            op.operation_id, op.label, list(op.tags), op.provenance, list(op.statuses), since=op.since
        )
        for op in spec.operations
    }


def _schemathesis_version() -> str:
    try:
        return version("schemathesis")
    except PackageNotFoundError:
        return "unknown"


def run(options: RunOptions, notify: Notify = _quiet) -> RunResult:
    """Run the contract checks; raises UsageError for bad options, otherwise always returns a result (whatever the
    target does mid-run: its outages are findings, never a lost run)."""
    options.validate()
    spec = spec_file(options)
    try:
        pacer = Pacer(options.rate_limit)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    chosen = choose(spec, options)
    result = RunResult(
        options.api,
        options.base_url,
        str(spec.path),
        options.seed,
        options.public_dict(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schemathesis_version=_schemathesis_version(),
    )
    start = time.perf_counter()
    client = Client(
        options.base_url,
        pacer=pacer,
        timeout=options.request_timeout,
        sanitize=options.sanitize,
        tls_verify=options.tls_verify,
    )
    try:
        _run(spec, options, chosen, client, result, notify)
    except TargetUnreachable as exc:  # before the credentials were verified: the run could not start
        result.fatal = True
        result.errors.append(f"the target stopped answering before the run could start: {exc}")
    except Exception as exc:  # the suite itself broke: keep what was found and say so, never a pass
        result.errors.append(f"the run stopped on an internal error: {type(exc).__name__}: {exc}")
    finally:
        client.close()
        provenance.rank(result, spec, options.strict_inferred)
        result.seconds = time.perf_counter() - start
    return result


def _run(
    spec: ApiSpec, options: RunOptions, chosen: list[OperationInfo], client: Client, result: RunResult, notify: Notify
) -> None:
    problem = reachable(options.base_url, tls_verify=options.tls_verify)
    if problem:
        result.fatal = True
        result.errors.append(f"the target {options.base_url} is unreachable: {problem}")
        return
    try:
        principal = auth.establish(
            client,
            spec,
            token=options.token,
            api_key=options.api_key,
            username=options.username,
            password=options.password,
            register=options.register,
            seed=options.seed,
            client_id=options.client_id,
            client_secret=options.client_secret,
            scope=options.scope,
        )
    except auth.CredentialsRefused as exc:
        result.fatal = True
        result.errors.append(f"credentials refused: {exc}")
        return
    result.identity = principal.describe()
    if principal.kind == "anonymous":
        flags = {
            "token": "--token",
            "api_key": "--api-key",
            "username": "--username/--password",
            "register": "--register",
            "client_id": "--client-id/--client-secret",
        }
        hint = ", ".join(flag for name, flag in flags.items() if name in options.credential_options)
        result.warnings.append(
            f"no credentials given: protected operations are only tested for refusing anonymous callers (pass {hint})"
        )
    operations = _new_results(spec)
    chosen_ids = {op.operation_id for op in chosen}
    tested: list[OperationInfo] = []
    for op in spec.operations:
        entry = operations[op.operation_id]
        reason = "not selected" if op.operation_id not in chosen_ids else safety_skip(op, options, principal)
        if reason:
            entry.skip_reason = reason
        else:
            tested.append(op)
    result.operations = list(operations.values())
    down = False
    if any(p in options.phases for p in SCHEMATHESIS_PHASES) and tested:
        notify("stage", "property tests", f"{len(tested)} operations")
        try:
            stateful, warnings = properties.run(
                spec,
                options,
                principal,
                tested,
                operations,
                fresh_token=lambda: _fresh_token(client, spec, principal),
                notify=notify,
                outages=result.errors,
            )
            result.warnings.extend(warnings)
            if "stateful" in options.phases:
                result.scenarios.append(stateful)
        except properties.TargetDown:
            down = result.target_gone = True
    else:
        for op in tested:
            operations[op.operation_id].skip_reason = "property phases not selected"
    for entry in operations.values():
        entry.finish()
    if "scenarios" in options.phases:
        if down:
            result.scenarios.append(
                ScenarioResult("scenarios", "scenarios", status=SKIPPED, skip_reason=outage.STOPPED)
            )
        else:
            notify("stage", "scenarios", "")
            result.scenarios.extend(_scenarios(spec, options, principal, chosen, client, result, notify, operations))
    if not result.target_gone:
        try:
            _recheck_credentials(client, spec, principal, result)
        except TargetUnreachable as exc:
            result.errors.append(f"{outage.STOPPED} at the end of the run: {exc}")


def _fresh_token(client: Client, spec: ApiSpec, principal: auth.Principal) -> str | None:
    if not principal.can_login:
        return None
    answer = auth.login(client, spec, principal.username or "", principal.password or "")
    return (answer.json or {}).get("access_token") if answer.status == 200 else None


def _scenarios(
    spec: ApiSpec,
    options: RunOptions,
    principal: auth.Principal,
    chosen: list[OperationInfo],
    client: Client,
    result: RunResult,
    notify: Notify,
    operations: dict[str, OperationResult],
) -> list[ScenarioResult]:
    scenarios.load()
    ctx = scenarios.ScenarioContext(spec, client, principal, options, chosen, notify=notify)
    chosen_ids = {op.operation_id for op in chosen}
    registered = [s for s in scenarios.REGISTRY if s.api == options.api]
    registered.sort(key=lambda s: SCENARIO_ORDER.index(s.group) if s.group in SCENARIO_ORDER else len(SCENARIO_ORDER))
    gone = False
    try:
        for item in registered:
            missing = [o for o in item.needs if o not in spec.by_id]
            reason = outage.STOPPED if gone else None
            if reason:
                pass
            elif item.opt_in and not getattr(options, item.opt_in, False):
                reason = f"opt-in: pass --{item.opt_in.replace('_', '-')}"
            elif missing:
                reason = f"the spec lacks {', '.join(missing)}"
            elif item.subjects and not chosen_ids.intersection(item.subjects):
                reason = f"not selected (checks {', '.join(item.subjects)})"
            if reason is None:
                try:
                    item.func(ctx)
                    continue
                except scenarios.Skip as skip:
                    reason = str(skip)
                except TargetUnreachable as exc:
                    gone = not _survive(exc, item, ctx, options, result, operations)
                    continue
                except Exception as exc:  # a scenario that crashes is reported, never swallowed
                    broken = ScenarioResult(item.name, item.group, item.description, status=ERRORED)
                    broken.errors.append(f"{type(exc).__name__}: {exc}")
                    ctx.results.append(broken)
                    notify("scenario", item.name, ERRORED)
                    continue
            ctx.results.append(
                ScenarioResult(item.name, item.group, item.description, status=SKIPPED, skip_reason=reason)
            )
            notify("scenario", item.name, SKIPPED)
    finally:
        result.target_gone = result.target_gone or gone
        left = ctx.cleanup()  # (on a target that is gone, each fails at once and is listed as left over)
        result.warnings.extend(ctx.warnings)
        result.warnings.extend(f"could not clean up {item}" for item in left)
    return ctx.results


def _survive(
    exc: TargetUnreachable,
    item: scenarios.Scenario,
    ctx: scenarios.ScenarioContext,
    options: RunOptions,
    result: RunResult,
    operations: dict[str, OperationResult],
) -> bool:
    """A scenario's request got no answer: fail the request's operation (and the case, when one was open), wait
    for the target; True when it answers again and the scenarios go on."""
    request = outage.Unanswered(exc.label, exc.curl, exc.operation, str(exc).split(": ", 1)[-1])
    where = f"the scenario {item.name!r}"
    found = outage.finding(request, where)
    if not any(f.check == outage.RULE and f.curl == found.curl for r in ctx.results for f in r.findings):
        broken = ScenarioResult(item.name, item.group, item.description, operation=exc.operation)
        broken.fail(found)
        broken.finish()
        ctx.results.append(broken)
    if exc.operation in operations:
        operations[exc.operation].add_finding(found)
        operations[exc.operation].finish()
    ctx.notify("scenario", item.name, FAILED)
    waited = outage.wait_for_target(options.base_url, options.outage_wait, tls_verify=options.tls_verify)
    result.errors.append(outage.summary(request, where, waited, options.outage_wait))
    return waited is not None


def _recheck_credentials(client: Client, spec: ApiSpec, principal: auth.Principal, result: RunResult) -> None:
    """The run's credentials must still work at the end: a token silently revoked mid-run hides every later test."""
    if not principal.token:
        return
    if auth.ME in spec.by_id:
        answer: Exchange | None = auth.current_user(client, spec, principal.token)
    else:
        answer = auth.probe_token(client, spec, principal.token)
    if answer is not None and answer.status == 401:
        result.errors.append(f"the run's bearer token was refused at the end of the run: {answer.summary()}")
