"""Per-group importances from a stratified sample, and the exact gap decomposition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from audits.data.schema import ColumnRoles
from audits.data.synthetic import make_synthetic_loans
from audits.explain.groups import (
    MSG_ROWS_SHAPE,
    MSG_SAME_GROUP,
    MSG_UNKNOWN_GROUP,
    GroupExplanation,
    explain_groups,
    gap_decomposition,
    mean_abs_interval,
    required_rows,
)
from audits.models.training import TrainedModel, train_default_model

FEATURES = ("income", "debt_to_income", "credit_history_years", "zip_region", "age_band")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # OpenMP spin-waiting makes HistGradientBoosting ~100x slower on busy shared cores.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_synthetic_loans(3000, random_state=5)


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> TrainedModel:
    roles = ColumnRoles(target="approved", sensitive_features=("group",), features=FEATURES)
    return train_default_model(frame, roles, random_state=0)


def _explain(model: TrainedModel, frame: pd.DataFrame, **options: Any) -> GroupExplanation:
    kwargs: dict[str, Any] = {"min_rows_per_group": 100, "max_rows_per_group": 400}
    kwargs.update(options)
    return explain_groups(model.pipeline, frame, features=FEATURES,
                          sensitive_feature="group", **kwargs)


def test_importances_are_tidy_with_intervals_around_the_mean(
    model: TrainedModel, frame: pd.DataFrame
) -> None:
    result = _explain(model, frame)
    imp = result.importances
    assert list(imp.columns) == ["sensitive_feature", "group", "feature", "mean_abs_shap",
                                 "ci_low", "ci_high", "mean_shap", "n_rows", "skewness",
                                 "approximate"]
    assert len(imp) == 2 * len(FEATURES)
    assert (imp["ci_low"] <= imp["mean_abs_shap"]).all()
    assert (imp["mean_abs_shap"] <= imp["ci_high"]).all()
    groups = result.groups
    assert (groups["n_rows"] >= 100).all() and (groups["n_rows"] <= 400).all()


def test_sample_grows_to_reach_a_tighter_target(model: TrainedModel, frame: pd.DataFrame) -> None:
    loose = _explain(model, frame, target_half_width=0.5)
    tight = _explain(model, frame, target_half_width=0.01)
    assert (tight.groups["n_rows"] == 400).all()
    # A loose width still asks for 25 * g1^2 rows (skewed |SHAP|), recomputed from the
    # pilot (the first 100 explained rows of each group) with scipy's skewness.
    contributions = loose.explanation.contributions
    labels = frame.loc[contributions.index, "group"].to_numpy()
    pilots = {g: contributions[labels == g].iloc[:100].abs() for g in ("A", "B")}
    h = 0.5 * max(p.mean().max() for p in pilots.values())
    for g, pilot in pilots.items():
        width_rows = ((1.959963984540054 * pilot.std(ddof=1)) / h) ** 2
        skew_rows = 25 * stats.skew(pilot.to_numpy(), axis=0, bias=True) ** 2
        needed = int(np.ceil(max(width_rows.max(), np.nanmax(skew_rows))))
        expected = min(max(needed, 100), 400)
        assert loose.groups.set_index("group").loc[g, "n_rows"] == expected


def test_group_means_match_an_independent_recomputation(
    model: TrainedModel, frame: pd.DataFrame
) -> None:
    result = _explain(model, frame)
    expl = result.explanation
    labels = frame["group"].to_numpy()[expl.contributions.index.to_numpy()]
    b = expl.contributions[labels == "B"]
    imp = result.importances.set_index(["group", "feature"])
    np.testing.assert_allclose(imp.loc["B"]["mean_abs_shap"], b.abs().mean(), atol=1e-12)
    np.testing.assert_allclose(imp.loc["B"]["mean_shap"], b.mean(), atol=1e-12)


def test_gap_decomposition_adds_up_to_the_gap_in_mean_log_odds(
    model: TrainedModel, frame: pd.DataFrame
) -> None:
    result = _explain(model, frame)
    gap = gap_decomposition(result, "B", "A")
    expl = result.explanation
    rows = frame.iloc[expl.contributions.index.to_numpy()]
    log_odds = model.pipeline.decision_function(rows[list(FEATURES)])
    is_b = rows["group"].to_numpy() == "B"
    expected = log_odds[is_b].mean() - log_odds[~is_b].mean()
    assert gap.output_gap == pytest.approx(expected, abs=1e-9)
    assert gap.table["contribution"].sum() == pytest.approx(expected, abs=1e-9)
    assert gap.table["feature"].iloc[0] == "zip_region"  # the injected proxy drives it


def test_seeded(model: TrainedModel, frame: pd.DataFrame) -> None:
    first, again = _explain(model, frame, random_state=4), _explain(model, frame, random_state=4)
    pd.testing.assert_frame_equal(first.importances, again.importances)


def test_bad_groups_are_named(model: TrainedModel, frame: pd.DataFrame) -> None:
    result = _explain(model, frame)
    with pytest.raises(ValueError, match="group 'C' is not in"):
        gap_decomposition(result, "C", "A")
    with pytest.raises(ValueError, match=MSG_SAME_GROUP.split("{")[0]):
        gap_decomposition(result, "A", "A")
    assert MSG_UNKNOWN_GROUP.startswith("group {group!r} is not in")


def test_small_group_is_taken_whole_and_progress_is_reported(
    model: TrainedModel, frame: pd.DataFrame
) -> None:
    small = pd.concat([frame[frame["group"] == "A"].head(300),
                       frame[frame["group"] == "B"].head(30)])
    seen: list[tuple[float, str]] = []
    result = _explain(model, small, progress=lambda f, m: seen.append((f, m)))
    counts = result.groups.set_index("group")[["n_rows", "n_group"]]
    assert counts.loc["B"].tolist() == [30, 30]
    assert counts.loc["A", "n_rows"] >= 100
    assert seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)


# ---------------------------------------------------------------- mean |SHAP| intervals


def test_interval_is_a_studentized_bootstrap_recomputed_by_hand() -> None:
    x = np.random.default_rng(3).lognormal(0.0, 1.0, size=(60, 2))
    got = mean_abs_interval(x, n_bootstrap=400, random_state=7)
    draws = np.random.default_rng(7).integers(0, 60, size=(400, 60))
    for j in range(2):
        col = x[:, j]
        se = col.std(ddof=1) / np.sqrt(60)
        t = [(col[d].mean() - col.mean()) / (col[d].std(ddof=1) / np.sqrt(60)) for d in draws]
        q_low, q_high = np.quantile(t, [0.025, 0.975])
        assert got.loc[j, "ci_low"] == pytest.approx(max(col.mean() - q_high * se, 0.0))
        assert got.loc[j, "ci_high"] == pytest.approx(col.mean() - q_low * se)
        g1 = stats.skew(col, bias=True)
        assert got.loc[j, "skewness"] == pytest.approx(g1)
        assert bool(got.loc[j, "approximate"]) == (25 * g1**2 > 60)
    # a skewed mean: the upper side of the interval is the longer one
    assert ((got["ci_high"] - got["mean"]) > (got["mean"] - got["ci_low"])).all()


def test_symmetric_values_are_not_approximate_and_constant_ones_collapse() -> None:
    x = np.c_[np.random.default_rng(0).normal(5.0, 1.0, 400), np.full(400, 2.0)]
    got = mean_abs_interval(x, n_bootstrap=300)
    assert not got["approximate"].any()
    assert got.loc[1, "ci_low"] == got.loc[1, "ci_high"] == 2.0


def test_required_rows_by_hand() -> None:
    # one column: 0, 0, 0, 1 -> sd = 0.5, g1 = (3/64 ... ) = 2 / sqrt(3) = 1.1547
    x = np.array([[0.0], [0.0], [0.0], [1.0]])
    assert required_rows(x, half_width=10.0) == int(np.ceil(25 * 4 / 3))  # skewness rule
    assert required_rows(x, half_width=0.01) == int(np.ceil((1.959963984540054 * 0.5 / 0.01)
                                                            ** 2))
    with pytest.raises(ValueError, match="half_width must be positive"):
        required_rows(x, half_width=0.0)
    with pytest.raises(ValueError, match=MSG_ROWS_SHAPE.split("{")[0]):
        mean_abs_interval(np.ones(5))
