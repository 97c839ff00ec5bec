"""Query parameters the Auth0 dialect has no type for: instants and comma-separated names."""

from __future__ import annotations

from datetime import UTC, datetime

from metaledger.api.http.errors import ApiError


def invalid_query(message: str) -> ApiError:
    return ApiError(400, message, "invalid_query_string")


def parse_instant(value: str, name: str) -> datetime:
    """An ISO-8601 date-time (`Z` or an offset; none means UTC), or a 400 naming `name`."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid_query(
            f"Query validation error: '{value}' is not an ISO-8601 date-time on property {name}."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
