"""Request bodies of the users endpoints, after Auth0's OpenAPI schemas."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+[0-9]{1,15}$"

Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN)]
GivenOrFamilyName = Annotated[str, Field(min_length=1, max_length=150)]
DisplayName = Annotated[str, Field(min_length=1, max_length=300)]
Picture = Annotated[str, Field(min_length=1, max_length=2048)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Username = Annotated[str, Field(min_length=1, max_length=128)]
MetadataObject = dict[str, Any]

BOOLEAN_FIELDS = frozenset(
    {"blocked", "email_verified", "phone_verified", "verify_email", "verify_phone_number"}
)
METADATA_FIELDS = frozenset({"user_metadata", "app_metadata"})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateUserRequest(_Body):
    connection: Annotated[str, Field(min_length=1)]
    email: Email | None = None
    phone_number: Phone | None = None
    user_metadata: MetadataObject | None = None
    app_metadata: MetadataObject | None = None
    blocked: StrictBool | None = None
    email_verified: StrictBool | None = None
    phone_verified: StrictBool | None = None
    verify_email: StrictBool | None = None
    given_name: GivenOrFamilyName | None = None
    family_name: GivenOrFamilyName | None = None
    name: DisplayName | None = None
    nickname: DisplayName | None = None
    picture: Picture | None = None
    user_id: Annotated[str, Field(max_length=255, pattern=r"^\S*$")] | None = None
    # Every connection here is a database connection: a user without a password could never
    # log in (Auth0 requires it the same way).
    password: Password
    username: Username | None = None


class UpdateUserRequest(_Body):
    """`null` unsets a root attribute; a bucket sent as `null` or `{}` is cleared."""

    blocked: StrictBool | None = None
    email_verified: StrictBool | None = None
    email: Email | None = None
    phone_number: Phone | None = None
    phone_verified: StrictBool | None = None
    user_metadata: MetadataObject | None = None
    app_metadata: MetadataObject | None = None
    given_name: GivenOrFamilyName | None = None
    family_name: GivenOrFamilyName | None = None
    name: DisplayName | None = None
    nickname: DisplayName | None = None
    picture: Picture | None = None
    verify_email: StrictBool | None = None
    verify_phone_number: StrictBool | None = None
    password: Password | None = None
    connection: Annotated[str, Field(min_length=1)] | None = None
    client_id: str | None = None
    username: Username | None = None
