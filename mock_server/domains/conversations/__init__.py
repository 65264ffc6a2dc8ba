"""Conversations: AI providers, the chat (generate) operation, conversations with their messages, and conversation
sessions that count learning time.

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

Modules, one job each: schema.py (the tables), replies.py (providers and reply composition, pure), messages.py
(conversations, messages and the chat operation), sessions.py (learning time), seed.py (the demo user's
conversations). Importing the package registers them. Notes and search live in notes.py and search.py.
"""

from __future__ import annotations

from mock_server.domains.conversations import messages, schema, seed, sessions  # noqa: F401  (importing registers them)
from mock_server.domains.conversations.messages import title_from
from mock_server.domains.conversations.replies import (
    catalog,
    compose_reply,
    count_tokens,
    keywords,
    providers,
    topic_of,
)
from mock_server.domains.conversations.sessions import IDLE_CAP_SECONDS

__all__ = [
    "IDLE_CAP_SECONDS",
    "catalog",
    "compose_reply",
    "count_tokens",
    "keywords",
    "providers",
    "title_from",
    "topic_of",
]
