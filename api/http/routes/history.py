"""metaledger extensions: a user's history and the tenant-wide change feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.http.deps import ContainerDep, any_scope
from metaledger.api.http.query_params import MAX_INT64, invalid_query, names, parse_instant
from metaledger.api.http.responses import NEXT_HEADER, json_response
from metaledger.api.http.routes.users import checked_user_id
from metaledger.domain.feed import ChangeFeed
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.timeline import EVENT_TOPICS

router = APIRouter(prefix="/api/v2", tags=["history"])

EVENT_NAMES = frozenset(EVENT_TOPICS)
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
# So that a page's start (page * per_page, in the totals) is a 64-bit integer too.
MAX_PAGE = MAX_INT64 // MAX_PER_PAGE
DEFAULT_FEED_TAKE = 100
MAX_FEED_TAKE = 10_000

ReadUsers = Annotated[Principal, Depends(any_scope("read:users"))]
EventNames = Annotated[
    str | None,
    Query(description=f"Comma-separated event names: {', '.join(sorted(EVENT_NAMES))}."),
]

ENTRY_DESCRIPTION = (
    "Each event has its `version`, `event` name, `timestamp` (ISO-8601 UTC to the "
    "microsecond, usable as `as_of`), `actor` (kind, id, grant, request_id, ip), the `patch` "
    "as sent and the per-key `changes` ({old, new}; metadata keys read `user_metadata.<key>` / "
    "`app_metadata.<key>`). Events of an erased user keep version, time and actor; their "
    "`patch` and `changes` are null and `erased` is true."
)


@router.get(
    "/users/{id}/history",
    summary="A user's history (metaledger extension)",
    description="The user's events, newest first. Paginate with `page`/`per_page`"
    "/`include_totals`, or with checkpoints: `take`, then `from` = the `next` of the previous "
    "page. Filters: `event` names, `key` (a change key, or a prefix such as `app_metadata`), "
    "and the time range `since` (inclusive) to `until` (exclusive). " + ENTRY_DESCRIPTION,
)
def user_history(
    id: str,
    container: ContainerDep,
    _: ReadUsers,
    page: Annotated[int | None, Query(ge=0, le=MAX_PAGE, description="Page index, from 0.")] = None,
    per_page: Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE)] = None,
    include_totals: Annotated[
        bool, Query(description="Wrap the page in {events, start, limit, length, total}.")
    ] = False,
    before: Annotated[
        int | None,
        Query(
            alias="from",
            ge=1,
            le=MAX_INT64,
            description="Checkpoint: events older than this version.",
        ),
    ] = None,
    take: Annotated[int | None, Query(ge=1, le=MAX_PER_PAGE)] = None,
    event: EventNames = None,
    key: Annotated[str | None, Query(min_length=1, examples=["app_metadata.plan"])] = None,
    since: Annotated[str | None, Query(description="ISO-8601 date-time, inclusive.")] = None,
    until: Annotated[str | None, Query(description="ISO-8601 date-time, exclusive.")] = None,
) -> Response:
    user_id = checked_user_id(id, "retrieve")
    checkpoint = before is not None or take is not None
    if checkpoint and (page is not None or per_page is not None or include_totals):
        raise invalid_query("Use either page/per_page/include_totals or from/take, not both.")
    where = HistoryFilter(
        events=names(event, EVENT_NAMES, "event"),
        key=key,
        since=parse_instant(since, "since") if since else None,
        until=parse_instant(until, "until") if until else None,
    )
    history = UserHistory(container.profiles)
    if checkpoint:
        found = history.checkpoint(user_id, where, before, take or DEFAULT_PER_PAGE)
        body: dict[str, Any] = {"events": [entry.as_dict() for entry in found.entries]}
        if found.next is not None:
            body["next"] = found.next
        return json_response(body)
    size = per_page or DEFAULT_PER_PAGE
    result = history.page(user_id, where, page or 0, size)
    entries = [entry.as_dict() for entry in result.entries]
    if not include_totals:
        return json_response(entries)
    return json_response(
        {
            "events": entries,
            "start": (page or 0) * size,
            "limit": size,
            "length": len(entries),
            "total": result.total,
        }
    )


@router.get(
    "/events",
    summary="The change feed (metaledger extension)",
    description="Every user's events in global order, for audit exports and for services "
    "that poll rather than read Kafka: the events after position `from` (0: from the start), "
    "at most `take`, and `next`, the position to ask from next time (also in the "
    "X-Metaledger-Next header, so an export can ask for a page before parsing the previous "
    "one). Positions increase but "
    "are not contiguous. With `user_id`, the filter applies within the `take` events scanned, "
    "so a page may be short before the end. " + ENTRY_DESCRIPTION,
)
def change_feed(
    container: ContainerDep,
    _: ReadUsers,
    after: Annotated[int, Query(alias="from", ge=0, le=MAX_INT64, description="A position.")] = 0,
    take: Annotated[int, Query(ge=1, le=MAX_FEED_TAKE)] = DEFAULT_FEED_TAKE,
    event: EventNames = None,
    user_id: Annotated[str | None, Query(min_length=1)] = None,
) -> Response:
    page = ChangeFeed(container.profiles).read(
        after, take, names(event, EVENT_NAMES, "event"), user_id
    )
    return json_response(
        {"events": [item.as_dict() for item in page.items], "next": page.next},
        headers={NEXT_HEADER: str(page.next)},
    )
