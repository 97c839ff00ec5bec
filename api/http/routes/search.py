"""Management API v2: list and search users (`GET /api/v2/users`), from the search read model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.bootstrap import Container
from metaledger.api.http.deps import ContainerDep, any_scope
from metaledger.api.http.errors import ApiError
from metaledger.api.http.query_params import MAX_INT64, invalid_query
from metaledger.api.http.responses import POSITION_HEADER, json_response
from metaledger.api.http.routes.users import select_fields
from metaledger.projections.search.conditions import Node
from metaledger.projections.search.errors import InvalidQuery, QueryTimeout
from metaledger.projections.search.fields import ROOT_FIELDS, metadata_bucket
from metaledger.projections.search.store import (
    Found,
    PositionWatch,
    SearchRequest,
    SearchStore,
    Sort,
    TooManyWaiters,
)

router = APIRouter(prefix="/api/v2", tags=["users"])

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
# Offset paging reaches only the first 1,000 results of a search, as on Auth0.
MAX_REACHABLE = 1000
MAX_QUERY_LENGTH = 4096
MAX_WAIT_SECONDS = 10.0
# Searches waiting for `min_position` at once, per process. A waiter holds no thread, only its
# connection (a file descriptor) and a few objects: the cap keeps a flood of them within the
# process's descriptors, and a caller over it hears at once to come back.
MAX_WAITERS = 256
WAITERS_RETRY_AFTER_SECONDS = 1
SORT_PATTERN = re.compile(r"(?P<field>[^:]+):(?P<order>1|-1)")

PAGING_CAP_MESSAGE = (
    "You can only page through the first 1000 records. "
    "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation."
)
TIMEOUT_MESSAGE = (
    "The query exceeded the timeout. Please try refining your search criteria. "
    "See https://auth0.com/docs/best-practices/search-best-practices."
)
REFUSED_ENGINES = {
    "v1": "You are not allowed to use search_engine=v1.",
    "v2": "You are not allowed to use search_engine=v2. Use search_engine=v3 instead.",
}

DESCRIPTION = """
Lists users, or searches them with `q` in Auth0's user-search (v3) syntax: `field:value`,
`"phrases"`, `*` wildcards, ranges `[a TO b]` / `{a TO b}`, `AND` / `OR` / `NOT`, parentheses,
`_exists_:field`, dotted metadata paths (`user_metadata.addresses.city:"Paris"`). Results are
eventually consistent: they come from a read model that follows the event log.

metaledger extensions:
- ranges and wildcards on `user_metadata` / `app_metadata` (numeric when the bounds are
  numbers: `app_metadata.seats:[10 TO *]`);
- checkpoint paging past the first 1,000 results: `take` (then `from` = the `next` of the
  previous page) returns `{users, next}` in creation order, `next` absent on the last page;
- read-your-writes: `min_position` (a write's `X-Metaledger-Position` header) waits, up to
  10 seconds, until the read model has applied that write (503 if it has not; 400 at once for
  a position past the end of the event log; 503 with `Retry-After` at once when too many
  searches wait already). Every response carries the read model's position in
  `X-Metaledger-Position`.
"""

SearchScopes = Annotated[
    Principal, Depends(any_scope("read:users", "read:user_idp_tokens", separator=", "))
]


@router.get("/users", summary="List or search users", description=DESCRIPTION)
async def list_users(
    request: Request,
    container: ContainerDep,
    _: SearchScopes,
    # Past this index every page (per_page >= 1) lies beyond the reachable results; the bound
    # also keeps page * per_page an offset the stores can take.
    page: Annotated[int, Query(ge=0, le=MAX_REACHABLE, description="Page index, from 0.")] = 0,
    per_page: Annotated[int, Query(ge=0, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    include_totals: Annotated[
        bool, Query(description="true: {start, limit, length, total, users}; false: an array.")
    ] = False,
    sort: Annotated[str | None, Query(examples=["created_at:1"])] = None,
    fields: Annotated[str | None, Query(description="Comma-separated fields.")] = None,
    include_fields: Annotated[bool, Query(description="Include or exclude `fields`.")] = True,
    q: Annotated[str | None, Query(description="A query in Lucene syntax.")] = None,
    search_engine: Annotated[str | None, Query(pattern="^v[123]$")] = None,
    _connection: Annotated[
        str | None, Query(alias="connection", description="Honoured by search engine v1 only.")
    ] = None,
    _primary_order: Annotated[
        bool, Query(alias="primary_order", description="The order is always stable.")
    ] = True,
    after: Annotated[
        int | None,
        Query(alias="from", ge=0, le=MAX_INT64, description="Checkpoint: a page's `next`."),
    ] = None,
    take: Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE)] = None,
    min_position: Annotated[
        int | None, Query(ge=0, description="Wait until the read model reached this position.")
    ] = None,
) -> Response:
    if search_engine in REFUSED_ENGINES:
        raise invalid_query(REFUSED_ENGINES[search_engine])
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise ApiError(
            414, f"The query is longer than {MAX_QUERY_LENGTH} characters.", "invalid_query_string"
        )
    store = container.search
    if min_position is not None:
        await _await_position(request, container, min_position)

    def respond() -> Response:
        position = str(store.position() or 0)
        try:
            condition = store.translator.translate(q)
            if take is not None or after is not None:
                if sort is not None:
                    raise invalid_query("Checkpoint paging (from/take) cannot be sorted.")
                body = _checkpoint(store, condition, after or 0, take or DEFAULT_PER_PAGE)
            else:
                body = _page(store, condition, _sort(sort), page, per_page, include_totals)
        except InvalidQuery as error:
            raise invalid_query(error.message) from None
        except QueryTimeout:
            raise ApiError(503, TIMEOUT_MESSAGE, "temporarily_unavailable") from None
        return json_response(
            _shaped(body, fields, include_fields), headers={POSITION_HEADER: position}
        )

    # The search itself blocks: in the thread pool, as a plain `def` route would run.
    return await run_in_threadpool(respond)


async def _await_position(request: Request, container: Container, min_position: int) -> None:
    """Returns once the read model reached `min_position`, waiting in the event loop, not in a
    thread; refuses a position past the end of the log, and a wait over the process's cap."""
    store = container.search
    if await run_in_threadpool(_reached_or_past_end, container, min_position):
        return
    try:
        reached = await _watch(request, store).wait_for(min_position, MAX_WAIT_SECONDS)
    except TooManyWaiters:
        raise ApiError(
            503,
            "Too many searches are waiting for the search index; try again shortly.",
            "temporarily_unavailable",
            headers={"Retry-After": str(WAITERS_RETRY_AFTER_SECONDS)},
        ) from None
    if not reached:
        raise ApiError(
            503,
            f"The search index has not reached position {min_position} yet; try again.",
            "temporarily_unavailable",
        )


def _reached_or_past_end(container: Container, min_position: int) -> bool:
    """True when the read model has `min_position` already; a 400 when the event log does not
    reach it (no write has that position yet, so waiting could only time out)."""
    if (container.search.position() or 0) >= min_position:
        return True
    end = container.profiles.recorder.max_notification_id() or 0
    if min_position > end:
        raise invalid_query(
            f"Query validation error: min_position {min_position} is past the end of the event "
            f"log ({end}); pass the X-Metaledger-Position of a write."
        )
    return False


def _watch(request: Request, store: SearchStore) -> PositionWatch:
    """The process's watch on the read model's position, made by the first search that waits,
    in the event loop that serves the app."""
    state = request.app.state
    watch: PositionWatch | None = getattr(state, "search_watch", None)
    if watch is None:
        watch = state.search_watch = PositionWatch(store.position, MAX_WAITERS)
    return watch


def _sort(text: str | None) -> Sort | None:
    if text is None:
        return None
    match = SORT_PATTERN.fullmatch(text.strip())
    if match is None:
        raise invalid_query(
            f"Query validation error: '{text}' is not field:1 or field:-1 on property sort."
        )
    name = match["field"]
    if metadata_bucket(name):
        raise invalid_query("Sorting by user_metadata or app_metadata is not supported.")
    field = ROOT_FIELDS.get(name)
    if field is None:
        raise invalid_query(f"Query validation error: '{name}' cannot be sorted on property sort.")
    return Sort(field.column, match["order"] == "-1", field.nullable)


def _page(
    store: SearchStore,
    condition: Node,
    sort: Sort | None,
    page: int,
    per_page: int,
    include_totals: bool,
) -> Any:
    start = page * per_page
    # A page that reaches past the cap is refused only when there are results past it, so a
    # pager walking a smaller result set to its end meets an empty page, not an error.
    past_cap = start + per_page > MAX_REACHABLE
    result = store.search(
        SearchRequest(
            condition,
            sort,
            offset=start,
            limit=max(0, min(per_page, MAX_REACHABLE - start)),
            count_total=include_totals or past_cap,
        )
    )
    if past_cap and (result.total or 0) > MAX_REACHABLE:
        raise invalid_query(PAGING_CAP_MESSAGE)
    if not include_totals:
        return result.users
    return {
        "start": start,
        "limit": per_page,
        "length": len(result.users),
        "total": result.total,
        "users": result.users,
    }


def _checkpoint(store: SearchStore, condition: Node, after: int, take: int) -> Any:
    found = store.search(SearchRequest(condition, limit=take + 1, after_key=after)).users
    body: dict[str, Any] = {"users": found[:take]}
    if len(found) > take:
        body["next"] = found[take - 1].key
    return body


def _shaped(body: Any, fields: str | None, include_fields: bool) -> Any:
    """The body with each found user as its Auth0 object, narrowed to `fields`."""

    def shape(users: list[Found]) -> list[dict[str, Any]]:
        return [select_fields(f.document(), fields, include_fields) for f in users]

    if isinstance(body, list):
        return shape(body)
    return {**body, "users": shape(body["users"])}
