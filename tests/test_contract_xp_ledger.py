"""The contract suite on the Timeback XP ledger (`xentree-contract run --api xp-ledger`): a clean mock passes, a broken
one is caught with a clear message, refused client credentials stop the run with exit code 2.

The full run talks to the real mock process; each broken target is the mock app in-process (strict, seeded) behind a
small change (an ASGI wrapper or a patched domain function), served by uvicorn in a thread on a free port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from contract_tests import checks, cli, runner
from contract_tests.auth import Principal
from contract_tests.options import RunOptions, UsageError
from contract_tests.plugin import ThreadServer
from contract_tests.results import FAILED, PASSED, Finding, RunResult, ScenarioResult
from contract_tests.scenarios.xp_ledger.ledger import instant, iso
from contract_tests.spec import ApiSpec
from mock_server.app import Settings, create_app
from mock_server.domains import REGISTRY, xp_ledger
from mock_server.resources import spec_path
from tests import web
from tests.conftest import ROOT, Server
from tests.test_contract_broken import (
    Scope,
    answer_instead,
    rewrite_response,
    with_request_headers,
)

LIST_PATH = "/xp/1.0/users/"


def ledger_app() -> Any:
    return create_app(Settings(api="xp-ledger", seed=0, strict=True, access_log=False, rate_limit="off"))


def full_client(applications: list[dict[str, Any]]) -> dict[str, Any]:
    """A demo application holding every scope (reads and writes)."""
    return next(a for a in applications if {"events.readonly", "events.write"} <= set(a["scopes"]))


@pytest.fixture(scope="module")
def ledger_server() -> Iterator[Server]:
    # Both APIs: the shared Server helper waits for /api/health, which only the Xentree API serves; the ledger's
    # paths do not overlap Xentree's, so the run sees exactly what `--api xp-ledger` alone serves.
    server = Server("--api", "xentree,xp-ledger", "--strict", "--quiet", "--rate-limit", "off", "--seed", "3").start()
    yield server
    server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    servers: list[ThreadServer] = []

    def start(app: Any) -> str:
        servers.append(ThreadServer(app).start(health_path="/__mock__"))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def contract(url: str, app: Any, **options: Any) -> RunResult:
    client = full_client(app.state.mock.credentials.applications)
    defaults: dict[str, Any] = {
        "base_url": url,
        "api": "xp-ledger",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "max_examples": 3,
        "progress": False,
        "report_dir": None,
        "seed": 1,
        "settle_seconds": 2.0,
    }
    merged = {**defaults, **options}
    for key in ("operations", "phases"):
        if key in merged:
            merged[key] = tuple(merged[key])
    return runner.run(RunOptions(**merged))


def scenario(result: RunResult, name: str) -> ScenarioResult:
    return next(s for s in result.scenarios if s.name == name)


def problems(result: RunResult) -> str:
    lines = [f"{f.operation}: {f.check}: {f.message}" for f in result.findings]
    lines += [f"{s.name}: {s.status}: {s.skip_reason or s.errors}" for s in result.scenarios if s.status != PASSED]
    return "\n".join(lines) or str(result.errors)


def findings(result: RunResult, check: str) -> list[Finding]:
    return [f for f in result.findings if f.check == check]


# a conformant target -----------------------------------------------------------------------------------------------
def test_the_full_ledger_run_finds_zero_failures_in_the_mock(ledger_server: Server, tmp_path: Path) -> None:
    client = full_client(web.get(f"{ledger_server.url}/__mock__/credentials").json()["applications"])
    env = {"XENTREE_CLIENT_ID": client["client_id"], "XENTREE_CLIENT_SECRET": client["client_secret"]}
    cmd = [
        sys.executable,
        "-m",
        "contract_tests",
        "run",
        "--api",
        "xp-ledger",
        "--base-url",
        ledger_server.url,
        "--max-examples",
        "2",
        "--seed",
        "2",
        "--report-dir",
        str(tmp_path),
        "--quiet",
        "--allow-destructive",
    ]  # fuzzing ingestion writes permanent entries: fine on the mock
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**_env(), **env})
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "conformant (exit 0), conformance score 100.0%" in done.stdout
    assert "0 errors, 0 warnings" in done.stdout  # warnings (inferred rules) count against the mock too
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["api"] == "xp-ledger" and report["counts"]["failed"] == report["counts"]["errored"] == 0
    assert report["identity"] == {
        "kind": "client",
        "client_id": client["client_id"],
        "scopes": ["events.readonly", "events.write"],
    }
    assert report["options"]["client_secret"] == "[Filtered]"
    operations = {op["operation_id"]: op for op in report["operations"]}
    assert set(operations) == {"issueAccessToken", "sendCaliperEvents", "listUserXpEntries"}
    assert all(op["status"] == "passed" for op in operations.values()), operations
    assert 200 in map(int, operations["issueAccessToken"]["statuses_seen"])  # the Basic header reached the token op
    assert {"200", "202"} & set(operations["sendCaliperEvents"]["statuses_seen"])
    scenarios = {s["name"]: s for s in report["scenarios"]}
    for name in (
        "ledger auth: a missing or garbage token answers 401",
        "ledger auth: a wrong client secret answers 401 invalid_client",
        "ledger scopes: a token without events.readonly cannot read XP",
        "ledger scopes: a token without events.write cannot send events",
        "ledger idempotency: the same XP event sent twice creates one entry",
        "ledger paging: total is stable and pages split the entries",
        "ledger paging: limits outside 1-100 and negative offsets answer 400",
        "ledger filters: startDate and endDate are inclusive",
        "ledger filters: applicationId lists only that application's entries",
        "ledger filters: a malformed date answers 400",
        "ledger filters: an unknown student answers 404",
        "stateful: sequences following the spec's links",
    ):
        assert scenarios[name]["status"] == "passed", scenarios.get(name)
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == len(operations) + len(scenarios)
    assert junit.find(".//failure") is None and junit.find(".//error") is None
    assert {p.name for p in tmp_path.iterdir()} >= {"junit.xml", "report.json", "report.html", "summary.md"}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("XENTREE_")}


def test_refused_client_credentials_exit_2(ledger_server: Server) -> None:
    client = full_client(web.get(f"{ledger_server.url}/__mock__/credentials").json()["applications"])
    cmd = [
        sys.executable,
        "-m",
        "contract_tests",
        "run",
        "--api",
        "xp-ledger",
        "--base-url",
        ledger_server.url,
        "--client-id",
        client["client_id"],
        "--client-secret",
        "wrong-secret",
        "--no-report",
        "--quiet",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "credentials refused: the token operation refused client" in done.stdout
    assert "401" in done.stdout and "invalid_client" in done.stdout
    token = subprocess.run(
        [*cmd[:8], "--token", "not-a-token", "--no-report", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert token.returncode == 2 and "the target refused the bearer token" in token.stdout, token.stdout
    wrong_api = subprocess.run(
        [*cmd[:8], "--username", "demo", "--password", "x", "--no-report"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert wrong_api.returncode == 2 and "do not apply to --api xp-ledger" in wrong_api.stderr


def test_a_processing_delay_within_settle_seconds_passes(serve: Callable[[Any], str]) -> None:
    app = ledger_app()
    # entries show 0.3 s after an event: later than the first read (the case has to poll, then wait as long again
    # for the repeated event), well within --settle-seconds
    xp_ledger.set_processing_delay(app.state.mock.store, 0.3)
    result = contract(serve(app), app, operations=["sendCaliperEvents"], phases=["scenarios"], settle_seconds=2.0)
    case = scenario(result, "ledger idempotency: the same XP event sent twice creates one entry")
    assert case.status == PASSED, problems(result)
    assert result.exit_code == 0, problems(result)
    assert case.seconds >= 0.3, case.seconds  # it polled until the entry showed (0.3 s after the first event)


# broken targets ----------------------------------------------------------------------------------------------------
def test_a_duplicate_entry_for_a_repeated_event_id_is_detected(
    serve: Callable[[Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target forgets the event ids it has seen: a repeated event creates a second entry."""
    original = REGISTRY.handlers["sendCaliperEvents"]

    def forgetful(call: Any) -> Any:
        call.store.run("DELETE FROM xp_ledger_events")  # the idempotency keys
        return original(call)

    monkeypatch.setitem(REGISTRY.handlers, "sendCaliperEvents", forgetful)  # read when the app is built
    app = ledger_app()
    result = contract(serve(app), app, operations=["sendCaliperEvents"], phases=["scenarios"])
    assert result.exit_code == 1
    case = scenario(result, "ledger idempotency: the same XP event sent twice creates one entry")
    assert case.status == FAILED, problems(result)
    messages = "\n".join(f.message for f in case.findings)
    assert "sent twice, produced 2 ledger entries" in messages and "expected exactly one" in messages, messages
    assert "acknowledged as 'queued', expected 'duplicate'" in messages
    assert case.findings[0].code == "XC470" and case.findings[0].curl.startswith("curl")


def test_a_total_that_changes_between_pages_is_detected(serve: Callable[[Any], str]) -> None:
    def drifting_total(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        data = json.loads(body)
        if status == 200 and isinstance(data, dict) and "total" in data:
            data["total"] += data.get("offset", 0)
        return status, headers, json.dumps(data).encode()

    app = ledger_app()
    url = serve(rewrite_response(app, lambda s: s["path"].startswith(LIST_PATH), drifting_total))
    result = contract(url, app, operations=["listUserXpEntries"], phases=["scenarios"])
    assert result.exit_code == 1
    case = scenario(result, "ledger paging: total is stable and pages split the entries")
    assert case.status == FAILED, problems(result)
    assert any("says total" in f.message and "the first page said" in f.message for f in case.findings), problems(
        result
    )


def test_an_exclusive_end_date_is_detected(serve: Callable[[Any], str]) -> None:
    """The target treats endDate as exclusive (it moves the bound 1 microsecond back)."""
    inner = ledger_app()

    async def exclusive_end(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(LIST_PATH) and b"endDate=" in scope["query_string"]:
            query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
            stamp = instant(query["endDate"][0])
            if stamp is not None:
                query["endDate"] = [iso(stamp - timedelta(microseconds=1))]
            scope = {**scope, "query_string": urlencode(query, doseq=True).encode()}
        await inner(scope, receive, send)

    result = contract(serve(exclusive_end), inner, operations=["listUserXpEntries"], phases=["scenarios"])
    case = scenario(result, "ledger filters: startDate and endDate are inclusive")
    assert case.status == FAILED, problems(result)
    assert any("dated exactly at the bound is not listed" in f.message for f in case.findings), problems(result)


def test_an_ignored_read_scope_is_detected(serve: Callable[[Any], str]) -> None:
    """The target lets any valid token read (it swaps in a full-scope token on the read operation)."""
    app = ledger_app()
    client = full_client(app.state.mock.credentials.applications)
    full: dict[str, str] = {}

    def any_token_reads(scope: Scope, headers: dict[str, str]) -> dict[str, str]:
        if scope["path"].startswith(LIST_PATH) and headers.get("authorization", "").startswith("Bearer ey"):
            return {**headers, "authorization": full["header"]}
        return headers

    url = serve(with_request_headers(app, any_token_reads))
    answer = web.post(
        f"{url}/auth/1.0/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    full["header"] = f"Bearer {answer.json()['access_token']}"
    result = contract(url, app, operations=["listUserXpEntries"], phases=["scenarios"])
    case = scenario(result, "ledger scopes: a token without events.readonly cannot read XP")
    assert case.status == FAILED, problems(result)
    message = case.findings[0].message
    assert "listUserXpEntries with a token lacking events.readonly (scopes: events.write): expected 403" in message
    other = scenario(result, "ledger scopes: a token without events.write cannot send events")
    assert other.status == PASSED, problems(result)


def test_a_401_in_the_xentree_error_shape_is_detected(serve: Callable[[Any], str]) -> None:
    """The run-wide 401 rule uses the ledger's own Error schema (`{"error": ...}`), not Xentree's `{"detail": ...}`,
    and the ledger's declared challenge (`^Bearer`)."""
    xentree_shaped = json.dumps({"detail": {"error": "not_authenticated", "message": "Authentication required"}})

    def wrong_shape(scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["path"].startswith(LIST_PATH) and "authorization" not in headers:
            return 401, {"www-authenticate": 'Basic realm="x"'}, xentree_shaped.encode()
        return None

    app = ledger_app()
    # the ledger's 401 response (shape and challenge) is marked inferred in its spec: errors only when strict
    result = contract(
        serve(answer_instead(app, wrong_shape)),
        app,
        operations=["listUserXpEntries"],
        phases=["scenarios"],
        strict_inferred=True,
    )
    case = scenario(result, "ledger auth: a missing or garbage token answers 401")
    assert case.status == FAILED, problems(result)
    assert all(f.provenance == "inferred" for f in case.findings), problems(result)
    shape = [f for f in case.findings if f.check == "auth_error_shape"]
    assert shape and shape[0].code == "XC401", problems(result)
    assert "401 body breaks the Error shape at (root): 'error' is a required property" in shape[0].message
    assert "does not match the declared pattern '^Bearer'" in shape[0].message


def test_429_without_retry_after_is_detected_on_the_ledger(serve: Callable[[Any], str]) -> None:
    throttled = json.dumps({"error": "rate_limited", "message": "Too many requests"}).encode()

    def throttle(scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        return (429, {}, throttled) if scope["path"].startswith(LIST_PATH) else None

    app = ledger_app()
    result = contract(
        serve(answer_instead(app, throttle)),
        app,
        operations=["listUserXpEntries"],
        phases=["examples", "fuzzing"],
        max_examples=2,
        strict_inferred=True,
    )  # Retry-After: inferred
    assert result.exit_code == 1
    found = findings(result, "rate_limit_headers")
    assert found and found[0].operation == "listUserXpEntries", problems(result)
    assert found[0].code == "XC429" and "429 response has no Retry-After header" in found[0].message


# building blocks (no server) ---------------------------------------------------------------------------------------
def test_the_spec_view_knows_the_ledger_security() -> None:
    spec = ApiSpec.load(spec_path("xp-ledger"))
    ops = spec.by_id
    assert spec.token_operation is ops["issueAccessToken"] and spec.oauth2_scopes == ("events.readonly", "events.write")
    assert ops["issueAccessToken"].public and ops["issueAccessToken"].accepts_basic
    assert ops["listUserXpEntries"].accepts_bearer and ops["listUserXpEntries"].bearer_scopes == ("events.readonly",)
    assert ops["sendCaliperEvents"].bearer_scopes == ("events.write",) and not ops["sendCaliperEvents"].public
    ledger_401 = b'{"error":"invalid_token","message":"Authorization Bearer token is missing"}'
    bearer = {"www-authenticate": 'Bearer realm="x"'}
    assert checks.auth_error_problems(spec, 401, bearer, ledger_401, ops["listUserXpEntries"]) == []
    xentree_401 = b'{"detail":{"error":"not_authenticated","message":"Authentication is missing"}}'
    assert "'error' is a required property" in checks.auth_error_problems(spec, 401, bearer, xentree_401)[0]
    basic = {"www-authenticate": 'Basic realm="x"'}
    assert checks.auth_error_problems(spec, 401, basic, ledger_401, ops["issueAccessToken"]) == []
    wrong = checks.auth_error_problems(spec, 401, basic, ledger_401, ops["listUserXpEntries"])
    assert wrong and "does not match the declared pattern '^Bearer'" in wrong[0]
    no_retry_after = checks.rate_limit_problems(spec, ops["listUserXpEntries"], 429, {})
    assert no_retry_after == ["429 response has no Retry-After header"]


def test_credential_options_follow_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XENTREE_USERNAME", "demo")
    monkeypatch.setenv("XENTREE_PASSWORD", "demo-password")
    monkeypatch.setenv("XENTREE_CLIENT_ID", "cid")
    monkeypatch.setenv("XENTREE_CLIENT_SECRET", "secret")
    monkeypatch.setenv("XENTREE_SETTLE_SECONDS", "1.5")
    ledger = cli.options_from(cli.parser().parse_args(["run", "--base-url", "http://x", "--api", "xp-ledger"]))
    assert (ledger.username, ledger.client_id, ledger.client_secret, ledger.settle_seconds) == (
        None,
        "cid",
        "secret",
        1.5,
    )
    assert ledger.validate().public_dict()["client_secret"] == "[Filtered]"
    xentree = cli.options_from(cli.parser().parse_args(["run", "--base-url", "http://x"])).validate()
    assert (xentree.username, xentree.client_id) == ("demo", None)  # the environment serves both APIs
    flags = cli.options_from(
        cli.parser().parse_args(["run", "--base-url", "http://x", "--api", "xp-ledger", "--register"])
    )
    with pytest.raises(UsageError, match="--register does not apply to --api xp-ledger"):
        flags.validate()
    with pytest.raises(UsageError, match="--client-id and --client-secret go together"):
        RunOptions(base_url="http://x", api="xp-ledger", client_id="a").validate()
    client = Principal("client", token="t", client_id="id", client_secret="s")
    assert client.basic() == {"Authorization": "Basic aWQ6cw=="}
