"""The shapes of the jobs and connections routes' bodies, for the OpenAPI document and for
reading export requests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from metaledger.api.http.query_params import MAX_INT64


class ExportFieldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    export_as: Annotated[StrictStr, Field(min_length=1, max_length=512)] | None = None


class ExportRequest(BaseModel):
    """POST /api/v2/jobs/users-exports; `as_of` is a metaledger extension."""

    model_config = ConfigDict(extra="forbid", strict=True)

    connection_id: StrictStr | None = None
    format: Literal["json", "csv"] = "json"
    limit: Annotated[int, Field(ge=1, le=MAX_INT64)] | None = None
    fields: Annotated[list[ExportFieldRequest], Field(max_length=1000)] | None = None
    as_of: StrictStr | None = None


class JobSummary(BaseModel):
    failed: int
    updated: int
    inserted: int
    total: int


class Job(BaseModel):
    """A users import or export job, as Auth0 shows it."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: Literal["users_import", "users_export"]
    status: str
    created_at: str
    connection_id: str | None = None
    connection: str | None = None
    external_id: str | None = None
    upsert: bool | None = None
    percentage_done: int | None = None
    summary: JobSummary | None = None
    format: str | None = None
    limit: int | None = None
    fields: list[ExportFieldRequest] | None = None
    location: str | None = None
    status_details: str | None = None


class JobLineError(BaseModel):
    code: str
    message: str
    path: str


class FailedImport(BaseModel):
    """One line of an import that was not applied: the user as sent, and why."""

    user: object
    errors: list[JobLineError]


class Connection(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    strategy: str


class ConnectionPage(BaseModel):
    """A page of connections: with totals (`include_totals`) or a checkpoint (`next`)."""

    connections: list[Connection]
    start: int | None = None
    limit: int | None = None
    total: int | None = None
    next: str | None = None
