"""The request pipeline, the same for every operation:

    authenticate → rate-limit → validate → (faults, Prefer) → handler or generator → validate response (strict)

Authentication comes before validation so that a caller without credentials learns nothing about the input rules
(as in FastAPI, where security dependencies run before body validation). The pipeline knows operations, never
domains: a handler is looked up by operationId, and an operation without one is answered from its schema.

A simulated status (`Prefer: code=NNN`) carries what the real one would: every header the spec declares for that
response (its example, else a generated value), a 429 the limiter's own numbers (`RateLimit-Remaining: 0`,
`RateLimit-Reset` = `Retry-After`), a 401 the challenge of the operation's security scheme. `Prefer` numbers are
ASCII digits only (`code=²` is not 2); anything else is ignored with an `X-Mock-Warning`, like an undocumented code.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from mock_server.clock import Clock
from mock_server.errors import ApiError
from mock_server.generate import Generator
from mock_server.limits import RateLimiter
from mock_server.registry import Call, Registry, Result
from mock_server.security import LOOPBACK_HOSTS, Authenticator, Tokens, basic_credentials
from mock_server.spec import Operation, Spec
from mock_server.store import Store
from mock_server.validation import read_body, response_violations, validate_parameters

MAX_DELAY_MS = 30_000
_ASCII_NUMBER = re.compile(r"[0-9]{1,9}")  # str.isdigit() would take '²' or '٣', which int() then refuses


@dataclass(frozen=True)
class Prefer:
    """RFC 7240 `Prefer` controls, Prism-compatible: code=NNN, example=NAME, dynamic=true|false, delay=MS."""

    code: int | None = None
    example: str | None = None
    dynamic: bool | None = None
    delay_ms: int = 0
    warnings: tuple[str, ...] = ()  # values that were not understood, reported in X-Mock-Warning

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        if not header:
            return NO_PREFERENCES
        values: dict[str, str] = {}
        for part in header.replace(";", ",").split(","):
            key, _, value = part.strip().partition("=")
            values[key.strip().lower()] = unquote(value.strip().strip('"'))
        warnings: list[str] = []
        delay = _number(values, "delay", warnings)
        return cls(
            code=_number(values, "code", warnings),
            example=values.get("example") or None,
            dynamic={"true": True, "false": False}.get(values.get("dynamic", "").lower()),
            delay_ms=min(delay, MAX_DELAY_MS) if delay is not None else 0,
            warnings=tuple(warnings),
        )


NO_PREFERENCES = Prefer()  # a request without `Prefer` (nearly all of them): one shared, immutable value


def _number(values: dict[str, str], key: str, warnings: list[str]) -> int | None:
    """A `Prefer` number: ASCII digits (at most 9) or nothing; anything else is noted and ignored."""
    raw = values.get(key, "")
    if _ASCII_NUMBER.fullmatch(raw):
        return int(raw)
    if raw:
        warnings.append(f"Prefer {key}={raw[:40]!a} is not a number of ASCII digits; ignored")
    return None


def _warn(headers: dict[str, str], message: str) -> None:
    headers["X-Mock-Warning"] = "; ".join(filter(None, [headers.get("X-Mock-Warning"), _header_safe(message)]))


def _header_safe(value: object) -> str:
    """Printable ASCII for a header value: what the client sent may hold CR/LF or characters latin-1 cannot encode."""
    return "".join(c if " " <= c <= "~" else "?" for c in (value if isinstance(value, str) else str(value)))


@dataclass
class Fault:
    latency_ms: int = 0
    error_rate: float = 0.0
    status: int = 500


@dataclass
class Reply:
    """What the pipeline will send, before rendering: from a handler's `Result`, the generator, or an error."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    injected: bool = False  # a fault asked for through the control API: exempt from the strict contract check
    simulated: bool = False  # a status asked for with `Prefer: code=`: gets the headers the spec declares for it


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        tokens: Tokens,
        limiter: RateLimiter,
        generator: Generator,
        registry: Registry,
        strict: bool,
        seed: int,
        specs: list[Spec],
        auth_failures: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.tokens = tokens
        # Each API has its own security schemes and error shape; everything else is shared.
        self.auth = {s.name: Authenticator(tokens, store, clock, s.schemes) for s in specs}
        self.shapes = {s.name: s.error_shape for s in specs}
        self.limiter = limiter
        # Failed authentications per client address (password, token, key, client secret): brute force gets 429.
        # Loopback callers are trusted, as by the control API.
        self.auth_failures = auth_failures or RateLimiter(None)
        self.generator = generator
        self.handlers = registry.handlers_for(specs)  # by operationId; the pipeline knows no domain
        self.strict = strict
        self.faults: dict[str, Fault] = {}
        self.tombstones: set[tuple[str, str]] = set()  # (path parameter, value) deleted via a generated DELETE
        self.seed = seed
        self._fault_rng = random.Random(seed)

    def reset(self, seed: int) -> None:
        self.seed = seed
        self.tombstones.clear()
        self.limiter.reset()
        self.auth_failures.reset()

    async def __call__(self, op: Operation, request: Request) -> Response:
        request.scope["xentree.operation"] = op.operation_id
        peer = request.scope.get("client")  # (host, port), as Request.client reads it, without building an Address
        client = peer[0] if peer else None
        reply = await self._reply(op, request, client)
        if self.strict and not reply.injected:
            reply = self._enforce_contract(op, reply)
        return _render(reply)

    async def _reply(self, op: Operation, request: Request, client: str | None) -> Reply:
        rate_headers: dict[str, str] = {}
        failure_key = f"auth-failures:{client}" if client not in LOOPBACK_HOSTS else None
        try:
            if failure_key:
                self.auth_failures.check(
                    failure_key,
                    "too_many_failed_authentications",
                    "Too many failed authentication attempts from this address",
                )
            headers = _headers_of(request.scope)
            identity = self.auth[op.api].authenticate(op, headers, client)
            if identity is not None:
                request.scope["xentree.identity"] = identity.username
            if self.limiter.limit is not None:
                rate_headers = self.limiter.hit(identity.rate_key if identity else f"ip:{client}")
            params = validate_parameters(op, request)
            body = await read_body(op, request)
            prefer = Prefer.parse(headers.get("prefer"))
            if prefer.delay_ms or self.faults:
                await self._apply_faults(op, prefer)
            call = Call(
                params["path"],
                params["query"],
                params["header"],
                body,
                identity,
                self.store,
                self.clock,
                self.tokens,
                client,
                seed=self.seed,
            )
            if "basic" in self.auth[op.api].accepted(op):
                call.basic = basic_credentials(headers.get("authorization"))
            reply = self._respond(op, call, prefer, request)
        except ApiError as exc:
            if exc.status == 401 and failure_key and self._presented_credentials(op, request):
                self.auth_failures.spend(failure_key)
            reply = Reply(
                exc.status, exc.body(self.shapes[op.api]), exc.headers, injected=exc.error == "injected_fault"
            )
        reply.headers = {**rate_headers, **reply.headers}
        if reply.simulated:
            reply.headers = self._simulated_headers(op, reply.status, reply.headers)
        return reply

    def _simulated_headers(self, op: Operation, status: int, headers: dict[str, str]) -> dict[str, str]:
        """What the real status would carry: a 429 the limiter's numbers, a 401 the scheme's challenge, then every
        header the spec declares for the response that the pipeline has not set (its example, else generated)."""
        headers = {**headers, **self._status_headers(op, status)}
        present = {name.lower() for name in headers}
        for name, header in op.responses[status].headers.items():
            if name.lower() in present or name.lower() == "content-type":  # OpenAPI: Content-Type is ignored here
                continue
            value = header.example
            if value is None:
                value = self.generator.value(header.schema, key=f"{op.operation_id}:{status}:header:{name}")
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=True)
            headers[name] = _header_safe(text)
        return headers

    def _status_headers(self, op: Operation, status: int) -> dict[str, str]:
        if status == 429 and self.limiter.limit is not None:
            limit = self.limiter.limit
            retry = str(max(1, math.ceil(limit.period / limit.capacity)))  # the wait for the next token
            return {
                "Retry-After": retry,
                "RateLimit-Limit": str(limit.capacity),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": retry,
            }
        if status == 401:
            kinds = self.auth[op.api].accepted(op).keys() - {"unknown"}
            scheme = "Basic" if kinds and kinds <= {"basic"} else "Bearer"  # the token endpoint challenges Basic
            return {"WWW-Authenticate": f'{scheme} realm="mock"'}
        return {}

    def _presented_credentials(self, op: Operation, request: Request) -> bool:
        """A 401 counts as a failed authentication when the caller tried some: a credential header, or a public
        operation that checks a secret (login, client credentials). A request without any is not a guess."""
        key_header = self.auth[op.api].key_header
        return op.public or "authorization" in request.headers or bool(key_header and key_header in request.headers)

    async def _apply_faults(self, op: Operation, prefer: Prefer) -> None:
        fault = self.faults.get(op.operation_id)
        delay = prefer.delay_ms + (fault.latency_ms if fault else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if fault and fault.error_rate and self._fault_rng.random() < fault.error_rate:
            raise ApiError(
                fault.status, "injected_fault", f"Fault injected by the mock control API for {op.operation_id}"
            )

    def _respond(self, op: Operation, call: Call, prefer: Prefer, request: Request) -> Reply:
        headers: dict[str, str] = {"X-Mock-Warning": "; ".join(prefer.warnings)} if prefer.warnings else {}
        if prefer.code is not None:
            if prefer.code in op.responses:
                headers["Preference-Applied"] = f"code={prefer.code}"
                reply = self._generated(op, prefer.code, prefer, request, call, headers)
                reply.simulated = True
                return reply
            _warn(headers, f"Prefer code={prefer.code} is not documented for {op.operation_id}; ignored")
        handler = self.handlers.get(op.operation_id)
        if handler is None:
            return self._generated(op, op.success_status, prefer, request, call, headers)
        if op.method in ("GET", "HEAD"):
            result = handler(call)  # reads: handlers run without awaiting, so nothing interleaves anyway
        else:
            with self.store.transaction(commit_on=_keeps_writes):  # writes: all of the handler's changes, or none
                result = handler(call)
        if isinstance(result, Result):
            return Reply(result.status or op.success_status, result.body, headers)
        return Reply(op.success_status, result, headers)

    def _generated(
        self, op: Operation, status: int, prefer: Prefer, request: Request, call: Call, headers: dict[str, str]
    ) -> Reply:
        """Reply from the spec alone: a named or first example, else Faker data from the response schema."""
        if status < 300 and 404 in op.responses:
            for name, v in call.path.items():
                if (name, str(v)) in self.tombstones:
                    raise ApiError(404, "not_found", f"{name} {v} was deleted")
        if op.method == "DELETE" and status < 300:
            self.tombstones.update((name, str(v)) for name, v in call.path.items())
        declared = op.responses[status]
        if declared.media is None:
            return Reply(status, None, headers)
        media = declared.media
        if prefer.example is not None:
            if prefer.example in media.examples:
                headers["Preference-Applied"] = f"example={prefer.example}"
                return Reply(status, media.examples[prefer.example], headers)
            names = ", ".join(media.examples) or "none"
            _warn(headers, f"No example named {prefer.example[:60]!r} (available: {names}); ignored")
        static = [*media.examples.values(), *media.schema.get("examples", [])]
        if static and prefer.dynamic is not True:
            return Reply(status, static[0], headers)
        key = f"{op.operation_id}:{status}:{request.url.path}?{request.url.query}"
        value = self.generator.value(media.schema, key=key)
        if isinstance(value, dict) and isinstance(call.body, dict):
            value = _echo_input(value, call.body, media.validator)
        return Reply(status, value, headers)

    def _enforce_contract(self, op: Operation, reply: Reply) -> Reply:
        """Strict mode: a response that breaks the spec becomes a loud 500 naming the field and the rule, in the API's
        own Error shape (Xentree's `detail` with `errors` strings, the ledger's top-level `issues` objects)."""
        problems = response_violations(op, reply.status, reply.body)
        if not problems:
            return reply
        listed = "; ".join(problem.as_text() for problem in problems)
        message = f"Mock response for {op.operation_id} ({reply.status}) breaks the spec: {listed}"
        error = ApiError(500, "response_contract_violation", message, issues=problems)
        return Reply(500, error.body(self.shapes[op.api]))


def _keeps_writes(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.keep_writes


def _echo_input(value: dict[str, Any], body: dict[str, Any], validator: Any) -> dict[str, Any]:
    """Generated answers to writes repeat what the client sent, where the field exists and stays valid."""
    merged = {**value, **{k: v for k, v in body.items() if k in value and type(v) is type(value[k])}}
    return merged if validator.is_valid(merged) else value


def _headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of a repeated one: what Starlette's `Headers.get`
    answers, read once, where every lookup would otherwise scan the list again (and raise for a missing one)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in found:
            found[key] = value.decode("latin-1")
    return found


# What `json.dumps(body, separators=(",", ":"), ensure_ascii=False)` runs, built once instead of at every call: the
# same C encoder with the same options, minus the circular-reference bookkeeping (a body is a tree of JSON values).
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_C_ENCODER = (
    c_make_encoder(None, _JSON.default, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)


def encode_json(body: Any) -> bytes:
    chunks = _C_ENCODER(body, 0) if _C_ENCODER is not None else _JSON.iterencode(body)
    return "".join(chunks).encode()


def _render(reply: Reply) -> Response:
    if reply.body is None or reply.status == 204:
        return Response(status_code=reply.status, headers=reply.headers)
    # A body may carry its encoding already (a domain's kept reply): the same bytes, without encoding them again.
    content = getattr(reply.body, "json_bytes", None) or encode_json(reply.body)
    # None takes Starlette's path for no headers: the same raw headers, without the lists built to search them.
    return Response(content, status_code=reply.status, headers=reply.headers or None, media_type="application/json")
