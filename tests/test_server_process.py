"""The real server process through the CLI: HTTP on loopback, banner, persistence across restarts and kill -9."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests import web
from tests.conftest import ROOT, Server

AVA = "22222222-2222-2222-2222-222222222222"  # a fixture student of the XP ledger


def test_cli_serves_spec_docs_and_health(server_factory: type[Server]) -> None:
    server = server_factory().start()
    assert web.get(f"{server.url}/openapi.yaml").text.startswith("openapi: 3.1")
    assert web.get(f"{server.url}/openapi.json").json()["openapi"] == "3.1.0"
    assert web.get(f"{server.url}/api/health").status_code == 200
    assert web.get(f"{server.url}/api/health/detailed").status_code == 200
    token = web.post(f"{server.url}/api/auth/login", data={"username": "demo", "password": "demo-password"})
    me = web.get(f"{server.url}/api/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["username"] == "demo"
    output = server.stop()
    assert "demo     demo-password" in output  # the banner shows the demo credentials
    assert "xntr-" in output and f"{server.url}/docs" in output
    assert "GET /api/auth/me -> 200  getCurrentUser" in output  # readable access log


def test_state_file_survives_restart_and_kill_9(server_factory: type[Server], tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    first = server_factory("--state", str(state)).start()
    new_user = {"username": "persisted", "email": "p@example.com", "password": "password-123"}
    assert web.post(f"{first.url}/api/auth/register", json=new_user).status_code == 201
    first.stop(kill=True)  # SIGKILL right after the acknowledged write

    second = server_factory("--state", str(state)).start()
    login = web.post(f"{second.url}/api/auth/login", data={"username": "persisted", "password": "password-123"})
    assert login.status_code == 200
    again = web.post(f"{second.url}/api/auth/register", json=new_user)
    assert again.status_code == 409  # still there, not duplicated
    demo = web.post(f"{second.url}/api/auth/login", data={"username": "demo", "password": "demo-password"})
    assert demo.status_code == 200  # fixtures were not loaded twice
    state_counts = web.get(f"{second.url}/__mock__/state").json()["tables"]
    assert state_counts["users"] == 4


def test_same_seed_same_requests_same_responses(server_factory: type[Server]) -> None:
    def session(seed: str) -> list[object]:
        server = server_factory("--seed", seed, "--freeze-at", "2026-05-01T08:00:00Z").start()
        user = web.post(
            f"{server.url}/api/auth/register",
            json={"username": "twin", "email": "twin@example.com", "password": "password-123"},
        )
        token = web.post(f"{server.url}/api/auth/login", data={"username": "twin", "password": "password-123"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "Prefer": "dynamic=true"}
        generated = web.get(f"{server.url}/api/xp/profile", headers=headers).json()
        server.stop()
        return [user.json(), token.json(), generated]

    first = session("11")
    assert session("11") == first  # a second process, same seed: the same answers
    assert session("12") != first  # (three processes, not four: the first run serves both comparisons)


def test_reload_restarts_on_fixture_changes(server_factory: type[Server]) -> None:
    server = server_factory("--reload").start(timeout=30)
    user = {"username": "ephemeral", "email": "e@example.com", "password": "password-123"}
    assert web.post(f"{server.url}/api/auth/register", json=user).status_code == 201
    probe = ROOT / "fixtures" / "zz-reload-probe.yaml"
    probe.write_text("# written by tests/test_server_process.py; safe to delete\nusers: []\n")
    try:
        # The worker restarts with a fresh in-memory store: the registered user is gone, the demo world is back.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                login = web.post(
                    f"{server.url}/api/auth/login", data={"username": "ephemeral", "password": "password-123"}
                )
                if login.status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        assert login.status_code == 401
        assert web.get(f"{server.url}/__mock__/fixtures").json()["available"].count("zz-reload-probe") == 1
    finally:
        probe.unlink()
    assert "with reload" in server.stop()


def test_cli_serves_both_apis_at_once(server_factory: type[Server]) -> None:
    server = server_factory("--api", "xentree,xp-ledger").start()
    token = web.post(
        f"{server.url}/auth/1.0/token",
        data={"grant_type": "client_credentials"},
        auth=("7nq4k2m9x5c8v1b3z6w0p4r2t8", "example-client-secret-not-real"),
    )
    assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
    entries = web.get(
        f"{server.url}/xp/1.0/users/{AVA}/entries", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert entries.status_code == 200 and entries.json()["total"] > 0
    assert web.get(f"{server.url}/api/health").status_code == 200
    assert "/xp/1.0/users/{userId}/entries" in web.get(f"{server.url}/xp-ledger/openapi.json").json()["paths"]
    output = server.stop()
    assert "xentree + xp-ledger API" in output
    assert "7nq4k2m9x5c8v1b3z6w0p4r2t8" in output  # the banner lists the ledger's client credentials
