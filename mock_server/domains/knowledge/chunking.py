"""Reading an uploaded document and cutting it into chunks, pure: the media type from the declared type and the
extension, UTF-8 decoding, paragraphs merged into chunks, JSON flattened to `path: value` lines (rules: the package
docstring's "Accepted files" and "Chunking")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from mock_server.errors import ApiError, bad_request

CHUNK_CHARS = 800
WINDOW_OVERLAP = 100
CARRY_MAX = 200  # a last paragraph this short is repeated at the start of the next chunk

TYPES = {
    "text/plain": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "application/json": "application/json",
    "text/json": "application/json",
}
EXTENSIONS = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
}
GENERIC = {"", "application/octet-stream", "text/plain"}
DEFAULT_NAMES = {"text/plain": "document.txt", "text/markdown": "document.md", "application/json": "document.json"}


# reading an upload -------------------------------------------------------------------------------------------------
def media_type(filename: str, declared: str) -> str:
    """The document's type from the part's Content-Type and the file extension (module docstring); 415 otherwise."""
    declared = declared.split(";")[0].strip().lower()
    ext = PurePosixPath(filename.lower()).suffix
    if declared in TYPES and declared != "text/plain":
        return TYPES[declared]
    if declared in GENERIC:
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
        if declared == "text/plain" or not ext:
            return "text/plain"
    shown = declared or "no content type"
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Unsupported document type ({shown}, file {filename or 'without a name'!r}): upload plain text "
        "(.txt), Markdown (.md) or JSON (.json)",
    )


def clean_filename(raw: str, kind: str) -> str:
    """The base name of what the client sent (no directories, at most 255 characters)."""
    name = re.split(r"[\\/]", raw.strip())[-1].strip()
    return name[:255] or DEFAULT_NAMES[kind]


def decode(content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"body.file: not UTF-8 text (invalid byte at offset {exc.start}); upload plain text, "
            "Markdown or JSON encoded as UTF-8",
            "undecodable_document",
        ) from None
    if "\x00" in text:
        raise bad_request("body.file: contains NUL bytes, so it is not a text document", "undecodable_document")
    return text


# chunking ----------------------------------------------------------------------------------------------------------
def windows(text: str, size: int = CHUNK_CHARS, overlap: int = WINDOW_OVERLAP) -> list[str]:
    """Cut a long piece at word boundaries into windows of at most `size` characters overlapping by ~`overlap`."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        if end >= len(text):
            break
        back = text.find(" ", max(start + 1, end - overlap), end)
        start = back + 1 if back != -1 else end
    return [w for w in out if w]


def merge(pieces: list[str], joiner: str) -> list[str]:
    """Greedy merge up to CHUNK_CHARS; a short last piece is carried into the next chunk as overlap."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0  # len(joiner.join(current)), kept as we go: a file may hold many thousand pieces
    for piece in (w for p in pieces for w in (windows(p) if len(p) > CHUNK_CHARS else [p])):
        if current and size + len(joiner) + len(piece) > CHUNK_CHARS:
            chunks.append(current)
            last = current[-1]
            carry = len(current) > 1 and len(last) <= CARRY_MAX and len(last) + len(joiner) + len(piece) <= CHUNK_CHARS
            current, size = ([last], len(last)) if carry else ([], 0)
        size += len(piece) + (len(joiner) if current else 0)
        current.append(piece)
    if current:
        chunks.append(current)
    return [joiner.join(c) for c in chunks]


def paragraphs(text: str) -> list[str]:
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [b.strip() for b in blocks if b.strip()]


def flatten(value: Any, path: str = "") -> Iterator[str]:
    """JSON as `path: value` lines, depth first (iterative: a deeply nested file must not exhaust the stack)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict) and item:
            stack.extend(reversed([(f"{where}.{k}" if where else str(k), v) for k, v in item.items()]))
        elif isinstance(item, list) and item:
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(item)]))
        else:
            shown = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            yield f"{where}: {shown}" if where else shown


def chunk(text: str, kind: str) -> list[str]:
    if kind != "application/json":
        return merge(paragraphs(text), "\n\n")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"body.file: not valid JSON ({str(exc)[:200]})", "invalid_json_document") from None
    lines = [" ".join(line.split()) for line in flatten(data)]
    if not all(_utf8(line) for line in lines):
        raise bad_request(
            "body.file: the JSON holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is "
            "not text; escape whole surrogate pairs or write the characters as UTF-8",
            "undecodable_document",
        )
    return merge([line for line in lines if line], "\n")


def _utf8(text: str) -> bool:
    """Can the text be stored and sent back as UTF-8? Not with a lone surrogate, which JSON escapes let in."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
