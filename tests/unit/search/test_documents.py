"""A user as the read model keeps it: columns, metadata entries, stored state."""

from __future__ import annotations

from typing import Any

from metaledger.domain.user import User
from metaledger.projections.search.documents import (
    MAX_INDEXED_BYTES,
    Indexed,
    columns_of,
    decode_state,
    encode_state,
    metadata_entries,
    user_row,
)
from metaledger.projections.search.fields import COLUMNS


def a_user(profile: dict[str, Any] | None = None, **buckets: dict[str, Any]) -> User:
    return User(
        user_id="auth0|jane",
        connection="Username-Password-Authentication",
        profile=profile or {},
        user_metadata=buckets.get("user_metadata", {}),
        app_metadata=buckets.get("app_metadata", {}),
        actor={"kind": "client", "id": "test"},
    )


def column(user: User, name: str) -> Any:
    return columns_of(user)[COLUMNS.index(name)]


def test_case_insensitive_fields_are_stored_lowercased() -> None:
    assert column(a_user({"name": "Jane DOE"}), "name") == "jane doe"


def test_case_sensitive_fields_are_stored_as_given() -> None:
    assert column(a_user({"username": "Jane_D"}), "username") == "Jane_D"


def test_the_email_domain_has_a_column_of_its_own() -> None:
    assert column(a_user({"email": "jane@Corp.Example.com"}), "email_domain") == "corp.example.com"


def test_the_connection_comes_from_the_identity() -> None:
    assert column(a_user(), "connection") == "Username-Password-Authentication"


def test_a_value_of_the_wrong_type_is_null() -> None:
    assert column(a_user({"blocked": "yes"}), "blocked") is None


def test_scalars_are_found_under_their_dotted_path() -> None:
    entries = metadata_entries(({"display": {"size": 13}}, {"plan": "pro", "on": True}))
    assert entries == {
        ("user_metadata.display.size", "13", 13.0),
        ("app_metadata.plan", "pro", None),
        ("app_metadata.on", "true", None),
    }


def test_arrays_add_no_path_segment() -> None:
    entries = metadata_entries(({"addresses": [{"city": "Paris"}, {"city": "Lyon"}]}, {}))
    assert entries == {
        ("user_metadata.addresses.city", "Paris", None),
        ("user_metadata.addresses.city", "Lyon", None),
    }


def test_a_repeated_value_is_one_entry() -> None:
    assert len(metadata_entries(({}, {"roles": ["admin", "admin"]}))) == 1


def test_null_and_empty_values_are_not_indexed() -> None:
    assert metadata_entries(({"a": None, "b": [], "c": {}}, {})) == frozenset()


def test_a_value_over_the_cap_is_not_indexed() -> None:
    assert metadata_entries(({"essay": "x" * (MAX_INDEXED_BYTES + 1)}, {})) == frozenset()


def test_a_value_with_nul_is_not_indexed() -> None:
    assert metadata_entries(({"note": "a\x00b"}, {})) == frozenset()


def test_the_stored_state_restores_the_same_auth0_user() -> None:
    user = a_user({"email": "jane@example.com"}, app_metadata={"plan": "pro"})
    user.patch_user_metadata({"hobby": "surfing"}, {"kind": "client", "id": "test"})
    restored = decode_state(encode_state(user), user.id, user.version)
    assert restored.as_auth0() == user.as_auth0()


def test_the_stored_state_never_holds_the_password_hash() -> None:
    user = a_user({"password_hash": "$argon2id$secret"})
    assert b"argon2id" not in encode_state(user)


def test_a_row_writes_only_the_metadata_entries_that_changed() -> None:
    user = a_user(app_metadata={"plan": "free", "roles": ["admin"]})
    before = Indexed.of(user)
    user.patch_app_metadata({"plan": "pro"}, {"kind": "client", "id": "test"})
    row = user_row(1, user, before)
    assert (set(row.added), set(row.removed)) == (
        {("app_metadata.plan", "pro", None)},
        {("app_metadata.plan", "free", None)},
    )


def test_a_row_updates_only_the_columns_that_changed() -> None:
    user = a_user({"name": "Jane"})
    before = Indexed.of(user)
    user.update_profile({"nickname": "jd"}, {"kind": "client", "id": "test"})
    changed = user_row(1, user, before).changed or ()
    # updated_at (milliseconds) changes too, unless both events fell in the same millisecond.
    assert set(changed) - {"updated_at"} == {"nickname"}


def test_a_new_row_writes_all_its_columns_and_metadata_entries() -> None:
    row = user_row(1, a_user(app_metadata={"plan": "pro"}), None)
    assert (set(row.added), set(row.removed), row.changed) == (
        {("app_metadata.plan", "pro", None)},
        set(),
        None,
    )
