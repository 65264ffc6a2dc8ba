"""Per-identity token buckets with IETF `RateLimit-*` headers and `Retry-After` on 429; the same buckets, per
client address, count failed authentications (a tighter budget that only failures spend).

Buckets refill on the monotonic wall clock, not the mock clock: a frozen mock clock must not lock a client out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from mock_server.errors import ApiError


@dataclass(frozen=True)
class RateLimit:
    capacity: int  # burst size
    period: float  # seconds to refill an empty bucket

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """`1000/60` = 1000 requests per 60 s; `0` or `off` disables limiting."""
        if text.strip().lower() in ("0", "off", "none"):
            return None
        count, _, seconds = text.partition("/")
        limit = cls(int(count), float(seconds or 60))
        if limit.capacity < 1 or limit.period <= 0:
            raise ValueError(f"invalid rate limit {text!r}")
        return limit


class RateLimiter:
    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    def reset(self) -> None:
        self._buckets.clear()

    def check(self, key: str, error: str, message: str) -> None:
        """Raise the 429 when `key`'s bucket is empty, without taking a token (for budgets spent only on failure)."""
        if self.limit is None or key not in self._buckets:
            return
        capacity, rate = self.limit.capacity, self.limit.capacity / self.limit.period
        tokens, last = self._buckets[key]
        tokens = min(capacity, tokens + (time.monotonic() - last) * rate)
        if tokens < 1:
            retry = max(1, math.ceil((1 - tokens) / rate))
            headers = self._headers(capacity, 0, math.ceil((capacity - tokens) / rate))
            raise ApiError(
                429, error, f"{message}; retry after {retry} s", headers={**headers, "Retry-After": str(retry)}
            )

    def spend(self, key: str) -> None:
        """Take one token for `key` if there is one (a failure is counted, never refused itself)."""
        try:
            self.hit(key)
        except ApiError:
            pass

    def hit(self, key: str) -> dict[str, str]:
        """Take one token for `key`; returns the headers to send, or raises the 429."""
        if self.limit is None:
            return {}
        capacity, rate = self.limit.capacity, self.limit.capacity / self.limit.period
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(capacity), now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < 1:
            retry = max(1, math.ceil((1 - tokens) / rate))
            self._buckets[key] = (tokens, now)
            headers = self._headers(capacity, 0, math.ceil((capacity - tokens) / rate))
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests; retry after {retry} s",
                headers={**headers, "Retry-After": str(retry)},
            )
        tokens -= 1
        self._buckets[key] = (tokens, now)
        return self._headers(capacity, int(tokens), math.ceil((capacity - tokens) / rate))

    @staticmethod
    def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
        return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset)}
