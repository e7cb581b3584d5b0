"""A user's own model through the whole loop: register, audit, explain, queue, retrain.

The model is a scikit-learn pipeline fitted here and saved with skops; the data carry no
logged decision, so every decision the audits read is the model's. The audit's rates are
checked against fairlearn's MetricFrame on the same predictions, made here from the
in-memory pipeline (not from the stored file), and the retrained candidate against a
clone of the pipeline refitted here on the same rows and labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from systems_support import FEATURES, credit_frame, fit_model, save_skops

from audits.demo.default import DEMO_PERSONAS
from audits.demo.panel import ensure_demo_panel
from audits.explain.stored import run_explanations
from audits.fairness.stored import run_fairness_audit
from audits.flagging.policy import FlagPolicy
from audits.flagging.stored import build_queue
from audits.models.files import load_model
from audits.models.training import split_rows
from audits.retrain.stored import EVALUATION_SHARE, retrain_from_panel
from audits.roles import Actor, Role
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store
from audits.systems.registry import load_version, register_system

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
THRESHOLD = 0.5


@dataclass(frozen=True)
class Own:
    store: Store
    frame: pd.DataFrame
    pipeline: Pipeline
    dataset: DatasetRecord
    model: ModelRecord
    run: AuditRunRecord


@pytest.fixture
def own(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Own]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    frame = credit_frame().drop(columns=["score", "approved"])  # no logged decision
    pipeline = fit_model(frame)
    frame.to_parquet(tmp_path / "decisions.parquet", index=False)
    path = save_skops(pipeline, tmp_path / "model.skops")
    with Store(database_url) as store:
        done = register_system(store, SCIENTIST, "credit", str(tmp_path / "decisions.parquet"),
                               id="id", target="repaid", sensitive=["sex", "race"],
                               model=str(path), threshold=THRESHOLD)
        assert done.model is not None
        run = run_fairness_audit(store, SCIENTIST, done.dataset, done.model, n_boot=50)
        yield Own(store, frame, pipeline, done.dataset, done.model, run)


def _y_pred(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return (pipeline.predict_proba(frame.loc[:, list(FEATURES)])[:, 1] >= THRESHOLD).astype(int)


def test_the_uploaded_model_is_stored_as_it_was_given(own: Own) -> None:
    m = own.model
    assert m.kind == "uploaded" and m.status == "deployed"
    assert m.split == {"method": "none: every row of the version is a decision to audit"}
    assert m.params == {"threshold": THRESHOLD}
    assert list(m.feature_names) == list(FEATURES)
    assert m.metrics["positive_rate"] == pytest.approx(_y_pred(own.pipeline, own.frame).mean())
    assert own.dataset.roles["prediction"] is None  # the decisions are the model's


def test_audit_rates_match_fairlearn_on_the_same_predictions(own: Own) -> None:
    results = own.run.results or {}
    assert results["rows"] == len(own.frame) == 2000  # every row is a decision
    y_pred = _y_pred(own.pipeline, own.frame)
    for feature in ("sex", "race"):
        oracle = MetricFrame(metrics=selection_rate, y_true=own.frame["repaid"], y_pred=y_pred,
                             sensitive_features=own.frame[feature]).by_group
        got = {g["attributes"][feature]: g["metrics"]["selection_rate"]["value"]
               for g in results["groups"] if list(g["attributes"]) == [feature]}
        assert set(got) == set(oracle.index)
        for group, value in oracle.items():
            assert got[group] == pytest.approx(value, abs=1e-12)


def test_explanations_and_the_queue_run_on_the_uploaded_model(own: Own) -> None:
    explained = run_explanations(own.store, SCIENTIST, own.dataset, own.model,
                                 sensitive_features=["sex"], n_cases=3, n_bootstrap=20,
                                 max_rows_per_group=300, n_background=30)
    results = explained.results or {}
    assert explained.status == "completed" and results["rows"] == 2000
    assert len(results["cases"]) == 3 and results["threshold"] == THRESHOLD
    queue = build_queue(own.store, SCIENTIST, own.run.id, policy=FlagPolicy(budget=60))
    assert queue.created and 0 < len(queue.cases) <= 60
    loaded = load_version(own.store, SCIENTIST, own.dataset).frame
    for case in queue.cases:  # a case's row is a row of the version, decided by the model
        row = int(case.snapshot["row"])
        assert case.snapshot["decision"]["value"] == _y_pred(own.pipeline, loaded.iloc[[row]])[0]


def test_retraining_refits_the_users_pipeline_on_the_panels_labels(own: Own) -> None:
    queue = build_queue(own.store, SCIENTIST, own.run.id, policy=FlagPolicy(budget=60))
    for persona in DEMO_PERSONAS:  # the simulated panel works as the demo personas
        if own.store.get_user(persona.username) is None:
            own.store.add_user(Actor.system(), persona.username, persona.role, demo=True)
    ensure_demo_panel(own.store, own.run.id)
    done = retrain_from_panel(own.store, SCIENTIST, own.run.id, n_boot=50)
    c = done.candidate
    assert c.kind == "uploaded" and c.status == "candidate" and c.parent_id == own.model.id
    lineage = done.lineage
    assert 0 < len(lineage) <= len(queue.cases)
    # Oracle: the held-out part of the rows no one reviewed, and a clone refitted here.
    frame = own.frame
    _, part = split_rows(frame["repaid"].to_numpy(), target="repaid",
                         test_size=EVALUATION_SHARE, random_state=0)
    evaluation = np.setdiff1d(part, lineage["dataset_row"].to_numpy())
    train = np.setdiff1d(np.arange(len(frame)), evaluation)
    assert c.split["excluded_held_out_rows"] == train.tolist()
    assert c.metrics["n_evaluated"] == len(evaluation)
    labels = frame["repaid"].copy()
    labels.iloc[lineage["dataset_row"].to_numpy()] = lineage["label"].to_numpy()
    refit = clone(own.pipeline).fit(frame.loc[train, list(FEATURES)], labels.iloc[train])
    stored = load_model(c.path)
    assert list(stored.named_steps) == ["prep", "clf"]
    x_eval = frame.loc[evaluation, list(FEATURES)]
    assert stored.predict_proba(x_eval)[:, 1] == pytest.approx(
        refit.predict_proba(x_eval)[:, 1], abs=1e-9)
    # Both models audited on exactly those rows.
    assert done.before_run.results["rows"] == done.after_run.results["rows"] == len(evaluation)
    assert done.before_run.model_id == own.model.id and done.after_run.model_id == c.id
