"""Management API v2: bulk users import and export jobs, their status, their per-line errors
and the download of an export's file."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response, StreamingResponse

from metaledger.api.auth.tokens import Principal
from metaledger.api.bootstrap import Jobs
from metaledger.api.connection_store import ConnectionRegistry
from metaledger.api.directory import Connection, connection_id
from metaledger.api.http.deps import ContainerDep, any_scope, body_of, raw_body_of
from metaledger.api.http.errors import ApiError, invalid_body
from metaledger.api.http.job_models import ExportRequest
from metaledger.api.http.query_params import parse_instant
from metaledger.api.http.responses import json_response
from metaledger.domain.imports import ImportFileError, check_file
from metaledger.domain.jobs import COMPLETED, EXPORT, IMPORT, Job, new_job_id
from metaledger.domain.user import format_timestamp

router = APIRouter(prefix="/api/v2", tags=["jobs"])

COPY_BUFFER = 1024 * 1024
# What a multipart body may hold beside the file: its other fields and part headers.
FORM_OVERHEAD = 64 * 1024
IMPORT_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["users", "connection_id"],
                    "properties": {
                        "users": {"type": "string", "format": "binary"},
                        "connection_id": {"type": "string"},
                        "upsert": {"type": "boolean"},
                        "external_id": {"type": "string"},
                        "send_completion_email": {"type": "boolean"},
                    },
                }
            }
        },
    }
}


def jobs_of(container: ContainerDep) -> Jobs:
    assert container.jobs is not None  # build_http always builds it
    return container.jobs


JobsDep = Annotated[Jobs, Depends(jobs_of)]


def payload_error(message: str) -> ApiError:
    return invalid_body(f"Payload validation error: '{message}'.")


def connection_named_by(connections: ConnectionRegistry, id_: object) -> Connection:
    """The connection `id_` names, configured or created through the API."""
    if not isinstance(id_, str) or not id_:
        raise payload_error("Missing required property: connection_id")
    found = connections.by_id(id_)
    if found is None:
        raise ApiError(400, "The connection does not exist.", "inexistent_connection")
    return Connection(id_, str(found["name"]))


def form_flag(value: object, name: str) -> bool:
    if value is None or value == "":
        return False
    if value in ("true", "false"):
        return value == "true"
    raise payload_error(f"Expected type boolean but found type string on property {name}")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Payload content length greater than maximum allowed: {limit}", None)


def save_upload(upload: UploadFile, path: Path, limit: int) -> None:
    """Copies the uploaded file to `path`, refusing it (413) past `limit` bytes."""
    copied = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(COPY_BUFFER):
            copied += len(chunk)
            if copied > limit:
                raise too_large(limit)
            out.write(chunk)


def job_body(job: Job, jobs: Jobs, issuer: str, errors: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": job.type,
        "status": job.status,
        "id": job.id,
        "connection_id": connection_id(job.connection) if job.connection else None,
        "connection": job.connection or None,
        "created_at": format_timestamp(datetime.fromtimestamp(job.created_at, UTC)),
    }
    params = job.params
    if job.type == IMPORT:
        body["upsert"] = bool(params.get("upsert"))
        if params.get("external_id") is not None:
            body["external_id"] = params["external_id"]
        lines = max(int(params.get("lines", 1)), 1)
        done = lines if job.status == COMPLETED else min(job.next_line - 1, lines)
        body["percentage_done"] = done * 100 // lines
        if job.status == COMPLETED:
            failed = errors if errors is not None else jobs.store.error_count(job.id)
            body["summary"] = {
                "failed": failed,
                "updated": job.updated,
                "inserted": job.inserted,
                "total": job.inserted + job.updated + failed,
            }
    else:
        for name in ("format", "limit", "fields", "as_of"):
            if params.get(name) is not None:
                body[name] = params[name]
        if job.status == COMPLETED:
            body["location"] = f"{issuer}api/v2/jobs/{job.id}/download"
            body["percentage_done"] = 100
    if job.status_details:
        body["status_details"] = job.status_details
    return {key: value for key, value in body.items() if value is not None}


def job_or_404(jobs: Jobs, id_: str) -> Job:
    job = jobs.store.get(id_)
    if job is None:
        raise ApiError(404, "The job does not exist.", "inexistent_job")
    return job


@router.post(
    "/jobs/users-imports",
    status_code=201,
    summary="Import users from a file",
    description="Auth0's import file (a JSON array) or newline-delimited JSON such as an Auth0 "
    "users export, gzipped or not. `send_completion_email` is accepted; no email is sent.",
    openapi_extra=IMPORT_FORM,
)
async def create_import(
    request: Request,
    container: ContainerDep,
    jobs: JobsDep,
    _: Annotated[Principal, Depends(any_scope("create:users"))],
) -> Response:
    limit = container.settings.import_max_file_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise too_large(limit)  # refused before the body is read
    async with request.form(max_files=1, max_fields=10) as form:
        users = form.get("users")
        if not isinstance(users, UploadFile):
            raise payload_error("Missing required property: users")
        connection = connection_named_by(container.connections, form.get("connection_id"))
        upsert = form_flag(form.get("upsert"), "upsert")
        form_flag(form.get("send_completion_email"), "send_completion_email")
        external_id = form.get("external_id")
        if external_id is not None and not isinstance(external_id, str):
            raise payload_error("Expected type string on property external_id")
        job = Job(
            id=new_job_id(),
            type=IMPORT,
            connection=connection.name,
            created_at=time.time(),
            params={"upsert": upsert, "external_id": external_id},
        )
        path = jobs.files.upload(job.id)
        try:
            await run_in_threadpool(save_upload, users, path, limit)
            lines = await run_in_threadpool(check_file, path)
        except ImportFileError as error:
            path.unlink(missing_ok=True)
            raise invalid_body(error.message) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    if lines == 0:
        path.unlink(missing_ok=True)
        raise invalid_body("Users file must contain at least one user")
    job.params["lines"] = lines
    await run_in_threadpool(jobs.store.add, job)
    jobs.runner.wake()
    return json_response(job_body(job, jobs, container.settings.issuer), 201)


@router.post(
    "/jobs/users-exports",
    status_code=201,
    summary="Export users to a file",
    description="Gzipped newline-delimited JSON or CSV, downloaded from the job's `location` "
    "by an admin until it expires. `as_of` (metaledger extension) exports every user as they "
    "were at that moment.",
    openapi_extra=raw_body_of(ExportRequest),
)
def create_export(
    container: ContainerDep,
    jobs: JobsDep,
    _: Annotated[Principal, Depends(any_scope("read:users"))],
    body: Annotated[ExportRequest, Depends(body_of(ExportRequest))],
) -> Response:
    connection = None
    if body.connection_id is not None:
        connection = connection_named_by(container.connections, body.connection_id)
    as_of = None
    if body.as_of is not None:
        as_of = parse_instant(body.as_of, "as_of").isoformat()
    job = Job(
        id=new_job_id(),
        type=EXPORT,
        connection=connection.name if connection else "",
        created_at=time.time(),
        params={
            "format": body.format,
            "limit": body.limit,
            "fields": [f.model_dump(exclude_none=True) for f in body.fields or []] or None,
            "as_of": as_of,
        },
    )
    jobs.store.add(job)
    jobs.runner.wake()
    return json_response(job_body(job, jobs, container.settings.issuer), 201)


@router.get("/jobs/{id}", summary="Get a job")
def get_job(
    id: str,
    container: ContainerDep,
    jobs: JobsDep,
    _: Annotated[Principal, Depends(any_scope("create:users", "read:users"))],
) -> Response:
    return json_response(job_body(job_or_404(jobs, id), jobs, container.settings.issuer))


@router.get("/jobs/{id}/errors", summary="Get the lines an import job did not apply")
def get_job_errors(
    id: str,
    jobs: JobsDep,
    _: Annotated[Principal, Depends(any_scope("create:users"))],
) -> Response:
    job_or_404(jobs, id)
    failed = jobs.store.errors(id)
    return json_response(
        [{"user": line.user, "errors": [e.as_dict() for e in line.errors]} for line in failed]
    )


@router.get(
    "/jobs/{id}/download",
    summary="Download an export job's file",
    description="For admin (client-credentials) tokens only, until the file expires.",
    response_class=FileResponse,
)
def download_export(
    id: str,
    jobs: JobsDep,
    principal: Annotated[Principal, Depends(any_scope("read:users"))],
) -> Response:
    if not principal.is_client:
        raise ApiError(403, "Only administrators may download exports.", "insufficient_scope")
    job = job_or_404(jobs, id)
    path = jobs.files.export(job.id, job.params.get("format", "json"))
    gone = ApiError(404, "The export file does not exist or has expired.", "inexistent_file")
    if job.type != EXPORT or job.status != COMPLETED:
        raise gone
    try:
        # Opened here: the file may expire at any moment, and an open file stays readable.
        file = path.open("rb")
    except FileNotFoundError:
        raise gone from None
    filename = f"{job.id}.{path.name.split('.', 1)[1]}"
    return StreamingResponse(
        _chunks(file),
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(os.fstat(file.fileno()).st_size),
        },
    )


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(COPY_BUFFER):
            yield chunk
