"""Conversations: AI providers, the chat (generate) operation, conversations with their messages, and conversation
sessions that count learning time. Notes and search live in notes.py and search.py.

Catalog: fixtures/catalog/conversations.yaml (providers, the reply phrasebook, the demo user's conversations).

Chat replies (no network, no model): the provider is resolved first: a provider id (case-insensitive) answers with
its first model, a model name with that model, and the routing mode `auto` with one of its models picked by a hash of
(seed, prompt); anything else answers 404. The seed is the mock's `--seed` (`call.seed`). The reply is composed
from the phrasebook of the `user_language` primary subtag (en when unknown): an opener, two different body
sentences, the follow-up sentence when there are prior turns, and a closer, each picked by a generator seeded
with SHA-256(seed, model, language, message), so the same seed, model, language and message always give the same
reply. Placeholders come from the message: {topic} is its first
sentence (at most 12 words), {k1}..{k3} its most frequent non-stop words of 4+ letters (ties: longer, then
earlier). `usage` counts tokens as words and punctuation marks (regex `\\w+|[^\\w\\s]`) of the message plus the prior
turns (prompt) and of the reply (completion); providers with `reports_usage: false` (auto) answer `usage: null`.
With `conversation_id` the user message and the reply are appended to that conversation (404 when it is not the
caller's); prior turns are then `conversation_history` when sent, else the stored messages. A conversation still
titled `New conversation` takes its title from its first message (first line, at most 60 characters).

Conversation sessions: one active session per conversation (starting again returns the active one unchanged).
Learning time counts the gaps between the session's signals (start, each activity heartbeat, end), each gap up to
5 minutes (IDLE_CAP_SECONDS), so a session left idle stops counting. Ending records the counted seconds as a
`conversation` learning session (xp.record_session, from the session start to start + counted seconds) and then
awards 1 XP per whole counted minute (source `conversation_session`, through xp.award_xp, so a running booster
multiplies it and quests made ready by the session are claimed with it); a session under a minute earns no XP.
Deleting a conversation discards its active session without recording it. Activity, end and status of another
user's conversation answer 404, like the rest.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

import yaml

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, World, handles, own_row, seeder, tables
from mock_server.domains.xp import award_xp, record_session, zone
from mock_server.errors import not_found
from mock_server.resources import fixtures_dir

DEFAULT_TITLE = "New conversation"
TITLE_FROM_MESSAGE_CHARS = 60
IDLE_CAP_SECONDS = 300  # the most one gap between session signals counts
XP_PER_MINUTE = 1
TOPIC_WORDS = 12
DEMO_USER = "demo"
STOP_WORDS = frozenset(
    (  # not keywords of a message (English, some German, Spanish, French)
        "about",
        "above",
        "after",
        "again",
        "also",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "could",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "from",
        "further",
        "have",
        "having",
        "here",
        "into",
        "just",
        "like",
        "make",
        "more",
        "most",
        "much",
        "need",
        "only",
        "other",
        "over",
        "please",
        "same",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "want",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "yours",
        "create",
        "explain",
        "give",
        "tell",
        "show",
        "write",
        "help",
        "suggest",
        "shall",
        "know",
        "think",
        "really",
        "aber",
        "auch",
        "eine",
        "einen",
        "einer",
        "sind",
        "wird",
        "werden",
        "nicht",
        "mehr",
        "wenn",
        "dass",
        "diese",
        "dieser",
        "oder",
        "nach",
        "sich",
        "über",
        "para",
        "como",
        "pero",
        "esta",
        "este",
        "sobre",
        "pour",
        "avec",
        "dans",
        "mais",
        "cette",
        "sont",
        "plus",
    )
)
WORD = re.compile(r"[^\W\d_]{4,}")
TOKEN = re.compile(r"\w+|[^\w\s]")

tables("""
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY,  -- creation order (ties) and the search index's rowid
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    provider TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_ts REAL NOT NULL  -- updated_at as a number: ISO strings with and without fractions do not sort
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user_id, updated_ts);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,  -- message order within a conversation, and the search index's rowid
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, seq);
-- Learning-time sessions of a conversation; at most one active (ended_at NULL) per conversation.
CREATE TABLE IF NOT EXISTS conversation_sessions (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    counted_seconds INTEGER NOT NULL DEFAULT 0,  -- learning time up to last_activity_at
    ended_at TEXT,
    xp_awarded INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS conversation_sessions_active ON conversation_sessions (conversation_id)
    WHERE ended_at IS NULL;
""")


# catalog -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    models: tuple[str, ...]
    default: bool
    reports_usage: bool

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "models": list(self.models), "default": self.default}


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (fixtures_dir() / "catalog" / "conversations.yaml").read_text(encoding="utf-8")
    )
    return data


@lru_cache(maxsize=1)
def providers() -> tuple[Provider, ...]:
    items = tuple(
        Provider(p["id"], p["name"], tuple(p["models"]), bool(p["default"]), bool(p["reports_usage"]))
        for p in catalog()["providers"]
    )
    assert sum(p.default for p in items) == 1, "conversations.yaml: exactly one provider must be the default"
    return items


def default_provider() -> Provider:
    return next(p for p in providers() if p.default)


def resolve_provider(requested: str) -> tuple[Provider, str | None]:
    """A provider id, or a model name of a concrete provider (then that model); 404 for anything else."""
    key = requested.strip().lower()
    for provider in providers():
        if provider.id.lower() == key:
            return provider, None
    for provider in providers():
        for model in provider.models:
            if provider.id != "auto" and model.lower() == key:
                return provider, model
    ids = ", ".join(p.id for p in providers())
    raise not_found(f"Unknown provider {requested!r}: use a provider id ({ids}) or one of its models")


# reply composition -------------------------------------------------------------------------------------------------
def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def pick_model(provider: Provider, seed: int, message: str) -> str:
    """A provider's first model; `auto` routes to one of its models by a hash of (seed, prompt)."""
    if provider.id != "auto":
        return provider.models[0]
    return provider.models[int.from_bytes(_digest(seed, message)[:8], "big") % len(provider.models)]


def phrasebook(language: str | None) -> dict[str, Any]:
    books = catalog()["replies"]
    primary = (language or "en").split("-")[0].lower()
    book: dict[str, Any] = books.get(primary) or books["en"]
    return book


def topic_of(message: str, fallback: str) -> str:
    first = re.split(r"[.!?\n]", message.strip(), maxsplit=1)[0]
    words = first.split()
    if not words:
        return fallback
    text = " ".join(words[:TOPIC_WORDS])
    return text + ("..." if len(words) > TOPIC_WORDS else "")


def keywords(message: str, fallback: list[str], n: int = 3) -> list[str]:
    """The message's most frequent non-stop words of 4+ letters (ties: longer first, then earlier)."""
    words = [w for w in WORD.findall(message.lower()) if w not in STOP_WORDS]
    counts = Counter(words)
    first = {w: i for i, w in reversed(list(enumerate(words)))}
    ranked = sorted(counts, key=lambda w: (-counts[w], -len(w), first[w]))[:n]
    return ranked + [f for f in fallback if f not in ranked][: n - len(ranked)]


def compose_reply(seed: int, model: str, message: str, language: str | None, prior_turns: int) -> str:
    book = phrasebook(language)
    rng = random.Random(_digest(seed, model, (language or "en").lower(), message))
    k1, k2, k3 = keywords(message, book["fallback_keywords"])
    values = {"topic": topic_of(message, book["fallback_topic"]), "k1": k1, "k2": k2, "k3": k3, "turns": prior_turns}
    parts = [rng.choice(book["openers"]), *rng.sample(book["bodies"], 2)]
    if prior_turns:
        parts.append(book["follow_up"])
    parts.append(rng.choice(book["closers"]))
    return " ".join(p.format(**values) for p in parts)


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


# conversations and messages ----------------------------------------------------------------------------------------
def normal_id(value: Any) -> str:
    """UUIDs match case-insensitively (ids are stored lowercase)."""
    return str(value).strip().lower()


def own_conversation(call: Call, conversation_id: Any) -> dict[str, Any]:
    """The caller's conversation, or 404 (another user's conversation is "not found or not visible")."""
    cid = normal_id(conversation_id)
    return own_row(call, "conversations", cid, f"Conversation {cid} not found")


def conversation_body(call: Call, row: dict[str, Any]) -> dict[str, Any]:
    count = call.store.one("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?", (row["id"],))
    return {
        "id": row["id"],
        "title": row["title"],
        "provider": row["provider"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "message_count": count["n"] if count else 0,
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
        "SELECT * FROM conversations WHERE user_id = ? ORDER BY updated_ts DESC, seq DESC", (call.user_id,)
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


# conversation sessions ---------------------------------------------------------------------------------------------
def active_session(call: Call, conversation_id: str) -> dict[str, Any] | None:
    return call.store.one(
        "SELECT * FROM conversation_sessions WHERE conversation_id = ? AND ended_at IS NULL", (conversation_id,)
    )


def _required_session(call: Call) -> dict[str, Any]:
    conversation = own_conversation(call, call.path["conversation_id"])
    session = active_session(call, conversation["id"])
    if session is None:
        raise not_found(f"No active session for conversation {conversation['id']}; start one first")
    return session


def counted_seconds(session: dict[str, Any], now: datetime) -> int:
    """Learning time so far: the counted time up to the last signal plus the gap since, capped at the idle limit."""
    gap = (now - parse_instant(session["last_activity_at"])).total_seconds()
    return int(session["counted_seconds"]) + int(min(IDLE_CAP_SECONDS, max(0.0, gap)))


@handles("startConversationSession")
def start_session(call: Call) -> Result:
    conversation = own_conversation(call, call.path["conversation_id"])
    session = active_session(call, conversation["id"])
    if session is None:
        now = iso(call.clock.now())
        session = {
            "id": call.store.new_id(),
            "conversation_id": conversation["id"],
            "user_id": call.user_id,
            "started_at": now,
            "last_activity_at": now,
            "counted_seconds": 0,
        }
        call.store.insert("conversation_sessions", session)
    return Result(
        {
            "session_id": session["id"],
            "conversation_id": conversation["id"],
            "started_at": session["started_at"],
            "status": "active",
        },
        201,
    )


@handles("updateConversationSessionActivity")
def session_activity(call: Call) -> dict[str, Any]:
    session = _required_session(call)
    now = call.clock.now()
    seconds = counted_seconds(session, now)
    call.store.run(
        "UPDATE conversation_sessions SET counted_seconds = ?, last_activity_at = ? WHERE id = ?",
        (seconds, iso(now), session["id"]),
    )
    return {"session_id": session["id"], "last_activity_at": iso(now), "active_seconds": seconds}


@handles("endConversationSession")
def end_session(call: Call) -> dict[str, Any]:
    session = _required_session(call)
    now = call.clock.now()
    seconds = counted_seconds(session, now)
    started = parse_instant(session["started_at"])
    record_session(call, call.user_id, "conversation", started, started + timedelta(seconds=seconds))
    minutes = seconds // 60
    xp = 0
    if minutes:
        tx = award_xp(
            call, call.user_id, minutes * XP_PER_MINUTE, "conversation_session", f"Conversation session ({minutes} min)"
        )
        xp = int(tx["amount"])
    call.store.run(
        "UPDATE conversation_sessions SET counted_seconds = ?, last_activity_at = ?, ended_at = ?, "
        "xp_awarded = ? WHERE id = ?",
        (seconds, iso(now), iso(now), xp, session["id"]),
    )
    return {"session_id": session["id"], "ended_at": iso(now), "duration_seconds": seconds, "xp_awarded": xp}


@handles("getConversationSessionStatus")
def session_status(call: Call) -> dict[str, Any]:
    conversation = own_conversation(call, call.path["conversation_id"])
    session = active_session(call, conversation["id"])
    if session is None:
        return {"active": False, "session_id": None, "started_at": None, "active_seconds": 0}
    return {
        "active": True,
        "session_id": session["id"],
        "started_at": session["started_at"],
        "active_seconds": counted_seconds(session, call.clock.now()),
    }


# the demo user's conversations -------------------------------------------------------------------------------------
@seeder
def seed_conversations(call: Call, world: World) -> None:
    """Give the demo user the catalog's conversations, each user turn answered with the reply the chat operation
    would give, dated `days_ago` days back in the user's zone."""
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    rng = random.Random(f"conversations:{world.seed}")
    ids = random.Random(f"conversations-ids:{world.seed}")  # own id stream: the shared one stays put

    def new_id() -> str:
        return str(uuid.UUID(int=ids.getrandbits(128), version=4))

    tz, now = zone(user["timezone"]), call.clock.now()
    for spec in catalog()["demo"]["conversations"]:
        day = (now.astimezone(tz) - timedelta(days=spec["days_ago"])).date()
        at = datetime.combine(day, time(rng.randint(9, 19), rng.randrange(60)), tzinfo=tz)
        conversation = insert_conversation(call, user["id"], spec["title"], spec["provider"], at, new_id())
        provider, model = resolve_provider(spec["provider"])
        for turn, text in enumerate(spec["turns"]):
            append_message(call, conversation, "user", text, at, new_id())
            model_used = model or pick_model(provider, world.seed, text)
            reply = compose_reply(world.seed, model_used, text, None, 2 * turn)
            at += timedelta(seconds=rng.randint(4, 40))
            append_message(call, conversation, "assistant", reply, at, new_id())
            at += timedelta(minutes=rng.randint(1, 6))
