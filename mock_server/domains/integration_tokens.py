"""Integration tokens: tenant-scoped RS256 JWTs for embeds (grant, verify, revoke, rotate) and each tenant's public key.

A tenant is an organization. Each tenant signs with one RSA key pair taken from a committed pool of mock-only test keys
(`fixtures/catalog/integration-keys.yaml`), because RSA key generation cannot be seeded and the mock must answer the
same requests with the same bytes: the organization created n-th (its SQLite rowid) uses pool key (n - 1) mod pool size.
Signatures (PKCS#1 v1.5) are deterministic, `iat`/`exp` come from the mock clock and `jti` from the seeded id source.
Revocations are persisted per tenant and JTI; verification checks signature, tenant, expiry, origin and revocation.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from mock_server.catalogs import load_catalog
from mock_server.clock import iso
from mock_server.domains import Call, handles, tables
from mock_server.errors import bad_request, forbidden, not_found

ISSUER = "https://my.xentree.com"
DEFAULT_TTL_SECONDS = 120
ROTATION_REASON = "rotated"
# Signature and claims only: expiry is checked against the mock clock, and `aud`/`iat` are informative here.
DECODE_OPTIONS = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}
_UUID = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
# The claims every token this mock issues carries, with their JSON types (IntegrationVerifyResponse.claims).
CLAIM_TYPES: dict[str, type] = {
    "iss": str,
    "sub": str,
    "iat": int,
    "exp": int,
    "jti": str,
    "tenantId": str,
    "scopes": list,
    "origin": str,
    "mode": str,
}

tables("""
-- Revoked integration-token JTIs per tenant; `expires_at` is the token's own expiry when it was known.
CREATE TABLE IF NOT EXISTS integration_token_revocations (
    tenant_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    jti TEXT NOT NULL,
    reason TEXT,
    revoked_at TEXT NOT NULL,
    revoked_by TEXT,
    expires_at TEXT,
    PRIMARY KEY (tenant_id, jti)
);
""")


# the key pool --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _pool() -> tuple[str, ...]:
    return tuple(load_catalog("integration-keys.yaml")["keys"])


@cache
def _private_key(index: int) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(_pool()[index].encode(), password=None)
    assert isinstance(key, RSAPrivateKey), "the integration key pool holds RSA keys only"
    return key


@cache
def _fingerprint(index: int) -> str:
    """SHA-256 of the DER-encoded SubjectPublicKeyInfo, lower-case hex."""
    der = (
        _private_key(index)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    tenant_id: str
    index: int

    @property
    def private(self) -> RSAPrivateKey:
        return _private_key(self.index)

    @property
    def public(self) -> RSAPublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.index)

    @property
    def kid(self) -> str:
        return f"tnt-{self.tenant_id[:8]}-{self.fingerprint[:8]}"

    def jwk(self) -> dict[str, str]:
        numbers = self.public.public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64uint(numbers.n),
            "e": _b64uint(numbers.e),
        }


def _b64uint(value: int) -> str:
    """RFC 7518 §6.3.1: the unsigned big-endian bytes, base64url without padding."""
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signing_key(call: Call, tenant_id: str) -> SigningKey | None:
    """The tenant's key pair, or None when no such organization exists."""
    row = call.store.one("SELECT rowid AS n FROM organizations WHERE id = ?", (tenant_id.lower(),))
    return SigningKey(tenant_id.lower(), (row["n"] - 1) % len(_pool())) if row else None


# tenants -------------------------------------------------------------------------------------------------------
def _belongs(call: Call, tenant_id: str) -> bool:
    identity = call.identity
    assert identity is not None
    if identity.via == "api_key":
        return identity.organization_id == tenant_id
    return (
        call.store.one(
            "SELECT 1 FROM memberships WHERE organization_id = ? AND user_id = ?", (tenant_id, identity.user_id)
        )
        is not None
    )


def _require_member(call: Call, tenant_id: str) -> str:
    if not _belongs(call, tenant_id):
        raise forbidden(f"You do not belong to tenant {tenant_id}", "tenant_forbidden")
    return tenant_id


def _tenant_for(call: Call, requested: str | None) -> str:
    """The requested tenant (which the caller must belong to), else the API key's or the user's first organization."""
    identity = call.identity
    assert identity is not None
    if requested is not None:
        return _require_member(call, requested.lower())
    if identity.organization_id:
        return identity.organization_id
    row = call.store.one(
        "SELECT organization_id FROM memberships WHERE user_id = ? ORDER BY joined_at, rowid LIMIT 1",
        (identity.user_id,),
    )
    if row is None:
        raise forbidden("You belong to no organization, so there is no tenant to issue for", "no_tenant")
    return str(row["organization_id"])


# tokens --------------------------------------------------------------------------------------------------------
def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


def _claims_ok(claims: Any) -> bool:
    """The shape every token issued here has; anything else is `malformed`, whatever signed it."""
    if not isinstance(claims, dict):
        return False
    typed = all(isinstance(claims.get(k), t) and not isinstance(claims.get(k), bool) for k, t in CLAIM_TYPES.items())
    return (
        typed
        and claims["iat"] >= 0
        and claims["exp"] >= 0
        and all(isinstance(s, str) for s in claims["scopes"])
        and isinstance(claims.get("aud", ""), str)
        and _is_uuid(claims["jti"])
        and _is_uuid(claims["tenantId"])
    )


def _unverified(token: str) -> dict[str, Any] | None:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    return claims if _claims_ok(claims) else None


def _signed_by(key: SigningKey, token: str) -> dict[str, Any] | None:
    try:
        return jwt.decode(token, key.public, algorithms=["RS256"], options=DECODE_OPTIONS)  # type: ignore[arg-type]
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def _known_token(call: Call, token: str, field: str) -> dict[str, Any]:
    """Claims of a token signed by its tenant's key (expired or not), else 404: the mock never issued it."""
    claims = _unverified(token)
    key = signing_key(call, claims["tenantId"]) if claims else None
    if key is None or _signed_by(key, token) is None:
        raise not_found(f"{field} is not an integration token signed by a known tenant's key")
    return claims  # type: ignore[return-value]


def _expiry(exp: int) -> str:
    return iso(datetime.fromtimestamp(exp, UTC))


def _issue(call: Call, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    key = signing_key(call, tenant_id)
    if key is None:  # a membership outlived its organization: cannot happen with foreign keys on
        raise forbidden(f"Tenant {tenant_id} no longer exists", "tenant_forbidden")
    identity = call.identity
    assert identity is not None
    ttl = body.get("ttlSeconds", DEFAULT_TTL_SECONDS)
    now = int(call.clock.timestamp())
    claims = {
        "iss": ISSUER,
        "sub": identity.user_id,
        "aud": body["origin"],
        "iat": now,
        "exp": now + ttl,
        "jti": call.store.new_id(),
        "tenantId": tenant_id,
        "scopes": list(body["scopes"]),
        "origin": body["origin"],
        "mode": body["mode"],
    }
    token = jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})
    return {
        "token": token,
        "jti": claims["jti"],
        "tenantId": tenant_id,
        "scopes": claims["scopes"],
        "origin": claims["origin"],
        "expiresIn": ttl,
        "expiresAt": _expiry(claims["exp"]),
    }


def _same_origin(a: str, b: str) -> bool:
    """Origins compare case-insensitively (scheme and host are), ignoring a trailing slash."""
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def _is_revoked(call: Call, tenant_id: str, jti: str) -> bool:
    return (
        call.store.one(
            "SELECT 1 FROM integration_token_revocations WHERE tenant_id = ? AND jti = ?", (tenant_id, jti.lower())
        )
        is not None
    )


def check(call: Call, token: str, tenant_id: str, origin: str | None) -> tuple[str | None, dict[str, Any] | None]:
    """(reason, claims): reason is None for a valid token; checks run in the order the reasons are listed."""
    unverified = _unverified(token)
    if unverified is None:
        return "malformed", None
    if unverified["tenantId"].lower() != tenant_id:
        return "tenant_mismatch", None
    key = signing_key(call, tenant_id)
    claims = _signed_by(key, token) if key else None
    if claims is None:
        return "bad_signature", None
    if claims["exp"] <= call.clock.timestamp():
        return "expired", None
    if origin is not None and not _same_origin(origin, claims["origin"]):
        return "origin_mismatch", None
    if _is_revoked(call, tenant_id, claims["jti"]):
        return "revoked", None
    return None, claims


def _revocation_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "jti": row["jti"],
        "tenantId": row["tenant_id"],
        "reason": row["reason"],
        "revokedAt": row["revoked_at"],
        "revokedBy": row["revoked_by"],
        "expiresAt": row["expires_at"],
    }


def _revoke(call: Call, tenant_id: str, jti: str, reason: str | None, expires_at: str | None) -> dict[str, Any]:
    """Idempotent: the first revocation's time and reason stay; a later one may add the token's expiry."""
    identity = call.identity
    assert identity is not None
    jti = jti.lower()
    call.store.run(
        "INSERT OR IGNORE INTO integration_token_revocations"
        " (tenant_id, jti, reason, revoked_at, revoked_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            tenant_id,
            jti,
            reason,
            iso(call.clock.now()),
            identity.user_id if identity.via == "bearer" else None,
            expires_at,
        ),
    )
    if expires_at is not None:
        call.store.run(
            "UPDATE integration_token_revocations SET expires_at = ? WHERE tenant_id = ? AND jti = ?"
            " AND expires_at IS NULL",
            (expires_at, tenant_id, jti),
        )
    row = call.store.one(
        "SELECT * FROM integration_token_revocations WHERE tenant_id = ? AND jti = ?", (tenant_id, jti)
    )
    assert row is not None
    return row


# handlers ------------------------------------------------------------------------------------------------------
@handles("grantIntegrationToken")
def grant(call: Call) -> dict[str, Any]:
    return _issue(call, _tenant_for(call, call.body.get("tenantId")), call.body)


@handles("verifyIntegrationToken")
def verify(call: Call) -> dict[str, Any]:
    body = call.body
    tenant_id = _require_member(call, body["tenantId"].lower())
    reason, claims = check(call, body["token"], tenant_id, body.get("origin"))
    return {"valid": reason is None, "claims": claims, "reason": reason}


@handles("revokeIntegrationToken")
def revoke(call: Call) -> dict[str, Any]:
    body = call.body
    expires_at = None
    if "integrationToken" in body:
        claims = _known_token(call, body["integrationToken"], "integrationToken")
        tenant_id, jti, expires_at = claims["tenantId"].lower(), claims["jti"].lower(), _expiry(claims["exp"])
        for field, value in (("tenantId", tenant_id), ("jti", jti)):
            if field in body and body[field].lower() != value:
                raise bad_request(f"body.{field} does not match the integrationToken's {field} claim ({value})")
    else:
        tenant_id, jti = body["tenantId"].lower(), body["jti"].lower()
    _require_member(call, tenant_id)
    row = _revoke(call, tenant_id, jti, body.get("reason"), expires_at)
    out = _revocation_out(row)
    return {
        "revoked": True,
        "jti": out["jti"],
        "tenantId": out["tenantId"],
        "revokedAt": out["revokedAt"],
        "reason": out["reason"],
    }


@handles("rotateIntegrationToken")
def rotate(call: Call) -> dict[str, Any]:
    """Validate the previous token, revoke it and issue the new one in the request's single transaction."""
    body = call.body
    tenant_id = _tenant_for(call, body.get("tenantId"))
    revoked_jti = None
    if "previousToken" in body:
        claims = _known_token(call, body["previousToken"], "previousToken")
        if claims["tenantId"].lower() != tenant_id:
            raise bad_request(
                f"previousToken belongs to tenant {claims['tenantId']}, not to {tenant_id}", "tenant_mismatch"
            )
        if body.get("revokePrevious", True):
            revoked_jti = _revoke(call, tenant_id, claims["jti"], ROTATION_REASON, _expiry(claims["exp"]))["jti"]
    return {**_issue(call, tenant_id, body), "revokedJti": revoked_jti}


def _public_key_of(call: Call) -> SigningKey:
    tenant_id = call.query["tenantId"]
    key = signing_key(call, tenant_id)
    if key is None:
        raise not_found(f"Unknown tenant {tenant_id}")
    return key


@handles("getIntegrationJwks")
def jwks(call: Call) -> dict[str, Any]:
    return {"keys": [_public_key_of(call).jwk()]}


@handles("getIntegrationFingerprint")
def fingerprint(call: Call) -> dict[str, Any]:
    key = _public_key_of(call)
    return {"tenantId": key.tenant_id, "kid": key.kid, "algorithm": "SHA-256", "fingerprint": key.fingerprint}


@handles("listIntegrationTokenRevocations")
def revocations(call: Call) -> list[dict[str, Any]]:
    """Newest first; the platform-admin check is the pipeline's (`x-required-role: admin`)."""
    tenant_id = call.query.get("tenantId")
    where, params = ("WHERE tenant_id = ?", (tenant_id.lower(),)) if tenant_id else ("", ())
    rows = call.store.all(
        f"SELECT * FROM integration_token_revocations {where} ORDER BY revoked_at DESC, rowid DESC", params
    )
    return [_revocation_out(r) for r in rows]
