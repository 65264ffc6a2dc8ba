"""Check one observed exchange against the spec, with the machinery `run` uses.

The answer is checked by Schemathesis' own response checks (server error, documented status, content type, declared
headers, response schema: the checks `run` reports as ST1xx), run on a Schemathesis `Case` built from the request
and a Schemathesis `Response` built from the captured answer, and by the suite's run-wide rules in
`contract_tests.checks` (401/403 Error shape and `WWW-Authenticate`, 429 headers, public-profile privacy, secrets).
Every finding is marked and ranked by the spec's provenance like the findings of `run`. The request itself is
checked by `request_checks`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import requests
import schemathesis
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import CHECKS, CheckContext, run_checks
from schemathesis.core.transport import Response

from contract_tests import checks, provenance
from contract_tests.http import Exchange, masked_body
from contract_tests.proxy import request_checks
from contract_tests.proxy.capture import Captured
from contract_tests.results import WARNING, Finding
from contract_tests.spec import ApiSpec, OperationInfo, sample

# Schemathesis' checks that judge a single answer (the others need generated cases or several requests).
RESPONSE_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
NOT_IN_SPEC = "not_in_spec"
TOO_LARGE = "not validated: too large"


@dataclass
class Observation:
    """What one exchange told: its operation (None: not in the spec), the findings, and what was not checked."""

    api: str
    operation: OperationInfo | None
    findings: list[Finding] = field(default_factory=list)
    checks_run: dict[str, bool] = field(default_factory=dict)  # check -> passed
    notes: list[str] = field(default_factory=list)

    @property
    def response_violations(self) -> list[Finding]:
        """Findings about the answer (what --enforce refuses to pass on), errors first."""
        found = [f for f in self.findings if f.check != request_checks.CHECK]
        return sorted(found, key=lambda f: not f.is_error)


def _template_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", path)
    pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}/?$")


class SpecObserver:
    """One API: its spec as the suite reads it, the same spec loaded by Schemathesis, and a path matcher."""

    def __init__(self, api: str, spec: ApiSpec, *, strict_inferred: bool = False, sanitize: bool = True) -> None:
        self.api = api
        self.spec = spec
        self.strict_inferred = strict_inferred
        self.sanitize = sanitize
        # the document the suite already parsed (the YAML is read once; Schemathesis may annotate its own copy)
        self.schema = schemathesis.openapi.from_dict(copy.deepcopy(spec.document))
        functions = {c.__name__: c for c in CHECKS.get_all() if not isinstance(c, type)}
        self.response_checks = [functions[name] for name in RESPONSE_CHECKS]
        # concrete paths win over templated ones, as in the mock's router and the docs
        ordered = sorted(spec.operations, key=lambda op: ("{" in op.path, -len(op.path)))
        self.routes = [(_template_regex(op.path), op) for op in ordered]
        self._operations: dict[str, tuple[Any, Any]] = {}

    def match(self, method: str, raw_path: str) -> tuple[OperationInfo, dict[str, str]] | None:
        """The operation for this method and path, with its path parameters (decoded), or None."""
        for regex, op in self.routes:
            found = regex.match(raw_path)
            if found and op.method == method.upper():
                return op, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def knows_path(self, raw_path: str) -> bool:
        return any(regex.match(raw_path) for regex, _ in self.routes)

    # checks ------------------------------------------------------------------------------------------------------
    def observe(self, captured: Captured, upstream: str) -> Observation:
        decode(captured)
        matched = self.match(captured.method, captured.path)
        if matched is None:
            return self.not_in_spec(captured, upstream)
        op, path_parameters = matched
        observation = Observation(self.api, op)
        query = parse_qs(captured.query, keep_blank_values=True)
        request_problems = request_checks.problems(self.spec, op, captured, path_parameters, query)
        observation.checks_run[request_checks.CHECK] = not request_problems
        if captured.request_truncated:
            observation.notes.append(f"request body {TOO_LARGE}")
        if request_problems:
            self._add(observation, captured, upstream, request_checks.finding(op, captured.status, request_problems))
        if captured.upstream_error is not None:
            self._add(observation, captured, upstream, self._unanswered(op, captured))
            return observation
        if captured.response_truncated:
            observation.notes.append(f"response body {TOO_LARGE}")
            return observation
        self._schemathesis_checks(observation, op, captured, upstream, path_parameters, query)
        self._suite_checks(observation, op, captured, upstream)
        return observation

    def not_in_spec(self, captured: Captured, upstream: str) -> Observation:
        observation = Observation(self.api, None)
        if captured.upstream_error is not None:
            self._add(observation, captured, upstream, self._unanswered(None, captured))
        what = "method" if self.knows_path(captured.path) else "path"
        finding = Finding(
            check=NOT_IN_SPEC,
            title="Request not in the spec",
            message=f"{captured.method} {captured.path}: the spec has no such {what}; forwarded, not validated",
            code=checks.CODES.get(NOT_IN_SPEC, ""),
            status=captured.status or None,
            provenance="unknown",
            severity=WARNING,
            subject=what,
        )
        self._attach(finding, captured, upstream)
        observation.findings.append(finding)
        return observation

    def _unanswered(self, op: OperationInfo | None, captured: Captured) -> Finding:
        return Finding(
            check="target_unresponsive",
            title=checks.TITLES["target_unresponsive"],
            message=f"the upstream did not answer {captured.method} {captured.target}: {captured.upstream_error}; "
            "the proxy answered 502",
            code=checks.CODES["target_unresponsive"],
            status=502,
            operation=op.operation_id if op else None,
        )

    def _response(self, captured: Captured, upstream: str) -> Response:
        request = requests.Request(
            captured.method, upstream.rstrip("/") + captured.target, headers=dict(captured.request_headers)
        ).prepare()
        headers: dict[str, list[str]] = {}
        for name, value in captured.response_headers:
            headers.setdefault(name.lower(), []).append(value)
        return Response(
            status_code=captured.status,
            headers=headers,
            content=captured.response_body,
            request=request,
            elapsed=captured.elapsed,
            verify=True,
        )

    def _operation(self, op: OperationInfo) -> tuple[Any, Any]:
        """Schemathesis' operation and its check configuration, looked up once per operation."""
        if op.operation_id not in self._operations:
            operation = self.schema[op.path][op.method]
            config = self.schema.config.checks_config_for(operation=operation, phase=None)
            self._operations[op.operation_id] = (operation, config)
        return self._operations[op.operation_id]

    def _schemathesis_checks(
        self,
        observation: Observation,
        op: OperationInfo,
        captured: Captured,
        upstream: str,
        path_parameters: dict[str, str],
        query: dict[str, list[str]],
    ) -> None:
        operation, config = self._operation(op)
        headers = CaseInsensitiveDict(dict(captured.request_headers))
        case = operation.Case(
            path_parameters=path_parameters,
            headers=dict(headers),
            query={k: v[0] if len(v) == 1 else v for k, v in query.items()},
        )
        ctx = CheckContext(
            override=None,
            auth=None,
            headers=headers,
            config=config,
            transport_kwargs=None,
            response_checks=None,
        )
        failed: list[tuple[str, Any]] = []

        def on_failure(name: str, collected: set[Any], failure: Any) -> None:
            collected.add(failure)
            failed.append((name, failure))
            observation.checks_run[name] = False

        def on_success(name: str, _: Any) -> None:
            observation.checks_run.setdefault(name, True)

        run_checks(
            case=case,
            response=self._response(captured, upstream),
            ctx=ctx,
            checks=self.response_checks,
            on_failure=on_failure,
            on_success=on_success,
        )
        for name, failure in failed:
            finding = provenance.from_failure(
                self.spec, name, failure, status=captured.status, operation=op.operation_id
            )
            self._add(observation, captured, upstream, finding)

    def _suite_checks(self, observation: Observation, op: OperationInfo, captured: Captured, upstream: str) -> None:
        headers = {name.lower(): value for name, value in reversed(captured.response_headers)}
        status, body = captured.status, captured.response_body
        found = {
            "auth_error_shape": checks.auth_error_problems(self.spec, status, headers, body, op),
            "rate_limit_headers": checks.rate_limit_problems(self.spec, op, status, headers),
            "secrets_exposure": checks.secret_problems(self.spec, op, status, body),
        }
        if checks.is_privacy_operation(op) and status < 300:
            found["public_profile_privacy"] = checks.privacy_problems(body)
        for name, problems in found.items():
            observation.checks_run[name] = not problems
            if problems:
                finding = Finding(
                    check=name,
                    title=checks.TITLES[name],
                    message="\n".join(problems),
                    code=checks.CODES[name],
                    status=status,
                    operation=op.operation_id,
                )
                finding.provenance, finding.subject = provenance.finding_mark(self.spec, finding)
                self._add(observation, captured, upstream, finding)

    # findings ----------------------------------------------------------------------------------------------------
    def _add(self, observation: Observation, captured: Captured, upstream: str, finding: Finding) -> None:
        if not finding.provenance:
            finding.provenance, finding.subject = provenance.finding_mark(self.spec, finding)
        if not finding.severity:
            finding.severity = provenance.severity(finding, self.strict_inferred)
        self._attach(finding, captured, upstream)
        observation.findings.append(finding)

    def _attach(self, finding: Finding, captured: Captured, upstream: str) -> None:
        """The exchange goes with the finding: the request as curl and the answer, secrets masked."""
        request = Exchange(
            method=captured.method,
            url=upstream.rstrip("/") + captured.target,
            request_headers=dict(captured.request_headers),
            request_body=captured.request_body or None,
            status=captured.status,
            headers={},
            content=b"",
            elapsed=captured.elapsed,
            sanitize=self.sanitize,
        )
        finding.curl = request.curl()
        if captured.upstream_error is None:
            answer = masked_body(captured.response_body[:2000], dict(captured.response_headers), self.sanitize)
            finding.message += f"\n\nexchange: {captured.method} {captured.target} -> {captured.status} {answer[:600]}"

    def error_body(self, code: str, message: str) -> bytes:
        """A body in the spec's own Error shape (Xentree's `detail` envelope, the ledger's flat `error`)."""
        return error_body(self.spec, code, message)


def decode(captured: Captured) -> None:
    """The kept answer as its media type reads (gzip, deflate, brotli, zstd undone by httpx's own decoders); the
    proxy forwards the encoded bytes, the checks read the decoded ones."""
    encoding = (captured.header("content-encoding") or "identity").strip().lower()
    if encoding == "identity" or captured.response_truncated or not captured.response_body:
        return
    raw = httpx.Response(
        captured.status, headers=captured.response_headers, stream=httpx.ByteStream(captured.response_body)
    )
    try:
        captured.response_body = raw.read()
    except httpx.DecodingError:
        pass  # left as sent: the content checks say what is wrong with it


def error_body(spec: ApiSpec, code: str, message: str) -> bytes:
    """The spec's Error schema sampled, with its `error` and `message` members set (wherever the schema puts them)."""
    schema = spec.document.get("components", {}).get("schemas", {}).get("Error")
    resolved = spec.resolve(schema) if schema else {}
    body = sample(resolved) if resolved else {}
    holder = _error_holder(body, resolved)
    if holder is None:
        return json.dumps({"error": code, "message": message}).encode()
    holder["error"] = code
    holder["message"] = message
    return json.dumps(body).encode()


def _error_holder(body: Any, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The object of the sampled Error body whose schema declares `error` (with `message` next to it)."""
    if not isinstance(body, dict):
        return None
    properties = schema.get("properties") or {}
    if "error" in properties:
        return body
    for name, child in properties.items():
        if isinstance(child, dict) and child.get("type") == "object":
            body.setdefault(name, {})
            found = _error_holder(body[name], child)
            if found is not None:
                return found
    return None
