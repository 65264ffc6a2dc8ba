"""The forwarding half of the proxy: an ASGI app that passes every request to the upstream and every answer back.

Transparency is the point: the method, the raw path and query (the ASGI scope's `raw_path` and `query_string`,
never decoded and re-encoded), every header except the hop-by-hop ones (RFC 9110 7.6.1, and those `Connection`
names), and the bodies, streamed both ways with httpx (`aiter_raw`: a compressed answer stays compressed), status
codes included. Only `Host` names the upstream, as any reverse proxy does (`upstream`: one upstream connection
per downstream connection). The copy kept for validation is bounded
(`BoundedBuffer`). The watcher is told about each exchange after its answer has gone out; with `--enforce` the
answer is held (when it fits the bound) until the watcher has judged it, and a violation becomes a 502.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import anyio.to_thread
import httpx

from contract_tests.proxy.capture import MAX_VALIDATED_BODY, BoundedBuffer, Captured
from contract_tests.proxy.upstream import Upstream

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer"}
    | {"trailers", "transfer-encoding", "upgrade"}
)


class Watcher(Protocol):
    def submit(self, captured: Captured) -> None:
        """Check and record an exchange whose answer went out (may queue the work)."""

    def judge(self, captured: Captured) -> bytes | None:
        """Check and record an exchange now; the Error-shaped 502 body naming a violation, or None to pass it."""

    def unanswered_body(self, captured: Captured) -> bytes:
        """The Error-shaped 502 body for a request the upstream did not answer."""


def forwardable(headers: list[tuple[bytes, bytes]], *, drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Headers without the hop-by-hop ones (and those the `Connection` header names), in their order."""
    decoded = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    named = {t.strip().lower() for k, v in decoded if k.lower() == "connection" for t in v.split(",")}
    return [(k, v) for k, v in decoded if k.lower() not in HOP_BY_HOP | named | drop]


class ProxyApp:
    def __init__(
        self,
        upstream: str,
        watcher: Watcher,
        *,
        enforce: bool = False,
        timeout: float = 30.0,
        tls_verify: bool = True,
        limit: int = MAX_VALIDATED_BODY,
    ) -> None:
        self.upstream = httpx.URL(upstream)
        self.prefix = self.upstream.raw_path.split(b"?")[0].rstrip(b"/")
        self.watcher = watcher
        self.enforce = enforce
        self.timeout = timeout
        self.tls_verify = tls_verify
        self.limit = limit
        self.connections = Upstream(tls_verify=tls_verify, timeout=timeout)

    async def aclose(self) -> None:
        await self.connections.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _url(self, scope: Scope) -> httpx.URL:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        return self.upstream.copy_with(raw_path=self.prefix + raw_path + (b"?" + query if query else b""))

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        headers = forwardable(scope["headers"], drop=frozenset({"host"}))
        captured = Captured(
            method=scope["method"],
            path=raw_path.decode("latin-1"),
            query=(scope.get("query_string") or b"").decode("latin-1"),
            request_headers=headers,
        )
        kept = BoundedBuffer(self.limit)
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        content = _request_body(receive, kept) if has_body else None
        request = self.connections.request(scope["method"], self._url(scope), headers, content)
        client = scope.get("client")
        key = (client[0], client[1]) if client else None
        transport = self.connections.acquire(key)
        try:
            await self._exchange(transport, request, captured, kept, send, started)
        finally:
            await self.connections.release(key, transport)

    async def _exchange(
        self,
        transport: httpx.AsyncHTTPTransport,
        request: httpx.Request,
        captured: Captured,
        kept: BoundedBuffer,
        send: Send,
        started: float,
    ) -> None:
        try:
            response = await transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            _keep_request(captured, kept)
            captured.upstream_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            captured.status = 502
            captured.elapsed = time.perf_counter() - started
            body = self.watcher.unanswered_body(captured)
            self.watcher.submit(captured)
            await _answer(send, 502, [("content-type", "application/json")], body)
            return
        try:
            await self._relay(response, captured, kept, send, started)
        finally:
            await response.aclose()

    async def _relay(
        self, response: httpx.Response, captured: Captured, kept: BoundedBuffer, send: Send, started: float
    ) -> None:
        captured.status = response.status_code
        captured.response_headers = forwardable(response.headers.raw)
        answer = BoundedBuffer(self.limit)
        chunks = response.aiter_raw()
        held: list[bytes] = []
        if self.enforce:
            async for chunk in chunks:
                held.append(chunk)
                answer.add(chunk)
                if answer.truncated:
                    break
            else:
                _keep(captured, kept, answer, started)
                verdict = await anyio.to_thread.run_sync(self.watcher.judge, captured)
                if verdict is not None:
                    await _answer(send, 502, [("content-type", "application/json")], verdict)
                else:
                    await _answer(send, captured.status, captured.response_headers, b"".join(held))
                return
        start = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in captured.response_headers]
        await send({"type": "http.response.start", "status": captured.status, "headers": start})
        # One chunk is always held back: the exchange is submitted before the client can have the whole answer,
        # so whoever has seen an answer can wait for its checks (`Recorder.drain`).
        pending = b"".join(held)
        async for chunk in chunks:
            answer.add(chunk)
            if pending:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
            pending = chunk
        _keep(captured, kept, answer, started)
        self.watcher.submit(captured)
        await send({"type": "http.response.body", "body": pending, "more_body": False})


async def _request_body(receive: Receive, kept: BoundedBuffer) -> AsyncIterator[bytes]:
    """The client's body as it arrives, a bounded copy kept on the way."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        chunk = message.get("body", b"")
        kept.add(chunk)
        if chunk:
            yield chunk
        if not message.get("more_body"):
            return


def _keep_request(captured: Captured, kept: BoundedBuffer) -> None:
    captured.request_body, captured.request_size, captured.request_truncated = kept.content(), kept.size, kept.truncated


def _keep(captured: Captured, kept: BoundedBuffer, answer: BoundedBuffer, started: float) -> None:
    _keep_request(captured, kept)
    captured.response_body, captured.response_size = answer.content(), answer.size
    captured.response_truncated = answer.truncated
    captured.elapsed = time.perf_counter() - started


async def _answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    listed = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if not any(k.lower() == "content-length" for k, _ in headers):
        listed.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": listed})
    await send({"type": "http.response.body", "body": body, "more_body": False})
