"""Shared fixtures: an in-process strict mock (seeded) and helpers to log in and start a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from mock_server.app import create_app
from mock_server.runtime import Mock, Settings, build_mock

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ("127.0.0.1", 50000)


def make_client(**settings: object) -> TestClient:
    defaults: dict[str, object] = {"strict": True, "seed": 0, "access_log": False}
    app = create_app(Settings(**{**defaults, **settings}))  # type: ignore[arg-type]
    return TestClient(app, client=LOCAL, raise_server_exceptions=False)


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A strict in-process mock; a test module may freeze its clock with a module-level `FROZEN_AT` datetime."""
    with make_client(frozen_at=getattr(request.module, "FROZEN_AT", None)) as c:
        yield c


@pytest.fixture
def mock(client: TestClient) -> Mock:
    return client.app.state.mock  # type: ignore[attr-defined]


def login(client: TestClient, username: str = "demo", password: str | None = None) -> str:
    response = client.post(
        "/api/auth/login", data={"username": username, "password": password or f"{username}-password"}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def demo(client: TestClient) -> dict[str, str]:
    return bearer(login(client))


@pytest.fixture
def alex(client: TestClient) -> dict[str, str]:
    """A plain member of the demo organization (and owner of the second one)."""
    return bearer(login(client, "alex"))


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    """The platform administrator."""
    return bearer(login(client, "admin"))


@pytest.fixture
def keys(mock: Mock) -> dict[str, str]:
    return {k["name"]: k["key"] for k in mock.credentials.api_keys}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real mock process, started through the CLI on a free loopback port."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20) -> Server:
        cmd = [sys.executable, "-m", "mock_server", "serve", "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read() if self.proc.stdout else ''}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:  # served by every API
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def stop(self, kill: bool = False) -> str:
        if self.proc is None:
            return ""
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.proc = None
        return out or ""


@pytest.fixture
def server_factory() -> Iterator[type[Server]]:
    started: list[Server] = []

    class Tracked(Server):
        def start(self, timeout: float = 20) -> Server:
            started.append(self)
            return super().start(timeout)

    yield Tracked
    for s in started:
        s.stop()


__all__ = ["build_mock", "make_client", "login", "bearer", "Server", "free_port"]
