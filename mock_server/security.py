"""Credentials → identity, from the operation's security requirements.

Bearer tokens are HS256 JWTs signed by the mock (expiring, revocable by `jti`); API keys are looked up by their
SHA-256 hash and carry scopes, an organization, an optional expiry and an optional IP/CIDR allow-list. Failures are
the documented ones: 401 (with `WWW-Authenticate: Bearer`) for missing or bad credentials, 403
`INSUFFICIENT_API_KEY_SCOPE` for a key without the operation's scope, 403 for a missing role.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt

from mock_server.clock import Clock, parse_instant
from mock_server.errors import ApiError, forbidden, insufficient_scope, unauthorized
from mock_server.resources import fixtures_dir
from mock_server.spec import Operation
from mock_server.store import Store

ACCESS_TTL_SECONDS = 3600
REFRESH_TTL_SECONDS = 30 * 24 * 3600
API_KEY_PREFIX = "xntr-"


# Loopback names: the default (seed-derived) signing secret, the exempt address of the failed-auth throttle, and
# where /__mock__ answers without a token all read this one set.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    role: str  # platform role: user | admin; `application` for OAuth2 clients
    via: str  # bearer | api_key | oauth2
    scopes: tuple[str, ...] | None = None  # API keys and OAuth2 clients
    organization_id: str | None = None  # API keys are bound to one organization
    token_jti: str | None = None
    session_id: str | None = None  # the login session (token family) of a bearer token

    @property
    def rate_key(self) -> str:
        """One bucket per user (or OAuth2 client), whichever of its tokens and keys it calls with."""
        return f"user:{self.user_id}"


# passwords and keys --------------------------------------------------------------------------------------------
PRECOMPUTED_HASHES = "password-hashes.json"  # in fixtures/: see hash_password


def hash_password(password: str, salt: bytes) -> str:
    """The scrypt hash (N=2^14, r=8, p=1) of `password` with `salt`.

    Three seeded users and the login's dummy hash cost about 0.2 s of every start, so the hashes of the default
    world (the fixture sets' users at seed 0, whose salts come from the seeded id stream) are kept precomputed in
    `fixtures/password-hashes.json`, looked up by a SHA-256 of salt and password. A found entry is the very string
    this function computes (tests/test_password_hashes.py recomputes each one with scrypt); any other password or
    salt, every registered account, is hashed here, with the same parameters."""
    known = _precomputed_hashes().get(_precomputed_key(password, salt))
    if known is not None:
        return known
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def new_password_hash(password: str, salt: bytes) -> str:
    """`hash_password` for a password being set (a registration, a seeded user), remembered as checked: the hash was
    just made from this very password, so the first login after it need not run scrypt a second time (78 of a test
    run's 384 scrypt calls were such logins). The login's dummy hash is made with `hash_password`, never remembered."""
    stored = hash_password(password, salt)
    _remember(password, stored)
    return stored


def _precomputed_key(password: str, salt: bytes) -> str:
    return hashlib.sha256(salt + b"\0" + password.encode()).hexdigest()


@lru_cache(maxsize=1)
def _precomputed_hashes() -> dict[str, str]:
    try:
        hashes = json.loads((fixtures_dir() / PRECOMPUTED_HASHES).read_text(encoding="utf-8"))["hashes"]
    except (OSError, ValueError, KeyError, TypeError):  # no file (a trimmed install): every hash is computed
        return {}
    return {str(k): str(v) for k, v in hashes.items()}


def verify_password(password: str, stored: str) -> bool:
    """scrypt, once per (stored hash, password) that matched: a frontend or a test suite logs the same user in
    hundreds of times, each costing ~60 ms of CPU. Only successes (and passwords just set: `new_password_hash`) are
    remembered, under an HMAC with a key that lives and dies with the process, and a changed password is a new stored
    hash; refused guesses always pay the full scrypt. (A reader of the process's memory could test guesses against
    these entries quickly; such a reader holds the token signing secret too.)"""
    if _remembered(password, stored) in _verified:
        return True
    _, n, r, p, salt, digest = stored.split("$")
    actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    if not hmac.compare_digest(actual.hex(), digest):
        return False
    _remember(password, stored)
    return True


def _remembered(password: str, stored: str) -> bytes:
    return hmac.new(_VERIFIED_KEY, f"{stored}\0{password}".encode(), hashlib.sha256).digest()


def _remember(password: str, stored: str) -> None:
    if len(_verified) >= VERIFIED_PASSWORDS:
        _verified.clear()
    _verified.add(_remembered(password, stored))


VERIFIED_PASSWORDS = 1024  # successful checks remembered per process (then forgotten all at once)
_VERIFIED_KEY = secrets.token_bytes(32)
_verified: set[bytes] = set()


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_api_key(random_bytes: bytes) -> str:
    """`xntr-` + 86 URL-safe base64 characters (64 random bytes), as documented."""
    return API_KEY_PREFIX + base64.urlsafe_b64encode(random_bytes).decode().rstrip("=")


def ip_allowed(client: str | None, allowed: list[str]) -> bool:
    if not allowed:
        return True
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowed)


# tokens --------------------------------------------------------------------------------------------------------
ISSUER = "xentree-mock"
# Every claim the mock relies on, with its type: a token missing one, or carrying the wrong type, is invalid.
REQUIRED_CLAIMS: dict[str, type] = {"sub": str, "jti": str, "type": str, "iat": int, "exp": int, "iss": str, "gen": int}
TOKEN_CACHE_SIZE = 4096  # tokens whose decoding is kept; a bound, whatever is sent


class TokenRefused(Exception):
    """Why a token is not accepted: `error` is the code of the 401 (invalid_token, token_expired, ...)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def _well_formed(claims: dict[str, Any]) -> bool:
    for name, kind in REQUIRED_CLAIMS.items():
        value = claims.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    nbf = claims.get("nbf", 0)
    return isinstance(nbf, int) and not isinstance(nbf, bool)


class Tokens:
    """Issues and checks the mock's JWTs, every time rule (`iat`, `nbf`, `exp`) judged by the mock clock.

    PyJWT checks signature and format only (its own time checks read the wall clock, which would refuse every
    token after the mock clock moved forward). `exp` and `nbf` are judged by the mock clock; `iat` only has to be
    an integer (RFC 7519 makes it informative), so setting the clock back keeps earlier tokens working until their
    `exp`, as a frontend moving its clock expects. `gen` is the reset epoch: a token minted before `/__mock__/reset`
    is refused after it, even where the seed makes the new world's ids equal to the old one's.
    Decoding and the format checks are cached by the token string (bounded): a token's signature and claims never
    change. The time rules and the epoch are judged again at every use.
    """

    def __init__(self, secret: str, clock: Clock, store: Store) -> None:
        self.secret = secret
        self.clock = clock
        self.store = store
        self.epoch = int(store.meta("epoch") or 0)
        self._decode = lru_cache(maxsize=TOKEN_CACHE_SIZE)(self._decode_uncached)
        self._well_formed = lru_cache(maxsize=TOKEN_CACHE_SIZE)(self._well_formed_uncached)

    def new_epoch(self) -> None:
        """Called by a reset: every token issued so far stops working."""
        self.epoch += 1
        self.store.set_meta("epoch", str(self.epoch))

    def issue(self, user: dict[str, Any], sid: str | None = None) -> dict[str, Any]:
        """An access + refresh pair of one login session (`sid`; a refresh continues its session)."""
        now = int(self.clock.timestamp())
        access_jti, refresh_jti = self.store.new_id(), self.store.new_id()
        sid = sid or self.store.new_id()
        common = {
            "sub": user["id"],
            "username": user["username"],
            "iat": now,
            "iss": ISSUER,
            "sid": sid,
            "gen": self.epoch,
        }
        access = jwt.encode(
            {**common, "type": "access", "jti": access_jti, "exp": now + ACCESS_TTL_SECONDS}, self.secret, "HS256"
        )
        refresh = jwt.encode(
            {**common, "type": "refresh", "jti": refresh_jti, "exp": now + REFRESH_TTL_SECONDS}, self.secret, "HS256"
        )
        self.store.insert(
            "refresh_tokens",
            {
                "jti": refresh_jti,
                "user_id": user["id"],
                "access_jti": access_jti,
                "sid": sid,
                "expires_at": now + REFRESH_TTL_SECONDS,
            },
        )
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": ACCESS_TTL_SECONDS,
        }

    def issue_client(self, client_id: str, name: str, scopes: list[str], ttl: int = ACCESS_TTL_SECONDS) -> str:
        """An OAuth2 client-credentials access token: the application is the subject, its scopes are the claims."""
        now = int(self.clock.timestamp())
        claims = {
            "sub": client_id,
            "name": name,
            "type": "client",
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + ttl,
            "jti": self.store.new_id(),
            "iss": ISSUER,
            "gen": self.epoch,
        }
        return jwt.encode(claims, self.secret, "HS256")

    def _decode_uncached(self, token: str) -> dict[str, Any] | None:
        try:
            options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
            return jwt.decode(token, self.secret, algorithms=["HS256"], options=options)  # type: ignore[arg-type]
        except jwt.InvalidTokenError:
            return None

    def _well_formed_uncached(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this mock signed with every claim it relies on, else None."""
        claims = self._decode(token)
        return claims if claims is not None and _well_formed(claims) and claims["iss"] == ISSUER else None

    def verified(self, token: str, kind: str) -> dict[str, Any]:
        """The claims of a token this mock signed, of the given kind, valid now by the mock clock; else
        `TokenRefused` saying why."""
        claims = self._well_formed(token)
        if claims is None or claims["type"] != kind:
            raise TokenRefused("invalid_token", f"The {kind} token is malformed or its signature is invalid")
        if claims["gen"] != self.epoch:
            raise TokenRefused("invalid_token", f"The {kind} token was issued before the mock was reset")
        now = self.clock.timestamp()
        if claims.get("nbf", 0) > now:
            raise TokenRefused("token_not_yet_valid", f"The {kind} token is not valid yet (nbf)")
        if claims["exp"] <= now:
            raise TokenRefused("token_expired", f"The {kind} token has expired")
        return claims

    def claims(self, token: str, kind: str, expired_error: str = "token_expired") -> dict[str, Any]:
        """Valid, unexpired claims of the given kind, or a 401 that says why."""
        try:
            return self.verified(token, kind)
        except TokenRefused as refused:
            error = expired_error if refused.error == "token_expired" else refused.error
            raise unauthorized(refused.message, error) from None

    def decode(self, token: str) -> dict[str, Any] | None:
        """The token's claims when this mock signed it (time rules not checked), else None."""
        return self._decode(token)

    def kind(self, token: str) -> str | None:
        claims = self._decode(token)
        kind = claims.get("type") if claims else None
        return kind if isinstance(kind, str) else None


# authentication ------------------------------------------------------------------------------------------------
def scheme_kind(scheme: dict[str, Any]) -> str:
    """What credential a security scheme means to the mock: `bearer` (a user's JWT), `oauth2` (a client's JWT),
    `api_key` or `basic`."""
    kind = scheme.get("type", "")
    if kind == "http":
        return str(scheme.get("scheme", "")).lower()
    return {"apiKey": "api_key"}.get(str(kind), str(kind))


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """`Authorization: Basic base64(id:secret)` decoded; None when absent; a 401 (Basic challenge) when malformed."""
    if header is None or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        user, sep, secret = "", "", ""
    if not sep or not user:
        raise unauthorized(
            "Malformed Basic credentials: expected base64(client_id:client_secret)",
            "invalid_client",
            challenge='Basic realm="mock"',
        )
    return user, secret


class Authenticator:
    """Checks an operation's security requirements, by the kind of each scheme the spec declares."""

    def __init__(self, tokens: Tokens, store: Store, clock: Clock, schemes: dict[str, dict[str, Any]]) -> None:
        self.tokens = tokens
        self.store = store
        self.clock = clock
        self.kinds = {name: scheme_kind(s) for name, s in schemes.items()}
        self._accepted: dict[str, dict[str, str]] = {}  # operationId -> credential kind -> scheme name
        self.key_header = next((s["name"].lower() for s in schemes.values() if s.get("type") == "apiKey"), None)

    def authenticate(self, op: Operation, headers: Any, client: str | None) -> Identity | None:
        """The caller's identity for this operation, or the documented 401/403. Public operations give None."""
        if op.public:
            return None
        accepted = self.accepted(op)
        authorization = headers.get("authorization")
        api_key = headers.get(self.key_header) if self.key_header else None
        if authorization is not None and accepted.keys() & {"bearer", "oauth2"}:
            identity = self._token(op, authorization, accepted)
        elif api_key is not None:
            if "api_key" not in accepted:
                raise unauthorized(
                    f"{op.operation_id} is bearer-only: API keys are not accepted; send Authorization: Bearer <token>",
                    "api_key_not_accepted",
                )
            identity = self._api_key(api_key, client)
            missing = [s for s in op.scopes_for(accepted["api_key"]) if s not in (identity.scopes or ())]
            if missing:
                raise insufficient_scope(missing[0], list(identity.scopes or ()))
        elif authorization is not None:
            raise unauthorized("Unsupported credentials for this operation", "invalid_token")
        elif "oauth2" in accepted:
            raise unauthorized("Authorization Bearer token is missing", "invalid_token", 'Bearer realm="mock"')
        else:
            hint = "an Authorization: Bearer token" + (" or an X-API-Key" if "api_key" in accepted else "")
            raise unauthorized(f"Authentication required: send {hint}")
        if op.required_role and identity.role != op.required_role:
            raise forbidden(f"This action requires the {op.required_role} role", "insufficient_role")
        return identity

    def accepted(self, op: Operation) -> dict[str, str]:
        """The credential kinds the operation takes, worked out once per operation."""
        found = self._accepted.get(op.operation_id)
        if found is None:
            found = self._accepted[op.operation_id] = {self.kinds.get(n, "unknown"): n for n in op.accepts}
        return found

    def _token(self, op: Operation, header: str, accepted: dict[str, str]) -> Identity:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("Malformed Authorization header: expected 'Bearer <token>'", "invalid_token")
        if "oauth2" in accepted and ("bearer" not in accepted or self.tokens.kind(token) == "client"):
            return self._client(op, token, accepted["oauth2"])
        return self._bearer(token)

    def _client(self, op: Operation, token: str, scheme: str) -> Identity:
        """An OAuth2 client's token: valid now by the mock clock, and holding the operation's scopes (RFC 6750)."""
        challenge = 'Bearer realm="mock", error="invalid_token"'
        try:
            claims = self.tokens.verified(token, "client")
        except TokenRefused as refused:
            raise unauthorized(refused.message, "invalid_token", challenge) from None
        scope = claims.get("scope", "")
        granted = tuple(scope.split()) if isinstance(scope, str) else ()
        missing = [s for s in op.scopes_for(scheme) if s not in granted]
        if missing:
            raise ApiError(
                403,
                "insufficient_scope",
                f"This operation requires the scope {missing[0]}",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{missing[0]}"'},
                required_scope=missing[0],
                granted_scopes=list(granted),
            )
        name = claims.get("name")
        return Identity(
            claims["sub"], name if isinstance(name, str) else claims["sub"], "application", "oauth2", scopes=granted
        )

    def _bearer(self, token: str) -> Identity:
        """The user of a valid access token, unless the user is gone or the token or its session revoked. The lookup
        is one query, which the store keeps answered while none of its rows changes (`Store.one`); time rules and
        the token epoch are checked on every use (`Tokens.claims`)."""
        claims = self.tokens.claims(token, "access")
        sid = claims.get("sid") if isinstance(claims.get("sid"), str) else ""
        user = self.store.one(
            "SELECT id, username, role, EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?)"
            " OR EXISTS (SELECT 1 FROM revoked_sessions WHERE sid = ?) AS revoked FROM users WHERE id = ?",
            (claims["jti"], sid, claims["sub"]),
        )
        if user is None:
            raise unauthorized("The token's user no longer exists", "invalid_token")
        if user["revoked"]:
            raise unauthorized("The access token has been revoked", "token_revoked")
        return Identity(
            user["id"], user["username"], user["role"], "bearer", token_jti=claims["jti"], session_id=sid or None
        )

    def _api_key(self, key: str, client: str | None) -> Identity:
        row = self.store.one(
            "SELECT k.*, u.username, u.role FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?",
            (hash_api_key(key.strip()),),
        )
        if row is None:
            raise unauthorized("Invalid or revoked API key", "invalid_api_key")
        if row["expires_at"] and parse_instant(row["expires_at"]).timestamp() <= self.clock.timestamp():
            raise unauthorized("The API key has expired", "api_key_expired")
        if not ip_allowed(client, json.loads(row["allowed_ips"])):
            raise forbidden(f"The API key is not allowed from address {client}", "ip_not_allowed")
        return Identity(
            row["user_id"],
            row["username"],
            row["role"],
            "api_key",
            scopes=tuple(json.loads(row["scopes"])),
            organization_id=row["organization_id"],
        )
