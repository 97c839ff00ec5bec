"""The contract of the tenant-code store (rules, rules configuration, actions, bindings), on
SQLite and PostgreSQL: documents by kind and id, a name unique per kind, ordered reads, and
one store shared by every process opened on the same database.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

import pytest

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles
from metaledger.api.code_store import RULE, RULES_CONFIG, NameTaken, TenantCode
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles


@pytest.fixture
def code(profiles: UserProfiles) -> TenantCode:
    return stores.tenant_code(profiles)


class TenantCodeContract:
    """What either backend must do. Subclasses set `backend`."""

    def test_a_document_reads_back_as_written(self, code: TenantCode) -> None:
        code.add(RULE, "rul_1", "one", 1, {"id": "rul_1", "script": "function () {}"})
        assert code.get(RULE, "rul_1") == {"id": "rul_1", "script": "function () {}"}

    def test_an_unknown_document_is_none(self, code: TenantCode) -> None:
        assert code.get(RULE, "rul_missing") is None

    def test_documents_list_by_position_then_name(self, code: TenantCode) -> None:
        code.add(RULE, "rul_b", "b", 2, "b")
        code.add(RULE, "rul_c", "c", 1, "c")
        code.add(RULE, "rul_a", "a", 2, "a")
        assert code.all(RULE) == ["c", "a", "b"]

    def test_a_name_is_unique_within_its_kind(self, code: TenantCode) -> None:
        code.add(RULE, "rul_1", "same", 1, 1)
        with pytest.raises(NameTaken):
            code.add(RULE, "rul_2", "same", 2, 2)
        assert code.all(RULE) == [1]

    def test_the_same_name_may_serve_two_kinds(self, code: TenantCode) -> None:
        code.add(RULE, "x", "same", 1, 1)
        code.add(RULES_CONFIG, "x", "same", 0, 2)
        assert (code.get(RULE, "x"), code.get(RULES_CONFIG, "x")) == (1, 2)

    def test_put_replaces_a_document(self, code: TenantCode) -> None:
        code.put(RULES_CONFIG, "KEY", "KEY", 0, "old")
        code.put(RULES_CONFIG, "KEY", "KEY", 0, "new")
        assert code.all(RULES_CONFIG) == ["new"]

    def test_renaming_onto_a_taken_name_is_refused(self, code: TenantCode) -> None:
        code.add(RULE, "rul_1", "one", 1, 1)
        code.add(RULE, "rul_2", "two", 2, 2)
        with pytest.raises(NameTaken):
            code.put(RULE, "rul_2", "one", 2, 3)
        assert code.get(RULE, "rul_2") == 2

    def test_a_removed_document_is_gone(self, code: TenantCode) -> None:
        code.add(RULE, "rul_1", "one", 1, 1)
        code.remove(RULE, "rul_1")
        assert code.get(RULE, "rul_1") is None
        code.add(RULE, "rul_2", "one", 1, 2)  # its name is free again

    def test_another_process_reads_what_one_wrote(
        self, code: TenantCode, settings: Settings
    ) -> None:
        other = build_profiles(settings)
        try:
            code.add(RULE, "rul_1", "one", 1, {"n": 1})
            assert stores.tenant_code(other).get(RULE, "rul_1") == {"n": 1}
        finally:
            other.close()


class TestOnSQLite(TenantCodeContract):
    backend = "sqlite"


class TestOnPostgres(TenantCodeContract):
    backend = "postgres"
