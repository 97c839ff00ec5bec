"""A user's profile exactly as it was at a version or at a moment.

A moment becomes a version through the timestamp → version index; the profile at a version is
the library's `repository.get(id, version=n)`, which starts from the newest snapshot at or below
it, so a long history costs no more than its last few events.
"""

from __future__ import annotations

from datetime import datetime

from metaledger.domain.errors import UserNotFound
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.timeline import format_instant
from metaledger.domain.user import User, user_aggregate_id


def user_at_version(profiles: UserProfiles, user_id: str, version: int) -> User:
    """The user after their `version`-th event; not found if erased or deleted by then."""
    aggregate_id = user_aggregate_id(user_id)
    # Read the key afresh: an erased user has no past to show.
    profiles.keys.forget(aggregate_id)
    record = profiles.keys.record(aggregate_id)
    if record is None or record.key is None:
        raise UserNotFound("The user does not exist.")
    user = profiles.get_user(user_id, version=version)
    if user.version != version:
        raise UserNotFound(f"The user has no version {version}.")
    return user


def user_as_of(profiles: UserProfiles, user_id: str, moment: datetime) -> User:
    """The user as the last event recorded at or before `moment` left them."""
    times = profiles.time_index
    version = times.version_at(user_aggregate_id(user_id), moment)
    if version is None:
        raise UserNotFound(f"The user did not exist at {format_instant(moment)}.")
    return user_at_version(profiles, user_id, version)
