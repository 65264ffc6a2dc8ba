"""Generated responses (Faker, seeded, examples first), Prefer controls and strict response validation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from mock_server.app import Mock
from mock_server.domains import Result
from mock_server.spec import compile_schema, resolve_refs
from tests.conftest import bearer, login, make_client, mock_of

# Every operation of the Xentree spec has a domain handler; these tests exercise the generator that answers
# operations without one (a spec extended before its domain exists), so they take the handlers away.
GENERATED = ("getLearningPulse", "listActiveIntegrations", "listConversationMessages", "deleteConversation")


def generated_client(**settings: object) -> TestClient:
    client = make_client(**settings)
    mock = mock_of(client)
    for operation_id in GENERATED:
        assert operation_id in mock.spec.by_id  # a misspelt id would leave its handler in place
        mock.pipeline.handlers.pop(operation_id, None)
    return client


@pytest.fixture
def client() -> Iterator[TestClient]:
    with generated_client() as c:
        yield c


def _providers(client: TestClient, headers: dict[str, str], prefer: str | None = None) -> object:
    extra = {"Prefer": prefer} if prefer else {}
    response = client.get("/api/integrations", headers={**headers, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_generated_data_is_deterministic_for_a_seed() -> None:
    def fetch(seed: int) -> object:
        with generated_client(seed=seed) as client:
            return _providers(client, bearer(login(client)), "dynamic=true")

    assert fetch(7) == fetch(7)
    assert fetch(7) != fetch(8)


def test_generated_data_is_realistic_and_conforms(client: TestClient, demo: dict[str, str]) -> None:
    body = _providers(client, demo, "dynamic=true")
    assert isinstance(body, list) and body
    for item in body:
        assert len(item["id"]) == 36 and item["id"].count("-") == 4
        if item.get("account_email"):
            assert "@" in item["account_email"]


def test_spec_examples_are_used_by_default_and_dynamic_false(
    client: TestClient, mock: Mock, demo: dict[str, str]
) -> None:
    op = mock.spec.by_id["getLearningPulse"]
    media = op.responses[200].media
    assert media is not None
    expected = [*media.examples.values(), *media.schema.get("examples", [])][0]
    assert client.get("/api/xp/learning-pulse", headers=demo).json() == expected
    assert client.get("/api/xp/learning-pulse", headers={**demo, "Prefer": "dynamic=false"}).json() == expected
    dynamic = client.get("/api/xp/learning-pulse", headers={**demo, "Prefer": "dynamic=true"}).json()
    assert dynamic != expected and "data" in dynamic


def test_prefer_code_answers_that_documented_status(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/core/conversations", headers={**demo, "Prefer": "code=429"})
    assert response.status_code == 429
    assert response.headers["preference-applied"] == "code=429"
    assert response.json()["detail"]["error"]


def test_prefer_code_not_documented_is_ignored_with_a_warning(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/auth/me", headers={**demo, "Prefer": "code=418"})
    assert response.status_code == 200
    assert "418" in response.headers["x-mock-warning"]


def test_prefer_example_by_name(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post(
        "/api/live/session/start",
        json={"session_type": "voice"},
        headers={**demo, "Prefer": "code=429, example=live_quota_exceeded"},
    )
    assert response.status_code == 429
    assert response.json() == {
        "detail": {"error": "live_quota_exceeded", "message": "Monthly Live session quota exceeded"}
    }
    unknown = client.get("/api/xp/learning-pulse", headers={**demo, "Prefer": "example=nope"})
    assert unknown.status_code == 200  # RFC 7240: a preference the server cannot honour is ignored...
    assert "nope" in unknown.headers["x-mock-warning"]  # ...and the mock says so


def test_prefer_delay(client: TestClient, demo: dict[str, str]) -> None:
    start = time.perf_counter()
    assert client.get("/api/auth/me", headers={**demo, "Prefer": "delay=300"}).status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_strict_mode_turns_a_drifting_response_into_a_loud_500(
    client: TestClient, mock: Mock, demo: dict[str, str]
) -> None:
    real = client.get("/api/auth/me", headers=demo).json()
    mock.pipeline.handlers["getCurrentUser"] = lambda call: {**real, "id": 5}
    response = client.get("/api/auth/me", headers=demo)
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail["error"] == "response_contract_violation"
    assert "response.id: 5 is not of type 'string'" in detail["message"]
    assert "getCurrentUser" in detail["message"]


def test_strict_mode_catches_an_undocumented_status(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    mock.pipeline.handlers["getCurrentUser"] = lambda call: Result({"x": 1}, status=202)
    response = client.get("/api/auth/me", headers=demo)
    assert response.status_code == 500
    assert "status 202 is not documented" in response.json()["detail"]["message"]


def test_the_strict_mode_500_is_the_xentree_error_shape(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    mock.pipeline.handlers["getCurrentUser"] = lambda call: {"id": 5}
    body = client.get("/api/auth/me", headers=demo).json()
    assert error_schema(mock).is_valid(body), body
    errors = body["detail"]["errors"]  # "where: what" strings, each also in the message
    assert errors and all(
        isinstance(e, str) and e.startswith("response") and e in body["detail"]["message"] for e in errors
    )


def test_the_strict_mode_500_is_the_xp_ledger_error_shape() -> None:
    """The ledger's Error has top-level `error`/`message`, and its `issues` point only into the request (`in`
    is body, query, path or header): the problems of the mock's own response are named in the message alone."""
    with make_client(api="xp-ledger") as ledger:
        mock = mock_of(ledger)
        mock.pipeline.handlers["issueAccessToken"] = lambda call: {"access_token": 5}
        response = ledger.post("/auth/1.0/token", data={"grant_type": "client_credentials"})
    body = response.json()
    assert response.status_code == 500
    assert error_schema(mock).is_valid(body), body
    assert body["error"] == "response_contract_violation" and "issues" not in body and "detail" not in body
    assert "response.access_token: 5 is not of type 'string'" in body["message"]


def error_schema(mock: Mock) -> Draft202012Validator:
    return compile_schema(resolve_refs(mock.spec.raw)["components"]["schemas"]["Error"])


def test_without_strict_the_handler_answer_goes_out(demo: dict[str, str]) -> None:
    with make_client(strict=False) as client:
        mock_of(client).pipeline.handlers["getCurrentUser"] = lambda call: {"id": 5}
        response = client.get("/api/auth/me", headers=bearer(login(client)))
        assert response.status_code == 200 and response.json() == {"id": 5}


def test_deleted_generated_resources_are_gone(client: TestClient, demo: dict[str, str]) -> None:
    conversation = "11111111-1111-4111-8111-111111111111"
    assert client.get(f"/api/core/conversations/{conversation}/messages", headers=demo).status_code == 200
    assert client.delete(f"/api/core/conversations/{conversation}", headers=demo).status_code == 204
    assert client.get(f"/api/core/conversations/{conversation}/messages", headers=demo).status_code == 404
