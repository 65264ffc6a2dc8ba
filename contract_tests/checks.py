"""Run-wide rules Schemathesis lacks, as pure functions and as Schemathesis checks.

- `auth_error_shape`: every 401 and 403 carries the spec's own Error shape (Xentree's `{"detail": {...}}`, the XP
  ledger's `{"error": ...}`); every 401 carries `WWW-Authenticate`, matching the pattern the spec declares for the
  operation's 401 (e.g. `^Bearer` on the ledger's reads, `^Basic` on its token operation).
- `rate_limit_headers`: every 429 carries `Retry-After` and the `RateLimit-*` headers the spec declares for it.
- `public_profile_privacy`: a public profile holds no private field (email, tokens, internal ids).
- `secrets_exposure`: no response carries a password or password hash, a refresh token outside the operations whose
  response schema declares `refresh_token`, a full API key outside the response of the operation that creates it (a
  POST answering 201 whose schema declares a property of the key's pattern), or private key material (PEM private
  keys, the private members `d`, `p`, `q`, `dp`, `dq`, `qi` of a JWK). Which operations may carry what is read from
  the spec's response schemas.

The pure functions take a status, lower-case headers and the body, and return problems as sentences; scenario tests
call them on every exchange, and `register()` wraps them as Schemathesis checks for the property tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from contract_tests.http import retry_after_seconds
from contract_tests.spec import ApiSpec, OperationInfo

if TYPE_CHECKING:
    from schemathesis.core.transport import Response
    from schemathesis.generation.case import Case

# Failure codes of the suite's own rules (Schemathesis' are ST1xx-ST4xx); reports and `--help` list them.
CODES = {
    "auth_error_shape": "XC401",
    "rate_limit_headers": "XC429",
    "public_profile_privacy": "XC451",
    "secrets_exposure": "XC452",
    "scope_enforcement": "XC403",
    "bearer_only": "XC405",
    "public_access": "XC200",
    "object_isolation": "XC404",
    "logout_invalidates": "XC440",
    "refresh_rotates": "XC441",
    "live_quota": "XC442",
    "credentials": "XC499",
    "ledger_idempotency": "XC470",
    "ledger_paging": "XC471",
    "ledger_filters": "XC472",
    "ledger_scope": "XC473",
    "ledger_auth": "XC474",
    "rate_limit_probe": "XC428",
    "target_unresponsive": "XC503",
    "request_conformance": "XC460",
    "not_in_spec": "XC461",
}
TITLES = {
    "auth_error_shape": "401/403 response breaks the error contract",
    "rate_limit_headers": "429 response lacks the rate-limit headers",
    "public_profile_privacy": "Public profile leaks private data",
    "secrets_exposure": "Response exposes a secret",
    "scope_enforcement": "API key scope not enforced as documented",
    "bearer_only": "Bearer-only operation accepts an API key",
    "public_access": "Public operation does not work without credentials",
    "object_isolation": "Object-level isolation broken",
    "logout_invalidates": "Logout does not invalidate the session",
    "refresh_rotates": "Refresh does not rotate the tokens as documented",
    "live_quota": "Live quota not enforced as documented",
    "credentials": "Credentials refused",
    "ledger_idempotency": "A repeated event id changes the XP ledger",
    "ledger_paging": "XP ledger paging breaks the documented rules",
    "ledger_filters": "XP ledger filters break the documented rules",
    "ledger_scope": "OAuth2 scope not enforced as documented",
    "ledger_auth": "Missing or invalid token not refused as documented",
    "rate_limit_probe": "Exceeding the rate limit does not give the documented 429",
    "target_unresponsive": "The target stopped responding",
    "request_conformance": "Observed request breaks the spec",
    "not_in_spec": "Request not in the spec",
}
SCHEMATHESIS_CHECKS = ("auth_error_shape", "rate_limit_headers", "public_profile_privacy", "secrets_exposure")

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
API_KEY = re.compile(r"\bxntr-[A-Za-z0-9_-]{20,}")
FULL_API_KEY = re.compile(r"xntr-[A-Za-z0-9_-]{86}(?![A-Za-z0-9_-])")
PASSWORD_KEY = re.compile(r"password|passwd|^pwd$|(^|_)hash$|^hashed_", re.IGNORECASE)
PASSWORD_HASH = re.compile(
    r"^\$(2[abxy]?|argon2(id|i|d)?|scrypt|pbkdf2[-_a-z0-9]*|[56])\$"
    r"|^(scrypt|pbkdf2[^:]*|bcrypt):",
    re.IGNORECASE,
)
PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
JWK_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
PRIVATE_KEY = re.compile(
    r"(e-?mail|password|passwd|token|secret|api_?key|credential|hash|phone|^id$|_id$|_ids$|uuid)", re.IGNORECASE
)


def _json(content: bytes | str | None) -> Any:
    if content is None:
        return None
    try:
        return json.loads(content)
    except (TypeError, ValueError):
        return None


def _text(content: bytes | str | None, limit: int = 200) -> str:
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content or "")
    return text if len(text) <= limit else text[:limit] + "..."


def auth_error_problems(
    spec: ApiSpec, status: int, headers: dict[str, str], content: bytes | str | None, op: OperationInfo | None = None
) -> list[str]:
    """Rule 2: a 401 or 403 has the spec's Error shape; a 401 has WWW-Authenticate (of the declared form)."""
    if status not in (401, 403):
        return []
    problems: list[str] = []
    body = _json(content)
    if body is None:
        problems.append(f"{status} body is not JSON in the Error shape: {_text(content)!r}")
    elif spec.error_validator is not None:
        for error in sorted(spec.error_validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{status} body breaks the Error shape at {where}: {error.message}")
    challenge = headers.get("www-authenticate", "").strip()
    if status == 401 and not challenge:
        problems.append("401 response has no WWW-Authenticate header (the spec requires it, e.g. `Bearer`)")
    elif status == 401 and op is not None:
        declared = spec.declared_headers(op, 401, "Unauthorized").get("www-authenticate", {})
        pattern = declared.get("schema", {}).get("pattern")
        if pattern and re.search(pattern, challenge) is None:
            problems.append(
                f"401 response of {op.operation_id} has WWW-Authenticate {challenge!r}, which does not "
                f"match the declared pattern {pattern!r}"
            )
    return problems


def rate_limit_problems(spec: ApiSpec, op: OperationInfo | None, status: int, headers: dict[str, str]) -> list[str]:
    """Rule 3: a 429 carries Retry-After (seconds or an HTTP date) and every RateLimit-* header the spec declares."""
    if status != 429:
        return []
    declared = spec.declared_headers(op, 429, "TooManyRequests")
    required = {"retry-after"} | {name for name, header in declared.items() if header.get("required")}
    problems: list[str] = []
    for name in sorted(required):
        value = headers.get(name)
        shown = "-".join(part.capitalize() for part in name.split("-")).replace("Ratelimit", "RateLimit")
        if value is None or not value.strip():
            problems.append(f"429 response has no {shown} header")
        elif name == "retry-after" and retry_after_seconds(value) is None:
            problems.append(f"429 response has an unreadable Retry-After {value!r} (expected seconds or an HTTP date)")
        elif name != "retry-after" and declared.get(name, {}).get("schema", {}).get("type") == "integer":
            if not value.strip().isdigit():
                problems.append(f"429 response header {shown}: {value!r} is not a non-negative integer")
    return problems


def _walk(value: Any, path: str = "") -> Any:
    """(path, key, value) for every member of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}/{key}", str(key), item
            yield from _walk(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield f"{path}/{index}", "", item
            yield from _walk(item, f"{path}/{index}")


def privacy_problems(content: bytes | str | Any, private_values: tuple[str, ...] = ()) -> list[str]:
    """Rule 4: no private field in a public profile - no email, password, token or key, no internal id."""
    body = _json(content) if isinstance(content, (bytes, str)) else content
    if body is None:
        return []
    problems: list[str] = []
    secrets = [v for v in private_values if v]
    for path, key, value in _walk(body):
        if key and PRIVATE_KEY.search(key):
            problems.append(f"public profile has a private field {path!r}")
        if isinstance(value, str):
            if EMAIL.search(value):
                problems.append(f"public profile field {path!r} holds an email address")
            elif JWT.search(value) or API_KEY.search(value):
                problems.append(f"public profile field {path!r} holds a token or API key")
            elif any(secret == value or (len(secret) >= 8 and secret in value) for secret in secrets):
                problems.append(f"public profile field {path!r} holds the user's private data")
    return problems


def _jwt_claims(value: str) -> dict[str, Any] | None:
    """The payload of a JWT-looking string (unverified), or None."""
    if not JWT.fullmatch(value.strip()):
        return None
    payload = value.strip().split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _is_refresh_token(key: str, value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if key.lower() == "refresh_token":
        return True
    claims = _jwt_claims(value)
    return claims is not None and any(str(claims.get(c, "")).lower() == "refresh" for c in ("type", "typ", "token_use"))


def secret_problems(spec: ApiSpec, op: OperationInfo | None, status: int, content: bytes | str | Any) -> list[str]:
    """Rule 5: secrets the response must not carry (see the module docstring); what the spec allows is read from the
    operation's response schemas (`spec.response_properties`)."""
    body = _json(content) if isinstance(content, (bytes, str)) else content
    if body is None:
        text = _text(content, 10_000) if isinstance(content, (bytes, str)) else ""
        return ["response carries PEM private key material"] if PEM_PRIVATE.search(text) else []
    may_refresh = op is not None and "refresh_token" in spec.response_properties(op)
    may_key = op is not None and spec.creates_api_keys(op) and 200 <= status < 300
    problems: list[str] = []
    for path, key, value in [("/", "", body), *_walk(body)]:  # the body itself may be a JWK
        if isinstance(value, dict) and "kty" in value:
            members = [m for m in JWK_PRIVATE_MEMBERS if m in value]
            if members:
                problems.append(f"JWK at {path!r} carries private member(s) {', '.join(members)}")
        if key and PASSWORD_KEY.search(key) and value not in (None, "", [], {}):
            problems.append(f"response has a password or hash field {path!r}")
        if not isinstance(value, str):
            continue
        if PASSWORD_HASH.search(value):
            problems.append(f"field {path!r} holds a password hash")
        if PEM_PRIVATE.search(value):
            problems.append(f"field {path!r} holds PEM private key material")
        if not may_refresh and _is_refresh_token(key, value):
            problems.append(f"field {path!r} holds a refresh token outside the token operations")
        if not may_key and FULL_API_KEY.search(value):
            problems.append(f"field {path!r} holds a full API key outside its creation response")
    return list(dict.fromkeys(problems))


def is_privacy_operation(op: OperationInfo) -> bool:
    """Public read operations that return a profile of someone else: their body must stay public-safe."""
    return op.public and op.method == "GET" and "public" in (op.path + op.operation_id).lower()


# Schemathesis checks ---------------------------------------------------------------------------------------------
_ACTIVE: dict[str, ApiSpec] = {}
_REGISTERED = False


def activate(spec: ApiSpec) -> None:
    """Make the checks apply to this spec's operations (they ignore every other API in the same process)."""
    _ACTIVE["spec"] = spec
    register()


def _context(case: Case[Any]) -> tuple[ApiSpec, OperationInfo] | None:
    spec = _ACTIVE.get("spec")
    if spec is None:
        return None
    op = spec.by_label.get(case.operation.label)
    return (spec, op) if op is not None else None


def _headers(response: Response) -> dict[str, str]:
    return {k.lower(): (v[0] if isinstance(v, list) and v else str(v)) for k, v in response.headers.items()}


def register() -> None:
    """Register the checks with Schemathesis once (they are enabled with `--checks all` and by the runner)."""
    global _REGISTERED
    if _REGISTERED:
        return
    import schemathesis
    from schemathesis.core.failures import Failure

    def failure_class(name: str) -> type[Failure]:
        return type(f"Xentree_{name}", (Failure,), {"code": CODES[name], "kind_title": TITLES[name], "__slots__": ()})

    classes = {name: failure_class(name) for name in SCHEMATHESIS_CHECKS}

    def fail(name: str, case: Case[Any], problems: list[str]) -> None:
        raise classes[name](operation=case.operation.label, title=TITLES[name], message="\n".join(problems))

    @schemathesis.check
    def auth_error_shape(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        found = _context(case)
        if found and (
            problems := auth_error_problems(
                found[0], response.status_code, _headers(response), response.content, found[1]
            )
        ):
            fail("auth_error_shape", case, problems)
        return None

    @schemathesis.check
    def rate_limit_headers(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        found = _context(case)
        if found and (problems := rate_limit_problems(found[0], found[1], response.status_code, _headers(response))):
            fail("rate_limit_headers", case, problems)
        return None

    @schemathesis.check
    def secrets_exposure(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        found = _context(case)
        if found and (problems := secret_problems(found[0], found[1], response.status_code, response.content)):
            fail("secrets_exposure", case, problems)
        return None

    @schemathesis.check
    def public_profile_privacy(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
        found = _context(case)
        if found and is_privacy_operation(found[1]) and response.status_code < 300:
            if problems := privacy_problems(response.content):
                fail("public_profile_privacy", case, problems)
        return None

    _REGISTERED = True
