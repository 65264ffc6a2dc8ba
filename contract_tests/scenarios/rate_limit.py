"""`--probe-rate-limit`: provoke the 429 instead of hoping one happens, and check it.

On one cheap, safe read (a GET without required parameters, public ones first), the probe reads `RateLimit-Limit`
and `RateLimit-Remaining` to know how far it must go, skips with a warning when that is beyond
`--probe-max-requests`, then sends requests until the target answers 429. That 429 must carry the spec's Error shape,
`Retry-After` and the declared `RateLimit-*` headers (the run-wide rate-limit rule); afterwards the probe waits out
`Retry-After` (at most `--probe-max-wait`) and checks the same read is served again. Off by default: on a real
target it spends the identity's budget.
"""

from __future__ import annotations

import time

from contract_tests.http import retry_after_seconds
from contract_tests.scenarios import ScenarioContext, scenario
from contract_tests.spec import ApiSpec, OperationInfo

NAME = "rate limit: exceeding the limit gives the documented 429"
MARGIN = 100  # requests beyond twice the announced remainder (the bucket refills while the probe runs)


def cheap_read(spec: ApiSpec) -> OperationInfo | None:
    """The cheapest safe read: a GET with no path or required query parameters, not admin-only; public first."""
    candidates = [
        op
        for op in spec.operations
        if op.method == "GET"
        and "{" not in op.path
        and not op.admin_only
        and not any(p.get("required") for p in spec.parameters(op, "query"))
        and op.documents(429)
    ]
    candidates.sort(key=lambda op: (not op.public, "health" not in op.path, len(op.path)))
    return candidates[0] if candidates else None


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


@scenario("rate-limit", NAME, __doc__ or "", opt_in="probe_rate_limit")
def probe_rate_limit(ctx: ScenarioContext) -> None:
    op = cheap_read(ctx.spec)
    who = None if op is None or op.public else ctx.principal
    with ctx.case(NAME, group="rate-limit", rule="rate_limit_probe", operation=op.operation_id if op else None) as case:
        if op is None:
            case.skip("the spec has no GET without parameters that documents 429")
            return
        first = ctx.call(op.operation_id, who, wait_on_429=False)
        limit = _number(first.headers.get("ratelimit-limit"))
        remaining = _number(first.headers.get("ratelimit-remaining"))
        budget = ctx.options.probe_max_requests
        needed = (2 * remaining + MARGIN) if remaining is not None else budget
        if remaining is not None and remaining + 1 > budget:
            warning = (
                f"rate-limit probe skipped: {op.operation_id} announces RateLimit-Remaining {remaining} "
                f"(limit {limit}), beyond --probe-max-requests {budget}"
            )
            ctx.warnings.append(warning)
            case.skip(warning)
        throttled = first if first.status == 429 else None
        sent = 1
        while throttled is None and sent < min(needed, budget):
            answer = ctx.call(op.operation_id, who, wait_on_429=False, observe=False)
            sent += 1
            if answer.status == 429:
                throttled = answer
        if throttled is None:
            warning = (
                f"rate-limit probe: {sent} requests to {op.operation_id} got no 429 (RateLimit-Limit "
                f"{limit if limit is not None else 'not sent'}); the limit was not reached"
            )
            ctx.warnings.append(warning)
            case.skip(warning)
            return
        ctx.client.observe(throttled)  # the run-wide rules judge this 429 (Retry-After, RateLimit-*, Error shape)
        if ctx.spec.error_validator is not None:
            shape = [e.message for e in ctx.spec.error_validator.iter_errors(throttled.json)]
            case.expect(
                not shape,
                f"the 429 after {sent} requests is not in the Error shape: "
                f"{'; '.join(shape)[:300] or throttled.text()}",
                throttled,
            )
        wait = retry_after_seconds(throttled.headers.get("retry-after"))
        wait = _number(throttled.headers.get("ratelimit-reset")) if wait is None else wait
        if wait is None or wait > ctx.options.probe_max_wait:
            ctx.warnings.append(
                f"rate-limit probe: not waiting {wait if wait is not None else 'an unknown time'} s "
                f"for the reset (--probe-max-wait {ctx.options.probe_max_wait:g})"
            )
            return
        time.sleep(wait + 0.2)
        again = ctx.call(op.operation_id, who)
        case.expect(
            again.status != 429,
            f"{op.operation_id} still answers 429 {wait:g} s after the 429 that said to retry then",
            again,
        )
