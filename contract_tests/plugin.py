"""pytest plugin (entry point `pytest11`): the Xentree mock and the contract suite as fixtures for any project.

Fixtures
- `xentree_mock_server` (session): the mock, strict and seeded, served by uvicorn in a thread on a free loopback
  port (or `--xentree-mock=process` for a separate `xentree-mock serve` process).
- `xentree_mock` (function): that server, reset before the test (fresh demo world for the seed, clock running,
  no faults), with helpers for the `/__mock__` controls: `reset`, `freeze`, `advance`, `set_clock`, `unfreeze`,
  `fault`, `clear_faults`, `journal`, `credentials`, `login`.
- `xentree_base_url` (function): `--xentree-base-url` / `XENTREE_BASE_URL` when given (a real deployment), else the
  mock's URL (reset before the test).
- `xentree_contract` (function): `run(**options) -> RunResult`, the contract suite against `xentree_base_url`; on
  the mock it also provokes a 429 (`probe_rate_limit`), which is why the mock runs with a small rate limit.
- `xentree_proxy` (session): the validating proxy (`WatchedProxy`) in front of `--xentree-base-url` or the mock;
  the session's traffic through `xentree_proxy.url` becomes the contract reports (`--xentree-proxy-report-dir`).

Options: `--xentree-seed N` (default 0), `--xentree-mock thread|process`, `--xentree-base-url URL`,
`--xentree-rate-limit` (the mock's limit, default `MOCK_RATE_LIMIT`: per identity, refilled before every test by
the reset, well above what a test or a contract run sends, and small enough that the probe reaches it in seconds;
runs against the mock give the probe a request budget that follows this limit; `off` disables it). Nothing here
runs unless a fixture is requested.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Self

import pytest
import requests

# Per identity, refilled by the reset before every test: twice what a default 25-example run sends with credentials
# (4,519 measured, all phases and scenarios; 3,161 with the fixture's 5 examples), one more every 0.72 s. The probe
# spends it on a public read (~2 ms a request here: about 20 s).
MOCK_RATE_LIMIT = "10000/7200"


def probe_budget(rate_limit: str) -> int:
    """`--probe-max-requests` for a run against the mock: enough to exhaust its bucket (it refills while the probe
    runs), so the probe follows the mock's limit instead of the run's default cap (10,000)."""
    count, _, _ = rate_limit.partition("/")
    return 2 * int(count) + 100 if count.strip().isdigit() and int(count) > 0 else 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20.0, path: str = "/api/health") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url + path, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


class ThreadServer:
    """Any ASGI app served by uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "off", **options}
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, **settings)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def start(self, health_path: str | None = "/api/health") -> ThreadServer:
        """Serve, and wait until uvicorn listens and (unless `health_path` is None) `health_path` answers."""
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn on port {self.port} stopped during start-up")
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError(f"uvicorn on port {self.port} did not start")
        if health_path is not None:
            wait_until_up(self.url, path=health_path)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ThreadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProcessServer:
    """The mock as a `python -m mock_server serve` child process on a free loopback port (the plugin's
    `--xentree-mock=process` and the project's own tests share this one helper).

    It counts as up once `/openapi.json` (served by every API) answers 200. Its output goes to a temporary file,
    never a pipe nobody reads (a chatty server would block on a full pipe), and `stop()` returns it. `command`
    replaces `python -m mock_server` (e.g. an installed `xentree-mock`); `cwd` and `env` are the child's (`env`
    replaces the environment when given)."""

    def __init__(
        self,
        *args: str,
        command: Sequence[str] | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.command = list(command or (sys.executable, "-m", "mock_server"))
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Self:
        cmd = [*self.command, "serve", "--port", str(self.port), *self.args]
        env = {**(os.environ if self.env is None else self.env), "PYTHONUNBUFFERED": "1"}
        self._output = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the mock exited during start-up: {self.stop()}")
            try:
                if requests.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the mock did not answer within {timeout} s: {self.stop()}")

    def stop(self, kill: bool = False) -> str:
        """Stop the process (SIGTERM, or SIGKILL with `kill`; SIGKILL anyway after 10 s) and return its output."""
        if self.proc is None:
            return ""
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self._output is None:
            return ""
        self._output.seek(0)
        output = self._output.read().decode(errors="replace")
        self._output.close()
        self._output = None
        return output


class XentreeMock:
    """A running mock and its `/__mock__` controls, over HTTP (works for the thread and the process server)."""

    def __init__(self, url: str, seed: int, app: Any = None, rate_limit: str = MOCK_RATE_LIMIT) -> None:
        self.url = url
        self.seed = seed
        self.rate_limit = rate_limit  # the mock's --rate-limit (N/SECONDS or off)
        self.app = app  # the Starlette app when served in-process (app.state.mock is the live Mock)
        self.http = requests.Session()

    @property
    def state(self) -> Any:
        """The in-process `Mock` (store, clock, pipeline), or None for a process server."""
        return self.app.state.mock if self.app is not None else None

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.url}/__mock__{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self, seed: int | None = None, fixture: str | None = None) -> Any:
        body = {
            k: v for k, v in {"seed": self.seed if seed is None else seed, "fixture": fixture}.items() if v is not None
        }
        self.clear_faults()
        self.unfreeze()
        return self.control("POST", "/reset", body)

    def freeze(self, at: str | None = None) -> Any:
        return self.control("POST", "/clock/freeze", {"at": at} if at else {})

    def unfreeze(self) -> Any:
        return self.control("POST", "/clock/unfreeze")

    def set_clock(self, at: str) -> Any:
        return self.control("POST", "/clock/set", {"at": at})

    def advance(self, **units: float) -> Any:
        """`advance(days=1, hours=2)`; units: seconds, minutes, hours, days, weeks."""
        return self.control("POST", "/clock/advance", units)

    def fault(self, operation_id: str, *, status: int = 500, error_rate: float = 1.0, latency_ms: int = 0) -> Any:
        body = {"status": status, "error_rate": error_rate, "latency_ms": latency_ms}
        return self.control("PUT", f"/faults/{operation_id}", body)

    def clear_faults(self) -> None:
        self.http.delete(f"{self.url}/__mock__/faults", timeout=30)

    def journal(self, limit: int = 50) -> Any:
        return self.control("GET", f"/journal?limit={limit}")

    def credentials(self) -> Any:
        return self.control("GET", "/credentials")

    def login(self, username: str = "demo", password: str | None = None) -> str:
        form = {"username": username, "password": password or f"{username}-password"}
        response = self.http.post(f"{self.url}/api/auth/login", data=form, timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])


class WatchedProxy:
    """The validating proxy (`xentree-contract proxy`) in front of `upstream`, served in a thread on a free port:
    send traffic to `url`, then read `results()` (one `RunResult` per API) or `write_reports(directory)`."""

    def __init__(self, upstream: str, **options: Any) -> None:
        from contract_tests.proxy.server import ProxyOptions, build

        self.options = ProxyOptions(upstream=upstream.rstrip("/"), report_dir=None, **options)
        self.app, self.recorder = build(self.options)
        # no Server or Date header of the proxy's own, as in `server.config`
        self.server = ThreadServer(self.app, server_header=False, date_header=False)
        self.url = self.server.url

    def start(self) -> WatchedProxy:
        self.server.start(health_path=None)  # listening is enough: a probe request would show in the report
        return self

    def results(self) -> Any:
        return self.recorder.finish()

    def findings(self) -> list[Any]:
        return [f for result in self.results() for f in result.findings]

    def write_reports(self, directory: Path) -> Any:
        return self.recorder.write_reports(directory)

    def stop(self) -> None:
        self.server.stop()
        self.recorder.close()

    def __enter__(self) -> WatchedProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xentree", "Xentree mock and contract suite")
    group.addoption("--xentree-seed", type=int, default=None, help="seed of the xentree_mock fixture (default 0)")
    group.addoption(
        "--xentree-mock",
        choices=("thread", "process"),
        default=None,
        help="serve the mock in a thread of the test process (default) or as a separate process",
    )
    group.addoption(
        "--xentree-base-url",
        default=None,
        help="run xentree_base_url / xentree_contract against this deployment instead of the mock",
    )
    group.addoption(
        "--xentree-rate-limit", default=None, help=f"the mock's rate limit N/SECONDS or off (default {MOCK_RATE_LIMIT})"
    )
    group.addoption(
        "--xentree-proxy-report-dir",
        default=None,
        help="where the xentree_proxy fixture writes the contract reports of the session's traffic",
    )


def _option(config: pytest.Config, name: str, env: str, default: Any) -> Any:
    value = config.getoption(name)
    return value if value is not None else os.environ.get(env, default)


@pytest.fixture(scope="session")
def xentree_mock_server(pytestconfig: pytest.Config) -> Iterator[XentreeMock]:
    seed = int(_option(pytestconfig, "--xentree-seed", "XENTREE_MOCK_SEED", 0))
    mode = _option(pytestconfig, "--xentree-mock", "XENTREE_MOCK_MODE", "thread")
    rate = _option(pytestconfig, "--xentree-rate-limit", "XENTREE_MOCK_RATE_LIMIT", MOCK_RATE_LIMIT)
    if mode == "process":
        process = ProcessServer("--quiet", "--strict", "--seed", str(seed), "--rate-limit", rate).start()
        try:
            yield XentreeMock(process.url, seed, rate_limit=rate)
        finally:
            process.stop()
        return
    from mock_server.app import create_app
    from mock_server.runtime import Settings

    app = create_app(Settings(seed=seed, strict=True, access_log=False, rate_limit=rate))
    with ThreadServer(app) as server:
        yield XentreeMock(server.url, seed, app, rate_limit=rate)


@pytest.fixture
def xentree_mock(xentree_mock_server: XentreeMock) -> XentreeMock:
    xentree_mock_server.reset()
    return xentree_mock_server


@pytest.fixture
def xentree_base_url(request: pytest.FixtureRequest) -> str:
    external = _option(request.config, "--xentree-base-url", "XENTREE_BASE_URL", None)
    if external:
        return str(external).rstrip("/")
    mock: XentreeMock = request.getfixturevalue("xentree_mock")
    return mock.url


@pytest.fixture
def xentree_contract(xentree_base_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """`run(**options)`: the contract suite against xentree_base_url; on the mock it registers a throw-away user and
    may fuzz destructive operations and provokes a 429 with the rate-limit probe (the mock's limit is small, its
    reset before the test refilled it). Options are those of `contract_tests.options.RunOptions`."""
    from contract_tests import report, runner
    from contract_tests.options import SELECTION, RunOptions

    on_mock = not _option(request.config, "--xentree-base-url", "XENTREE_BASE_URL", None)
    budget = {"probe_max_requests": probe_budget(request.getfixturevalue("xentree_mock").rate_limit)} if on_mock else {}

    def run(*, write_reports: bool = True, **options: Any) -> Any:
        defaults: dict[str, Any] = {
            "base_url": xentree_base_url,
            "register": on_mock,
            "allow_destructive": on_mock,
            "max_examples": 5,
            "progress": False,
            "report_dir": tmp_path / "contract-report",
            "probe_rate_limit": on_mock,
            "probe_max_wait": 10.0,
            **budget,
        }
        merged = {**defaults, **options}
        for key in (*SELECTION, "phases"):
            if isinstance(merged.get(key), list):
                merged[key] = tuple(merged[key])
        result = runner.run(RunOptions(**merged))
        if write_reports and merged.get("report_dir"):
            result.reports = report.write_all(result, Path(merged["report_dir"]))
        return result

    return run


@pytest.fixture(scope="session")
def xentree_proxy(request: pytest.FixtureRequest) -> Iterator[WatchedProxy]:
    """The validating proxy for the whole session, in front of `--xentree-base-url` / `XENTREE_BASE_URL`, else the
    session's mock: point the code under test at `xentree_proxy.url`; at the end of the session the reports of all
    the traffic go to `--xentree-proxy-report-dir` (when given), and `xentree_proxy.results()` has them any time."""
    upstream = _option(request.config, "--xentree-base-url", "XENTREE_BASE_URL", None)
    if not upstream:
        upstream = request.getfixturevalue("xentree_mock_server").url
    report_dir = _option(request.config, "--xentree-proxy-report-dir", "XENTREE_PROXY_REPORT_DIR", None)
    proxy = WatchedProxy(str(upstream)).start()
    try:
        yield proxy
    finally:
        if report_dir:
            proxy.write_reports(Path(report_dir))
        proxy.stop()
