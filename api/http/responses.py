"""JSON responses rendered with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

POSITION_HEADER = "X-Metaledger-Position"
# Time-travel reads name the version they return.
VERSION_HEADER = "X-Metaledger-Version"
# A change-feed page names the position to read after next, so that an export can ask for the
# next page before it has parsed this one.
NEXT_HEADER = "X-Metaledger-Next"


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        # Datetimes render as ISO-8601 in UTC with "Z" (orjson writes them much faster than
        # Python formats them, which counts in a feed page of 10,000 events); a final newline
        # keeps a shell prompt off the output.
        orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def position_headers(position: int | None) -> dict[str, str]:
    """Write responses carry the position of their last event, for read-your-writes."""
    return {POSITION_HEADER: str(position)} if position is not None else {}
