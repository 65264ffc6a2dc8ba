"""The contract suite's building blocks without a server: the spec view, the rule functions, options, curl, outages
and selection (reports: tests/test_contract_reports.py)."""

from __future__ import annotations

import copy
import gc
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from schemathesis.engine import StopReason

from contract_tests import checks, cli, outage, properties
from contract_tests.auth import Principal
from contract_tests.http import Exchange, Pacer, retry_after_seconds
from contract_tests.options import RunOptions, UsageError
from contract_tests.results import (
    FAILED,
    SKIPPED,
    Finding,
    OperationResult,
)
from contract_tests.runner import choose, safety_skip
from contract_tests.spec import DESTRUCTIVE_KINDS, ApiSpec
from mock_server.resources import spec_path

SPEC = ApiSpec.load(spec_path())
ERROR = b'{"detail":{"error":"not_authenticated","message":"Authentication is missing or invalid"}}'


# the spec view -----------------------------------------------------------------------------------------------------
def test_spec_view_knows_security_scopes_and_safety() -> None:
    ops = SPEC.by_id
    assert len(SPEC.operations) == len({op.operation_id for op in SPEC.operations}) >= 80
    assert ops["getPublicXpProfile"].public and not ops["getCurrentUser"].public
    assert ops["listConversations"].api_key_scopes == ("conversations:read",)
    assert ops["listApiKeys"].accepts_bearer and not ops["listApiKeys"].accepts_api_key
    assert ops["getXpProfile"].accepts_api_key and ops["getXpProfile"].api_key_scopes == ()
    assert ops["deleteNote"].destructive and ops["logoutUser"].destructive and not ops["listNotes"].destructive
    assert ops["listIntegrationTokenRevocations"].admin_only
    assert ops["getPublicXpProfile"].provenance == "documented" and ops["registerUser"].provenance == "inferred"
    assert ops["getHealth"].documents(200) and ops["getHealth"].documents(500)  # issue 15: 500 on every operation
    assert not ops["getHealth"].documents(404)
    assert checks.is_privacy_operation(ops["getPublicXpProfile"])
    assert not checks.is_privacy_operation(ops["getHealth"])


def test_the_safety_lists_are_read_from_the_specs_x_destructive_marker() -> None:
    kinds = {op.operation_id: op.destructive_kind for op in SPEC.operations if op.destructive_kind}
    assert kinds == {
        "logoutUser": "account",
        "updateCurrentUser": "account",
        "updateLiveNickname": "account",
        "rotateIntegrationToken": "shared-state",
        "revokeIntegrationToken": "shared-state",
        "rebuildSearchIndex": "shared-state",
    }
    ledger = ApiSpec.load(spec_path("xp-ledger"))
    assert {op.operation_id: op.destructive_kind for op in ledger.operations if op.destructive_kind} == {
        "sendCaliperEvents": "irreversible"
    }
    assert all(op.destructive for op in SPEC.operations if op.destructive_kind)
    assert SPEC.by_id["updateCurrentUser"].changes_account and not SPEC.by_id["rebuildSearchIndex"].changes_account
    assert ledger.by_id["sendCaliperEvents"].irreversible and not SPEC.by_id["deleteNote"].irreversible
    for spec in (SPEC, ledger):  # every marker names a kind the suite knows (a typo must not pass as destructive)
        assert {op.destructive_kind for op in spec.operations if op.destructive_kind} <= set(DESTRUCTIVE_KINDS)


def test_security_schemes_are_known_by_type_and_header_not_by_name(tmp_path: Path) -> None:
    document = copy.deepcopy(SPEC.document)
    schemes = document["components"]["securitySchemes"]
    schemes["keyInHeader"] = {**schemes.pop("apiKeyAuth"), "name": "X-Other-Key"}
    schemes["jwt"] = schemes.pop("bearerAuth")
    renames = {"apiKeyAuth": "keyInHeader", "bearerAuth": "jwt"}
    schemes["keyInQuery"] = {"type": "apiKey", "in": "query", "name": "key"}  # not a header: never sent as one
    for item in document["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and "security" in op:
                op["security"] = [
                    {renames.get(name, name): scopes for name, scopes in alt.items()} for alt in op["security"]
                ]
    document["security"] = [{renames.get(n, n): v for n, v in alt.items()} for alt in document.get("security", [])]
    document["paths"]["/api/health"]["get"]["security"] = [{"keyInQuery": []}]
    path = tmp_path / "renamed.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    renamed = ApiSpec.load(path)
    listing = renamed.by_id["listConversations"]
    assert listing.accepts_api_key and listing.api_key_scopes == ("conversations:read",)
    assert renamed.api_key_header == listing.api_key_header == "X-Other-Key"
    assert not renamed.by_id["listApiKeys"].accepts_api_key and not renamed.by_id["getHealth"].accepts_api_key
    assert renamed.by_id["listApiKeys"].accepts_bearer and listing.accepts_bearer
    assert Principal("bearer", token="t").headers_for(listing) == {"Authorization": "Bearer t"}
    assert Principal("api_key", api_key="k").headers_for(listing) == {"X-Other-Key": "k"}
    assert SPEC.api_key_header == "X-API-Key"


def test_example_bodies_satisfy_the_request_schemas() -> None:
    """Scenarios send these bodies as 'valid requests': they must really be valid."""
    for op in SPEC.operations:
        found = SPEC.request_media(op)
        if found is None or found[0] != "application/json":
            continue
        body = SPEC.example_body(op)
        errors = list(Draft202012Validator(SPEC.resolve(found[1]["schema"])).iter_errors(body))
        assert not errors, f"{op.operation_id}: {errors[0].message}"


def test_declared_rate_limit_headers_come_from_the_spec() -> None:
    headers = SPEC.declared_headers(SPEC.by_id["startLiveSession"], 429, "TooManyRequests")
    assert {"retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(headers)


# rule functions ----------------------------------------------------------------------------------------------------
def test_auth_error_rule() -> None:
    good = {"www-authenticate": "Bearer"}
    assert checks.auth_error_problems(SPEC, 401, good, ERROR) == []
    assert checks.auth_error_problems(SPEC, 200, {}, b"{}") == []
    assert checks.auth_error_problems(SPEC, 403, {}, ERROR) == []  # no WWW-Authenticate needed on 403
    missing = checks.auth_error_problems(SPEC, 401, {}, ERROR)
    assert missing == ["401 response has no WWW-Authenticate header (the spec requires it, e.g. `Bearer`)"]
    shape = checks.auth_error_problems(SPEC, 403, {}, b'{"detail":"Forbidden"}')
    assert shape and "Error shape at detail" in shape[0]
    assert "not JSON" in checks.auth_error_problems(SPEC, 401, good, b"<html>nope</html>")[0]


def test_rate_limit_rule() -> None:
    op = SPEC.by_id["getHealth"]
    full = {"retry-after": "3", "ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "3"}
    assert checks.rate_limit_problems(SPEC, op, 429, full) == []
    assert checks.rate_limit_problems(SPEC, op, 200, {}) == []
    no_retry = {k: v for k, v in full.items() if k != "retry-after"}
    assert checks.rate_limit_problems(SPEC, op, 429, no_retry) == ["429 response has no Retry-After header"]
    assert "unreadable Retry-After" in checks.rate_limit_problems(SPEC, op, 429, {**full, "retry-after": "soon"})[0]
    assert "RateLimit-Remaining" in checks.rate_limit_problems(SPEC, op, 429, {**full, "ratelimit-remaining": "-1"})[0]
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0 and retry_after_seconds("7") == 7.0


def test_privacy_rule() -> None:
    clean = {
        "username": "jane.doe",
        "display_name": "Jane",
        "level": 2,
        "total_xp": 10,
        "current_streak": 0,
        "longest_streak": 1,
        "joined": "2026-01-01",
    }
    assert checks.privacy_problems(json.dumps(clean)) == []
    assert any("email address" in p for p in checks.privacy_problems({**clean, "display_name": "jane@x.example"}))
    assert any("private field '/email'" in p for p in checks.privacy_problems({**clean, "email": "j@x.example"}))
    assert any("'/user_id'" in p for p in checks.privacy_problems({**clean, "user_id": "abc"}))
    assert any("token" in p for p in checks.privacy_problems({**clean, "display_name": "eyJhbGciOi.eyJzdWIiOi.sig"}))
    secret_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    assert checks.privacy_problems({**clean, "display_name": f"Jane {secret_id}"}, (secret_id,))


# options, selection, curl ------------------------------------------------------------------------------------------
def test_options_are_validated() -> None:
    with pytest.raises(UsageError, match="--base-url"):
        RunOptions().validate()
    with pytest.raises(UsageError, match="unknown phase"):
        RunOptions(base_url="http://x", phases=("fuzzing", "chaos")).validate()
    with pytest.raises(UsageError, match="go together"):
        RunOptions(base_url="http://x", username="a").validate()
    with pytest.raises(ValueError, match="rate-limit"):
        Pacer("lots")
    assert Pacer("120/m").interval == 0.5 and Pacer("off").honour_retry_after is False


def test_environment_variables_fill_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XENTREE_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("XENTREE_TOKEN", "t0k")
    monkeypatch.setenv("XENTREE_MAX_EXAMPLES", "7")
    monkeypatch.setenv("XENTREE_REGISTER", "true")
    monkeypatch.setenv("XENTREE_PHASES", "fuzzing,scenarios")
    options = cli.options_from(cli.parser().parse_args(["run"]))
    assert (options.base_url, options.token, options.max_examples) == ("http://127.0.0.1:9", "t0k", 7)
    assert options.register is True
    assert options.phases == ("fuzzing", "scenarios")
    flags = cli.options_from(cli.parser().parse_args(["run", "--token", "flag", "--max-examples", "2"]))
    assert (flags.token, flags.max_examples) == ("flag", 2)  # flags win
    assert flags.public_dict()["token"] == "[Filtered]"


def test_selection_and_safety() -> None:
    tagged = choose(SPEC, RunOptions(base_url="http://x", include_tags=("health",), operations=("getCurrentUser",)))
    assert {op.operation_id for op in tagged} == {"getHealth", "getDetailedHealth", "getCurrentUser"}
    with pytest.raises(UsageError, match="unknown tag"):
        choose(SPEC, RunOptions(base_url="http://x", include_tags=("Nope",)))
    with pytest.raises(UsageError, match="unknown operationId"):
        choose(SPEC, RunOptions(base_url="http://x", operations=("nope",)))
    real = RunOptions(base_url="http://x")
    user = Principal("bearer", token="t")
    assert "destructive" in (safety_skip(SPEC.by_id["deleteNote"], real, user) or "")
    assert "admin" in (safety_skip(SPEC.by_id["listIntegrationTokenRevocations"], real, user) or "")
    assert "--register" in (safety_skip(SPEC.by_id["updateCurrentUser"], real, user) or "")
    assert "own session" in (safety_skip(SPEC.by_id["logoutUser"], real, user) or "")
    throwaway = Principal("bearer", token="t", username="u", password="p", registered=True)
    assert safety_skip(SPEC.by_id["updateCurrentUser"], real, throwaway) is None
    assert safety_skip(SPEC.by_id["logoutUser"], real, throwaway) is None
    assert safety_skip(SPEC.by_id["deleteNote"], RunOptions(base_url="http://x", allow_destructive=True), user) is None
    assert safety_skip(SPEC.by_id["listNotes"], real, user) is None
    ledger = ApiSpec.load(spec_path("xp-ledger"))
    client = Principal("client", token="t")
    assert "irreversible" in (safety_skip(ledger.by_id["sendCaliperEvents"], real, client) or "")
    assert (
        safety_skip(ledger.by_id["sendCaliperEvents"], RunOptions(base_url="http://x", allow_destructive=True), client)
        is None
    )
    assert safety_skip(ledger.by_id["listUserXpEntries"], real, client) is None


def test_curl_reproduction_masks_secrets() -> None:
    headers = {"Authorization": "Bearer s3cret", "Content-Type": "application/x-www-form-urlencoded"}
    exchange = Exchange("POST", "http://h/api/auth/login", headers, b"username=u&password=hunter2", 401, {}, b"", 0.0)
    curl = exchange.curl()
    assert "s3cret" not in curl and "hunter2" not in curl and "[Filtered]" in curl and "username=u" in curl
    exchange.sanitize = False
    assert "s3cret" in exchange.curl()
    keyed = Exchange("GET", "http://h/x", {"X-Partner-Key": "k3y", "X-Request-Id": "r1"}, b"", 200, {}, b"", 0.0)
    assert "k3y" not in keyed.curl() and "X-Request-Id: r1" in keyed.curl()  # an API key in the spec's own header


def test_a_case_that_failed_and_then_skipped_stays_failed() -> None:
    from contract_tests.http import Client
    from contract_tests.scenarios import ScenarioContext

    ctx = ScenarioContext(SPEC, Client("http://127.0.0.1:9"), Principal("anonymous"), RunOptions(), [])
    with ctx.case("fails then stops", group="g", rule="logout_invalidates") as case:
        case.fail("login of the second user failed")
        case.skip("no fresh session")
    with ctx.case("only skips", group="g", rule="logout_invalidates") as case:
        case.skip("not applicable")
    assert [(r.status, r.skip_reason) for r in ctx.results] == [(FAILED, None), (SKIPPED, "not applicable")]


def test_property_tests_reach_only_the_selected_operations() -> None:
    import schemathesis

    from contract_tests.properties import config_for, only

    config = config_for(RunOptions(base_url="http://127.0.0.1:9"), SPEC)
    assert config.projects.default.operations.operations  # per-operation entries are what broke include()
    schema = schemathesis.openapi.from_path(str(SPEC.path), config=config)
    tested = [SPEC.by_id["getHealth"], SPEC.by_id["getLearningTimeAnalytics"]]
    labels = sorted(result.ok().label for result in only(schema, SPEC, tested).get_all_operations())
    assert labels == ["GET /api/analytics/learning-time", "GET /api/health"]


COMEBACK = ("getHealth", "listNotes", "createNote", "getStreakStatus")


def outage_engine(runs: list[tuple[tuple[str, ...], list[str]]], dies: int) -> Any:
    """A stand-in for the Schemathesis engine: the first `dies` runs lose the target during coverage, in createNote,
    after getHealth and listNotes finished coverage (every operation finished examples)."""

    def engine(spec: Any, options: Any, principal: Any, tested: Any, phases: Any, collector: Any, fresh: Any) -> None:
        runs.append((phases, [op.operation_id for op in tested]))
        collector.stop_reason = StopReason.COMPLETED
        if len(runs) <= dies:
            collector.phase = "coverage"
            collector.finished["examples"] |= set(COMEBACK)
            collector.finished["coverage"] |= {"getHealth", "listNotes"}
            collector.last_sent = outage.Unanswered(
                "POST http://x/api/core/notes", "curl -X POST", "createNote", "reset"
            )
            collector.stop_reason = StopReason.SERVER_UNAVAILABLE

    return engine


QUIET: dict[str, Any] = {"fresh_token": lambda: None, "notify": lambda *args: None}


def comeback_run(monkeypatch: pytest.MonkeyPatch, dies: int) -> tuple[list[Any], dict[str, Any], list[str]]:
    runs: list[tuple[tuple[str, ...], list[str]]] = []
    monkeypatch.setattr(properties, "_engine", outage_engine(runs, dies))
    monkeypatch.setattr(outage, "wait_for_target", lambda *args, **kwargs: 0.5)
    results = {op: OperationResult(op, SPEC.by_id[op].label, [], "documented", []) for op in COMEBACK}
    lines: list[str] = []
    options = RunOptions(base_url="http://x", phases=("examples", "coverage", "fuzzing"))
    tested = [SPEC.by_id[op] for op in COMEBACK]
    try:
        properties.run(SPEC, options, Principal("bearer", token="t"), tested, results, **QUIET, outages=lines)
    except properties.TargetDown:
        lines.append("TargetDown")
    return runs, results, lines


def test_a_comeback_resumes_the_interrupted_phase_only_where_it_had_not_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs, results, lines = comeback_run(monkeypatch, dies=1)
    assert runs == [
        (("examples", "coverage", "fuzzing"), list(COMEBACK)),
        (("coverage",), ["getStreakStatus"]),  # getHealth and listNotes finished coverage: not sent twice
        (("fuzzing",), ["getHealth", "listNotes", "getStreakStatus"]),  # createNote preceded the outage: left out
    ]
    assert [f.check for f in results["createNote"].findings] == [outage.RULE]
    assert len(lines) == 1 and "the run went on" in lines[0]


def test_a_target_that_keeps_dying_ends_the_property_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    runs, results, lines = comeback_run(monkeypatch, dies=99)
    assert len(runs) == outage.MAX_OUTAGES + 1 and lines[-1] == "TargetDown"
    assert f"after {outage.MAX_OUTAGES + 1} outages the rest of the property tests was skipped" in lines[-2]
    assert results["getStreakStatus"].skip_reason == outage.STOPPED


# selection flags, provenance, secrets, the matrix -----------------------------------------------------------------
def test_selection_flags_as_schemathesis_names_them() -> None:
    def ids(**options: object) -> set[str]:
        return {op.operation_id for op in choose(SPEC, RunOptions(base_url="http://x", **options))}  # type: ignore

    health = ids(include_tags=("Health",))
    assert health == {"getHealth", "getDetailedHealth"}
    assert ids(include_tags=("Health",), exclude_operations=("getDetailedHealth",)) == {"getHealth"}
    notes = ids(include_path_regex=("^/api/core/notes",))
    assert notes == {"listNotes", "createNote", "updateNote", "deleteNote"}
    assert ids(include_path_regex=("^/api/core/notes",), include_methods=("get",)) == {"listNotes"}
    assert ids(include_path_regex=("^/api/core/notes",), exclude_methods=("DELETE", "PUT")) == {
        "listNotes",
        "createNote",
    }
    assert not ids(exclude_tags=("Health",)) & health and len(ids(exclude_tags=("Health",))) == len(SPEC.operations) - 2
    assert ids(exclude_path_regex=("^/api/(?!health)",)) == health
    with pytest.raises(UsageError, match="--include-path-regex: invalid regular expression"):
        choose(SPEC, RunOptions(base_url="http://x", include_path_regex=("(",)))
    with pytest.raises(UsageError, match="--exclude-method: unknown method"):
        choose(SPEC, RunOptions(base_url="http://x", exclude_methods=("FETCH",)))
    with pytest.raises(UsageError, match="--exclude-operation-id: unknown operationId"):
        choose(SPEC, RunOptions(base_url="http://x", exclude_operations=("nope",)))
    args = cli.parser().parse_args(
        [
            "run",
            "--include-operation-id",
            "getHealth",
            "--operation",
            "getCurrentUser",
            "--exclude-tag",
            "Health",
            "--include-method",
            "GET",
            "--exclude-path-regex",
            "x",
        ]
    )
    options = cli.options_from(args)
    assert options.operations == ("getHealth", "getCurrentUser") and options.exclude_tags == ("Health",)
    assert options.include_methods == ("GET",) and options.exclude_path_regex == ("x",)


def test_provenance_takes_the_most_specific_mark() -> None:
    from contract_tests import provenance

    profile, health = SPEC.by_id["getXpProfile"], SPEC.by_id["getHealth"]
    assert (profile.provenance, health.provenance) == ("documented", "inferred")
    assert provenance.schema_mark(SPEC, profile, 200, ["total_xp"]) == "inferred"  # field marked inferred
    streak = SPEC.by_id[
        "getStreakStatus"
    ]  # issue 15: XP profile fields are all inferred now; streak fields are documented
    assert provenance.schema_mark(SPEC, streak, 200, ["current_streak"]) == "documented"  # unmarked: the operation's
    assert provenance.header_mark(SPEC, profile, 429, "Retry-After") == "inferred"
    assert provenance.status_mark(SPEC, health, 200) == "inferred"
    finding = Finding(
        "rate_limit_headers", "t", "429 response has no Retry-After header", status=429, operation="getXpProfile"
    )
    assert provenance.finding_mark(SPEC, finding) == ("inferred", "header Retry-After")
    assert provenance.severity(Finding("x", "t", "m", provenance="inferred"), strict_inferred=False) == "warning"
    assert provenance.severity(Finding("x", "t", "m", provenance="inferred"), strict_inferred=True) == "error"
    assert provenance.severity(Finding("secrets_exposure", "t", "m", provenance="inferred"), False) == "error"


def test_secrets_rule_reads_what_may_carry_tokens_from_the_spec() -> None:
    me, login, create, listing = (SPEC.by_id[i] for i in ("getCurrentUser", "loginUser", "createApiKey", "listApiKeys"))
    key = "xntr-" + "a1B2_-" * 14 + "xy"
    refresh = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwidHlwZSI6InJlZnJlc2gifQ.c2lnbmF0dXJl"  # {"sub":"u","type":"refresh"}
    assert checks.secret_problems(SPEC, me, 200, {"username": "u", "email": "u@x.example"}) == []
    assert checks.secret_problems(SPEC, me, 200, {"password": "hunter2"})
    assert checks.secret_problems(SPEC, me, 200, {"note": "$2b$12$abcdefghijklmnopqrstuv"})  # a bcrypt hash
    assert checks.secret_problems(SPEC, login, 200, {"access_token": "a", "refresh_token": refresh}) == []
    assert "refresh token outside the token operations" in checks.secret_problems(SPEC, me, 200, {"t": refresh})[0]
    assert checks.secret_problems(SPEC, create, 201, {"key": key}) == []
    assert "full API key" in checks.secret_problems(SPEC, listing, 200, [{"prefix": key[:11], "key": key}])[0]
    assert checks.secret_problems(SPEC, me, 200, {"kty": "RSA", "n": "x", "e": "AQAB", "d": "s", "qi": "t"})
    assert checks.secret_problems(SPEC, me, 200, {"pem": "-----BEGIN EC PRIVATE KEY-----\nMHc..."})
    assert checks.secret_problems(SPEC, me, 200, {"kty": "RSA", "n": "x", "e": "AQAB"}) == []  # a public JWK


def test_the_engine_runs_with_the_heap_frozen_and_hands_it_back_even_when_it_fails() -> None:
    """Objects alive when a run starts are out of the collector's reach during it; afterwards (a pytest process
    runs the suite and goes on) the collector sees them again, whatever ended the run."""
    assert gc.get_freeze_count() == 0
    alive = [[] for _ in range(100)]  # lists: objects the collector tracks
    with properties.long_lived_objects_frozen():
        assert gc.get_freeze_count() >= len(alive)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), properties.long_lived_objects_frozen():
        raise RuntimeError("the target died")
    assert gc.get_freeze_count() == 0
