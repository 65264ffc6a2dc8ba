"""The request pipeline, the same for every operation:

    authenticate → rate-limit → validate → (faults, Prefer) → handler or generator → validate response (strict)

Authentication comes before validation so that a caller without credentials learns nothing about the input rules
(as in FastAPI, where security dependencies run before body validation). The pipeline knows operations, never
domains: a handler is looked up by operationId, and an operation without one is answered from its schema.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from mock_server.clock import Clock
from mock_server.domains import Call, Handler, Result
from mock_server.errors import ApiError
from mock_server.generate import Generator
from mock_server.limits import RateLimiter
from mock_server.security import Authenticator, Tokens, basic_credentials
from mock_server.spec import Operation, Spec
from mock_server.store import Store
from mock_server.validation import read_body, response_violations, validate_parameters

MAX_DELAY_MS = 30_000


@dataclass(frozen=True)
class Prefer:
    """RFC 7240 `Prefer` controls, Prism-compatible: code=NNN, example=NAME, dynamic=true|false, delay=MS."""

    code: int | None = None
    example: str | None = None
    dynamic: bool | None = None
    delay_ms: int = 0

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        if not header:
            return cls()
        values: dict[str, str] = {}
        for part in header.replace(";", ",").split(","):
            key, _, value = part.strip().partition("=")
            values[key.strip().lower()] = unquote(value.strip().strip('"'))
        code = values.get("code", "")
        delay = values.get("delay", "")
        return cls(
            code=int(code) if code.isdigit() else None,
            example=values.get("example") or None,
            dynamic={"true": True, "false": False}.get(values.get("dynamic", "").lower()),
            delay_ms=min(int(delay), MAX_DELAY_MS) if delay.isdigit() else 0,
        )


@dataclass
class Fault:
    latency_ms: int = 0
    error_rate: float = 0.0
    status: int = 500


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    injected: bool = False  # a fault asked for through the control API: exempt from the strict contract check


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        tokens: Tokens,
        limiter: RateLimiter,
        generator: Generator,
        handlers: dict[str, Handler],
        strict: bool,
        seed: int,
        specs: list[Spec],
    ) -> None:
        self.store = store
        self.clock = clock
        self.tokens = tokens
        # Each API has its own security schemes and error shape; everything else is shared.
        self.auth = {s.name: Authenticator(tokens, store, clock, s.schemes) for s in specs}
        self.shapes = {s.name: s.error_shape for s in specs}
        self.limiter = limiter
        self.generator = generator
        self.handlers = handlers
        self.strict = strict
        self.faults: dict[str, Fault] = {}
        self.tombstones: set[tuple[str, str]] = set()  # (path parameter, value) deleted via a generated DELETE
        self.seed = seed
        self._fault_rng = random.Random(seed)

    def reset(self, seed: int) -> None:
        self.seed = seed
        self.tombstones.clear()
        self.limiter.reset()

    async def __call__(self, op: Operation, request: Request) -> Response:
        request.scope["xentree.operation"] = op.operation_id
        client = request.client.host if request.client else None
        answer = await self._answer(op, request, client)
        if self.strict and not answer.injected:
            answer = self._enforce_contract(op, answer)
        return _render(answer)

    async def _answer(self, op: Operation, request: Request, client: str | None) -> Answer:
        rate_headers: dict[str, str] = {}
        try:
            identity = self.auth[op.api].authenticate(op, request.headers, client)
            if identity is not None:
                request.scope["xentree.identity"] = identity.username
            rate_headers = self.limiter.hit(identity.rate_key if identity else f"ip:{client}")
            params = validate_parameters(op, request)
            body = await read_body(op, request)
            prefer = Prefer.parse(request.headers.get("prefer"))
            await self._apply_faults(op, prefer)
            call = Call(params["path"], params["query"], params["header"], body, identity, self.store, self.clock,
                        self.tokens, client, seed=self.seed)  # fmt: skip
            if "basic" in self.auth[op.api].accepted(op):
                call.extra["basic"] = basic_credentials(request.headers.get("authorization"))
            answer = self._respond(op, call, prefer, request)
        except ApiError as exc:
            answer = Answer(exc.status, exc.body(self.shapes[op.api]), exc.headers, injected=exc.error == "injected_fault")
        answer.headers = {**rate_headers, **answer.headers}
        return answer

    async def _apply_faults(self, op: Operation, prefer: Prefer) -> None:
        fault = self.faults.get(op.operation_id)
        delay = prefer.delay_ms + (fault.latency_ms if fault else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if fault and fault.error_rate and self._fault_rng.random() < fault.error_rate:
            raise ApiError(fault.status, "injected_fault", f"Fault injected by the mock control API for {op.operation_id}")

    def _respond(self, op: Operation, call: Call, prefer: Prefer, request: Request) -> Answer:
        headers: dict[str, str] = {}
        if prefer.code is not None:
            if prefer.code in op.responses:
                headers["Preference-Applied"] = f"code={prefer.code}"
                return self._generated(op, prefer.code, prefer, request, call, headers)
            headers["X-Mock-Warning"] = f"Prefer code={prefer.code} is not documented for {op.operation_id}; ignored"
        handler = self.handlers.get(op.operation_id)
        if handler is None:
            return self._generated(op, op.success_status, prefer, request, call, headers)
        if op.method in ("GET", "HEAD"):
            result = handler(call)  # reads: handlers run without awaiting, so nothing interleaves anyway
        else:
            with self.store.transaction():  # writes: all of the handler's changes land, or none
                result = handler(call)
        if isinstance(result, Result):
            return Answer(result.status or op.success_status, result.body, headers)
        return Answer(op.success_status, result, headers)

    def _generated(
        self, op: Operation, status: int, prefer: Prefer, request: Request, call: Call, headers: dict[str, str]
    ) -> Answer:
        """Answer from the spec alone: a named or first example, else Faker data from the response schema."""
        if status < 300 and 404 in op.responses:
            for name, v in call.path.items():
                if (name, str(v)) in self.tombstones:
                    raise ApiError(404, "not_found", f"{name} {v} was deleted")
        if op.method == "DELETE" and status < 300:
            self.tombstones.update((name, str(v)) for name, v in call.path.items())
        spec = op.responses[status]
        if spec.media is None:
            return Answer(status, None, headers)
        media = spec.media
        if prefer.example is not None:
            if prefer.example in media.examples:
                headers["Preference-Applied"] = f"example={prefer.example}"
                return Answer(status, media.examples[prefer.example], headers)
            names = ", ".join(media.examples) or "none"
            headers["X-Mock-Warning"] = f"No example named {prefer.example!r} (available: {names}); ignored"
        static = [*media.examples.values(), *media.schema.get("examples", [])]
        if static and prefer.dynamic is not True:
            return Answer(status, static[0], headers)
        key = f"{op.operation_id}:{status}:{request.url.path}?{request.url.query}"
        value = self.generator.value(media.schema, key=key)
        if isinstance(value, dict) and isinstance(call.body, dict):
            value = _echo_input(value, call.body, media.validator)
        return Answer(status, value, headers)

    def _enforce_contract(self, op: Operation, answer: Answer) -> Answer:
        """Strict mode: a response that breaks the spec becomes a loud 500 naming the field and the rule."""
        problems = response_violations(op, answer.status, answer.body)
        if not problems:
            return answer
        message = f"Mock response for {op.operation_id} ({answer.status}) breaks the spec: " + "; ".join(problems)
        return Answer(500, {"detail": {"error": "response_contract_violation", "message": message, "errors": problems}})


def _echo_input(value: dict[str, Any], body: dict[str, Any], validator: Any) -> dict[str, Any]:
    """Generated answers to writes repeat what the client sent, where the field exists and stays valid."""
    merged = {**value, **{k: v for k, v in body.items() if k in value and type(v) is type(value[k])}}
    return merged if validator.is_valid(merged) else value


def _render(answer: Answer) -> Response:
    if answer.body is None or answer.status == 204:
        return Response(status_code=answer.status, headers=answer.headers)
    content = json.dumps(answer.body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=answer.status, headers=answer.headers, media_type="application/json")
