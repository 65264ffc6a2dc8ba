"""A control API no web page can drive (issue 12, point 3): foreign `Origin`, rebinding `Host` and no-preflight
content types are refused before any control runs, and the mock's own callers (curl, the test client, its own
origin) keep working."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from mock_server.app import Settings, create_app
from tests import web
from tests.conftest import LOCAL, Server

REGISTER = {"username": "guarded", "email": "guarded@example.com", "password": "password1"}


def users(client: TestClient) -> int:
    return client.get("/__mock__/state").json()["tables"]["users"]


def detail(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"detail"}, body  # the primary API's Error shape
    return body["detail"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:9999", "http://testserver.evil"])
def test_a_foreign_origin_is_refused(client: TestClient, origin: str) -> None:
    refused = client.get("/__mock__/credentials", headers={"Origin": origin})
    assert refused.status_code == 403
    assert detail(refused)["error"] == "control_origin_refused"
    assert "api_keys" not in refused.text


def test_a_foreign_origin_cannot_reset(client: TestClient) -> None:
    client.post("/api/auth/register", json=REGISTER)
    refused = client.post("/__mock__/reset", json={}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and detail(refused)["error"] == "control_origin_refused"
    assert users(client) == 4


def test_the_mocks_own_origin_and_no_origin_still_work(client: TestClient) -> None:
    assert client.get("/__mock__/clock").status_code == 200  # curl, scripts, the pytest plugin: no Origin
    assert client.get("/__mock__/clock", headers={"Origin": "http://testserver"}).status_code == 200
    own = client.post(
        "/__mock__/clock/freeze",
        json={"at": "2026-03-01T12:00:00Z"},
        headers={"Host": "localhost:4010", "Origin": "http://localhost:4010"},
    )
    assert own.status_code == 200 and own.json()["now"] == "2026-03-01T12:00:00Z"


def test_configured_control_origins_are_accepted() -> None:
    app = create_app(Settings(control_origins=["https://dashboard.example/"], access_log=False))
    with TestClient(app, client=LOCAL) as client:
        assert client.get("/__mock__/state", headers={"Origin": "https://dashboard.example"}).status_code == 200
        assert client.get("/__mock__/state", headers={"Origin": "https://other.example"}).status_code == 403


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"seed": 3}'),
        ("text/plain;charset=UTF-8", b""),
        ("application/x-www-form-urlencoded", b"seed=3"),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),
        (None, b'{"seed": 3}'),
    ],
)
def test_a_no_preflight_reset_is_refused_and_the_state_is_untouched(
    client: TestClient, content_type: str | None, body: bytes
) -> None:
    client.post("/api/auth/register", json=REGISTER)
    seed = client.get("/__mock__").json()["seed"]
    headers = {"Content-Type": content_type} if content_type else {}
    refused = client.post("/__mock__/reset", content=body, headers=headers)
    assert refused.status_code == 415, refused.text
    assert detail(refused)["error"] == "unsupported_media_type"
    assert users(client) == 4 and client.get("/__mock__").json()["seed"] == seed


def test_text_plain_is_refused_on_every_state_changing_control(client: TestClient) -> None:
    plain = {"Content-Type": "text/plain"}
    assert client.put("/__mock__/faults/getCurrentUser", content=b'{"error_rate": 1}', headers=plain).status_code == 415
    assert client.get("/__mock__/faults").json() == {}
    assert client.delete("/__mock__/faults", headers=plain).status_code == 415
    assert client.post("/__mock__/clock/advance", content=b'{"days": 1}', headers=plain).status_code == 415
    assert client.post("/__mock__/fixtures/demo", content=b"x", headers=plain).status_code == 415


def test_json_and_empty_control_requests_still_work(client: TestClient) -> None:
    assert client.post("/__mock__/reset").status_code == 200  # no body, no Content-Type: curl -X POST
    typed = client.post(
        "/__mock__/reset", content=b'{"seed": 0}', headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert typed.status_code == 200 and typed.json()["seed"] == 0
    assert client.delete("/__mock__/faults").status_code == 204


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4010", "localhost.evil.example", "127.0.0.1.nip.io:80"])
def test_a_rebinding_host_is_refused(client: TestClient, host: str) -> None:
    refused = client.get("/__mock__/credentials", headers={"Host": host})
    assert refused.status_code == 403
    assert detail(refused)["error"] == "control_host_refused"
    # The attacker's page is same-origin with its own name after rebinding: a matching Origin must not help.
    same = client.post("/__mock__/reset", json={}, headers={"Host": host, "Origin": f"http://{host}"})
    assert same.status_code == 403 and detail(same)["error"] == "control_host_refused"


@pytest.mark.parametrize("host", ["localhost:4010", "127.0.0.1:4010", "[::1]:4010", "LOCALHOST", "10.1.2.3:4010"])
def test_loopback_names_and_addresses_are_served(client: TestClient, host: str) -> None:
    assert client.get("/__mock__/clock", headers={"Host": host}).status_code == 200


def test_the_bind_host_and_configured_names_are_served() -> None:
    app = create_app(Settings(host="mock.lan", control_hosts=["mock.team.example"], access_log=False))
    with TestClient(app, client=LOCAL) as client:
        assert client.get("/__mock__/state", headers={"Host": "mock.lan:4010"}).status_code == 200
        assert client.get("/__mock__/state", headers={"Host": "mock.team.example"}).status_code == 200
        assert client.get("/__mock__/state", headers={"Host": "evil.example"}).status_code == 403


def test_the_public_api_is_not_host_checked(client: TestClient) -> None:
    """A documented choice: only /__mock__ checks Host; the mocked API is meant to be reachable by any name."""
    assert client.get("/api/health", headers={"Host": "mock.anything.example"}).status_code == 200


def test_a_remote_caller_needs_the_exact_admin_token() -> None:
    app = create_app(Settings(admin_token="s3cret", access_log=False))
    with TestClient(app, client=("203.0.113.9", 4000)) as remote:
        for sent in [b"s3cre", b"s3cret ", "s3crét".encode(), b"\xff" * 64]:  # non-ASCII: compare_digest must not raise
            refused = remote.get("/__mock__/state", headers={"X-Mock-Admin-Token": sent})
            assert refused.status_code == 403 and detail(refused)["error"] == "control_forbidden"
        assert remote.get("/__mock__/state", headers={"X-Mock-Admin-Token": "s3cret"}).status_code == 200


def test_the_guard_holds_on_a_real_server(server_factory: type[Server]) -> None:
    server = server_factory("--quiet").start()
    base = server.url
    port = server.port
    with web.client(base_url=base, timeout=10) as http:
        assert http.get("/__mock__/clock").status_code == 200
        assert http.get("/__mock__/clock", headers={"Host": f"localhost:{port}"}).status_code == 200
        assert http.get("/__mock__/clock", headers={"Origin": base}).status_code == 200
        assert http.get("/__mock__/credentials", headers={"Host": f"evil.example:{port}"}).status_code == 403
        assert http.get("/__mock__/credentials", headers={"Origin": "https://evil.example"}).status_code == 403
        plain = http.post("/__mock__/reset", content=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415 and plain.json()["detail"]["error"] == "unsupported_media_type"
