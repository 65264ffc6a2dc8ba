"""The AI providers and the chat replies (no network, no model): resolving the provider and model, and composing a
deterministic reply from the phrasebook (the rules are the package docstring's "Chat replies").

Catalog: fixtures/catalog/conversations.yaml (providers, the reply phrasebook, the demo user's conversations).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mock_server.catalogs import load_catalog, require
from mock_server.errors import not_found

CATALOG_FILE = "conversations.yaml"
TOPIC_WORDS = 12
# not keywords of a message (English, some German, Spanish, French)
_STOP_WORDS = """about above after again also because been before being below between both could does doing down
during each from further have having here into just like make more most much need only other over please same should
some such than that their them then there these they this those through under until very want what when where which
while will with would your yours create explain give tell show write help suggest shall know think really aber auch
eine einen einer sind wird werden nicht mehr wenn dass diese dieser oder nach sich über para como pero esta este
sobre pour avec dans mais cette sont plus"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
WORD = re.compile(r"[^\W\d_]{4,}")
TOKEN = re.compile(r"\w+|[^\w\s]")


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
    data: dict[str, Any] = load_catalog(CATALOG_FILE)
    return data


@lru_cache(maxsize=1)
def providers() -> tuple[Provider, ...]:
    """The catalog's providers; CatalogError unless exactly one is the default."""
    items = tuple(
        Provider(p["id"], p["name"], tuple(p["models"]), bool(p["default"]), bool(p["reports_usage"]))
        for p in catalog()["providers"]
    )
    require(sum(p.default for p in items) == 1, CATALOG_FILE, "exactly one provider must be the default")
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
