"""The users import command: an Auth0 import file (a JSON array, or the newline-delimited JSON of
an Auth0 export, gzipped or not) applied line by line, many users to one append.

Each line is checked against Auth0's import schema; a bad line is reported with Auth0's error
codes and the others go on. New users are saved a chunk at a time (one transaction for many
users); a chunk that conflicts is split until the conflicting lines stand alone, and those are
upserted or reported. Every event carries the actor `{kind: "import", id: <job id>}`.

A line is idempotent: a user it creates has an id fixed by the line (the `user_id` given, or one
derived from the job id and line number), so a line applied before a crash conflicts with
itself when the job resumes and is recognised by the actor of that user's creation; an upsert
that already happened finds nothing left to change and writes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from metaledger.domain import metadata, password_hashes
from metaledger.domain.actor import Actor
from metaledger.domain.errors import DomainError
from metaledger.domain.jobs import FailedLine, Job, JobStore, LineError, bulk_collection_pace
from metaledger.domain.metadata import APP_METADATA, USER_METADATA, Metadata
from metaledger.domain.password_hashes import HashFormatError
from metaledger.domain.ports import EmailTakenError
from metaledger.domain.profiles import NewUser, UserProfiles, UserUpdate
from metaledger.domain.user import PROFILE_ATTRIBUTES, User, user_aggregate_id

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
PROFILE_FIELDS = tuple(name for name in PROFILE_ATTRIBUTES if name != "password_hash")
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


@dataclass
class Candidate:
    """A checked line: the user it creates, or the fields it upserts."""

    line: Line
    new: NewUser
    password_hash: str | None
    user: User
    claims: list[Any]
    upsert: dict[str, Any]  # root attributes and buckets an upsert replaces


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

    def __init__(self, profiles: UserProfiles, jobs: JobStore) -> None:
        self.profiles = profiles
        self.jobs = jobs

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
            chunk: list[Line] = []
            for line in read_lines(path, job.next_line):
                chunk.append(line)
                if len(chunk) == CHUNK:
                    self._apply_chunk(job, chunk, actor, upsert, seen, total, now)
                    progress(chunk[-1].number)
                    chunk = []
            if chunk:
                self._apply_chunk(job, chunk, actor, upsert, seen, total, now)
                progress(chunk[-1].number)
            return total

    def _apply_chunk(
        self,
        job: Job,
        chunk: list[Line],
        actor: Actor,
        upsert: bool,
        seen: _Seen,
        total: Outcome,
        now: Callable[[], float],
    ) -> None:
        outcome = Outcome()
        candidates: list[Candidate] = []
        for line in chunk:
            checked = self._check(job, line, actor, seen)
            if isinstance(checked, Candidate):
                candidates.append(checked)
            else:
                outcome.failed.append(FailedLine(line.number, line.value, checked))
        # Users whose id is taken are found in one query rather than by failed saves (an
        # upsert of many existing users, or a chunk retried after a crash).
        keys = self.profiles.keys.lookup(c.user.id for c in candidates)
        taken = [c for c in candidates if keys[c.user.id].record is not None]
        for candidate in taken:
            self._existing(candidate, job.id, actor, upsert, outcome)
        fresh = [c for c in candidates if keys[c.user.id].record is None]
        self._save(fresh, job.id, actor, upsert, outcome)
        self.jobs.add_errors(job.id, outcome.failed)
        total.inserted += outcome.inserted
        total.updated += outcome.updated
        self.jobs.checkpoint(job.id, chunk[-1].number + 1, total.inserted, total.updated, now())

    def _check(
        self, job: Job, line: Line, actor: Actor, seen: _Seen
    ) -> Candidate | list[LineError]:
        if line.error is not None:
            return [line.error]
        if not isinstance(line.value, dict):
            return [LineError("INVALID_TYPE", "Expected type object", "")]
        try:
            sent = ImportedUser.model_validate(line.value)
        except ValidationError as error:
            return [_schema_error(problem) for problem in error.errors()]
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
            password_hash = None
        duplicate = seen.duplicate_of(line.value)
        if duplicate is not None:
            errors.append(
                LineError("CONFLICT", f"Conflict with another user in the file: {duplicate}", "")
            )
        if errors:
            return errors
        seen.add(line.value)
        profile = sent.model_dump(include=set(PROFILE_FIELDS), exclude_none=True)
        buckets = {
            USER_METADATA: sent.user_metadata or {},
            APP_METADATA: sent.app_metadata or {},
        }
        new = NewUser(
            connection=job.connection,
            profile=profile,
            user_metadata=buckets[USER_METADATA],
            app_metadata=buckets[APP_METADATA],
            user_id=sent.user_id or line_user_id(job.id, line.number),
        )
        try:
            # The line's values were parsed for this line alone.
            user, claims = self.profiles.new_user(new, actor, password_hash, owned=True)
        except DomainError as error:
            return [LineError("INVALID_BODY", error.message, "")]
        replaced = {name: profile[name] for name in UPSERTABLE if name in profile}
        for bucket in (USER_METADATA, APP_METADATA):
            if getattr(sent, bucket) is not None:
                replaced[bucket] = buckets[bucket]
        return Candidate(line, new, password_hash, user, claims, replaced)

    def _save(
        self,
        candidates: list[Candidate],
        job_id: str,
        actor: Actor,
        upsert: bool,
        outcome: Outcome,
    ) -> None:
        """Saves the new users together; a conflicting set is halved down to single lines."""
        if not candidates:
            return
        try:
            self.profiles.save(
                *(c.user for c in candidates),
                cached=False,
                email_claims=[claim for c in candidates for claim in c.claims],
            )
        except (IntegrityError, EmailTakenError):
            # A save takes its users' pending events: each is made afresh for another try.
            for candidate in candidates:
                candidate.user, candidate.claims = self.profiles.new_user(
                    candidate.new, actor, candidate.password_hash
                )
            if len(candidates) == 1:
                self._existing(candidates[0], job_id, actor, upsert, outcome)
                return
            middle = len(candidates) // 2
            self._save(candidates[:middle], job_id, actor, upsert, outcome)
            self._save(candidates[middle:], job_id, actor, upsert, outcome)
            return
        outcome.inserted += len(candidates)

    def _existing(
        self, candidate: Candidate, job_id: str, actor: Actor, upsert: bool, outcome: Outcome
    ) -> None:
        """A line whose user exists: made by this very job before a restart, upserted, or
        reported."""
        user = self._find(candidate)
        if user is None:  # the id is a deleted user's: ids are never reused
            outcome.failed.append(
                FailedLine(candidate.line.number, candidate.line.value, [DELETED_USER])
            )
            return
        if self._created_by(user, job_id):
            outcome.inserted += 1
            return
        if not upsert:
            outcome.failed.append(
                FailedLine(candidate.line.number, candidate.line.value, [DUPLICATED_USER])
            )
            return
        update = _overwrite(user, candidate.upsert)
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

    def _find(self, candidate: Candidate) -> User | None:
        """The live user the candidate collides with: same user id, else same email in the
        connection."""
        new = candidate.user
        for user_id in [new.user_id, *self.profiles.email_index.user_ids_by_email(new.email or "")]:
            try:
                user = self.profiles.get_user(user_id)
            except DomainError:
                continue
            if user.user_id == new.user_id or user.connection == new.connection:
                return user
        return None

    def _created_by(self, user: User, job_id: str) -> bool:
        first = next(iter(self.profiles.events.get(user_aggregate_id(user.user_id), lte=1)))
        creator = getattr(first, "actor", None) or {}
        return creator.get("kind") == "import" and creator.get("id") == job_id


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
