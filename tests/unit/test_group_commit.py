"""Group commit: concurrent work shares a commit, and each writer gets its own outcome."""

from __future__ import annotations

import threading

import pytest

from metaledger.domain.group_commit import GroupCommit


def test_a_lone_writer_commits_its_own_work_at_once() -> None:
    batches: list[list[int]] = []

    def commit(batch: list[int]) -> list[int | BaseException]:
        batches.append(batch)
        return [item * 10 for item in batch]

    assert GroupCommit(commit).submit(4) == 40
    assert batches == [[4]]


def test_writers_arriving_during_a_commit_share_the_next_one() -> None:
    batches: list[list[int]] = []
    first_commit_started = threading.Event()
    release_first_commit = threading.Event()

    def commit(batch: list[int]) -> list[int | BaseException]:
        batches.append(batch)
        if len(batches) == 1:
            first_commit_started.set()
            release_first_commit.wait(5)
        return [item + 1 for item in batch]

    group: GroupCommit[int, int] = GroupCommit(commit)
    results: dict[int, int] = {}

    def write(item: int) -> None:
        results[item] = group.submit(item)

    first = threading.Thread(target=write, args=(0,))
    first.start()
    first_commit_started.wait(5)
    others = [threading.Thread(target=write, args=(item,)) for item in range(1, 6)]
    for thread in others:
        thread.start()
    while len(group._queue) < 5:  # all five are queued behind the running commit
        threading.Event().wait(0.001)
    release_first_commit.set()
    for thread in [first, *others]:
        thread.join(5)
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4, 5]
    assert results == {item: item + 1 for item in range(6)}


def test_each_writer_gets_its_own_error() -> None:
    def commit(batch: list[int]) -> list[int | BaseException]:
        return [ValueError(item) if item % 2 else item for item in batch]

    group: GroupCommit[int, int] = GroupCommit(commit)
    assert group.submit(2) == 2
    with pytest.raises(ValueError, match="3"):
        group.submit(3)


def test_a_failing_commit_fails_every_writer_in_the_batch() -> None:
    def commit(batch: list[int]) -> list[int | BaseException]:
        raise RuntimeError("store unavailable")

    with pytest.raises(RuntimeError, match="store unavailable"):
        GroupCommit(commit).submit(1)
