"""Connections to the upstream: one small httpx transport per downstream connection.

httpx's shared connection pool degrades badly with many concurrent requests (upstream issue encode/httpx#3215:
on this machine 32 concurrent requests through one `AsyncClient` made 95 requests/s, the same 32 over their own
connections 2,767). A downstream HTTP/1.1 connection carries one request at a time, so giving each its own
transport (keyed by the client's address and port, kept while idle, the least recently used closed past `keep`)
keeps the proxy's cost per request flat, and keeps the upstream's view natural: one connection per client.
All of them share one TLS context: building one reads and parses the whole CA bundle (~30 ms of CPU on this
machine), which each new downstream connection would otherwise pay, even to a plain-HTTP upstream.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import httpx

Key = tuple[Any, ...]


class Upstream:
    def __init__(self, *, tls_verify: bool = True, timeout: float = 30.0, keep: int = 256) -> None:
        self.tls = httpx.create_ssl_context(verify=tls_verify)
        self.timeout = httpx.Timeout(timeout).as_dict()
        self.keep = keep
        self.idle: OrderedDict[Key, httpx.AsyncHTTPTransport] = OrderedDict()

    def _new(self) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(verify=self.tls, limits=httpx.Limits(max_connections=4), retries=0)

    def acquire(self, key: Key | None) -> httpx.AsyncHTTPTransport:
        """The downstream connection's transport (a fresh one for a client without an address)."""
        found = self.idle.pop(key, None) if key is not None else None
        return found or self._new()

    async def release(self, key: Key | None, transport: httpx.AsyncHTTPTransport) -> None:
        if key is None:
            await transport.aclose()
            return
        self.idle[key] = transport
        while len(self.idle) > self.keep:
            _, oldest = self.idle.popitem(last=False)
            await oldest.aclose()

    def request(self, method: str, url: httpx.URL, headers: list[tuple[str, str]], content: Any) -> httpx.Request:
        """The request as received; httpx adds only `Host` (the upstream's) and framing the body needs."""
        return httpx.Request(method, url, headers=headers, content=content, extensions={"timeout": self.timeout})

    async def aclose(self) -> None:
        while self.idle:
            _, transport = self.idle.popitem()
            await transport.aclose()
