"""Who the run acts as: credentials from flags or environment, verified against the target before anything else.

A token is checked with the current-user operation (or, in an API without one, a harmless read that needs a Bearer
token), an API key with a scope-free operation that accepts keys, a username and password by logging in through the
spec's login operation (a form post), and `--register` creates a throw-away user through the registration operation
and logs in as it. An OAuth2 client id and secret (`--client-id`/`--client-secret`) are exchanged for a token at the
spec's client-credentials token operation (Basic header, form `grant_type=client_credentials`, optional `scope`).
Credentials the target refuses stop the run with exit code 2 and say so; a run that silently tests everything as
"401 Unauthorized" is never a pass.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from contract_tests.http import Client, Exchange
from contract_tests.spec import DEFAULT_API_KEY_HEADER, ApiSpec, OperationInfo

LOGIN, REGISTER, ME, REFRESH, LOGOUT = (
    "loginUser",
    "registerUser",
    "getCurrentUser",
    "refreshAccessToken",
    "logoutUser",
)
MAX_NAME_ATTEMPTS = 20


class CredentialsRefused(Exception):
    """The target refused the credentials the run was given (exit code 2)."""


@dataclass
class Principal:
    """One identity on the target, with the headers that authenticate it."""

    kind: str  # bearer | api_key | anonymous
    token: str | None = None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    user: dict[str, Any] = field(default_factory=dict)  # the current-user profile, when known
    registered: bool = False  # a throw-away user the suite created
    client_id: str | None = None  # an OAuth2 client (application) and its secret
    client_secret: str | None = None
    scopes: tuple[str, ...] | None = None  # the scopes the token was granted, when the target says

    @property
    def is_client(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def basic(self) -> dict[str, str]:
        """The client's `Authorization: Basic` header (for the token operation)."""
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    @property
    def can_login(self) -> bool:
        return bool(self.username and self.password)

    def headers_for(self, op: OperationInfo | None = None) -> dict[str, str]:
        """Credentials the operation accepts: the bearer token where allowed, else the API key."""
        if op is not None and op.accepts_basic and self.is_client:
            return self.basic()  # the client-credentials token operation
        if op is not None and op.public:
            return {}
        if self.token and (op is None or op.accepts_bearer):
            return {"Authorization": f"Bearer {self.token}"}
        if self.api_key and (op is None or op.accepts_api_key):
            return {op.api_key_header if op is not None else DEFAULT_API_KEY_HEADER: self.api_key}
        return {}

    def describe(self) -> dict[str, Any]:
        if self.client_id or self.kind == "client":
            return {
                "kind": self.kind,
                "client_id": self.client_id,
                "scopes": list(self.scopes) if self.scopes is not None else None,
            }
        return {
            "kind": self.kind,
            "username": self.username or self.user.get("username"),
            "user_id": self.user.get("id"),
            "registered": self.registered,
            "api_key": bool(self.api_key),
        }

    @property
    def private_values(self) -> tuple[str, ...]:
        """Values that must never appear in public data about this user."""
        return tuple(str(self.user[k]) for k in ("email", "id") if self.user.get(k))


def path_of(op: OperationInfo, **params: Any) -> str:
    path = op.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def login(client: Client, spec: ApiSpec, username: str, password: str) -> Exchange:
    op = spec.by_id[LOGIN]
    return client.request(op.method, op.path, form={"username": username, "password": password}, operation=LOGIN)


def current_user(client: Client, spec: ApiSpec, token: str) -> Exchange:
    op = spec.by_id[ME]
    return client.request(op.method, op.path, headers={"Authorization": f"Bearer {token}"}, operation=ME)


def session(client: Client, spec: ApiSpec, username: str, password: str, *, registered: bool = False) -> Principal:
    """Log in and read the profile: a bearer principal, or CredentialsRefused saying what the target answered."""
    answer = login(client, spec, username, password)
    tokens = answer.json if answer.status == 200 else None
    if not isinstance(tokens, dict) or not tokens.get("access_token"):
        raise CredentialsRefused(f"login as {username!r} was refused: {answer.summary()}")
    principal = Principal(
        "bearer",
        token=tokens["access_token"],
        username=username,
        password=password,
        refresh_token=tokens.get("refresh_token"),
        registered=registered,
    )
    if ME in spec.by_id:
        me = current_user(client, spec, principal.token or "")
        if me.status != 200:
            raise CredentialsRefused(f"the token issued to {username!r} was refused: {me.summary()}")
        principal.user = me.json or {}
    return principal


def register_user(client: Client, spec: ApiSpec, seed: int, label: str = "u") -> Principal:
    """Create a throw-away user (deterministic name for the seed, bumped while taken) and log in as it."""
    op = spec.by_id.get(REGISTER)
    if op is None:
        raise CredentialsRefused(f"the spec has no {REGISTER} operation to create a user with")
    password = "ct-" + secrets.token_urlsafe(18)
    last: Exchange | None = None
    for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
        suffix = f"{attempt}" if attempt < MAX_NAME_ATTEMPTS else secrets.token_hex(4)
        username = f"ct{seed}{label}{suffix}"
        digest = hashlib.sha256(username.encode()).hexdigest()[:8]
        body = {
            "username": username,
            "email": f"{username}.{digest}@contract-tests.example.com",
            "password": password,
            "full_name": f"Contract Test {label.upper()}{suffix}",
            "timezone": "UTC",
        }
        last = client.request(op.method, op.path, json_body=body, operation=REGISTER)
        if last.status == 201:
            return session(client, spec, username, password, registered=True)
        if last.status != 409:
            break
    raise CredentialsRefused(f"could not register a throw-away user: {last.summary() if last else 'no answer'}")


def key_probe(spec: ApiSpec) -> OperationInfo | None:
    """A GET that accepts API keys without a scope and has no path parameters: it tells a valid key from a bad one."""
    candidates = [op for op in spec.operations if op.method == "GET" and "{" not in op.path and op.accepts_api_key]
    candidates.sort(key=lambda op: (len(op.api_key_scopes), op.path))
    return candidates[0] if candidates else None


def verify_api_key(client: Client, spec: ApiSpec, key: str) -> None:
    op = key_probe(spec)
    if op is None:
        return
    answer = client.request(op.method, op.path, headers={op.api_key_header: key}, operation=op.operation_id)
    if answer.status == 401 or (answer.status == 403 and not op.api_key_scopes):
        raise CredentialsRefused(f"the target refused the API key: {answer.summary()}")


def request_token(
    client: Client, spec: ApiSpec, client_id: str, client_secret: str, scope: str | None = None
) -> Exchange:
    """OAuth2 client credentials: Basic `client_id:client_secret`, form `grant_type=client_credentials[&scope=...]`."""
    op = spec.token_operation
    if op is None:
        raise CredentialsRefused("the spec has no OAuth2 client-credentials token operation to get a token from")
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    who = Principal("client", client_id=client_id, client_secret=client_secret)
    return client.request(op.method, op.path, headers=who.basic(), form=form, operation=op.operation_id)


def client_token(
    client: Client, spec: ApiSpec, client_id: str, client_secret: str, scope: str | None = None
) -> Principal:
    """A client principal with a fresh token, or CredentialsRefused saying what the token operation answered."""
    answer = request_token(client, spec, client_id, client_secret, scope)
    body = answer.json if answer.status == 200 and isinstance(answer.json, dict) else {}
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        asked = f" with scope {scope!r}" if scope else ""
        raise CredentialsRefused(f"the token operation refused client {client_id!r}{asked}: {answer.summary()}")
    granted = tuple(str(body["scope"]).split()) if isinstance(body.get("scope"), str) else None
    if granted is None and scope:
        granted = tuple(scope.split())
    return Principal("client", token=token, client_id=client_id, client_secret=client_secret, scopes=granted)


def token_probe(spec: ApiSpec) -> OperationInfo | None:
    """A GET that needs a Bearer token, to tell a valid token from a bad one in an API without a current-user
    operation; asked for a made-up id, a valid token gets 404 (or 403 without the scope), a bad one 401."""
    candidates = [op for op in spec.operations if op.method == "GET" and op.accepts_bearer and not op.public]
    candidates.sort(key=lambda op: (len(op.bearer_scopes), op.path.count("{") == 0, op.path))
    return candidates[0] if candidates else None


def probe_token(client: Client, spec: ApiSpec, token: str) -> Exchange | None:
    op = token_probe(spec)
    if op is None:
        return None
    path = op.path
    for name in (p.get("name") for p in spec.parameters(op, "path")):
        path = path.replace("{" + str(name) + "}", str(uuid.uuid4()))
    return client.request(op.method, path, headers={"Authorization": f"Bearer {token}"}, operation=op.operation_id)


def verify_token(client: Client, spec: ApiSpec, principal: Principal) -> None:
    """The bearer token works: the current-user operation answers 200, or (without one) the probe is not a 401."""
    token = principal.token or ""
    if ME in spec.by_id:
        me = current_user(client, spec, token)
        if me.status != 200:
            raise CredentialsRefused(f"the target refused the bearer token: {me.summary()}")
        principal.user = me.json or {}
        principal.username = principal.user.get("username")
        return
    answer = probe_token(client, spec, token)
    if answer is not None and answer.status == 401:
        raise CredentialsRefused(f"the target refused the bearer token: {answer.summary()}")


def establish(
    client: Client,
    spec: ApiSpec,
    *,
    token: str | None,
    api_key: str | None,
    username: str | None,
    password: str | None,
    register: bool,
    seed: int,
    client_id: str | None = None,
    client_secret: str | None = None,
    scope: str | None = None,
) -> Principal:
    """The run's identity, verified. Order: --client-id/--client-secret, --register, --username/--password, then
    --token; --api-key adds."""
    if client_id and client_secret:
        principal = client_token(client, spec, client_id, client_secret, scope)
        verify_token(client, spec, principal)
    elif register:
        principal = register_user(client, spec, seed, "a")
    elif username and password:
        principal = session(client, spec, username, password)
    elif token:
        principal = Principal("bearer", token=token)
        verify_token(client, spec, principal)
    else:
        principal = Principal("anonymous")
    if api_key:
        verify_api_key(client, spec, api_key)
        principal.api_key = api_key
        if principal.kind == "anonymous":
            principal.kind = "api_key"
    return principal
