"""Ingest applies the model's own handling of missing values and refuses only what the
model cannot score, naming the rows and columns, with nothing stored.

The bundled Adult data has missing ``workclass``, ``occupation`` and ``native_country``
in training as in any sample of it; the default pipelines impute a missing number and
encode a missing category, so such rows are scored, not refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from db_support import row_counts
from demo_support import DemoTemplates
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from audits.data.datasets import load_dataset
from audits.demo.default import DEMO_PERSONAS
from audits.fairness.stored import run_fairness_audit
from audits.flagging.cases import FlagContext
from audits.flagging.policy import FlagPolicy
from audits.flagging.stored import build_queue
from audits.models.files import load_model
from audits.models.training import predict_decisions, train_default_model
from audits.monitoring.ingest import batch_problems, ingest_batch, unscorable_rows
from audits.roles import Actor, Role
from audits.store import Store

SCIENTIST = Actor(DEMO_PERSONAS[0].username, Role.DATA_SCIENTIST)


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, object]:
    """The Adult data and roles; a training sample keeps the default model quick."""
    loaded = load_dataset("adult")
    return loaded.frame, loaded.roles


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    sample = frame.sample(2000, random_state=11)
    assert sample["workclass"].isna().sum() > 50  # as in training
    return sample


def _context(pipeline: object, roles: object) -> FlagContext:
    return FlagContext(y_true=roles.target, y_pred="y_pred", y_score="y_score",  # type: ignore[attr-defined]
                       threshold=0.5, sensitive_features=tuple(roles.sensitive_features),  # type: ignore[attr-defined]
                       features=tuple(roles.features), disparities=[],  # type: ignore[attr-defined]
                       positive_is_favourable=True, positive_label="1", pipeline=pipeline)


def test_adult_rows_with_missing_workclass_are_scored_as_in_training(adult) -> None:  # type: ignore[no-untyped-def]
    frame, roles = adult
    model = train_default_model(frame.sample(5000, random_state=1), roles,
                                kind="logistic_regression")
    batch = _sample(frame)
    context = _context(model.pipeline, roles)
    assert batch_problems(batch, frame, context) == []
    scores = predict_decisions(model.pipeline, batch, features=roles.features)["y_score"]
    assert np.isfinite(scores).all() and len(scores) == 2000
    # A missing number is the default pipeline's to impute, too.
    holes = batch.astype({"age": float})
    holes.iloc[[3, 7], holes.columns.get_loc("age")] = np.nan
    assert batch_problems(holes, frame, context) == []
    # Outcome and sensitive features are not the model's inputs: still required.
    no_sex = batch.astype({"sex": object})
    no_sex.iloc[4, no_sex.columns.get_loc("sex")] = None
    assert batch_problems(no_sex, frame, context) == ["column 'sex' is missing at row 5"]


def test_what_the_model_cannot_score_is_named_by_rows_and_columns(adult) -> None:  # type: ignore[no-untyped-def]
    frame, roles = adult
    numeric = ["age", "education_num", "hours_per_week"]
    # A model with no imputation, as a user might bring: it cannot score a missing age.
    strict = Pipeline([("prep", ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["workclass"]),
         ("num", "passthrough", numeric)])),
        ("model", LogisticRegression(max_iter=500))])
    train = frame.sample(3000, random_state=2)
    strict.fit(train[["workclass", *numeric]], train[roles.target])
    batch = _sample(frame)
    features = ["workclass", *numeric]
    assert unscorable_rows(strict, batch, features) == []  # missing workclass is encoded
    bad = batch.astype(dict.fromkeys(numeric, float))
    bad.iloc[[2, 40], bad.columns.get_loc("age")] = np.nan
    bad.iloc[[9], bad.columns.get_loc("hours_per_week")] = np.inf
    problems = unscorable_rows(strict, bad, features)
    assert len(problems) == 2
    assert problems[0].startswith("column 'age' is missing at rows 3, 41, which the model "
                                  "cannot score (")
    assert problems[1].startswith("column 'hours_per_week' is infinite at row 10, which "
                                  "the model cannot score (")
    both = bad.copy()
    both.iloc[2, both.columns.get_loc("education_num")] = np.nan
    assert unscorable_rows(strict, both, features)[0].startswith(
        "column 'age' is missing and column 'education_num' is missing at row 3, ")


def test_store_ingest_accepts_missing_categories_and_refuses_unscorable_rows(
        demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = demo_templates.copy(tmp_path / "home")
    for key, value in copy.env.items():  # the copy's home holds the key its log is signed with
        monkeypatch.setenv(key, value)
    run_id = copy.demo.queues.queue.audit_run.id
    with Store(copy.url) as store:
        run = store.get_audit_run(run_id)
        assert run is not None and run.model_id is not None
        model = store.get_model(run.model_id)
        assert model is not None
        credit = load_dataset("german_credit").frame.sample(200, random_state=4)
        credit = credit.drop(columns=[c for c in ("y_pred", "y_score") if c in credit.columns])
        categorical = next(c for c in model.feature_names
                           if not pd.api.types.is_numeric_dtype(credit[c]))
        numeric = next(c for c in model.feature_names
                       if pd.api.types.is_numeric_dtype(credit[c]))
        holes = credit.astype({categorical: object, numeric: float})
        holes.iloc[[1, 5], holes.columns.get_loc(categorical)] = None
        holes.iloc[[8], holes.columns.get_loc(numeric)] = np.nan
        bad = holes.copy()
        bad.iloc[[12], bad.columns.get_loc(numeric)] = np.inf
        before = row_counts(store)
        with pytest.raises(ValueError) as error:
            ingest_batch(store, SCIENTIST, run_id, bad, label="unscorable")
        assert str(error.value).startswith(
            f"batch rejected, nothing stored: column {numeric!r} is infinite at row 13, "
            "which the model cannot score (")
        assert row_counts(store) == before
        done = ingest_batch(store, SCIENTIST, run_id, holes, label="with gaps")
        assert done.created and done.batch.n_rows == 200
        stored = store.list_batches(run_id, with_data=True)[-1].data
        assert stored is not None
        expected = predict_decisions(load_model(model.path), holes.reset_index(drop=True),
                                     features=list(model.feature_names))
        assert stored["y_score"] == pytest.approx(expected["y_score"].tolist())


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as opened:
        yield opened


@pytest.mark.slow
def test_a_2000_row_adult_sample_is_ingested_and_scored(store: Store) -> None:
    from audits.demo.default import ensure_demo

    state = ensure_demo(store, dataset="adult", kind="logistic_regression")
    assert state.model is not None
    run = run_fairness_audit(store, SCIENTIST, state.dataset, state.model, n_boot=100)
    build_queue(store, SCIENTIST, run.id, policy=FlagPolicy(budget=20))
    frame = load_dataset("adult").frame
    batch = _sample(frame)
    done = ingest_batch(store, SCIENTIST, run.id, batch, label="adult sample")
    assert done.created and done.batch.n_rows == 2000 and done.n_cases == 20
    stored = store.list_batches(run.id, with_data=True)[0].data
    assert stored is not None
    expected = predict_decisions(load_model(state.model.path), batch.reset_index(drop=True),
                                 features=list(state.model.feature_names))
    assert stored["y_score"] == pytest.approx(expected["y_score"].tolist())
    bad = batch.astype({"capital_gain": float})
    bad.iloc[[0, 99], bad.columns.get_loc("capital_gain")] = np.inf
    before = row_counts(store)
    with pytest.raises(ValueError, match=r"column 'capital_gain' is infinite at rows 1, 100, "
                                         r"which the model cannot score"):
        ingest_batch(store, SCIENTIST, run.id, bad, label="bad")
    assert row_counts(store) == before
