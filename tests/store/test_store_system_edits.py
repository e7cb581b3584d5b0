"""Editing a system's intended use and description (so a returned report can be fixed):
permission, validation, logging, and nothing written when nothing changes."""

from __future__ import annotations

import pytest
from db_support import ADMIN, REVIEWER, SCIENTIST, SHA_A, row_counts

from audits.roles import MSG_DENIED, Actor, PermissionDenied, Role
from audits.store import Store, SystemInput, VersionInput
from audits.store.systems import MSG_NOTHING_TO_EDIT, MSG_UNKNOWN_SYSTEM
from audits.store.validation import MSG_EMPTY_TEXT

CREDIT = SystemInput("credit", description="Loan approvals", intended_use="")


@pytest.fixture
def credit(store: Store) -> Store:
    store.register_system_version(SCIENTIST, CREDIT, VersionInput(
        source="loans.csv", sha256=SHA_A, n_rows=10, roles={}, card="", card_data={},
        data_path=f"data/{SHA_A}.parquet"))
    return store


def test_intended_use_is_saved_and_logged_with_old_and_new(credit: Store) -> None:
    record = credit.describe_system(SCIENTIST, "credit", intended_use="  Pre-screening  ")
    assert record.intended_use == "Pre-screening" and record.description == "Loan approvals"
    assert credit.get_system("credit") == record
    entry = credit.log_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.entity, entry.entity_id) == (
        SCIENTIST.username, "update_system", "system", str(record.id))
    assert entry.payload == {"system": "credit", "changes": {
        "intended_use": {"old": "", "new": "Pre-screening"}}}
    assert credit.verify_log().ok


def test_description_may_be_emptied_and_both_change_in_one_entry(credit: Store) -> None:
    before = len(credit.log_entries())
    record = credit.describe_system(ADMIN, "credit", intended_use="Pre-screening",
                                    description="")
    assert (record.intended_use, record.description) == ("Pre-screening", "")
    entries = credit.log_entries()
    assert len(entries) == before + 1
    assert set(entries[0].payload["changes"]) == {"intended_use", "description"}


def test_an_unchanged_text_writes_nothing(credit: Store) -> None:
    credit.describe_system(SCIENTIST, "credit", intended_use="Pre-screening")
    before = row_counts(credit)
    credit.describe_system(SCIENTIST, "credit", intended_use="Pre-screening",
                           description="Loan approvals")
    assert row_counts(credit) == before


@pytest.mark.parametrize("actor", [REVIEWER, Actor("casey", Role.COMPLIANCE_OFFICER),
                                   Actor("lena", Role.PANEL_LEAD)])
def test_only_those_who_register_systems_may_edit(credit: Store, actor: Actor) -> None:
    before = row_counts(credit)
    with pytest.raises(PermissionDenied) as refused:
        credit.describe_system(actor, "credit", intended_use="anything")
    assert str(refused.value) == MSG_DENIED.format(
        actor=actor.username, role=actor.role.value, action="register a dataset",
        allowed="admin, data_scientist")
    assert row_counts(credit) == before


def test_bad_input_is_named_and_nothing_is_written(credit: Store) -> None:
    before = row_counts(credit)
    with pytest.raises(ValueError, match=MSG_EMPTY_TEXT.format(field="intended_use")):
        credit.describe_system(SCIENTIST, "credit", intended_use="   ")
    with pytest.raises(ValueError, match=MSG_NOTHING_TO_EDIT):
        credit.describe_system(SCIENTIST, "credit")
    with pytest.raises(TypeError, match="description"):
        credit.describe_system(SCIENTIST, "credit", description=3)  # type: ignore[arg-type]
    with pytest.raises(LookupError) as unknown:
        credit.describe_system(SCIENTIST, "hiring", intended_use="x")
    assert str(unknown.value) == MSG_UNKNOWN_SYSTEM.format(name="hiring", known="credit")
    assert row_counts(credit) == before
