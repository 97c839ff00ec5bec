"""metaledger extension: `GET /api/v2/audit/changes`, every user's changes by key, value, actor,
client and time, newest first; JSON pages with checkpoints, or CSV for an auditor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from metaledger.api.auth.tokens import Principal
from metaledger.api.bootstrap import Container
from metaledger.api.http.deps import ContainerDep, any_scope
from metaledger.api.http.errors import ApiError
from metaledger.api.http.query_params import MAX_INT64, invalid_query, parse_instant
from metaledger.api.http.responses import NEXT_HEADER, POSITION_HEADER, json_response
from metaledger.projections.audit.export import CSV_COLUMNS, cells, csv_line
from metaledger.projections.audit.records import micros
from metaledger.projections.audit.store import AuditStore, ChangePage, ChangeQuery, Cursor
from metaledger.projections.search.errors import QueryTimeout
from metaledger.projections.search.store import PositionWatch, TooManyWaiters

router = APIRouter(prefix="/api/v2", tags=["audit"])

DEFAULT_TAKE = 100
MAX_TAKE = 1000
CSV_PAGE = 1000
TIMEOUT_MESSAGE = "The query exceeded the timeout. Please narrow it (key, time range)."

DESCRIPTION = """
Every user's changes, one per key an event changed, newest first (metaledger extension). Each
has the `user_id`, the `key` (`app_metadata.roles`, `user_metadata.hobby`, `email`), the `old`
and `new` values, the `event` and its `version` and `position`, the `date`, the `actor` (kind
and id), the `client_id`, the `request_id` and the `ip`.

Filters: `key` (a key, or a prefix such as `app_metadata`), `to` (the new value, or a value an
array gained: `to=admin` finds who granted the role) and `from` (the old value, or a value an
array lost), `actor_kind`, `actor_id`, `client_id`, `user_id`, and `since` (inclusive) to
`until` (exclusive). Page with `take` and `before` = the `next` of the previous page (also in
the X-Metaledger-Next header). With `Accept: text/csv`, every matching change in one CSV file
(values as JSON). An erased user's changes are gone; their log records stay. `min_position` (a
write's `X-Metaledger-Position`) waits until the read model has that write.
"""

MAX_WAIT_SECONDS = 10.0
MAX_WAITERS = 256
ReadLogs = Annotated[Principal, Depends(any_scope("read:logs"))]
MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_INT64,
        description="Wait (up to 10 s) until the audit read model has this position: a "
        "write's X-Metaledger-Position.",
    ),
]
# Stored keys and values never hold NUL (the domain refuses it), and PostgreSQL cannot take one
# in a text parameter: a filter holding it is refused rather than sent.
WITHOUT_NUL = r"^[^\x00]*$"
Text = Annotated[str | None, Query(min_length=1, max_length=1024, pattern=WITHOUT_NUL)]


@router.get(
    "/audit/changes", summary="Changes across users (metaledger extension)", description=DESCRIPTION
)
async def audit_changes(
    request: Request,
    container: ContainerDep,
    _: ReadLogs,
    key: Text = None,
    to: Text = None,
    from_: Annotated[
        str | None, Query(alias="from", min_length=1, max_length=1024, pattern=WITHOUT_NUL)
    ] = None,
    actor_kind: Text = None,
    actor_id: Text = None,
    client_id: Text = None,
    user_id: Text = None,
    since: Annotated[str | None, Query(description="ISO-8601 date-time, inclusive.")] = None,
    until: Annotated[str | None, Query(description="ISO-8601 date-time, exclusive.")] = None,
    before: Annotated[
        str | None, Query(max_length=64, description="Checkpoint: the previous page's `next`.")
    ] = None,
    take: Annotated[int | None, Query(ge=1, le=MAX_TAKE)] = None,
    min_position: MinPosition = None,
) -> Response:
    if min_position is not None:
        await await_position(request, container, min_position)
    query = ChangeQuery(
        key=key,
        to=to,
        from_=from_,
        actor_kind=actor_kind,
        actor_id=actor_id,
        client_id=client_id,
        user_id=user_id,
        since=micros(parse_instant(since, "since")) if since else None,
        until=micros(parse_instant(until, "until")) if until else None,
        after=_cursor(before) if before else None,
        take=take or DEFAULT_TAKE,
    )
    store = container.audit
    position = str(await run_in_threadpool(store.position) or 0)
    headers = {POSITION_HEADER: position}
    if "text/csv" in request.headers.get("accept", ""):
        first = await run_in_threadpool(_page, store, replace(query, take=CSV_PAGE))
        return StreamingResponse(
            _csv(store, query, first),
            media_type="text/csv; charset=utf-8",
            headers={**headers, "Content-Disposition": 'attachment; filename="changes.csv"'},
        )
    page = await run_in_threadpool(_page, store, query)
    body: dict[str, Any] = {"changes": [change.as_dict() for change in page.changes]}
    if page.next is not None:
        body["next"] = page.next
        headers[NEXT_HEADER] = page.next
    return json_response(body, headers=headers)


async def await_position(request: Request, container: Container, min_position: int) -> None:
    """Returns once the audit read model reached `min_position`, waiting in the event loop; a
    position past the end of the log is refused at once, as is a wait over the cap."""
    store = container.audit

    def reached_or_past_end() -> bool:
        if (store.position() or 0) >= min_position:
            return True
        end = container.profiles.recorder.max_notification_id() or 0
        if min_position > end:
            raise invalid_query(
                f"Query validation error: min_position {min_position} is past the end of the "
                f"event log ({end}); pass the X-Metaledger-Position of a write."
            )
        return False

    if await run_in_threadpool(reached_or_past_end):
        return
    state = request.app.state
    watch: PositionWatch | None = getattr(state, "audit_watch", None)
    if watch is None:
        watch = state.audit_watch = PositionWatch(store.position, MAX_WAITERS)
    try:
        reached = await watch.wait_for(min_position, MAX_WAIT_SECONDS)
    except TooManyWaiters:
        reached = False
    if not reached:
        raise ApiError(
            503,
            f"The audit read model has not reached position {min_position} yet; try again.",
            "temporarily_unavailable",
            headers={"Retry-After": "1"},
        )


def _cursor(text: str) -> Cursor:
    try:
        return Cursor.parse(text)
    except ValueError:
        raise invalid_query(
            f"Query validation error: '{text}' is not the `next` of a page on property before."
        ) from None


def _page(store: AuditStore, query: ChangeQuery) -> ChangePage:
    try:
        return store.changes(query)
    except QueryTimeout:
        raise ApiError(503, TIMEOUT_MESSAGE, "temporarily_unavailable") from None


def _csv(store: AuditStore, query: ChangeQuery, first: ChangePage) -> Iterator[str]:
    """The header, then every page from the first one on (pages read as the file is sent)."""
    yield csv_line(CSV_COLUMNS)
    page = first
    while True:
        for change in page.changes:
            yield csv_line(cells(change))
        if page.next is None:
            return
        page = store.changes(replace(query, take=CSV_PAGE, after=Cursor.parse(page.next)))
