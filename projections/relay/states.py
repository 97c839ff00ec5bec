"""Users as the relay last published them, so that a batch is a fold of its own events.

Each event needs the Auth0 user object before and after it. Loading the aggregate for every
event would read its history again and again; instead the relay keeps, for the users it saw
recently, the User as of the last event it published and folds each new event into it. A user
it does not hold at the right version (after a restart, or evicted) is loaded once, at the
version just before the event, and folded from there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import CanInitAggregate

from metaledger.domain.user import User

DEFAULT_MAXSIZE = 20_000

UserLoader = Callable[[UUID, int], User | None]
"""The user at a version (None when the user has no such version)."""


@dataclass
class _Known:
    user: User
    shown: dict[str, Any]  # user.as_auth0(), as of user.version


@dataclass(frozen=True)
class Transition:
    before: dict[str, Any] | None
    after: dict[str, Any]


class UserStates:
    def __init__(self, load: UserLoader, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self._load = load
        self._maxsize = maxsize
        self._known: OrderedDict[UUID, _Known] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def apply(self, event: User.Event) -> Transition:
        """Folds `event` into its user; raises when it does not follow the user's history."""
        aggregate_id = event.originator_id
        known = self._known.pop(aggregate_id, None)
        if isinstance(event, CanInitAggregate):
            user = cast(User, event.mutate(None))
            before = None
        else:
            expected = event.originator_version - 1
            if known is None or known.user.version != expected:
                loaded = self._load(aggregate_id, expected)
                known = None if loaded is None else _Known(loaded, loaded.as_auth0())
            if known is None:
                raise LookupError(f"user {aggregate_id} has no version {expected}")
            before = known.shown
            user = known.user
            event.mutate(user)
        shown = user.as_auth0()
        self._known[aggregate_id] = _Known(user, shown)
        if len(self._known) > self._maxsize:
            self._known.popitem(last=False)
        return Transition(before, shown)

    def forget(self, aggregate_id: UUID) -> None:
        self._known.pop(aggregate_id, None)
