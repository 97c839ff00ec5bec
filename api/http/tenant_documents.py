"""What the rules and actions routes share: strict bodies, and stored documents or Auth0's 404."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from metaledger.api.code_store import NameTaken, TenantCode
from metaledger.api.http.errors import ApiError


class StrictBody(BaseModel):
    """A request body: no unknown field, no coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


def stored(code: TenantCode, kind: str, id_: str, missing: ApiError) -> dict[str, Any]:
    """The document, or `missing` raised."""
    document: dict[str, Any] | None = code.get(kind, id_)
    if document is None:
        raise missing
    return document


def saved(
    code: TenantCode, kind: str, document: dict[str, Any], position: float, taken: str
) -> None:
    """Creates or replaces `document` (by its `id`, under its `name`); 409 `taken` when another
    document of the kind has the name."""
    try:
        code.put(kind, document["id"], document["name"], position, document)
    except NameTaken:
        raise ApiError(409, taken, "conflict") from None
