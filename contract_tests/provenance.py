"""Severity by provenance: how sure the spec is of the rule a finding breaks.

The spec marks what the public docs state (`x-provenance: documented`) and what it infers (`x-provenance: inferred`)
on operations, responses, headers, schemas and fields. A finding takes the most specific mark there is for what it
concerns (a field inside a response body, a response header, a status) and falls back to the operation's mark:
the operation's path may be documented while the field that broke is our inference. Documented rules give errors,
inferred ones warnings (`--strict-inferred` makes both errors), so a deployment that follows the docs but not our
guesses is told apart from one that breaks the docs.

The marks go down to the keyword: a documented field or parameter lists in `x-inferred` the keywords we guessed
(`maxLength`, `format`, `nullable`, ...), so a finding that breaks only those (a response value over an inferred
`maxLength`, a request over it that the target accepted, a boundary value it refused) breaks our inference, while
the field's documented keywords break the docs. Requests are judged by what Schemathesis says it violated
(`Violation`: the parameter or body place and the keywords); scope findings by `x-scope-provenance` (an API-key
scope we guessed); scenario rules that expect a status (`RULE_STATUS`) by that status's mark.

A few rules are errors whatever the marks say, because no reading of any spec allows them: a target that stops
responding, a server error (5xx), a response that leaks a secret, and one user reaching another user's objects
(`ALWAYS_ERRORS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from contract_tests.results import ERROR, WARNING, Finding, RunResult
from contract_tests.spec import ApiSpec, OperationInfo

DOCUMENTED, INFERRED = "documented", "inferred"
ALWAYS_ERRORS = frozenset({"target_unresponsive", "not_a_server_error", "secrets_exposure", "object_isolation"})
REQUIRED = re.compile(r"'([^']+)' is a required property")
SCHEMA_AT = re.compile(r"Schema at (/[^\s:]+)")
HEADER = re.compile(r"\b(Retry-After|RateLimit-[A-Za-z]+|WWW-Authenticate)\b", re.IGNORECASE)
HEADER_CHECKS = frozenset({"rate_limit_headers", "auth_error_shape", "response_headers_conformance"})
NULLABLE = "nullable"  # the x-inferred name of a guessed `null` in (or out of) a field's type
SCOPE_RULES = frozenset({"scope_enforcement", "ledger_scope"})  # rules about which scope an operation needs
RULE_STATUS = {"live_quota": 429}  # scenario rules that expect one status: a different answer concerns that status


@dataclass(frozen=True)
class Violation:
    """What a generated request broke (negative data) or kept to at a boundary (positive data), as Schemathesis
    names it: the place (`query`, `path`, `header`, `cookie`, `body`), the parameter, the schema path below that
    parameter's (or the body's) schema, and the keywords (`maxLength`, `format`, `required`, ...)."""

    location: str
    parameter: str | None
    pointer: tuple[str, ...]
    keywords: tuple[str, ...]


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


def _view(spec: ApiSpec, node: Any) -> dict[str, Any]:
    """A schema node with its `$ref` chain followed; what is written beside a `$ref` (a mark) wins over the target,
    and the keywords both mark as ours (`x-inferred`) add up."""
    merged: dict[str, Any] = {}
    for _ in range(20):
        if not isinstance(node, dict):
            break
        guessed = [*(merged.get("x-inferred") or []), *(node.get("x-inferred") or [])]
        merged = {**node, **merged, **({"x-inferred": guessed} if guessed else {})}
        if "$ref" not in node:
            break
        node = _ref_target(spec, node["$ref"])
    merged.pop("$ref", None)
    return merged


def _child(spec: ApiSpec, node: Any, key: Any, depth: int = 0) -> dict[str, Any] | None:
    """The subschema that validates member `key` of an instance of `node` (through allOf/anyOf/oneOf)."""
    if not isinstance(node, dict) or depth > 10:
        return None
    if isinstance(key, int) or str(key).isdigit():
        if isinstance(node.get("items"), dict):
            return _view(spec, node["items"])
    elif str(key) in (node.get("properties") or {}):
        return _view(spec, node["properties"][str(key)])
    for combinator in ("allOf", "anyOf", "oneOf"):
        for alternative in node.get(combinator) or []:
            found = _child(spec, _view(spec, alternative), key, depth + 1)
            if found is not None:
                return found
    extra = node.get("additionalProperties")
    return _view(spec, extra) if isinstance(extra, dict) else None


def keyword_mark(node: Any, keywords: Iterable[str], value_is_null: bool = False) -> str | None:
    """What a documented field's `x-inferred` says of the keywords a value broke: inferred when we guessed every one
    of them (`type` broken by a null counts as `nullable`), documented when the docs state one; None when the node
    lists nothing (its own mark, or one above it, decides)."""
    listed = node.get("x-inferred") if isinstance(node, dict) else None
    names = {NULLABLE if keyword == "type" and value_is_null else keyword for keyword in keywords}
    if not names or not isinstance(listed, list) or mark(node) == INFERRED:
        return None
    return INFERRED if names <= set(listed) else DOCUMENTED


def _required_mark(spec: ApiSpec, node: dict[str, Any], name: str) -> str | None:
    """A missing required property: inferred when the property or its being required is our guess."""
    own, listed = mark(_child(spec, node, name)), keyword_mark(node, ("required",))
    return INFERRED if INFERRED in (own, listed) else own or listed


def schema_mark(
    spec: ApiSpec,
    op: OperationInfo | None,
    status: int | None,
    instance_path: list[Any],
    message: str = "",
    keywords: Iterable[str] = (),
    value_is_null: bool = False,
) -> str:
    """The deepest mark on the way from the response body schema to the failing value (by the value's place in the
    body); the subschema the message names (`Schema at /components/...`), and the failing value's keywords (its
    `x-inferred`) or, for a missing required property, that property's own mark count as deeper still."""
    base = status_mark(spec, op, status)
    if op is None or status is None:
        return base
    raw, _ = _response_node(spec, op, status)
    content = _view(spec, raw).get("content") or {}
    node: dict[str, Any] | None = _view(spec, _view(spec, next(iter(content.values()), {})).get("schema"))
    marks = [mark(node)]
    for part in instance_path:
        node = _child(spec, node, part)
        if node is None:
            break
        marks.append(mark(node))
    pointer = SCHEMA_AT.search(message or "")
    if pointer:
        marks.append(mark(_ref_target(spec, "#" + pointer.group(1))))
    missing = REQUIRED.search(message or "")
    if missing and node is not None:
        marks.append(_required_mark(spec, node, missing.group(1)))
    elif node is not None:
        marks.append(keyword_mark(node, keywords, value_is_null))
    return _deepest(marks, base)


def _walk(spec: ApiSpec, node: Any, pointer: Iterable[str]) -> tuple[list[str | None], dict[str, Any]]:
    """The marks on the way down a schema path (`properties/name/items`) and the node it ends on."""
    here = _view(spec, node)
    marks = [mark(here)]
    parts = [p for p in pointer if p and p != "$ref"]
    while parts:
        part = parts.pop(0)
        child: Any = here.get(part)
        if part in ("properties", "patternProperties", "$defs") and parts:
            child = (child or {}).get(parts.pop(0))
        elif part in ("allOf", "anyOf", "oneOf", "prefixItems") and parts and parts[0].isdigit():
            index = int(parts.pop(0))
            child = child[index] if isinstance(child, list) and index < len(child) else None
        if not isinstance(child, dict):
            break
        here = _view(spec, child)
        marks.append(mark(here))
    return marks, here


def _request_root(spec: ApiSpec, op: OperationInfo, violation: Violation) -> tuple[list[str | None], Any, str]:
    """The request body's or the parameter's schema (a parameter's own `x-inferred` joins its schema's), the marks
    above it, and how a report names the place."""
    if violation.location == "body":
        body = _view(spec, op.raw.get("requestBody"))
        media = _view(spec, next(iter((body.get("content") or {}).values()), {}))
        names = [b for a, b in zip(violation.pointer, violation.pointer[1:], strict=False) if a == "properties"]
        return [mark(body), mark(media)], media.get("schema"), "request body /" + "/".join(names)
    param = next(
        (
            found
            for found in (_view(spec, p) for p in op.raw.get("parameters", []))
            if found.get("name") == violation.parameter and found.get("in") == violation.location
        ),
        {},
    )
    schema = _view(spec, param.get("schema"))
    if isinstance(param.get("x-inferred"), list):
        schema = {**schema, "x-inferred": [*param["x-inferred"], *(schema.get("x-inferred") or [])]}
    return [mark(param)], schema, f"{violation.location} parameter {violation.parameter}"


def request_mark(spec: ApiSpec, op: OperationInfo | None, violation: Violation) -> tuple[str, str]:
    """(provenance, subject) of what a generated request broke or kept to: the deepest mark from the operation down
    to the parameter or body field, where the field's `x-inferred` judges the keywords."""
    if op is None:
        return operation_mark(op), f"request {violation.location}"
    above, root, subject = _request_root(spec, op, violation)
    marks, node = _walk(spec, root, violation.pointer)
    marks.append(keyword_mark(node, violation.keywords))
    where = f"{subject} ({', '.join(violation.keywords)})" if violation.keywords else subject
    return _deepest([*above, *marks], operation_mark(op)), where


def scope_mark(op: OperationInfo | None) -> tuple[str, str] | None:
    """A finding on which scope an operation needs: inferred where the spec marks the scope our guess
    (`x-scope-provenance: inferred`), else documented (the docs name the scope); None without a scope."""
    scopes = (op.api_key_scopes or op.bearer_scopes) if op is not None else ()
    if op is None or not scopes:
        return None
    guessed = op.raw.get("x-scope-provenance") == INFERRED
    return (INFERRED if guessed else DOCUMENTED), f"scope {', '.join(scopes)}"


def finding_mark(
    spec: ApiSpec,
    finding: Finding,
    instance_path: list[Any] | None = None,
    headers: Iterable[str] = (),
    *,
    keywords: Iterable[str] = (),
    value_is_null: bool = False,
    violations: Iterable[Violation] = (),
) -> tuple[str, str]:
    """(provenance, subject) of a finding: what a generated request broke (one documented violation makes it
    documented), the failing value's place in the body and keyword, the scope a scope rule is about, the status a
    scenario rule expects, the headers it names (each problem line is judged on its own: one documented problem
    makes the finding documented), else its status, else its operation."""
    op = spec.by_id.get(finding.operation or "")
    judged = [request_mark(spec, op, violation) for violation in violations]
    if judged:
        documented = any(m == DOCUMENTED for m, _ in judged)
        return (DOCUMENTED if documented else INFERRED), ", ".join(dict.fromkeys(s for _, s in judged))
    if instance_path is not None:
        where = "/" + "/".join(str(p) for p in instance_path)
        value = schema_mark(spec, op, finding.status, instance_path, finding.message, keywords, value_is_null)
        return value, f"field {where}"
    scoped = scope_mark(op) if finding.check in SCOPE_RULES else None
    if scoped is not None:
        return scoped
    expected = RULE_STATUS.get(finding.check)
    if expected is not None and finding.status != expected:
        return status_mark(spec, op, expected), f"status {expected}"
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
    spec: ApiSpec,
    check: str,
    failure: Any,
    *,
    status: int | None,
    operation: str | None,
    curl: str = "",
    violations: Iterable[Violation] = (),
) -> Finding:
    """A Schemathesis check failure as a finding, marked by what it concerns: the failing value's place in the body
    and the failing keyword (`instance_path`, `schema_path`; a `type` failure of a null is about nullability), the
    headers it names (`missing_headers`), what a generated request broke (`violations`), else its status. The
    property tests and the proxy both read failures this way."""
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
    in_body = instance_path is not None and check == "response_schema_conformance"
    keyword = (list(getattr(failure, "schema_path", None) or []) or [None])[-1]
    finding.provenance, finding.subject = finding_mark(
        spec,
        finding,
        list(instance_path) if in_body and instance_path is not None else None,
        getattr(failure, "missing_headers", None) or (),
        keywords=(keyword,) if isinstance(keyword, str) else (),
        value_is_null=in_body and getattr(failure, "instance", 0) is None,
        violations=violations,
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
