"""The garbage collector's pace while bulk jobs run: relaxed during them, as before after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from metaledger.domain.jobs import BULK_GC_THRESHOLD, bulk_collection_pace


@pytest.fixture(autouse=True)
def default_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_a_job_collects_the_young_generation_less_often() -> None:
    with bulk_collection_pace():
        assert gc.get_threshold() == (BULK_GC_THRESHOLD, 10, 10)


def test_the_threshold_is_restored_when_the_job_ends() -> None:
    with bulk_collection_pace():
        pass
    assert gc.get_threshold() == (700, 10, 10)


def test_the_threshold_is_restored_when_the_job_fails() -> None:
    with pytest.raises(RuntimeError), bulk_collection_pace():
        raise RuntimeError("the job fails")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_jobs_restore_the_threshold_only_when_the_last_ends() -> None:
    first, second = bulk_collection_pace(), bulk_collection_pace()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == BULK_GC_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)
