"""Log records of what changes no user (failed logins, token exchanges, failed Management API
calls), written into the audit read model as they happen. They carry addresses, so they expire
(METALEDGER_LOG_RETENTION_DAYS); never a password, a token, a request body or a query's
values. A record that cannot be written is logged and the request answered as if it had been."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from metaledger.api.auth.tokens import Principal
from metaledger.api.bootstrap import Container
from metaledger.domain.user import format_timestamp
from metaledger.projections.audit.records import FAILED_API, LogRecord, new_log_id

log = logging.getLogger("metaledger.audit")

MAX_TEXT = 512  # user agents, user names and queries are cut to this


@dataclass(frozen=True)
class Failure:
    """What a refusal tells the log beside its description: the Auth0 type code and whom it
    concerned."""

    type: str
    user_id: str | None = None
    user_name: str | None = None
    connection: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def write(
    container: Container,
    request: Request,
    failure: Failure,
    description: str,
    client_id: str | None = None,
) -> None:
    """Writes the record now (blocking: from a thread of the pool)."""
    now = datetime.now(UTC)
    client = container.clients.get(client_id) if client_id else None
    user_agent = request.headers.get("user-agent")
    record = LogRecord(
        log_id=new_log_id(now),
        date=format_timestamp(now),
        type=failure.type,
        description=description[:MAX_TEXT],
        user_id=failure.user_id,
        user_name=failure.user_name[:MAX_TEXT] if failure.user_name else None,
        client_id=client_id[:MAX_TEXT] if client_id else None,
        client_name=client.name if client is not None else None,
        ip=request.client.host if request.client else None,
        user_agent=user_agent[:MAX_TEXT] if user_agent else None,
        connection=failure.connection,
        details=failure.details,
    )
    try:
        container.audit.record([record])
    except Exception:
        log.exception("could not write a %s log record", failure.type)


async def record(
    request: Request, failure: Failure, description: str, client_id: str | None = None
) -> None:
    container: Container = request.app.state.container
    await run_in_threadpool(write, container, request, failure, description, client_id)


async def failed_api_call(request: Request, status: int, message: str, code: str | None) -> None:
    """A `fapi` record of a refused Management API call, naming the caller when its token was
    valid."""
    if not request.url.path.startswith("/api/v2/"):
        return
    principal: Principal | None = getattr(request.state, "principal", None)
    # The parameters' names only: their values may be personal (users-by-email?email=…).
    parameters = sorted(set(request.query_params.keys()))
    details = {
        "request": {
            "method": request.method,
            "path": request.url.path[:MAX_TEXT],
            **({"query_parameters": parameters} if parameters else {}),
        },
        "response": {"statusCode": status, "body": {"errorCode": code, "message": message}},
    }
    user_id = principal.sub if principal is not None and not principal.is_client else None
    client_id = principal.client_id if principal is not None else None
    await record(request, Failure(FAILED_API, user_id=user_id, details=details), message, client_id)
