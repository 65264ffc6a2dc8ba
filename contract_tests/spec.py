"""What the contract suite needs to know about the spec, read from the OpenAPI document itself.

The suite talks HTTP to whatever it is pointed at, so it keeps its own small view of the spec (it never imports the
mock): operations with their security, scopes, documented statuses, provenance and examples, the Error schema, and
the headers the spec declares on 401 and 429 responses.
"""

from __future__ import annotations

import copy
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from schemathesis.openapi.loaders import detect_content_type, load_content

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
PLACEHOLDER_UUID = "00000000-0000-4000-8000-000000000000"
DEFAULT_API_KEY_HEADER = "X-API-Key"  # for a spec without an API-key scheme (its operations never send one)

# `x-destructive: <kind>` is the suite's own marker in the specs (not part of the APIs' docs): operations that change
# or end something the suite did not create. Together with every DELETE and every admin-only operation they run only
# with --allow-destructive; `account` ones also on a throw-away user created with --register.
DESTRUCTIVE_KINDS = {
    "account": "changes the account under test: the session the run uses, the account's own settings",
    "shared-state": "changes state others share: tokens of integrations, indexes of every user",
    "irreversible": "writes nobody can undo, e.g. XP events that become ledger entries",
}


def api_key_headers(schemes: dict[str, Any]) -> dict[str, str]:
    """The security schemes that take an API key in a request header (`type: apiKey`, `in: header`), by kind as the
    mock reads them, never by name: scheme name -> header name."""
    return {
        name: str(scheme["name"])
        for name, scheme in schemes.items()
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header" and scheme.get("name")
    }


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow one local `$ref` chain (`#/components/...`)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
        seen += 1
    return node


def _inline_refs(document: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """A copy of `node` with local `$ref`s replaced by their targets (bounded depth; the spec has no cycles)."""
    if depth > 40:
        return node
    node = _resolve(document, node)
    if isinstance(node, dict):
        return {k: _inline_refs(document, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(document, v, depth + 1) for v in node]
    return node


@dataclass(frozen=True)
class OperationInfo:
    operation_id: str
    method: str  # upper case
    path: str
    tags: tuple[str, ...]
    security: tuple[dict[str, tuple[str, ...]], ...]  # alternatives: scheme name -> scopes
    statuses: tuple[str, ...]  # documented response keys as written: "200", "4XX", "default"
    provenance: str  # documented | inferred | unknown
    since: str  # x-since: the docs version that first lists it ("" when the spec does not say)
    required_role: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # security schemes that take `Authorization: Bearer <token>` (http bearer, OAuth2, OpenID Connect)
    bearer_schemes: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    basic_schemes: frozenset[str] = field(default=frozenset(), repr=False, compare=False)  # http basic
    # security schemes that take an API key in a request header (type apiKey, in header)
    api_key_schemes: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    api_key_header: str = field(default=DEFAULT_API_KEY_HEADER, repr=False, compare=False)  # the header they name

    @property
    def label(self) -> str:
        """The name Schemathesis gives the operation: `GET /api/health`."""
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return not self.security or any(not alternative for alternative in self.security)

    @property
    def accepts_bearer(self) -> bool:
        return any(self.bearer_schemes.intersection(alternative) for alternative in self.security)

    @property
    def accepts_basic(self) -> bool:
        return any(self.basic_schemes.intersection(alternative) for alternative in self.security)

    @property
    def bearer_scopes(self) -> tuple[str, ...]:
        """The scopes a Bearer token needs here (OAuth2 scopes of the first Bearer alternative)."""
        for alternative in self.security:
            for name in self.bearer_schemes.intersection(alternative):
                return alternative[name]
        return ()

    @property
    def accepts_api_key(self) -> bool:
        return any(self.api_key_schemes.intersection(alternative) for alternative in self.security)

    @property
    def api_key_scopes(self) -> tuple[str, ...]:
        """The scopes an API key needs here (of the first alternative with an API-key scheme)."""
        for alternative in self.security:
            for name in self.api_key_schemes.intersection(alternative):
                return alternative[name]
        return ()

    @property
    def destructive_kind(self) -> str | None:
        """The spec's `x-destructive` marker (a kind of DESTRUCTIVE_KINDS), or None when unmarked."""
        marker = self.raw.get("x-destructive")
        return str(marker) if marker else None

    @property
    def irreversible(self) -> bool:
        return self.destructive_kind == "irreversible"

    @property
    def changes_account(self) -> bool:
        return self.destructive_kind == "account"

    @property
    def destructive(self) -> bool:
        return self.method == "DELETE" or self.destructive_kind is not None

    @property
    def admin_only(self) -> bool:
        return self.required_role == "admin"

    def documents(self, status: int) -> bool:
        """Is this status documented, directly, through a range like `4XX`, or through `default`?"""
        keys = {s.upper() for s in self.statuses}
        return str(status) in keys or f"{str(status)[0]}XX" in keys or "DEFAULT" in keys


def read_spec(path: Path) -> Any:
    """The document as Schemathesis reads it (libyaml, YAML 1.2 booleans, dates left as strings): the suite and the
    engine see one document, parsed once per process (two loaders cost two parses, ~0.1 s each, per run)."""
    return load_content(path.read_text(encoding="utf-8"), detect_content_type(headers=None, path=str(path)))


_PARSED: dict[tuple[str, str, int, int], bytes] = {}  # (parser, file, mtime, size) -> the parsed document, pickled
_PARSED_LOCK = threading.Lock()


def parsed_once(path: Path, parse: Callable[[Path], Any]) -> Any:
    """`parse(path)`, run once per version of the file and parser in a process (the pytest plugin and the tests run
    the suite many times; the Xentree spec takes 0.06-0.2 s to parse): each call gets a fresh copy to own."""
    stat = path.stat()
    key = (f"{parse.__module__}.{parse.__qualname__}", str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _PARSED_LOCK:
        cached = _PARSED.get(key)
    if cached is None:
        cached = pickle.dumps(parse(path))
        with _PARSED_LOCK:
            if len(_PARSED) >= 8:  # a file rewritten over and over: keep only recent versions
                _PARSED.clear()
            _PARSED[key] = cached
    return pickle.loads(cached)


@dataclass
class ApiSpec:
    path: Path
    document: dict[str, Any]
    operations: list[OperationInfo]
    _properties: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path) -> ApiSpec:
        document = parsed_once(path, read_spec)
        global_security = document.get("security", [])
        schemes = document.get("components", {}).get("securitySchemes", {})
        bearer = frozenset(
            name
            for name, scheme in schemes.items()
            if scheme.get("type") in ("oauth2", "openIdConnect")
            or (scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer")
        )
        basic = frozenset(
            name
            for name, scheme in schemes.items()
            if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "basic"
        )
        api_key = api_key_headers(schemes)
        operations: list[OperationInfo] = []
        for route, item in document.get("paths", {}).items():
            for method in HTTP_METHODS:
                raw = item.get(method)
                if not isinstance(raw, dict):
                    continue
                security = raw.get("security", global_security)
                operations.append(
                    OperationInfo(
                        operation_id=raw.get("operationId") or f"{method}:{route}",
                        method=method.upper(),
                        path=route,
                        tags=tuple(raw.get("tags", ())),
                        security=tuple({k: tuple(v) for k, v in alt.items()} for alt in security),
                        statuses=tuple(str(k) for k in raw.get("responses", {})),
                        provenance=str(raw.get("x-provenance", "unknown")),
                        since=str(raw.get("x-since", "")),
                        required_role=raw.get("x-required-role"),
                        raw={**raw, "parameters": [*item.get("parameters", []), *raw.get("parameters", [])]},
                        bearer_schemes=bearer,
                        basic_schemes=basic,
                        api_key_schemes=frozenset(api_key),
                        api_key_header=next(iter(api_key.values()), DEFAULT_API_KEY_HEADER),
                    )
                )
        return cls(path, document, operations)

    # lookups -----------------------------------------------------------------------------------------------------
    @cached_property
    def by_id(self) -> dict[str, OperationInfo]:
        return {op.operation_id: op for op in self.operations}

    @cached_property
    def by_label(self) -> dict[str, OperationInfo]:
        return {op.label: op for op in self.operations}

    def _client_credentials_flows(self) -> list[dict[str, Any]]:
        schemes = self.document.get("components", {}).get("securitySchemes", {}).values()
        flows = [s.get("flows", {}).get("clientCredentials") for s in schemes if s.get("type") == "oauth2"]
        return [flow for flow in flows if isinstance(flow, dict)]

    @cached_property
    def token_operation(self) -> OperationInfo | None:
        """The OAuth2 client-credentials token operation (the `tokenUrl` of a `clientCredentials` flow), if any."""
        for flow in self._client_credentials_flows():
            url = str(flow.get("tokenUrl", ""))
            path = "/" + url.split("://", 1)[1].partition("/")[2] if "://" in url else url
            found = next((op for op in self.operations if op.method == "POST" and op.path == path), None)
            if found is not None:
                return found
        return None

    @cached_property
    def oauth2_scopes(self) -> tuple[str, ...]:
        """Every scope the spec's OAuth2 client-credentials flows declare."""
        flows = self._client_credentials_flows()
        return tuple(dict.fromkeys(scope for flow in flows for scope in flow.get("scopes", {})))

    def response_properties(self, op: OperationInfo) -> dict[str, list[dict[str, Any]]]:
        """Every property name declared anywhere in the operation's 2xx response schemas, with its schemas: which
        fields an operation may answer with (a refresh token only where `refresh_token` is declared)."""
        if op.operation_id in self._properties:
            return self._properties[op.operation_id]
        found: dict[str, list[dict[str, Any]]] = self._properties.setdefault(op.operation_id, {})

        def walk(node: Any, depth: int = 0) -> None:
            if depth > 30:
                return
            if isinstance(node, dict):
                for name, schema in (node.get("properties") or {}).items():
                    if isinstance(schema, dict):
                        found.setdefault(str(name), []).append(schema)
                for value in node.values():
                    walk(value, depth + 1)
            elif isinstance(node, list):
                for value in node:
                    walk(value, depth + 1)

        for status, response in op.raw.get("responses", {}).items():
            if str(status).startswith("2"):
                walk(self.resolve(response).get("content", {}))
        return found

    def creates_api_keys(self, op: OperationInfo) -> bool:
        """An operation that creates an API key and shows it once: a POST answering 201 with a property whose
        declared pattern is the full key's (`xntr-...`)."""
        if op.method != "POST" or "201" not in op.statuses:
            return False
        schemas = (s for group in self.response_properties(op).values() for s in group)
        return any("xntr-" in str(s.get("pattern", "")) for s in schemas)

    @cached_property
    def api_key_header(self) -> str:
        """The request header API keys go in, from the spec's first header `apiKey` scheme."""
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        return next(iter(api_key_headers(schemes).values()), DEFAULT_API_KEY_HEADER)

    @property
    def tags(self) -> list[str]:
        declared = [t["name"] for t in self.document.get("tags", [])]
        return declared or sorted({t for op in self.operations for t in op.tags})

    def resolve(self, node: Any) -> Any:
        return _inline_refs(self.document, node)

    # error shape and headers -------------------------------------------------------------------------------------
    @cached_property
    def error_validator(self) -> Draft202012Validator | None:
        schema = self.document.get("components", {}).get("schemas", {}).get("Error")
        return Draft202012Validator(self.resolve(schema)) if schema else None

    def response(self, op: OperationInfo | None, status: int) -> dict[str, Any] | None:
        if op is None:
            return None
        responses = op.raw.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if key in responses:
                resolved: dict[str, Any] = self.resolve(responses[key])
                return resolved
        return None

    def declared_headers(self, op: OperationInfo | None, status: int, fallback: str) -> dict[str, dict[str, Any]]:
        """Headers the spec declares for this operation's response, else for a shared component response."""
        response = self.response(op, status)
        if response is None:
            response = self.resolve(self.document.get("components", {}).get("responses", {}).get(fallback, {}))
        return {name.lower(): header for name, header in (response or {}).get("headers", {}).items()}

    # request building --------------------------------------------------------------------------------------------
    def parameters(self, op: OperationInfo, location: str) -> list[dict[str, Any]]:
        return [p for p in (self.resolve(p) for p in op.raw.get("parameters", [])) if p.get("in") == location]

    def request_media(self, op: OperationInfo) -> tuple[str, dict[str, Any]] | None:
        body = self.resolve(op.raw.get("requestBody"))
        if not body:
            return None
        content = body.get("content", {})
        for media in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data"):
            if media in content:
                return media, self.resolve(content[media])
        return next(iter(content.items()), None)

    def example_body(self, op: OperationInfo) -> Any:
        """A schema-valid body for the operation: its first documented example, else one built from the schema."""
        found = self.request_media(op)
        if found is None:
            return None
        _, media = found
        for example in (media.get("examples") or {}).values():
            example = self.resolve(example)
            if isinstance(example, dict) and "value" in example:
                return copy.deepcopy(example["value"])
        if "example" in media:
            return copy.deepcopy(media["example"])
        return sample(media.get("schema", {}))


def sample(schema: dict[str, Any], depth: int = 0) -> Any:
    """A small value that satisfies a (resolved) JSON schema: examples, enums and defaults first, then by type."""
    if depth > 8 or not isinstance(schema, dict):
        return None
    for key in ("const",):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return copy.deepcopy(schema["examples"][0])
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    for combinator in ("allOf", "anyOf", "oneOf"):
        if schema.get(combinator):
            return sample(schema[combinator][0], depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: sample(props.get(name, {}), depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        return [sample(schema.get("items", {}), depth + 1) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if "maximum" not in schema else schema.get("minimum", 0)
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _sample_string(schema)


def _sample_string(schema: dict[str, Any]) -> str:
    formats = {
        "uuid": PLACEHOLDER_UUID,
        "date-time": "2026-01-01T00:00:00Z",
        "date": "2026-01-01",
        "email": "contract@example.com",
        "uri": "https://example.com/",
        "password": "contract-password",
    }
    value = formats.get(schema.get("format", ""), "contract")
    minimum = int(schema.get("minLength", 0))
    return value + "x" * max(0, minimum - len(value))
