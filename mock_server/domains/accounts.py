"""Authentication: register, log in (form), refresh (rotating, one-shot), log out, and the current user."""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, handles
from mock_server.errors import conflict, unauthorized
from mock_server.security import hash_password, new_password_hash, verify_password

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
        "password_hash": new_password_hash(data["password"], call.store.token(16)),
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


# An unknown username is checked against this hash, so it costs what a known one costs (no enumeration by timing).
_DUMMY_HASH = hash_password("not-a-password", b"xentree-mock-dummy-salt")


@handles("loginUser")
def login(call: Call) -> dict[str, Any]:
    user = call.store.one("SELECT * FROM users WHERE username = ? OR email = ?", (call.body["username"],) * 2)
    matches = verify_password(call.body["password"], user["password_hash"] if user else _DUMMY_HASH)
    if user is None or not matches:
        raise unauthorized("Incorrect username or password", "invalid_credentials")
    return call.tokens.issue(user)


@handles("refreshAccessToken")
def refresh(call: Call) -> dict[str, Any]:
    """Rotation is one-shot, and the new pair continues the same login session. A refresh token used twice means
    it leaked: the whole session (every access and refresh token of that login) is revoked (OAuth 2.0 Security BCP)."""
    claims = call.tokens.claims(call.body["refresh_token"], "refresh")
    row = call.store.one("SELECT * FROM refresh_tokens WHERE jti = ?", (claims["jti"],))
    if row is None or row["revoked_at"] is not None or _session_revoked(call, row["sid"]):
        raise unauthorized("The refresh token has been revoked", "token_revoked")
    if row["used_at"] is not None:
        _revoke_session(call, row["sid"])
        raise unauthorized(
            "The refresh token was already used; its session is revoked, log in again",
            "refresh_token_reused",
            keep_writes=True,
        )
    now = call.clock.timestamp()
    call.store.run("UPDATE refresh_tokens SET used_at = ? WHERE jti = ?", (now, row["jti"]))
    return call.tokens.issue(_user(call, row["user_id"]), sid=row["sid"] or None)


def _session_revoked(call: Call, sid: str) -> bool:
    return bool(sid) and call.store.one("SELECT 1 FROM revoked_sessions WHERE sid = ?", (sid,)) is not None


def _revoke_session(call: Call, sid: str) -> None:
    now = call.clock.timestamp()
    if sid:
        call.store.run("INSERT OR IGNORE INTO revoked_sessions (sid, revoked_at) VALUES (?, ?)", (sid, now))
        call.store.run("UPDATE refresh_tokens SET revoked_at = ? WHERE sid = ? AND revoked_at IS NULL", (now, sid))


@handles("logoutUser")
def logout(call: Call) -> dict[str, Any]:
    """End the login session: the access token in use, every earlier access token of the session (refreshes
    continue a session) and every refresh token of it."""
    assert call.identity is not None and call.identity.token_jti is not None
    jti = call.identity.token_jti
    call.store.run(
        "INSERT OR IGNORE INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)",
        (jti, call.clock.timestamp() + 3600),
    )
    call.store.run(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE access_jti = ? AND revoked_at IS NULL",
        (call.clock.timestamp(), jti),
    )
    _revoke_session(call, call.identity.session_id or "")
    return {"detail": "Logged out: the session's access and refresh tokens are revoked"}


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
