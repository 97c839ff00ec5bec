"""JSON responses rendered with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

POSITION_HEADER = "X-Metaledger-Position"
# Time-travel reads name the version they return.
VERSION_HEADER = "X-Metaledger-Version"


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def position_headers(position: int | None) -> dict[str, str]:
    """Write responses carry the position of their last event, for read-your-writes."""
    return {POSITION_HEADER: str(position)} if position is not None else {}
