"""The store's import of ratings made elsewhere, on SQLite and PostgreSQL.

Every expectation is read back from the tables themselves (not from the method's
answer): who was created, which ratings and assignments exist, which log entries.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from db_support import FAST_HASHER, SIGNING_KEY, row_counts
from interchange_support import (
    COMPLIANCE,
    LEAD,
    REVIEWER,
    SCIENTIST,
    ImportingStore,
    queued_audit,
    snapshot_sha256,
)
from sqlalchemy import select

from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.imports import (
    IMPORTED_KIND,
    ImportRejected,
    ImportRow,
    import_key,
    imported_username,
)
from audits.store.tables import AssignmentRow, Rating, ReviewerRow, User

ADMIN = Actor("root_admin", Role.ADMIN)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with ImportingStore(database_url, password_hasher=FAST_HASHER,
                        signing_key=SIGNING_KEY) as opened:
        yield opened


def _rows(case_ids: list[int]) -> list[ImportRow]:
    """Two annotators on the first case, one on the second."""
    return [ImportRow("line 2", case_ids[0], "ana@example.org", 1, 4, "clear", 12.0),
            ImportRow("line 3", case_ids[0], "ben@example.org", 0, 2),
            ImportRow("line 4", case_ids[1], "ana@example.org", 1, 5,
                      snapshot_sha256=snapshot_sha256(1))]


def _import(store: Store, run_id: int, rows: list[ImportRow], **kwargs: object):
    return store.import_ratings(LEAD, run_id, rows, source_format="long",  # type: ignore[attr-defined]
                                file_name="ratings.csv", **kwargs)


def test_import_creates_blind_imported_ratings_and_reviewers(store: Store) -> None:
    run_id, ids = queued_audit(store)
    result = _import(store, run_id, _rows(ids))
    assert (result.n_ratings_added, result.n_already_present, result.reviewers_created,
            result.skipped) == (3, 0, ("ana@example.org", "ben@example.org"), ())
    with store.engine.connect() as conn:
        users = conn.execute(select(User.username, User.display_name, User.role,
                                    User.password_hash, User.imported)
                             .where(User.imported.is_(True)).order_by(User.id)).all()
        panel = conn.execute(select(ReviewerRow.capacity, ReviewerRow.available)
                             .join(User, User.id == ReviewerRow.user_id)
                             .where(User.imported.is_(True))).all()
        ratings = conn.execute(
            select(Rating.case_id, User.display_name, Rating.label, Rating.confidence,
                   Rating.rationale, Rating.seconds_spent, Rating.imported_from,
                   Rating.idempotency_key, AssignmentRow.kind, AssignmentRow.status,
                   AssignmentRow.model_shown, AssignmentRow.sensitive_shown)
            .join(AssignmentRow, AssignmentRow.id == Rating.assignment_id)
            .join(ReviewerRow, ReviewerRow.id == Rating.reviewer_id)
            .join(User, User.id == ReviewerRow.user_id).order_by(Rating.id)).all()
    assert [tuple(u) for u in users] == [
        ("ext.ana@example.org", "ana@example.org", "reviewer", None, True),
        ("ext.ben@example.org", "ben@example.org", "reviewer", None, True)]
    assert [tuple(p) for p in panel] == [(0, False), (0, False)]  # never assigned in-app
    assert [tuple(r) for r in ratings] == [
        (ids[0], "ana@example.org", 1, 4, "clear", 12.0, "long:ratings.csv",
         import_key("long", ids[0], "ana@example.org"), IMPORTED_KIND, "rated", False, False),
        (ids[0], "ben@example.org", 0, 2, "", 0.0, "long:ratings.csv",
         import_key("long", ids[0], "ben@example.org"), IMPORTED_KIND, "rated", False, False),
        (ids[1], "ana@example.org", 1, 5, "", 0.0, "long:ratings.csv",
         import_key("long", ids[1], "ana@example.org"), IMPORTED_KIND, "rated", False, False)]
    actions = [e.action for e in store.log_entries(newest_first=False)
               if e.actor == LEAD.username]
    assert actions == ["add_user", "add_reviewer", "add_user", "add_reviewer",
                       "rating_created", "rating_created", "rating_created", "import_ratings"]
    assert store.verify_log().ok


def test_reimport_adds_nothing_and_logs_nothing(store: Store) -> None:
    run_id, ids = queued_audit(store)
    _import(store, run_id, _rows(ids))
    before, entries = row_counts(store), len(store.log_entries())
    again = _import(store, run_id, _rows(ids))
    assert (again.n_ratings_added, again.n_already_present, again.reviewers_created) == (
        0, 3, ())
    assert row_counts(store) == before and len(store.log_entries()) == entries
    # The same annotator and case from another format is the same rating: present.
    other = store.import_ratings(LEAD, run_id, _rows(ids)[:1],  # type: ignore[attr-defined]
                                 source_format="labelstudio", file_name="x.json")
    assert (other.n_ratings_added, other.n_already_present) == (0, 1)
    assert row_counts(store) == before


def test_one_bad_row_rejects_the_import_and_lists_every_bad_row(store: Store) -> None:
    run_id, ids = queued_audit(store)
    other_run, other_ids = queued_audit(store, 1, name="other")
    bad = [ImportRow("line 5", 999, "ana@example.org", 1),
           ImportRow("line 6", other_ids[0], "ana@example.org", 1),
           ImportRow("line 7", ids[2], None, 1),
           ImportRow("line 8", ids[2], "ana@example.org", None,
                     problem="label 'maybe' is not one of the two labels"),
           ImportRow("line 9", None, "ana@example.org", 1),
           ImportRow("line 10", ids[2], "ana@example.org", 1, snapshot_sha256="f" * 64),
           ImportRow("line 11", ids[2], "cleo@example.org", 1, 9),
           ImportRow("line 12", ids[1], "ana@example.org", 0)]  # twice: see line 4
    before, entries = row_counts(store), len(store.log_entries())
    with pytest.raises(ImportRejected) as info:
        _import(store, run_id, _rows(ids) + bad)
    reasons = {b.row: b.reason for b in info.value.bad}
    assert reasons == {
        "line 5": "case 999 does not exist",
        "line 6": f"case {other_ids[0]} belongs to audit run {other_run}, not {run_id}",
        "line 7": "no annotator",
        "line 8": "label 'maybe' is not one of the two labels",
        "line 9": "no case id",
        "line 10": (f"the task shows snapshot ffffffffffff of case {ids[2]}, but the store "
                    f"holds {snapshot_sha256(2)[:12]}: the file was exported from another "
                    "store or another audit"),
        "line 11": "confidence must be an integer from 1 to 5; got 9",
        "line 12": f"annotator 'ana@example.org' rated case {ids[1]} twice in this file "
                   "(also line 4)"}
    message = str(info.value)
    assert message.startswith("8 row(s) of ratings.csv cannot be placed, so nothing was "
                              "imported (pass --skip-bad")
    assert all(f"  {row}: " in message for row in reasons)
    assert row_counts(store) == before and len(store.log_entries()) == entries


def test_skip_bad_imports_the_good_rows_only(store: Store) -> None:
    run_id, ids = queued_audit(store)
    result = _import(store, run_id, [*_rows(ids), ImportRow("line 5", 999, "ana", 1)],
                     skip_bad=True)
    assert result.n_ratings_added == 3
    assert [s.as_dict() for s in result.skipped] == [
        {"row": "line 5", "reason": "case 999 does not exist"}]
    assert len(store.ratings_table(LEAD, run_id)) == 3


def test_closed_case_and_local_username_are_bad_rows(store: Store) -> None:
    run_id, ids = queued_audit(store)
    three = [ImportRow(f"line {i}", ids[0], f"r{i}", 1) for i in range(3)]
    _import(store, run_id, three)  # three unanimous ratings: the case closes
    assert store.list_cases(run_id)[0].status == "closed"
    store.add_user(ADMIN, "ext.mallory", Role.REVIEWER)
    with pytest.raises(ImportRejected) as info:
        _import(store, run_id, [ImportRow("line 2", ids[0], "zoe", 0),
                                ImportRow("line 3", ids[1], "mallory", 1)])
    assert [b.reason for b in info.value.bad] == [
        f"case {ids[0]} is closed; its ratings can no longer change",
        "annotator 'mallory' maps to username 'ext.mallory', which belongs to a user who "
        "is not an imported reviewer"]


def test_cases_settle_at_the_panel_overlap(store: Store) -> None:
    run_id, ids = queued_audit(store)
    store.set_panel_config(LEAD, run_id, {"overlap": 2})
    _import(store, run_id, [ImportRow("a", ids[0], "ana", 1),
                            ImportRow("b", ids[1], "ana", 1), ImportRow("c", ids[1], "ben", 0),
                            ImportRow("d", ids[2], "ana", 0), ImportRow("e", ids[2], "ben", 0)])
    cases = {c.id: c.status for c in store.list_cases(run_id)}
    assert cases == {ids[0]: "in_review", ids[1]: "disputed", ids[2]: "closed"}
    assert store.case_review(LEAD, ids[2]).final_label == 0
    assert [c.case_id for c in store.disputed_cases(LEAD, audit_run_id=run_id)] == [ids[1]]


def test_permissions(store: Store) -> None:
    run_id, ids = queued_audit(store)
    for actor in (SCIENTIST, REVIEWER, COMPLIANCE):
        with pytest.raises(PermissionDenied):
            store.import_ratings(actor, run_id, _rows(ids),  # type: ignore[attr-defined]
                                 source_format="long", file_name="f.csv")
        with pytest.raises(PermissionDenied):
            store.add_imported_reviewer(actor, "ana")  # type: ignore[attr-defined]
    with pytest.raises(LookupError, match="no audit run with id 99"):
        _import(store, 99, _rows(ids))
    with pytest.raises(ValueError, match="source_format must be"):
        store.import_ratings(LEAD, run_id, [], source_format="Label Studio",  # type: ignore[attr-defined]
                             file_name="f")


def test_add_imported_reviewer_is_idempotent(store: Store) -> None:
    first = store.add_imported_reviewer(LEAD, "Ana María López")  # type: ignore[attr-defined]
    again = store.add_imported_reviewer(LEAD, "Ana María López")  # type: ignore[attr-defined]
    assert first == again
    assert (first.username, first.display_name, first.capacity, first.available) == (
        imported_username("Ana María López"), "Ana María López", 0, False)
    user = store.get_user(first.username)
    assert user is not None and not user.has_password and user.role == Role.REVIEWER
    with pytest.raises(ValueError, match="annotator name must be 1 to 200"):
        store.add_imported_reviewer(LEAD, " ")  # type: ignore[attr-defined]


def test_imported_ratings_are_private_in_the_log(store: Store) -> None:
    run_id, ids = queued_audit(store)
    _import(store, run_id, _rows(ids))
    for entry in store.read_log(COMPLIANCE):
        if entry.action in ("rating_created", "add_reviewer"):
            assert "label" not in entry.payload and "username" not in entry.payload
    summary = next(e for e in store.read_log(COMPLIANCE) if e.action == "import_ratings")
    assert summary.payload["n_ratings_added"] == 3


def test_annotator_names_ignore_case(store: Store) -> None:
    run_id, ids = queued_audit(store)
    result = _import(store, run_id, [ImportRow("line 2", ids[0], "Ana@Example.org", 1),
                                     ImportRow("line 3", ids[1], "ana@example.org", 1)])
    assert (result.n_ratings_added, result.reviewers_created) == (2, ("Ana@Example.org",))
    again = _import(store, run_id, [ImportRow("line 2", ids[0], "ANA@example.org", 1)])
    assert (again.n_ratings_added, again.n_already_present) == (0, 1)
    with pytest.raises(ImportRejected, match="rated case .* twice in this file"):
        _import(store, run_id, [ImportRow("line 2", ids[2], "bo", 1),
                                ImportRow("line 3", ids[2], "BO", 0)])
