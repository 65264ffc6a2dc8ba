"""The monthly Live quota: plans (fixtures/catalog/plans.yaml), UTC-month periods, booking a session's seconds
against the allowance, and the 429 when it is used up (rules: the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from mock_server.catalogs import load_catalog
from mock_server.clock import iso
from mock_server.domains import Call, handles
from mock_server.errors import ApiError

QUOTA_ERROR = "live_quota_exceeded"
QUOTA_MESSAGE = "Monthly Live session quota exceeded"  # the documented payload, word for word
DEFAULT_PLAN = "free"


# plans and periods -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    monthly_live_seconds: int


@cache
def plans() -> dict[str, Plan]:
    return {p["id"]: Plan(**p) for p in load_catalog("plans.yaml")["plans"]}


def user_plan(call: Call, user_id: str) -> Plan:
    """The user's plan; an unknown plan name counts as the default plan, so a bad value never breaks Live."""
    row = call.store.one("SELECT plan FROM users WHERE id = ?", (user_id,))
    return plans().get(row["plan"] if row else DEFAULT_PLAN) or plans()[DEFAULT_PLAN]


def period_start(moment: datetime) -> datetime:
    """00:00 UTC on the first day of `moment`'s UTC month."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_period(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def period_key(moment: datetime) -> str:
    return period_start(moment).strftime("%Y-%m")


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def month_slices(start_ts: float, end_ts: float) -> Iterator[tuple[str, int]]:
    """(period, whole seconds) for each UTC month the span [start, end) touches."""
    cursor = start_ts
    while cursor < end_ts:
        boundary = next_period(period_start(_at(cursor))).timestamp()
        stop = min(boundary, end_ts)
        yield period_key(_at(cursor)), int(stop - cursor)
        cursor = stop


# quota -------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quota:
    plan: Plan
    start: datetime
    used: int  # booked this period plus the running session's unbooked time (capped)

    @property
    def limit(self) -> int:
        return self.plan.monthly_live_seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def resets_at(self) -> datetime:
        return next_period(self.start)


def booked(call: Call, user_id: str, period: str) -> int:
    row = call.store.one(
        "SELECT COALESCE(SUM(seconds), 0) AS n FROM live_usage WHERE user_id = ? AND period = ?", (user_id, period)
    )
    return int(row["n"]) if row else 0


def active_session(call: Call, user_id: str) -> dict[str, Any] | None:
    return call.store.one("SELECT * FROM live_sessions WHERE user_id = ? AND ended_at IS NULL", (user_id,))


def quota(call: Call, user_id: str) -> Quota:
    """This month's quota as of now, the running session's unbooked time included."""
    now = call.clock.now()
    plan, start = user_plan(call, user_id), period_start(now)
    used = booked(call, user_id, period_key(now))
    session = active_session(call, user_id)
    if session is not None:
        pending = max(0, int(now.timestamp() - max(session["booked_until"], start.timestamp())))
        used += min(pending, max(0, plan.monthly_live_seconds - used))
    return Quota(plan, start, used)


def book(call: Call, session: dict[str, Any]) -> int:
    """Book the session's time since its last booking, month by month, each capped by that month's allowance."""
    advance = math.floor(call.clock.timestamp() - session["booked_until"])
    if advance <= 0:
        return 0  # nothing new, or the clock was moved back
    limit = user_plan(call, session["user_id"]).monthly_live_seconds
    total = 0
    for period, seconds in month_slices(session["booked_until"], session["booked_until"] + advance):
        take = min(seconds, max(0, limit - booked(call, session["user_id"], period)))
        if take:
            call.store.insert(
                "live_usage",
                {"user_id": session["user_id"], "session_id": session["id"], "period": period, "seconds": take},
            )
            total += take
    # Fractions of a second stay unbooked until the next booking (booked_until moves by whole seconds only).
    session["booked_until"] += advance
    session["used_seconds"] += total
    call.store.run(
        "UPDATE live_sessions SET booked_until = ?, used_seconds = ? WHERE id = ?",
        (session["booked_until"], session["used_seconds"], session["id"]),
    )
    return total


def quota_exceeded(q: Quota, now: datetime) -> ApiError:
    """The documented payload, with the headers the spec requires on a 429 (the quota window's figures)."""
    reset = max(0, math.ceil((q.resets_at - now).total_seconds()))
    headers = {
        "Retry-After": str(reset),
        "RateLimit-Limit": str(q.limit),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(reset),
    }
    return ApiError(429, QUOTA_ERROR, QUOTA_MESSAGE, headers=headers)


@handles("getLiveQuota")
def get_quota(call: Call) -> dict[str, Any]:
    q = quota(call, call.user_id)
    return {
        "plan": q.plan.id,
        "monthly_quota_seconds": q.limit,
        "used_seconds": q.used,
        "remaining_seconds": q.remaining,
        "period_start": iso(q.start),
        "resets_at": iso(q.resets_at),
    }
