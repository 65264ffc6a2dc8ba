"""Routing and request validation, read from the spec: every operation served; bad input gets a clear 400/413/415."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from mock_server.app import Mock
from tests.conftest import bearer, login


def test_every_operation_of_the_spec_is_routed(client: TestClient, mock: Mock, demo: dict[str, str]) -> None:
    admin = bearer(login(client, "admin"))
    for op in mock.spec.operations:
        path = op.path
        for p in op.parameters:
            if p.location == "path":
                path = path.replace("{" + p.name + "}", "00000000-0000-4000-8000-000000000000")
        response = client.request(op.method, path, headers=admin)
        # Routed means: answered by the pipeline (never the router's 404/405, never a crash).
        assert response.status_code not in (405, 500), (op.operation_id, response.status_code, response.text)
        if response.status_code == 404:
            assert response.json()["detail"]["error"] == "not_found"
            assert "{" in op.path, f"{op.operation_id} is not routed"


def test_concrete_paths_win_over_templated_ones(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/api-keys/tenants", headers=demo)
    assert response.status_code == 200
    assert isinstance(response.json(), list)  # listTenants, not a DELETE-only /api/api-keys/{key_id}


def test_unknown_path_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json() == {"detail": {"error": "not_found", "message": "No operation at /api/nowhere"}}


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.delete("/api/core/conversations")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert "DELETE" not in response.headers["allow"]
    assert response.json()["detail"]["error"] == "method_not_allowed"


def test_bad_query_parameter_says_what_and_where(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/analytics/learning-time", params={"from": "yesterday"}, headers=demo)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error"] == "validation_error"
    assert detail["message"].startswith("query.from:")
    assert "date" in detail["message"]


def test_bad_path_parameter(client: TestClient, demo: dict[str, str]) -> None:
    response = client.get("/api/organizations/not-a-uuid", headers=demo)
    assert response.status_code == 400
    assert response.json()["detail"]["message"].startswith("path.org_id:")


def test_missing_body_field_names_the_field(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post("/api/core/chat", json={"provider": "auto"}, headers=demo)
    assert response.status_code == 400
    assert "'message' is a required property" in response.json()["detail"]["message"]
    assert response.json()["detail"]["message"].startswith("body.message:")  # the missing field, by name


def test_wrong_type_in_body(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post("/api/live/session/start", json={"session_type": "hologram"}, headers=demo)
    assert response.status_code == 400
    assert response.json()["detail"]["message"].startswith("body.session_type:")


def test_malformed_json_is_400_not_500(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post(
        "/api/core/chat", content=b'{"message": ', headers={**demo, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "malformed_json"


def test_wrong_content_type_is_415(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post("/api/core/chat", content=b"hello", headers={**demo, "Content-Type": "text/plain"})
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert detail["error"] == "unsupported_media_type"
    assert "application/json" in detail["message"]


def test_body_over_one_mebibyte_is_413(client: TestClient, demo: dict[str, str]) -> None:
    big = json.dumps({"message": "x" * (1024 * 1024 + 10)})
    response = client.post("/api/core/chat", content=big, headers={**demo, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"]["error"] == "payload_too_large"


def test_form_body_is_validated(client: TestClient) -> None:
    response = client.post("/api/auth/login", data={"username": "demo"})
    assert response.status_code == 400
    assert "password" in response.json()["detail"]["message"]


def test_login_as_json_is_415(client: TestClient) -> None:
    response = client.post("/api/auth/login", json={"username": "demo", "password": "demo-password"})
    assert response.status_code == 415


def test_multipart_upload_is_accepted(client: TestClient, demo: dict[str, str]) -> None:
    files = {"file": ("notes.md", b"# Launch plan\nShip it.", "text/markdown")}
    response = client.post("/api/rag/documents", files=files, headers=demo)
    assert response.status_code == 201, response.text


def test_missing_required_body_is_400(client: TestClient, demo: dict[str, str]) -> None:
    response = client.post("/api/core/chat", headers=demo)
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "missing_body"


def test_json_that_python_accepts_but_json_does_not_is_400(client: TestClient, demo: dict[str, str]) -> None:
    for raw, field in (
        ('{"title": "x", "content": "\\ud800"}', "body.content"),
        ('{"title": "x", "content": "y", "tags": [NaN]}', "body.tags.0"),
    ):
        response = client.post("/api/core/notes", content=raw, headers={**demo, "Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["detail"]["message"].startswith(field)
    paired = client.post(
        "/api/core/notes",
        content='{"title": "x", "content": "\\ud83d\\ude00"}',
        headers={**demo, "Content-Type": "application/json"},
    )
    assert paired.status_code == 201 and paired.json()["content"] == "\U0001f600"


def test_each_missing_required_property_is_named_at_its_own_place(client: TestClient, demo: dict[str, str]) -> None:
    """`{}` lacks both `title` and `content`: each problem names its own field, not the first one twice."""
    response = client.post("/api/core/notes", json={}, headers=demo)
    assert response.status_code == 400
    errors = response.json()["detail"]["errors"]
    assert errors == ["body.content: 'content' is a required property", "body.title: 'title' is a required property"]
    only_content = client.post("/api/core/notes", json={"title": "x"}, headers=demo).json()["detail"]["errors"]
    assert only_content == ["body.content: 'content' is a required property"]
