"""The contract of the job store (`JobStore`), on SQLite and PostgreSQL.

Jobs are queued, taken by one runner at a time, resumed by another once their owner stops
beating, checkpointed, and keep each failed line's errors once however often it is tried.
"""

from __future__ import annotations

import pytest

from metaledger.api import stores
from metaledger.api.job_store import SqlJobStore
from metaledger.domain.jobs import (
    COMPLETED,
    EXPORT,
    IMPORT,
    PROCESSING,
    FailedLine,
    Job,
    LineError,
)
from metaledger.domain.profiles import UserProfiles


@pytest.fixture
def store(profiles: UserProfiles) -> SqlJobStore:
    return stores.job_store(profiles)


def queued(store: SqlJobStore, job_id: str, created_at: float, kind: str = IMPORT) -> Job:
    job = Job(job_id, kind, "Username-Password-Authentication", created_at, {"upsert": True})
    store.add(job)
    return job


class JobStoreContract:
    """What either backend's job store must do. Subclasses set `backend`."""

    def test_a_queued_job_reads_back_as_it_was_queued(self, store: SqlJobStore) -> None:
        job = queued(store, "job_a", 10.0)

        assert store.get("job_a") == job

    def test_an_unknown_job_is_none(self, store: SqlJobStore) -> None:
        assert store.get("job_missing") is None

    def test_claim_takes_the_oldest_pending_job_and_marks_it_processing(
        self, store: SqlJobStore
    ) -> None:
        queued(store, "job_new", 20.0)
        queued(store, "job_old", 10.0)

        claimed = store.claim(now=100.0, stale_before=50.0)

        assert claimed is not None
        assert (claimed.id, claimed.status) == ("job_old", PROCESSING)

    def test_a_job_in_progress_is_not_claimed_twice(self, store: SqlJobStore) -> None:
        queued(store, "job_a", 10.0)
        store.claim(now=100.0, stale_before=50.0)

        assert store.claim(now=101.0, stale_before=51.0) is None

    def test_a_job_whose_owner_stopped_beating_is_claimed_again_from_its_checkpoint(
        self, store: SqlJobStore
    ) -> None:
        queued(store, "job_a", 10.0)
        store.claim(now=100.0, stale_before=50.0)
        store.checkpoint("job_a", next_line=1001, inserted=990, updated=5, now=110.0)

        resumed = store.claim(now=200.0, stale_before=150.0)

        assert resumed is not None
        assert (resumed.next_line, resumed.inserted, resumed.updated) == (1001, 990, 5)

    def test_a_heartbeat_keeps_the_job_with_its_owner(self, store: SqlJobStore) -> None:
        queued(store, "job_a", 10.0)
        store.claim(now=100.0, stale_before=50.0)
        store.heartbeat("job_a", now=190.0)

        assert store.claim(now=200.0, stale_before=150.0) is None

    def test_a_failed_line_is_kept_once_however_often_it_is_reported(
        self, store: SqlJobStore
    ) -> None:
        queued(store, "job_a", 10.0)
        failed = FailedLine(3, {"email": "x"}, [LineError("INVALID_FORMAT", "bad", "email")])

        store.add_errors("job_a", [failed])
        store.add_errors("job_a", [failed])

        assert store.errors("job_a") == [failed]
        assert store.error_count("job_a") == 1

    def test_errors_are_listed_in_line_order_per_job(self, store: SqlJobStore) -> None:
        queued(store, "job_a", 10.0)
        queued(store, "job_b", 11.0)
        errors = [LineError("DUPLICATED_USER", "exists")]
        store.add_errors("job_a", [FailedLine(9, "x", errors), FailedLine(2, "y", errors)])
        store.add_errors("job_b", [FailedLine(1, "z", errors)])

        assert [line.line for line in store.errors("job_a")] == [2, 9]

    def test_a_finished_job_is_not_claimed(self, store: SqlJobStore) -> None:
        queued(store, "job_a", 10.0)
        store.claim(now=100.0, stale_before=50.0)
        store.finish("job_a", COMPLETED, 7, None, now=120.0)

        assert store.claim(now=500.0, stale_before=450.0) is None
        finished = store.get("job_a")
        assert finished is not None
        assert (finished.status, finished.total, finished.finished_at) == (COMPLETED, 7, 120.0)

    def test_completed_exports_past_their_expiry_are_listed_until_marked(
        self, store: SqlJobStore
    ) -> None:
        queued(store, "job_old", 10.0, EXPORT)
        queued(store, "job_new", 11.0, EXPORT)
        store.finish("job_old", COMPLETED, 1, None, now=100.0)
        store.finish("job_new", COMPLETED, 1, None, now=300.0)

        assert store.expired_exports(before=200.0) == ["job_old"]
        store.mark_expired("job_old")
        assert store.expired_exports(before=200.0) == []

    def test_another_process_on_the_same_store_sees_the_jobs(
        self, store: SqlJobStore, profiles: UserProfiles
    ) -> None:
        queued(store, "job_a", 10.0)

        assert stores.job_store(profiles).get("job_a") is not None


class TestOnSQLite(JobStoreContract):
    backend = "sqlite"


class TestOnPostgres(JobStoreContract):
    backend = "postgres"
