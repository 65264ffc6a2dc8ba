"""The Xentree spec: valid, complete against the docs navigation, and consistent in its errors, security and links."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.specs import ROOT, SpecDoc, walk

SPEC_PATH = ROOT / "openapi" / "xentree.yaml"
DOC = SpecDoc(SPEC_PATH)
SPEC: dict[str, Any] = DOC.doc
operations, resolve, _validator = DOC.operations, DOC.resolve, DOC.validator
NAV = json.loads((ROOT / "fixtures" / "docs-nav.json").read_text())
DOCUMENTED = json.loads((ROOT / "fixtures" / "documented-operations.json").read_text())["operations"]
SCOPES = {
    "conversations:read",
    "conversations:write",
    "rag:read",
    "rag:write",
    "quiz:read",
    "quiz:write",
    "live:read",
    "live:write",
    "organizations:read",
    "organizations:write",
    "integrations:read",
    "integrations:write",
    "xel:read",
    "xel:write",
    "api:read",
    "api:write",
    "api:admin",
}
NAME_MARKS = ("x-provenance", "x-name-provenance")
PUBLIC = {
    "registerUser",
    "loginUser",
    "refreshAccessToken",
    "getPublicXpProfile",
    "getHealth",
    "getDetailedHealth",
    "getIntegrationJwks",
    "getIntegrationFingerprint",
}
BEARER_ONLY = {
    "logoutUser",
    "getCurrentUser",
    "updateCurrentUser",
    "listApiKeys",
    "createApiKey",
    "deleteApiKey",
    "listTenants",
    "listIntegrationTokenRevocations",
    "saveLiveTranscripts",
}


OPS = operations()
BY_ID = {op["operationId"]: (path, m, op) for path, m, op in OPS}


def test_spec_validates_with_openapi_spec_validator() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_every_ref_resolves() -> None:
    refs = [node["$ref"] for _, node in walk(SPEC) if isinstance(node.get("$ref"), str)]
    assert len(refs) > 300
    assert DOC.unresolved_refs() == []


def test_every_example_validates_against_its_schema() -> None:
    assert len(DOC.examples()) > 100
    problems = DOC.example_problems()
    assert not problems, "\n".join(problems[:20])


def test_all_navigation_titles_are_operations_with_their_group() -> None:
    expected = {(o["title"], o["group"]) for o in NAV["operations"]}
    actual = {(op["summary"], op["tags"][0]) for _, _, op in OPS}
    assert len(NAV["operations"]) == 81
    assert actual == expected
    assert all(len(op["tags"]) == 1 for _, _, op in OPS)


def test_all_documented_schema_names_are_present() -> None:
    names = set(SPEC["components"]["schemas"])
    assert len(NAV["schemas"]) == 87
    assert set(NAV["schemas"]) <= names
    extra = names - set(NAV["schemas"])
    # a name of ours: the schema is inferred, or (documented fields under our name) its name is marked inferred
    marked = {n for n in extra if "inferred" in {SPEC["components"]["schemas"][n].get(k) for k in NAME_MARKS}}
    assert marked == extra, extra - marked


def test_operation_ids_are_unique_camel_case_and_described() -> None:
    ids = [op["operationId"] for _, _, op in OPS]
    assert len(ids) == len(set(ids)) == 81
    for path, method, op in OPS:
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]+", op["operationId"]), op["operationId"]
        assert len(op.get("description", "")) > 20, f"{method} {path} needs a description"
        assert op["x-provenance"] in ("documented", "inferred")
        assert op["x-docs"]


def test_documented_paths_and_methods_match_the_facts() -> None:
    documented = {(o["method"], o["path"]) for o in DOCUMENTED if o.get("method_stated", True)}
    assert len(documented) == 53
    marked = {(m.upper(), path) for path, m, op in OPS if op["x-provenance"] == "documented"}
    assert marked == documented
    by_title = {op["summary"]: (m.upper(), path) for path, m, op in OPS}
    for o in DOCUMENTED:
        assert by_title[o["title"]] == (o["method"], o["path"]), o["title"]


def test_schemas_are_typed_with_required_lists() -> None:
    for name, schema in SPEC["components"]["schemas"].items():
        if "enum" in schema:  # a shared enum (issue 15)
            assert schema["type"] == "string" and len(schema["enum"]) >= 2, name
            continue
        assert schema.get("type") == "object" or "anyOf" in schema or "oneOf" in schema, name
        assert "required" in schema or "anyOf" in schema, f"{name} has no required list"
        for prop, sub in schema.get("properties", {}).items():
            sub = resolve(sub)
            assert any(k in sub for k in ("type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum")), f"{name}.{prop}"


def test_documented_formats_and_enums() -> None:
    schemas = SPEC["components"]["schemas"]
    assert schemas["LearningPulseDayEntry"]["properties"]["date"]["format"] == "date"
    assert schemas["LearningPulseDayEntry"]["properties"]["level"]["maximum"] == 4
    assert set(schemas["QuestItem"]["properties"]["status"]["enum"]) == {"active", "ready_to_complete", "completed"}
    assert set(resolve(schemas["XELTaskSubmissionRequest"]["properties"]["skill"])["enum"]) == {
        "reading",
        "writing",
        "listening",
        "speaking",
    }
    assert set(schemas["LiveStartSessionRequest"]["properties"]["session_type"]["enum"]) == {"voice", "avatar"}
    assert set(schemas["TokenResponse"]["required"]) >= {"access_token", "token_type"}
    analytics = schemas["LearningTimeAnalyticsResponse"]["properties"]
    assert {"totalLearningTime", "totalSessions", "avgSessionLength", "dailyBreakdown"} <= set(analytics)
    assert {"tenantId", "ttlSeconds"} <= set(schemas["IntegrationGrantRequest"]["properties"]) | {"tenantId"}


def test_security_schemes_and_requirements() -> None:
    schemes = SPEC["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    for _path, _method, op in OPS:
        security = op["security"]
        op_id = op["operationId"]
        if op_id in PUBLIC:
            assert security == [], op_id
        elif op_id in BEARER_ONLY:
            assert security == [{"bearerAuth": []}], op_id
        else:
            assert {"bearerAuth": []} in security, op_id
            keys = [alt["apiKeyAuth"] for alt in security if "apiKeyAuth" in alt]
            assert len(keys) == 1 and set(keys[0]) <= SCOPES, op_id
    scope = {
        op["operationId"]: next((a["apiKeyAuth"] for a in op["security"] if "apiKeyAuth" in a), None)
        for _, _, op in OPS
    }
    assert scope["createOrganization"] == ["organizations:write"]
    assert scope["listConversations"] == ["conversations:read"]
    assert scope["getLearningTimeAnalytics"] == ["conversations:read"]
    assert scope["searchKnowledgeBase"] == ["rag:read"] and scope["uploadKnowledgeBaseDocument"] == ["rag:write"]
    assert scope["startLiveSession"] == ["live:write"] and scope["getLiveQuota"] == ["live:read"]
    assert scope["submitXelTask"] == ["xel:write"] and scope["listXelModules"] == ["xel:read"]
    assert scope["grantIntegrationToken"] == ["integrations:write"]
    assert scope["verifyIntegrationToken"] == ["integrations:read"]


def _has_input(path: str, op: dict[str, Any]) -> bool:
    return "requestBody" in op or bool(op.get("parameters"))


def test_every_operation_documents_its_errors() -> None:
    for path, _method, op in OPS:
        responses = op["responses"]
        op_id = op["operationId"]
        protected = op["security"] != []
        if _has_input(path, op):
            assert "400" in responses, f"{op_id}: 400"
        if protected:
            assert "401" in responses, f"{op_id}: 401"
            unauthorized = resolve(responses["401"])
            assert "WWW-Authenticate" in unauthorized.get("headers", {}), op_id
        if any("apiKeyAuth" in alt for alt in op["security"]) or op.get("x-required-role"):
            assert "403" in responses, f"{op_id}: 403"
        if "403" in responses:
            examples = resolve(responses["403"])["content"]["application/json"]["examples"]
            scoped = any(alt.get("apiKeyAuth") for alt in op["security"])
            # the scope error is the example only where an API-key scope applies (issue 15)
            assert ("INSUFFICIENT_API_KEY_SCOPE" in examples) == scoped, op_id
            if scoped:
                assert (
                    examples["INSUFFICIENT_API_KEY_SCOPE"]["value"]["detail"]["error"] == "INSUFFICIENT_API_KEY_SCOPE"
                )
        assert resolve(responses["500"])["description"] == "An unexpected platform error occurred.", op_id
        if "{" in path:
            assert "404" in responses, f"{op_id}: 404"
        if protected:
            too_many = resolve(responses["429"])
            assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
                too_many["headers"]
            ), op_id
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                schema = resolve(response)["content"]["application/json"]["schema"]
                assert resolve(schema) is SPEC["components"]["schemas"]["Error"], f"{op_id} {code}"


def test_live_quota_example_on_live_start_and_heartbeat() -> None:
    for op_id in ("startLiveSession", "heartbeatLiveSession"):
        response = resolve(BY_ID[op_id][2]["responses"]["429"])
        example = response["content"]["application/json"]["examples"]["live_quota_exceeded"]["value"]
        assert example == {"detail": {"error": "live_quota_exceeded", "message": "Monthly Live session quota exceeded"}}


def test_creates_answer_201_and_deletes_204() -> None:
    for _path, method, op in OPS:
        codes = {c for c in op["responses"] if c.startswith("2")}
        if method == "delete":
            assert codes == {"204"}, op["operationId"]
        if op["summary"].startswith(("Create", "Register", "Add", "Upload", "Save")):
            assert codes == {"201"}, op["operationId"]


def test_login_is_a_form_and_upload_is_multipart() -> None:
    login = BY_ID["loginUser"][2]["requestBody"]["content"]
    assert list(login) == ["application/x-www-form-urlencoded"]
    assert {"username", "password"} <= set(resolve(login["application/x-www-form-urlencoded"]["schema"])["required"])
    upload = BY_ID["uploadKnowledgeBaseDocument"][2]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]


def test_links_name_real_operations_and_parameters() -> None:
    links = [
        (op["operationId"], name, link)
        for _, _, op in OPS
        for r in op["responses"].values()
        for name, link in resolve(r).get("links", {}).items()
    ]
    assert len(links) >= 20
    for source, name, link in links:
        assert link["operationId"] in BY_ID, f"{source}.{name}"
        path, _, target = BY_ID[link["operationId"]]
        names = {resolve(p)["name"] for p in target.get("parameters", [])}
        for param, expression in link.get("parameters", {}).items():
            assert param in names, f"{source}.{name}: {param} is not a parameter of {link['operationId']}"
            if expression.startswith("$response.body#/"):
                field = expression.removeprefix("$response.body#/")
                _, _, src = BY_ID[source]
                success = next(resolve(r) for c, r in src["responses"].items() if c.startswith("2"))
                schema = resolve(success["content"]["application/json"]["schema"])
                assert field in schema.get("required", []), f"{source}.{name}: {field} is not a required response field"
    sources = {source for source, _, _ in links}
    assert {
        "createConversation",
        "createNote",
        "createOrganization",
        "addOrganizationMember",
        "createApiKey",
        "startLiveSession",
        "startXelSession",
        "saveLiveTranscripts",
        "uploadKnowledgeBaseDocument",
    } <= sources


def test_servers_are_production_and_local_mock() -> None:
    assert [s["url"] for s in SPEC["servers"]] == ["https://my.xentree.com", "http://127.0.0.1:4010"]


def test_inferred_operations_say_so() -> None:
    inferred = [op for _, _, op in OPS if op["x-provenance"] == "inferred"]
    assert len(inferred) == 28
    unstated = {o["title"] for o in DOCUMENTED if o.get("method_stated") is False}
    assert unstated == {
        op["summary"] for op in inferred if "method" in op["description"] and "not stated" in op["description"]
    }


REDOCLY = ROOT / ".tools" / "node_modules" / ".bin" / "redocly"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the Redocly CLI lint cannot run")
@pytest.mark.skipif(
    not REDOCLY.exists(), reason="Redocly CLI not installed in .tools/ (make test installs it with npm)"
)
def test_redocly_lint_passes_with_zero_errors() -> None:
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    result = subprocess.run(
        [str(REDOCLY), "lint", str(SPEC_PATH), "--format", "stylish"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_schemathesis_toml_allows_exactly_the_rule_based_rejections_the_spec_declares() -> None:
    toml = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    configured = {
        entry["include-operation-id"]: entry["checks"]["positive_data_acceptance"]["expected-statuses"]
        for entry in toml.get("operations", [])
    }
    both = [*OPS, *SpecDoc(ROOT / "openapi" / "xp-ledger.yaml").operations()]  # the toml serves runs of either spec
    declared = {
        op["operationId"]: op["x-valid-input-rejected-with"] for _, _, op in both if "x-valid-input-rejected-with" in op
    }
    assert set(configured) == set(declared) and declared
    for operation_id, statuses in declared.items():
        assert {str(s) for s in statuses} <= set(configured[operation_id]), operation_id


# provenance at field level, both ways, against fixtures/documented-fields.json (issue 15) -----------------------------
FIELDS = json.loads((ROOT / "fixtures" / "documented-fields.json").read_text())
_constraints = DOC.constraints


def test_documented_properties_are_not_marked_and_their_inferred_keywords_are_listed() -> None:
    problems, checked = DOC.documented_field_problems(FIELDS["schemas"])
    assert problems == []
    assert checked >= 60


def test_undocumented_properties_are_marked_inferred() -> None:
    assert DOC.undocumented_field_problems(FIELDS["schemas"])[0] == []


def test_parameters_are_marked_by_the_docs() -> None:
    for path, _method, op in OPS:
        for param in map(resolve, op.get("parameters", [])):
            name, schema = param["name"], param["schema"]
            path_stated = op["x-provenance"] == "documented" or op["operationId"] in FIELDS["method_unstated"]
            stated_here = "{" + name + "}" in path or name in FIELDS["query_parameters"].get(op["operationId"], [])
            documented = path_stated and stated_here
            if not documented:
                assert param.get("x-provenance") == "inferred", f"{op['operationId']}: {name}"
                continue
            assert param.get("x-provenance") != "inferred", f"{op['operationId']}: {name}"
            unstated = _constraints(schema) - set(FIELDS["parameters"][name])
            assert unstated <= set(schema.get("x-inferred", [])), f"{op['operationId']}: {name} {sorted(unstated)}"


def _marks(node: dict[str, Any]) -> list[str | None]:
    marks = [node.get("x-provenance")]
    if "$ref" in node:
        marks.append(resolve(node).get("x-provenance"))
    return marks


def test_statuses_the_docs_do_not_list_are_marked_inferred() -> None:
    for _path, _method, op in OPS:
        for code, response in op["responses"].items():
            if code not in FIELDS["statuses"]:
                assert "inferred" in _marks(response), f"{op['operationId']} {code}"
    live = resolve(BY_ID["startLiveSession"][2]["responses"]["429"])
    assert live["x-provenance"] == "inferred"  # the docs give live_quota_exceeded's payload, not its status
    assert live["content"]["application/json"]["examples"]["live_quota_exceeded"]["x-provenance"] == "documented"


def test_error_examples_are_marked_by_their_code() -> None:
    seen = set()
    for name, response in SPEC["components"]["responses"].items():
        for key, example in response.get("content", {}).get("application/json", {}).get("examples", {}).items():
            code = example["value"]["detail"]["error"]
            seen.add(code)
            expected = "documented" if code in FIELDS["error_codes"] else "inferred"
            assert example.get("x-provenance") == expected, f"{name}.{key}: {code}"
    assert {"validation_error", "not_authenticated", "not_found", *FIELDS["error_codes"]} <= seen


def test_response_headers_the_docs_do_not_state_are_marked() -> None:
    for name, header in SPEC["components"]["headers"].items():
        assert (header.get("x-provenance") == "inferred") == (name not in FIELDS["headers"]), name


def test_api_key_scopes_are_marked_by_the_docs() -> None:
    with_scope = 0
    for _path, _method, op in OPS:
        scopes = [alt["apiKeyAuth"] for alt in op["security"] if alt.get("apiKeyAuth")]
        if not scopes:
            assert "x-scope-provenance" not in op, op["operationId"]
            continue
        with_scope += 1
        documented = FIELDS["scopes"].get(op["operationId"]) == scopes[0][0]
        assert (op.get("x-scope-provenance") == "inferred") != documented, op["operationId"]
    inferred = {op["operationId"] for _, _, op in OPS if op.get("x-scope-provenance") == "inferred"}
    assert {"startXelModule", "getXelXpi", "listXelTranscripts", "saveXelTranscript"} <= inferred
    assert with_scope == len(FIELDS["scopes"]) + len(inferred)


def test_health_operations_do_not_cite_the_errors_page() -> None:
    for op_id in ("getHealth", "getDetailedHealth"):
        assert "errors-and-limits" not in BY_ID[op_id][2]["x-docs"]


# shapes for code generators (issue 15) --------------------------------------------------------------------------------
def _inline_objects(node: Any, where: str) -> list[str]:
    """Object schemas written inline (not a `$ref`) anywhere under `node`."""
    found = []
    for at, sub in walk(node, where):
        if "$ref" in sub or "/examples" in at or at.endswith("/example"):
            continue
        if sub.get("type") == "object" or "properties" in sub:
            found.append(at)
    return found


def test_no_operation_has_an_anonymous_object_schema() -> None:
    anonymous = [found for path, method, op in OPS for found in _inline_objects(op, f"{method} {path}")]
    assert anonymous == []


def test_no_component_nests_an_anonymous_object() -> None:
    nested = []
    for name, schema in SPEC["components"]["schemas"].items():
        top = {k: v for k, v in schema.items() if k not in ("examples",)}
        nested += [at for at in _inline_objects(top, name) if at != name]
    assert nested == []


def test_path_parameters_used_twice_or_more_are_shared() -> None:
    uses: dict[str, int] = {}
    for _path, _method, op in OPS:
        for param in op.get("parameters", []):
            if "$ref" not in param and param["in"] == "path":
                uses[param["name"]] = uses.get(param["name"], 0) + 1
    assert {name: n for name, n in uses.items() if n > 1} == {}
    shared = SPEC["components"]["parameters"]
    assert {"OrgId", "ConversationId", "ModuleId", "TargetUserId", "NoteId"} <= set(shared)


def test_shared_enums_are_not_copied() -> None:
    shared = {tuple(s["enum"]) for s in SPEC["components"]["schemas"].values() if "enum" in s}
    assert {("reading", "writing", "listening", "speaking"), ("A1", "A2", "B1", "B2", "C1", "C2")} <= shared
    copies = [at for at, node in walk(SPEC) if isinstance(node.get("enum"), list) and tuple(node["enum"]) in shared]
    assert all(at.startswith("#/components/schemas/") and at.count("/") == 3 for at in copies), copies


def test_object_unions_have_a_discriminator_or_a_reason() -> None:
    for where, node in walk(SPEC):
        for combinator in ("oneOf", "anyOf"):
            branches = [resolve(b) for b in node.get(combinator, [])]
            objects = [b for b in branches if b.get("type") == "object" or "required" in b]
            if len(objects) >= 2 and "/examples" not in where:  # not `X or null`
                assert "discriminator" in node or node.get("x-no-discriminator-reason"), where


def test_simple_responses_are_used() -> None:
    text = json.dumps(SPEC)
    for name in ("SimpleDetailResponse", "SimpleMessageResponse"):
        assert f"#/components/schemas/{name}" in text, name


def test_x_since_follows_the_two_docs_navigations() -> None:
    """x-since: 2026-04-23 for what the older navigation (seed 000) lists, 2026-04-30 for what only the newest lists."""
    old = json.loads((ROOT / "fixtures" / "docs-nav-2026-04-23.json").read_text())
    assert (len(old["operations"]), len(old["schemas"])) == (45, 29)
    assert {o["group"] for o in old["operations"]} - {o["group"] for o in NAV["operations"]} == {"Integrations"}
    titles = {o["title"] for o in old["operations"]}
    assert titles <= {o["title"] for o in NAV["operations"]} and set(old["schemas"]) <= set(NAV["schemas"])
    since = {op["summary"]: op["x-since"] for _, _, op in OPS}
    assert {t for t, v in since.items() if v == old["version"]} == titles
    assert sum(v == old["newest_version"] for v in since.values()) == 36
    for _, _, op in OPS:
        assert f"In the docs since {op['x-since']}" in op["description"], op["operationId"]  # shown in the docs UI
    schemas = SPEC["components"]["schemas"]
    assert {n for n, s in schemas.items() if s["x-since"] == old["version"]} == set(old["schemas"])
    added = set(NAV["schemas"]) - set(old["schemas"])
    assert len(added) == 58 and all(schemas[n]["x-since"] == old["newest_version"] for n in added)
