"""A run survives its target: what is recorded when the target stops answering, and how long to wait for it.

A target that stops answering mid-run is the most important finding of the run, not a reason to throw the run
away: the request that preceded the outage becomes a failure (`target_unresponsive`, always an error) on its
operation, with its curl reproduction; the run then waits for the target with a bounded exponential backoff
(`--outage-wait`, default 60 s) and either goes on where it was (the interrupted property phase again for the
operations that had not finished it, the scenario after the interrupted one) or finishes without it. Every result
so far is kept and all reports are written; the exit code is 1 (the target broke during the run), never 2 (which
means it was never reachable, or refused the credentials, at the start).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from contract_tests.http import reachable
from contract_tests.results import Finding

RULE = "target_unresponsive"
FIRST_DELAY = 0.25  # seconds before the first retry; doubled each time
MAX_DELAY = 8.0
MAX_OUTAGES = 3  # outages a run goes on after; a target that keeps dying gets the rest of the run skipped
STOPPED = "the target stopped responding"


@dataclass
class Unanswered:
    """The request that preceded the outage: the one that got no answer, else the last one answered."""

    label: str  # GET http://host/api/health
    curl: str
    operation: str | None
    detail: str  # what the client saw (connection refused, reset, timeout)
    answered: bool = False  # True when the request was answered and the target died afterwards


def finding(request: Unanswered, where: str) -> Finding:
    """The failure recorded for the operation whose request preceded the outage."""
    how = (
        "it was answered, and the next request found the target gone"
        if request.answered
        else f"it got no answer ({request.detail})"
    )
    return Finding(
        check=RULE,
        title="The target stopped responding",
        code="XC503",
        curl=request.curl,
        operation=request.operation,
        message=f"{STOPPED} after this request during {where}: {request.label}; {how}",
    )


def wait_for_target(
    base_url: str, max_wait: float, *, tls_verify: bool = True, sleep: Callable[[float], None] = time.sleep
) -> float | None:
    """Seconds until the target answered HTTP again (any status), or None when it did not within `max_wait`."""
    start = time.monotonic()
    delay = FIRST_DELAY
    while True:
        if reachable(base_url, timeout=min(5.0, max(0.5, max_wait)), tls_verify=tls_verify) is None:
            return time.monotonic() - start
        left = max_wait - (time.monotonic() - start)
        if left <= 0:
            return None
        sleep(min(delay, left))
        delay = min(delay * 2, MAX_DELAY)


def summary(request: Unanswered, where: str, waited: float | None, max_wait: float) -> str:
    """The run-level line: what broke, and whether the run went on."""
    if waited is None:
        return (
            f"{STOPPED} during {where} after {request.label} ({request.operation or 'no operation'}) and did "
            f"not answer again within {max_wait:g} s; the rest of the run was skipped"
        )
    return (
        f"{STOPPED} during {where} after {request.label} ({request.operation or 'no operation'}); it answered "
        f"again after {waited:.1f} s and the run went on"
    )
