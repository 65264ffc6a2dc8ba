"""The validating proxy: transparent forwarding, a clean report for a conforming upstream, outages, the process.

Upstreams are the strict mock (in-process, served by uvicorn in a thread) and small Starlette apps that echo what
reached them; the proxy is `WatchedProxy` (the plugin's, in a thread) or the real `xentree-contract proxy` process.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contract_tests.plugin import ThreadServer, WatchedProxy, free_port
from contract_tests.proxy.observe import error_body
from contract_tests.resources import spec_path
from contract_tests.results import PASSED, SKIPPED, RunResult
from contract_tests.spec import ApiSpec
from mock_server.app import Settings, create_app
from tests import web
from tests.test_proxy_lifecycle import start_proxy

BIG = random.Random(17).randbytes(5 * 1024 * 1024)


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    app = create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="off"))
    with ThreadServer(app) as server:
        yield server.url


def operation(result: RunResult, operation_id: str) -> Any:
    return next(op for op in result.operations if op.operation_id == operation_id)


# a frontend's session behind the strict mock --------------------------------------------------------------------
def frontend_session(url: str) -> dict[str, int]:
    """What a web app does on a visit: log in, read the user and the XP views, write and list notes, a 401."""
    statuses: dict[str, int] = {}
    with web.client(base_url=url, timeout=30) as http:
        login = http.post("/api/auth/login", data={"username": "demo", "password": "demo-password"})
        statuses["login"] = login.status_code
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for name, path in {
            "me": "/api/auth/me",
            "profile": "/api/xp/profile",
            "quests": "/api/xp/quests",
            "conversations": "/api/core/conversations",
            "notes": "/api/core/notes",
        }.items():
            statuses[name] = http.get(path, headers=auth).status_code
        created = http.post("/api/core/notes", headers=auth, json={"title": "Cells", "content": "Mitochondria"})
        statuses["create note"] = created.status_code
        note = created.json()["id"]
        updated = http.put(f"/api/core/notes/{note}", headers=auth, json={"content": "Mitochondria and ribosomes"})
        statuses["update note"] = updated.status_code
        statuses["public"] = http.get("/api/xp/public-profile/demo").status_code
        statuses["health"] = http.get("/api/health").status_code
        statuses["no token"] = http.get("/api/auth/me").status_code
    return statuses


def test_a_frontend_session_behind_the_strict_mock_has_zero_violations(mock_url: str, tmp_path: Path) -> None:
    with WatchedProxy(mock_url) as proxy:
        statuses = frontend_session(proxy.url)
        (result,) = proxy.results()
        reports = proxy.write_reports(tmp_path)["xentree"]
    assert statuses["login"] == 200 and statuses["create note"] == 201 and statuses["no token"] == 401, statuses
    assert [f"{f.operation}: {f.check}: {f.message}" for f in result.findings] == []
    assert result.exit_code == 0 and result.severity_counts() == {"errors": 0, "warnings": 0}
    me = operation(result, "getCurrentUser")
    assert me.status == PASSED and me.cases == 2 and dict(me.statuses_seen) == {200: 1, 401: 1}
    assert me.checks["response_schema_conformance"] == {"passed": 2, "failed": 0}
    assert me.checks["auth_error_shape"] == {"passed": 2, "failed": 0}
    assert operation(result, "getPublicXpProfile").checks["public_profile_privacy"]["passed"] == 1
    assert operation(result, "createNote").checks["request_conformance"]["passed"] == 1
    never = operation(result, "deleteNote")
    assert never.status == SKIPPED and never.skip_reason == "never reached by the observed traffic"
    assert sorted(Path(p).name for p in reports.values()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    data = json.loads(Path(reports["json"]).read_text())
    reached = {op["operation_id"] for op in data["operations"] if op["cases"]}
    assert {"loginUser", "getCurrentUser", "getXpProfile", "updateNote", "getHealth"} <= reached


# transparency ---------------------------------------------------------------------------------------------------
async def echo(request: Request) -> Response:
    """What reached the upstream, exactly: method, raw path and query, headers in order, the body's digest."""
    body = await request.body()
    seen = {
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode("latin-1"),
        "query": request.scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
    }
    headers = {"x-upstream": "echo", "cache-control": "no-store", "etag": '"v1"'}
    response = JSONResponse(seen, status_code=int(request.query_params.get("status", "200")), headers=headers)
    response.raw_headers.append((b"set-cookie", b"a=1; Path=/"))
    response.raw_headers.append((b"set-cookie", b"b=2; Path=/"))
    return response


async def big(request: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def compressed(request: Request) -> Response:
    body = gzip.compress(b'{"status": "ok"}', mtime=0)
    return Response(body, media_type="application/json", headers={"content-encoding": "gzip"})


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    routes = [Route("/big", big), Route("/gz", compressed), Route("/{path:path}", echo, methods=["GET", "POST"])]
    with ThreadServer(Starlette(routes=routes)) as server:
        yield server.url


def compare(direct: httpx.Response, proxied: httpx.Response) -> None:
    """Status, headers (in order, Date aside: two answers a moment apart) and body are the same bytes."""
    assert proxied.status_code == direct.status_code
    assert [(k, v) for k, v in proxied.headers.raw if k.lower() != b"date"] == [
        (k, v) for k, v in direct.headers.raw if k.lower() != b"date"
    ]
    assert proxied.content == direct.content


def test_json_exchanges_pass_through_byte_for_byte(echo_url: str) -> None:
    target = "/api/a%2Fb/%7Bx%7D;p=1?q=a%20b&r=%C3%A9+x&empty=&flag&list=1&list=2&status=207"
    headers = [("X-Trace", "one"), ("X-Trace", "two"), ("Accept", "application/json"), ("X-Mixed-Case", "Keep")]
    with WatchedProxy(echo_url) as proxy, web.client(timeout=30) as http:
        proxied = http.send(httpx.Request("GET", httpx.URL(proxy.url + target), headers=headers))
        direct = http.send(httpx.Request("GET", httpx.URL(echo_url + target), headers=headers))
        (result,) = proxy.results()
    compare(direct, proxied)
    seen = proxied.json()
    assert proxied.status_code == 207 and seen["raw_path"] == "/api/a%2Fb/%7Bx%7D;p=1"
    assert seen["query"] == "q=a%20b&r=%C3%A9+x&empty=&flag&list=1&list=2&status=207"
    sent = [[k.lower(), v] for k, v in headers]
    assert [h for h in seen["headers"] if h[0] not in ("host", "accept-encoding", "connection", "user-agent")] == sent
    assert proxied.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert [s.name for s in result.scenarios] == ["not in spec: GET /api/a%2Fb/%7Bx%7D;p=1"]  # forwarded, reported


def test_hop_by_hop_headers_stop_at_the_proxy(echo_url: str) -> None:
    headers = {
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "secret-of-this-hop",
        "Keep-Alive": "timeout=5",
        "X-End": "1",
    }
    with WatchedProxy(echo_url) as proxy:
        seen = web.get(proxy.url + "/hop", headers=headers, timeout=30).json()
    names = [name for name, _ in seen["headers"]]
    assert "x-end" in names and "x-hop" not in names and "keep-alive" not in names
    assert dict(seen["headers"])["host"] == echo_url.removeprefix("http://")  # Host names the upstream


def test_a_multipart_upload_reaches_the_upstream_unchanged(echo_url: str) -> None:
    document = random.Random(3).randbytes(1_500_000)
    files = {"file": ("notes.bin", document, "application/octet-stream")}
    request = httpx.Request("POST", "http://placeholder/api/knowledge/upload", files=files, data={"title": "Cells"})
    body = request.read()
    with WatchedProxy(echo_url) as proxy:
        url = proxy.url + "/api/knowledge/upload"
        seen = web.post(url, content=body, headers={"Content-Type": request.headers["content-type"]}, timeout=30)
    assert seen.status_code == 200
    echoed = seen.json()
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest() and echoed["size"] == len(body) > 1_500_000
    assert dict(echoed["headers"])["content-type"] == request.headers["content-type"]
    assert dict(echoed["headers"])["content-length"] == str(len(body))  # not turned into chunked


def test_a_5_mb_answer_streams_through_unchanged(echo_url: str) -> None:
    with WatchedProxy(echo_url) as proxy, web.client(timeout=60) as http:
        proxied = http.get(proxy.url + "/big")
        direct = http.get(echo_url + "/big")
        (result,) = proxy.results()
    compare(direct, proxied)
    assert len(proxied.content) == len(BIG) and proxied.content == BIG
    assert proxy.recorder.exchanges == 1 and result.scenarios[0].name == "not in spec: GET /big"


def test_a_compressed_answer_is_forwarded_compressed_and_checked_decoded(echo_url: str) -> None:
    with WatchedProxy(echo_url) as proxy, web.client(timeout=30) as http:
        with http.stream("GET", proxy.url + "/gz") as proxied:
            raw = b"".join(proxied.iter_raw())
    assert proxied.headers["content-encoding"] == "gzip" and raw == gzip.compress(b'{"status": "ok"}', mtime=0)


def test_a_body_over_the_bound_is_forwarded_and_reported_as_not_validated(tmp_path: Path) -> None:
    notes = [{"id": f"n{i}", "title": "x" * 1000} for i in range(3000)]  # about 3 MB of JSON
    payload = json.dumps(notes).encode()

    async def list_notes(request: Request) -> Response:
        return Response(payload, media_type="application/json")

    with ThreadServer(Starlette(routes=[Route("/api/core/notes", list_notes)])) as upstream:
        with WatchedProxy(upstream.url) as proxy:
            answer = web.get(proxy.url + "/api/core/notes", headers={"Authorization": "Bearer t"}, timeout=30)
            (result,) = proxy.results()
    assert answer.content == payload
    assert result.warnings == ["GET /api/core/notes: response body not validated: too large (1 exchange)"]
    notes_op = operation(result, "listNotes")
    assert notes_op.cases == 1 and notes_op.findings == [] and "response_schema_conformance" not in notes_op.checks


# outages --------------------------------------------------------------------------------------------------------
def test_an_upstream_that_is_down_gives_502_in_the_error_shape_and_a_report_entry() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    spec = ApiSpec.load(spec_path("xentree"))
    with WatchedProxy(down, request_timeout=5) as proxy:
        answer = web.get(proxy.url + "/api/auth/me", headers={"Authorization": "Bearer t"}, timeout=30)
        (result,) = proxy.results()
    assert answer.status_code == 502 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert spec.error_validator is not None and list(spec.error_validator.iter_errors(body)) == []
    assert body["detail"]["error"] == "upstream_unreachable" and "ConnectError" in body["detail"]["message"]
    (finding,) = operation(result, "getCurrentUser").findings
    assert finding.check == "target_unresponsive" and finding.code == "XC503" and finding.is_error
    assert finding.status == 502 and "authorization: [Filtered]" in finding.curl
    assert result.exit_code == 1


def test_the_error_body_follows_each_specs_error_schema() -> None:
    ledger = ApiSpec.load(spec_path("xp-ledger"))
    body = json.loads(error_body(ledger, "upstream_unreachable", "down"))
    assert ledger.error_validator is not None and list(ledger.error_validator.iter_errors(body)) == []
    assert body["error"] == "upstream_unreachable" and body["message"] == "down"


# the real process -----------------------------------------------------------------------------------------------
def test_the_proxy_process_writes_the_reports_and_the_har_on_sigint(mock_url: str, tmp_path: Path) -> None:
    reports, har = tmp_path / "reports", tmp_path / "traffic.har"
    proc, url = start_proxy(mock_url, reports, "--har", str(har))
    try:
        frontend_session(url)
        web.get(url + "/api/not-a-route", timeout=10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert "conformant (exit 0)" in out and "report.json" in out
    assert "warning (not in the spec) [XC461] not_in_spec status 404 GET /api/not-a-route" in err  # the live line
    data = json.loads((reports / "report.json").read_text())
    assert data["findings"] == {"errors": 0, "warnings": 1}
    me = next(op for op in data["operations"] if op["operation_id"] == "getCurrentUser")
    assert me["statuses_seen"] == {"200": 1, "401": 1} and me["documented_not_seen"] == ["429", "500"]
    assert {p.name for p in reports.iterdir()} == {"junit.xml", "report.json", "report.html", "summary.md"}
    entries = json.loads(har.read_text())["log"]["entries"]
    assert len(entries) == 13 and entries[1]["request"]["url"] == mock_url + "/api/auth/login"  # after the probe
    assert "demo-password" not in har.read_text()  # the login form's password is masked
    authorized = [h for e in entries for h in e["request"]["headers"] if h["name"].lower() == "authorization"]
    assert authorized and {h["value"] for h in authorized} == {"[Filtered]"}


def test_both_apis_are_watched_at_once_each_in_its_own_report(tmp_path: Path) -> None:
    app = create_app(Settings(api="xentree,xp-ledger", seed=0, strict=True, access_log=False, rate_limit="off"))
    with ThreadServer(app) as upstream, WatchedProxy(upstream.url, api="both") as proxy:
        token = web.post(
            proxy.url + "/auth/1.0/token",
            data={"grant_type": "client_credentials"},
            auth=("7nq4k2m9x5c8v1b3z6w0p4r2t8", "example-client-secret-not-real"),
            timeout=30,
        )
        unauthorized = web.get(proxy.url + "/xp/1.0/users/00000000-0000-4000-8000-000000000000/entries", timeout=30)
        health = web.get(proxy.url + "/api/health", timeout=30)
        written = proxy.write_reports(tmp_path)
        results = {r.api: r for r in proxy.results()}
    assert token.status_code == 200 and unauthorized.status_code == 401 and health.status_code == 200
    ledger, xentree = results["xp-ledger"], results["xentree"]
    assert [f.message for f in ledger.findings + xentree.findings] == []
    seen = {op.operation_id: dict(op.statuses_seen) for op in ledger.operations if op.cases}
    assert seen == {"issueAccessToken": {200: 1}, "listUserXpEntries": {401: 1}}
    assert operation(xentree, "getHealth").cases == 1
    assert set(written) == {"xentree", "xp-ledger"} and (tmp_path / "xp-ledger" / "report.json").exists()
