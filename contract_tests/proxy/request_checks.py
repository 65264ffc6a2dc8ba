"""The request half of an observed exchange: parameters and body against the operation's spec.

Parameters arrive as strings, so each value is read as its schema's type first (`?limit=5` is the integer 5, a
repeated or comma-separated array parameter a list), then validated with the schema (formats included) by the same
jsonschema the suite's spec loader compiles. JSON and form bodies are validated against the declared media type's
schema; multipart passes unvalidated (its parts are files); a body larger than the proxy keeps is not validated.

A request that breaks the spec and is refused with a 4xx is the frontend's mistake, correctly refused: a warning.
One that the upstream accepts is ranked like every finding (an error on a documented operation): the deployment
takes input its spec forbids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jsonschema import Draft202012Validator

from contract_tests import checks, provenance
from contract_tests.proxy.capture import Captured
from contract_tests.results import WARNING, Finding
from contract_tests.spec import ApiSpec, OperationInfo

CHECK = "request_conformance"
INTEGER = re.compile(r"^-?\d+$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "")
    return str(kind)


def coerce(value: str, schema: dict[str, Any]) -> Any:
    """A parameter or form value read as its schema's scalar type (left a string when it is not one)."""
    kind = _type(schema)
    if kind == "integer" and INTEGER.match(value):
        return int(value)
    if kind == "number" and NUMBER.match(value):
        return float(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "null" and value in ("", "null"):
        return None
    return value


def _read(values: list[str], schema: dict[str, Any]) -> Any:
    if _type(schema) == "array":
        items = [part for value in values for part in (value.split(",") if len(values) == 1 else [value])]
        return [coerce(item, schema.get("items") or {}) for item in items]
    return coerce(values[0], schema)


# The resolved parameters and request bodies of each operation, and their validators, built once per process: the
# proxy checks every request, and resolving `$ref`s or compiling a schema per request would cost more than the check.
_RESOLVED: dict[tuple[Path, str, str], Any] = {}
_VALIDATORS: dict[int, Draft202012Validator] = {}


def _resolved(spec: ApiSpec, op: OperationInfo, location: str) -> Any:
    key = (spec.path, op.operation_id, location)
    if key not in _RESOLVED:
        found = spec.resolve(op.raw.get("requestBody")) or {} if location == "body" else spec.parameters(op, location)
        _RESOLVED[key] = found
    return _RESOLVED[key]


def _validate(schema: dict[str, Any], value: Any, where: str) -> list[str]:
    if not schema:
        return []  # no schema, nothing to refuse (and no short-lived `{}` in the cache)
    validator = _VALIDATORS.get(id(schema))
    if validator is None:  # (the schemas are those kept in _RESOLVED, so their ids stay theirs)
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        _VALIDATORS[id(schema)] = validator
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        inner = "/".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}{'/' + inner if inner else ''}: {error.message}")
    return problems


def parameter_problems(spec: ApiSpec, op: OperationInfo, values: dict[str, dict[str, list[str]]]) -> list[str]:
    """Missing required parameters and values their schemas refuse; `values` by location (path, query, header)."""
    problems: list[str] = []
    for location, given in values.items():
        lookup = {k.lower(): v for k, v in given.items()} if location == "header" else given
        for parameter in _resolved(spec, op, location):
            name = str(parameter.get("name", ""))
            found = lookup.get(name.lower() if location == "header" else name)
            if not found:
                if parameter.get("required"):
                    problems.append(f"{location}.{name}: required parameter missing")
                continue
            schema = parameter.get("schema") or {}
            problems += _validate(schema, _read(found, schema), f"{location}.{name}")
    return problems


def body_problems(spec: ApiSpec, op: OperationInfo, captured: Captured) -> list[str]:
    """The body against the declared media type's schema (JSON and forms; multipart and oversized bodies pass)."""
    declared = _resolved(spec, op, "body")
    content: dict[str, Any] = declared.get("content") or {}
    if not captured.request_size:
        return ["body: required request body missing"] if declared.get("required") else []
    if not content or captured.request_truncated:
        return []
    media = (captured.header("content-type", response=False) or "").split(";")[0].strip().lower()
    if media not in content:
        return [f"body: Content-Type {media or '(none)'!r} is not one the spec declares ({', '.join(content)})"]
    schema = (content[media] or {}).get("schema") or {}
    if media == "application/json" or media.endswith("+json"):
        try:
            body = json.loads(captured.request_body)
        except ValueError as exc:
            return [f"body: not valid JSON ({exc})"]
        return _validate(schema, body, "body")
    if media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(captured.request_body.decode("utf-8", "replace"), keep_blank_values=True)
        grouped: dict[str, list[str]] = {}
        for key, value in pairs:
            grouped.setdefault(key, []).append(value)
        properties = schema.get("properties") or {}
        form = {key: _read(values, properties.get(key) or {}) for key, values in grouped.items()}
        return _validate(schema, form, "body")
    return []


def problems(
    spec: ApiSpec,
    op: OperationInfo,
    captured: Captured,
    path_parameters: dict[str, str],
    query: dict[str, list[str]],
) -> list[str]:
    headers: dict[str, list[str]] = {}
    for name, value in captured.request_headers:
        headers.setdefault(name.lower(), []).append(value)
    values = {"path": {k: [v] for k, v in path_parameters.items()}, "query": query, "header": headers}
    return parameter_problems(spec, op, values) + body_problems(spec, op, captured)


def finding(op: OperationInfo, status: int, found: list[str]) -> Finding:
    accepted = 0 < status < 400
    verdict = f"the upstream accepted it ({status})" if accepted else f"refused with {status or 'no answer'}"
    return Finding(
        check=CHECK,
        title=checks.TITLES[CHECK],
        message="\n".join(found) + f"\n({verdict})",
        code=checks.CODES[CHECK],
        status=status or None,
        operation=op.operation_id,
        provenance=provenance.operation_mark(op),
        severity="" if accepted else WARNING,  # accepted: ranked by provenance like every finding
        subject="request",
    )
