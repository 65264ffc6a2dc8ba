"""Integration tokens: RS256 grants per tenant, verification, revocation, rotation, JWKS and fingerprint."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.resources import load_yaml
from tests.conftest import ROOT, bearer, login, make_client, mock_of
from tests.integration_helpers import (
    FROZEN,
    GRANT,
    UNKNOWN,
    add_key,
    add_org,
    error,
    first_org,
    grant,
    user_id_of,
    verify,
)


@pytest.fixture
def frozen() -> Iterator[TestClient]:
    with make_client(frozen_at=FROZEN) as c:
        yield c


# grant ---------------------------------------------------------------------------------------------------------
def test_grant_issues_rs256_jwt_with_the_documented_claims(frozen: TestClient) -> None:
    mock = mock_of(frozen)
    demo = bearer(login(frozen))
    issued = grant(frozen, demo, ttlSeconds=90)
    tenant = first_org(mock, "demo")
    assert issued["tenantId"] == tenant  # the bearer user's first organization by default
    assert issued["scopes"] == GRANT["scopes"] and issued["origin"] == GRANT["origin"]
    assert issued["expiresIn"] == 90 and issued["expiresAt"] == "2026-04-16T10:01:30Z"
    header = jwt.get_unverified_header(issued["token"])
    assert header["alg"] == "RS256" and header["kid"].startswith(f"tnt-{tenant[:8]}-")
    claims = jwt.decode(issued["token"], options={"verify_signature": False})
    now = int(FROZEN.timestamp())
    assert claims == {
        "iss": "https://my.xentree.com",
        "sub": user_id_of(mock, "demo"),
        "aud": GRANT["origin"],
        "iat": now,
        "exp": now + 90,
        "jti": issued["jti"],
        "tenantId": tenant,
        "scopes": GRANT["scopes"],
        "origin": GRANT["origin"],
        "mode": "api",
    }


def test_ttl_defaults_to_120_and_is_bounded(frozen: TestClient) -> None:
    demo = bearer(login(frozen))
    assert grant(frozen, demo)["expiresIn"] == 120
    assert grant(frozen, demo, ttlSeconds=30)["expiresIn"] == 30
    assert grant(frozen, demo, ttlSeconds=3600)["expiresIn"] == 3600
    for ttl in (29, 3601, 0, -5, "120", 12.5):
        response = frozen.post("/api/integration/grant", headers=demo, json={**GRANT, "ttlSeconds": ttl})
        assert response.status_code == 400, (ttl, response.text)
        assert "ttlSeconds" in response.json()["detail"]["message"]


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "web"},
        {"origin": "https://partner.example.com/path"},
        {"origin": "ftp://partner.example.com"},
        {"scopes": []},
        {"scopes": ["Profile"]},
        {"scopes": ["a:b", "a:b"]},
        {"tenantId": "not-a-uuid"},
    ],
)
def test_grant_rejects_bad_input(client: TestClient, demo: dict[str, str], bad: dict[str, Any]) -> None:
    response = client.post("/api/integration/grant", headers=demo, json={**GRANT, **bad})
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["error"] == "validation_error"


def test_grant_requires_membership_of_the_tenant(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    other = add_org(mock, "other-co", {"alex": "owner"})
    for tenant in (other, UNKNOWN):
        response = client.post("/api/integration/grant", headers=demo, json={**GRANT, "tenantId": tenant})
        assert response.status_code == 403 and error(response) == "tenant_forbidden"
    mine = add_org(mock, "second-co", {"demo": "member"})
    assert grant(client, demo, tenantId=mine)["tenantId"] == mine
    assert grant(client, demo, tenantId=mine.upper())["tenantId"] == mine  # UUIDs compare case-insensitively


def test_grant_without_any_organization_is_refused(client: TestClient) -> None:
    user = {"username": "loner", "email": "loner@example.com", "password": "loner-password"}
    assert client.post("/api/auth/register", json=user).status_code == 201
    response = client.post("/api/integration/grant", headers=bearer(login(client, "loner")), json=GRANT)
    assert response.status_code == 403 and error(response) == "no_tenant"


def test_api_keys_grant_for_their_own_organization_only(client: TestClient, mock: Mock) -> None:
    home = add_org(mock, "key-home", {"demo": "owner"})
    writer = add_key(mock, "demo", home, ["integrations:write", "integrations:read"])
    issued = grant(client, writer)
    assert issued["tenantId"] == home  # the key's organization, not the user's first one
    assert jwt.decode(issued["token"], options={"verify_signature": False})["sub"] == user_id_of(mock, "demo")
    # The key's owner belongs to the default tenant, but the key is bound to `home`.
    elsewhere = {**GRANT, "tenantId": first_org(mock, "demo")}
    response = client.post("/api/integration/grant", headers=writer, json=elsewhere)
    assert response.status_code == 403 and error(response) == "tenant_forbidden"
    reader = add_key(mock, "demo", home, ["integrations:read"])
    response = client.post("/api/integration/grant", headers=reader, json=GRANT)
    assert response.status_code == 403 and error(response) == "INSUFFICIENT_API_KEY_SCOPE"
    assert client.post("/api/integration/grant", json=GRANT).status_code == 401


# JWKS and fingerprint ------------------------------------------------------------------------------------------
def test_token_verifies_with_pyjwt_against_the_served_jwks(client: TestClient, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    jwks = client.get("/api/integration/jwks", params={"tenantId": issued["tenantId"]})  # public: no credentials
    assert jwks.status_code == 200
    (jwk,) = jwks.json()["keys"]
    assert {k: jwk[k] for k in ("kty", "use", "alg")} == {"kty": "RSA", "use": "sig", "alg": "RS256"}
    assert jwk["e"] == "AQAB" and "=" not in jwk["n"] and "d" not in jwk  # public part only, unpadded base64url
    assert jwk["kid"] == jwt.get_unverified_header(issued["token"])["kid"]
    for key in (jwt.PyJWK(jwk).key, jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))):
        claims = jwt.decode(
            issued["token"], key, algorithms=["RS256"], audience=GRANT["origin"], options={"verify_exp": False}
        )
        assert claims["jti"] == issued["jti"]
    client_side = jwt.PyJWKClient("https://gateway.example/jwks")  # the standard way a gateway picks the key by `kid`
    client_side.fetch_data = lambda: jwks.json()  # type: ignore[method-assign]
    signing = client_side.get_signing_key_from_jwt(issued["token"])
    assert (
        jwt.decode(
            issued["token"], signing.key, algorithms=["RS256"], audience=GRANT["origin"], options={"verify_exp": False}
        )["tenantId"]
        == issued["tenantId"]
    )


def test_fingerprint_is_sha256_of_the_der_public_key(client: TestClient, demo: dict[str, str]) -> None:
    tenant = grant(client, demo)["tenantId"]
    jwk = client.get("/api/integration/jwks", params={"tenantId": tenant}).json()["keys"][0]
    der = jwt.PyJWK(jwk).key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    response = client.get("/api/integration/fingerprint", params={"tenantId": tenant})
    assert response.status_code == 200
    assert response.json() == {
        "tenantId": tenant,
        "kid": jwk["kid"],
        "algorithm": "SHA-256",
        "fingerprint": hashlib.sha256(der).hexdigest(),
    }


def test_each_tenant_has_its_own_key_and_the_pool_cycles(client: TestClient, mock: Mock) -> None:
    pool = len(load_yaml((ROOT / "fixtures/catalog/integration-keys.yaml").read_text())["keys"])
    orgs = [add_org(mock, f"org-{i}") for i in range(pool + 1)]  # consecutive tenants
    prints = [client.get("/api/integration/fingerprint", params={"tenantId": o}).json() for o in orgs]
    assert len({p["fingerprint"] for p in prints[:pool]}) == pool  # the first `pool` tenants all differ
    assert prints[pool]["fingerprint"] == prints[0]["fingerprint"]  # then the pool starts over...
    assert prints[pool]["kid"] != prints[0]["kid"]  # ...under a tenant-specific kid


def test_key_pool_is_labelled_mock_only() -> None:
    text = (ROOT / "fixtures/catalog/integration-keys.yaml").read_text()
    assert "MOCK-ONLY TEST KEYS" in text.splitlines()[0]
    for pem in load_yaml(text)["keys"]:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert key.key_size == 2048  # type: ignore[union-attr]


def test_jwks_and_fingerprint_answer_404_for_unknown_and_400_for_bad_tenants(client: TestClient) -> None:
    for path in ("/api/integration/jwks", "/api/integration/fingerprint"):
        assert client.get(path, params={"tenantId": UNKNOWN}).status_code == 404
        assert client.get(path, params={"tenantId": "nope"}).status_code == 400
        assert client.get(path).status_code == 400


# verify --------------------------------------------------------------------------------------------------------
def test_verify_accepts_a_fresh_token(client: TestClient, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    result = verify(client, demo, issued["token"], issued["tenantId"], origin=GRANT["origin"])
    assert result["valid"] is True and result["reason"] is None
    assert result["claims"]["jti"] == issued["jti"] and result["claims"]["scopes"] == GRANT["scopes"]
    # Origins compare like origins do: scheme and host are case-insensitive.
    assert verify(client, demo, issued["token"], issued["tenantId"], origin="HTTPS://Partner.Example.com")["valid"]


def test_verify_checks_expiry_against_the_mock_clock(frozen: TestClient) -> None:
    demo = bearer(login(frozen))
    issued = grant(frozen, demo, ttlSeconds=60)
    mock_of(frozen).clock.advance(59)
    assert verify(frozen, demo, issued["token"], issued["tenantId"])["valid"] is True
    mock_of(frozen).clock.advance(1)
    assert verify(frozen, demo, issued["token"], issued["tenantId"]) == {
        "valid": False,
        "claims": None,
        "reason": "expired",
    }


def test_verify_checks_origin(client: TestClient, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    result = verify(client, demo, issued["token"], issued["tenantId"], origin="https://evil.example.com")
    assert result == {"valid": False, "claims": None, "reason": "origin_mismatch"}


def test_verify_reports_malformed_and_bad_signatures(client: TestClient, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    tenant = issued["tenantId"]
    head, payload, signature = issued["token"].split(".")
    for junk in ("not-a-jwt", "a.b.c", f"{head}.{payload}", "x" * 8192):
        assert verify(client, demo, junk, tenant)["reason"] == "malformed", junk
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert verify(client, demo, f"{head}.{payload}.{flipped}", tenant)["reason"] == "bad_signature"
    claims = jwt.decode(issued["token"], options={"verify_signature": False})
    forged_scopes = {**claims, "scopes": ["admin:all"]}
    forged = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(forged_scopes).encode()).decode().rstrip("="), signature]
    )
    assert verify(client, demo, forged, tenant)["reason"] == "bad_signature"
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert verify(client, demo, unsigned, tenant)["reason"] == "bad_signature"
    hmac_signed = jwt.encode(claims, "guessed-secret-of-at-least-32-bytes!", algorithm="HS256")
    assert verify(client, demo, hmac_signed, tenant)["reason"] == "bad_signature"
    # A token missing the documented claims is malformed, whatever signed it.
    assert verify(client, demo, jwt.encode({"jti": "x"}, None, algorithm="none"), tenant)["reason"] == "malformed"


def test_verify_detects_a_token_of_another_tenant(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    second = add_org(mock, "second-co", {"demo": "admin"})
    issued = grant(client, demo, tenantId=second)
    assert verify(client, demo, issued["token"], second)["valid"] is True
    assert verify(client, demo, issued["token"], first_org(mock, "demo"))["reason"] == "tenant_mismatch"


def test_verify_needs_membership_and_valid_input(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    other = add_org(mock, "other-co", {"alex": "owner"})
    for tenant in (other, UNKNOWN):
        body = {"token": issued["token"], "tenantId": tenant}
        response = client.post("/api/integration/verify", headers=demo, json=body)
        assert response.status_code == 403 and error(response) == "tenant_forbidden"
    for bad in (
        {"token": issued["token"]},
        {"tenantId": issued["tenantId"]},
        {"token": "", "tenantId": other},
        {"token": "x", "tenantId": "not-a-uuid"},
    ):
        assert client.post("/api/integration/verify", headers=demo, json=bad).status_code == 400, bad
    # An API key with integrations:read may verify tokens of its own organization.
    reader = add_key(mock, "demo", issued["tenantId"], ["integrations:read"])
    assert verify(client, reader, issued["token"], issued["tenantId"])["valid"] is True


# revoke --------------------------------------------------------------------------------------------------------
def test_revoke_by_token_invalidates_it_at_once_and_is_idempotent(frozen: TestClient) -> None:
    demo = bearer(login(frozen))
    issued = grant(frozen, demo)
    body = {"integrationToken": issued["token"], "reason": "security-incident"}
    first = frozen.post("/api/integration/revoke", headers=demo, json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "revoked": True,
        "jti": issued["jti"],
        "tenantId": issued["tenantId"],
        "revokedAt": "2026-04-16T10:00:00Z",
        "reason": "security-incident",
    }
    assert verify(frozen, demo, issued["token"], issued["tenantId"])["reason"] == "revoked"
    mock_of(frozen).clock.advance(30)
    again = frozen.post("/api/integration/revoke", headers=demo, json={**body, "reason": "other"})
    assert again.status_code == 200 and again.json() == first.json()  # first time and reason stay


def test_revoke_by_jti_is_persisted(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    response = client.post(
        "/api/integration/revoke", headers=demo, json={"tenantId": issued["tenantId"], "jti": issued["jti"].upper()}
    )
    assert response.status_code == 200 and response.json()["jti"] == issued["jti"]
    assert response.json()["reason"] is None
    row = mock.store.one("SELECT * FROM integration_token_revocations WHERE jti = ?", (issued["jti"],))
    assert row is not None and row["expires_at"] is None  # unknown when revoked by JTI only
    assert verify(client, demo, issued["token"], issued["tenantId"])["reason"] == "revoked"
    # Revoking the token itself later adds its expiry to the record.
    client.post("/api/integration/revoke", headers=demo, json={"integrationToken": issued["token"]})
    row = mock.store.one("SELECT * FROM integration_token_revocations WHERE jti = ?", (issued["jti"],))
    assert row is not None and row["expires_at"] == issued["expiresAt"]


def test_revoke_can_be_done_for_expired_tokens(frozen: TestClient) -> None:
    demo = bearer(login(frozen))
    issued = grant(frozen, demo, ttlSeconds=30)
    mock_of(frozen).clock.advance(120)  # within the access token's hour
    response = frozen.post("/api/integration/revoke", headers=demo, json={"integrationToken": issued["token"]})
    assert response.status_code == 200
    assert verify(frozen, demo, issued["token"], issued["tenantId"])["reason"] == "expired"


def test_revoke_refuses_foreign_and_unknown_tokens(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    other = add_org(mock, "other-co", {"alex": "owner"})
    alex = bearer(login(client, "alex"))
    foreign = grant(client, alex, tenantId=other)
    response = client.post("/api/integration/revoke", headers=demo, json={"integrationToken": foreign["token"]})
    assert response.status_code == 403 and error(response) == "tenant_forbidden"
    response = client.post("/api/integration/revoke", headers=demo, json={"tenantId": other, "jti": foreign["jti"]})
    assert response.status_code == 403
    assert verify(client, alex, foreign["token"], other)["valid"] is True  # nothing was revoked
    mine = grant(client, demo)
    head, payload, signature = mine["token"].split(".")
    for junk in ("not-a-jwt", f"{head}.{payload}.{signature[::-1]}", jwt.encode({"a": 1}, None, algorithm="none")):
        response = client.post("/api/integration/revoke", headers=demo, json={"integrationToken": junk})
        assert response.status_code == 404, junk
    assert verify(client, demo, mine["token"], mine["tenantId"])["valid"] is True


def test_revoke_rejects_bad_input(client: TestClient, demo: dict[str, str]) -> None:
    issued = grant(client, demo)
    for bad in (
        {},
        {"reason": "x"},
        {"tenantId": issued["tenantId"]},
        {"jti": issued["jti"]},
        {"tenantId": issued["tenantId"], "jti": "not-a-uuid"},
        {"integrationToken": ""},
        {"integrationToken": issued["token"], "reason": ""},
    ):
        assert client.post("/api/integration/revoke", headers=demo, json=bad).status_code == 400, bad
    mismatch = {"integrationToken": issued["token"], "jti": UNKNOWN}
    response = client.post("/api/integration/revoke", headers=demo, json=mismatch)
    assert response.status_code == 400 and "jti" in response.json()["detail"]["message"]


# rotate --------------------------------------------------------------------------------------------------------
def test_rotate_revokes_the_previous_token_and_issues_a_new_one(client: TestClient, demo: dict[str, str]) -> None:
    old = grant(client, demo)
    response = client.post("/api/integration/rotate", headers=demo, json={**GRANT, "previousToken": old["token"]})
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["revokedJti"] == old["jti"] and new["jti"] != old["jti"] and new["tenantId"] == old["tenantId"]
    assert verify(client, demo, old["token"], old["tenantId"])["reason"] == "revoked"
    assert verify(client, demo, new["token"], new["tenantId"])["valid"] is True


def test_rotate_without_revoking(client: TestClient, demo: dict[str, str]) -> None:
    old = grant(client, demo)
    body = {**GRANT, "previousToken": old["token"], "revokePrevious": False, "ttlSeconds": 300}
    new = client.post("/api/integration/rotate", headers=demo, json=body).json()
    assert new["revokedJti"] is None and new["expiresIn"] == 300
    assert verify(client, demo, old["token"], old["tenantId"])["valid"] is True
    plain = client.post("/api/integration/rotate", headers=demo, json=GRANT).json()
    assert plain["revokedJti"] is None and verify(client, demo, plain["token"], plain["tenantId"])["valid"]


def test_rotate_is_all_or_nothing_and_checks_the_previous_token(client: TestClient, mock: Mock) -> None:
    demo = bearer(login(client))
    second = add_org(mock, "second-co", {"demo": "member"})
    old = grant(client, demo, tenantId=second)
    response = client.post("/api/integration/rotate", headers=demo, json={**GRANT, "previousToken": old["token"]})
    assert response.status_code == 400 and error(response) == "tenant_mismatch"  # default tenant is not `second`
    assert verify(client, demo, old["token"], second)["valid"] is True  # not revoked by the refused call
    response = client.post("/api/integration/rotate", headers=demo, json={**GRANT, "previousToken": "garbage"})
    assert response.status_code == 404
    response = client.post("/api/integration/rotate", headers=demo, json={**GRANT, "tenantId": UNKNOWN})
    assert response.status_code == 403
    for bad in ({"previousToken": ""}, {"revokePrevious": "yes"}, {"ttlSeconds": 5000}, {"scopes": []}):
        assert client.post("/api/integration/rotate", headers=demo, json={**GRANT, **bad}).status_code == 400, bad
    count = mock.store.one("SELECT COUNT(*) AS n FROM integration_token_revocations")
    assert count is not None and count["n"] == 0


# admin revocation list -----------------------------------------------------------------------------------------
def test_revocations_list_is_admin_only_newest_first(frozen: TestClient) -> None:
    mock = mock_of(frozen)
    demo, admin = bearer(login(frozen)), bearer(login(frozen, "admin"))
    first, second = grant(frozen, demo), grant(frozen, demo)
    frozen.post("/api/integration/revoke", headers=demo, json={"integrationToken": first["token"], "reason": "leak"})
    mock.clock.advance(10)
    key = add_key(mock, "demo", first["tenantId"], ["integrations:write"])
    frozen.post("/api/integration/revoke", headers=key, json={"tenantId": second["tenantId"], "jti": second["jti"]})
    listed = frozen.get("/api/admin/integration-token-revocations", headers=admin)
    assert listed.status_code == 200, listed.text
    assert listed.json() == [
        {
            "jti": second["jti"],
            "tenantId": second["tenantId"],
            "reason": None,
            "revokedAt": "2026-04-16T10:00:10Z",
            "revokedBy": None,
            "expiresAt": None,
        },  # by an API key: a system revocation
        {
            "jti": first["jti"],
            "tenantId": first["tenantId"],
            "reason": "leak",
            "revokedAt": "2026-04-16T10:00:00Z",
            "revokedBy": user_id_of(mock, "demo"),
            "expiresAt": first["expiresAt"],
        },
    ]
    path = "/api/admin/integration-token-revocations"
    assert len(frozen.get(path, headers=admin, params={"tenantId": first["tenantId"]}).json()) == 2
    assert frozen.get(path, headers=admin, params={"tenantId": UNKNOWN}).json() == []
    assert frozen.get(path, headers=admin, params={"tenantId": "nope"}).status_code == 400
    denied = frozen.get(path, headers=demo)
    assert denied.status_code == 403 and error(denied) == "insufficient_role"
    assert frozen.get(path, headers=key).status_code == 401  # bearer-only
    assert frozen.get(path).status_code == 401


# determinism ---------------------------------------------------------------------------------------------------
def test_same_seed_and_requests_give_the_same_tokens() -> None:
    def run() -> list[Any]:
        with make_client(frozen_at=FROZEN, seed=7) as c:
            demo = bearer(login(c))
            issued = grant(c, demo)
            tenant = issued["tenantId"]
            rotated = c.post("/api/integration/rotate", headers=demo, json={**GRANT, "previousToken": issued["token"]})
            return [
                issued,
                c.get("/api/integration/jwks", params={"tenantId": tenant}).json(),
                c.get("/api/integration/fingerprint", params={"tenantId": tenant}).json(),
                rotated.json(),
            ]

    assert run() == run()
