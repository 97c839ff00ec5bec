"""The served OpenAPI document says what the API really does: a valid OpenAPI 3.1 document, the
bearer scheme with each operation's scopes, Auth0's error body and no 422, a typed success."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.support.server import RunningServer
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"

pytestmark = pytest.mark.parametrize("database_url", [None], ids=["sqlite"])


@pytest.fixture
def document(server: RunningServer) -> dict[str, Any]:
    served: dict[str, Any] = httpx.get(f"{server.base_url}/openapi.json").json()
    return served


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_no_operation_documents_a_422_the_api_never_answers(document: dict[str, Any]) -> None:
    assert [path for _, path, op in operations(document) if "422" in op["responses"]] == []


def test_every_success_has_a_typed_body(document: dict[str, Any]) -> None:
    untyped = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        for status, response in operation["responses"].items()
        if status.startswith("2")
        and status != "204"
        and not any(media.get("schema") for media in response.get("content", {}).values())
    ]
    assert untyped == []


def test_every_refusal_is_documented_with_an_error_body(document: dict[str, Any]) -> None:
    refs = {
        response["content"]["application/json"]["schema"].get("$ref")
        for _, _, operation in operations(document)
        for status, response in operation["responses"].items()
        if not status.startswith("2")
    }
    assert refs == {"#/components/schemas/Auth0Error", "#/components/schemas/OAuthError"}


def test_management_operations_name_the_bearer_scheme_and_their_scopes(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    security: dict[tuple[str, str], Any] = {
        (method, path): operation.get("security")
        for method, path, operation in operations(document)
    }
    assert security[("POST", "/api/v2/users")] == [{"bearer": ["create:users"]}]
    assert security[("GET", "/api/v2/users/{id}/history")] == [{"bearer": ["read:users"]}]
    assert "update:users_app_metadata" in security[("PATCH", "/api/v2/users/{id}")][0]["bearer"]
    assert security[("POST", "/oauth/token")] is None


def test_real_answers_match_the_documented_shapes(
    document: dict[str, Any], http: httpx.Client
) -> None:
    def conforms(body: Any, method: str, path: str, status: str) -> None:
        response = document["paths"][path][method]["responses"][status]
        schema = response["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": document["components"]})

    created = http.post(
        "/api/v2/users",
        json={
            "connection": CONNECTION,
            "password": PASSWORD,
            "email": "doc@example.com",
            "app_metadata": {"p": 1},
        },
    )
    user_id = created.json()["user_id"]
    conforms(created.json(), "post", "/api/v2/users", "201")
    page = http.get("/api/v2/users", params={"include_totals": "true"})
    conforms(page.json(), "get", "/api/v2/users", "200")
    history = http.get(f"/api/v2/users/{user_id}/history", params={"include_totals": "true"})
    conforms(history.json(), "get", "/api/v2/users/{id}/history", "200")
    conforms(http.get("/api/v2/events").json(), "get", "/api/v2/events", "200")
    missing = http.get("/api/v2/users/auth0|nobody")
    conforms(missing.json(), "get", "/api/v2/users/{id}", "404")
