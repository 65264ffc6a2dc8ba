"""Build the Starlette app from the spec: one route per spec path, plus docs, the spec files and /__mock__ controls."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import control, docs, domains, fixtures, worlds
from mock_server.clock import Clock, iso_at
from mock_server.domains import Call
from mock_server.errors import ApiError
from mock_server.generate import Generator
from mock_server.limits import RateLimit, RateLimiter
from mock_server.pipeline import Pipeline
from mock_server.resources import spec_path
from mock_server.security import Tokens
from mock_server.spec import Operation, Spec, load_spec, route_order
from mock_server.store import Store

log = logging.getLogger("xentree.mock")

EXPOSED_HEADERS = [
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "WWW-Authenticate",
    "Preference-Applied",
    "X-Mock-Warning",
]


@dataclass
class Settings:
    api: str = "xentree"  # one spec name, or several separated by commas (the first is the primary one)
    seed: int = 0
    state: Path | None = None
    strict: bool = False
    admin_token: str | None = None
    rate_limit: str = "6000/60"
    cors_origins: list[str] = field(default_factory=lambda: ["*"])
    fixture: str = "demo"
    frozen_at: datetime | None = None
    journal_size: int = 500
    access_log: bool = True
    host: str = "127.0.0.1"  # the address the server is bound to (decides the default token signing secret)
    jwt_secret: str | None = None  # sign tokens with this secret (a team sharing one mock)
    deterministic_tokens: bool | None = None  # None: deterministic on loopback, random beyond it
    auth_failure_limit: str = "10/60"  # failed authentications per client address (loopback exempt), or 'off'
    control_hosts: list[str] = field(default_factory=list)  # extra Host names /__mock__ answers to (control.py)
    control_origins: list[str] = field(default_factory=list)  # extra Origins allowed to drive /__mock__ (control.py)

    @property
    def apis(self) -> list[str]:
        return [name.strip() for name in self.api.split(",") if name.strip()]


@dataclass
class Mock:
    """Everything the running mock holds; the control API reads and resets it."""

    settings: Settings
    spec: Spec  # the primary API
    specs: dict[str, Spec]
    store: Store
    clock: Clock
    tokens: Tokens
    pipeline: Pipeline
    credentials: fixtures.Credentials = field(default_factory=fixtures.Credentials)
    journal: deque[dict[str, Any]] = field(default_factory=deque)
    started: float = field(default_factory=time.time)
    reusable: bool = False  # an in-memory world with seed-derived tokens: may be copied from a seeded template

    def load_fixture(self, name: str) -> None:
        call = Call({}, {}, {}, None, None, self.store, self.clock, self.tokens, seed=self.settings.seed)
        with self.store.transaction():
            self.credentials = fixtures.load(call, name, self.settings.seed)
            # Kept with the state, so a restarted mock still lists (and a --state file still knows) its demo logins.
            self.store.set_meta("credentials", json.dumps(asdict(self.credentials)))
        self.settings.fixture = name

    def reset(self, fixture: str | None = None, seed: int | None = None) -> None:
        """Back to the start: empty store, ids reseeded, fixtures loaded again, the clock as it was at startup
        (frozen at `--freeze-at`, or real time), every token issued so far refused (a new token epoch)."""
        if seed is not None:
            self.settings.seed = seed
        self.clock.restart()
        self.pipeline.reset(self.settings.seed)
        self.journal.clear()
        self.seed_world(fixture or self.settings.fixture)
        self.tokens.new_epoch()  # after the copy, which brings the template's bookkeeping

    def seed_world(self, fixture: str) -> None:
        """The fixture world in the store: copied when this process seeded it before, else seeded (and kept)."""
        world = (
            worlds.key(self.settings.apis, self.settings.seed, fixture, self.clock.now() if self.clock.frozen else None)
            if self.reusable
            else None
        )
        if world is not None and worlds.restore(world, self.store):
            self.credentials = fixtures.Credentials(**json.loads(self.store.meta("credentials") or "{}"))
            self.settings.fixture = fixture
            for rebuild in domains.COPY_HOOKS:
                rebuild(self.store)
            return
        self.store.clear()
        self.store.reseed(self.settings.seed)
        self.load_fixture(fixture)
        if world is not None:
            worlds.remember(world, self.store, domains.SCHEMAS)


LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def _seed_secret(seed: int) -> str:
    return hashlib.sha256(f"xentree-mock-jwt:{seed}".encode()).hexdigest()


def signing_secret(settings: Settings, store: Store) -> str:
    """The tokens' HS256 secret. Derived from the seed (so tokens are reproducible) only where nobody else can
    reach the mock: on loopback by default, or when asked with --deterministic-tokens. Beyond loopback it is
    random, kept in the state file so tokens survive a restart, unless --jwt-secret names one."""
    if settings.jwt_secret:
        return settings.jwt_secret
    deterministic = settings.deterministic_tokens
    if deterministic is None:
        deterministic = settings.host in LOOPBACK_HOSTS
    if deterministic:
        return _seed_secret(settings.seed)
    secret = store.meta("jwt_secret")
    if secret is None:
        secret = secrets.token_hex(32)
        store.set_meta("jwt_secret", secret)
    return secret


def build_mock(settings: Settings) -> Mock:
    specs = {name: load_spec(spec_path(name)) for name in settings.apis}
    spec = specs[settings.apis[0]]
    existing_state = settings.state is not None and settings.state.exists()
    domains.load_domains()
    store = Store(settings.state, seed=settings.seed, schemas=domains.SCHEMAS)
    clock = Clock(settings.frozen_at)
    tokens = Tokens(signing_secret(settings, store), clock, store)
    handlers = {k: v for k, v in domains.HANDLERS.items() if any(k in s.by_id for s in specs.values())}
    pipeline = Pipeline(
        store=store,
        clock=clock,
        tokens=tokens,
        limiter=RateLimiter(RateLimit.parse(settings.rate_limit)),
        generator=Generator(settings.seed, clock.now),
        handlers=handlers,
        strict=settings.strict,
        seed=settings.seed,
        specs=list(specs.values()),
        auth_failures=RateLimiter(RateLimit.parse(settings.auth_failure_limit)),
    )
    mock = Mock(settings, spec, specs, store, clock, tokens, pipeline, journal=deque(maxlen=settings.journal_size))
    mock.reusable = settings.state is None and tokens.secret == _seed_secret(settings.seed)
    if existing_state and store.counts().get("users"):
        # A persisted state file is reused as it is; ids continue on a stream of their own for this start.
        store.next_boot(settings.seed)
        saved = store.meta("credentials")
        mock.credentials = fixtures.Credentials(**json.loads(saved)) if saved else fixtures.Credentials()
    else:
        mock.seed_world(settings.fixture)
    return mock


def _endpoint(pipeline: Pipeline, by_method: dict[str, Operation]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        op = by_method[request.method if request.method != "HEAD" else "GET"]
        return await pipeline(op, request)

    return endpoint


class SpecRoute(Route):
    """A spec path. A URL that a more concrete spec path matches belongs to that path only, so
    `DELETE /api/api-keys/tenants` is a 405 of `/api/api-keys/tenants`, not `deleteApiKey(key_id="tenants")`."""

    def __init__(self, path: str, endpoint: Any, methods: list[str], shadowed_by: Sequence[Route]) -> None:
        super().__init__(path, endpoint, methods=methods, name=path)
        self.shadowed_by = shadowed_by
        self.app = self._serve

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as plain ASGI. Starlette's own wrapper would add a second layer of exception handlers around
        every request and every message sent; the app's ExceptionMiddleware applies the same handlers already."""
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and any(r.path_regex.match(scope["path"]) for r in self.shadowed_by):
            return Match.NONE, {}
        return match, child


def _overlap(a: str, b: str) -> bool:
    """Can one URL match both paths? Same length, and every segment pair equal or templated."""
    sa, sb = a.strip("/").split("/"), b.strip("/").split("/")
    return len(sa) == len(sb) and all(x == y or "{" in x or "{" in y for x, y in zip(sa, sb, strict=True))


def operation_routes(mock: Mock) -> list[BaseRoute]:
    by_path: dict[str, dict[str, Operation]] = {}
    for op in (op for spec in mock.specs.values() for op in spec.operations):
        by_path.setdefault(op.path, {})[op.method] = op
    routes: list[SpecRoute] = []
    for path, ops in sorted(by_path.items(), key=lambda item: route_order(item[0])):
        shadows = [r for r in routes if _overlap(r.path, path)]
        routes.append(SpecRoute(path, _endpoint(mock.pipeline, ops), list(ops), shadows))
    return list(routes)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 from the router, in the primary API's error shape."""
    assert isinstance(exc, HTTPException)
    messages = {404: f"No operation at {request.url.path}", 405: f"Method {request.method} is not allowed here"}
    errors = {404: "not_found", 405: "method_not_allowed"}
    error = ApiError(
        exc.status_code, errors.get(exc.status_code, "http_error"), messages.get(exc.status_code, str(exc.detail))
    )
    body = error.body(request.app.state.mock.spec.error_shape)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    error = ApiError(500, "internal_error", f"Unexpected mock error: {type(exc).__name__}: {exc}")
    return JSONResponse(error.body(request.app.state.mock.spec.error_shape), status_code=500)


class AccessLog:
    """Readable one-line access log and the request journal, for every request (404s and 405s included)."""

    def __init__(self, app: ASGIApp, mock: Mock) -> None:
        self.app = app
        self.mock = mock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/docs", "/__mock__/journal")):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            millis = (time.perf_counter() - start) * 1000
            op = scope.get("xentree.operation", "-")
            who = scope.get("xentree.identity", "-")
            self.mock.journal.append(
                {
                    "at": iso_at(self.mock.clock.timestamp()),
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope.get("query_string", b"").decode(),
                    "operation_id": op,
                    "status": status,
                    "duration_ms": round(millis, 2),
                    "identity": who,
                }
            )
            if self.mock.settings.access_log:
                log.info("%s %s -> %d  %s  %.1fms  %s", scope["method"], scope["path"], status, op, millis, who)


class SpecRouter(Router):
    """Starlette's router, with a dictionary in front for the many concrete paths: most requests skip the linear
    scan over every route (the scan remains for templated paths, 404s and 405s)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        super().__init__(routes=routes)
        self.exact = {
            r.path: r
            for r in routes
            if isinstance(r, Route) and "{" not in r.path and not getattr(r, "shadowed_by", ())
        }

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.exact.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is not None and route.methods and scope["method"] in route.methods and not scope.get("root_path"):
            # What route.matches(scope) answers for its own literal path and one of its methods, without the regex.
            scope.setdefault("router", self)
            scope.update(endpoint=route.endpoint, path_params=dict(scope.get("path_params", {})))
            await route.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)


class PublicCors:
    """CORS for everything a browser app calls (the APIs, docs, spec files), and none at all for the control API.

    - Any requested header is allowed (the preflight's `Access-Control-Request-Headers` are echoed), every method.
    - Credentials (`credentials: 'include'`) work: the request's origin is echoed with
      `Access-Control-Allow-Credentials: true` (a browser refuses `*` with credentials). With the default `*` this
      holds for every origin through `allow_origin_regex=".*"`: Starlette's `allow_origins=["*"]` echoes the origin
      for credentials only in newer releases (older ones only when a Cookie is sent, which a bearer-token app never
      does). With `--cors-origin` only those origins are echoed; others get no `Access-Control-Allow-Origin`.
    - `EXPOSED_HEADERS` are readable from JS (`Retry-After`, `RateLimit-*`, `WWW-Authenticate`, ...).
    - `/__mock__` and everything under it bypasses CORS entirely: no web page may read the credentials list or have
      a preflight for reset approved (control.py refuses foreign `Origin`s on top of this).
    """

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        any_origin = "*" in origins
        self.cors = CORSMiddleware(
            app,
            allow_origins=[] if any_origin else origins,
            allow_origin_regex=".*" if any_origin else None,
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=True,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.cors(scope, receive, send)
        elif is_control_path(scope.get("path", "")):
            await self.app(scope, receive, send)
        elif any(name == b"origin" for name, _ in scope["headers"]):
            await self.cors(scope, receive, send)
        else:  # no Origin (curl, a server, a test client): all CORSMiddleware would do is add `Vary: Origin`
            await self.app(scope, receive, _vary_origin(send))


def _vary_origin(send: Send) -> Send:
    """What CORSMiddleware sends for a request without an `Origin`: the response with `Origin` added to `Vary`,
    without parsing the request's headers again and wrapping every message in its machinery."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = message.get("headers", [])
            if any(name == b"vary" for name, _ in raw):
                headers = MutableHeaders(scope=message)  # exactly CORSMiddleware.send's join
                headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            else:
                message["headers"] = [*raw, (b"vary", b"Origin")]
        await send(message)

    return sender


def is_control_path(path: str) -> bool:
    """`/__mock__` or a path under it: the control API, which CORS must never open to other origins."""
    return path == "/__mock__" or path.startswith("/__mock__/")


def create_app(settings: Settings | None = None, mock: Mock | None = None) -> Starlette:
    mock = mock or build_mock(settings or Settings())
    routes: list[BaseRoute] = [*docs.routes(list(mock.specs.values())), *control.routes(), *operation_routes(mock)]
    middleware = [
        Middleware(AccessLog, mock=mock),
        Middleware(PublicCors, origins=mock.settings.cors_origins),
    ]
    app = Starlette(middleware=middleware, exception_handlers={HTTPException: _http_error, Exception: _crash})
    app.router = SpecRouter(routes)
    app.state.mock = mock
    return app
