"""Who made a change: recorded on every event."""

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The principal behind a command.

    `kind` is "client" for machine-to-machine tokens and "user" for end-user tokens (or
    "self-signup"); `id` is the client id or user id.
    """

    kind: str
    id: str
    grant: str | None = None
    request_id: str | None = None
    ip: str | None = None

    def as_dict(self) -> dict[str, Any]:
        # `asdict` deep-copies every value; these are all immutable, and a bulk import
        # records one actor per user.
        return {field.name: getattr(self, field.name) for field in fields(self)}


SYSTEM = Actor(kind="system", id="metaledger")
