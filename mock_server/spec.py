"""Load an OpenAPI 3.1 document once and compile it into a table of operations.

Everything the pipeline knows about an operation (route, parameters, body media types, security, role, responses,
examples) comes from here, so nothing about an operation is written twice. Validators are compiled here, at startup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from mock_server.errors import ErrorShape
from mock_server.resources import load_yaml_once

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
FORMATS = FormatChecker()


_ONE_OF: Callable[..., Iterator[ValidationError] | None] = Draft202012Validator.VALIDATORS["oneOf"]


def _discriminated_one_of(validator: Any, branches: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """`oneOf`, checked against the one branch an OpenAPI `discriminator` names when every branch fixes the property
    to values of its own (a `const` or an `enum`): the others cannot match, so the answer is `oneOf`'s, without
    building every error of every other branch (5 of a Caliper event's 6, most of its validation). Otherwise, and
    for a value no branch names, plain `oneOf`."""
    prop = (schema.get("discriminator") or {}).get("propertyName")
    if isinstance(prop, str) and isinstance(instance, dict) and prop in instance:
        fixed = [discriminator_values(branch, prop) for branch in branches]
        named = [i for i, values in enumerate(fixed) if instance[prop] in values]
        if len(named) == 1 and all(fixed):
            yield from validator.descend(instance, branches[named[0]], schema_path=named[0])
            return
    yield from _ONE_OF(validator, branches, instance, schema) or ()


def discriminator_values(branch: Any, prop: str) -> list[Any]:
    """The values a `oneOf`/`anyOf` branch allows its discriminator property: its `const`, or its `enum`."""
    allowed = branch.get("properties", {}).get(prop) if isinstance(branch, dict) else None
    if not isinstance(allowed, dict):
        return []
    return [allowed["const"]] if "const" in allowed else list(allowed.get("enum", []))


# jsonschema's `extend` is untyped; the class it returns is a Draft202012Validator with one keyword replaced.
SpecValidator: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"oneOf": _discriminated_one_of}
)


def compile_schema(schema: dict[str, Any]) -> Draft202012Validator:
    return SpecValidator(schema, format_checker=FORMATS)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path | query | header
    required: bool
    schema: dict[str, Any]
    validator: Draft202012Validator


@dataclass(frozen=True)
class MediaType:
    name: str
    schema: dict[str, Any]
    validator: Draft202012Validator
    examples: dict[str, Any]


@dataclass(frozen=True)
class Body:
    required: bool
    media: dict[str, MediaType]  # by content type


@dataclass(frozen=True)
class Header:
    """A response header the spec declares: simulated answers (`Prefer: code=`) send it with a plausible value."""

    name: str
    required: bool
    schema: dict[str, Any]
    example: Any | None  # the header's `example` (or its schema's), None when the spec gives none


@dataclass(frozen=True)
class DeclaredResponse:
    """A response the spec declares for an operation and status (not an HTTP response the mock sends)."""

    status: int
    media: MediaType | None  # JSON body, when the response has one
    headers: dict[str, Header]


@dataclass(frozen=True)
class SecurityAlternative:
    """One entry of the operation's `security` list: every scheme in it must be satisfied."""

    schemes: dict[str, tuple[str, ...]]  # scheme name -> required scopes


@dataclass(frozen=True)
class Operation:
    api: str  # the spec it comes from (file stem: `xentree`, `xp-ledger`)
    operation_id: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    body: Body | None
    responses: dict[int, DeclaredResponse]
    security: tuple[SecurityAlternative, ...]
    required_role: str | None
    success_status: int

    @cached_property  # asked on every request: worked out once (the operation is immutable)
    def public(self) -> bool:
        return not self.security or any(not alt.schemes for alt in self.security)

    @cached_property
    def accepts(self) -> set[str]:
        return {scheme for alt in self.security for scheme in alt.schemes}

    def scopes_for(self, scheme: str) -> tuple[str, ...]:
        for alt in self.security:
            if scheme in alt.schemes:
                return alt.schemes[scheme]
        return ()


@dataclass
class Spec:
    name: str
    raw: dict[str, Any]
    operations: list[Operation]
    by_id: dict[str, Operation] = field(default_factory=dict)
    yaml_text: str = ""
    json_text: str = ""
    # Read once at load, from the $ref-resolved document (the Error schema may name its parts): every error response
    # of this API renders through it.
    error_shape: ErrorShape = field(default_factory=lambda: ErrorShape.of({}))

    @property
    def title(self) -> str:
        return str(self.raw.get("info", {}).get("title", "API"))

    @property
    def schemes(self) -> dict[str, dict[str, Any]]:
        schemes: dict[str, dict[str, Any]] = self.raw.get("components", {}).get("securitySchemes", {})
        return schemes


def resolve_refs(document: dict[str, Any]) -> dict[str, Any]:
    """Inline every local `$ref` (the specs have no recursive schemas), so validators need no registry.

    A component used in many places is one shared object in the result, not a copy per use: the compiled spec is
    read-only (validators, the generator and the pipeline only read schemas), and copying made a good part of the
    startup."""
    cache: dict[str, Any] = {}

    def lookup(ref: str) -> Any:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                if ref in seen:
                    raise ValueError(f"recursive $ref {ref} is not supported")
                if ref not in cache:
                    cache[ref] = walk(lookup(ref), (*seen, ref))
                siblings = {k: walk(v, seen) for k, v in node.items() if k != "$ref"}
                return {**cache[ref], **siblings} if siblings else cache[ref]
            return {k: walk(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    resolved: dict[str, Any] = walk(document, ())
    return resolved


def _media(name: str, media: dict[str, Any]) -> MediaType:
    schema = media.get("schema") or {}
    examples = {key: ex.get("value") for key, ex in (media.get("examples") or {}).items() if "value" in ex}
    if "example" in media:
        examples.setdefault("default", media["example"])
    return MediaType(name, schema, compile_schema(schema), examples)


def _headers(declared: dict[str, Any]) -> dict[str, Header]:
    found: dict[str, Header] = {}
    for name, header in declared.items():
        schema = header.get("schema") or {}
        examples = [header["example"]] if "example" in header else []
        examples += [
            e["value"] for e in (header.get("examples") or {}).values() if isinstance(e, dict) and "value" in e
        ]
        examples += [schema["example"]] if "example" in schema else list(schema.get("examples", []))
        found[name] = Header(name, bool(header.get("required")), schema, examples[0] if examples else None)
    return found


def _security(entries: list[dict[str, list[str]]]) -> tuple[SecurityAlternative, ...]:
    return tuple(SecurityAlternative({k: tuple(v) for k, v in alt.items()}) for alt in entries)


def _operation(
    api: str, path: str, method: str, op: dict[str, Any], path_item: dict[str, Any], root: dict[str, Any]
) -> Operation:
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for p in [*path_item.get("parameters", []), *op.get("parameters", [])]:
        params[(p["name"], p["in"])] = p
    parameters = tuple(
        Parameter(
            name=p["name"],
            location=p["in"],
            required=bool(p.get("required", p["in"] == "path")),
            schema=p.get("schema", {}),
            validator=compile_schema(p.get("schema", {})),
        )
        for p in params.values()
        if p["in"] in ("path", "query", "header")
    )
    body = None
    if "requestBody" in op:
        rb = op["requestBody"]
        body = Body(bool(rb.get("required")), {ct: _media(ct, m) for ct, m in rb.get("content", {}).items()})
    responses: dict[int, DeclaredResponse] = {}
    for code, resp in op.get("responses", {}).items():
        if not str(code).isdigit():
            continue
        json_media = next((_media(ct, m) for ct, m in resp.get("content", {}).items() if "json" in ct), None)
        responses[int(code)] = DeclaredResponse(int(code), json_media, _headers(resp.get("headers", {})))
    success = min((c for c in responses if 200 <= c < 300), default=200)
    return Operation(
        api=api,
        operation_id=op["operationId"],
        method=method.upper(),
        path=path,
        parameters=parameters,
        body=body,
        responses=responses,
        security=_security(op.get("security", root.get("security", []))),
        required_role=op.get("x-required-role"),
        success_status=success,
    )


def load_spec(path: Path) -> Spec:
    """The compiled spec, built once per file version: compiled operations are read-only, so every mock of a process
    (a test suite builds hundreds) shares them."""
    stat = path.stat()
    return _load_spec(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load_spec(path: Path, mtime_ns: int, size: int) -> Spec:
    text = path.read_text(encoding="utf-8")
    raw = load_yaml_once(text)
    resolved = resolve_refs(raw)
    operations = [
        _operation(path.stem, p, method, op, item, resolved)
        for p, item in resolved.get("paths", {}).items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]
    spec = Spec(
        name=path.stem,
        raw=raw,
        operations=operations,
        yaml_text=text,
        json_text=json.dumps(raw),
        error_shape=ErrorShape.of(resolved),
    )
    spec.by_id = {op.operation_id: op for op in operations}
    return spec


def route_order(path: str) -> tuple[int, str]:
    """Concrete paths win over templated ones: fewer `{param}` segments first, then left-to-right literalness."""
    segments = path.strip("/").split("/")
    return (
        sum(1 for s in segments if re.fullmatch(r"\{[^}]+\}", s)),
        "/".join("~" if s.startswith("{") else s for s in segments),
    )
