"""The review queue and monitoring tables: atomic batches, idempotence, snapshots frozen."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from db_support import REVIEWER, SCIENTIST, SHA_A, SHA_B, add_dataset, row_counts

from audits.roles import PermissionDenied
from audits.store import AlertInput, CaseInput, Store
from audits.store.queue import (
    MSG_DUPLICATE_KEY,
    MSG_KEY_EXISTS,
    MSG_LABEL_EXISTS,
    MSG_NO_POLICY,
    MSG_POLICY_EXISTS,
    MSG_RUN_NOT_COMPLETED,
    MSG_UNKNOWN_RUN,
)

POLICY = {"budget": 2, "random_state": 0}


def _case(key: str, rank: int = 1, **changes: Any) -> CaseInput:
    base = CaseInput(row_key=key, subject_group="sex=Female", primary_reason="low_confidence",
                     reasons=[{"reason": "low_confidence", "score": 0.9,
                               "explanation": "Score 0.49 is 0.01 from the threshold."}],
                     priority=0.9, rank=rank,
                     snapshot={"features": {"age": 41}, "decision": 0, "score": 0.49})
    return dataclasses.replace(base, **changes)


def _run(store: Store, *, completed: bool = True) -> int:
    run = store.create_audit_run(SCIENTIST, dataset_id=add_dataset(store), model_id=None,
                                 config={})
    if completed:
        store.finish_audit_run(SCIENTIST, run.id, results={"rows": 10})
    return run.id


def _batch(store: Store, run_id: int, *, sha: str = SHA_A, label: str = "week 1",
           cases: list[CaseInput] | None = None,
           alerts: list[AlertInput] | None = None) -> tuple[Any, bool]:
    return store.record_batch(
        SCIENTIST, run_id, sha256=sha, label=label, n_rows=3, period_start="2026-11-02",
        period_end="2026-11-08", data={"x": [1, 2, 3]}, results={"rows": 3},
        cases=cases if cases is not None else [_case("b1:0")], alerts=alerts or [])


def test_queue_round_trip_keeps_snapshot_and_logs_its_hash(store: Store) -> None:
    run_id = _run(store)
    stored = store.record_queue(SCIENTIST, run_id, policy=POLICY,
                                cases=[_case("7", 1), _case("3", 2)])
    assert [c.row_key for c in store.list_cases(run_id)] == ["7", "3"]
    assert store.get_flag_policy(run_id) == POLICY
    assert store.queued_audit_runs() == [run_id]
    entry = store.log_entries()[0]  # newest first
    assert entry.action == "record_queue"
    assert entry.payload["cases"] == {c.row_key: c.snapshot_sha256 for c in stored}
    assert stored[0].snapshot == {"features": {"age": 41}, "decision": 0, "score": 0.49}
    assert store.verify_log().ok


def test_queue_is_built_once_per_run(store: Store) -> None:
    run_id = _run(store)
    store.record_queue(SCIENTIST, run_id, policy=POLICY, cases=[_case("1")])
    before = row_counts(store)
    with pytest.raises(ValueError, match=MSG_POLICY_EXISTS.format(id=run_id)[:40]):
        store.record_queue(SCIENTIST, run_id, policy=POLICY, cases=[_case("2")])
    assert row_counts(store) == before


@pytest.mark.parametrize(("cases", "message"), [
    ([_case("1"), _case("1")], MSG_DUPLICATE_KEY.format(key="1")),
    ([_case("1", snapshot={"score": float("nan")})], "snapshot is not JSON-serialisable"),
    ([_case("1", reasons=[])], "no reasons"),
    ([_case("1", priority=float("inf"))], "priority is not finite"),
])
def test_a_malformed_case_stores_nothing(store: Store, cases: list[CaseInput],
                                         message: str) -> None:
    run_id = _run(store)
    before = row_counts(store)
    with pytest.raises(ValueError, match=re.escape(message)):
        store.record_queue(SCIENTIST, run_id, policy=POLICY, cases=cases)
    assert row_counts(store) == before and store.get_flag_policy(run_id) is None


def test_queue_needs_a_completed_run_and_the_right_role(store: Store) -> None:
    with pytest.raises(LookupError, match=MSG_UNKNOWN_RUN.format(id=99)):
        store.record_queue(SCIENTIST, 99, policy=POLICY, cases=[])
    run_id = _run(store, completed=False)
    with pytest.raises(ValueError, match=MSG_RUN_NOT_COMPLETED.format(id=run_id,
                                                                      status="created")):
        store.record_queue(SCIENTIST, run_id, policy=POLICY, cases=[])
    with pytest.raises(PermissionDenied):
        store.record_queue(REVIEWER, run_id, policy=POLICY, cases=[])


def test_a_batch_needs_a_policy(store: Store) -> None:
    run_id = _run(store)
    with pytest.raises(ValueError, match=MSG_NO_POLICY.format(id=run_id)):
        _batch(store, run_id)


def test_the_same_batch_twice_adds_nothing(store: Store) -> None:
    run_id = _run(store)
    store.record_queue(SCIENTIST, run_id, policy=POLICY, cases=[])
    alert = AlertInput("selection_rate", "age_band=50+", "pass", "fail", "new failure",
                       "now fails", {"ratio": 0.6})
    first, created = _batch(store, run_id, alerts=[alert])
    before = row_counts(store)
    again, created_again = _batch(store, run_id, alerts=[alert])
    assert created and not created_again and again.id == first.id
    assert row_counts(store) == before
    assert [a.message for a in store.list_alerts(run_id)] == ["now fails"]
    assert store.find_batch(run_id, SHA_A) == first
    [with_data] = store.list_batches(run_id, with_data=True)
    assert with_data.data == {"x": [1, 2, 3]} and first.data is None


def test_a_failing_batch_stores_nothing(store: Store) -> None:
    run_id = _run(store)
    store.record_queue(SCIENTIST, run_id, policy=POLICY, cases=[_case("1")])
    _batch(store, run_id)
    before = row_counts(store)
    taken = MSG_LABEL_EXISTS.format(id=run_id, label="week 1")
    with pytest.raises(ValueError, match=re.escape(taken)):
        _batch(store, run_id, sha=SHA_B, cases=[_case("b2:0")])
    with pytest.raises(ValueError, match=r"already has a case for row_key\(s\) \['1'\]"):
        _batch(store, run_id, sha=SHA_B, label="week 2", cases=[_case("b2:0"), _case("1")])
    assert MSG_KEY_EXISTS.startswith("audit run {id} already has a case")
    assert row_counts(store) == before and store.verify_log().ok
