"""Shared fixtures: an in-process strict mock (seeded) and helpers to log in and start a real server process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from contract_tests.plugin import ProcessServer, free_port
from mock_server.app import create_app
from mock_server.runtime import Mock, Settings, build_mock

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ("127.0.0.1", 50000)

# The longest tests first (a prefix of a node id below tests/; the rest keep their order). The workers pull tests
# from one queue (`pytest_xdist_make_scheduler` below), so the run ends soon after its longest test: started last, a
# 40 s test leaves the other worker idle for 40 s. Ranked by `pytest -n 2 --durations`; a stale entry only costs
# balance, never a test.
LONGEST_FIRST = (
    "test_schemathesis.py",
    "test_contract_mock.py",
    "test_contract_resilience.py::test_a_target_that_dies_and_comes_back",
    "test_contract_xp_ledger.py",
    "test_package.py",
    "test_browser.py",
    "test_contract_resilience.py::test_a_target_that_dies",
    "test_security_model.py::test_ids_never_repeat",
    "test_xp_aggregates.py",
    "test_generated_clients.py",
    "test_proxy.py",
    "test_proxy_broken.py",
    "test_proxy_lifecycle.py",
    "test_contract_cli.py",
    "test_contract_plugin.py",
    "test_security_model.py::test_x_forwarded_for",
    "test_security_model.py::test_kill_9",
    "test_server_process.py",
    "test_contract_report_browser.py",
    "test_contract_resilience.py",
    "test_security_model.py::test_rotating",
    "test_clock_tokens.py",
    "test_profile_analytics_history.py::test_all_views_agree",
    "test_contract_broken.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: everything not listed keeps its order


def _rank(item: pytest.Item) -> int:
    name = item.nodeid.removeprefix("tests/")
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if name.startswith(prefix)), len(LONGEST_FIRST))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With `-n` (xdist's default `--dist load`): one queue in collection order (longest first), a test at a time,
    except that a module declaring a module-scoped fixture (a server process, a browser, a built wheel, generated
    clients) goes to one worker whole, so that fixture is built once, not once per worker. (xdist 3.8's own
    `--dist loadgroup` does not group on pytest 9.2: its node-id suffix does not take, marked tests still ran on
    both workers.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    shared = {
        f"tests/{path.name}"
        for path in Path(__file__).parent.glob("test_*.py")
        if re.search(r"""scope\s*=\s*["']module["']""", path.read_text(encoding="utf-8"))
    }

    class LongestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in shared else nodeid

    config.option.loadscopereorder = False  # keep the collection order (xdist would sort by tests per module)
    return LongestFirst(config, log)  # type: ignore[arg-type]


def make_client(**settings: object) -> TestClient:
    defaults: dict[str, object] = {"strict": True, "seed": 0, "access_log": False}
    app = create_app(Settings(**{**defaults, **settings}))  # type: ignore[arg-type]
    return TestClient(app, client=LOCAL, raise_server_exceptions=False)


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A strict in-process mock; a test module may freeze its clock with a module-level `FROZEN_AT` datetime."""
    with make_client(frozen_at=getattr(request.module, "FROZEN_AT", None)) as c:
        yield c


def mock_of(client: TestClient) -> Mock:
    """The running mock behind an in-process client (its store, clock and tokens, for tests that reach past HTTP)."""
    return client.app.state.mock  # type: ignore[attr-defined]


@pytest.fixture
def mock(client: TestClient) -> Mock:
    return mock_of(client)


def login(client: TestClient, username: str = "demo", password: str | None = None) -> str:
    response = client.post(
        "/api/auth/login", data={"username": username, "password": password or f"{username}-password"}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def user_ids(client: TestClient) -> dict[str, str]:
    """User ids by username, read through the control API (`GET /__mock__/state/users`) rather than SQL."""
    rows = client.get("/__mock__/state/users", params={"limit": 10_000}).json()["rows"]
    return {row["username"]: row["id"] for row in rows}


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


class Server(ProcessServer):
    """The real mock process, `python -m mock_server serve` from the checkout on a free loopback port (the pytest
    plugin's helper: one implementation for the plugin, the tests and their subclasses)."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args, cwd=ROOT)


@pytest.fixture
def server_factory() -> Iterator[type[Server]]:
    started: list[Server] = []

    class Tracked(Server):
        def start(self, timeout: float = 20) -> Tracked:
            started.append(self)
            return super().start(timeout)

    yield Tracked
    for s in started:
        s.stop()


__all__ = ["build_mock", "make_client", "mock_of", "login", "bearer", "user_ids", "Server", "free_port"]
