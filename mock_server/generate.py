"""Schema → realistic fake value, with Faker, deterministic for a seed and a request.

Values are chosen by format first (uuid, email, date-time...), then by field name (username, title, ...), then by
type. Property-level `examples` in the spec are preferred where present, so generated data reads like the docs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faker import Faker

Gen = Callable[["Faker"], Any]
DateGen = Callable[["Faker", datetime], str]

# Field-name rules, tried in order against the property name (the first matching pattern wins).
NAME_RULES: list[tuple[str, Gen]] = [
    (r"^username$|^nickname$", lambda f: f.user_name()),
    (r"email", lambda f: f.email()),
    (r"^(full_|display_)?name$|^owner$|^author$", lambda f: f.name()),
    (r"slug", lambda f: f.slug()),
    (r"timezone", lambda f: f.timezone()),
    (r"title", lambda f: f.sentence(nb_words=4).rstrip(".")),
    (r"filename", lambda f: f.file_name(extension="md")),
    (r"content_type|mime", lambda f: "text/markdown"),
    (r"provider", lambda f: "auto"),
    (r"^model$", lambda f: "gpt-5-mini"),
    (r"(^|_)ip(s)?$|address", lambda f: f.ipv4()),
    (r"origin", lambda f: f"https://{f.domain_name()}"),
    (r"version", lambda f: "0.1.0"),
    (r"token|jwt", lambda f: f.sha256()),
    (
        r"description|content|text|message|snippet|feedback|prompt|answer|preview|excerpt|response|summary|reason",
        lambda f: f.sentence(nb_words=10),
    ),
]
FORMAT_RULES: dict[str, Gen] = {
    "uuid": lambda f: f.uuid4(),
    "email": lambda f: f.email(),
    "uri": lambda f: f.url(),
    "url": lambda f: f.url(),
    "ipv4": lambda f: f.ipv4(),
    "ipv6": lambda f: f.ipv6(),
    "hostname": lambda f: f.hostname(),
}

# Dates come from the year before the mock clock's "now", so a frozen clock gives the same dates every run.
DATE_RULES: dict[str, DateGen] = {
    "date": lambda f, now: f.date_between(start_date=now.date() - timedelta(days=365), end_date=now.date()).isoformat(),
    "date-time": lambda f, now: _iso(
        f.date_time_between(start_date=now - timedelta(days=365), end_date=now, tzinfo=UTC)
    ),
}


def _iso(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Generator:
    def __init__(self, seed: int, now: Callable[[], datetime]) -> None:
        self.seed = seed
        self.now = now
        self._name_rules = [(re.compile(p), g) for p, g in NAME_RULES]

    @cached_property
    def faker(self) -> Faker:
        """Made on the first generated answer: importing Faker and loading its providers costs about a tenth of a
        second, which a mock whose every read has a handler (the usual frontend session) never needs to pay."""
        from faker import Faker

        return Faker()

    def value(self, schema: dict[str, Any], *, key: str) -> Any:
        """A value for `schema`, the same for the same seed and key (e.g. operation id + request path)."""
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        self.faker.seed_instance(int.from_bytes(digest[:8], "big"))
        self._now = self.now().replace(microsecond=0)
        return self._gen(schema, name="")

    # --------------------------------------------------------------------------------------------------------
    def _gen(self, schema: dict[str, Any], name: str) -> Any:
        f = self.faker
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return f.random_element(schema["enum"])
        for key in ("oneOf", "anyOf"):
            if key in schema:
                rest = {k: v for k, v in schema.items() if k != key}
                return self._gen({**rest, **schema[key][0]}, name)
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = _merge(merged, part)
            return self._gen(merged, name)
        examples = schema.get("examples")
        kind = _type(schema)
        if examples and kind not in ("object", "array"):
            return f.random_element(examples)
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return self._array(schema, name)
        if kind == "integer":
            return self._integer(schema, name)
        if kind == "number":
            return (
                round(self._integer(schema, name) + f.random.random(), 2)
                if "maximum" not in schema
                else _bounded_float(f, schema)
            )
        if kind == "boolean":
            return f.boolean()
        if kind == "null":
            return None
        return self._string(schema, name)

    def _object(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = {key: self._gen(sub, key) for key, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if not out and isinstance(extra, dict):
            out = {self.faker.word(): self._gen(extra, "") for _ in range(2)}
        return out

    def _array(self, schema: dict[str, Any], name: str) -> list[Any]:
        low = schema.get("minItems", 1)
        high = max(low, min(schema.get("maxItems", 3), 3))
        items = schema.get("items", {})
        values = [self._gen(items, name) for _ in range(self.faker.random_int(low, high))]
        if schema.get("uniqueItems"):
            unique: list[Any] = []
            for v in values:
                if v not in unique:
                    unique.append(v)
            values = unique
        return values

    def _integer(self, schema: dict[str, Any], name: str) -> int:
        low = schema.get("minimum", 0)
        if "exclusiveMinimum" in schema:
            low = int(schema["exclusiveMinimum"]) + 1
        high = schema.get("maximum", low + (3600 if "second" in name else 500))
        if "exclusiveMaximum" in schema:
            high = int(schema["exclusiveMaximum"]) - 1
        return self.faker.random_int(int(low), int(high))

    def _string(self, schema: dict[str, Any], name: str) -> str:
        f = self.faker
        fmt = schema.get("format")
        if fmt in DATE_RULES:
            return DATE_RULES[fmt](f, self._now)
        if fmt in FORMAT_RULES:
            return str(FORMAT_RULES[fmt](f))
        value = next((g(f) for rx, g in self._name_rules if rx.search(name)), None)
        if value is None:
            value = f.word()
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):
            value = _from_pattern(f, pattern, name)
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if high is not None:
            value = value[:high]
        while len(value) < low:
            value += f.lexify("?")
        return value


def _type(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        return str(non_null[0]) if non_null else "null"
    if t:
        return str(t)
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _bounded_float(f: Faker, schema: dict[str, Any]) -> float:
    low, high = float(schema.get("minimum", 0)), float(schema["maximum"])
    return round(low + (high - low) * float(f.random.random()), 2)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b}
    if "properties" in a or "properties" in b:
        out["properties"] = {**a.get("properties", {}), **b.get("properties", {})}
    if "required" in a or "required" in b:
        out["required"] = sorted(set(a.get("required", [])) | set(b.get("required", [])))
    return out


_CHARSET = re.compile(r"^\^?\[([^\]]+)\]\{(\d+)(?:,(\d+))?\}\$?$")


def _from_pattern(f: Faker, pattern: str, name: str) -> str:
    """Strings for the simple patterns specs use: a fixed prefix, one character class and a length."""
    prefix = re.match(r"^\^?([A-Za-z0-9_-]*)", pattern)
    literal = prefix.group(1) if prefix else ""
    rest = "^" + pattern[len(prefix.group(0)) if prefix else 0 :]
    m = _CHARSET.match(rest)
    if m:
        chars = _expand(m.group(1))
        size = int(m.group(3) or m.group(2)) if m.group(3) is None else min(int(m.group(3)), max(int(m.group(2)), 12))
        return literal + "".join(f.random_element(chars) for _ in range(size))
    if "a-z0-9" in pattern:  # slug-like
        return f.slug()
    return literal + f.lexify("????????").lower()


def _expand(cls: str) -> list[str]:
    chars: list[str] = []
    i = 0
    while i < len(cls):
        if i + 2 < len(cls) and cls[i + 1] == "-":
            chars += [chr(c) for c in range(ord(cls[i]), ord(cls[i + 2]) + 1)]
            i += 3
        else:
            chars.append(cls[i].replace("\\", ""))
            i += 1
    return [c for c in chars if c]


__all__ = ["Generator"]
