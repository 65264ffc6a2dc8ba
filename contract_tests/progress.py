"""Progress display on stderr: one live status line on a terminal, plain lines for each stage and failure in CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from contract_tests.results import ERRORED, FAILED

MARKS = {"passed": "ok", "failed": "FAIL", "errored": "ERROR", "skipped": "skip"}


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self.start = time.perf_counter()
        self.phase = ""
        self.done = 0
        self.failed = 0
        self._width = 0

    def _line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def _status(self, text: str) -> None:
        if not self.live:
            return
        text = text[:120]
        self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self.stream.flush()
        self._width = len(text)

    def __call__(self, kind: str, name: str, status: str) -> None:
        elapsed = time.perf_counter() - self.start
        if kind == "stage":
            self._line(f"[{elapsed:6.1f}s] {name} {status}".rstrip())
            return
        if kind == "phase":
            self.phase = name
            self._line(f"[{elapsed:6.1f}s]   phase {name}")
            return
        self.done += 1
        if status in (FAILED, ERRORED):
            self.failed += 1
            self._line(f"[{elapsed:6.1f}s]   {MARKS[status]:5} {name}")
        self._status(f"[{elapsed:6.1f}s] {self.phase or kind}: {self.done} done, {self.failed} failing - {name}")
