"""The jobs and their per-line errors in tables of the event store's database (SQLite or
PostgreSQL), so every process of one store sees the same jobs: the `JobStore` port."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from metaledger.api.auth.failure_store import SqlTables
from metaledger.domain.jobs import EXPORT, PROCESSING, FailedLine, Job, LineError

JOBS_TABLE = "jobs"
JOB_ERRORS_TABLE = "job_errors"
JOB_COLUMNS = (
    "id, type, connection, created_at, params, status, next_line, inserted, updated, total, "
    "status_details, finished_at, heartbeat_at"
)


class SqlJobStore:
    def __init__(self, tables: SqlTables) -> None:
        self._tables = tables
        d = tables.dialect
        p = d.placeholder
        jobs, errors = tables.table(JOBS_TABLE), tables.table(JOB_ERRORS_TABLE)
        real, integer, text = d.real_type, d.integer_type, d.text_type
        for statement in (
            f"CREATE TABLE IF NOT EXISTS {jobs} (id {text} PRIMARY KEY, type {text} NOT NULL, "
            f"connection {text} NOT NULL, created_at {real} NOT NULL, params {text} NOT NULL, "
            f"status {text} NOT NULL, next_line {integer} NOT NULL, inserted {integer} NOT NULL, "
            f"updated {integer} NOT NULL, total {integer}, status_details {text}, "
            f"finished_at {real}, heartbeat_at {real}, claim {text})",
            f"CREATE INDEX IF NOT EXISTS {JOBS_TABLE}_by_status ON {jobs} (status, created_at)",
            f"CREATE TABLE IF NOT EXISTS {errors} (job_id {text} NOT NULL, line {integer} "
            f"NOT NULL, user_value {text} NOT NULL, errors {text} NOT NULL, "
            "PRIMARY KEY (job_id, line))",
        ):
            tables.write(statement)
        self._insert = f"INSERT INTO {jobs} ({JOB_COLUMNS}) VALUES ({', '.join([p] * 13)})"
        self._select = f"SELECT {JOB_COLUMNS} FROM {jobs} WHERE id = {p}"
        claimable = f"(status = 'pending' OR (status = '{PROCESSING}' AND heartbeat_at < {p}))"
        self._claim = (
            f"UPDATE {jobs} SET status = '{PROCESSING}', heartbeat_at = {p}, claim = {p} "
            f"WHERE id = (SELECT id FROM {jobs} WHERE {claimable} ORDER BY created_at LIMIT 1) "
            f"AND {claimable}"
        )
        self._claimed = f"SELECT {JOB_COLUMNS} FROM {jobs} WHERE claim = {p}"
        self._checkpoint = (
            f"UPDATE {jobs} SET next_line = {p}, inserted = {p}, updated = {p}, "
            f"heartbeat_at = {p} WHERE id = {p}"
        )
        self._heartbeat = f"UPDATE {jobs} SET heartbeat_at = {p} WHERE id = {p}"
        self._finish = (
            f"UPDATE {jobs} SET status = {p}, total = {p}, status_details = {p}, "
            f"finished_at = {p} WHERE id = {p}"
        )
        self._add_error = (
            f"INSERT INTO {errors} (job_id, line, user_value, errors) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (job_id, line) DO NOTHING"
        )
        self._errors = (
            f"SELECT line, user_value, errors FROM {errors} WHERE job_id = {p} ORDER BY line"
        )
        self._error_count = f"SELECT COUNT(*) AS n FROM {errors} WHERE job_id = {p}"
        self._expired = (
            f"SELECT id FROM {jobs} WHERE type = '{EXPORT}' AND status = 'completed' "
            f"AND finished_at < {p}"
        )
        self._mark_expired = (
            f"UPDATE {jobs} SET status = 'expired', status_details = "
            f"'The export file has expired' WHERE id = {p}"
        )

    def add(self, job: Job) -> None:
        self._tables.write(
            self._insert,
            (
                job.id,
                job.type,
                job.connection,
                job.created_at,
                orjson.dumps(job.params).decode(),
                job.status,
                job.next_line,
                job.inserted,
                job.updated,
                job.total,
                job.status_details,
                job.finished_at,
                None,
            ),
        )

    def get(self, job_id: str) -> Job | None:
        rows = self._tables.rows(self._select, (job_id,))
        return _job(rows[0]) if rows else None

    def claim(self, now: float, stale_before: float) -> Job | None:
        token = uuid.uuid4().hex  # names this claim alone, to read back what it took
        self._tables.write(self._claim, (now, token, stale_before, stale_before))
        rows = self._tables.rows(self._claimed, (token,))
        return _job(rows[0]) if rows else None

    def checkpoint(
        self, job_id: str, next_line: int, inserted: int, updated: int, now: float
    ) -> None:
        self._tables.write(self._checkpoint, (next_line, inserted, updated, now, job_id))

    def heartbeat(self, job_id: str, now: float) -> None:
        self._tables.write(self._heartbeat, (now, job_id))

    def add_errors(self, job_id: str, failed: list[FailedLine]) -> None:
        for line in failed:
            self._tables.write(
                self._add_error,
                (
                    job_id,
                    line.line,
                    orjson.dumps(line.user).decode(),
                    orjson.dumps([error.as_dict() for error in line.errors]).decode(),
                ),
            )

    def errors(self, job_id: str) -> list[FailedLine]:
        return [
            FailedLine(
                int(row["line"]),
                orjson.loads(row["user_value"]),
                [LineError(**error) for error in orjson.loads(row["errors"])],
            )
            for row in self._tables.rows(self._errors, (job_id,))
        ]

    def error_count(self, job_id: str) -> int:
        return int(self._tables.rows(self._error_count, (job_id,))[0]["n"])

    def finish(
        self, job_id: str, status: str, total: int | None, details: str | None, now: float
    ) -> None:
        self._tables.write(self._finish, (status, total, details, now, job_id))

    def expired_exports(self, before: float) -> list[str]:
        return [str(row["id"]) for row in self._tables.rows(self._expired, (before,))]

    def mark_expired(self, job_id: str) -> None:
        self._tables.write(self._mark_expired, (job_id,))


def _job(row: Any) -> Job:
    return Job(
        id=row["id"],
        type=row["type"],
        connection=row["connection"],
        created_at=float(row["created_at"]),
        params=orjson.loads(row["params"]),
        status=row["status"],
        next_line=int(row["next_line"]),
        inserted=int(row["inserted"]),
        updated=int(row["updated"]),
        total=None if row["total"] is None else int(row["total"]),
        status_details=row["status_details"],
        finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
    )
