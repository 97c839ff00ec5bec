"""Management API v2 logs (`GET /api/v2/logs`, `/logs/{id}`, `/users/{id}/logs`), from the
audit read model, in Auth0's dialect."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.http.deps import ContainerDep, any_scope
from metaledger.api.http.errors import ApiError
from metaledger.api.http.query_params import MAX_INT64, invalid_query
from metaledger.api.http.responses import POSITION_HEADER, json_response
from metaledger.api.http.routes.audit import MinPosition, await_position
from metaledger.api.http.routes.users import checked_user_id, select_fields
from metaledger.projections.audit.logquery import Predicate
from metaledger.projections.audit.store import SORTABLE, AuditStore, LogPage, LogQuery
from metaledger.projections.search.errors import InvalidQuery, QueryTimeout

router = APIRouter(prefix="/api/v2", tags=["logs"])

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
MAX_PAGE = MAX_INT64 // MAX_PER_PAGE
MAX_QUERY_LENGTH = 4096
SORT_PATTERN = re.compile(r"(?P<field>[a-z_]+):(?P<order>1|-1)")
TIMEOUT_MESSAGE = "The query exceeded the timeout. Please try refining your search criteria."

DESCRIPTION = """
Log records, newest first, in Auth0's shape (`log_id`, `date`, `type`, `description`,
`user_id`, `user_name`, `client_id`, `ip`, `connection`, `details`). Every change to a user is
a record (`sapi`; `ss` for a sign-up, `sdu` for a deletion, `s` for a login) whose `details`
carry the per-key `changes` and the `actor`; failed logins (`fp`, `fu`, `f`, `limit_wc`,
`limit_mu`), failed sign-ups (`fs`), token exchanges (`seccft`, `feccft`) and failed
Management API calls (`fapi`) are recorded as they happen.

`q` takes user search's Lucene syntax over `type`, `date` (ranges, partial dates), `user_id`,
`user_name`, `client_id`, `client_name`, `ip`, `user_agent`, `connection`, `description`,
`log_id` and `details.<path>`. Page with `page`/`per_page`/`include_totals`, or export with
checkpoints: `from` (a `log_id`) and `take` return the records after it, oldest first. Records
of events appear once the audit projector has applied them (usually within milliseconds);
`min_position` (a write's `X-Metaledger-Position`) waits for one's own write.
"""

ReadLogs = Annotated[Principal, Depends(any_scope("read:logs"))]
ReadUserLogs = Annotated[Principal, Depends(any_scope("read:logs", "read:logs_users"))]


@router.get("/logs", summary="Search log records", description=DESCRIPTION)
async def search_logs(
    request: Request,
    container: ContainerDep,
    _: ReadLogs,
    page: Annotated[int, Query(ge=0, le=MAX_PAGE, description="Page index, from 0.")] = 0,
    per_page: Annotated[int, Query(ge=0, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    sort: Annotated[str | None, Query(examples=["date:-1"])] = None,
    fields: Annotated[str | None, Query(description="Comma-separated fields.")] = None,
    include_fields: Annotated[bool, Query(description="Include or exclude `fields`.")] = True,
    include_totals: Annotated[
        bool, Query(description="true: {start, limit, length, total, logs}; false: an array.")
    ] = False,
    after: Annotated[
        str | None, Query(alias="from", max_length=64, description="Checkpoint: a log_id.")
    ] = None,
    take: Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE)] = None,
    q: Annotated[str | None, Query(description="A query in Lucene syntax.")] = None,
    search: Annotated[
        str | None, Query(description="What the SDKs send for `q`: the same syntax.")
    ] = None,
    min_position: MinPosition = None,
) -> Response:
    if min_position is not None:
        await await_position(request, container, min_position)
    q = q if q is not None else search
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise ApiError(
            414, f"The query is longer than {MAX_QUERY_LENGTH} characters.", "invalid_query_string"
        )
    store = container.audit
    # As on Auth0, a checkpoint page ignores page, per_page, sort and include_totals (which
    # the SDKs send by default); `q` still applies.
    checkpoint = after is not None or take is not None

    def respond() -> Response:
        where = _translated(store, q)
        if checkpoint:
            query = LogQuery(where, limit=take or DEFAULT_PER_PAGE, after=after or "")
        else:
            query = LogQuery(
                where,
                _sort(sort),
                offset=page * per_page,
                limit=per_page,
                count_total=include_totals,
            )
        return _respond(store, query, fields, include_fields, include_totals and not checkpoint)

    return await run_in_threadpool(respond)


@router.get(
    "/logs/{id}",
    summary="A log record",
    description="One log record by its `log_id`.",
)
def get_log(id: str, container: ContainerDep, _: ReadLogs) -> Response:
    try:
        record = container.audit.log(id)
    except QueryTimeout:
        raise ApiError(503, TIMEOUT_MESSAGE, "temporarily_unavailable") from None
    if record is None:
        raise ApiError(404, "The log does not exist.", "inexistent_log")
    return json_response(record.as_auth0())


@router.get(
    "/users/{id}/logs",
    summary="A user's log records",
    description="The log records of one user (events and logins), newest first.",
)
def user_logs(
    id: str,
    container: ContainerDep,
    _: ReadUserLogs,
    page: Annotated[int, Query(ge=0, le=MAX_PAGE, description="Page index, from 0.")] = 0,
    per_page: Annotated[int, Query(ge=0, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    sort: Annotated[str | None, Query(examples=["date:-1"])] = None,
    include_totals: Annotated[
        bool, Query(description="true: {start, limit, length, total, logs}; false: an array.")
    ] = False,
) -> Response:
    user_id = checked_user_id(id, "retrieve logs for")
    store = container.audit
    where = Predicate(f"user_id = {store.dialect.placeholder}", (user_id,))
    query = LogQuery(
        where, _sort(sort), offset=page * per_page, limit=per_page, count_total=include_totals
    )
    return _respond(store, query, None, True, include_totals)


def _translated(store: AuditStore, q: str | None) -> Predicate:
    try:
        return store.translator.predicate(q)
    except InvalidQuery as error:
        raise invalid_query(error.message) from None


def _respond(
    store: AuditStore,
    query: LogQuery,
    fields: str | None,
    include_fields: bool,
    include_totals: bool,
) -> Response:
    try:
        position = str(store.position() or 0)
        found: LogPage = store.logs(query)
    except QueryTimeout:
        raise ApiError(503, TIMEOUT_MESSAGE, "temporarily_unavailable") from None
    records = [select_fields(r.as_auth0(), fields, include_fields) for r in found.records]
    body: Any = records
    if include_totals:
        body = {
            "start": query.offset,
            "limit": query.limit,
            "length": len(records),
            "total": found.total,
            "logs": records,
        }
    return json_response(body, headers={POSITION_HEADER: position})


def _sort(text: str | None) -> tuple[str, bool]:
    if text is None:
        return ("log_id", True)
    match = SORT_PATTERN.fullmatch(text.strip())
    if match is None or match["field"] not in SORTABLE:
        raise invalid_query(
            f"Query validation error: '{text}' is not field:1 or field:-1 on property sort "
            f"(fields: {', '.join(sorted(SORTABLE))})."
        )
    # A date sorts as its log id: the same order, and unique.
    column = "log_id" if match["field"] == "date" else match["field"]
    return (column, match["order"] == "-1")
