"""A change-stream message as consumers read it (see `projections.cloudevents` for the shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from metaledger.projections.cloudevents import EVENT_NAME, POSITION, SPEC_VERSION, VERSION


class InvalidMessage(ValueError):
    """The value is not a change-stream CloudEvent: it can never be handled (a poison message)."""


@dataclass(frozen=True)
class ChangeEvent:
    id: str
    type: str
    subject: str
    time: str
    event_name: str
    version: int
    position: int
    data: dict[str, Any]
    # The CloudEvent as it is on the wire, every attribute included.
    message: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def object(self) -> dict[str, Any]:
        """The user after the change (before it, for `user.deleted`)."""
        found: dict[str, Any] = self.data.get("object") or {}
        return found

    @property
    def changes(self) -> dict[str, Any]:
        found: dict[str, Any] = self.data.get("changes") or {}
        return found


def parse(value: bytes) -> ChangeEvent:
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise InvalidMessage(f"not JSON: {error}") from None
    if not isinstance(message, dict) or message.get("specversion") != SPEC_VERSION:
        raise InvalidMessage("not a CloudEvent 1.0")
    try:
        event = ChangeEvent(
            id=message["id"],
            type=message["type"],
            subject=message["subject"],
            time=message["time"],
            event_name=message[EVENT_NAME],
            version=message[VERSION],
            position=message[POSITION],
            data=message["data"],
            message=message,
        )
    except KeyError as error:
        raise InvalidMessage(f"missing attribute {error}") from None
    if not (isinstance(event.id, str) and isinstance(event.subject, str)):
        raise InvalidMessage("id and subject must be strings")
    if not isinstance(event.data, dict):
        raise InvalidMessage("data must be an object")
    return event
