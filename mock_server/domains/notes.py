"""Notes: the current user's notes, optionally linked to one of their conversations.

Only the owner sees or changes a note (another user's note answers 404, like an unknown one). A linked conversation
must be the caller's (404 otherwise); deleting the conversation keeps the note and unlinks it (the foreign key sets
`conversation_id` to null). Lists are most recently updated first. An update changes only the fields sent; a body
with none of the note's fields (only unknown keys) changes nothing and returns the note as it is.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, time, timedelta
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, Result, World, handles, own_row, seeder, tables
from mock_server.domains.conversations.messages import normal_id, own_conversation
from mock_server.domains.conversations.replies import catalog
from mock_server.domains.conversations.seed import DEMO_USER
from mock_server.domains.xp import zone
from mock_server.ids import seeded_uuid

FIELDS = ("title", "content", "conversation_id", "tags")

tables("""
CREATE TABLE IF NOT EXISTS notes (
    seq INTEGER PRIMARY KEY,  -- creation order (ties) and the search index's rowid
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_user ON notes (user_id, updated_ts);
""")


def note_body(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "content": row["content"],
        "conversation_id": row["conversation_id"],
        "tags": json.loads(row["tags"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def own_note(call: Call, note_id: Any) -> dict[str, Any]:
    nid = normal_id(note_id)
    return own_row(call, "notes", nid, f"Note {nid} not found")


def linked_conversation(call: Call, conversation_id: Any) -> str | None:
    """The id of the caller's conversation to link (404 when it is not theirs), or None to unlink."""
    return None if conversation_id is None else own_conversation(call, conversation_id)["id"]


def insert_note(
    call: Call,
    user_id: str,
    data: dict[str, Any],
    at: datetime,
    note_id: str | None = None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    row = {
        "id": note_id or call.store.new_id(),
        "user_id": user_id,
        "conversation_id": conversation_id,
        "title": data["title"],
        "content": data["content"],
        "tags": json.dumps(list(data.get("tags") or [])),
        "created_at": iso(at),
        "updated_at": iso(at),
        "updated_ts": at.timestamp(),
    }
    call.store.insert("notes", row)
    return row


@handles("listNotes")
def list_notes(call: Call) -> list[dict[str, Any]]:
    rows = call.store.all("SELECT * FROM notes WHERE user_id = ? ORDER BY updated_ts DESC, seq DESC", (call.user_id,))
    return [note_body(r) for r in rows]


@handles("createNote")
def create_note(call: Call) -> Result:
    body = call.body
    conversation_id = linked_conversation(call, body.get("conversation_id"))
    row = insert_note(call, call.user_id, body, call.clock.now(), conversation_id=conversation_id)
    return Result(note_body(row), 201)


@handles("updateNote")
def update_note(call: Call) -> dict[str, Any]:
    note = own_note(call, call.path["note_id"])
    changes = {k: v for k, v in call.body.items() if k in FIELDS}
    if "conversation_id" in changes:
        changes["conversation_id"] = linked_conversation(call, changes["conversation_id"])
    if "tags" in changes:
        changes["tags"] = json.dumps(list(changes["tags"]))
    if changes:
        now = call.clock.now()
        changes |= {"updated_at": iso(now), "updated_ts": now.timestamp()}
        assignments = ", ".join(f"{k} = ?" for k in changes)
        call.store.run(f"UPDATE notes SET {assignments} WHERE id = ?", (*changes.values(), note["id"]))
    return note_body(own_note(call, note["id"]))


@handles("deleteNote")
def delete_note(call: Call) -> Result:
    note = own_note(call, call.path["note_id"])
    call.store.run("DELETE FROM notes WHERE id = ?", (note["id"],))
    return Result(None, 204)


@seeder
def seed_notes(call: Call, world: World) -> None:
    """The demo user's catalog notes (after the conversations they link to), written over the last days."""
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    rng = random.Random(f"conversations:notes:{world.seed}")
    ids = random.Random(f"conversations-notes-ids:{world.seed}")  # own id stream: the shared one stays put
    titles = {
        r["title"]: r["id"]
        for r in call.store.all("SELECT id, title FROM conversations WHERE user_id = ?", (user["id"],))
    }
    tz, now = zone(user["timezone"]), call.clock.now()
    specs = catalog()["demo"]["notes"]
    for i, spec in enumerate(specs):
        day = (now.astimezone(tz) - timedelta(days=len(specs) - i)).date()
        at = datetime.combine(day, time(rng.randint(8, 20), rng.randrange(60)), tzinfo=tz)
        note_id = seeded_uuid(ids)
        insert_note(call, user["id"], spec, at, note_id, titles.get(spec["conversation"] or ""))
