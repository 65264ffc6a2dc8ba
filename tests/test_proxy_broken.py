"""The validating proxy in front of deliberately broken upstreams: each violation on the right operation, with the
right rule; `--enforce` turns a violation into a 502 in the spec's Error shape.

Each upstream is the strict mock behind `rewrite_response` wrappers (the same helpers the contract suite's own
broken-target tests use), each breaking one documented behaviour of one operation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from contract_tests.plugin import ThreadServer, WatchedProxy
from contract_tests.resources import spec_path
from contract_tests.results import FAILED, PASSED, RunResult
from contract_tests.spec import ApiSpec
from tests import web
from tests.test_contract_broken import mock_app, rewrite_response

Change = Callable[[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def edit(change: Callable[[dict[str, Any]], None]) -> Change:
    """Change the JSON object of the answer (the first item of a list)."""

    def apply(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        data = json.loads(body)
        change(data[0] if isinstance(data, list) else data)
        return status, headers, json.dumps(data).encode()

    return apply


def unauthorized_without_challenge(
    status: int, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    headers.pop("www-authenticate", None)
    return 401, headers, json.dumps({"detail": {"error": "not_authenticated", "message": "Log in"}}).encode()


def teapot(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    return 418, headers, body


# (method, path) -> how the upstream breaks it; the operation and the rule the proxy must name
BREAKS: dict[tuple[str, str], tuple[Change, str, str]] = {
    ("GET", "/api/auth/me"): (edit(lambda d: d.update(id=5)), "getCurrentUser", "response_schema_conformance"),
    ("GET", "/api/xp/profile"): (edit(lambda d: d.pop("level")), "getXpProfile", "response_schema_conformance"),
    ("GET", "/api/core/notes"): (unauthorized_without_challenge, "listNotes", "auth_error_shape"),
    ("GET", "/api/health"): (teapot, "getHealth", "status_code_conformance"),
    ("GET", "/api/xp/public-profile/demo"): (
        edit(lambda d: d.update(email="demo@xentree.test")),
        "getPublicXpProfile",
        "public_profile_privacy",
    ),
    ("GET", "/api/core/conversations"): (
        edit(lambda d: d.update(hashed_password="$2b$12$abcdefghijklmnopqrstuv")),
        "listConversations",
        "secrets_exposure",
    ),
}


def broken_mock() -> Any:
    app = mock_app()
    for (method, path), (change, _, _) in BREAKS.items():
        app = rewrite_response(app, lambda s, m=method, p=path: s["method"] == m and s["path"] == p, change)
    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with ThreadServer(broken_mock()) as server:
        yield server.url


def visit(url: str) -> dict[str, httpx.Response]:
    with web.client(base_url=url, timeout=30) as http:
        login = http.post("/api/auth/login", data={"username": "demo", "password": "demo-password"})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        return {"login": login, **{path: http.request(method, path, headers=auth) for method, path in BREAKS}}


def by_operation(result: RunResult) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for op in result.operations:
        for finding in op.findings:
            found.setdefault(op.operation_id, set()).add(finding.check)
    return found


def test_each_violation_is_reported_on_its_operation_with_its_rule(upstream: str) -> None:
    with WatchedProxy(upstream) as proxy:
        answers = visit(proxy.url)
        (result,) = proxy.results()
    assert answers["login"].status_code == 200 and answers["/api/health"].status_code == 418  # passed on as is
    found = by_operation(result)
    for operation, rule in ((op, rule) for _, op, rule in BREAKS.values()):
        assert rule in found.get(operation, set()), (operation, rule, found)
    assert set(found) == {op for _, op, _ in BREAKS.values()}  # login and the rest: nothing
    assert next(op for op in result.operations if op.operation_id == "loginUser").status == PASSED


def test_findings_carry_the_exchange_severity_and_code(upstream: str) -> None:
    with WatchedProxy(upstream) as proxy:
        visit(proxy.url)
        (result,) = proxy.results()
    findings = {(f.operation, f.check): f for f in result.findings}
    wrong_type = findings[("getCurrentUser", "response_schema_conformance")]
    assert wrong_type.code == "ST108" and '5 is not of type "string"' in wrong_type.message
    assert wrong_type.subject == "field /id" and wrong_type.status == 200
    assert "authorization: [Filtered]" in wrong_type.curl and wrong_type.curl.endswith("/api/auth/me")
    assert "exchange: GET /api/auth/me -> 200" in wrong_type.message
    dropped = findings[("getXpProfile", "response_schema_conformance")]
    assert '"level" is a required property' in dropped.message and dropped.severity == "error"
    challenge = findings[("listNotes", "auth_error_shape")]
    assert challenge.code == "XC401" and "no WWW-Authenticate header" in challenge.message
    leak = findings[("getPublicXpProfile", "public_profile_privacy")]
    assert leak.code == "XC451" and "private field '/email'" in leak.message and leak.severity == "error"
    secret = findings[("listConversations", "secrets_exposure")]
    assert secret.severity == "error" and "password hash" in secret.message  # an error whatever the marks say
    teapot = findings[("getHealth", "status_code_conformance")]
    assert teapot.code == "ST103" and teapot.status == 418
    assert result.exit_code == 1
    assert next(op for op in result.operations if op.operation_id == "getPublicXpProfile").status == FAILED


def test_enforce_answers_a_violation_with_502_in_the_error_shape(upstream: str) -> None:
    spec = ApiSpec.load(spec_path("xentree"))
    with WatchedProxy(upstream, enforce=True) as proxy:
        answers = visit(proxy.url)
        (result,) = proxy.results()
    leaked = answers["/api/xp/public-profile/demo"]
    assert leaked.status_code == 502 and "demo@xentree.test" not in leaked.text
    body = leaked.json()
    assert spec.error_validator is not None and list(spec.error_validator.iter_errors(body)) == []
    assert body["detail"]["error"] == "response_contract_violation"
    assert body["detail"]["message"].startswith("getPublicXpProfile: [XC451] Public profile leaks private data")
    assert answers["/api/core/conversations"].status_code == 502  # a leaked hash never reaches the client
    assert answers["login"].status_code == 200 and answers["login"].json()["token_type"].lower() == "bearer"
    # the report still has what the upstream answered, and that the proxy stopped it
    leak = next(f for f in result.findings if f.check == "public_profile_privacy")
    assert leak.status == 200 and "exchange: GET /api/xp/public-profile/demo -> 200" in leak.message


def test_enforce_passes_conforming_answers_unchanged(upstream: str) -> None:
    with WatchedProxy(upstream, enforce=True) as proxy, web.client(timeout=30) as http:
        proxied = http.get(proxy.url + "/api/health/detailed")
        direct = http.get(upstream + "/api/health/detailed")
    assert proxied.status_code == direct.status_code == 200
    assert proxied.json().keys() == direct.json().keys()
    assert [k for k, _ in proxied.headers.raw] == [k for k, _ in direct.headers.raw]


def test_a_request_breaking_the_spec_is_a_warning_when_refused_and_an_error_when_accepted(upstream: str) -> None:
    async def accept_anything(scope: Any, receive: Any, send: Any) -> None:
        body = json.dumps({"id": "n1", "title": "t", "content": "c"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    bad = {"title": 5, "content": "Mitochondria"}
    with WatchedProxy(upstream) as proxy:
        token = visit(proxy.url)["login"].json()["access_token"]
        refused = web.post(proxy.url + "/api/core/notes", json=bad, headers={"Authorization": f"Bearer {token}"})
        (result,) = proxy.results()
    assert refused.status_code == 400
    (warned,) = [f for f in result.findings if f.check == "request_conformance"]
    assert warned.operation == "createNote" and warned.severity == "warning" and warned.code == "XC460"
    assert "body/title: 5 is not of type 'string'" in warned.message and "(refused with 400)" in warned.message
    with ThreadServer(accept_anything) as lenient, WatchedProxy(lenient.url) as proxy:
        web.put(proxy.url + "/api/core/notes/n1", json=bad, headers={"Authorization": "Bearer t"})
        (result,) = proxy.results()
    (accepted,) = [f for f in result.findings if f.check == "request_conformance"]
    assert accepted.operation == "updateNote" and "the upstream accepted it (200)" in accepted.message
    assert accepted.severity == "error"  # updateNote is documented: the deployment takes input its spec forbids
