"""Authentication: register, log in (form), refresh (rotating, one-shot), log out, and the current user."""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, handles
from mock_server.errors import conflict, unauthorized
from mock_server.security import hash_password, verify_password

PROFILE_FIELDS = ("id", "username", "email", "full_name", "timezone", "role", "plan", "created_at")


def profile(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in PROFILE_FIELDS}


def _user(call: Call, user_id: str) -> dict[str, Any]:
    user = call.store.one("SELECT * FROM users WHERE id = ?", (user_id,))
    if user is None:
        raise unauthorized("The token's user no longer exists", "invalid_token")
    return user


def _ensure_unique(call: Call, field: str, value: str, except_id: str = "") -> None:
    if call.store.one(f"SELECT 1 FROM users WHERE {field} = ? AND id != ?", (value, except_id)):
        raise conflict(f"That {field} is already taken", f"{field}_taken")


def create_user(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """Insert a user (also used by the fixture loader, so demo users are made exactly like registered ones)."""
    user = {
        "id": call.store.new_id(),
        "username": data["username"],
        "email": data["email"],
        "password_hash": hash_password(data["password"], call.store.token(16)),
        "full_name": data.get("full_name"),
        "timezone": data.get("timezone") or "UTC",
        "role": data.get("role", "user"),
        "plan": data.get("plan", "free"),
        "created_at": iso(call.clock.now()),
    }
    return call.store.insert("users", user)


@handles("registerUser")
def register(call: Call) -> dict[str, Any]:
    body = call.body
    _ensure_unique(call, "username", body["username"])
    _ensure_unique(call, "email", body["email"])
    return profile(create_user(call, {k: v for k, v in body.items() if k not in ("role", "plan")}))


@handles("loginForAccessToken")
def login(call: Call) -> dict[str, Any]:
    user = call.store.one("SELECT * FROM users WHERE username = ? OR email = ?", (call.body["username"],) * 2)
    if user is None or not verify_password(call.body["password"], user["password_hash"]):
        raise unauthorized("Incorrect username or password", "invalid_credentials")
    return call.tokens.issue(user)


@handles("refreshAccessToken")
def refresh(call: Call) -> dict[str, Any]:
    """Rotation is one-shot: a refresh token works once, then answers 401 like any spent credential."""
    claims = call.tokens.claims(call.body["refresh_token"], "refresh")
    row = call.store.one("SELECT * FROM refresh_tokens WHERE jti = ?", (claims["jti"],))
    if row is None or row["revoked_at"] is not None:
        raise unauthorized("The refresh token has been revoked", "token_revoked")
    if row["used_at"] is not None:
        raise unauthorized("The refresh token was already used; log in again", "refresh_token_reused")
    now = call.clock.timestamp()
    call.store.run("UPDATE refresh_tokens SET used_at = ? WHERE jti = ?", (now, row["jti"]))
    return call.tokens.issue(_user(call, row["user_id"]))


@handles("logoutUser")
def logout(call: Call) -> dict[str, Any]:
    """Revoke the access token in use and every refresh token issued with it."""
    assert call.identity is not None and call.identity.token_jti is not None
    jti = call.identity.token_jti
    claims_exp = call.clock.timestamp() + 3600
    call.store.run("INSERT OR IGNORE INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)", (jti, claims_exp))
    call.store.run(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE access_jti = ? AND revoked_at IS NULL",
        (call.clock.timestamp(), jti),
    )
    return {"detail": "Logged out: the access token and its refresh tokens are revoked"}


@handles("getCurrentUser")
def me(call: Call) -> dict[str, Any]:
    return profile(_user(call, call.user_id))


@handles("updateCurrentUser")
def update_me(call: Call) -> dict[str, Any]:
    changes = {k: v for k, v in call.body.items() if k in ("full_name", "email", "timezone")}
    if "email" in changes:
        _ensure_unique(call, "email", changes["email"], call.user_id)
    for key, value in changes.items():
        call.store.run(f"UPDATE users SET {key} = ? WHERE id = ?", (value, call.user_id))
    return profile(_user(call, call.user_id))
