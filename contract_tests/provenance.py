"""Severity by provenance: how sure the spec is of the rule a finding breaks.

The spec marks what the public docs state (`x-provenance: documented`) and what it infers (`x-provenance: inferred`)
on operations, responses, headers, schemas and fields. A finding takes the most specific mark there is for what it
concerns (a field inside a response body, a response header, a status) and falls back to the operation's mark:
the operation's path may be documented while the field that broke is our inference. Documented rules give errors,
inferred ones warnings (`--strict-inferred` makes both errors), so a deployment that follows the docs but not our
guesses is told apart from one that breaks the docs.

A few rules are errors whatever the marks say, because no reading of any spec allows them: a target that stops
responding, a server error (5xx), a response that leaks a secret, and one user reaching another user's objects
(`ALWAYS_ERRORS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from contract_tests.results import ERROR, WARNING, Finding, RunResult
from contract_tests.spec import ApiSpec, OperationInfo

DOCUMENTED, INFERRED = "documented", "inferred"
ALWAYS_ERRORS = frozenset({"target_unresponsive", "not_a_server_error", "secrets_exposure", "object_isolation"})
REQUIRED = re.compile(r"'([^']+)' is a required property")
SCHEMA_AT = re.compile(r"Schema at (/[^\s:]+)")
HEADER = re.compile(r"\b(Retry-After|RateLimit-[A-Za-z]+|WWW-Authenticate)\b", re.IGNORECASE)
HEADER_CHECKS = frozenset({"rate_limit_headers", "auth_error_shape", "response_headers_conformance"})


def mark(node: Any) -> str | None:
    """The node's own `x-provenance` mark, or None."""
    value = node.get("x-provenance") if isinstance(node, dict) else None
    return value if value in (DOCUMENTED, INFERRED) else None


def operation_mark(op: OperationInfo | None) -> str:
    """The operation's mark; an operation without one counts as documented (the spec states it)."""
    return op.provenance if op is not None and op.provenance in (DOCUMENTED, INFERRED) else DOCUMENTED


def _response_node(spec: ApiSpec, op: OperationInfo, status: int) -> tuple[Any, Any]:
    """The response as written (a `$ref` or inline) and resolved, for the status or its range or `default`."""
    responses = op.raw.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            raw = responses[key]
            return raw, spec.resolve(raw)
    return None, None


def _deepest(marks: Iterable[str | None], fallback: str) -> str:
    found = [m for m in marks if m is not None]
    return found[-1] if found else fallback


def status_mark(spec: ApiSpec, op: OperationInfo | None, status: int | None) -> str:
    """The mark on the operation's response for this status (the `$ref` target counts), else the operation's."""
    if op is None or status is None:
        return operation_mark(op)
    raw, resolved = _response_node(spec, op, status)
    target = spec.document
    if isinstance(raw, dict) and "$ref" in raw:
        target = _ref_target(spec, raw["$ref"])
    return _deepest(
        (mark(resolved), mark(target) if target is not spec.document else None, mark(raw)), operation_mark(op)
    )


def _ref_target(spec: ApiSpec, ref: str) -> Any:
    node: Any = spec.document
    for part in ref.lstrip("#/").split("/"):
        if not isinstance(node, dict):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def header_mark(spec: ApiSpec, op: OperationInfo | None, status: int | None, header: str) -> str:
    """The mark on a declared response header (its component counts), else the status's, else the operation's."""
    base = status_mark(spec, op, status)
    if op is None or status is None:
        return base
    _, response = _response_node(spec, op, status)
    fallback = {401: "Unauthorized", 403: "Forbidden", 429: "TooManyRequests"}.get(status)
    if response is None and fallback:
        response = spec.resolve(spec.document.get("components", {}).get("responses", {}).get(fallback, {}))
    headers = {name.lower(): node for name, node in (response or {}).get("headers", {}).items()}
    return mark(headers.get(header.lower())) or base


def _child(node: Any, key: Any, depth: int = 0) -> Any:
    """The subschema that validates member `key` of an instance of `node` (through allOf/anyOf/oneOf)."""
    if not isinstance(node, dict) or depth > 10:
        return None
    if isinstance(key, int) or str(key).isdigit():
        if isinstance(node.get("items"), dict):
            return node["items"]
    elif str(key) in (node.get("properties") or {}):
        return node["properties"][str(key)]
    for combinator in ("allOf", "anyOf", "oneOf"):
        for alternative in node.get(combinator) or []:
            found = _child(alternative, key, depth + 1)
            if found is not None:
                return found
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def schema_mark(
    spec: ApiSpec, op: OperationInfo | None, status: int | None, instance_path: list[Any], message: str = ""
) -> str:
    """The deepest mark on the way from the response body schema to the failing value (by the value's place in the
    body); the subschema the message names (`Schema at /components/...`) and, for a missing required property, that
    property's own mark count as deeper still."""
    base = status_mark(spec, op, status)
    if op is None or status is None:
        return base
    _, response = _response_node(spec, op, status)
    content: dict[str, Any] = (response or {}).get("content", {})
    first: dict[str, Any] = next(iter(content.values()), {})
    node: Any = first.get("schema")
    marks = [mark(node)]
    for part in instance_path:
        node = _child(node, part)
        if node is None:
            break
        marks.append(mark(node))
    pointer = SCHEMA_AT.search(message or "")
    if pointer:
        marks.append(mark(_ref_target(spec, "#" + pointer.group(1))))
    missing = REQUIRED.search(message or "")
    if missing and node is not None:
        marks.append(mark(_child(node, missing.group(1))))
    return _deepest(marks, base)


def finding_mark(
    spec: ApiSpec, finding: Finding, instance_path: list[Any] | None = None, headers: Iterable[str] = ()
) -> tuple[str, str]:
    """(provenance, subject) of a finding: the failing value's place in the body, the headers it names (each
    problem line is judged on its own: one documented problem makes the finding documented), else its status, else
    its operation."""
    op = spec.by_id.get(finding.operation or "")
    if instance_path is not None:
        where = "/" + "/".join(str(p) for p in instance_path)
        return schema_mark(spec, op, finding.status, instance_path, finding.message), f"field {where}"
    names = list(headers)
    lines = [""] if names else finding.message.splitlines() if finding.check in HEADER_CHECKS else []
    marks: list[str] = []
    subjects: list[str] = []
    for line in lines:
        found = names or HEADER.findall(line)
        for name in found:
            marks.append(header_mark(spec, op, finding.status, name))
            subjects.append(f"header {name}")
        if not found:
            marks.append(status_mark(spec, op, finding.status))
            subjects.append(f"status {finding.status}")
    if not marks:
        marks.append(status_mark(spec, op, finding.status))
        subjects.append(f"status {finding.status}" if finding.status is not None else "operation")
    return (DOCUMENTED if DOCUMENTED in marks else INFERRED), ", ".join(dict.fromkeys(subjects))


def from_failure(
    spec: ApiSpec, check: str, failure: Any, *, status: int | None, operation: str | None, curl: str = ""
) -> Finding:
    """A Schemathesis check failure as a finding, marked by what it concerns: the failing value's place in the body
    (`instance_path`) or the headers it names (`missing_headers`), else its status. The property tests and the proxy
    both read failures this way."""
    finding = Finding(
        check=check,
        title=failure.title,
        message=failure.message,
        code=failure.code,
        curl=curl,
        status=status,
        operation=operation,
    )
    instance_path = getattr(failure, "instance_path", None)
    finding.provenance, finding.subject = finding_mark(
        spec,
        finding,
        list(instance_path) if instance_path is not None else None,
        getattr(failure, "missing_headers", None) or (),
    )
    return finding


def severity(finding: Finding, strict_inferred: bool) -> str:
    if finding.check in ALWAYS_ERRORS or strict_inferred or finding.provenance != INFERRED:
        return ERROR
    return WARNING


def rank(result: RunResult, spec: ApiSpec, strict_inferred: bool) -> None:
    """Give every finding a provenance (the operation's, when nothing more specific was found) and a severity, then
    settle each unit's verdict again: a unit with warnings only passes."""
    for unit in result.units:
        for finding in unit.findings:
            if not finding.provenance:
                finding.provenance, subject = finding_mark(spec, finding)
                finding.subject = finding.subject or subject
            finding.severity = severity(finding, strict_inferred)
        unit.finish()
