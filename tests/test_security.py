"""Security from the spec: bearer JWTs (expiring, revocable), scoped API keys, roles, and per-identity rate limits."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login, make_client


def test_missing_credentials_is_401_with_www_authenticate(client: TestClient) -> None:
    response = client.get("/api/xp/profile")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]["error"] == "not_authenticated"


def test_malformed_authorization_header_is_401(client: TestClient) -> None:
    for header in ("Basic abc", "Bearer", "Bearer not-a-jwt"):
        response = client.get("/api/xp/profile", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"] == "Bearer"


def test_token_signed_with_another_key_is_refused(client: TestClient) -> None:
    with make_client(seed=99) as other:
        foreign = login(other)
    response = client.get("/api/auth/me", headers=bearer(foreign))
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "invalid_token"


def test_expired_token_is_401(client: TestClient, mock: Mock) -> None:
    token = login(client)
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    mock.clock.advance(3601)
    response = client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "token_expired"


def test_api_key_with_scope_is_accepted(client: TestClient, keys: dict[str, str]) -> None:
    response = client.get("/api/core/conversations", headers={"X-API-Key": keys["demo-read-only"]})
    assert response.status_code == 200


def test_api_key_without_scope_gets_the_documented_403(client: TestClient, keys: dict[str, str]) -> None:
    body = {"name": "Acme Two", "slug": "acme-two"}
    response = client.post("/api/organizations", json=body, headers={"X-API-Key": keys["demo-read-only"]})
    assert response.status_code == 403
    assert response.json() == {
        "detail": {
            "error": "INSUFFICIENT_API_KEY_SCOPE",
            "message": "API key lacks required scope for this endpoint",
            "required_scope": "organizations:write",
            "granted_scopes": [
                "conversations:read",
                "rag:read",
                "quiz:read",
                "live:read",
                "organizations:read",
                "integrations:read",
                "xel:read",
                "api:read",
            ],
        }
    }


def test_api_key_on_a_bearer_only_operation_is_refused_clearly(client: TestClient, keys: dict[str, str]) -> None:
    response = client.get("/api/auth/me", headers={"X-API-Key": keys["demo-full-access"]})
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail["error"] == "api_key_not_accepted"
    assert "bearer-only" in detail["message"]


def test_unknown_api_key_is_401(client: TestClient) -> None:
    response = client.get("/api/core/conversations", headers={"X-API-Key": "xntr-" + "A" * 86})
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "invalid_api_key"
    assert response.headers["www-authenticate"] == "Bearer"


def test_admin_role_is_required_where_the_spec_says(client: TestClient) -> None:
    demo = bearer(login(client))
    response = client.get("/api/admin/integration-token-revocations", headers=demo)
    assert response.status_code == 403
    assert response.json()["detail"]["error"] == "insufficient_role"
    admin = bearer(login(client, "admin"))
    assert client.get("/api/admin/integration-token-revocations", headers=admin).status_code == 200


def test_public_operations_need_no_credentials(client: TestClient) -> None:
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/xp/public-profile/demo").status_code == 200


def test_rate_limit_headers_and_429_with_retry_after() -> None:
    with make_client(rate_limit="3/60") as client:
        headers = bearer(login(client))
        seen = [client.get("/api/auth/me", headers=headers) for _ in range(3)]
        assert [r.status_code for r in seen] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in seen] == ["2", "1", "0"]
        assert all(r.headers["ratelimit-limit"] == "3" for r in seen)
        limited = client.get("/api/auth/me", headers=headers)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-remaining"] == "0"
        assert limited.json()["detail"]["error"] == "rate_limited"
        # Another identity has its own bucket.
        other = bearer(login(client, "alex"))
        assert client.get("/api/auth/me", headers=other).status_code == 200


def test_rate_limit_can_be_switched_off() -> None:
    with make_client(rate_limit="off") as client:
        headers = bearer(login(client))
        response = client.get("/api/auth/me", headers=headers)
        assert "ratelimit-limit" not in response.headers


def test_a_remembered_password_check_still_refuses_every_other_password_and_hash() -> None:
    """verify_password remembers successes only: after the right password, a wrong one and the right one against
    another stored hash (a changed password, another user) are still checked with scrypt and refused."""
    from mock_server import security

    stored = security.hash_password("correct horse", b"salt-one-16bytes")
    other = security.hash_password("another secret", b"salt-two-16bytes")
    assert security.verify_password("correct horse", stored)
    assert security.verify_password("correct horse", stored)  # remembered: the same answer
    assert not security.verify_password("correct horsf", stored)
    assert not security.verify_password("correct horse", other)
    assert not security.verify_password("", stored)
    tampered = stored[:-1] + ("0" if stored[-1] != "0" else "1")
    assert not security.verify_password("correct horse", tampered)


def test_a_password_just_set_logs_in_without_a_second_scrypt_and_a_wrong_one_still_pays_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registration hashes the password it was given, so that pair is known to match: the login after it is
    answered from memory. A wrong password for the same user, and the dummy hash's own password for an unknown user
    (the dummy is never remembered), each still run scrypt and are refused."""
    import hashlib

    real = hashlib.scrypt
    calls: list[bytes] = []

    def counting(password: bytes, **kwargs: Any) -> bytes:
        calls.append(password)
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    account = {"username": "fresh-user", "email": "fresh@example.com", "password": "a fresh passphrase"}
    assert client.post("/api/auth/register", json=account).status_code == 201
    assert calls == [b"a fresh passphrase"]  # the registration's own hash
    assert login(client, "fresh-user", "a fresh passphrase")
    assert calls == [b"a fresh passphrase"]  # the login needed none
    for username, password in (("fresh-user", "a fresh passphrasf"), ("nobody-by-this-name", "not-a-password")):
        response = client.post("/api/auth/login", data={"username": username, "password": password})
        assert response.status_code == 401 and response.json()["detail"]["error"] == "invalid_credentials"
    assert calls[1:] == [b"a fresh passphrasf", b"not-a-password"]
