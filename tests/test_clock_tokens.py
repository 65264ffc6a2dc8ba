"""One clock for every token rule: `iat`, `nbf` and `exp` are judged by the mock clock, whichever way it moves.

Tested as a frontend meets it: a real server process over HTTP, the clock moved forward and back, `--freeze-at` in
the future and in the past; and the README's pytest-plugin example run verbatim.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests import web
from tests.conftest import ROOT, Server, bearer, login, make_client, mock_of

AVA = "22222222-2222-2222-2222-222222222222"  # an XP ledger student with seeded history


def _login(url: str, username: str = "demo") -> str:
    response = web.post(f"{url}/api/auth/login", data={"username": username, "password": f"{username}-password"})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _me(url: str, token: str) -> httpx.Response:
    return web.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def _control(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    response = web.post(f"{url}/__mock__{path}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def server() -> object:
    process = Server("--quiet").start()
    yield process
    process.stop()


@pytest.mark.parametrize(
    "move",
    [
        ("/clock/advance", {"minutes": 5}),
        ("/clock/advance", {"days": 1}),
        ("/clock/advance", {"days": -2}),
        ("/clock/set", {"at": "2031-06-01T08:00:00Z"}),
        ("/clock/set", {"at": "2019-03-01T08:00:00Z"}),
        ("/clock/freeze", {"at": "2030-01-01T00:00:00Z"}),
        ("/clock/freeze", {"at": "2020-01-01T00:00:00Z"}),
    ],
    ids=[
        "advance-5-minutes",
        "advance-1-day",
        "advance-back-2-days",
        "set-future",
        "set-past",
        "freeze-future",
        "freeze-past",
    ],
)
def test_a_fresh_login_works_wherever_the_clock_is_moved(server: Server, move: tuple[str, dict[str, object]]) -> None:
    _control(server.url, "/reset", {})
    path, body = move
    _control(server.url, path, body)
    token = _login(server.url)
    response = _me(server.url, token)
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "demo"


def test_a_token_expires_by_the_mock_clock_not_the_wall_clock(server: Server) -> None:
    _control(server.url, "/reset", {})
    token = _login(server.url)
    _control(server.url, "/clock/advance", {"minutes": 59})
    assert _me(server.url, token).status_code == 200
    _control(server.url, "/clock/advance", {"minutes": 2})
    expired = _me(server.url, token)
    assert expired.status_code == 401
    assert expired.json()["detail"]["error"] == "token_expired"
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")


def test_setting_the_clock_back_keeps_a_token_until_its_exp_by_the_mock_clock(server: Server) -> None:
    """`iat` is informative (RFC 7519): a token stays usable while the mock's now is before its `exp`."""
    _control(server.url, "/reset", {})
    token = _login(server.url)
    now = datetime.fromisoformat(str(_control(server.url, "/clock/freeze", {})["now"]).replace("Z", "+00:00"))
    _control(server.url, "/clock/set", {"at": (now - timedelta(days=30)).isoformat()})
    assert _me(server.url, token).status_code == 200
    assert _me(server.url, _login(server.url)).status_code == 200
    _control(server.url, "/clock/set", {"at": (now + timedelta(minutes=61)).isoformat()})
    expired = _me(server.url, token)
    assert expired.status_code == 401 and expired.json()["detail"]["error"] == "token_expired"


def test_reset_puts_the_clock_back_to_where_the_mock_started(server: Server) -> None:
    _control(server.url, "/clock/freeze", {"at": "2035-01-01T00:00:00Z"})
    state = _control(server.url, "/reset", {})
    clock = web.get(f"{server.url}/__mock__/clock").json()
    assert state["reset"] is True
    assert clock["frozen"] is False
    now = datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))
    assert abs((now - datetime.now(UTC)).total_seconds()) < 60


@pytest.mark.parametrize("freeze_at", ["2031-09-01T07:30:00Z", "2021-02-01T07:30:00Z"], ids=["future", "past"])
def test_freeze_at_in_the_future_or_the_past_keeps_logins_working(freeze_at: str) -> None:
    server = Server("--quiet", "--freeze-at", freeze_at).start()
    try:
        token = _login(server.url)
        assert _me(server.url, token).status_code == 200
        clock = web.get(f"{server.url}/__mock__/clock").json()
        assert clock == {"now": freeze_at, "frozen": True}
        _control(server.url, "/clock/advance", {"hours": 2})
        assert _me(server.url, token).json()["detail"]["error"] == "token_expired"
        # a reset goes back to the --freeze-at instant, and a new login works there
        _control(server.url, "/reset", {})
        assert web.get(f"{server.url}/__mock__/clock").json() == {"now": freeze_at, "frozen": True}
        assert _me(server.url, _login(server.url)).status_code == 200
    finally:
        server.stop()


def test_ledger_client_tokens_follow_the_mock_clock() -> None:
    with make_client(api="xentree,xp-ledger") as client:
        app = mock_of(client).credentials.applications[0]
        client.post("/__mock__/clock/set", json={"at": "2032-05-05T10:00:00Z"})
        issued = client.post(
            "/auth/1.0/token", data={"grant_type": "client_credentials"}, auth=(app["client_id"], app["client_secret"])
        )
        assert issued.status_code == 200, issued.text
        headers = bearer(issued.json()["access_token"])
        entries = f"/xp/1.0/users/{AVA}/entries"
        assert client.get(entries, headers=headers).status_code == 200
        client.post("/__mock__/clock/advance", json={"days": 2})
        expired = client.get(entries, headers=headers)
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_integration_tokens_verify_and_expire_by_the_mock_clock(client: TestClient) -> None:
    client.post("/__mock__/clock/advance", json={"days": 3})
    headers = bearer(login(client))
    grant = {"mode": "api", "origin": "https://partner.example.com", "scopes": ["profile:read"], "ttlSeconds": 600}
    issued = client.post("/api/integration/grant", json=grant, headers=headers)
    assert issued.status_code == 200, issued.text
    check = {"token": issued.json()["token"], "tenantId": issued.json()["tenantId"]}
    verified = client.post("/api/integration/verify", json=check, headers=headers)
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text
    client.post("/__mock__/clock/advance", json={"minutes": 11})
    headers = bearer(login(client))
    later = client.post("/api/integration/verify", json=check, headers=headers)
    assert later.status_code == 200 and later.json()["valid"] is False, later.text


def _readme_plugin_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### In other projects' tests (pytest plugin)") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's pytest plugin section has no python example"
    return match.group(1)


def test_the_readme_pytest_plugin_example_runs_verbatim(tmp_path: Path) -> None:
    (tmp_path / "test_readme_example.py").write_text(_readme_plugin_example(), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
