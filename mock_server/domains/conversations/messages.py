"""Conversations and their messages, and the chat operation that answers (and, with `conversation_id`, appends to)
them. Another user's conversation answers 404, like an unknown one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call, Result, handles, own_row
from mock_server.domains.conversations.replies import (
    compose_reply,
    count_tokens,
    default_provider,
    pick_model,
    providers,
    resolve_provider,
)

DEFAULT_TITLE = "New conversation"
TITLE_FROM_MESSAGE_CHARS = 60


def normal_id(value: Any) -> str:
    """UUIDs match case-insensitively (ids are stored lowercase)."""
    return str(value).strip().lower()


def own_conversation(call: Call, conversation_id: Any) -> dict[str, Any]:
    """The caller's conversation, or 404 (another user's conversation is "not found or not visible")."""
    cid = normal_id(conversation_id)
    return own_row(call, "conversations", cid, f"Conversation {cid} not found")


def conversation_body(call: Call, row: dict[str, Any]) -> dict[str, Any]:
    """`row` may carry its `message_count` already (the list reads every count in its one query)."""
    count = row.get("message_count")
    if count is None:
        found = call.store.one("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?", (row["id"],))
        count = found["n"] if found else 0
    return {
        "id": row["id"],
        "title": row["title"],
        "provider": row["provider"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "message_count": count,
    }


def insert_conversation(
    call: Call, user_id: str, title: str, provider: str, at: datetime, conversation_id: str | None = None
) -> dict[str, Any]:
    row = {
        "id": conversation_id or call.store.new_id(),
        "user_id": user_id,
        "title": title,
        "provider": provider,
        "created_at": iso(at),
        "updated_at": iso(at),
        "updated_ts": at.timestamp(),
    }
    return call.store.insert("conversations", row)


def append_message(
    call: Call, conversation: dict[str, Any], role: str, content: str, at: datetime, message_id: str | None = None
) -> dict[str, Any]:
    row = {
        "id": message_id or call.store.new_id(),
        "conversation_id": conversation["id"],
        "user_id": conversation["user_id"],
        "role": role,
        "content": content,
        "created_at": iso(at),
    }
    call.store.insert("messages", row)
    call.store.run(
        "UPDATE conversations SET updated_at = ?, updated_ts = ? WHERE id = ?",
        (iso(at), at.timestamp(), conversation["id"]),
    )
    return row


def title_from(message: str) -> str | None:
    """A title from a first message: its first non-blank line, cut at a word boundary to 60 characters."""
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    if not line:
        return None
    if len(line) <= TITLE_FROM_MESSAGE_CHARS:
        return line
    cut = line[:TITLE_FROM_MESSAGE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:")
    return (cut or line[:TITLE_FROM_MESSAGE_CHARS]) + "..."


def stored_turns(call: Call, conversation_id: str) -> list[dict[str, Any]]:
    return call.store.all(
        "SELECT role, content FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
    )


@handles("listAiProviders")
def list_providers(call: Call) -> list[dict[str, Any]]:
    return [p.body() for p in providers()]


@handles("generateAiResponse")
def generate(call: Call) -> dict[str, Any]:
    body = call.body
    message: str = body["message"]
    conversation = own_conversation(call, body["conversation_id"]) if body.get("conversation_id") else None
    requested = body.get("provider") or (conversation["provider"] if conversation else default_provider().id)
    provider, model = resolve_provider(requested)
    seed = call.seed
    model = model or pick_model(provider, seed, message)
    history = body.get("conversation_history")
    if not history and conversation:
        history = stored_turns(call, conversation["id"])
    history = history or []
    content = compose_reply(seed, model, message, body.get("user_language"), len(history))
    if conversation is not None:
        _store_turn(call, conversation, message, content)
    usage = None
    if provider.reports_usage:
        prompt = count_tokens(message) + sum(count_tokens(t["content"]) for t in history)
        completion = count_tokens(content)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {"content": content, "provider": requested, "model": model, "usage": usage}


def _store_turn(call: Call, conversation: dict[str, Any], message: str, reply: str) -> None:
    now = call.clock.now()
    first = call.store.one("SELECT 1 FROM messages WHERE conversation_id = ? LIMIT 1", (conversation["id"],)) is None
    append_message(call, conversation, "user", message, now)
    append_message(call, conversation, "assistant", reply, now)
    title = title_from(message) if first and conversation["title"] == DEFAULT_TITLE else None
    if title:
        call.store.run("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation["id"]))


@handles("listConversations")
def list_conversations(call: Call) -> list[dict[str, Any]]:
    rows = call.store.all(
        "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count"
        " FROM conversations c WHERE c.user_id = ? ORDER BY c.updated_ts DESC, c.seq DESC",
        (call.user_id,),
    )
    return [conversation_body(call, r) for r in rows]


@handles("createConversation")
def create_conversation(call: Call) -> Result:
    body = call.body or {}
    provider = body.get("provider") or default_provider().id
    resolve_provider(provider)  # 404 for an unknown provider
    row = insert_conversation(call, call.user_id, body.get("title") or DEFAULT_TITLE, provider, call.clock.now())
    return Result(conversation_body(call, row), 201)


@handles("deleteConversation")
def delete_conversation(call: Call) -> Result:
    """Messages and sessions go with it (an active session is discarded unrecorded); linked notes are unlinked."""
    conversation = own_conversation(call, call.path["conversation_id"])
    call.store.run("DELETE FROM conversations WHERE id = ?", (conversation["id"],))
    return Result(None, 204)


@handles("listConversationMessages")
def get_messages(call: Call) -> list[dict[str, Any]]:
    conversation = own_conversation(call, call.path["conversation_id"])
    return call.store.all(
        "SELECT id, conversation_id, role, content, created_at FROM messages WHERE conversation_id = ? ORDER BY seq",
        (conversation["id"],),
    )
