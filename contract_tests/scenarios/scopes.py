"""Rule 1, scope enforcement, with API keys minted through the API-key operations.

For every operation that accepts API keys and names a scope, a key without that scope (preferably its read/write
sibling, the likeliest mix-up) must get 403 with the documented `INSUFFICIENT_API_KEY_SCOPE` payload naming the
scope, and a key with exactly that scope must get past authentication. Scope-free key operations accept any key;
bearer-only operations refuse keys. Schemathesis' `ignored_auth` cannot tell 401 from 403, hence this scenario.

The accepted call must not change anything: reads are sent as valid requests, writes with a schema-invalid body
(a 400/415/422 proves the key passed authentication) or a placeholder id that does not exist.
"""

from __future__ import annotations

from typing import Any

from contract_tests.auth import key_probe
from contract_tests.scenarios import Case, ScenarioContext, Skip, scenario
from contract_tests.spec import OperationInfo

GROUP = "scopes"
SCOPE_ERROR = "INSUFFICIENT_API_KEY_SCOPE"


def sibling(scope: str) -> str:
    resource, _, access = scope.partition(":")
    return f"{resource}:{'write' if access == 'read' else 'read'}"


def all_scopes(ctx: ScenarioContext, used: list[str]) -> list[str]:
    """The scope table, from the create-API-key request schema (falls back to the scopes the operations name)."""
    found = ctx.spec.request_media(ctx.op("createApiKey"))
    schema = found[1].get("schema", {}) if found else {}
    enum = schema.get("properties", {}).get("scopes", {}).get("items", {}).get("enum")
    return list(enum) if enum else used


def safe_request(ctx: ScenarioContext, op: OperationInfo) -> dict[str, Any]:
    request = ctx.sample_request(op)
    if op.method != "GET" and request["body"] is not None:
        request["body"] = []  # schema-invalid on purpose: authentication runs, nothing is created or changed
    return request


def refused_for_scope(answer: Any) -> bool:
    return bool(answer.status == 403 and answer.error_code == SCOPE_ERROR)


def check_denied(case: Case, op: OperationInfo, answer: Any, key_scopes: list[str]) -> None:
    required = op.api_key_scopes
    prefix = f"{op.operation_id} with an API key lacking {' '.join(required)} (key scopes: {', '.join(key_scopes)})"
    if not case.expect(
        answer.status == 403, f"{prefix}: expected 403 {SCOPE_ERROR}, got {answer.status}: {answer.text(200)}"
    ):
        return
    detail = (answer.json or {}).get("detail") if isinstance(answer.json, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    case.expect(
        detail.get("error") == SCOPE_ERROR,
        f"{prefix}: 403 names error {detail.get('error')!r}, expected {SCOPE_ERROR!r}",
    )
    case.expect(
        detail.get("required_scope") in required,
        f"{prefix}: 403 names required_scope {detail.get('required_scope')!r}, expected one of {list(required)}",
    )
    granted = detail.get("granted_scopes")
    case.expect(
        isinstance(granted, list) and sorted(granted) == sorted(key_scopes),
        f"{prefix}: 403 names granted_scopes {granted!r}, expected the key's scopes {sorted(key_scopes)}",
    )


def check_accepted(case: Case, op: OperationInfo, answer: Any, key_scopes: list[str]) -> None:
    case.expect(
        answer.status != 401 and not refused_for_scope(answer),
        f"{op.operation_id} refused an API key that has the required scope(s) {list(op.api_key_scopes) or '(none)'} "
        f"(key scopes: {', '.join(key_scopes)}): got {answer.status}: {answer.text(200)}",
    )


@scenario(GROUP, "scope enforcement", __doc__ or "", needs=("createApiKey", "deleteApiKey", "listTenants"))
def scope_enforcement(ctx: ScenarioContext) -> None:
    owner = ctx.bearer()
    key_ops = [op for op in ctx.selected if op.accepts_api_key and not op.public]
    scoped = [op for op in key_ops if op.api_key_scopes]
    bearer_only = [op for op in ctx.selected if not op.public and op.accepts_bearer and not op.accepts_api_key]
    if not key_ops and not bearer_only:
        raise Skip("no selected operation takes credentials")
    needed = sorted({scope for op in scoped for scope in op.api_key_scopes})
    table = all_scopes(ctx, needed)
    keys: dict[tuple[str, ...], dict[str, Any]] = {}

    def key_for(scopes: list[str]) -> dict[str, Any]:
        wanted = tuple(sorted(scopes))
        if wanted not in keys:
            keys[wanted] = ctx.mint_key(owner, list(wanted), f"contract {'+'.join(wanted)}"[:200])
        return keys[wanted]

    usable = False
    with ctx.case(
        "scope enforcement: minted API keys authenticate",
        group=GROUP,
        rule="scope_enforcement",
        operation="createApiKey",
        description="Keys minted through createApiKey, one per scope, are accepted",
    ) as case:
        probe = key_probe(ctx.spec)
        for scope in needed or table[:1]:
            key = key_for([scope])
            if probe is not None:
                answer = ctx.call(probe.operation_id, {ctx.spec.api_key_header: key["key"]})
                case.expect(
                    answer.status != 401 and not (answer.status == 403 and not probe.api_key_scopes),
                    f"a key minted with scope {scope} is refused by {probe.operation_id}: {answer.summary()}",
                )
        usable = not case.result.findings
    if not usable:
        raise Skip("the minted API keys are unusable (see 'scope enforcement: minted API keys authenticate')")

    for op in key_ops:
        with ctx.case(
            f"scope enforcement: {op.operation_id}",
            group=GROUP,
            rule="scope_enforcement",
            operation=op.operation_id,
            description=f"API keys need {', '.join(op.api_key_scopes) or 'no scope'}",
        ) as case:
            required = list(op.api_key_scopes)
            if required:
                lacking = next((s for s in [sibling(required[0]), *table] if s not in required and s in table), None)
                if lacking is None:
                    case.skip("every scope of the table is required here; no key can lack one")
                denied_key = key_for([lacking])
                request = ctx.sample_request(op)
                answer = ctx.call(
                    op.operation_id,
                    {ctx.spec.api_key_header: denied_key["key"]},
                    path=request["path"],
                    params=request["params"],
                    body=request["body"],
                )
                check_denied(case, op, answer, [lacking])
            granted = required or [needed[0] if needed else table[0]]
            allowed_key = key_for(granted)
            request = safe_request(ctx, op)
            answer = ctx.call(
                op.operation_id,
                {ctx.spec.api_key_header: allowed_key["key"]},
                path=request["path"],
                params=request["params"],
                body=request["body"],
            )
            check_accepted(case, op, answer, granted)

    full = key_for(table)
    for op in bearer_only:
        with ctx.case(
            f"bearer only: {op.operation_id}",
            group=GROUP,
            rule="bearer_only",
            operation=op.operation_id,
            description="Bearer-only operations refuse API keys, even one with every scope",
        ) as case:
            request = safe_request(ctx, op)
            answer = ctx.call(
                op.operation_id,
                {ctx.spec.api_key_header: full["key"]},
                path=request["path"],
                params=request["params"],
                body=request["body"],
            )
            case.expect(
                answer.status in (401, 403),
                f"bearer-only {op.operation_id} accepted an API key (all scopes): expected 401 or 403, "
                f"got {answer.status}: {answer.text(200)}",
            )
