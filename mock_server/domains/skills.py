"""Skills Connector: the user's third-party integrations and the start of the Google Calendar OAuth flow.

Starting the flow records a `pending` google_calendar integration holding the flow's `state` (one pending flow per user
and provider: starting again replaces its state). The OAuth callback is not part of the public API, so a pending
integration stays pending. The demo world starts with the connections listed in
`fixtures/catalog/integration-connections.yaml`.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from mock_server.catalogs import load_catalog
from mock_server.clock import iso
from mock_server.domains import Call, World, handles, seeder, tables

GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_CLIENT_ID = "xentree-mock.apps.googleusercontent.com"
DEFAULT_REDIRECT_URI = "https://my.xentree.com/settings/integrations/callback"
GOOGLE_CALENDAR_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly", "openid", "email")
STATE_BYTES = 24  # 32 base64url characters

tables("""
-- Third-party integrations per user; `oauth_state` binds a pending OAuth flow to its callback.
CREATE TABLE IF NOT EXISTS integrations (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    scopes TEXT NOT NULL DEFAULT '[]',
    account_email TEXT,
    connected_at TEXT NOT NULL,
    oauth_state TEXT UNIQUE,
    redirect_uri TEXT
);
CREATE INDEX IF NOT EXISTS integrations_user ON integrations (user_id, status);
""")


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "provider": row["provider"],
        "status": row["status"],
        "connected_at": row["connected_at"],
        "scopes": json.loads(row["scopes"]),
        "account_email": row["account_email"],
    }


@handles("listActiveIntegrations")
def list_integrations(call: Call) -> list[dict[str, Any]]:
    rows = call.store.all(
        "SELECT * FROM integrations WHERE user_id = ? AND status != 'revoked' ORDER BY connected_at, rowid",
        (call.user_id,),
    )
    return [_out(r) for r in rows]


def authorization_url(state: str, redirect_uri: str) -> str:
    params = {
        "client_id": GOOGLE_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(GOOGLE_CALENDAR_SCOPES),
        "access_type": "offline",
        "include_granted_scopes": "true",
        "prompt": "consent",
        "state": state,
    }
    return f"{GOOGLE_AUTH_URL}?{urlencode(params, quote_via=quote)}"


@handles("startGoogleCalendarOAuth")
def start_google_calendar(call: Call) -> dict[str, Any]:
    redirect_uri = (call.body or {}).get("redirect_uri") or DEFAULT_REDIRECT_URI
    state = base64.urlsafe_b64encode(call.store.token(STATE_BYTES)).decode().rstrip("=")
    now = iso(call.clock.now())
    pending = call.store.one(
        "SELECT id FROM integrations WHERE user_id = ? AND provider = 'google_calendar' AND status = 'pending'",
        (call.user_id,),
    )
    if pending:
        call.store.run(
            "UPDATE integrations SET oauth_state = ?, redirect_uri = ?, connected_at = ? WHERE id = ?",
            (state, redirect_uri, now, pending["id"]),
        )
    else:
        call.store.insert(
            "integrations",
            {
                "id": call.store.new_id(),
                "user_id": call.user_id,
                "provider": "google_calendar",
                "status": "pending",
                "scopes": [],
                "account_email": None,
                "connected_at": now,
                "oauth_state": state,
                "redirect_uri": redirect_uri,
            },
        )
    return {"authorization_url": authorization_url(state, redirect_uri), "state": state}


@lru_cache(maxsize=1)
def _seeded_connections() -> tuple[dict[str, Any], ...]:
    return tuple(load_catalog("integration-connections.yaml")["connections"])


@seeder
def seed(call: Call, world: World) -> None:
    for spec in _seeded_connections():
        user = world.users.get(spec["username"])
        if user is None:
            continue
        call.store.insert(
            "integrations",
            {
                "id": call.store.new_id(),
                "user_id": user["id"],
                "provider": spec["provider"],
                "status": spec["status"],
                "scopes": list(spec["scopes"]),
                "account_email": spec["account_email"],
                "connected_at": iso(
                    call.clock.now().replace(microsecond=0) - timedelta(days=spec["connected_days_ago"])
                ),
            },
        )
