"""Rule 6, Live quota (opt-in with --live-quota): sessions started beyond the monthly quota get 429
`live_quota_exceeded`, and so does the heartbeat of a session that ran out of it.

It spends the quota of the run's second user (a throw-away user unless one was given), through an API key with the
Live scopes so the session survives time passing. Time passes through the mock's clock control
(`/__mock__/clock/advance`) when the target offers it; on other targets the remaining quota must be small enough to
use up in real time (at most LIVE_REAL_TIME_LIMIT seconds), otherwise the case is skipped with the reason.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from contract_tests.scenarios import Case, ScenarioContext, scenario

GROUP = "live-quota"
QUOTA_ERROR = "live_quota_exceeded"
LIVE_REAL_TIME_LIMIT = 120
HEARTBEAT_EVERY = 15


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class MockClock:
    """The mock's clock control, when the target is the mock (found by asking, never assumed)."""

    def __init__(self, ctx: ScenarioContext) -> None:
        self.ctx = ctx
        self.moved = 0.0

    def available(self) -> bool:
        answer = self.ctx.client.request("GET", "/__mock__/clock", observe=False)
        return answer.status == 200 and isinstance(answer.json, dict) and "now" in answer.json

    def now(self) -> datetime:
        return instant(self.ctx.client.request("GET", "/__mock__/clock", observe=False).json["now"])

    def advance(self, seconds: float) -> None:
        self.ctx.client.request("POST", "/__mock__/clock/advance", json_body={"seconds": seconds}, observe=False)
        self.moved += seconds

    def restore(self) -> None:
        """Move the clock back by what was added, so tokens issued before stay valid for the rest of the run."""
        if self.moved:
            at = datetime.fromtimestamp(self.now().timestamp() - self.moved, UTC).isoformat()
            self.ctx.client.request("POST", "/__mock__/clock/set", json_body={"at": at}, observe=False)
            self.moved = 0.0


def expect_quota_error(case: Case, answer: Any, what: str) -> None:
    case.expect(
        answer.status == 429 and answer.error_code == QUOTA_ERROR,
        f"{what} beyond the monthly Live quota: expected 429 {QUOTA_ERROR}, got {answer.summary()}",
    )


def use_up(
    ctx: ScenarioContext, case: Case, clock: MockClock, key: dict[str, str], remaining: int, resets_at: str | None
) -> Any:
    """Start a session and let its time pass until the quota is gone; returns the last heartbeat answer."""
    started = ctx.call("startLiveSession", key, body={"session_type": "voice"}, wait_on_429=False)
    session = started.json if started.status == 201 and isinstance(started.json, dict) else None
    message = f"starting a Live session with {remaining} s of quota left failed: {started.summary()}"
    if not case.expect(bool(session and session.get("session_id")), message):
        case.skip("no Live session to use the quota up with")
    session_id = session["session_id"]  # type: ignore[index]
    ctx.defer(
        "Live session", lambda: ctx.call("endLiveSession", key, body={"session_id": session_id}, wait_on_429=False)
    )
    if clock.available():
        if resets_at and clock.now().timestamp() + remaining + 1 >= instant(resets_at).timestamp():
            case.skip("the quota resets before it could be used up; try again earlier in the month")
        clock.advance(remaining + 1)
        return ctx.call("heartbeatLiveSession", key, body={"session_id": session_id}, wait_on_429=False)
    if remaining > LIVE_REAL_TIME_LIMIT:
        case.skip(
            f"{remaining} s of Live quota left: too much to use up in real time "
            f"(limit {LIVE_REAL_TIME_LIMIT} s) and the target has no clock control"
        )
    deadline = time.monotonic() + remaining + 2 * HEARTBEAT_EVERY
    while True:
        time.sleep(min(HEARTBEAT_EVERY, remaining + 1))
        beat = ctx.call("heartbeatLiveSession", key, body={"session_id": session_id}, wait_on_429=False)
        if beat.status != 200 or time.monotonic() > deadline:
            return beat


@scenario(
    GROUP,
    "live quota",
    __doc__ or "",
    opt_in="live_quota",
    subjects=("startLiveSession",),
    needs=("getLiveQuota", "startLiveSession", "heartbeatLiveSession", "endLiveSession", "createApiKey"),
)
def live_quota(ctx: ScenarioContext) -> None:
    with ctx.case(
        "live quota: sessions beyond the quota get 429 live_quota_exceeded",
        group=GROUP,
        rule="live_quota",
        operation="startLiveSession",
        description="Live sessions started beyond the monthly quota are refused",
    ) as case:
        user = ctx.second_user()
        key = {ctx.spec.api_key_header: ctx.mint_key(user, ["live:read", "live:write"], "contract live quota")["key"]}
        quota = ctx.call("getLiveQuota", key)
        data = quota.json if quota.status == 200 and isinstance(quota.json, dict) else None
        if not case.expect(data is not None, f"reading the Live quota failed: {quota.summary()}"):
            return
        remaining = int(data.get("remaining_seconds", 0))  # type: ignore[union-attr]
        clock = MockClock(ctx)
        try:
            if remaining > 0:
                beat = use_up(ctx, case, clock, key, remaining, data.get("resets_at"))  # type: ignore[union-attr]
                expect_quota_error(case, beat, "a heartbeat")
            again = ctx.call("startLiveSession", key, body={"session_type": "voice"}, wait_on_429=False)
            expect_quota_error(case, again, "a new session")
        finally:
            clock.restore()
        if again.status == 201 and isinstance(again.json, dict) and again.json.get("session_id"):
            extra = again.json["session_id"]
            ctx.defer(
                "Live session", lambda: ctx.call("endLiveSession", key, body={"session_id": extra}, wait_on_429=False)
            )
