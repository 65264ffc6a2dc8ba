"""CORS as a browser app needs it, and none for the control API.

The public API, docs and spec files: any requested header is allowed (the preflight's list is echoed), credentials
work (the origin echoed with `Access-Control-Allow-Credentials: true`) in the default any-origin mode and with
explicit `--cors-origin`s, and the headers a frontend must read are exposed. `/__mock__` gets no CORS headers at all:
a hostile page can neither read it nor get a preflight approved. Header logic only, so the in-process client is enough
(tests/test_browser.py proves the same in Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mock_server.app import EXPOSED_HEADERS
from tests.conftest import bearer, login, make_client

APP = "http://localhost:5173"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The default mock (any origin); one per module: these tests only read headers."""
    with make_client() as c:
        yield c


@pytest.fixture(scope="module")
def explicit() -> Iterator[TestClient]:
    """A mock started with `--cors-origin http://localhost:5173`."""
    with make_client(cors_origins=[APP]) as c:
        yield c


def preflight(client: TestClient, path: str, origin: str, method: str = "GET", headers: str | None = None) -> dict:
    request = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request["Access-Control-Request-Headers"] = headers
    response = client.options(path, headers=request)
    return {"status": response.status_code, **{k.lower(): v for k, v in response.headers.items()}}


def test_a_preflight_for_any_requested_header_is_approved(client: TestClient) -> None:
    answer = preflight(client, "/api/core/conversations", APP, "POST", "authorization, content-type, x-request-id")
    assert answer["status"] == 200
    allowed = {h.strip() for h in answer["access-control-allow-headers"].lower().split(",")}
    assert {"x-request-id", "authorization", "content-type"} <= allowed
    assert "POST" in answer["access-control-allow-methods"]


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/core/conversations/123", "/docs", "/openapi.json"])
def test_credentials_in_the_default_any_origin_mode(client: TestClient, path: str) -> None:
    """The default `*` echoes each origin, so `credentials: 'include'` works from any dev server (no Cookie needed)."""
    answer = preflight(client, path, APP, "GET", "authorization")
    assert answer["access-control-allow-origin"] == APP and answer["access-control-allow-credentials"] == "true"
    other = preflight(client, path, "http://127.0.0.1:3000", "GET")
    assert other["access-control-allow-origin"] == "http://127.0.0.1:3000"


def test_a_credentialed_request_reads_its_answer_in_the_default_mode(client: TestClient) -> None:
    response = client.get("/api/auth/me", headers={"Origin": APP, **bearer(login(client))})
    assert response.status_code == 200 and response.json()["username"] == "demo"
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers["vary"].lower()  # an echoed origin must not be cached for another one


def test_credentials_with_explicit_origins(explicit: TestClient) -> None:
    answer = preflight(explicit, "/api/auth/me", APP, "GET", "authorization, x-request-id")
    assert answer["status"] == 200 and answer["access-control-allow-origin"] == APP
    assert answer["access-control-allow-credentials"] == "true"
    assert "x-request-id" in answer["access-control-allow-headers"].lower()
    response = explicit.get("/api/health", headers={"Origin": APP})
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"


def test_an_origin_not_listed_gets_no_allow_origin(explicit: TestClient) -> None:
    """The attack: a page on another origin. The safe answer: nothing a browser would accept."""
    answer = preflight(explicit, "/api/auth/me", EVIL, "GET", "authorization")
    assert answer["status"] == 400 and "access-control-allow-origin" not in answer
    response = explicit.get("/api/health", headers={"Origin": EVIL})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_the_headers_a_frontend_reads_are_exposed(client: TestClient) -> None:
    response = client.get("/api/auth/me", headers={"Origin": APP})  # 401 with WWW-Authenticate
    assert response.status_code == 401
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    wanted = {
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "www-authenticate",
        "preference-applied",
        "x-mock-warning",
    }
    assert wanted <= exposed and wanted <= {h.lower() for h in EXPOSED_HEADERS}
    assert "www-authenticate" in response.headers
    signed_in = client.get("/api/auth/me", headers={"Origin": APP, **bearer(login(client))})
    assert signed_in.status_code == 200 and "ratelimit-limit" in signed_in.headers
    assert "ratelimit-limit" in signed_in.headers["access-control-expose-headers"].lower()


def test_a_simulated_429_exposes_retry_after(client: TestClient) -> None:
    response = client.get("/api/xp/profile", headers={"Origin": APP, "Prefer": "code=429", **bearer(login(client))})
    assert response.status_code == 429
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()
    assert response.headers["access-control-allow-origin"] == APP


def test_no_origin_no_cors_headers(client: TestClient) -> None:
    response = client.get("/api/health")
    assert not any(k.lower().startswith("access-control-") for k in response.headers)


CONTROL = ["/__mock__", "/__mock__/credentials", "/__mock__/reset", "/__mock__/state/users", "/__mock__/clock/advance"]


@pytest.mark.parametrize("mode", ["default", "explicit"])
@pytest.mark.parametrize("path", CONTROL)
@pytest.mark.parametrize("origin", [EVIL, APP])
def test_the_control_api_never_gets_cors(
    client: TestClient, explicit: TestClient, mode: str, path: str, origin: str
) -> None:
    """The attack: a page (even on an allowed origin) preflights a control POST or reads the credentials list. The
    safe answer: no `Access-Control-*` header at all, so the browser approves nothing and shows the page nothing."""
    target = client if mode == "default" else explicit
    answer = preflight(target, path, origin, "POST", "content-type, x-mock-admin-token")
    assert answer["status"] != 200 or "access-control-allow-origin" not in answer
    assert not any(k.startswith("access-control-") for k in answer)
    response = target.get(path, headers={"Origin": origin})
    assert response.status_code < 500
    assert not any(k.lower().startswith("access-control-") for k in response.headers)


def test_the_control_api_still_answers_its_own_origin_without_cors(client: TestClient) -> None:
    """Skipping CORS does not break the controls for the mock's own pages and for tools (no Origin)."""
    assert client.get("/__mock__/credentials").status_code == 200
    own = client.get("/__mock__/credentials", headers={"Origin": "http://testserver"})
    assert own.status_code == 200 and "access-control-allow-origin" not in own.headers


def test_a_control_like_path_outside_the_control_api_keeps_cors(client: TestClient) -> None:
    """Only `/__mock__` and below skip CORS: a public 404 for `/__mock__x` is still readable by the app."""
    response = client.get("/__mock__x", headers={"Origin": APP})
    assert response.status_code == 404 and response.headers["access-control-allow-origin"] == APP
