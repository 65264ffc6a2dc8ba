"""Run the proxy: uvicorn serving `ProxyApp` until SIGINT, SIGTERM or `--duration`, then the reports.

uvicorn's own signal handling re-raises the signal once it has shut down, which would end the process before the
reports are written; `Server` keeps the graceful shutdown and drops the re-raise, so stopping the proxy (Ctrl-C,
`kill`, a CI job's timeout) always leaves the four reports behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import uvicorn

from contract_tests.proxy import APIS
from contract_tests.proxy.capture import MAX_VALIDATED_BODY
from contract_tests.proxy.forwarding import ProxyApp
from contract_tests.proxy.observe import SpecObserver
from contract_tests.proxy.record import Recorder
from contract_tests.resources import spec_path
from contract_tests.results import EXIT_OK, RunResult
from contract_tests.spec import ApiSpec


@dataclass
class ProxyOptions:
    upstream: str
    host: str = "127.0.0.1"
    port: int = 4020
    api: str = "xentree"  # xentree | xp-ledger | both
    spec: Path | None = None  # instead of the packaged spec (one API only)
    report_dir: Path | None = Path("contract-report")
    har: Path | None = None
    enforce: bool = False
    duration: float | None = None
    tls_verify: bool = True
    request_timeout: float = 30.0
    strict_inferred: bool = False
    sanitize: bool = True
    max_body: int = MAX_VALIDATED_BODY
    live: TextIO | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "api": self.api, "enforce": self.enforce, "max_body": self.max_body}


def build(options: ProxyOptions) -> tuple[ProxyApp, Recorder]:
    """The ASGI app and the recorder behind it, for any server (the CLI's uvicorn, a test's thread)."""
    apis = APIS[options.api]
    observers = [
        SpecObserver(
            api,
            ApiSpec.load(options.spec if options.spec and len(apis) == 1 else spec_path(api)),
            strict_inferred=options.strict_inferred,
            sanitize=options.sanitize,
        )
        for api in apis
    ]
    recorder = Recorder(
        observers,
        options.upstream,
        options=options.describe(),
        har=options.har,
        live=options.live,
        sanitize=options.sanitize,
    )
    app = ProxyApp(
        options.upstream,
        recorder,
        enforce=options.enforce,
        timeout=options.request_timeout,
        tls_verify=options.tls_verify,
        limit=options.max_body,
    )
    return app, recorder


class Server(uvicorn.Server):
    """uvicorn that shuts down gracefully on SIGINT/SIGTERM without re-raising the signal afterwards."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(sig: int, frame: FrameType | None) -> None:
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def config(app: ProxyApp, host: str, port: int) -> uvicorn.Config:
    """uvicorn adds no `Server` or `Date` header of its own: the upstream's pass through unchanged."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=False,
    )


async def _serve(server: Server, duration: float | None) -> None:
    task = asyncio.create_task(server.serve())
    if duration is not None:
        asyncio.get_running_loop().call_later(duration, lambda: setattr(server, "should_exit", True))
    await task


def run(options: ProxyOptions, out: TextIO | None = None) -> list[RunResult]:
    """Serve until stopped, then write the reports; the results, one per API."""
    out = out or sys.stdout
    app, recorder = build(options)
    server = Server(config(app, options.host, options.port))
    print(
        f"xentree-contract proxy: http://{options.host}:{options.port} -> {options.upstream} "
        f"({options.api}{', enforcing' if options.enforce else ''}); Ctrl-C writes the reports",
        file=out,
        flush=True,
    )
    try:
        asyncio.run(_serve(server, options.duration))
    finally:
        results = recorder.finish()
        if options.report_dir is not None:
            recorder.write_reports(options.report_dir)
        recorder.close()
    if not server.started:
        raise SystemExit(f"xentree-contract proxy: could not listen on {options.host}:{options.port}")
    return results


def exit_code(results: list[RunResult]) -> int:
    return max((r.exit_code for r in results), default=EXIT_OK)
