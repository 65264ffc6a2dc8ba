"""The ledger's authentication and scopes: 401s without a valid token or client secret, 403 `insufficient_scope` for
tokens without the operation's scope (see the package docstring for the rules)."""

from __future__ import annotations

import uuid

from contract_tests.http import Exchange
from contract_tests.scenarios import Case, ScenarioContext, scenario
from contract_tests.scenarios.xp_ledger import RULES
from contract_tests.scenarios.xp_ledger.ledger import (
    ACCEPTED,
    API,
    LIST,
    SEND,
    TOKEN,
    bearer,
    grade_event,
    iso,
    new_event_id,
    now,
    read,
    scope_of,
)


# (e) authentication ------------------------------------------------------------------------------------------------
@scenario(
    "ledger-auth",
    "ledger: missing or invalid token answers 401",
    RULES,
    api=API,
    needs=(SEND, LIST),
    subjects=(SEND, LIST, TOKEN),
)
def unauthenticated(ctx: ScenarioContext) -> None:
    with ctx.case(
        "ledger auth: a missing or garbage token answers 401",
        group="ledger-auth",
        rule="ledger_auth",
        operation=LIST,
        description="No token and a garbage token both get 401, the Error shape and "
        "WWW-Authenticate: Bearer, on the read and on ingestion",
    ) as case:
        who = str(uuid.uuid4())
        harmless = grade_event(
            who, event_id=new_event_id(), event_time=iso(now()), value=1, score_type="QUESTION_RESULT"
        )  # creates no XP entry, whatever the target does
        for label, headers in (
            ("no token", {}),
            ("a garbage token", bearer("not-a-token")),
            ("a malformed JWT", bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")),
        ):
            calls = ((LIST, read(ctx, who, headers=headers)), (SEND, ctx.call(SEND, headers, body=harmless)))
            for operation_id, answer in calls:
                case.expect(
                    answer.status == 401, f"{operation_id} with {label}: expected 401, got {answer.summary()}", answer
                )
                challenge = answer.headers.get("www-authenticate", "")
                case.expect(
                    answer.status != 401 or challenge.lower().startswith("bearer"),
                    f"{operation_id} with {label}: 401 without a Bearer challenge (WWW-Authenticate {challenge!r})",
                    answer,
                )
    if ctx.principal.client_id and TOKEN in ctx.spec.by_id:
        with ctx.case(
            "ledger auth: a wrong client secret answers 401 invalid_client",
            group="ledger-auth",
            rule="ledger_auth",
            operation=TOKEN,
            description="The token operation refuses a wrong secret with 401 invalid_client and "
            "WWW-Authenticate: Basic",
        ) as case:
            from contract_tests.auth import request_token

            answer = request_token(ctx.client, ctx.spec, ctx.principal.client_id, "wrong-" + uuid.uuid4().hex)
            if case.expect(answer.status == 401, f"expected 401 for a wrong client secret, got {answer.summary()}"):
                case.expect(
                    answer.error_code == "invalid_client",
                    f"expected error invalid_client, got {answer.error_code!r}: {answer.text(200)}",
                )
                challenge = answer.headers.get("www-authenticate", "")
                case.expect(
                    challenge.lower().startswith("basic"),
                    f"the token operation's 401 has WWW-Authenticate {challenge!r}, expected a Basic challenge",
                )


# (d) scopes --------------------------------------------------------------------------------------------------------
def narrower_token(ctx: ScenarioContext, case: Case, without: str) -> tuple[str, list[str]]:
    """A token of the run's client carrying every scope except `without` (minted at the token operation)."""
    from contract_tests.auth import CredentialsRefused, client_token

    principal = ctx.principal
    if not (principal.client_id and principal.client_secret):
        case.skip("needs --client-id/--client-secret to mint tokens with fewer scopes (a --token cannot be narrowed)")
    held = list(principal.scopes) if principal.scopes is not None else list(ctx.spec.oauth2_scopes)
    others = [s for s in held if s != without] or [s for s in ctx.spec.oauth2_scopes if s != without]
    if not others:
        case.skip(f"the API has no scope other than {without} to ask for")
    try:
        narrow = client_token(
            ctx.client, ctx.spec, principal.client_id or "", principal.client_secret or "", " ".join(others)
        )
    except CredentialsRefused as exc:
        case.skip(f"the target will not mint a token without {without}: {exc}")
    if narrow.scopes is not None and without in narrow.scopes:
        case.skip(f"the target granted {without} although only {' '.join(others)} was asked for")
    return narrow.token or "", others


def check_insufficient_scope(
    case: Case, answer: Exchange, operation_id: str, required: str, granted: list[str]
) -> None:
    prefix = f"{operation_id} with a token lacking {required} (scopes: {' '.join(granted)})"
    if not case.expect(answer.status == 403, f"{prefix}: expected 403, got {answer.summary()}", answer):
        return
    case.expect(
        answer.error_code == "insufficient_scope",
        f"{prefix}: 403 names error {answer.error_code!r}, expected 'insufficient_scope'",
        answer,
    )
    body = answer.json if isinstance(answer.json, dict) else {}
    if "required_scope" in body:
        case.expect(
            body["required_scope"] == required,
            f"{prefix}: 403 names required_scope {body['required_scope']!r}, expected {required!r}",
            answer,
        )


@scenario(
    "ledger-scopes",
    "ledger: scopes are enforced",
    RULES,
    api=API,
    needs=(SEND, LIST, TOKEN),
    subjects=(SEND, LIST),
)
def scope_enforcement(ctx: ScenarioContext) -> None:
    read_scope, write_scope = scope_of(ctx, LIST), scope_of(ctx, SEND)
    who = str(uuid.uuid4())
    with ctx.case(
        f"ledger scopes: a token without {read_scope} cannot read XP",
        group="ledger-scopes",
        rule="ledger_scope",
        operation=LIST,
        description=f"listUserXpEntries needs {read_scope}: 403 insufficient_scope without it",
    ) as case:
        if read_scope is None:
            case.skip("listUserXpEntries names no scope")
        token, granted = narrower_token(ctx, case, read_scope)
        check_insufficient_scope(case, read(ctx, who, headers=bearer(token)), LIST, read_scope, granted)
        if write_scope in granted:
            event = grade_event(
                who, event_id=new_event_id(), event_time=iso(now()), value=1, score_type="QUESTION_RESULT"
            )
            answer = ctx.call(SEND, bearer(token), body=event)
            case.expect(
                answer.status in ACCEPTED,
                f"a token with {write_scope} could not send an event (one that creates no XP): {answer.summary()}",
                answer,
            )
    with ctx.case(
        f"ledger scopes: a token without {write_scope} cannot send events",
        group="ledger-scopes",
        rule="ledger_scope",
        operation=SEND,
        description=f"sendCaliperEvents needs {write_scope}: 403 insufficient_scope without it",
    ) as case:
        if write_scope is None:
            case.skip("sendCaliperEvents names no scope")
        token, granted = narrower_token(ctx, case, write_scope)
        # a schema-valid event that creates no XP entry, so a target that ignores the scope changes nothing
        event = grade_event(who, event_id=new_event_id(), event_time=iso(now()), value=1, score_type="QUESTION_RESULT")
        check_insufficient_scope(case, ctx.call(SEND, bearer(token), body=event), SEND, write_scope, granted)
        if read_scope in granted:
            answer = read(ctx, who, headers=bearer(token))
            case.expect(
                answer.status not in (401, 403),
                f"a token with {read_scope} could not read the ledger: {answer.summary()}",
                answer,
            )
