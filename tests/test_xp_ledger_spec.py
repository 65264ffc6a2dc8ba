"""The XP ledger spec: valid, true to the documented operations, and consistent in its errors, security and links."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.specs import ROOT, SpecDoc, walk

SPEC_PATH = ROOT / "openapi" / "xp-ledger.yaml"
DOC = SpecDoc(SPEC_PATH)
SPEC: dict[str, Any] = DOC.doc
operations, resolve, _validator = DOC.operations, DOC.resolve, DOC.validator
FACTS = json.loads((ROOT / "fixtures" / "xp-ledger-documented.json").read_text())
DOCUMENTED = FACTS["operations"]
TOKEN_PATH = "/auth/1.0/token"
# Error responses each operation must describe: the documented ones (fixture) plus the inferred ones the mock answers.
REQUIRED_ERRORS = {
    "issueAccessToken": {"400", "401", "415", "429"},
    "sendCaliperEvents": {"400", "401", "403", "413", "415", "429"},
    "listUserXpEntries": {"400", "401", "403", "404", "429"},
}


OPS = operations()
BY_ID = {op["operationId"]: (path, m, op) for path, m, op in OPS}
BY_ROUTE = {(m.upper(), path): op for path, m, op in OPS}


def _component(name: str) -> Draft202012Validator:
    return _validator({"$ref": f"#/components/schemas/{name}"})


def _errors(validator: Draft202012Validator, value: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


# --- validity -------------------------------------------------------------------------------------------------------


def test_spec_validates_with_openapi_spec_validator() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_every_ref_resolves() -> None:
    refs = [node["$ref"] for _, node in walk(SPEC) if isinstance(node.get("$ref"), str)]
    assert len(refs) > 50
    assert DOC.unresolved_refs() == []
    mapping = SPEC["components"]["schemas"]["CaliperEvent"]["discriminator"]["mapping"]
    for ref in mapping.values():
        resolve({"$ref": ref})


def test_every_example_validates_against_its_schema() -> None:
    assert len(DOC.examples()) > 60
    problems = DOC.example_problems()
    assert not problems, "\n".join(problems[:20])


def test_every_error_response_has_an_example() -> None:
    for name, response in SPEC["components"]["responses"].items():
        assert response["content"]["application/json"]["examples"], name


# --- the documented surface -----------------------------------------------------------------------------------------


def test_documented_paths_and_methods_match_the_facts() -> None:
    documented = {(o["method"], o["path"]) for o in DOCUMENTED}
    assert len(documented) == 3
    assert set(BY_ROUTE) == documented
    assert all(op["x-provenance"] == "documented" for op in BY_ROUTE.values())


@pytest.mark.parametrize("fact", DOCUMENTED, ids=lambda o: f"{o['method']} {o['path']}")
def test_documented_parameters_match_the_facts(fact: dict[str, Any]) -> None:
    op = BY_ROUTE[(fact["method"], fact["path"])]
    params = [resolve(p) for p in op.get("parameters", [])]
    assert sorted(p["name"] for p in params if p["in"] == "path") == sorted(fact["path_params"])
    assert sorted(p["name"] for p in params if p["in"] == "query") == sorted(fact["query_params"])
    assert all(p["required"] is False for p in params if p["in"] == "query")
    by_name = {p["name"]: p for p in params}
    for name, default in fact.get("query_defaults", {}).items():
        assert by_name[name]["schema"]["default"] == default, name
    for name, maximum in fact.get("query_maximums", {}).items():
        assert by_name[name]["schema"]["maximum"] == maximum, name
    assert op["x-docs"] == fact["docs"]
    if fact["content_types"]:
        assert sorted(op["requestBody"]["content"]) == sorted(fact["content_types"])
        assert op["requestBody"]["required"] is True
    else:
        assert "requestBody" not in op
    assert {c for c in op["responses"] if c.startswith("2")} == set(fact["success"])


def test_date_and_paging_parameters() -> None:
    params = {p["name"]: p["schema"] for p in BY_ID["listUserXpEntries"][2]["parameters"]}
    for name in ("startDate", "after", "endDate", "before"):
        assert params[name] == {**params[name], "type": "string", "format": "date-time"}, name
    assert params["limit"] == {**params["limit"], "type": "integer", "minimum": 1, "maximum": 100, "default": 50}
    assert params["offset"] == {**params["offset"], "type": "integer", "minimum": 0, "default": 0}
    assert params["userId"]["format"] == "uuid"


def test_every_operation_is_described_and_documents_its_errors() -> None:
    ids = [op["operationId"] for _, _, op in OPS]
    assert sorted(ids) == sorted(REQUIRED_ERRORS)
    tags = {t["name"] for t in SPEC["tags"]}
    facts = {(o["method"], o["path"]): o for o in DOCUMENTED}
    for path, method, op in OPS:
        op_id = op["operationId"]
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]+", op_id), op_id
        assert op["summary"] and len(op["description"]) > 100, op_id
        assert len(op["tags"]) == 1 and op["tags"][0] in tags, op_id
        assert op["x-provenance"] in ("documented", "inferred"), op_id
        assert op["x-docs"].startswith("https://"), op_id
        codes = set(op["responses"])
        documented_errors = set(facts[(method.upper(), path)]["documented_errors"])
        assert documented_errors <= codes, f"{op_id}: documented errors {documented_errors - codes}"
        assert REQUIRED_ERRORS[op_id] <= codes, f"{op_id}: {REQUIRED_ERRORS[op_id] - codes}"
        assert "500" in codes, f"{op_id}: every operation declares 500 (issue 15)"
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                response = resolve(response)
                schema = response["content"]["application/json"]["schema"]
                assert resolve(schema) is SPEC["components"]["schemas"]["Error"], f"{op_id} {code}"
                assert response["content"]["application/json"]["examples"], f"{op_id} {code}"
        assert "Retry-After" in resolve(op["responses"]["429"])["headers"], op_id
        challenge = resolve(op["responses"]["401"])["headers"]["WWW-Authenticate"]
        expected = "Basic" if path == TOKEN_PATH else "Bearer"
        assert resolve(challenge)["schema"]["pattern"] == f"^{expected}", op_id


def test_documented_error_codes_have_examples() -> None:
    def codes(op_id: str, status: str) -> set[str]:
        examples = resolve(BY_ID[op_id][2]["responses"][status])["content"]["application/json"]["examples"]
        return {ex["value"]["error"] for ex in examples.values()}

    assert codes("issueAccessToken", "401") == {"invalid_client"}
    assert {"invalid_request", "unsupported_grant_type", "invalid_scope"} <= codes("issueAccessToken", "400")
    assert codes("listUserXpEntries", "403") == {"insufficient_scope"}
    assert codes("listUserXpEntries", "404") == {"not_found"}
    for op_id in ("sendCaliperEvents", "listUserXpEntries"):
        examples = resolve(BY_ID[op_id][2]["responses"]["400"])["content"]["application/json"]["examples"]
        assert all(ex["value"]["issues"] for ex in examples.values()), op_id  # 400s say which field is wrong
    assert SPEC["components"]["schemas"]["Error"]["required"] == ["error"]  # the documented `{"error": "..."}`


# --- security -------------------------------------------------------------------------------------------------------


def test_security_schemes_and_requirements() -> None:
    schemes = SPEC["components"]["securitySchemes"]
    flow = schemes["oauth2"]["flows"]["clientCredentials"]
    assert schemes["oauth2"]["type"] == "oauth2" and list(schemes["oauth2"]["flows"]) == ["clientCredentials"]
    assert flow["tokenUrl"] == TOKEN_PATH and TOKEN_PATH in SPEC["paths"]
    assert sorted(flow["scopes"]) == sorted(FACTS["scopes"])
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}
    assert BY_ID["issueAccessToken"][2]["security"] == [{"basicAuth": []}, {}]
    for fact in DOCUMENTED:
        op = BY_ROUTE[(fact["method"], fact["path"])]
        if fact["scope"]:
            assert op["security"] == [{"oauth2": [fact["scope"]]}], op["operationId"]


def test_token_request_and_response() -> None:
    fact = next(o for o in DOCUMENTED if o["path"] == TOKEN_PATH)
    content = BY_ID["issueAccessToken"][2]["requestBody"]["content"]
    for media in content.values():
        schema = resolve(media["schema"])
        assert sorted(schema["properties"]) == sorted(fact["body_fields"])
        assert schema["properties"]["grant_type"]["enum"] == ["client_credentials"]
    request = _component("TokenRequest")
    assert not _errors(request, {"grant_type": "client_credentials", "scope": "events.readonly events.write"})
    assert _errors(request, {"grant_type": "client_credentials", "client_id": "abc"})  # secret goes with the id
    assert _errors(request, {"grant_type": "client_credentials", "scope": "events.readonly  events.write"})
    assert _errors(request, {"grant_type": "password"})
    response = SPEC["components"]["schemas"]["TokenResponse"]
    assert set(response["required"]) == {"access_token", "token_type", "expires_in"}
    assert "Bearer" in response["properties"]["token_type"]["enum"]


# --- schemas --------------------------------------------------------------------------------------------------------


def test_caliper_event_types_and_actions_are_the_documented_ones() -> None:
    fact = next(o for o in DOCUMENTED if o["path"] == "/events/1.0/")
    event = SPEC["components"]["schemas"]["CaliperEvent"]
    variants = [resolve(v) for v in event["oneOf"]]
    found = {v["properties"]["type"]["const"]: sorted(v["properties"]["action"]["enum"]) for v in variants}
    assert found == {t: sorted(actions) for t, actions in fact["event_types"].items()}
    assert sorted(event["discriminator"]["mapping"]) == sorted(fact["event_types"])
    common = {"@context", "id", "type", "actor", "action", "object"}
    assert all(common <= set(v["required"]) for v in variants)
    grade = SPEC["components"]["schemas"]["GradeEvent"]
    assert "generated" in grade["required"]
    assert resolve(grade["properties"]["actor"])["properties"]["type"]["const"] == "SoftwareApplication"
    assert "XP" in SPEC["components"]["schemas"]["ScoreType"]["enum"]
    assert "scoreGiven" in SPEC["components"]["schemas"]["CaliperScore"]["required"]
    payload = SPEC["components"]["schemas"]["CaliperPayload"]
    assert [v["$ref"].rsplit("/", 1)[1] for v in payload["oneOf"]] == ["CaliperEvent", "CaliperEnvelope"]


def test_caliper_payload_rules() -> None:
    payload = _component("CaliperPayload")
    content = BY_ID["sendCaliperEvents"][2]["requestBody"]["content"]["application/json"]["examples"]
    envelope = content["xp_grade_event_envelope"]["value"]
    bare = content["bare_xp_grade_event"]["value"]
    assert not _errors(payload, envelope) and not _errors(payload, bare)
    assert _errors(payload, {**bare, "id": "6f1c2b9e-3d4a-5b6c-8d7e-9f0a1b2c3d4e"})  # not a urn:uuid
    assert _errors(payload, {**bare, "action": "Viewed"})
    assert _errors(payload, {**bare, "type": "NavigationEvent"})
    assert _errors(payload, {**bare, "@context": "http://www.w3.org/ns/activitystreams"})
    assert _errors(payload, {k: v for k, v in bare.items() if k != "generated"})
    assert _errors(payload, {**envelope, "data": []})
    score = {k: v for k, v in bare["generated"].items() if k != "scoreGiven"}
    assert _errors(payload, {**bare, "generated": score})
    session = content["session_logged_in"]["value"]
    assert not _errors(payload, session)
    app_actor = {"id": "urn:uuid:0f6a2c1e-8b3d-4e5f-9a7b-1c2d3e4f5a6b", "type": "SoftwareApplication"}
    assert _errors(payload, {**session, "actor": app_actor})  # LoggedIn is a Person's action
    assert not _errors(payload, {**session, "action": "TimedOut", "actor": app_actor})


def test_xp_entry_accepts_both_documented_shapes() -> None:
    fact = next(o for o in DOCUMENTED if o["path"].startswith("/xp/"))
    entry = SPEC["components"]["schemas"]["XpEntry"]
    assert set(fact["entry_fields"]) <= set(entry["properties"])
    assert {"sourceEvent", "curriculumItemId"} <= set(entry["properties"])  # the platform.timeback.com shape
    # field-level marks: every field is named by one docs version, so the schema is not inferred as a whole; the
    # Partner fields' guessed nullability is listed in x-inferred
    assert "x-provenance" not in entry
    assert entry["properties"]["subject"]["x-inferred"] == ["nullable"]
    assert SPEC["components"]["schemas"]["XpEntryPage"]["required"] == fact["page_fields"]
    examples = resolve(BY_ID["listUserXpEntries"][2]["responses"]["200"])["content"]["application/json"]["examples"]
    page = _component("XpEntryPage")
    documented = examples["documented"]["value"]
    assert not _errors(page, documented) and not _errors(page, examples["platform_shape"]["value"])
    one = documented["entries"][0]
    validator = _component("XpEntry")
    assert not _errors(validator, {**one, "id": 12345})  # "string or integer"
    assert not _errors(validator, {**one, "value": -3.5})  # signed values (platform model)
    assert _errors(validator, {**one, "id": 1.5})
    assert _errors(validator, {**one, "dateGenerated": "15/01/2026"})
    assert _errors(validator, {k: v for k, v in one.items() if k != "sourceEventId"})


def test_object_schemas_have_required_lists_and_typed_properties() -> None:
    for name, schema in SPEC["components"]["schemas"].items():
        assert "type" in schema or "oneOf" in schema, name
        if schema.get("type") == "object" and name not in ("CaliperExtensions", "GradeEventExtensions"):
            assert schema.get("required"), f"{name} has no required list"
        for prop, sub in schema.get("properties", {}).items():
            sub = resolve(sub)
            assert any(k in sub for k in ("type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum")), f"{name}.{prop}"


def test_conventions() -> None:
    marks = [node["x-provenance"] for _, node in walk(SPEC) if "x-provenance" in node]
    assert set(marks) == {"documented", "inferred"} and marks.count("inferred") >= 30
    for where, node in walk(SPEC):
        assert node.get("additionalProperties") is not False, where
        assert "nullable" not in node or not isinstance(node["nullable"], bool), f"{where}: use type [x, 'null']"
    inferred = {"EventAcknowledgement", "CaliperScore", "GradeAttempt", "ScoreType", "CaliperEntity"}
    assert all(SPEC["components"]["schemas"][n]["x-provenance"] == "inferred" for n in inferred)
    for name in ("InvalidTokenRequest", "InvalidEvent", "Unauthorized", "Forbidden"):
        assert SPEC["components"]["responses"][name]["x-provenance"] == "inferred", name
    entry = SPEC["components"]["schemas"]["XpEntry"]["properties"]
    assert entry["subject"]["type"] == ["string", "null"] and entry["curriculumItemId"]["type"] == ["string", "null"]


# --- provenance at field level, both ways, against fixtures/xp-ledger-documented-fields.json ------------------------
FIELDS = json.loads((ROOT / "fixtures" / "xp-ledger-documented-fields.json").read_text())


def test_documented_ledger_properties_are_not_marked_and_their_inferred_keywords_are_listed() -> None:
    problems, checked = DOC.documented_field_problems(FIELDS["schemas"])
    assert problems == []
    assert checked >= 60
    schemas = SPEC["components"]["schemas"]
    for name, stated in FIELDS["shared_schemas"].items():  # the shared strings events refer to
        assert DOC.constraints(schemas[name]) - set(stated) == set(schemas[name].get("x-inferred", [])), name


def test_undocumented_ledger_properties_are_marked_inferred() -> None:
    problems, marked = DOC.undocumented_field_problems(FIELDS["schemas"])
    assert problems == []
    assert marked >= 20  # eventTime, edApp, extensions and profile of six event types, the token's scope, ...


def test_ledger_schema_names_of_ours_are_marked() -> None:
    for name, schema in SPEC["components"]["schemas"].items():
        ours = "inferred" in (schema.get("x-provenance"), schema.get("x-name-provenance"))
        assert ours == (name not in FIELDS["schema_names"]), name
        if name in FIELDS["schema_names"]:
            assert "x-name-provenance" not in schema, name


def test_ledger_parameters_are_marked_by_the_docs() -> None:
    for _path, _method, op in OPS:
        for param in map(resolve, op.get("parameters", [])):
            name, schema = param["name"], param["schema"]
            assert param.get("x-provenance") != "inferred" and name in FIELDS["parameters"], name
            unstated = DOC.constraints(schema) - set(FIELDS["parameters"][name])
            assert unstated == set(schema.get("x-inferred", [])), f"{name}: {sorted(unstated)}"


def _marks(node: dict[str, Any]) -> list[str | None]:
    return [node.get("x-provenance"), resolve(node).get("x-provenance")]


def test_ledger_statuses_are_marked_by_the_docs() -> None:
    for fact in DOCUMENTED:
        op = BY_ROUTE[(fact["method"], fact["path"])]
        documented = {*fact["success"], *fact["documented_errors"]}
        for code, response in op["responses"].items():
            inferred = "inferred" in _marks(response)
            assert inferred == (code not in documented), f"{op['operationId']} {code}"


def test_ledger_scopes_and_headers_are_marked_by_the_docs() -> None:
    for _path, _method, op in OPS:
        scopes = [s for alt in op["security"] for s in alt.get("oauth2", [])]
        documented = FIELDS["scopes"].get(op["operationId"])
        assert scopes == ([documented] if documented else []), op["operationId"]
        assert "x-scope-provenance" not in op, op["operationId"]  # both scopes are the docs'
    for name, header in SPEC["components"]["headers"].items():
        assert (header.get("x-provenance") == "inferred") == (name not in FIELDS["headers"]), name


# --- links and servers ----------------------------------------------------------------------------------------------


def _pointer_is_required(schema: dict[str, Any], pointer: str) -> bool:
    for part in pointer.strip("/").split("/"):
        schema = resolve(schema)
        if part.isdigit():
            schema = schema["items"]
            continue
        if part not in schema.get("required", []):
            return False
        schema = schema["properties"][part]
    return True


def test_links_name_real_operations_and_parameters() -> None:
    links = [
        (op["operationId"], code, name, link)
        for _, _, op in OPS
        for code, r in op["responses"].items()
        for name, link in resolve(r).get("links", {}).items()
    ]
    assert {(source, target["operationId"]) for source, _, _, target in links} >= {
        ("sendCaliperEvents", "listUserXpEntries")
    }
    for source, code, name, link in links:
        assert link["operationId"] in BY_ID, f"{source}.{name}"
        target = BY_ID[link["operationId"]][2]
        names = {p["name"] for p in target.get("parameters", [])}
        for param, expression in link["parameters"].items():
            assert param in names, f"{source}.{name}: {param}"
            if expression.startswith("$response.body#"):
                response = resolve(BY_ID[source][2]["responses"][code])
                schema = response["content"]["application/json"]["schema"]
                pointer = expression.removeprefix("$response.body#")
                assert _pointer_is_required(schema, pointer), f"{source}.{name}: {pointer} is not always present"


def test_servers_are_production_and_local_mock() -> None:
    assert [s["url"] for s in SPEC["servers"]] == [FACTS["base_url"], "http://127.0.0.1:4010"]
    assert "xentree-mock serve --api xp-ledger" in SPEC["servers"][1]["description"]


# --- generation -----------------------------------------------------------------------------------------------------


def test_schemathesis_generates_valid_xp_grade_events() -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings

    operation = schemathesis.openapi.from_path(str(SPEC_PATH))["/events/1.0/"]["POST"]
    payload = _component("CaliperPayload")
    seen: dict[str, int] = {}
    invalid: list[str] = []

    @settings(
        max_examples=80,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy())
    def check(case: Any) -> None:
        invalid.extend(_errors(payload, case.body))
        for event in case.body.get("data", [case.body]):
            seen[event["type"]] = seen.get(event["type"], 0) + 1
            if event["type"] == "GradeEvent":
                score = event["generated"]
                extensions = score.get("extensions")
                placed = extensions.get("scoreType") if isinstance(extensions, dict) else None
                if (placed or score.get("scoreType")) == "XP":
                    seen["xp"] = seen.get("xp", 0) + 1

    check()
    assert not invalid, invalid[:5]
    assert seen.get("GradeEvent", 0) > 0 and seen.get("xp", 0) > 0, seen


# --- independent lint -----------------------------------------------------------------------------------------------

REDOCLY = ROOT / ".tools" / "node_modules" / ".bin" / "redocly"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the Redocly CLI lint cannot run")
@pytest.mark.skipif(
    not REDOCLY.exists(), reason="Redocly CLI not installed in .tools/ (make test installs it with npm)"
)
def test_redocly_lint_passes_with_zero_errors() -> None:
    # The one rule skipped: the ingestion path is documented with its trailing slash (`POST /events/1.0/`), which
    # Redocly's recommended `no-path-trailing-slash` rule flags. Every other recommended rule applies.
    assert "/events/1.0/" in SPEC["paths"]
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    cmd = [str(REDOCLY), "lint", str(SPEC_PATH), "--format", "stylish", "--skip-rule", "no-path-trailing-slash"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " error " not in result.stdout and " warning " not in result.stdout, result.stdout[-4000:]
