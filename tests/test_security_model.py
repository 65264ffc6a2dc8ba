"""What a hostile caller or a careless deployment can do, one test per finding: the attack in, the safe answer out.

Client addresses, tokens nobody else can mint, token families, throttling of failed authentication, logins that
cost the same for unknown users, and state files whose ids never repeat. (Hostile input and the control API have
their own modules: test_hostile_input.py, test_control_guard.py.)
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from mock_server.app import Settings, build_mock, create_app
from tests import web
from tests.conftest import Server, bearer, login, make_client, mock_of

REMOTE = ("198.51.100.7", 40000)  # a documentation address: not loopback, so not trusted
SEED_SECRET = hashlib.sha256(b"xentree-mock-jwt:0").hexdigest()  # public knowledge: the default seed is 0


def _error(response: httpx.Response) -> str:
    return str(response.json()["detail"]["error"])


def _credentials(url: str) -> dict[str, Any]:
    return dict(web.get(f"{url}/__mock__/credentials").json())


# client address ------------------------------------------------------------------------------------------------
def test_x_forwarded_for_is_not_trusted_unless_a_proxy_is_named(server_factory: type[Server]) -> None:
    server = server_factory("--quiet").start()
    key = next(k["key"] for k in _credentials(server.url)["api_keys"] if k["name"] == "demo-office-only")
    headers = {"X-API-Key": key}
    assert web.get(f"{server.url}/api/organizations", headers=headers).status_code == 403
    spoofed = web.get(f"{server.url}/api/organizations", headers={**headers, "X-Forwarded-For": "203.0.113.5"})
    assert spoofed.status_code == 403 and _error(spoofed) == "ip_not_allowed"

    proxied = server_factory("--quiet", "--forwarded-allow-ips", "127.0.0.1").start()
    key = next(k["key"] for k in _credentials(proxied.url)["api_keys"] if k["name"] == "demo-office-only")
    behind_proxy = web.get(
        f"{proxied.url}/api/organizations", headers={"X-API-Key": key, "X-Forwarded-For": "203.0.113.5"}
    )
    assert behind_proxy.status_code == 200  # a named proxy's header is believed


def test_rotating_x_forwarded_for_does_not_dodge_the_per_address_limit(server_factory: type[Server]) -> None:
    server = server_factory("--quiet", "--rate-limit", "3/60").start()
    statuses = [
        web.get(f"{server.url}/api/health", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


# tokens nobody else can mint -----------------------------------------------------------------------------------
def _user_id(client: TestClient, username: str) -> str:
    return str(client.get("/api/auth/me", headers=bearer(login(client, username))).json()["id"])


def _forged(secret: str, **claims: Any) -> str:
    base = {"type": "access", "jti": "forged-jti", "iat": 1, "exp": 4_000_000_000, "iss": "xentree-mock", "gen": 0}
    return jwt.encode({**base, **claims}, secret, "HS256")


def test_a_token_forged_from_the_seed_is_refused_when_the_mock_is_reachable_beyond_loopback() -> None:
    with make_client(host="0.0.0.0") as exposed:
        admin_id = _user_id(exposed, "admin")
        forged = _forged(SEED_SECRET, sub=admin_id, username="admin")
        response = exposed.get("/api/admin/integration-token-revocations", headers=bearer(forged))
        assert response.status_code == 401 and _error(response) == "invalid_token"
        genuine = exposed.get("/api/admin/integration-token-revocations", headers=bearer(login(exposed, "admin")))
        assert genuine.status_code == 200


def test_the_random_secret_is_kept_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    settings = {"host": "0.0.0.0", "state": state, "access_log": False}
    with TestClient(create_app(Settings(**settings)), client=REMOTE) as first:  # type: ignore[arg-type]
        token = login(first)
    with TestClient(create_app(Settings(**settings)), client=REMOTE) as second:  # type: ignore[arg-type]
        assert second.get("/api/auth/me", headers=bearer(token)).status_code == 200
    other = build_mock(Settings(host="0.0.0.0", access_log=False))
    assert other.tokens.secret != SEED_SECRET  # in memory: random too


def test_an_explicit_secret_signs_the_tokens() -> None:
    with make_client(host="0.0.0.0", jwt_secret="team-secret-for-a-shared-mock-0001") as client:
        demo_id = _user_id(client, "demo")
        assert (
            client.get(
                "/api/auth/me", headers=bearer(_forged("team-secret-for-a-shared-mock-0001", sub=demo_id))
            ).status_code
            == 200
        )
        assert client.get("/api/auth/me", headers=bearer(_forged(SEED_SECRET, sub=demo_id))).status_code == 401


BROKEN_CLAIMS: dict[str, dict[str, Any]] = {
    "no-jti": {"jti": None},
    "no-sub": {"sub": None},
    "no-type": {"type": None},
    "no-iat": {"iat": None},
    "no-exp": {"exp": None},
    "no-iss": {"iss": None},
    "no-gen": {"gen": None},
    "exp-text": {"exp": "abc"},
    "iat-bool": {"iat": True},
    "sub-number": {"sub": 123},
    "jti-object": {"jti": {"a": 1}},
    "foreign-issuer": {"iss": "someone-else"},
    "nbf-future": {"nbf": 4_000_000_000},
    "nbf-text": {"nbf": "soon"},
    "refresh-as-access": {"type": "refresh"},
}


@pytest.mark.parametrize("change", BROKEN_CLAIMS.values(), ids=BROKEN_CLAIMS.keys())
def test_a_signed_token_with_a_missing_or_mistyped_claim_is_401_never_500(
    client: TestClient, change: dict[str, Any]
) -> None:
    """Signed with the right (loopback, seed-derived) secret: only the claims are wrong."""
    claims = {"sub": _user_id(client, "demo"), **change}
    token = _forged(SEED_SECRET, **{k: v for k, v in claims.items() if v is not None})
    if any(v is None for v in change.values()):
        payload = jwt.decode(
            token,
            SEED_SECRET,
            algorithms=["HS256"],
            options={"verify_signature": True, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        payload = {k: v for k, v in payload.items() if k not in change}
        token = jwt.encode(payload, SEED_SECRET, "HS256")
    response = client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert _error(response) in ("invalid_token", "token_not_yet_valid")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/health").status_code == 200  # the connection and the server are fine


def test_alg_none_and_key_confusion_are_refused(client: TestClient) -> None:
    demo_id = _user_id(client, "demo")
    none = jwt.encode(
        {"sub": demo_id, "type": "access", "jti": "x", "iat": 1, "exp": 4_000_000_000, "iss": "xentree-mock", "gen": 0},
        None,
        "none",
    )
    assert client.get("/api/auth/me", headers=bearer(none)).status_code == 401
    tenant = client.get("/api/api-keys/tenants", headers=bearer(login(client))).json()[0]["id"]
    jwks = client.get("/api/integration/jwks", params={"tenantId": tenant}).json()
    public = jwks["keys"][0]["n"]
    confused = _forged(public, sub=demo_id)  # an HS256 token keyed with published RSA material
    assert client.get("/api/auth/me", headers=bearer(confused)).status_code == 401


# token families --------------------------------------------------------------------------------------------------
def _login_pair(client: TestClient) -> dict[str, str]:
    response = client.post("/api/auth/login", data={"username": "demo", "password": "demo-password"})
    assert response.status_code == 200
    return dict(response.json())


def _refresh(client: TestClient, refresh_token: str) -> httpx.Response:
    return client.post("/api/auth/refresh", json={"refresh_token": refresh_token})


def test_reusing_a_rotated_refresh_token_revokes_its_whole_family(client: TestClient) -> None:
    first = _login_pair(client)
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200
    child = second.json()
    reused = _refresh(client, first["refresh_token"])
    assert reused.status_code == 401 and _error(reused) == "refresh_token_reused"
    assert _error(_refresh(client, child["refresh_token"])) == "token_revoked"  # the child is dead too
    assert _error(client.get("/api/auth/me", headers=bearer(child["access_token"]))) == "token_revoked"
    assert client.get("/api/auth/me", headers=bearer(_login_pair(client)["access_token"])).status_code == 200


def test_logout_revokes_every_access_token_of_the_session(client: TestClient) -> None:
    first = _login_pair(client)
    second = _refresh(client, first["refresh_token"]).json()
    other_session = _login_pair(client)
    assert client.post("/api/auth/logout", headers=bearer(second["access_token"])).status_code == 200
    for token in (first["access_token"], second["access_token"]):
        assert _error(client.get("/api/auth/me", headers=bearer(token))) == "token_revoked"
    assert _refresh(client, second["refresh_token"]).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(other_session["access_token"])).status_code == 200


def test_tokens_minted_before_a_reset_are_refused_after_it(client: TestClient) -> None:
    revoked, live = _login_pair(client), _login_pair(client)
    client.post("/api/auth/logout", headers=bearer(revoked["access_token"]))
    assert client.post("/__mock__/reset", json={}).status_code == 200
    for pair in (revoked, live):
        response = client.get("/api/auth/me", headers=bearer(pair["access_token"]))
        assert response.status_code == 401 and _error(response) == "invalid_token"
        assert _refresh(client, pair["refresh_token"]).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(login(client))).status_code == 200


# throttling ------------------------------------------------------------------------------------------------------
def _remote(**settings: Any) -> TestClient:
    app = create_app(Settings(**{"strict": True, "access_log": False, **settings}))
    return TestClient(app, client=REMOTE, raise_server_exceptions=False)


ATTEMPTS = {
    "bearer": lambda c: c.get("/api/auth/me", headers=bearer("not-a-token")),
    "api-key": lambda c: c.get("/api/organizations", headers={"X-API-Key": "xntr-" + "x" * 86}),
    "password": lambda c: c.post("/api/auth/login", data={"username": "demo", "password": "wrong"}),
}


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_failed_authentication_from_one_address_is_throttled(attempt: Any) -> None:
    with _remote(auth_failure_limit="10/60") as client:
        statuses = [attempt(client).status_code for _ in range(10)]
        assert statuses == [401] * 10
        throttled = attempt(client)
        assert throttled.status_code == 429
        assert _error(throttled) == "too_many_failed_authentications"
        assert int(throttled.headers["Retry-After"]) >= 1
        # while the address is over its budget, even the right password waits
        right = client.post("/api/auth/login", data={"username": "demo", "password": "demo-password"})
        assert right.status_code == 429


def test_a_wrong_client_secret_is_throttled_too() -> None:
    with _remote(api="xp-ledger", auth_failure_limit="5/60") as ledger:
        client_id = mock_of(ledger).credentials.applications[0]["client_id"]
        form = {"grant_type": "client_credentials"}
        statuses = [ledger.post("/auth/1.0/token", data=form, auth=(client_id, "wrong")).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]


def test_requests_without_credentials_are_not_guesses() -> None:
    with _remote(auth_failure_limit="5/60") as client:
        assert {client.get("/api/auth/me").status_code for _ in range(20)} == {401}


def test_loopback_callers_are_not_throttled_for_failures(client: TestClient) -> None:
    assert {client.get("/api/auth/me", headers=bearer("bad")).status_code for _ in range(40)} == {401}


def test_one_rate_bucket_per_user_across_its_tokens_and_keys() -> None:
    with make_client(rate_limit="5/60") as client:
        keys = {k["name"]: k["key"] for k in mock_of(client).credentials.api_keys}
        token_headers = bearer(login(client))
        callers = [token_headers, {"X-API-Key": keys["demo-full-access"]}, {"X-API-Key": keys["demo-read-only"]}]
        statuses = [client.get("/api/organizations", headers=callers[i % 3]).status_code for i in range(6)]
        assert statuses == [200] * 5 + [429]
        alex = client.get("/api/organizations", headers=bearer(login(client, "alex")))
        assert alex.status_code == 200  # another user has a bucket of their own


def test_an_unknown_username_costs_a_password_hash_like_a_known_one(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No enumeration by timing: both paths run scrypt exactly once (a behaviour, not a stopwatch)."""
    from mock_server.domains import accounts

    calls: list[str] = []
    real = accounts.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(stored)
        return real(password, stored)

    monkeypatch.setattr(accounts, "verify_password", counting)
    for username in ("demo", "nobody-by-this-name"):
        response = client.post("/api/auth/login", data={"username": username, "password": "wrong"})
        assert response.status_code == 401 and _error(response) == "invalid_credentials"
    assert len(calls) == 2 and all(stored.startswith("scrypt$") for stored in calls)


# state files ---------------------------------------------------------------------------------------------------
def _demo_logins(url: str) -> None:
    for user in _credentials(url)["users"]:
        response = web.post(f"{url}/api/auth/login", data={"username": user["username"], "password": user["password"]})
        assert response.status_code == 200, response.text


def test_ids_never_repeat_across_restarts_whatever_was_deleted(server_factory: type[Server], tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    seen: set[str] = set()
    for _ in range(3):
        server = server_factory("--quiet", "--state", str(state)).start()
        credentials = _credentials(server.url)
        assert credentials["users"] and credentials["api_keys"]  # still listed after a restart
        _demo_logins(server.url)
        demo = {"username": "demo", "password": "demo-password"}
        headers = bearer(web.post(f"{server.url}/api/auth/login", data=demo).json()["access_token"])
        for n in range(3):
            note = web.post(f"{server.url}/api/core/notes", json={"title": f"n{n}", "content": "x"}, headers=headers)
            assert note.status_code == 201, note.text
            assert note.json()["id"] not in seen
            seen.add(note.json()["id"])
            assert web.delete(f"{server.url}/api/core/notes/{note.json()['id']}", headers=headers).status_code in (
                200,
                204,
            )
        server.stop()


def test_kill_9_under_concurrent_writers_keeps_every_acknowledged_write(
    server_factory: type[Server], tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    server = server_factory("--quiet", "--state", str(state), "--rate-limit", "off").start()
    token = web.post(f"{server.url}/api/auth/login", data={"username": "demo", "password": "demo-password"})
    headers = bearer(token.json()["access_token"])
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with web.client(base_url=server.url, headers=headers, timeout=5) as http:
            i = 0
            while not stop.is_set():
                try:
                    response = http.post("/api/core/notes", json={"title": f"w{n}-{i}", "content": "kept"})
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])
                i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    while True:  # kill in the middle of the load, once enough writes were acknowledged
        with lock:
            if len(acknowledged) >= 200:
                break
        threading.Event().wait(0.01)
    server.stop(kill=True)
    stop.set()
    for t in threads:
        t.join()

    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = server_factory("--quiet", "--state", str(state)).start()
    login_again = web.post(f"{again.url}/api/auth/login", data={"username": "demo", "password": "demo-password"})
    notes = web.get(f"{again.url}/api/core/notes", headers=bearer(login_again.json()["access_token"])).json()
    kept = {n["id"] for n in notes}
    missing = [note_id for note_id in acknowledged if note_id not in kept]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
