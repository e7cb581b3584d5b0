"""The hash-chained audit log: one entry per change, verification, tampering, atomicity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from db_support import ADMIN, SCIENTIST, SHA_A, SHA_B, Database, add_dataset, row_counts
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, update

from audits.store import Store
from audits.store import provenance as provenance_module
from audits.store.log import (
    GENESIS_HASH,
    MSG_HASH,
    MSG_HEAD_HASH,
    MSG_HEAD_MISSING_TAIL,
    MSG_MISSING,
    MSG_OK,
    MSG_PREV_LINK,
    CheckpointPolicy,
    canonical_json,
    entry_hash,
    verify_log,
)
from audits.store.tables import AuditLog, LogHead

PASSWORD = "correct horse battery"
#: These tests read the bare hash chain; the signed checkpoints over it (and the key pin
#: they log) are tested in test_store_checkpoints.py.
CHAIN_ONLY = CheckpointPolicy(every_entries=10**9, every_minutes=1e9)


@pytest.fixture
def store(database: Database) -> Store:
    """A migrated store that never signs a checkpoint, so entry ids are the test's own."""
    return database.open(checkpoint_policy=CHAIN_ONLY)


def _setup_run(store: Store) -> int:
    dataset_id = add_dataset(store)
    return store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=None, config={}).id


# Each state-changing call, run on a store holding user "ada" (password PASSWORD), data
# set 1 and audit run 1 (created); with the action and payload its log entry must carry.
CHANGES: dict[str, tuple[Callable[[Store], object], dict[str, Any]]] = {
    "add_user": (
        lambda s: s.add_user(ADMIN, "bo", "reviewer", password=PASSWORD),
        {"username": "bo", "role": "reviewer", "display_name": "bo", "has_password": True},
    ),
    "set_password": (lambda s: s.set_password(ADMIN, "ada", "new passphrase"),
                     {"username": "ada"}),
    "deactivate_user": (lambda s: s.deactivate_user(ADMIN, "ada"), {"username": "ada"}),
    "sign_in": (lambda s: s.authenticate("ada", PASSWORD),
                {"username": "ada", "method": "password", "rehashed": False}),
    "sign_in_failed": (lambda s: s.authenticate("ada", "wrong password"),
                       {"username": "ada", "reason": "wrong_password", "failures": 1}),
    "record_dataset": (
        lambda s: s.record_dataset(SCIENTIST, name="compas", source="s", sha256=SHA_B,
                                   n_rows=7, roles={}, card=""),
        {"name": "compas", "source": "s", "sha256": SHA_B, "n_rows": 7},
    ),
    "record_model": (
        lambda s: s.record_model(SCIENTIST, dataset_id=1, kind="lr", sha256=SHA_B, path="m",
                                 params={}, metrics={"auc": 0.5}, feature_names=["x"], split={}),
        {"dataset_id": 1, "kind": "lr", "sha256": SHA_B, "path": "m", "n_features": 1,
         "metrics": {"auc": 0.5}, "parent_id": None, "status": "deployed",
         "source_audit_run_id": None, "n_lineage_entries": 0, "lineage_sha256": None},
    ),
    "create_audit_run": (
        lambda s: s.create_audit_run(SCIENTIST, dataset_id=1, model_id=None, config={"t": 1}),
        {"dataset_id": 1, "model_id": None, "config": {"t": 1}},
    ),
    "start_audit_run": (lambda s: s.start_audit_run(SCIENTIST, 1),
                        {"status": "running", "previous_status": "created"}),
    "finish_audit_run": (
        lambda s: s.finish_audit_run(SCIENTIST, 1, results={"r": [1, 2]}),
        {"status": "completed", "previous_status": "created",
         "results_sha256": hashlib.sha256(b'{"r":[1,2]}').hexdigest()},
    ),
}


@pytest.mark.parametrize("action", sorted(CHANGES))
def test_every_change_appends_exactly_one_entry(store: Store, action: str) -> None:
    store.add_user(ADMIN, "ada", "reviewer", password=PASSWORD)
    _setup_run(store)
    n_before = len(store.log_entries())
    call, payload = CHANGES[action]
    call(store)
    entries = store.log_entries()
    assert len(entries) == n_before + 1
    assert (entries[0].action, entries[0].payload) == (action, payload)
    assert entries[0].id == n_before + 1 and entries[0].prev_hash == entries[1].hash
    assert store.verify_log().ok


def test_fresh_chain_verifies(store: Store) -> None:
    empty = store.verify_log()
    assert (empty.ok, empty.n_entries, empty.first_bad_id) == (True, 0, None)
    _setup_run(store)
    result = store.verify_log()
    assert (result.ok, result.n_entries, result.reason) == (True, 2, MSG_OK.format(n=2))
    assert store.log_head() == (2, store.log_entries(limit=1)[0].hash)


def test_entries_hash_as_documented(store: Store) -> None:
    _setup_run(store)
    first, second = store.log_entries(newest_first=False)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    body = {"id": 2, "ts": second.ts, "actor": "dana", "action": "create_audit_run",
            "entity": "audit_run", "entity_id": "1", "payload": second.payload}
    text = first.hash + json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert second.hash == hashlib.sha256(text.encode()).hexdigest()
    assert second.timestamp.utcoffset() is not None


def test_log_entries_limit_and_order(store: Store) -> None:
    _setup_run(store)
    assert [e.id for e in store.log_entries()] == [2, 1]
    assert [e.id for e in store.log_entries(limit=1, newest_first=False)] == [1]
    with pytest.raises(ValueError, match="limit"):
        store.log_entries(limit=0)


def _three_entries(store: Store) -> None:
    add_dataset(store, "a", SHA_A)
    add_dataset(store, "b", SHA_B)
    add_dataset(store, "c", "c" * 64)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload_json", {"name": "b", "source": "bundled", "sha256": SHA_B, "n_rows": 11}),
        ("actor", "mallory"),
        ("action", "record_model"),
        ("ts", "2020-01-01T00:00:00.000000+00:00"),
        ("entity", "model"),
        ("entity_id", "99"),
        ("hash", "f" * 64),
    ],
)
def test_editing_any_column_is_detected(store: Store, column: str, value: object) -> None:
    _three_entries(store)
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == 2).values({column: value}))
    result = store.verify_log()
    assert (result.ok, result.first_bad_id, result.n_entries) == (False, 2, 1)
    assert result.reason == MSG_HASH.format(id=2)
    assert "entry 2" in result.reason


def test_editing_a_prev_link_is_detected(store: Store) -> None:
    _three_entries(store)
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == 3).values(prev_hash="e" * 64))
    result = store.verify_log()
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert result.reason == MSG_PREV_LINK.format(id=3, prev=2)


def test_rewriting_one_entry_consistently_breaks_the_next_link(store: Store) -> None:
    _three_entries(store)
    entry = store.log_entries(newest_first=False)[1]
    payload = {**entry.payload, "n_rows": 1}
    body = {"id": 2, "ts": entry.ts, "actor": entry.actor, "action": entry.action,
            "entity": entry.entity, "entity_id": entry.entity_id, "payload": payload}
    forged = entry_hash(entry.prev_hash, body)
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == 2)
                     .values(payload_json=payload, hash=forged))
    result = store.verify_log()
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert result.reason == MSG_PREV_LINK.format(id=3, prev=2)


def test_deleting_the_last_entry_is_detected(store: Store) -> None:
    _three_entries(store)
    with store.engine.begin() as conn:
        conn.execute(delete(AuditLog).where(AuditLog.id == 3))
    result = store.verify_log()
    assert (result.ok, result.first_bad_id, result.n_entries) == (False, 3, 2)
    assert result.reason == MSG_HEAD_MISSING_TAIL.format(id=3, last_id=3, end=2)


def test_deleting_a_middle_entry_is_detected(store: Store) -> None:
    _three_entries(store)
    with store.engine.begin() as conn:
        conn.execute(delete(AuditLog).where(AuditLog.id == 2))
    result = store.verify_log()
    assert (result.ok, result.first_bad_id) == (False, 2)
    assert result.reason == MSG_MISSING.format(id=2, next=3)


def test_deleting_the_tail_and_rewinding_the_head_id_is_detected(store: Store) -> None:
    _three_entries(store)
    with store.engine.begin() as conn:
        conn.execute(delete(AuditLog).where(AuditLog.id == 3))
        conn.execute(update(LogHead).values(last_id=2))
    result = store.verify_log()
    assert (result.ok, result.first_bad_id) == (False, 2)
    assert result.reason == MSG_HEAD_HASH.format(id=2)


def test_verify_log_accepts_a_session_a_connection_and_an_engine(store: Store) -> None:
    from sqlalchemy.orm import Session

    _three_entries(store)
    with Session(store.engine) as session:
        assert verify_log(session).ok
    with store.engine.connect() as conn:
        assert verify_log(conn).ok
        conn.rollback()
    assert verify_log(store.engine).n_entries == 3


def test_duplicate_leaves_no_partial_rows_and_no_entry(store: Store) -> None:
    store.add_user(ADMIN, "ada", "reviewer")
    before, head = row_counts(store), store.log_head()
    with pytest.raises(ValueError):
        store.add_user(ADMIN, "ada", "admin")
    assert row_counts(store) == before and store.log_head() == head


def test_failure_after_the_insert_rolls_everything_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_append(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(provenance_module, "append_entry", broken_append)
    with pytest.raises(RuntimeError, match="disk full"):
        add_dataset(store)
    assert set(row_counts(store).values()) == {0}
    assert store.log_head() == (0, GENESIS_HASH) and store.verify_log().ok


def test_payloads_survive_the_database_round_trip(store: Store) -> None:
    config = {"unicode": "é ✓ 中", "float": 0.1, "tiny": 1e-300, "big": 2**62, "neg": -0.0,
              "nested": {"list": [None, True, False, [], {}]}, "quote": "a\"b\\c"}
    dataset_id = add_dataset(store)
    store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=None, config=config)
    assert store.log_entries(limit=1)[0].payload["config"] == config
    assert store.verify_log().ok


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _json))
def test_canonical_json_is_stable_through_a_json_round_trip(payload: dict[str, Any]) -> None:
    text = canonical_json(payload)
    assert canonical_json(json.loads(text)) == text
