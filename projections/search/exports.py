"""Exports of the present read from the search read model: each user's document made from the
state its row keeps, in key (creation) order, a page at a time, with no replay of the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from metaledger.projections.search.documents import document_of_state
from metaledger.projections.search.store import SearchStore

PAGE = 5000


def documents_in_read_model(
    store: SearchStore, up_to_key: int, connection: str | None = None
) -> Iterator[dict[str, Any]]:
    """The Auth0 document of every user (of `connection`, if named) created at or before the
    log position `up_to_key`, as the read model holds it when its page is read."""
    after = 0
    while rows := store.states_after(after, up_to_key, PAGE, connection):
        for _, state in rows:
            yield document_of_state(state)
        after = rows[-1][0]
