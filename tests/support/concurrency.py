"""Calls started at the same moment from threads of their own, as concurrent requests are."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


def at_once(calls: Sequence[Callable[[], object]]) -> list[object]:
    """Each call's result, or the exception it raised, in the order of `calls`."""
    outcomes: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as error:  # an outcome like any other, for the caller to check
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
