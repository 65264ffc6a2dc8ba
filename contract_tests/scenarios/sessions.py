"""Rule 6, the documented session rules, each on a fresh session of the second user (the run's own stays intact).

- Logout invalidates: after logout the access token used for it is refused (401), and so is the session's refresh
  token.
- Refresh rotates: refreshing returns a new refresh token and a working access token; the old refresh token is
  refused afterwards (400 or 401), while the new one works.
"""

from __future__ import annotations

from typing import Any

from contract_tests.auth import LOGIN, LOGOUT, ME, REFRESH, login
from contract_tests.scenarios import Case, ScenarioContext, scenario

GROUP = "sessions"
REFUSED = (400, 401)


def fresh_tokens(ctx: ScenarioContext, case: Case) -> dict[str, Any]:
    user = ctx.second_user()
    answer = login(ctx.client, ctx.spec, user.username or "", user.password or "")
    tokens = answer.json if isinstance(answer.json, dict) else {}
    if answer.status != 200 or not tokens.get("access_token"):
        case.fail(f"login of the second user failed: {answer.summary()}", answer)
        case.skip("no fresh session")
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@scenario(GROUP, "logout invalidates the token", __doc__ or "", needs=(LOGIN, LOGOUT, ME), subjects=(LOGOUT,))
def logout_invalidates(ctx: ScenarioContext) -> None:
    with ctx.case(
        "session: logout invalidates the token",
        group=GROUP,
        rule="logout_invalidates",
        operation=LOGOUT,
        description="After logout the access token and the session's refresh token are refused",
    ) as case:
        tokens = fresh_tokens(ctx, case)
        access = tokens["access_token"]
        before = ctx.call(ME, bearer(access))
        if not case.expect(before.status == 200, f"a fresh access token is refused before logout: {before.summary()}"):
            return
        out = ctx.call(LOGOUT, bearer(access))
        if not case.expect(out.status == 200, f"logout failed: {out.summary()}"):
            return
        after = ctx.call(ME, bearer(access))
        case.expect(
            after.status == 401, f"the access token still works after logout: expected 401, got {after.summary()}"
        )
        if tokens.get("refresh_token") and REFRESH in ctx.spec.by_id:
            again = ctx.call(REFRESH, None, body={"refresh_token": tokens["refresh_token"]})
            case.expect(
                again.status in REFUSED,
                f"the session's refresh token still works after logout: expected 400 or 401, got {again.summary()}",
            )


@scenario(GROUP, "refresh rotates the token", __doc__ or "", needs=(LOGIN, REFRESH, ME), subjects=(REFRESH,))
def refresh_rotates(ctx: ScenarioContext) -> None:
    with ctx.case(
        "session: refresh rotates the refresh token",
        group=GROUP,
        rule="refresh_rotates",
        operation=REFRESH,
        description="Refresh issues new tokens; the old refresh token is refused afterwards",
    ) as case:
        tokens = fresh_tokens(ctx, case)
        old = tokens.get("refresh_token")
        if not old:
            case.skip("the login answer carried no refresh token")
        first = ctx.call(REFRESH, None, body={"refresh_token": old})
        renewed = first.json if isinstance(first.json, dict) else {}
        if not case.expect(
            first.status == 200 and bool(renewed.get("access_token")),
            f"refresh with a fresh refresh token failed: {first.summary()}",
        ):
            return
        case.expect(
            renewed.get("refresh_token") not in (None, old),
            "refresh returned the same refresh token: it must rotate",
            first,
        )
        works = ctx.call(ME, bearer(renewed["access_token"]))
        case.expect(works.status == 200, f"the refreshed access token is refused: {works.summary()}")
        # The rotated token is used before the old one is replayed: replaying a rotated refresh token may revoke the
        # whole session (reuse detection, RFC 9700 4.14.2), which would refuse the rotated token too.
        if renewed.get("refresh_token") and renewed.get("refresh_token") != old:
            latest = ctx.call(REFRESH, None, body={"refresh_token": renewed["refresh_token"]})
            case.expect(latest.status == 200, f"the rotated refresh token is refused: {latest.summary()}")
        reused = ctx.call(REFRESH, None, body={"refresh_token": old})
        case.expect(
            reused.status in REFUSED,
            f"the old refresh token still works after rotation: expected 400 or 401, got {reused.summary()}",
        )
