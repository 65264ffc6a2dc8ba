"""Acceptance: the contract suite catches a deliberately broken deployment, with a clear message for each breach.

Each broken target is the real mock app (in-process, strict, seeded) behind a small ASGI wrapper that breaks one
documented behaviour, served by uvicorn in a thread on a free port. The suite talks HTTP to it like to any target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract_tests import runner
from contract_tests.options import RunOptions
from contract_tests.plugin import ThreadServer
from contract_tests.results import FAILED, Finding, RunResult
from mock_server.app import Settings, create_app
from tests.conftest import ROOT

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]


def mock_app() -> Any:
    return create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="off"))


def rewrite_response(
    app: Any,
    match: Callable[[Scope], bool],
    change: Callable[[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]],
) -> ASGI:
    """Let the mock answer, then change the status, headers or body of matching requests."""

    async def wrapper(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not match(scope):
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
            status, headers, body = change(start["status"], headers, b"".join(chunks))
            headers["content-length"] = str(len(body))
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    return wrapper


def answer_instead(app: Any, decide: Callable[[Scope, bytes], tuple[int, dict[str, str], bytes] | None]) -> ASGI:
    """Read the request; answer it directly when `decide` says so, else hand it (body replayed) to the mock."""

    async def wrapper(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        verdict = decide(scope, body)
        if verdict is None:
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)
            return
        status, headers, content = verdict
        headers = {**headers, "content-type": "application/json", "content-length": str(len(content))}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return wrapper


def with_request_headers(app: Any, change: Callable[[Scope, dict[str, str]], dict[str, str]]) -> ASGI:
    """Change the request headers before the mock sees them."""

    async def wrapper(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = change(scope, {k.decode().lower(): v.decode() for k, v in scope["headers"]})
            scope = {**scope, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
        await app(scope, receive, send)

    return wrapper


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    servers: list[ThreadServer] = []

    def start(app: Any) -> str:
        servers.append(ThreadServer(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def contract(url: str, tmp_path: Path, **options: Any) -> RunResult:
    defaults: dict[str, Any] = {
        "base_url": url,
        "register": True,
        "allow_destructive": True,
        "max_examples": 5,
        "progress": False,
        "report_dir": None,
        "seed": 1,
    }
    merged = {**defaults, **options}
    for key in ("include_tags", "operations", "phases"):
        if key in merged:
            merged[key] = tuple(merged[key])
    return runner.run(RunOptions(**merged))


def findings(result: RunResult, check: str) -> list[Finding]:
    return [f for f in result.findings if f.check == check]


def problems(result: RunResult) -> str:
    return "\n".join(f"{f.operation}: {f.check}: {f.message}" for f in result.findings) or str(result.errors)


# the breaches ------------------------------------------------------------------------------------------------------
def test_wrong_field_type_is_detected(serve: Callable[[Any], str], tmp_path: Path) -> None:
    def number_status(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        data = json.loads(body)
        return status, headers, json.dumps({**data, "status": 1}).encode()

    url = serve(
        rewrite_response(mock_app(), lambda s: s["path"] == "/api/health" and s["method"] == "GET", number_status)
    )
    # getHealth's path is our inference: the breach is a warning unless inferred rules count as errors
    result = contract(
        url, tmp_path, operations=["getHealth"], phases=["examples", "coverage", "fuzzing"], strict_inferred=True
    )
    assert result.exit_code == 1
    health = next(op for op in result.operations if op.operation_id == "getHealth")
    assert health.status == FAILED
    found = findings(result, "response_schema_conformance")
    assert found and found[0].operation == "getHealth", problems(result)
    assert '1 is not of type "string"' in found[0].message and found[0].curl.startswith("curl")


def test_missing_scope_check_is_detected(serve: Callable[[Any], str], tmp_path: Path) -> None:
    """The target ignores API-key scopes on one operation (any key acts as a full-access key there)."""
    app = mock_app()
    full_key = next(k["key"] for k in app.state.mock.credentials.api_keys if k["name"] == "demo-full-access")

    def ignore_scopes(scope: Scope, headers: dict[str, str]) -> dict[str, str]:
        if scope["path"] == "/api/core/notes" and scope["method"] == "GET" and "x-api-key" in headers:
            return {**headers, "x-api-key": full_key}
        return headers

    url = serve(with_request_headers(app, ignore_scopes))
    result = contract(url, tmp_path, include_tags=["Conversations"], phases=["scenarios"], strict_inferred=True)
    assert result.exit_code == 1  # (listNotes' path is inferred: without --strict-inferred a warning)
    broken = next(s for s in result.scenarios if s.name == "scope enforcement: listNotes")
    assert broken.status == FAILED, problems(result)
    message = broken.findings[0].message
    assert "listNotes with an API key lacking conversations:read" in message and "expected 403" in message
    others = [s for s in result.scenarios if s.name.startswith("scope enforcement:") and s.name != broken.name]
    assert others and all(s.status != FAILED for s in others), problems(result)


def test_429_without_retry_after_is_detected(serve: Callable[[Any], str], tmp_path: Path) -> None:
    throttled = json.dumps({"detail": {"error": "rate_limited", "message": "Too many requests"}}).encode()

    def throttle(scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if scope["path"] == "/api/health/detailed":
            return 429, {"ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "5"}, throttled
        return None

    url = serve(answer_instead(mock_app(), throttle))
    result = contract(
        url, tmp_path, operations=["getDetailedHealth"], phases=["coverage", "fuzzing"], strict_inferred=True
    )  # Retry-After on 429 is inferred
    assert result.exit_code == 1
    found = findings(result, "rate_limit_headers")
    assert found and found[0].operation == "getDetailedHealth", problems(result)
    assert found[0].code == "XC429" and "429 response has no Retry-After header" in found[0].message


def test_public_profile_leaking_email_is_detected(serve: Callable[[Any], str], tmp_path: Path) -> None:
    def leak(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        data = json.loads(body)
        if status == 200 and isinstance(data, dict):
            data["email"] = f"{data.get('username', 'someone')}@xentree.test"
        return status, headers, json.dumps(data).encode()

    url = serve(rewrite_response(mock_app(), lambda s: s["path"].startswith("/api/xp/public-profile/"), leak))
    result = contract(
        url,
        tmp_path,
        operations=["getPublicXpProfile", "registerUser"],
        phases=["examples", "fuzzing", "stateful", "scenarios"],
    )
    assert result.exit_code == 1
    scenario = next(s for s in result.scenarios if s.name == "public: getPublicXpProfile")
    assert scenario.status == FAILED, problems(result)
    message = scenario.findings[0].message
    assert "private field '/email'" in message and "email address" in message
    assert any(f.operation == "getPublicXpProfile" for f in findings(result, "public_profile_privacy"))


def test_server_error_on_some_input_is_detected(serve: Callable[[Any], str], tmp_path: Path) -> None:
    """A 500 only for long display names: the coverage phase's boundary values must find it."""
    crash = json.dumps({"detail": {"error": "internal_error", "message": "boom"}}).encode()

    def long_names_crash(scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if scope["path"] == "/api/auth/me" and scope["method"] == "PATCH":
            try:
                data = json.loads(body)
            except ValueError:
                return None
            if isinstance(data, dict) and isinstance(data.get("full_name"), str) and len(data["full_name"]) > 100:
                return 500, {}, crash
        return None

    url = serve(answer_instead(mock_app(), long_names_crash))
    result = contract(url, tmp_path, operations=["updateCurrentUser"], phases=["coverage", "fuzzing"])
    assert result.exit_code == 1
    found = findings(result, "not_a_server_error")
    assert found and found[0].operation == "updateCurrentUser" and found[0].status == 500, problems(result)
    assert found[0].code == "ST101" and "full_name" in found[0].curl


def test_broken_isolation_is_detected(serve: Callable[[Any], str], tmp_path: Path) -> None:
    """The target acts as the first caller of the notes operations for everyone (no object-level check)."""
    first: dict[str, str] = {}

    def everyone_is_the_owner(scope: Scope, headers: dict[str, str]) -> dict[str, str]:
        if scope["path"].startswith("/api/core/notes") and "authorization" in headers:
            first.setdefault("authorization", headers["authorization"])
            return {**headers, "authorization": first["authorization"]}
        return headers

    url = serve(with_request_headers(mock_app(), everyone_is_the_owner))
    result = contract(url, tmp_path, operations=["createNote"], phases=["scenarios"])
    assert result.exit_code == 1
    notes = next(s for s in result.scenarios if s.name == "isolation: notes")
    assert notes.status == FAILED, problems(result)
    assert any("a second user reached the first user's note through updateNote" in f.message for f in notes.findings), (
        problems(result)
    )


def test_an_operation_refusing_valid_credentials_fails_the_run(serve: Callable[[Any], str], tmp_path: Path) -> None:
    """Plain Schemathesis only warns when an operation answers nothing but 401; here it is a failure."""
    refused = json.dumps({"detail": {"error": "not_authenticated", "message": "Authentication is missing"}}).encode()

    def always_401(scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if scope["path"] == "/api/xp/streak-status":
            return 401, {"www-authenticate": "Bearer"}, refused
        return None

    url = serve(answer_instead(mock_app(), always_401))
    result = contract(url, tmp_path, operations=["getStreakStatus"], phases=["examples", "coverage", "fuzzing"])
    assert result.exit_code == 1
    found = findings(result, "credentials")
    assert found and found[0].operation == "getStreakStatus", problems(result)
    assert "every response of getStreakStatus was 401 although the run's Authorization credentials were sent" in (
        found[0].message
    )


def test_cli_exits_1_when_the_target_breaches_the_contract(serve: Callable[[Any], str], tmp_path: Path) -> None:
    def number_status(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        return status, headers, json.dumps({**json.loads(body), "status": 1}).encode()

    url = serve(rewrite_response(mock_app(), lambda s: s["path"] == "/api/health", number_status))
    cmd = [
        sys.executable,
        "-m",
        "contract_tests",
        "run",
        "--base-url",
        url,
        "--register",
        "--operation",
        "getHealth",
        "--phases",
        "coverage",
        "--max-examples",
        "3",
        "--report-dir",
        str(tmp_path / "r"),
        "--quiet",
        "--strict-inferred",
    ]  # getHealth is inferred
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "contract failures (exit 1)" in done.stdout and "FAIL GET /api/health (getHealth)" in done.stdout
    junit = (tmp_path / "r" / "junit.xml").read_text()
    assert 'name="GET /api/health (getHealth)"' in junit and "<failure" in junit
