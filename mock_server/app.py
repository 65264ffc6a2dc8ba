"""The ASGI wiring of a running mock (mock_server.runtime): one route per spec path into the pipeline, plus docs,
the spec files and the /__mock__ controls, CORS, the access log and journal, and errors in the spec's shape.

`Mock`, `Settings` and `build_mock` live in mock_server.runtime; they are imported here for the callers that build
an app from settings (`create_app(Settings(...))`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
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

from mock_server import control, docs
from mock_server.errors import ApiError
from mock_server.pipeline import Pipeline
from mock_server.runtime import Mock, Settings, build_mock
from mock_server.spec import Operation, route_order

log = logging.getLogger("xentree.mock")

__all__ = ["EXPOSED_HEADERS", "Mock", "Settings", "build_mock", "create_app", "is_control_path"]

EXPOSED_HEADERS = [
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "WWW-Authenticate",
    "Preference-Applied",
    "X-Mock-Warning",
]


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
    order = _route_plan(tuple(by_path))
    routes: list[SpecRoute] = []
    for path, shadow_indexes in order:
        ops = by_path[path]
        shadows = [routes[i] for i in shadow_indexes]
        routes.append(SpecRoute(path, _endpoint(mock.pipeline, ops), list(ops), shadows))
    return list(routes)


@lru_cache(maxsize=8)
def _route_plan(paths: tuple[str, ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The paths in matching order, each with the earlier ones that can match the same URL: the same for every
    mock of a spec set, so computed once per process (a test suite builds hundreds of mocks)."""
    ordered = sorted(paths, key=route_order)
    return tuple(
        (path, tuple(i for i, earlier in enumerate(ordered[:n]) if _overlap(earlier, path)))
        for n, path in enumerate(ordered)
    )


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
            self.mock.record(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode(),
                operation_id=op,
                status=status,
                duration_ms=round(millis, 2),
                identity=who,
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
