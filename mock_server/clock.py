"""The one clock the whole mock reads: real time by default; frozen, set and advanced on request."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any


class Clock:
    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._start = frozen_at
        self.restart()

    def restart(self) -> None:
        """As at startup: frozen at the start instant if one was given, else real time with no offset."""
        self._offset = 0.0  # seconds added to real time while running
        self._frozen: float | None = self._start.timestamp() if self._start else None

    def timestamp(self) -> float:
        return self._frozen if self._frozen is not None else time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, at: datetime | None = None) -> None:
        self._frozen = at.timestamp() if at else self.timestamp()

    def unfreeze(self) -> None:
        """Keep running from the current mock time (the offset survives, so time never jumps back)."""
        if self._frozen is not None:
            self._offset = self._frozen - time.time()
            self._frozen = None

    def set(self, at: datetime) -> None:
        if self._frozen is not None:
            self._frozen = at.timestamp()
        else:
            self._offset = at.timestamp() - time.time()

    def advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds

    def state(self) -> dict[str, object]:
        return {"now": iso(self.now()), "frozen": self.frozen}


def iso(value: datetime) -> str:
    """RFC 3339 with a `Z`, the style of the docs' examples."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_second: list[Any] = [None, ""]  # the whole second iso_at formatted last, and its text without the fraction


def iso_at(timestamp: float) -> str:
    """`iso(datetime.fromtimestamp(timestamp, UTC))`, for the journal's stamp on every request without building a
    datetime: microseconds rounded half to even as `fromtimestamp` rounds them, the date and time of the second
    formatted once per second."""
    fraction, whole = math.modf(timestamp)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    if _second[0] != whole:
        _second[:] = [whole, datetime.fromtimestamp(whole, UTC).replace(tzinfo=None).isoformat()]
    return f"{_second[1]}.{micros:06d}Z" if micros else f"{_second[1]}Z"


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = ["Clock", "iso", "iso_at", "parse_instant", "timedelta"]
