"""The users import command: an Auth0 import file (a JSON array, or the newline-delimited JSON of
an Auth0 export, gzipped or not) applied line by line, many users to one append.

Each line is checked against Auth0's import schema; a bad line is reported with Auth0's error
codes and the others go on. New users are saved a chunk at a time (one transaction for many
users); a chunk that conflicts is split until the conflicting lines stand alone, and those are
upserted or reported. Every event carries the actor `{kind: "import", id: <job id>}`. The lines
of a file of several chunks are checked, and their new users' events built and sealed, in
worker processes a few chunks ahead of the writing thread, which decides in file order what
depends on earlier lines (duplicates within the file) and on the store (users that exist).

A line is idempotent: a user it creates has an id fixed by the line (the `user_id` given, or one
derived from the job id and line number), so a line applied before a crash conflicts with
itself when the job resumes and is recognised by the actor of that user's creation; an upsert
that already happened finds nothing left to change and writes nothing.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import itertools
import multiprocessing
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from metaledger.domain import metadata, password_hashes
from metaledger.domain.actor import Actor
from metaledger.domain.application import SealedCreation, new_users_sealer
from metaledger.domain.errors import DomainError
from metaledger.domain.jobs import FailedLine, Job, JobStore, LineError, bulk_collection_pace
from metaledger.domain.metadata import APP_METADATA, USER_METADATA, Metadata, MetadataLimits
from metaledger.domain.password_hashes import HashFormatError
from metaledger.domain.ports import EmailTakenError
from metaledger.domain.profiles import (
    NewUser,
    UserProfiles,
    UserUpdate,
    email_claims,
    new_user_fields,
)
from metaledger.domain.user import (
    SHOWN_PROFILE_ATTRIBUTES,
    User,
    user_aggregate_id,
    user_created,
)

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 4000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Root attributes an upsert replaces (Auth0's upsertable fields, beside the two buckets).
UPSERTABLE = (
    "blocked",
    "email_verified",
    "family_name",
    "given_name",
    "name",
    "nickname",
    "picture",
)
PROFILE_FIELDS = set(SHOWN_PROFILE_ATTRIBUTES)
# Worker processes start from a server forked once, with this module loaded: not a copy of
# the API process, whose threads may hold locks at the moment of a fork.
WORKERS = multiprocessing.get_context("forkserver")
WORKERS.set_forkserver_preload([__name__])
# What an Auth0 users export carries beside the import schema: kept by the store itself, so
# dropped from newline-delimited lines rather than refused.
EXPORT_ONLY_FIELDS = frozenset(
    {
        "created_at",
        "updated_at",
        "identities",
        "logins_count",
        "last_login",
        "last_ip",
        "last_password_reset",
        "multifactor",
        "Id",
        "Connection",
    }
)
DUPLICATED_USER = LineError(
    "DUPLICATED_USER", "The user already exist and upsert parameter is false"
)
DELETED_USER = LineError("DUPLICATED_USER", "The user_id belonged to a deleted user", "user_id")
TYPE_NAMES = {
    "string_type": "string",
    "bool_type": "boolean",
    "dict_type": "object",
    "list_type": "array",
}


class ImportFileError(DomainError):
    """The file as a whole cannot be read as an import (a 400 for the request)."""


class ImportedUser(BaseModel):
    """A line of Auth0's import schema."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: StrictStr
    user_id: StrictStr | None = None
    email_verified: StrictBool | None = None
    username: StrictStr | None = None
    given_name: StrictStr | None = None
    family_name: StrictStr | None = None
    name: StrictStr | None = None
    nickname: StrictStr | None = None
    picture: StrictStr | None = None
    blocked: StrictBool | None = None
    phone_number: StrictStr | None = None
    phone_verified: StrictBool | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    password_hash: StrictStr | None = None
    custom_password_hash: dict[str, Any] | None = None
    # Accepted as Auth0 accepts them; metaledger has no MFA to enrol them in.
    mfa_factors: list[Any] | None = None


@dataclass(frozen=True)
class Line:
    number: int
    value: Any  # the parsed JSON, or the raw text when it is not JSON
    error: LineError | None = None


@dataclass(frozen=True)
class LineRules:
    """What checking a line takes, sent to the worker processes with each chunk."""

    job_id: str
    connection: str
    limits: MetadataLimits
    connection_error: str | None  # the job's connection does not exist (any more)


class Checked(NamedTuple):
    """A line as a worker checked it: what the file's earlier lines cannot change. Whether
    it duplicates an earlier line is decided in order, by the writer."""

    errors: list[LineError]  # found before duplicates are looked for
    claims_keys: bool = False  # it passed the schema: unless it has errors, its keys are taken
    body_error: LineError | None = None  # the user cannot be made (reported after a duplicate)
    created: SealedCreation | None = None  # the new user's UserCreated, sealed
    email: str | None = None


class LineBatch(NamedTuple):
    """A chunk's lines as sent to a worker process: their values in one JSON document, which
    the process reads many times faster than a pickle of as many objects."""

    numbers: list[int]
    values: bytes
    errors: dict[int, LineError]  # the lines that could not be read


@dataclass
class Candidate:
    """A checked line: the user it creates (or, when the user exists, upserts)."""

    line: Line
    created: SealedCreation
    email: str | None
    aggregate_id: UUID

    @property
    def user_id(self) -> str:
        return self.created.user_id


@dataclass
class Outcome:
    inserted: int = 0
    updated: int = 0
    failed: list[FailedLine] = field(default_factory=list)


def open_import(path: Path) -> IO[bytes]:
    """The file's bytes, ungzipped if they are gzipped."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == GZIP_MAGIC
    return cast(IO[bytes], gzip.open(path, "rb")) if gzipped else path.open("rb")


def read_lines(path: Path, start: int = 1) -> Iterator[Line]:
    """The users of the file from line `start` on: the items of a JSON array (numbered from
    1), or the lines of newline-delimited JSON (blank lines keep their numbers)."""
    with open_import(path) as stream:
        head = stream.read(64).lstrip()
        stream.seek(0)
        if head.startswith(b"["):
            try:
                items = orjson.loads(stream.read())
            except orjson.JSONDecodeError as error:
                raise ImportFileError(f"Users file is not valid JSON: {error}") from None
            if not isinstance(items, list):
                raise ImportFileError("Users file must be an array")
            for number, item in enumerate(items[start - 1 :], start):
                yield Line(number, item)
            return
        for number, raw in enumerate(stream, 1):
            if number < start or not raw.strip():
                continue
            try:
                yield Line(number, _without_export_fields(orjson.loads(raw)))
            except orjson.JSONDecodeError:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                yield Line(number, text, LineError("INVALID_JSON", "Line is not valid JSON"))


def check_file(path: Path) -> int:
    """The number of users in the file; ImportFileError when it cannot be read as an import."""
    try:
        return sum(1 for _ in read_lines(path))
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise ImportFileError(f"Users file cannot be read: {error}") from None


def _without_export_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key not in EXPORT_ONLY_FIELDS}
    return value


def line_user_id(job_id: str, number: int) -> str:
    """The id of the user a line without `user_id` creates: fixed by the job and the line."""
    digest = hashlib.sha256(f"{job_id}:{number}".encode()).hexdigest()
    return f"auth0|{digest[:24]}"


class UserImporter:
    """Applies one import job's lines to the store, recording progress in the job store."""

    def __init__(
        self,
        profiles: UserProfiles,
        jobs: JobStore,
        *,
        chunk_size: int = CHUNK,
        workers: int = os.cpu_count() or 1,
    ) -> None:
        self.profiles = profiles
        self.jobs = jobs
        self.chunk_size = chunk_size  # lines a transaction, and a worker's task
        self.workers = workers

    def run(
        self,
        job: Job,
        path: Path,
        now: Callable[[], float],
        progress: Callable[[int], None] = lambda line: None,
    ) -> Outcome:
        """Applies the lines from the job's checkpoint on; returns the whole job's counts."""
        with bulk_collection_pace():
            actor = Actor(kind="import", id=job.id)
            upsert = bool(job.params.get("upsert"))
            seen = _Seen()
            if job.next_line > 1:  # what the lines applied before the checkpoint claimed
                failed = {line.line for line in self.jobs.errors(job.id)}
                for line in read_lines(path):
                    if line.number >= job.next_line:
                        break
                    if line.number not in failed:
                        seen.add(line.value)
            total = Outcome(job.inserted, job.updated)
            rules = LineRules(
                job.id,
                job.connection,
                self.profiles.limits,
                None if job.connection in self.profiles.connections else CONNECTION_MISSING,
            )
            chunks = _chunks(read_lines(path, job.next_line), self.chunk_size)
            for chunk, checked in checked_chunks(rules, chunks, self.workers):
                self._apply_chunk(job, chunk, checked, actor, upsert, seen, total, now)
                progress(chunk[-1].number)
            return total

    def _apply_chunk(
        self,
        job: Job,
        chunk: list[Line],
        checked: list[Checked],
        actor: Actor,
        upsert: bool,
        seen: _Seen,
        total: Outcome,
        now: Callable[[], float],
    ) -> None:
        outcome = Outcome()
        candidates: list[Candidate] = []
        for line, result in zip(chunk, checked, strict=True):
            errors = result.errors
            if result.claims_keys:
                duplicate = seen.duplicate_of(line.value) if errors else seen.claim(line.value)
                if duplicate is not None:
                    message = f"Conflict with another user in the file: {duplicate}"
                    errors = [*errors, LineError("CONFLICT", message, "")]
            if not errors and result.body_error is not None:
                errors = [result.body_error]
            if errors:
                outcome.failed.append(FailedLine(line.number, line.value, errors))
            else:
                created = cast(SealedCreation, result.created)
                aggregate_id = UUID(bytes=created.aggregate_id)
                candidates.append(Candidate(line, created, result.email, aggregate_id))
        # Users whose id is taken are found in one query rather than by failed saves (an
        # upsert of many existing users, or a chunk retried after a crash).
        keys = self.profiles.keys.lookup(c.aggregate_id for c in candidates)
        fresh = []
        for candidate in candidates:
            if keys[candidate.aggregate_id].record is None:
                fresh.append(candidate)
            else:
                self._existing(candidate, job, actor, upsert, outcome)
        self._save(fresh, job, actor, upsert, outcome)
        self.jobs.add_errors(job.id, outcome.failed)
        total.inserted += outcome.inserted
        total.updated += outcome.updated
        self.jobs.checkpoint(job.id, chunk[-1].number + 1, total.inserted, total.updated, now())

    def _save(
        self,
        candidates: list[Candidate],
        job: Job,
        actor: Actor,
        upsert: bool,
        outcome: Outcome,
    ) -> None:
        """Saves the new users together; a conflicting set is halved down to single lines (a
        failed transaction wrote nothing, so their sealed events go again as they are)."""
        if not candidates:
            return
        try:
            self.profiles.insert_sealed(
                [c.created for c in candidates],
                email_claims=[
                    claim
                    for c in candidates
                    for claim in email_claims(job.connection, c.user_id, c.email, None)
                ],
            )
        except (IntegrityError, EmailTakenError):
            if len(candidates) == 1:
                self._existing(candidates[0], job, actor, upsert, outcome)
                return
            middle = len(candidates) // 2
            self._save(candidates[:middle], job, actor, upsert, outcome)
            self._save(candidates[middle:], job, actor, upsert, outcome)
            return
        outcome.inserted += len(candidates)

    def _existing(
        self, candidate: Candidate, job: Job, actor: Actor, upsert: bool, outcome: Outcome
    ) -> None:
        """A line whose user exists: made by this very job before a restart, upserted, or
        reported."""
        user = self._find(candidate, job.connection)
        if user is None:  # the id is a deleted user's: ids are never reused
            outcome.failed.append(
                FailedLine(candidate.line.number, candidate.line.value, [DELETED_USER])
            )
            return
        if self._created_by(user, job.id):
            outcome.inserted += 1
            return
        if not upsert:
            outcome.failed.append(
                FailedLine(candidate.line.number, candidate.line.value, [DUPLICATED_USER])
            )
            return
        update = _overwrite(user, _replaced(candidate.line.value))
        try:
            if update.profile or update.buckets:
                self.profiles.update_user(user.user_id, update, actor)
        except DomainError as error:
            outcome.failed.append(
                FailedLine(
                    candidate.line.number,
                    candidate.line.value,
                    [LineError("INVALID_BODY", error.message, "")],
                )
            )
            return
        outcome.updated += 1

    def _find(self, candidate: Candidate, connection: str) -> User | None:
        """The live user the candidate collides with: same user id, else same email in the
        connection."""
        user_id, email = candidate.user_id, candidate.email
        for found_id in [user_id, *self.profiles.email_index.user_ids_by_email(email or "")]:
            try:
                user = self.profiles.get_user(found_id)
            except DomainError:
                continue
            if user.user_id == user_id or user.connection == connection:
                return user
        return None

    def _created_by(self, user: User, job_id: str) -> bool:
        first = next(iter(self.profiles.events.get(user_aggregate_id(user.user_id), lte=1)))
        creator = getattr(first, "actor", None) or {}
        return creator.get("kind") == "import" and creator.get("id") == job_id


CONNECTION_MISSING = "Connection does not exist."


def checked_chunks(
    rules: LineRules, chunks: Iterator[list[Line]], workers: int
) -> Iterator[tuple[list[Line], list[Checked]]]:
    """Each chunk with its lines checked, in the file's order. With more than one chunk and
    more than one core, the chunks are checked in worker processes, a few ahead of the one
    the caller is writing; a single chunk is checked here, with no process started."""
    head = list(itertools.islice(chunks, 2))
    if len(head) < 2 or workers < 2:
        for chunk in itertools.chain(head, chunks):
            yield chunk, check_lines(rules, chunk)
        return
    pool = worker_pool(workers)
    ahead: deque[tuple[list[Line], Future[list[Checked]]]] = deque()
    try:
        for chunk in itertools.chain(head, chunks):
            ahead.append((chunk, pool.submit(check_batch, rules, _batch(chunk))))
            if len(ahead) > workers:
                oldest, checked = ahead.popleft()
                yield oldest, checked.result()
        while ahead:
            oldest, checked = ahead.popleft()
            yield oldest, checked.result()
    except BrokenProcessPool:
        _pools.pop(workers, None)  # a worker died: the next job starts a new pool
        raise
    finally:
        # A job stopped at a checkpoint leaves the chunks checked ahead unread.
        for _, checked in ahead:
            checked.cancel()


_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The process's pool of `workers` worker processes, started by the first import that
    needs it and kept for the next: a worker's start imports the program's main module
    again (as multiprocessing does), which takes longer than checking a chunk."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ProcessPoolExecutor(workers, mp_context=WORKERS)
        return pool


def check_batch(rules: LineRules, batch: LineBatch) -> list[Checked]:
    """`check_lines` in a worker process."""
    values = orjson.loads(batch.values)
    return check_lines(
        rules,
        [Line(n, v, batch.errors.get(n)) for n, v in zip(batch.numbers, values, strict=True)],
    )


def _batch(chunk: list[Line]) -> LineBatch:
    return LineBatch(
        [line.number for line in chunk],
        orjson.dumps([line.value for line in chunk]),
        {line.number: line.error for line in chunk if line.error is not None},
    )


def check_lines(rules: LineRules, lines: list[Line]) -> list[Checked]:
    """Checks each line on its own, and seals the UserCreated of each that makes a user."""
    actor = Actor(kind="import", id=rules.job_id)
    seal = _sealer()
    return [_check_line(rules, actor, seal, line) for line in lines]


@functools.cache
def _sealer() -> Callable[[DomainEventProtocol[Any]], SealedCreation]:
    return new_users_sealer()


def _check_line(
    rules: LineRules,
    actor: Actor,
    seal: Callable[[DomainEventProtocol[Any]], SealedCreation],
    line: Line,
) -> Checked:
    if line.error is not None:
        return Checked([line.error])
    if not isinstance(line.value, dict):
        return Checked([LineError("INVALID_TYPE", "Expected type object", "")])
    try:
        sent = ImportedUser.model_validate(line.value)
    except ValidationError as error:
        return Checked([_schema_error(problem) for problem in error.errors()])
    errors = []
    if not EMAIL.match(sent.email):
        errors.append(
            LineError(
                "INVALID_FORMAT",
                f"Object didn't pass validation for format email: {sent.email}",
                "email",
            )
        )
    try:
        password_hash = _stored_hash(sent)
    except HashFormatError as error:
        errors.append(LineError(error.code, error.message, error.path))
    if errors:
        return Checked(errors, claims_keys=True)
    if rules.connection_error is not None:
        return Checked([], True, LineError("INVALID_BODY", rules.connection_error, ""))
    new = NewUser(
        connection=rules.connection,
        profile=sent.model_dump(include=PROFILE_FIELDS, exclude_none=True),
        user_metadata=sent.user_metadata or {},
        app_metadata=sent.app_metadata or {},
        user_id=sent.user_id or line_user_id(rules.job_id, line.number),
    )
    try:
        # The line's values were parsed for this line alone: the event may hold them.
        fields = new_user_fields(new, actor, rules.limits, password_hash)
    except DomainError as error:
        return Checked([], True, LineError("INVALID_BODY", error.message, ""))
    created = seal(user_created(**fields))
    return Checked([], True, None, created, fields["profile"].get("email"))


def _chunks(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    iterator = iter(lines)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _replaced(value: dict[str, Any]) -> dict[str, Any]:
    """The root attributes and metadata buckets a line's upsert replaces (the line passed
    the strict schema, so its values are the checked ones)."""
    replaced = {name: value[name] for name in UPSERTABLE if value.get(name) is not None}
    for bucket in (USER_METADATA, APP_METADATA):
        if value.get(bucket) is not None:
            replaced[bucket] = value[bucket]
    return replaced


def _overwrite(user: User, replaced: dict[str, Any]) -> UserUpdate:
    """The update that makes the user's upsertable fields what the line says: root attributes
    set, each metadata bucket replaced whole (keys the line lacks deleted), nothing unchanged."""
    profile = {
        name: value
        for name, value in replaced.items()
        if name in UPSERTABLE and not metadata.same_json(user.profile.get(name), value)
    }
    buckets: dict[str, Metadata | None] = {}
    for bucket in (USER_METADATA, APP_METADATA):
        if bucket not in replaced:
            continue
        old: Metadata = getattr(user, bucket)
        new: Metadata = replaced[bucket]
        patch: Metadata = {k: v for k, v in new.items() if not metadata.same_json(old.get(k), v)}
        patch.update({key: None for key in old if key not in new})
        if patch:
            buckets[bucket] = patch
    return UserUpdate(profile=profile, buckets=buckets)


def _stored_hash(sent: ImportedUser) -> str | None:
    if sent.password_hash is not None and sent.custom_password_hash is not None:
        raise HashFormatError(
            "CONFLICT", "Only one of password_hash and custom_password_hash may be given", ""
        )
    if sent.password_hash is not None:
        return password_hashes.checked_bcrypt(sent.password_hash)
    if sent.custom_password_hash is not None:
        return password_hashes.checked_custom(sent.custom_password_hash)
    return None


def _schema_error(problem: Any) -> LineError:
    path = ".".join(str(part) for part in problem.get("loc", ()))
    kind = problem.get("type", "")
    if kind == "extra_forbidden":
        return LineError(
            "OBJECT_ADDITIONAL_PROPERTIES", f"Additional properties not allowed: {path}", path
        )
    if kind == "missing":
        return LineError(
            "OBJECT_MISSING_REQUIRED_PROPERTY", f"Missing required property: {path}", path
        )
    expected = TYPE_NAMES.get(kind, kind.removesuffix("_type"))
    found = type(problem.get("input")).__name__
    return LineError("INVALID_TYPE", f"Expected type {expected} but found type {found}", path)


class _Seen:
    """The emails, user ids and usernames claimed by earlier lines of the file."""

    def __init__(self) -> None:
        self._keys: set[tuple[str, str]] = set()

    @staticmethod
    def _keys_of(value: Any) -> list[tuple[str, str]]:
        if not isinstance(value, dict):
            return []
        keys = []
        for name in ("email", "user_id", "username"):
            item = value.get(name)
            if isinstance(item, str):
                if name == "email":
                    item = item.lower()
                elif name == "user_id" and "|" not in item:
                    item = f"auth0|{item}"  # as the user is stored
                keys.append((name, item))
        return keys

    def duplicate_of(self, value: Any) -> str | None:
        for name, item in self._keys_of(value):
            if (name, item) in self._keys:
                return f"{name} {item}"
        return None

    def add(self, value: Any) -> None:
        self._keys.update(self._keys_of(value))

    def claim(self, value: Any) -> str | None:
        """What an earlier line already claimed of the value's keys; else the keys are
        claimed."""
        duplicate = self.duplicate_of(value)
        if duplicate is None:
            self.add(value)
        return duplicate
