"""Model versions: candidates with lineage, a person's approval or rejection, the log."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from typing import Any

import pytest
from alembic import command
from db_support import (
    ADMIN,
    HANG_TIMEOUT_S,
    SCIENTIST,
    SHA_A,
    SHA_B,
    SHA_C,
    Database,
    add_dataset,
    row_counts,
)
from sqlalchemy import inspect, text

from audits.roles import PERMISSIONS, Actor, PermissionDenied, Role
from audits.store import ModelRecord, Store
from audits.store.approvals import MSG_INACTIVE_USER, MSG_NOT_A_PERSON, MSG_UNKNOWN_USER
from audits.store.db import alembic_config, make_engine
from audits.store.provenance import (
    MSG_BAD_LINEAGE,
    MSG_LINEAGE_WITHOUT_PARENT,
    MSG_PARENT_DATASET,
    MSG_UNKNOWN_MODEL,
    MSG_UNKNOWN_RUN,
)
from audits.store.validation import MSG_BAD_ID, MSG_NOT_OBJECT
from audits.store.versions import (
    MSG_NOT_CANDIDATE,
    MSG_NOTE_REQUIRED,
    MSG_PARENT_NOT_DEPLOYED,
    MSG_SELF_APPROVAL,
)

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
LINEAGE = [{"case_id": 7, "row": 12, "old_label": 0, "new_label": 1, "source": "majority"},
           {"case_id": 9, "row": 30, "old_label": 1, "new_label": 0, "source": "adjudicated"}]
NEW_COLUMNS = {"parent_id", "status", "source_audit_run_id", "lineage_json", "decided_by",
               "decided_at", "decision_note"}


def _sha(value: Any) -> str:
    # An oracle independent of canonical_json: the same rules spelt out with json.dumps.
    text_ = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text_.encode()).hexdigest()


def _hex(n: int) -> str:
    return f"{n:064x}"


def _model(store: Store, dataset_id: int, sha256: str, by: Actor = SCIENTIST,
           **version: Any) -> ModelRecord:
    return store.record_model(by, dataset_id=dataset_id, kind="logistic_regression",
                              sha256=sha256, path="models/lr.skops", params={"C": 1.0},
                              metrics={"accuracy": 0.85}, feature_names=["age", "hours"],
                              split={"test_size": 0.3}, **version)


def _run(store: Store, dataset_id: int, model_id: int) -> int:
    run = store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=model_id,
                                 config={"tau": 0.8})
    return store.finish_audit_run(SCIENTIST, run.id, results={"rows": 10}).id


def _family(store: Store, n_candidates: int = 1) -> tuple[ModelRecord, list[ModelRecord]]:
    """A deployed root, an audit of it and ``n_candidates`` retrained children."""
    for username, role in (("casey", Role.COMPLIANCE_OFFICER), ("root_admin", Role.ADMIN),
                           ("dana", Role.DATA_SCIENTIST)):
        if store.get_user(username) is None:
            store.add_user(Actor.system(), username, role)
    dataset_id = add_dataset(store)
    root = _model(store, dataset_id, SHA_B)
    run_id = _run(store, dataset_id, root.id)
    children = [_model(store, dataset_id, _hex(100 + k), parent_id=root.id,
                       source_audit_run_id=run_id, lineage=LINEAGE[: k + 1])
                for k in range(n_candidates)]
    return root, children


def _deployed(store: Store, model_id: int) -> list[int]:
    return [m.id for m in store.model_versions(model_id) if m.status == "deployed"]


def test_approving_a_model_is_for_compliance_and_admins() -> None:
    assert PERMISSIONS["approve a model"] == {Role.COMPLIANCE_OFFICER, Role.ADMIN}


def test_candidate_with_lineage_round_trips(store: Store) -> None:
    root, [child] = _family(store)
    assert (root.status, root.parent_id, root.lineage, root.source_audit_run_id) == (
        "deployed", None, (), None)
    run_id = store.list_audit_runs()[0].id
    assert (child.status, child.parent_id, child.source_audit_run_id) == (
        "candidate", root.id, run_id)
    assert child.lineage == (LINEAGE[0],)
    assert (child.decided_by, child.decided_at, child.decision_note) == (None, None, None)
    assert store.get_model(child.id) == child
    assert store.list_models() == [root, child]


def test_log_entry_carries_a_matching_lineage_hash(store: Store) -> None:
    root, [_, child] = _family(store, 2)
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.entity_id) == ("record_model", str(child.id))
    payload = entry.payload
    assert (payload["parent_id"], payload["status"], payload["n_lineage_entries"]) == (
        root.id, "candidate", 2)
    assert payload["source_audit_run_id"] == child.source_audit_run_id
    assert payload["lineage_sha256"] == _sha(LINEAGE) == _sha(list(child.lineage))
    root_entry = next(e for e in store.log_entries() if e.entity_id == str(root.id)
                      and e.action == "record_model")
    assert (root_entry.payload["status"], root_entry.payload["lineage_sha256"],
            root_entry.payload["n_lineage_entries"]) == ("deployed", None, 0)
    assert store.verify_log().ok


def test_recording_a_candidate_again_returns_it_and_writes_nothing(store: Store) -> None:
    root, [child] = _family(store)
    before = row_counts(store)
    again = _model(store, root.dataset_id, child.sha256, parent_id=root.id, lineage=LINEAGE)
    assert again == child
    assert row_counts(store) == before


def test_approval_deploys_the_candidate_and_retires_its_parent(store: Store) -> None:
    root, [child] = _family(store)
    assert store.deployed_version(child.id) == root
    approved = store.approve_model(CASEY, child.id, note="fairer and as accurate")
    assert (approved.status, approved.decided_by, approved.decision_note) == (
        "deployed", "casey", "fairer and as accurate")
    assert approved.decided_at is not None and approved.decided_at.utcoffset() is not None
    assert store.get_model(root.id).status == "retired"  # type: ignore[union-attr]
    assert store.deployed_version(root.id) == store.deployed_version(child.id) == approved
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.entity, entry.entity_id) == (
        "approve_model", "casey", "model", str(child.id))
    assert entry.payload == {"model_id": child.id, "parent_id": root.id, "status": "deployed",
                             "previous_status": "candidate", "previous_deployed_id": root.id,
                             "note": "fairer and as accurate",
                             "authentication": {"authenticated_by": "none", "via": "python",
                                                "asserted_user": None, "os_user": None}}
    assert store.verify_log().ok


def test_lineage_and_versions_follow_the_parents(store: Store) -> None:
    root, [first, second] = _family(store, 2)
    store.approve_model(CASEY, first.id)
    grandchild = _model(store, root.dataset_id, SHA_C, parent_id=first.id, lineage=[])
    assert [m.id for m in store.model_lineage(grandchild.id)] == [root.id, first.id,
                                                                   grandchild.id]
    assert [m.id for m in store.model_lineage(root.id)] == [root.id]
    family = [root.id, first.id, second.id, grandchild.id]
    assert [m.id for m in store.model_versions(second.id)] == family
    store.approve_model(ADMIN, grandchild.id)
    assert [m.status for m in store.model_versions(root.id)] == [
        "retired", "retired", "candidate", "deployed"]
    assert store.deployed_version(second.id).id == grandchild.id


def test_other_lineages_of_the_data_set_are_not_family(store: Store) -> None:
    root, [child] = _family(store)
    other = _model(store, root.dataset_id, _hex(999))
    assert [m.id for m in store.model_versions(child.id)] == [root.id, child.id]
    assert store.model_versions(other.id) == [other]
    assert store.deployed_version(other.id) == other


@pytest.mark.parametrize(
    ("approver", "message"),
    [
        (SCIENTIST, "may not approve a model"),
        (Actor.system(), MSG_NOT_A_PERSON.format(actor="system:cli", action="approve a model")),
        (Actor("mallory", Role.ADMIN), MSG_UNKNOWN_USER.format(actor="mallory",
                                                               action="approve a model")),
        # The Actor claims a role the store does not give dana, who trained the model:
        # refused as its author (test_store_approvals covers a stale role alone).
        (Actor("dana", Role.COMPLIANCE_OFFICER), "dana registered model"),
    ],
    ids=["data-scientist", "system", "not-a-user", "author-claiming-a-role"],
)
def test_approval_needs_a_person_with_the_right(
    store: Store, approver: Actor, message: str
) -> None:
    _, [child] = _family(store)
    before = row_counts(store)
    with pytest.raises(PermissionDenied, match=message):
        store.approve_model(approver, child.id)
    assert row_counts(store) == before
    assert store.get_model(child.id) == child


def test_a_deactivated_user_cannot_approve(store: Store) -> None:
    _, [child] = _family(store)
    store.deactivate_user(Actor.system(), "casey")
    with pytest.raises(PermissionDenied, match=MSG_INACTIVE_USER.format(
            actor="casey", action="approve a model")):
        store.approve_model(CASEY, child.id)
    assert store.get_model(child.id) == child


def test_the_creator_cannot_approve_their_own_retraining(store: Store) -> None:
    root, _ = _family(store)
    mine = _model(store, root.dataset_id, SHA_C, by=ADMIN, parent_id=root.id)
    before = row_counts(store)
    with pytest.raises(PermissionDenied) as info:
        store.approve_model(ADMIN, mine.id)
    assert str(info.value) == MSG_SELF_APPROVAL.format(actor="root_admin", id=mine.id)
    assert "someone else's retraining" in str(info.value)
    assert row_counts(store) == before and store.get_model(mine.id) == mine


def test_only_a_candidate_can_be_approved(store: Store) -> None:
    root, [child] = _family(store)
    with pytest.raises(ValueError) as info:
        store.approve_model(CASEY, root.id)
    assert str(info.value) == MSG_NOT_CANDIDATE.format(id=root.id, status="deployed",
                                                       action="approved")
    store.approve_model(CASEY, child.id)
    with pytest.raises(ValueError, match="is deployed; only a candidate"):
        store.approve_model(CASEY, child.id)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_MODEL.format(id=999)):
        store.approve_model(CASEY, 999)


def test_a_sibling_cannot_be_approved_after_the_first(store: Store) -> None:
    root, [first, second] = _family(store, 2)
    store.approve_model(CASEY, first.id)
    before = row_counts(store)
    with pytest.raises(ValueError) as info:
        store.approve_model(ADMIN, second.id)
    assert str(info.value) == MSG_PARENT_NOT_DEPLOYED.format(
        id=second.id, parent=root.id, status="retired", deployed=first.id)
    assert row_counts(store) == before
    assert _deployed(store, root.id) == [first.id]
    assert store.get_model(second.id).status == "candidate"  # type: ignore[union-attr]


def test_concurrent_sibling_approvals_leave_one_deployed(database: Database) -> None:
    store = database.open()
    roots, pairs = [], []
    for k in range(3):
        dataset_id = add_dataset(store, name=f"d{k}", sha256=_hex(k + 1))
        root = _model(store, dataset_id, _hex(50 + k))
        roots.append(root.id)
        pairs.append([_model(store, dataset_id, _hex(60 + 2 * k + j), parent_id=root.id).id
                      for j in range(2)])
    store.add_user(Actor.system(), "casey", Role.COMPLIANCE_OFFICER)
    store.add_user(Actor.system(), "root_admin", Role.ADMIN)
    approvers = [(database.open(), CASEY), (database.open(), ADMIN)]
    for root_id, pair in zip(roots, pairs, strict=True):
        outcomes = _race(approvers, pair)
        assert sorted(outcomes) == ["ValueError", "deployed"], outcomes
        assert len(_deployed(store, root_id)) == 1
    assert store.verify_log().ok


def _race(approvers: list[tuple[Store, Actor]], model_ids: list[int]) -> list[str]:
    barrier = threading.Barrier(len(approvers))
    outcomes: list[str] = []

    def approve(store: Store, actor: Actor, model_id: int) -> None:
        barrier.wait()
        try:
            outcomes.append(store.approve_model(actor, model_id).status)
        except ValueError as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=approve, args=(s, a, m))
               for (s, a), m in zip(approvers, model_ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "an approval hung"
    return outcomes


@pytest.mark.parametrize("note", ["", "   ", None])
def test_rejection_needs_a_note(store: Store, note: Any) -> None:
    _, [child] = _family(store)
    before = row_counts(store)
    with pytest.raises(ValueError, match=MSG_NOTE_REQUIRED):
        store.reject_model(CASEY, child.id, note)
    assert row_counts(store) == before


def test_rejection_closes_the_candidate(store: Store) -> None:
    root, [child] = _family(store)
    with pytest.raises(PermissionDenied, match=MSG_NOT_A_PERSON.format(
            actor="system:cli", action="approve a model")):
        store.reject_model(Actor.system(), child.id, "worse for women")
    rejected = store.reject_model(CASEY, child.id, "worse for women")
    assert (rejected.status, rejected.decided_by, rejected.decision_note) == (
        "rejected", "casey", "worse for women")
    assert store.deployed_version(child.id) == root
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.payload["status"], entry.payload["note"]) == (
        "reject_model", "rejected", "worse for women")
    with pytest.raises(ValueError, match="is rejected; only a candidate"):
        store.approve_model(ADMIN, child.id)


def _bad_inputs(store: Store) -> dict[str, tuple[dict[str, Any], type[Exception], str]]:
    root, _ = _family(store)
    other = _model(store, add_dataset(store, name="compas", sha256=_hex(7)), _hex(8))
    return {
        "unknown-parent": ({"parent_id": 999}, LookupError, MSG_UNKNOWN_MODEL.format(id=999)),
        "other-dataset": ({"parent_id": other.id}, ValueError, MSG_PARENT_DATASET.format(
            id=other.id, actual=other.dataset_id, dataset_id=root.dataset_id)),
        "bad-parent-id": ({"parent_id": True}, ValueError,
                          MSG_BAD_ID.format(field="parent_id", value=True)),
        "unknown-run": ({"parent_id": root.id, "source_audit_run_id": 999}, LookupError,
                        MSG_UNKNOWN_RUN.format(id=999)),
        "lineage-not-list": ({"parent_id": root.id, "lineage": {"row": 1}}, ValueError,
                             MSG_BAD_LINEAGE.format(type="dict")),
        "lineage-item": ({"parent_id": root.id, "lineage": [LINEAGE[0], 3]}, ValueError,
                         MSG_NOT_OBJECT.format(field="lineage[1]", type="int")),
        "lineage-nan": ({"parent_id": root.id, "lineage": [{"old": math.nan}]}, ValueError,
                        "lineage[0] is not JSON-serialisable"),
        "lineage-no-parent": ({"lineage": LINEAGE}, ValueError, MSG_LINEAGE_WITHOUT_PARENT),
    }


@pytest.mark.parametrize("case", ["unknown-parent", "other-dataset", "bad-parent-id",
                                  "unknown-run", "lineage-not-list", "lineage-item",
                                  "lineage-nan", "lineage-no-parent"])
def test_bad_version_inputs_store_nothing(store: Store, case: str) -> None:
    kwargs, error, message = _bad_inputs(store)[case]
    dataset_id = store.list_datasets()[0].id
    before = row_counts(store)
    with pytest.raises(error) as info:
        _model(store, dataset_id, SHA_C, **kwargs)
    assert message in str(info.value)
    assert row_counts(store) == before


def test_reads_of_an_unknown_model_are_lookup_errors(store: Store) -> None:
    for read in (store.deployed_version, store.model_lineage, store.model_versions):
        with pytest.raises(LookupError, match=MSG_UNKNOWN_MODEL.format(id=5)):
            read(5)


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def _insert_0004_rows(url: str) -> None:
    engine = make_engine(url)
    stamp = "2026-01-01T00:00:00+00:00"
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO datasets (name, source, sha256, n_rows, roles_json, card,"
                " created_at, created_by) VALUES ('adult', 'bundled', :h, 10, '{}', '',"
                " :t, 'dana')"), {"h": SHA_A, "t": stamp})
            conn.execute(text(
                "INSERT INTO models (dataset_id, kind, sha256, path, params_json, metrics_json,"
                " feature_names_json, split_json, created_at, created_by) VALUES (1, 'lr', :h,"
                " 'm.skops', '{}', '{}', '[\"age\"]', '{}', :t, 'dana')"), {"h": SHA_B, "t": stamp})
            # A run referencing the model: a table rebuild on SQLite would trip over it.
            conn.execute(text(
                "INSERT INTO audit_runs (dataset_id, model_id, config_json, status, created_by,"
                " created_at, updated_at) VALUES (1, 1, '{}', 'created', 'dana', :t, :t)"),
                {"t": stamp})
    finally:
        engine.dispose()


def test_upgrade_from_0004_keeps_existing_models_deployed(database: Database) -> None:
    _migrate(database.url, "0004")
    _insert_0004_rows(database.url)
    store = database.open()  # migrates to the head
    model = store.get_model(1)
    assert model is not None
    assert (model.status, model.parent_id, model.lineage, model.decided_by) == (
        "deployed", None, (), None)
    assert store.deployed_version(1) == model
    assert store.get_audit_run(1).model_id == 1  # type: ignore[union-attr]
    child = _model(store, 1, SHA_C, parent_id=1, lineage=LINEAGE)
    assert child.status == "candidate"


def test_downgrade_to_0004_drops_the_version_columns(database: Database) -> None:
    store = database.open()
    root = _model(store, add_dataset(store), SHA_B)
    _model(store, root.dataset_id, SHA_C, parent_id=root.id)
    _migrate(database.url, "0004", down=True)
    engine = make_engine(database.url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("models")}
        assert not columns & NEW_COLUMNS
        assert "ix_models_parent_id" not in {i["name"] for i in
                                             inspect(engine).get_indexes("models")}
    finally:
        engine.dispose()
    again = database.open()
    assert [m.status for m in again.list_models()] == ["deployed", "deployed"]
