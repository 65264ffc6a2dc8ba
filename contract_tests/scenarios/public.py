"""Rule 4: public operations work without credentials, and the public profile leaks nothing private.

Each operation with `security: []` is called with no credentials at all: registration creates the second user of
the run, login and refresh use that user, and the rest get a schema-valid request. None may answer 401 or 403; those
without required input must succeed. The public profile of both users must hold no email, no token or key, and no
internal id (their own emails and ids, read from the current-user operation, are searched for too).
"""

from __future__ import annotations

from contract_tests import checks
from contract_tests.auth import LOGIN, REFRESH, REGISTER, Principal
from contract_tests.scenarios import Case, ScenarioContext, scenario

GROUP = "public"
PROFILE = "getPublicXpProfile"


def check_profile(ctx: ScenarioContext, case: Case, who: Principal) -> None:
    username = who.username or who.user.get("username")
    if not username:
        return
    answer = ctx.call(PROFILE, None, path={"username": username})
    if not case.expect(
        answer.status == 200,
        f"public profile of {username!r} without credentials: expected 200, got {answer.summary()}",
    ):
        return
    problems = checks.privacy_problems(answer.content, who.private_values)
    if problems:
        case.fail(
            f"public profile of {username!r}: " + "; ".join(problems),
            answer,
            rule="public_profile_privacy",
            title=checks.TITLES["public_profile_privacy"],
        )


def check_generic(ctx: ScenarioContext, case: Case, op_id: str) -> None:
    op = ctx.op(op_id)
    request = ctx.sample_request(op)
    answer = ctx.call(op_id, None, path=request["path"], params=request["params"], body=request["body"])
    case.expect(
        answer.status not in (401, 403), f"public {op_id} refused a request without credentials: {answer.summary()}"
    )
    needs_input = bool(request["path"] or request["params"] or request["body"] is not None)
    if not needs_input:
        case.expect(answer.status < 300, f"public {op_id} without credentials did not succeed: {answer.summary()}")


@scenario(GROUP, "public operations", __doc__ or "")
def public_operations(ctx: ScenarioContext) -> None:
    for op in [op for op in ctx.selected if op.public]:
        with ctx.case(
            f"public: {op.operation_id}",
            group=GROUP,
            rule="public_access",
            operation=op.operation_id,
            description="Works without credentials",
        ) as case:
            if op.operation_id == REGISTER:
                second = ctx.second_user()
                if not second.registered:
                    case.skip("the second user was given (--second-username), so nothing was registered")
            elif op.operation_id == LOGIN:
                ctx.second_user()  # logs in without credentials; refused logins skip with the reason
            elif op.operation_id == REFRESH:
                second = ctx.second_user()
                if not second.refresh_token:
                    case.skip("the login answer carried no refresh token")
                answer = ctx.call(REFRESH, None, body={"refresh_token": second.refresh_token})
                tokens = answer.json if isinstance(answer.json, dict) else {}
                if case.expect(
                    answer.status == 200 and bool(tokens.get("access_token")),
                    f"refresh without credentials failed: {answer.summary()}",
                ):
                    second.token, second.refresh_token = tokens["access_token"], tokens.get("refresh_token")
            elif op.operation_id == PROFILE:
                check_profile(ctx, case, ctx.second_user())
                if ctx.principal.user:
                    check_profile(ctx, case, ctx.principal)
            else:
                check_generic(ctx, case, op.operation_id)
