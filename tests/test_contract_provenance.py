"""Severity follows field-level provenance: a finding that breaks only what the spec guessed (an `x-inferred` keyword
of a documented field, an `x-scope-provenance: inferred` scope, an inferred status, header or property) is a warning,
one that breaks what the docs state is an error. Small specs hold each case both ways; the Xentree spec holds the
marks issue 15 put on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis.config import GenerationConfig
from schemathesis.generation import GenerationMode

from contract_tests import properties, provenance
from contract_tests.provenance import DOCUMENTED, INFERRED, Violation
from contract_tests.results import ERROR, WARNING, Finding, OperationResult, RunResult
from contract_tests.spec import ApiSpec
from mock_server.resources import spec_path
from tests.test_contract_broken import contract, mock_app, problems, rewrite_response, serve  # noqa: F401

THING = {
    "type": "object",
    "required": ["name", "guess"],
    "properties": {
        "name": {"type": "string", "maxLength": 64, "x-inferred": ["maxLength"]},  # documented name, guessed bound
        "count": {"type": "integer", "minimum": 0},  # documented, every keyword stated
        "last": {"type": "string", "format": "date", "x-inferred": ["nullable"]},  # its non-null type is our guess
        "guess": {"type": "integer", "x-provenance": "inferred"},  # a property the docs never name
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8, "x-inferred": ["maxLength"]}},
        "code": {"$ref": "#/components/schemas/Code", "x-inferred": ["minLength"]},  # and the shared schema's guesses
    },
}
CODE = {"type": "string", "minLength": 2, "maxLength": 8, "pattern": "^[A-Z]+$", "x-inferred": ["maxLength"]}
BODY = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 64, "x-inferred": ["maxLength"]},
        "title": {"type": "string", "maxLength": 200},  # the docs state this bound
    },
}
DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "things", "version": "1"},
    "paths": {
        "/things/{thing_id}": {
            "parameters": [{"$ref": "#/components/parameters/ThingId"}],
            "get": {
                "operationId": "getThing",
                "x-provenance": "documented",
                "security": [{"apiKeyAuth": ["things:read"]}],
                "x-scope-provenance": "inferred",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "x-inferred": ["maximum"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "headers": {
                            "X-Documented": {"schema": {"type": "string"}},
                            "X-Guessed": {"schema": {"type": "string"}, "x-provenance": "inferred"},
                        },
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                    },
                    "429": {"$ref": "#/components/responses/QuotaExceeded"},
                },
            },
        },
        "/things": {
            "post": {
                "operationId": "createThing",
                "x-provenance": "documented",
                "security": [{"apiKeyAuth": ["things:write"]}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingBody"}}},
                },
                "responses": {
                    "201": {"description": "created"},
                    "429": {"description": "the documented quota status"},
                },
            }
        },
    },
    "components": {
        "schemas": {"Thing": THING, "ThingBody": BODY, "Code": CODE},
        "parameters": {
            "ThingId": {
                "name": "thing_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid", "x-inferred": ["format"]},
            }
        },
        "responses": {"QuotaExceeded": {"description": "quota", "x-provenance": "inferred"}},
        "securitySchemes": {"apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
    },
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> ApiSpec:
    path = Path(tmp_path_factory.mktemp("prov")) / "things.yaml"
    path.write_text(yaml.safe_dump(DOC))
    return ApiSpec.load(path)


def body_mark(spec: ApiSpec, field: list[Any], keyword: str, *, null: bool = False, message: str = "m") -> str:
    finding = Finding("response_schema_conformance", "t", message, status=200, operation="getThing")
    return provenance.finding_mark(spec, finding, field, keywords=(keyword,), value_is_null=null)[0]


def test_a_response_value_breaking_an_inferred_keyword_of_a_documented_field_breaks_our_inference(
    spec: ApiSpec,
) -> None:
    assert body_mark(spec, ["name"], "maxLength") == INFERRED  # the bound is our guess
    assert body_mark(spec, ["name"], "type") == DOCUMENTED  # the field's type is stated
    assert body_mark(spec, ["tags", 0], "maxLength") == INFERRED  # through array items
    assert body_mark(spec, ["tags", 0], "type") == DOCUMENTED
    assert body_mark(spec, ["count"], "minimum") == DOCUMENTED  # nothing guessed here
    assert body_mark(spec, ["code"], "maxLength") == INFERRED  # guessed on the shared schema
    assert body_mark(spec, ["code"], "minLength") == INFERRED  # guessed beside the $ref
    assert body_mark(spec, ["code"], "pattern") == DOCUMENTED
    assert body_mark(spec, ["guess"], "type") == INFERRED  # the property itself is ours
    assert body_mark(spec, ["last"], "type", null=True) == INFERRED  # null where we guessed "never null"
    assert body_mark(spec, ["last"], "type") == DOCUMENTED  # a number where the docs say a date string
    assert body_mark(spec, ["last"], "format") == DOCUMENTED
    assert body_mark(spec, [], "required", message="'guess' is a required property") == INFERRED
    assert body_mark(spec, [], "required", message="'name' is a required property") == DOCUMENTED


def test_a_request_is_judged_by_the_keywords_it_broke(spec: ApiSpec) -> None:
    create, get = spec.by_id["createThing"], spec.by_id["getThing"]
    name_bound = Violation("body", "name", ("properties", "name"), ("maxLength",))
    assert provenance.request_mark(spec, create, name_bound) == (INFERRED, "request body /name (maxLength)")
    title = Violation("body", "title", ("properties", "title"), ("maxLength",))
    assert provenance.request_mark(spec, create, title) == (DOCUMENTED, "request body /title (maxLength)")
    assert provenance.request_mark(spec, get, Violation("query", "limit", (), ("maximum",)))[0] == INFERRED
    assert provenance.request_mark(spec, get, Violation("query", "limit", (), ("minimum",)))[0] == DOCUMENTED
    both = Violation("query", "limit", (), ("minimum", "maximum"))  # one stated bound among them: the docs'
    assert provenance.request_mark(spec, get, both)[0] == DOCUMENTED
    # a path parameter shared through components/parameters (and declared on the path item)
    assert provenance.request_mark(spec, get, Violation("path", "thing_id", (), ("format",)))[0] == INFERRED
    assert provenance.request_mark(spec, get, Violation("path", "thing_id", (), ("type",)))[0] == DOCUMENTED
    accepted = Finding("negative_data_rejection", "t", "m", status=201, operation="createThing")
    assert provenance.finding_mark(spec, accepted, violations=[name_bound]) == (
        INFERRED,
        "request body /name (maxLength)",
    )
    assert provenance.finding_mark(spec, accepted, violations=[name_bound, title])[0] == DOCUMENTED


def coverage_cases(mode: GenerationMode, operation: str) -> list[Any]:
    schema = schemathesis.openapi.from_dict(DOC)
    op = next(o.ok() for o in schema.get_all_operations() if o.ok().definition.raw.get("operationId") == operation)
    return list(schema.iter_coverage_cases(op, generation_modes=[mode], generation_config=GenerationConfig()))


def test_schemathesis_cases_name_the_place_and_keyword_they_test(spec: ApiSpec) -> None:
    judged: dict[str, str] = {}
    for case in coverage_cases(GenerationMode.NEGATIVE, "createThing"):
        for violation in properties.violations(case):
            mark, subject = provenance.request_mark(spec, spec.by_id["createThing"], violation)
            judged[subject] = mark
    assert judged["request body /name (maxLength)"] == INFERRED  # a name over our guessed 64 characters
    assert judged["request body /title (maxLength)"] == DOCUMENTED  # a title over the documented 200
    positive = {
        subject: mark
        for case in coverage_cases(GenerationMode.POSITIVE, "getThing")
        for mark, subject in (
            provenance.request_mark(spec, spec.by_id["getThing"], v) for v in properties.violations(case)
        )
    }
    assert positive["query parameter limit (maximum)"] == INFERRED  # limit=100 refused: our bound, not the docs'
    assert positive["query parameter limit (minimum, maximum)"] == DOCUMENTED  # near a bound: maybe the stated one
    # a fuzzing mutation: the parameters of one place are mutated as one object schema
    mutation = SimpleNamespace(
        parameter_location=SimpleNamespace(value="query"),
        parameter="limit",
        schema_pointer="/properties/limit",
        keywords=("maximum",),
    )
    fuzzed = SimpleNamespace(meta=SimpleNamespace(phase=SimpleNamespace(data=SimpleNamespace(mutations=(mutation,)))))
    assert properties.violations(fuzzed) == [Violation("query", "limit", (), ("maximum",))]
    random_bytes = SimpleNamespace(**{**vars(mutation), "keywords": ()})
    noise = SimpleNamespace(
        meta=SimpleNamespace(phase=SimpleNamespace(data=SimpleNamespace(mutations=(random_bytes,))))
    )
    assert properties.violations(noise) == []  # says nothing: the finding keeps the operation's mark


def test_scope_findings_follow_the_scope_mark_and_rules_follow_the_status_they_expect(spec: ApiSpec) -> None:
    guessed = Finding("scope_enforcement", "t", "expected 403", status=200, operation="getThing")
    stated = Finding("scope_enforcement", "t", "expected 403", status=200, operation="createThing")
    assert provenance.finding_mark(spec, guessed) == (INFERRED, "scope things:read")
    assert provenance.finding_mark(spec, stated) == (DOCUMENTED, "scope things:write")
    # a quota rule expects 429: an answer with another status breaks that status's mark
    assert provenance.finding_mark(spec, Finding("live_quota", "t", "m", status=403, operation="getThing")) == (
        INFERRED,
        "status 429",
    )
    assert provenance.finding_mark(spec, Finding("live_quota", "t", "m", status=403, operation="createThing")) == (
        DOCUMENTED,
        "status 429",
    )
    headers = Finding("response_headers_conformance", "t", "m", status=200, operation="getThing")
    assert provenance.finding_mark(spec, headers, headers=["X-Guessed"]) == (INFERRED, "header X-Guessed")
    assert provenance.finding_mark(spec, headers, headers=["X-Documented"]) == (DOCUMENTED, "header X-Documented")


def test_rank_turns_the_marks_into_severities(spec: ApiSpec) -> None:
    result = RunResult("things", "http://127.0.0.1:1", "things.yaml", 0, {})
    op = OperationResult("getThing", "GET /things/{thing_id}", [], "documented", ["200"], cases=1)
    op.findings += [
        Finding("scope_enforcement", "t", "guessed scope", status=200, operation="getThing"),
        Finding("live_quota", "t", "quota", status=200, operation="createThing"),
    ]
    result.operations.append(op)
    provenance.rank(result, spec, strict_inferred=False)
    assert [(f.severity, f.subject) for f in op.findings] == [(WARNING, "scope things:read"), (ERROR, "status 429")]
    assert result.severity_counts() == {"errors": 1, "warnings": 1}


XENTREE = ApiSpec.load(spec_path())


def test_the_xentree_spec_marks_rate_the_issue_15_guesses_as_warnings() -> None:
    def mark(op_id: str, status: int, field: list[Any], keyword: str, null: bool = False) -> str:
        finding = Finding("response_schema_conformance", "t", "m", status=status, operation=op_id)
        return provenance.finding_mark(XENTREE, finding, field, keywords=(keyword,), value_is_null=null)[0]

    # issue 15: the nullability of days_since_activity is our guess, its type and the field are the docs'
    assert mark("getStreakStatus", 200, ["days_since_activity"], "type", null=True) == INFERRED
    assert mark("getStreakStatus", 200, ["days_since_activity"], "type") == DOCUMENTED
    assert mark("getStreakStatus", 200, ["current_streak"], "type") == DOCUMENTED
    scoped = [op for op in XENTREE.operations if op.api_key_scopes]
    guessed = next(op for op in scoped if op.raw.get("x-scope-provenance") == INFERRED)
    stated = next(op for op in scoped if "x-scope-provenance" not in op.raw)
    for op, expected in ((guessed, INFERRED), (stated, DOCUMENTED)):
        finding = Finding("scope_enforcement", "t", "m", status=200, operation=op.operation_id)
        assert provenance.finding_mark(XENTREE, finding)[0] == expected, op.operation_id
    # the 429 of live_quota_exceeded is our guess (the docs give the payload, not the status)
    assert provenance.finding_mark(
        XENTREE, Finding("live_quota", "t", "m", status=403, operation="startLiveSession")
    ) == (
        INFERRED,
        "status 429",
    )


def test_the_ledger_spec_marks_rate_its_guesses_as_warnings() -> None:
    ledger = ApiSpec.load(spec_path("xp-ledger"))

    def entry_mark(field: str, keyword: str, null: bool = False) -> str:
        finding = Finding("response_schema_conformance", "t", "m", status=200, operation="listUserXpEntries")
        path: list[Any] = ["entries", 0, field]
        return provenance.finding_mark(ledger, finding, path, keywords=(keyword,), value_is_null=null)[0]

    assert entry_mark("value", "type") == DOCUMENTED  # the XP page states a number
    assert entry_mark("subject", "type", null=True) == INFERRED  # its nullability is ours
    assert entry_mark("userId", "minLength") == INFERRED
    entries = ledger.by_id["listUserXpEntries"]
    assert provenance.request_mark(ledger, entries, Violation("query", "limit", (), ("maximum",)))[0] == DOCUMENTED
    assert provenance.request_mark(ledger, entries, Violation("query", "limit", (), ("minimum",)))[0] == INFERRED
    assert provenance.status_mark(ledger, ledger.by_id["sendCaliperEvents"], 429) == INFERRED
    assert provenance.status_mark(ledger, ledger.by_id["issueAccessToken"], 429) == DOCUMENTED
    scope = Finding("ledger_scope", "t", "m", status=200, operation="listUserXpEntries")
    assert provenance.finding_mark(ledger, scope) == (DOCUMENTED, "scope events.readonly")


def test_a_target_breaking_only_an_inferred_keyword_gets_a_warning(serve: Callable[[Any], str], tmp_path: Path) -> None:  # noqa: F811
    """End to end: days_since_activity is a documented integer whose `minimum: 0` is our guess."""

    def answering(value: Any) -> Callable[[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]:
        def change(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
            data = json.loads(body) if body else None
            if status == 200 and isinstance(data, dict):
                data["days_since_activity"] = value
            return status, headers, json.dumps(data).encode()

        return change

    def streak(scope: Any) -> bool:
        return bool(scope["path"] == "/api/xp/streak-status" and scope["method"] == "GET")

    for value, expected, exit_code in ((-1, (INFERRED, WARNING), 0), ("soon", (DOCUMENTED, ERROR), 1)):
        url = serve(rewrite_response(mock_app(), streak, answering(value)))
        result = contract(url, tmp_path, operations=["getStreakStatus"], phases=["coverage"])
        found = [f for f in result.findings if f.check == "response_schema_conformance"]
        assert found and {(f.provenance, f.severity) for f in found} == {expected}, problems(result)
        assert found[0].subject == "field /days_since_activity" and result.exit_code == exit_code, value
