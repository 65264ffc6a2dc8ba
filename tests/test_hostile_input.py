"""Hostile input (issue 12, point 5) and simulated statuses with their headers (issue 11, point 4).

Each attack goes in through HTTP and must come out as a clear 4xx in the spec's Error shape, never a 500: deep JSON,
unpaired surrogates in uploaded documents, non-ASCII `Prefer` numbers, out-of-range control inputs, and bodies past
1 MiB — chunked or with a lying Content-Length, refused while reading so that the server's memory does not grow
with the body (checked on a real server process through its RSS).
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from mock_server import runtime
from mock_server.resources import load_yaml, spec_path
from tests import web
from tests.conftest import Server, bearer, login, make_client

NOTES = "/api/core/notes"
DOCS = "/api/rag/documents"
LOGIN = "/api/auth/login"
MIB = 1024 * 1024


def error_of(response: httpx.Response, status: int) -> str:
    """The `error` code of a Xentree Error body, after checking the status and the shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"]["message"], str), body
    return body["detail"]["error"]


def nested(depth: int) -> str:
    return '{"title": "deep", "content": ' + "[" * depth + "]" * depth + "}"


# JSON nesting ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [65, 500, 5000, 200_000])
def test_deep_json_is_a_400_not_a_recursion_error(client: TestClient, demo: dict[str, str], depth: int) -> None:
    response = client.post(NOTES, content=nested(depth), headers={**demo, "Content-Type": "application/json"})
    assert error_of(response, 400) == "json_too_deep"


def test_json_up_to_64_levels_is_parsed(client: TestClient, demo: dict[str, str]) -> None:
    """The outer object is level 1, so 63 nested lists reach level 64: accepted by the parser (the schema then
    refuses an array where it wants a string, which proves the body got that far)."""
    response = client.post(NOTES, content=nested(63), headers={**demo, "Content-Type": "application/json"})
    assert error_of(response, 400) == "validation_error"
    assert "content" in response.json()["detail"]["message"]


def test_deep_json_in_the_xp_ledgers_shape() -> None:
    with make_client(api="xp-ledger") as ledger:
        body = '{"grant_type": ' + "[" * 1000 + "]" * 1000 + "}"
        response = ledger.post("/auth/1.0/token", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "json_too_deep" and error["issues"][0]["in"] == "body"


def test_deep_json_to_the_control_api(client: TestClient) -> None:
    response = client.post(
        "/__mock__/reset", content="[" * 3000 + "]" * 3000, headers={"Content-Type": "application/json"}
    )
    assert error_of(response, 400) == "json_too_deep"


def test_surrogates_nan_and_infinity_in_json_bodies(client: TestClient, demo: dict[str, str]) -> None:
    for raw in [
        '{"title": "\\ud800", "content": "x"}',
        '{"title\\udfff": "t", "content": "x"}',
        '{"title": "t", "content": "x", "n": NaN}',
        '{"title": "t", "content": "x", "n": -Infinity}',
    ]:
        response = client.post(NOTES, content=raw, headers={**demo, "Content-Type": "application/json"})
        assert error_of(response, 400) == "validation_error", raw
    reset = client.post(
        "/__mock__/reset", content='{"fixture": "\\udc00"}', headers={"Content-Type": "application/json"}
    )
    assert error_of(reset, 400) == "validation_error"


# uploaded documents ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "document",
    ['{"glossary": "\\ud800"}', '{"\\udfff": "key"}', '["fine", {"deep": ["\\ud83d"]}]', '"\\udc00 alone"'],
)
def test_unpaired_surrogates_in_an_uploaded_json_document(
    client: TestClient, demo: dict[str, str], document: str
) -> None:
    response = client.post(DOCS, files={"file": ("notes.json", document.encode(), "application/json")}, headers=demo)
    assert error_of(response, 400) == "undecodable_document"
    assert "surrogate" in response.json()["detail"]["message"]
    assert client.get(DOCS, headers=demo).status_code == 200  # and the knowledge base still lists fine


def test_a_whole_surrogate_pair_is_text(client: TestClient, demo: dict[str, str]) -> None:
    document = b'{"mood": "\\ud83d\\ude00 happy"}'
    response = client.post(DOCS, files={"file": ("mood.json", document, "application/json")}, headers=demo)
    assert response.status_code == 201, response.text


def test_encoded_surrogates_in_a_text_document(client: TestClient, demo: dict[str, str]) -> None:
    raw = b"before \xed\xa0\x80 after"  # the UTF-8-style bytes of U+D800: not UTF-8
    response = client.post(DOCS, files={"file": ("notes.txt", raw, "text/plain")}, headers=demo)
    assert error_of(response, 400) == "undecodable_document"


# Prefer --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prefer",
    [
        "code=%C2%B2",
        "code=\u00b2",
        "code=%D9%A3",
        "code=4_29",
        "code=99999999999999",
        "delay=%C2%B2",
        "delay=1e3",
        "delay=-5",
    ],
)
def test_prefer_numbers_are_ascii_digits_or_ignored_with_a_warning(
    client: TestClient, demo: dict[str, str], prefer: str
) -> None:
    response = client.get("/api/auth/me", headers={**demo, "Prefer": prefer.encode("utf-8")})  # type: ignore[dict-item]
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "demo"
    warning = response.headers["X-Mock-Warning"]
    assert "ignored" in warning and warning.isascii()
    assert "Preference-Applied" not in response.headers


def test_prefer_example_names_cannot_break_the_warning_header(client: TestClient, demo: dict[str, str]) -> None:
    prefer = "code=401, example=%E2%82%AC%0D%0ASet-Cookie:%20x=1"
    response = client.get("/api/auth/me", headers={**demo, "Prefer": prefer})
    assert response.status_code == 401 and "set-cookie" not in response.headers
    warning = response.headers["X-Mock-Warning"]
    assert warning.isascii() and "\r" not in warning and "No example named" in warning


# simulated statuses carry their headers ----------------------------------------------------------------------------
def test_a_simulated_429_carries_the_limiters_numbers() -> None:
    with make_client(rate_limit="10/60") as client:
        response = client.get("/api/xp/profile", headers={**bearer(login(client)), "Prefer": "code=429"})
    assert response.status_code == 429 and response.headers["Preference-Applied"] == "code=429"
    assert response.headers["Retry-After"] == "6"  # one token of 10 per 60 s
    assert response.headers["RateLimit-Limit"] == "10"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]


def test_a_simulated_429_under_the_default_limit(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/xp/profile", headers={**demo, "Prefer": "code=429"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1 and response.headers["RateLimit-Limit"] == "6000"
    assert response.headers["RateLimit-Remaining"] == "0"


def test_a_simulated_401_carries_the_bearer_challenge(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/xp/profile", headers={**demo, "Prefer": "code=401"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert "Retry-After" not in response.headers


def test_simulated_401s_of_the_xp_ledger_use_its_schemes() -> None:
    with make_client(api="xp-ledger") as ledger:
        token = ledger.post(
            "/auth/1.0/token", headers={"Prefer": "code=401"}, data={"grant_type": "client_credentials"}
        )
        assert token.status_code == 401 and token.headers["WWW-Authenticate"].startswith("Basic ")
        assert token.json()["error"] == "invalid_client"
        limited = ledger.post(
            "/auth/1.0/token", headers={"Prefer": "code=429"}, data={"grant_type": "client_credentials"}
        )
        assert limited.status_code == 429 and limited.headers["RateLimit-Remaining"] == "0"
        assert limited.headers["Retry-After"] == limited.headers["RateLimit-Reset"]


def test_a_simulated_status_without_declared_headers_gets_none(client: TestClient, demo: dict[str, str]) -> None:
    real = client.get("/api/organizations", headers=demo)
    response = client.get(
        "/api/organizations/00000000-0000-4000-8000-000000000000", headers={**demo, "Prefer": "code=404"}
    )
    assert response.status_code == 404 and response.headers["Preference-Applied"] == "code=404"
    assert "Retry-After" not in response.headers and "WWW-Authenticate" not in response.headers
    assert int(response.headers["RateLimit-Remaining"]) > 0  # the real limiter's numbers, untouched
    assert real.headers["RateLimit-Limit"] == response.headers["RateLimit-Limit"]


@pytest.fixture
def extended_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The Xentree spec with two more headers on the shared 404: one with an example, one with only a schema."""
    doc = load_yaml(spec_path("xentree").read_text())
    doc["components"]["responses"]["NotFound"]["headers"] = {
        "X-Request-Id": {"schema": {"type": "string"}, "example": "req-7f3a"},
        "X-Shard": {"schema": {"type": "integer", "minimum": 1, "maximum": 9}},
    }
    path = tmp_path / "xentree.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setattr(runtime, "spec_path", lambda api="xentree": path if api == "xentree" else spec_path(api))
    with make_client() as client:
        yield client


def test_every_declared_header_gets_its_example_or_a_generated_value(extended_spec: TestClient) -> None:
    demo = bearer(login(extended_spec))
    response = extended_spec.get(
        "/api/organizations/00000000-0000-4000-8000-000000000000", headers={**demo, "Prefer": "code=404"}
    )
    assert response.status_code == 404
    assert response.headers["X-Request-Id"] == "req-7f3a"
    assert 1 <= int(response.headers["X-Shard"]) <= 9
    real = extended_spec.get("/api/organizations/00000000-0000-4000-8000-000000000000", headers=demo)
    assert real.status_code == 404 and "X-Shard" not in real.headers  # only simulated answers are filled in


# control API inputs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/__mock__/state/users?limit=9999999999999999999",
        "/__mock__/state/users?limit=10001",
        "/__mock__/state/users?limit=-1",
        "/__mock__/journal?limit=%C2%B2",
        "/__mock__/journal?limit=%D9%A3",
        "/__mock__/journal?limit=1e3",
        "/__mock__/journal?limit=" + "9" * 5000,
        "/__mock__/journal?lmit=5",
        "/__mock__/clock?x=1",
    ],
)
def test_control_queries_are_bounded_integers(client: TestClient, path: str) -> None:
    assert error_of(client.get(path), 400) == "validation_error"


def test_control_queries_within_bounds(client: TestClient) -> None:
    assert len(client.get("/__mock__/state/users?limit=10000").json()["rows"]) == 3
    assert client.get("/__mock__/journal?limit=0").json()["entries"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/__mock__/reset", {"seed": True}),
        ("/__mock__/reset", {"seed": 1.5}),
        ("/__mock__/reset", {"seed": 2**64}),
        ("/__mock__/reset", {"seed": -1}),
        ("/__mock__/reset", {"seed": "5"}),
        ("/__mock__/reset", {"seeed": 5}),
        ("/__mock__/reset", [5]),
        ("/__mock__/reset", {"fixture": 7}),
        ("/__mock__/clock/advance", {"days": 1e300}),
        ("/__mock__/clock/advance", {"days": True}),
        ("/__mock__/clock/advance", {"seconds": 1e308, "days": 1e308}),
        ("/__mock__/clock/advance", {}),
        ("/__mock__/clock/advance", {"days": 36600, "weeks": 5000}),
        ("/__mock__/clock/advance", {"fortnights": 1}),
        ("/__mock__/clock/set", {"at": "9999-12-31T23:59:59-01:00"}),
        ("/__mock__/clock/set", {"at": "0001-01-01T00:00:00Z"}),
        ("/__mock__/clock/set", {"at": 1700000000}),
        ("/__mock__/clock/set", {"at": "x" * 1000}),
        ("/__mock__/clock/set", {}),
        ("/__mock__/clock/freeze", {"at": "9000-01-02T00:00:00Z"}),
        ("/__mock__/settings/xp-ledger.processing-delay-seconds", {"value": 1, "extra": 2}),
    ],
)
def test_control_bodies_are_validated(client: TestClient, path: str, body: Any) -> None:
    before = client.get("/__mock__").json()
    method = client.put if "/settings/" in path else client.post
    response = method(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 404), response.text
    if response.status_code == 400:
        assert error_of(response, 400) == "validation_error"
    after = client.get("/__mock__").json()
    assert after["seed"] == before["seed"]
    assert after["clock"]["now"][:16] == before["clock"]["now"][:16]  # the clock did not jump


@pytest.mark.parametrize(
    "body",
    [
        {"latency_ms": True},
        {"latency_ms": 60_001},
        {"error_rate": 1.5},
        {"status": 200},
        {"status": 503.5},
        {"error_rate": 1, "surprise": 1},
    ],
)
def test_fault_bodies_are_validated(client: TestClient, body: dict[str, Any]) -> None:
    assert error_of(client.put("/__mock__/faults/getCurrentUser", json=body), 400) == "validation_error"
    assert client.get("/__mock__/faults").json() == {}


def test_valid_control_bodies_still_work(client: TestClient) -> None:
    assert client.post("/__mock__/reset", json={"seed": 2**53 - 1}).json()["seed"] == 2**53 - 1
    assert client.post("/__mock__/reset", json={"seed": 0.0}).json()["seed"] == 0  # JSON's integer, as an int
    assert client.post("/__mock__/clock/set", json={"at": "2030-01-01T00:00:00Z"}).status_code == 200
    assert client.post("/__mock__/clock/advance", json={"days": 36_000}).status_code == 200
    assert client.put("/__mock__/faults/getCurrentUser", json={"latency_ms": 0, "status": 503}).status_code == 200


# body size ---------------------------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_whatever_content_length_says(client: TestClient) -> None:
    big = b"username=demo&password=" + b"a" * (2 * MIB)
    lying = client.post(
        LOGIN, content=big, headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "40"}
    )
    assert error_of(lying, 413) == "payload_too_large"
    declared = client.post(
        LOGIN,
        content=b"x",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(300 * MIB)},
    )
    assert error_of(declared, 413) == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_refused(client: TestClient, demo: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "t", "content": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    assert (
        error_of(client.post(NOTES, content=chunks(), headers={**demo, "Content-Type": "application/json"}), 413)
        == "payload_too_large"
    )
    control = client.post(
        "/__mock__/reset", content=(b" " * 65536 for _ in range(20)), headers={"Content-Type": "application/json"}
    )
    assert error_of(control, 413) == "payload_too_large"


def test_a_body_just_under_the_limit_is_read(client: TestClient, demo: dict[str, str]) -> None:
    body = json.dumps({"title": "t", "content": "a" * (MIB - 100)}).encode()
    assert len(body) <= MIB
    response = client.post(NOTES, content=body, headers={**demo, "Content-Type": "application/json"})
    assert response.status_code in (201, 400), response.text  # whatever the schema says, the size was accepted
    assert response.status_code != 413


def test_multipart_parts_are_bounded(client: TestClient, demo: dict[str, str]) -> None:
    many_files = [("file", (f"f{i}.txt", b"x", "text/plain")) for i in range(40)]
    assert error_of(client.post(DOCS, files=many_files, headers=demo), 400) == "malformed_form"
    many_fields = {f"field{i}": "x" for i in range(400)}
    response = client.post(DOCS, files={"file": ("a.txt", b"hello", "text/plain")}, data=many_fields, headers=demo)
    assert error_of(response, 400) == "malformed_form"


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def send_chunked(port: int, path: str, total: int, content_type: str) -> bytes:
    """POST `total` bytes as a chunked body over a raw socket; stop sending as soon as the server answers (it
    answers before the body ends). Returns the status line."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    frame = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(frame)
                sent += 0x10000
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server may close once it has answered
            pass
        data = b""
        while b"\r\n" not in data:
            part = sock.recv(4096)
            if not part:
                break
            data += part
    return data.split(b"\r\n")[0]


def test_chunked_floods_do_not_grow_the_servers_memory(server_factory: type[Server]) -> None:
    """A behaviour bound, not a timing: before, every body was buffered whole (two 300 MB bodies took the server
    from 174 MB to 689 MB). Now each is refused at 1 MiB, so three 64 MiB bodies leave the RSS within a few MB."""
    server = server_factory("--quiet").start()
    assert server.proc is not None
    web.post(f"{server.url}{LOGIN}", data={"username": "demo", "password": "wrong"})  # warm the code paths
    idle = _rss_mib(server.proc.pid)
    for path, content_type in [
        (LOGIN, "application/x-www-form-urlencoded"),
        (LOGIN, "application/json"),
        ("/__mock__/reset", "application/json"),
    ]:
        status = send_chunked(server.port, path, 64 * MIB, content_type)
        assert status.startswith(b"HTTP/1.1 413"), status
    assert _rss_mib(server.proc.pid) - idle < 32  # three bodies of 64 MiB each: no trace of them
    assert web.get(f"{server.url}/api/health").status_code == 200


@pytest.mark.parametrize("value", [1e308, 365 * 86400 + 1, -1, True, "5", None])
def test_a_processing_delay_out_of_range_is_400_and_the_setting_unchanged(value: object) -> None:
    """`1e308` was accepted, and the next event crashed with an OverflowError."""
    with make_client(api="xentree,xp-ledger") as client:
        name = "/__mock__/settings/xp-ledger.processing-delay-seconds"
        refused = client.put(name, json={"value": value})
        assert refused.status_code == 400, refused.text
        assert client.get("/__mock__/settings").json()["xp-ledger.processing-delay-seconds"]["value"] == 0.0
        assert client.put(name, json={"value": 365 * 86400}).status_code == 200
