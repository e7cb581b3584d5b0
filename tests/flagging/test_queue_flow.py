"""The review queue and continuous operation, end to end on a real store.

The synthetic loans dataset (logged decisions with a known bias) is audited, queued and
then fed four simulated weekly batches, drifting from the second against applicants
aged 50+; every stored number is read back from the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from db_support import row_counts

from audits.data.datasets import load_dataset
from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.demo.queue import DRIFT_GROUP, N_WEEKS, weekly_batches
from audits.fairness.stored import decisions_for, run_fairness_audit
from audits.flagging.policy import FlagPolicy
from audits.flagging.stored import MSG_NOT_FAIRNESS, MSG_OTHER_POLICY, build_queue, flag_context
from audits.models.files import load_model
from audits.models.training import predict_decisions
from audits.monitoring.history import ALERT_METRICS, verdict_alerts
from audits.monitoring.ingest import MSG_NO_QUEUE, ingest_batch
from audits.monitoring.stored import deferral_view, monitoring_view
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.log import canonical_json

SCIENTIST = Actor(DEMO_PERSONAS[0].username, Role.DATA_SCIENTIST)
REVIEWER = Actor("rita", Role.REVIEWER)
BUDGET = 60


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as opened:
        yield opened


def _synthetic_audit(store: Store) -> int:
    state = ensure_demo(store, dataset="synthetic")
    return run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=300).id


def _queued(store: Store) -> int:
    run_id = _synthetic_audit(store)
    build_queue(store, SCIENTIST, run_id, policy=FlagPolicy(budget=BUDGET))
    return run_id


def test_logged_decisions_queue_every_reason_they_support(store: Store) -> None:
    run_id = _synthetic_audit(store)
    queue = build_queue(store, SCIENTIST, run_id, policy=FlagPolicy(budget=BUDGET))
    assert queue.created and len(queue.cases) == BUDGET
    # No model: counterfactual flips and SHAP attributions cannot be computed; the
    # synthetic data's worst-off slices are found from the logged decisions alone.
    assert {c.primary_reason for c in queue.cases} == {"low_confidence", "disparity",
                                                        "random_control", "gold", "slice"}
    for case in queue.cases:
        assert case.snapshot["explanation"]["available"] is False
        assert ("hidden" in case.snapshot) == ("gold" in [r["reason"] for r in case.reasons])
        assert set(case.snapshot["features"]) == set(
            flag_context(store, queue.audit_run)[1].features)
    # The threshold of logged decisions is read off the data: approved = score >= 0.5.
    assert flag_context(store, queue.audit_run)[1].threshold == pytest.approx(0.5, abs=1e-3)


def test_snapshots_are_stored_with_their_hash_and_logged(store: Store) -> None:
    run_id = _queued(store)
    cases = store.list_cases(run_id)
    entry = next(e for e in store.log_entries() if e.action == "record_queue")
    for case in cases:
        digest = hashlib.sha256(canonical_json(case.snapshot).encode()).hexdigest()
        assert digest == case.snapshot_sha256 == entry.payload["cases"][case.row_key]
    assert store.verify_log().ok


def test_a_queue_is_built_once_and_reused(store: Store) -> None:
    run_id = _queued(store)
    before = row_counts(store)
    again = build_queue(store, SCIENTIST, run_id)
    assert not again.created and len(again.cases) == BUDGET
    assert row_counts(store) == before
    with pytest.raises(ValueError, match=MSG_OTHER_POLICY.split("(")[0].format(id=run_id)):
        build_queue(store, SCIENTIST, run_id, policy=FlagPolicy(budget=BUDGET + 1))


def test_only_a_completed_fairness_audit_can_be_queued(store: Store) -> None:
    demo = ensure_demo(store, dataset="synthetic").audit_run  # the demo's counts-only run
    with pytest.raises(ValueError, match=MSG_NOT_FAIRNESS.split("(")[0].format(id=demo.id)):
        build_queue(store, SCIENTIST, demo.id)
    with pytest.raises(PermissionDenied):
        build_queue(store, REVIEWER, demo.id)


def test_weekly_batches_raise_an_alert_once_the_drift_holds(store: Store) -> None:
    run_id = _queued(store)
    for label, start, end, frame in weekly_batches():
        done = ingest_batch(store, SCIENTIST, run_id, frame, label=label, period_start=start,
                            period_end=end)
        assert done.created and done.n_cases == BUDGET
    column, value = DRIFT_GROUP
    group = f"{column}={value}"
    alerts = [a for a in store.list_alerts(run_id) if a.subject_group == group]
    labels = {b.id: b.label for b in store.list_batches(run_id)}
    last = f"simulated week {N_WEEKS}"
    # The drift starts in week 2; the rolling window (4 batches) fails from week 3, and
    # the alert is raised once that has held for 2 batches: in week 4, not before.
    assert [(labels[a.batch_id], a.metric, a.to_verdict) for a in alerts
            if a.metric == "selection_rate"] == [(last, "selection_rate", "fail")]
    assert all(a.details["based_on"] == "window" and a.details["hold"] == 2 for a in alerts)
    view = monitoring_view(store, run_id)
    window = view.window_history[(view.window_history["metric"] == "selection_rate")
                                 & (view.window_history["group"] == group)]
    assert window["label"].tolist() == ["baseline", *(f"simulated week {i}"
                                                      for i in range(1, N_WEEKS + 1))]
    assert window["verdict"].tolist()[-2:] == ["fail", "fail"]
    assert "fail" not in window["verdict"].tolist()[:-2]
    status = view.status[(view.status["metric"] == "selection_rate")
                         & (view.status["group"] == group)]
    assert status[["state", "since_label"]].values.tolist() == [
        ["open", f"simulated week {N_WEEKS - 1}"]]
    # What was raised batch by batch is what the whole window record gives now, for
    # intersections too (whatever order the store gives their attributes back in).
    every = view.window_history[view.window_history["metric"].isin(ALERT_METRICS)]
    recomputed = verdict_alerts(every, hold=2)
    assert sorted((labels[a.batch_id], a.metric, a.subject_group, a.severity)
                  for a in store.list_alerts(run_id)) == sorted(zip(
        recomputed["label"], recomputed["metric"], recomputed["group"],
        recomputed["severity"], strict=True))
    assert any(" & " in a.subject_group for a in store.list_alerts(run_id))
    result = view.to_dict()
    assert result["alerting"] == {"based_on": "window", "window": 4, "hold": 2}
    assert any(s["group"] == group and s["state"] == "open" for s in result["status"])
    assert result["alerts"][0]["label"].startswith("simulated week")


def test_the_same_batch_twice_adds_nothing(store: Store) -> None:
    run_id = _queued(store)
    label, start, end, frame = weekly_batches(1, rows=800)[0]
    first = ingest_batch(store, SCIENTIST, run_id, frame, label=label)
    before = row_counts(store)
    again = ingest_batch(store, SCIENTIST, run_id, frame.copy(), label="another label")
    assert first.created and not again.created and again.batch.id == first.batch.id
    assert again.n_cases == 0 and again.alerts == []
    assert row_counts(store) == before


def test_a_malformed_batch_is_rejected_whole_naming_the_bad_rows(store: Store) -> None:
    run_id = _queued(store)
    frame = weekly_batches(1, rows=300)[0][3].astype({"income": object, "approved": "int64"})
    frame.loc[2, "income"] = "n/a"
    frame.loc[6, "income"] = "unknown"
    frame.loc[4, "group"] = None
    frame.loc[9, "approved"] = 2
    before = row_counts(store)
    with pytest.raises(ValueError) as error:
        ingest_batch(store, SCIENTIST, run_id, frame)
    message = str(error.value)
    assert message.startswith("batch rejected, nothing stored: ")
    assert "column 'income' is not a number at rows 3, 7" in message
    assert "column 'group' is missing at row 5" in message
    assert "column 'approved' is not 0 or 1 at row 10" in message
    assert row_counts(store) == before
    with pytest.raises(ValueError, match="column 'repaid' is not in the batch"):
        ingest_batch(store, SCIENTIST, run_id, frame.drop(columns=["repaid"]))
    with pytest.raises(ValueError, match="the batch has no rows"):
        ingest_batch(store, SCIENTIST, run_id, frame.iloc[:0])
    assert row_counts(store) == before


def test_a_batch_needs_a_queue_first(store: Store) -> None:
    run_id = _synthetic_audit(store)
    frame = weekly_batches(1, rows=100)[0][3]
    with pytest.raises(ValueError, match=MSG_NO_QUEUE.split("(")[0].format(id=run_id)):
        ingest_batch(store, SCIENTIST, run_id, frame)


def test_deferral_at_zero_is_the_audit_and_states_its_assumption(store: Store) -> None:
    run_id = _synthetic_audit(store)
    curve = deferral_view(store, run_id, assumed=0.85)
    run = store.get_audit_run(run_id)
    assert run is not None and run.results is not None
    accuracy = curve.table[(curve.table["quantity"] == "accuracy")
                           & (curve.table["share_deferred"] == 0)]["value"].item()
    state = ensure_demo(store, dataset="synthetic")
    logged = decisions_for(store, SCIENTIST, state.dataset, None).frame
    assert accuracy == pytest.approx(_accuracy(logged))
    assert curve.human.source == "assumed" and "0.85" in curve.human.statement


def test_compas_deciles_get_their_threshold_and_scale(store: Store) -> None:
    state = ensure_demo(store, dataset="compas")
    run = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=20)
    frame, context = flag_context(store, run)
    assert context.threshold == 5.0 and context.score_span == 9.0
    assert ((frame["decile_score"] >= 5) == (frame["high_risk"] == 1)).all()


def _accuracy(frame: pd.DataFrame) -> float:
    return float((frame["approved"] == frame["repaid"]).mean())


def test_a_model_audit_scores_and_explains_each_new_batch(store: Store) -> None:
    state = ensure_demo(store, dataset="german_credit", kind="logistic_regression")
    assert state.model is not None
    run = run_fairness_audit(store, SCIENTIST, state.dataset, state.model, n_boot=200)
    queue = build_queue(store, SCIENTIST, run.id, policy=FlagPolicy(budget=30))
    assert all(c.snapshot["explanation"]["available"] for c in queue.cases)
    batch = load_dataset("german_credit").frame.sample(300, random_state=5)
    batch = batch.drop(columns=[c for c in ("y_pred", "y_score") if c in batch.columns])
    done = ingest_batch(store, SCIENTIST, run.id, batch, label="new applications")
    assert done.created and done.n_cases == 30
    stored = store.list_batches(run.id, with_data=True)[0]
    assert stored.data is not None and len(stored.data["y_score"]) == 300
    pipeline = load_model(state.model.path)
    expected = predict_decisions(pipeline, batch.reset_index(drop=True),
                                 features=list(state.model.feature_names),
                                 threshold=float(state.model.params.get("threshold", 0.5)))
    assert stored.data["y_pred"] == expected["y_pred"].tolist()
    new_cases = [c for c in store.list_cases(run.id) if c.batch_id == stored.id]
    assert len(new_cases) == 30
    for case in new_cases:
        position = int(case.row_key.split(":")[1])
        assert case.snapshot["score"] == pytest.approx(expected["y_score"].iloc[position])
        assert case.snapshot["explanation"]["available"]
