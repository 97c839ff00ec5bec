"""Query parameters the Auth0 dialect has no type for: instants, comma-separated names, and
the bound of integers that reach the stores."""

from __future__ import annotations

from datetime import UTC, datetime

from metaledger.api.http.errors import ApiError

# The largest integer both stores hold (SQLite INTEGER, PostgreSQL bigint): a position, key or
# offset above it cannot be bound to a statement, so a parameter past it is refused with 400.
MAX_INT64 = 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def invalid_query(message: str) -> ApiError:
    return ApiError(400, message, "invalid_query_string")


def parse_instant(value: str, name: str) -> datetime:
    """An ISO-8601 date-time (`Z` or an offset; none means UTC) from the epoch on, in UTC,
    or a 400 naming `name`."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid_query(
            f"Query validation error: '{value}' is not an ISO-8601 date-time on property {name}."
        ) from None
    out_of_range = invalid_query(
        f"Query validation error: '{value}' is out of range (1970-01-01T00:00:00Z to "
        f"9999-12-31T23:59:59.999999Z) on property {name}."
    )
    try:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # its offset moved it out of the years 1 to 9999
        raise out_of_range from None
    # Events are timed in microseconds since the epoch, and a range starts a microsecond
    # before its bound, which the year 1 has not got.
    if moment < EPOCH:
        raise out_of_range
    return moment


def names(value: str | None, known: frozenset[str], name: str) -> frozenset[str]:
    """A comma-separated list of names, each one of `known`."""
    listed = frozenset(part.strip() for part in (value or "").split(",") if part.strip())
    unknown = sorted(listed - known)
    if unknown:
        raise invalid_query(
            f"Query validation error: unknown {', '.join(unknown)} on property {name} "
            f"(one of {', '.join(sorted(known))})."
        )
    return listed
