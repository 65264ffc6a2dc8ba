"""The /__mock__ control API, CORS, docs and the spec files."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from mock_server.app import Settings, create_app
from mock_server.errors import ApiError
from mock_server.pipeline import Fault
from mock_server.resources import fixtures_dir, load_yaml
from mock_server.runtime import ClockRangeError, build_mock
from tests.conftest import LOCAL, bearer, login


def test_reset_restores_the_fixture_world(client: TestClient) -> None:
    client.post("/api/auth/register", json={"username": "temp", "email": "t@example.com", "password": "password1"})
    assert client.get("/__mock__/state").json()["tables"]["users"] == 4
    response = client.post("/__mock__/reset")
    assert response.status_code == 200
    assert response.json()["state"]["users"] == 3


def test_reset_with_a_seed_changes_generated_keys(client: TestClient) -> None:
    before = client.get("/__mock__/credentials").json()["api_keys"][0]["key"]
    client.post("/__mock__/reset", json={"seed": 5})
    after = client.get("/__mock__/credentials").json()["api_keys"][0]["key"]
    client.post("/__mock__/reset", json={"seed": 0})
    again = client.get("/__mock__/credentials").json()["api_keys"][0]["key"]
    assert before != after and before == again
    assert len(before) == 91 and before.startswith("xntr-")


def test_fixtures_list_and_load(client: TestClient) -> None:
    assert "demo" in client.get("/__mock__/fixtures").json()["available"]
    assert client.post("/__mock__/fixtures/demo").status_code == 200
    missing = client.post("/__mock__/fixtures/nope")
    assert missing.status_code == 404 and missing.json()["detail"]["error"] == "not_found"


def test_state_inspection(client: TestClient) -> None:
    tables = client.get("/__mock__/state").json()["tables"]
    world = load_yaml((fixtures_dir() / "demo.yaml").read_text())
    assert tables["users"] == len(world["users"]) == 3
    assert tables["api_keys"] == len(world["api_keys"]) and tables["organizations"] == len(world["organizations"])
    rows = client.get("/__mock__/state/users").json()["rows"]
    assert {r["username"] for r in rows} == {"demo", "admin", "alex"}
    assert client.get("/__mock__/state/nope").status_code == 404


def test_clock_freeze_set_advance(client: TestClient) -> None:
    frozen = client.post("/__mock__/clock/freeze", json={"at": "2026-03-01T12:00:00Z"}).json()
    assert frozen == {"now": "2026-03-01T12:00:00Z", "frozen": True}
    assert client.post("/__mock__/clock/advance", json={"days": 1, "hours": 2}).json()["now"] == "2026-03-02T14:00:00Z"
    assert (
        client.post("/__mock__/clock/set", json={"at": "2026-04-01T00:00:00Z"}).json()["now"] == "2026-04-01T00:00:00Z"
    )
    back = client.post("/__mock__/clock/advance", json={"days": -1, "hours": -1}).json()
    assert back == {"now": "2026-03-30T23:00:00Z", "frozen": True}  # the clock moves in either direction
    assert client.post("/__mock__/clock/unfreeze").json()["frozen"] is False
    assert client.post("/__mock__/clock/advance", json={"days": "one"}).status_code == 400
    assert client.post("/__mock__/clock/set", json={"at": "soon"}).status_code == 400


def test_clock_drives_the_api(client: TestClient) -> None:
    client.post("/__mock__/clock/freeze", json={"at": "2026-03-01T12:00:00Z"})
    user = client.post(
        "/api/auth/register", json={"username": "clocky", "email": "c@example.com", "password": "password1"}
    )
    assert user.json()["created_at"] == "2026-03-01T12:00:00Z"


def test_faults_error_rate_and_latency(client: TestClient) -> None:
    demo = bearer(login(client))
    put = client.put("/__mock__/faults/getCurrentUser", json={"error_rate": 1, "status": 503})
    assert put.status_code == 200
    assert client.get("/__mock__/faults").json()["getCurrentUser"]["status"] == 503
    response = client.get("/api/auth/me", headers=demo)
    assert response.status_code == 503 and response.json()["detail"]["error"] == "injected_fault"
    assert client.delete("/__mock__/faults/getCurrentUser").status_code == 204
    assert client.get("/api/auth/me", headers=demo).status_code == 200
    assert client.put("/__mock__/faults/nope", json={}).status_code == 404
    assert client.put("/__mock__/faults/getCurrentUser", json={"error_rate": 2}).status_code == 400


def test_journal_records_requests_with_status(client: TestClient) -> None:
    client.get("/api/health")
    client.get("/api/nowhere")
    entries = client.get("/__mock__/journal", params={"limit": 2}).json()["entries"]
    assert [(e["path"], e["status"]) for e in entries] == [("/api/health", 200), ("/api/nowhere", 404)]
    assert entries[0]["operation_id"] == "getHealth"


def test_control_api_refuses_remote_callers_without_the_admin_token() -> None:
    app = create_app(Settings(admin_token="s3cret", access_log=False))
    with TestClient(app, client=("203.0.113.9", 4000)) as remote:
        refused = remote.get("/__mock__/state")
        assert refused.status_code == 403
        assert refused.json()["detail"]["error"] == "control_forbidden"
        assert remote.get("/__mock__/state", headers={"X-Mock-Admin-Token": "wrong"}).status_code == 403
        assert remote.get("/__mock__/state", headers={"X-Mock-Admin-Token": "s3cret"}).status_code == 200


def test_control_api_is_not_in_the_public_spec(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert not any(path.startswith("/__mock__") for path in spec["paths"])


def test_cors_preflight_allows_auth_headers(client: TestClient) -> None:
    response = client.options(
        "/api/core/conversations",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, X-API-Key, Content-Type",
        },
    )
    assert response.status_code == 200
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "x-api-key" in allowed
    simple = client.get("/api/health", headers={"Origin": "http://localhost:5173"})
    assert simple.headers["access-control-allow-origin"] == "http://localhost:5173"  # echoed: credentials work


def test_cors_origins_are_configurable() -> None:
    app = create_app(Settings(cors_origins=["http://app.test"], access_log=False))
    with TestClient(app, client=LOCAL) as client:
        ok = client.get("/api/health", headers={"Origin": "http://app.test"})
        assert ok.headers["access-control-allow-origin"] == "http://app.test"
        other = client.get("/api/health", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers


def test_spec_files_and_offline_docs(client: TestClient) -> None:
    assert client.get("/openapi.yaml").text.startswith("openapi: 3.1")
    assert client.get("/openapi.json").json()["info"]["title"] == "Xentree API"
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.split("<script")[1].split(">")[0]  # the bundle is local, no CDN
    bundle = client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert client.get("/docs/static/swagger-ui.css").status_code == 200


def test_access_log_is_readable(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Settings(access_log=True))
    with TestClient(app, client=LOCAL) as client, caplog.at_level(logging.INFO, logger="xentree.mock"):
        client.get("/api/health")
    assert any("GET /api/health -> 200  getHealth" in r.getMessage() for r in caplog.records)


def test_fault_latency_delays_the_operation(client: TestClient) -> None:
    import time

    assert client.put("/__mock__/faults/getHealth", json={"latency_ms": 300}).status_code == 200
    start = time.perf_counter()
    assert client.get("/api/health").status_code == 200
    assert time.perf_counter() - start >= 0.3
    assert client.delete("/__mock__/faults").status_code == 204
    assert client.get("/__mock__/faults").json() == {}


def test_reset_empties_full_text_indexes_without_corrupting_them() -> None:
    from mock_server.store import Store

    store = Store(schemas=["CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(body)"])
    store.run("INSERT INTO docs (body) VALUES ('chloroplasts capture light')")
    assert "docs" in store.tables() and not any(t.startswith("docs_") for t in store.tables())  # no shadow tables
    store.clear()
    assert store.counts()["docs"] == 0
    store.run("INSERT INTO docs (body) VALUES ('thylakoid membranes')")
    assert store.all("SELECT body FROM docs WHERE docs MATCH 'thylakoid'") == [{"body": "thylakoid membranes"}]


def test_the_runtime_is_driven_by_its_methods_without_http() -> None:
    """What the control views call: faults, clock moves within range, knobs, and a reset that refuses a fixture set
    it cannot load before anything is emptied."""
    mock = build_mock(Settings(seed=0, access_log=False, api="xentree,xp-ledger"))
    assert mock.set_fault("getCurrentUser", Fault(latency_ms=5)) == {
        "getCurrentUser": {"latency_ms": 5, "error_rate": 0.0, "status": 500}
    }
    assert mock.faults() == {"getCurrentUser": {"latency_ms": 5, "error_rate": 0.0, "status": 500}}
    with pytest.raises(ApiError) as unknown:
        mock.set_fault("noSuchOperation", Fault())
    assert unknown.value.status == 404
    mock.clear_faults("getCurrentUser")
    assert mock.faults() == {}
    with pytest.raises(ClockRangeError):
        mock.advance_clock(-mock.clock.timestamp() - 1)  # before 1970
    assert mock.set_clock(datetime(2030, 1, 1, tzinfo=UTC))["now"].startswith("2030-01-01T00:00:00")
    knob = "xp-ledger.processing-delay-seconds"
    assert mock.set_knob(knob, 30) == {"name": knob, "value": 30}
    with pytest.raises(ApiError) as missing:
        mock.set_knob("nope", 1)
    assert missing.value.status == 404
    users = mock.table_counts()["users"]
    with pytest.raises(ApiError) as broken:
        mock.reset(fixture="no-such-fixture-set")
    assert broken.value.status == 404 and mock.table_counts()["users"] == users
    assert mock.knobs()[knob]["value"] == 30  # the refused reset changed nothing
    mock.reset()
    assert mock.knobs()[knob]["value"] == 0  # a reset restores the fixture's value


@pytest.mark.parametrize(
    ("module", "absent"),
    [("mock_server.pipeline", "mock_server.domains"), ("mock_server.control", "mock_server.app")],
)
def test_the_engine_layers_import_one_way(module: str, absent: str) -> None:
    """The pipeline knows no domain (handlers come in a Registry); the control API drives the runtime, not the app."""
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith({absent!r})))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
