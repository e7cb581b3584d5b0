"""Explainer choice, additivity (checked at run time too) and the original feature space."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from audits.data.schema import ColumnRoles, DataValidationError
from audits.data.synthetic import make_synthetic_loans
from audits.explain import shap_values as explain
from audits.explain.shap_values import MSG_COLUMNS_MISMATCH, MSG_NOT_ADDITIVE, explain_model
from audits.models.training import KINDS, TrainedModel, train_default_model

FEATURES = ("income", "debt_to_income", "credit_history_years", "zip_region", "age_band")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # OpenMP spin-waiting makes HistGradientBoosting ~100x slower on busy shared cores.
    with threadpool_limits(1):
        yield


def _prefix(template: str) -> str:
    return re.escape(template.split("{")[0])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_synthetic_loans(1500, random_state=3)


@pytest.fixture(scope="module")
def trained(frame: pd.DataFrame) -> dict[str, TrainedModel]:
    roles = ColumnRoles(target="approved", sensitive_features=("group",), features=FEATURES)
    return {kind: train_default_model(frame, roles, kind=kind) for kind in KINDS}


def _log_odds(pipeline: Any, rows: pd.DataFrame) -> np.ndarray:
    if hasattr(pipeline, "decision_function"):
        return np.asarray(pipeline.decision_function(rows[list(FEATURES)]))
    proba = pipeline.predict_proba(rows[list(FEATURES)])[:, 1]
    return np.asarray(np.log(proba) - np.log1p(-proba))


@pytest.mark.parametrize(("kind", "explainer"), [("gradient_boosting", "tree"),
                                                 ("logistic_regression", "linear")])
def test_default_models_get_fast_exact_explainers_that_add_up(
    frame: pd.DataFrame, trained: dict[str, TrainedModel], kind: str, explainer: str
) -> None:
    rows = frame.iloc[:200]
    result = explain_model(trained[kind].pipeline, rows, features=FEATURES)
    assert result.explainer_kind == explainer
    assert result.fallback_reason is None
    assert list(result.contributions.columns) == list(FEATURES)
    assert result.contributions.index.equals(rows.index)
    total = result.base_value + result.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, _log_odds(trained[kind].pipeline, rows), atol=1e-6)
    assert result.output_scale == "log_odds"
    assert re.fullmatch(r"\d+\.\d+.*", result.shap_version)


def test_one_hot_columns_are_summed_back_to_their_source(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    # Linear model: a categorical column's contribution is coef . (onehot(x) - mean).
    pipeline = trained["logistic_regression"].pipeline
    rows = frame.iloc[:20]
    background = frame.iloc[100:160]
    result = explain_model(pipeline, rows, features=FEATURES, background=background)
    pre, coef = pipeline[:-1], pipeline[-1].coef_[0]
    names = list(pre.get_feature_names_out())
    cols = [i for i, n in enumerate(names) if n.startswith("categorical__zip_region_")]
    enc, mean = pre.transform(rows[list(FEATURES)]), pre.transform(background).mean(axis=0)
    expected = (enc[:, cols] - mean[cols]) @ coef[cols]
    np.testing.assert_allclose(result.contributions["zip_region"], expected, atol=1e-9)
    assert result.background_sha256 is not None
    assert re.fullmatch("[0-9a-f]{64}", result.background_sha256)


def test_other_models_fall_back_to_permutation_and_say_so(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    preprocess = clone(trained["logistic_regression"].pipeline[0])  # never refit a fixture
    pipeline = Pipeline([("preprocess", preprocess), ("model", GaussianNB())])
    pipeline.fit(frame[list(FEATURES)], frame["approved"])
    rows = frame.iloc[:8]
    result = explain_model(pipeline, rows, features=FEATURES, n_background=10)
    assert result.explainer_kind == "permutation"
    assert result.fallback_reason is not None and "GaussianNB" in result.fallback_reason
    total = result.base_value + result.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, _log_odds(pipeline, rows), atol=1e-6)


def test_background_is_seeded(frame: pd.DataFrame, trained: dict[str, TrainedModel]) -> None:
    pipeline = trained["logistic_regression"].pipeline
    first = explain_model(pipeline, frame.iloc[:5], features=FEATURES, random_state=1)
    again = explain_model(pipeline, frame.iloc[:5], features=FEATURES, random_state=1)
    assert first.background_sha256 == again.background_sha256
    pd.testing.assert_frame_equal(first.contributions, again.contributions)


def test_explanation_that_does_not_add_up_is_refused(
    frame: pd.DataFrame, trained: dict[str, TrainedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = explain._shap_values

    def shifted(*args: Any) -> Any:
        kind, reason, values, base, scale = real(*args)
        return kind, reason, values, base + 0.1, scale

    monkeypatch.setattr(explain, "_shap_values", shifted)
    with pytest.raises(ValueError, match=_prefix(MSG_NOT_ADDITIVE)):
        explain_model(trained["gradient_boosting"].pipeline, frame.iloc[:10], features=FEATURES)


def test_native_categorical_splits_are_refused_not_misreported() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"code": rng.integers(0, 6, 600).astype(float),
                      "num": rng.normal(size=600)})
    y = ((x["code"].isin([1, 4])) ^ (x["num"] > 0.5)).astype(int)
    model = HistGradientBoostingClassifier(categorical_features=[0], max_iter=20,
                                           random_state=0).fit(x, y)
    # shap 0.51 returns wrong values for these splits without error; we must refuse.
    with pytest.raises(ValueError, match=_prefix(MSG_NOT_ADDITIVE)):
        explain_model(model, x.iloc[:100], features=("code", "num"))


def test_model_fitted_on_other_columns_is_named(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    features = (*FEATURES[:-1], "employment_years")
    with pytest.raises(DataValidationError, match=_prefix(MSG_COLUMNS_MISMATCH)) as info:
        explain_model(trained["gradient_boosting"].pipeline, frame, features=features)
    assert "age_band" in str(info.value) and "employment_years" in str(info.value)


def test_tidy_long_table(frame: pd.DataFrame, trained: dict[str, TrainedModel]) -> None:
    result = explain_model(trained["gradient_boosting"].pipeline, frame.iloc[:4],
                           features=FEATURES)
    long = result.to_long()
    assert list(long.columns) == ["row", "feature", "contribution"]
    assert len(long) == 4 * len(FEATURES)


def test_forest_is_explained_on_the_probability_scale(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    preprocess = clone(trained["gradient_boosting"].pipeline[0])  # never refit a fixture
    pipeline = Pipeline([("preprocess", preprocess),
                         ("model", RandomForestClassifier(n_estimators=5, max_depth=4,
                                                          random_state=0))])
    pipeline.fit(frame[list(FEATURES)], frame["approved"])
    rows = frame.iloc[:30]
    result = explain_model(pipeline, rows, features=FEATURES)
    assert (result.explainer_kind, result.output_scale) == ("tree", "probability")
    total = result.base_value + result.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, pipeline.predict_proba(rows[list(FEATURES)])[:, 1],
                               atol=1e-6)
