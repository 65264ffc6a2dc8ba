"""One exchange as the proxy saw it: what was forwarded, what came back, and how much of each body was kept.

Bodies are forwarded as they stream; the copy kept for validation stops at a bound (`BoundedBuffer`), so a 5 GB
download costs the proxy no more memory than a small one. `truncated` says a body was larger than what was kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MAX_VALIDATED_BODY = 2 * 1024 * 1024  # 2 MiB: larger bodies are forwarded but reported "not validated: too large"


class BoundedBuffer:
    """Keeps the first `limit` bytes of a stream and counts the rest."""

    def __init__(self, limit: int = MAX_VALIDATED_BODY) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.kept = 0
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.kept < self.limit and chunk:
            part = chunk[: self.limit - self.kept]
            self.parts.append(part)
            self.kept += len(part)

    @property
    def truncated(self) -> bool:
        return self.size > self.kept

    def content(self) -> bytes:
        return b"".join(self.parts)


@dataclass
class Captured:
    """A forwarded request and its answer (or the reason there was none)."""

    method: str
    path: str  # the raw path as received (percent-encoding untouched)
    query: str  # the raw query string, without `?`
    request_headers: list[tuple[str, str]]
    request_body: bytes = b""
    request_size: int = 0
    request_truncated: bool = False
    status: int = 0
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    response_size: int = 0
    response_truncated: bool = False
    started: float = field(default_factory=time.time)  # wall clock, for the HAR
    elapsed: float = 0.0  # seconds from the request to the end of the answer
    upstream_error: str | None = None  # the upstream did not answer (the proxy answered 502)
    enforced: str | None = None  # --enforce replaced the answer with a 502 naming this violation

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def header(self, name: str, response: bool = True) -> str | None:
        for key, value in self.response_headers if response else self.request_headers:
            if key.lower() == name:
                return value
        return None
