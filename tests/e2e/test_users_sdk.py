"""The official Auth0 Python SDK, unchanged, against the real server on both stores."""

from __future__ import annotations

import pytest
from auth0.management import (
    Auth0,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)

from tests.conftest import admin_token
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"


@pytest.fixture
def sdk(server: RunningServer, token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


@pytest.fixture
def read_only_sdk(server: RunningServer) -> Auth0:
    token = admin_token(server.base_url, scope="read:users")
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


def test_sdk_creates_reads_updates_and_deletes_a_user(sdk: Auth0) -> None:
    created = sdk.users.create(
        connection=CONNECTION,
        email="sdk@example.com",
        password=PASSWORD,
        user_metadata={"hobby": "surfing"},
        app_metadata={"plan": "free"},
    )
    assert created.user_id is not None
    assert created.user_id.startswith("auth0|")
    updated = sdk.users.update(
        created.user_id,
        user_metadata={"addresses": {"home": "1 Main St"}},
        app_metadata={"plan": "pro"},
    )
    assert updated.user_metadata == {"hobby": "surfing", "addresses": {"home": "1 Main St"}}
    assert updated.app_metadata == {"plan": "pro"}
    fetched = sdk.users.get(created.user_id)
    assert fetched.user_metadata == updated.user_metadata
    sdk.users.delete(created.user_id)
    with pytest.raises(NotFoundError):
        sdk.users.get(created.user_id)


def test_sdk_sends_null_to_delete_a_metadata_key(sdk: Auth0) -> None:
    created = sdk.users.create(
        connection=CONNECTION, password=PASSWORD, user_metadata={"a": 1, "b": 2}
    )
    assert created.user_id is not None
    updated = sdk.users.update(created.user_id, user_metadata={"a": None})
    assert updated.user_metadata == {"b": 2}


def test_sdk_finds_users_by_email(sdk: Auth0) -> None:
    created = sdk.users.create(connection=CONNECTION, password=PASSWORD, email="Found@Example.com")
    found = sdk.users.list_users_by_email(email="found@example.com")
    assert [user.user_id for user in found] == [created.user_id]
    assert sdk.users.list_users_by_email(email="Found@Example.com") == []


def test_sdk_reads_selected_fields(sdk: Auth0) -> None:
    created = sdk.users.create(connection=CONNECTION, password=PASSWORD, email="fields@example.com")
    assert created.user_id is not None
    fetched = sdk.users.get(created.user_id, fields="email,user_id", include_fields=True)
    assert fetched.email == "fields@example.com"
    assert fetched.user_metadata is None


def test_sdk_raises_conflict_for_a_duplicate_email_after_its_retries(
    server: RunningServer, token: str
) -> None:
    retrying = Auth0(base_url=f"{server.base_url}/api/v2", token=token)
    retrying.users.create(connection=CONNECTION, password=PASSWORD, email="twice@example.com")
    with pytest.raises(ConflictError) as conflict:
        retrying.users.create(connection=CONNECTION, password=PASSWORD, email="twice@example.com")
    assert conflict.value.body["message"] == "The user already exists."
    assert len(retrying.users.list_users_by_email(email="twice@example.com")) == 1


def test_sdk_raises_not_found_for_a_missing_user(sdk: Auth0) -> None:
    with pytest.raises(NotFoundError) as missing:
        sdk.users.get("auth0|000000000000000000000000")
    assert missing.value.body["errorCode"] == "inexistent_user"


def test_sdk_raises_bad_request_for_an_id_without_provider(sdk: Auth0) -> None:
    with pytest.raises(BadRequestError) as refused:
        sdk.users.get("no-provider")
    assert refused.value.body["errorCode"] == "invalid_uri"


def test_sdk_raises_bad_request_for_dotted_metadata_keys(sdk: Auth0) -> None:
    with pytest.raises(BadRequestError) as refused:
        sdk.users.create(connection=CONNECTION, password=PASSWORD, user_metadata={"foo.bar": 1})
    assert refused.value.body["message"].startswith('Fields with "." are not allowed')


def test_sdk_raises_forbidden_without_the_scope(read_only_sdk: Auth0) -> None:
    with pytest.raises(ForbiddenError) as refused:
        read_only_sdk.users.create(
            connection=CONNECTION, password=PASSWORD, email="nope@example.com"
        )
    assert refused.value.body == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope, expected any of: create:users.",
        "errorCode": "insufficient_scope",
    }
