"""Accounts, the first stateful domain: register, login, rotating refresh, logout, current user."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import bearer, login

NEW = {"username": "newbie", "email": "newbie@example.com", "password": "correct-horse", "full_name": "New Bie"}


def test_register_then_login(client: TestClient) -> None:
    created = client.post("/api/auth/register", json=NEW)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "newbie" and user["email"] == "newbie@example.com"
    assert "password" not in user and "password_hash" not in user
    token = login(client, "newbie", "correct-horse")
    me = client.get("/api/auth/me", headers=bearer(token)).json()
    assert me == user


def test_password_is_stored_hashed(client: TestClient, mock) -> None:
    client.post("/api/auth/register", json=NEW)
    row = mock.store.one("SELECT password_hash FROM users WHERE username = 'newbie'")
    assert row["password_hash"].startswith("scrypt$") and "correct-horse" not in row["password_hash"]


def test_duplicate_username_or_email_is_refused_clearly(client: TestClient) -> None:
    assert client.post("/api/auth/register", json=NEW).status_code == 201
    again = client.post("/api/auth/register", json={**NEW, "email": "other@example.com"})
    assert again.status_code == 409
    assert again.json()["detail"]["error"] == "username_taken"
    same_email = client.post("/api/auth/register", json={**NEW, "username": "other"})
    assert same_email.status_code == 409
    assert same_email.json()["detail"]["error"] == "email_taken"


def test_register_rejects_bad_input(client: TestClient) -> None:
    assert client.post("/api/auth/register", json={**NEW, "email": "not-an-email"}).status_code == 400
    assert client.post("/api/auth/register", json={**NEW, "password": "short"}).status_code == 400


def test_wrong_password_is_401(client: TestClient) -> None:
    response = client.post("/api/auth/login", data={"username": "demo", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "invalid_credentials"


def test_login_returns_the_documented_token_response(client: TestClient) -> None:
    body = client.post("/api/auth/login", data={"username": "demo", "password": "demo-password"}).json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2 and body["refresh_token"].count(".") == 2


def test_refresh_rotates_and_a_used_refresh_token_is_refused(client: TestClient) -> None:
    first = client.post("/api/auth/login", data={"username": "demo", "password": "demo-password"}).json()
    second = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    fresh = second.json()
    assert fresh["access_token"] != first["access_token"] and fresh["refresh_token"] != first["refresh_token"]
    assert client.get("/api/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    reused = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["detail"]["error"] == "refresh_token_reused"


def test_access_token_is_not_a_refresh_token(client: TestClient) -> None:
    token = login(client)
    response = client.post("/api/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401


def test_logout_revokes_access_and_refresh_tokens(client: TestClient) -> None:
    tokens = client.post("/api/auth/login", data={"username": "demo", "password": "demo-password"}).json()
    headers = bearer(tokens["access_token"])
    assert client.post("/api/auth/logout", headers=headers).status_code == 200
    after = client.get("/api/auth/me", headers=headers)
    assert after.status_code == 401 and after.json()["detail"]["error"] == "token_revoked"
    refresh = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401 and refresh.json()["detail"]["error"] == "token_revoked"


def test_update_current_user(client: TestClient, demo: dict[str, str]) -> None:
    response = client.patch("/api/auth/me", json={"full_name": "Demo Renamed", "timezone": "Asia/Tokyo"}, headers=demo)
    assert response.status_code == 200
    assert response.json()["full_name"] == "Demo Renamed"
    assert client.get("/api/auth/me", headers=demo).json()["timezone"] == "Asia/Tokyo"
    clash = client.patch("/api/auth/me", json={"email": "alex@xentree.test"}, headers=demo)
    assert clash.status_code == 409
