"""Active learning flags: contract, uncertainty, diversity, groups, order, and a measured gain."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss

from audits.data.schema import ColumnRoles
from audits.data.synthetic import make_synthetic_loans
from audits.flagging.active_learning import (
    MSG_FEATURES,
    MSG_GROUP_MISSING,
    MSG_OPEN_THRESHOLD,
    MSG_PROBABILITY,
    MSG_SAME_ROWS,
    active_learning_flags,
    encoded_features,
    uncertainty,
)
from audits.flagging.cases import FlagContext, flag_and_snapshot
from audits.flagging.common import DECISION_REASONS
from audits.flagging.flags import (
    FLAG_COLUMNS,
    MSG_COUNT,
    MSG_DUPLICATE_INDEX,
    MSG_NOT_FRAME,
    MSG_NOT_SERIES,
    MSG_SCORES,
    MSG_SEED,
    REASONS,
    low_confidence_flags,
    validate_flags,
)
from audits.flagging.policy import DEFAULT_QUOTAS, FILL_ORDER, FlagPolicy
from audits.models.training import train_default_model
from audits.retrain.retraining import retrain

FEATURES = ("income", "debt_to_income", "credit_history_years", "loan_amount",
            "employment_years", "zip_region")
ROLES = ColumnRoles(target="repaid", sensitive_features=("group",), features=FEATURES)


def _msg(template: str) -> str:
    """A regex matching a MSG_* template with any text in its fields."""
    return ".*".join(re.escape(part) for part in re.split(r"\{[^}]*\}", template))


def _random_rows(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = [f"r{i}" for i in range(n)]
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) * 100,
                      "onehot": rng.integers(0, 2, n).astype(float)}, index=index)
    scores = pd.Series(rng.uniform(0, 1, n).round(2), index=index)
    groups = pd.Series(rng.choice(["A", "B", "C"], n), index=index)
    return x, scores, groups


def _check_contract(table: pd.DataFrame) -> None:
    assert tuple(table.columns) == FLAG_COLUMNS
    assert (table["reason"] == "active_learning").all()
    assert table["score"].between(0, 1).all()
    assert all(isinstance(t, str) and t.endswith(".") for t in table["explanation"])
    assert not table["row"].duplicated().any()
    pd.testing.assert_frame_equal(validate_flags(table), table)


# --- wiring ----------------------------------------------------------------------


def test_reason_is_registered_after_the_existing_ones() -> None:
    assert DECISION_REASONS[-1] == "active_learning" == REASONS[len(DECISION_REASONS) - 1]
    assert REASONS[:6] == ("low_confidence", "disparity", "counterfactual", "attribution",
                           "random_control", "gold")
    assert DEFAULT_QUOTAS["active_learning"] == 0.1 and DEFAULT_QUOTAS["low_confidence"] == 0.2
    assert sum(DEFAULT_QUOTAS.values()) == pytest.approx(1.0)
    assert FILL_ORDER.index("active_learning") == FILL_ORDER.index("low_confidence") + 1
    assert set(FILL_ORDER) == set(REASONS)


# --- scores -----------------------------------------------------------------------


def test_uncertainty_is_one_at_the_threshold_and_zero_at_the_extremes() -> None:
    s = pd.Series([0.0, 0.1, 0.2, 0.3, 0.44, 0.72, 1.0])
    # Oracle by hand at threshold 0.2: below, 1 - (0.2 - s) / 0.2; above, 1 - (s - 0.2) / 0.8.
    expected = [0.0, 0.5, 1.0, 0.875, 0.7, 0.35, 0.0]
    assert uncertainty(s, threshold=0.2).tolist() == pytest.approx(expected)


def test_hand_computed_greedy_order_and_scores() -> None:
    # One feature at 0, 1, 4, 10; uncertainties 1, 0.9, 0.6, 0.5 (threshold 0.5).
    x = pd.DataFrame({"f": [0.0, 1.0, 4.0, 10.0]}, index=["p", "q", "r", "s"])
    s = pd.Series([0.5, 0.45, 0.3, 0.75], index=x.index)
    out = active_learning_flags(x, s)
    _check_contract(out)
    # p first (most uncertain); D = 10. Then u * d / D: q 0.9 * 1/10, r 0.6 * 4/10,
    # s 0.5 * 10/10 -> s; then r (0.6 * 4/10 = 0.24) before q (0.9 * 1/10 = 0.09).
    assert out["row"].tolist() == ["p", "s", "r", "q"]
    assert out["score"].tolist() == pytest.approx([1.0, 0.5, 0.24, 0.09])
    assert out["explanation"][0] == (
        "The model scored 0.50 against a threshold of 0.50 (uncertainty 1.00): of the "
        "unreviewed cases, it is least sure of this one, so a human label here would "
        "teach the retrained model the most.")
    assert "unlike the 3 cases already picked" in out["explanation"][3]
    assert active_learning_flags(x, s, k=2)["row"].tolist() == ["p", "s"]
    assert active_learning_flags(x, s, k=0).empty


def test_scores_lie_in_unit_interval_below_uncertainty_and_peak_at_the_threshold() -> None:
    x, s, groups = _random_rows(200, seed=1)
    s = s.where(s != 0.5, 0.51)
    s.iloc[17] = 0.5  # the only row exactly at the threshold: its group's first pick
    out = active_learning_flags(x, s, groups=groups, k=60)
    _check_contract(out)
    u = uncertainty(s)
    assert (out["score"].to_numpy() <= u.loc[out["row"]].to_numpy() + 1e-12).all()
    assert out["score"].max() == 1.0
    assert out.set_index("row").loc["r17", "score"] == 1.0
    # Scores never rise along a group's picks, so the policy takes them in pick order.
    for _, part in out.assign(group=groups.loc[out["row"]].to_numpy()).groupby("group"):
        assert (np.diff(part["score"].to_numpy()) <= 1e-12).all()


def test_rows_at_the_extremes_are_never_flagged() -> None:
    x = pd.DataFrame({"f": [0.0, 1.0, 2.0]})
    out = active_learning_flags(x, pd.Series([0.0, 1.0, 0.6]), threshold=0.4)
    assert out["row"].tolist() == [2]


# --- exclusion, diversity, groups -----------------------------------------------------


def test_excluded_rows_are_never_flagged() -> None:
    x, s, groups = _random_rows(120, seed=2)
    reviewed = list(s.sort_values(key=lambda v: (v - 0.5).abs()).index[:30])  # most uncertain
    out = active_learning_flags(x, s, groups=groups, exclude=[*reviewed, "not a row"])
    assert not set(out["row"]) & set(reviewed)
    assert set(out["row"]) <= set(x.index) - set(reviewed)
    top = active_learning_flags(x, s, groups=groups, k=5)
    assert set(top["row"]) & set(reviewed)  # without exclude they would have been picked


def test_two_duplicate_clusters_are_both_covered() -> None:
    # Cluster A: ten identical rows at 0.50; cluster B: ten identical rows at 0.45, far
    # away; two rows far from the threshold elsewhere.
    x = pd.DataFrame({"f": [0.0] * 10 + [8.0] * 10 + [3.0, 5.0],
                      "g": [1.0] * 10 + [0.0] * 10 + [0.0, 1.0]},
                     index=[f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
                     + ["far1", "far2"])
    s = pd.Series([0.5] * 10 + [0.45] * 10 + [0.97, 0.02], index=x.index)
    out = active_learning_flags(x, s, k=2)
    assert sorted(r[0] for r in out["row"]) == ["a", "b"]
    # Uncertainty alone takes both seats in cluster A.
    assert [r[0] for r in low_confidence_flags(s, threshold=0.5, k=2)["row"]] == ["a", "a"]
    # However large k, a duplicate of a picked row is never flagged (it scores 0).
    everything = active_learning_flags(x, s, k=20)
    assert sorted(r[0] for r in everything["row"]) == ["a", "b", "f", "f"]


def test_every_group_is_covered_and_named() -> None:
    x, s, _ = _random_rows(90, seed=3)
    groups = pd.Series(["big"] * 80 + ["small"] * 8 + ["tiny"] * 2, index=x.index)
    s.iloc[80:] = 0.9  # the small groups are far less uncertain than the big one
    out = active_learning_flags(x, s, groups=groups, k=3)
    assert sorted(groups.loc[out["row"]]) == ["big", "small", "tiny"]
    first = out.assign(group=groups.loc[out["row"]].to_numpy()).set_index("group")
    assert first.loc["tiny", "score"] == pytest.approx(0.2)  # its first pick scores its u
    assert "in group tiny" in first.loc["tiny", "explanation"]
    # With more seats, the big group's more uncertain rows take them.
    more = active_learning_flags(x, s, groups=groups, k=20)
    assert (groups.loc[more["row"]] == "big").sum() > 10


# --- determinism and order -----------------------------------------------------------


def test_deterministic_and_independent_of_row_order() -> None:
    x, s, groups = _random_rows(150, seed=4)
    s = s.round(1)  # many ties, so the seeded tie-break matters
    first = active_learning_flags(x, s, groups=groups, k=40, random_state=7)
    pd.testing.assert_frame_equal(first, active_learning_flags(x, s, groups=groups, k=40,
                                                               random_state=7))
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = rng.permutation(len(x))
        again = active_learning_flags(x.iloc[order], s.iloc[rng.permutation(len(s))],
                                      groups=groups.iloc[rng.permutation(len(groups))],
                                      k=40, random_state=7)
        pd.testing.assert_frame_equal(first, again)
    other = active_learning_flags(x, s, groups=groups, k=40, random_state=8)
    assert other["row"].tolist() != first["row"].tolist()  # ties fall the other way


# --- errors ------------------------------------------------------------------------


X = pd.DataFrame({"f": [0.0, 1.0, 2.0]}, index=["a", "b", "c"])
S = pd.Series([0.4, 0.5, 0.6], index=["a", "b", "c"])


@pytest.mark.parametrize(("args", "kwargs", "error", "template"), [
    (([[0.0]], S), {}, TypeError, MSG_NOT_FRAME),
    ((X.assign(t=["x", "y", "z"]), S), {}, ValueError, MSG_FEATURES),
    ((X.assign(f=[0.0, np.inf, 1.0]), S), {}, ValueError, MSG_FEATURES),
    ((X.assign(f=[True, False, True]), S), {}, ValueError, MSG_FEATURES),
    ((X.set_axis(["a", "a", "c"]), S), {}, ValueError, MSG_DUPLICATE_INDEX),
    ((X, [0.4, 0.5, 0.6]), {}, TypeError, MSG_NOT_SERIES),
    ((X, S.set_axis(["a", "b", "z"])), {}, ValueError, MSG_SAME_ROWS),
    ((X, S.head(2)), {}, ValueError, MSG_SAME_ROWS),
    ((X, S.set_axis(["a", "b", "b"])), {}, ValueError, MSG_DUPLICATE_INDEX),
    ((X, S.where(S < 0.6)), {}, ValueError, MSG_SCORES),
    ((X, S + 0.5), {}, ValueError, MSG_PROBABILITY),
    ((X, S), {"threshold": 0.0}, ValueError, MSG_OPEN_THRESHOLD),
    ((X, S), {"threshold": 1.0}, ValueError, MSG_OPEN_THRESHOLD),
    ((X, S), {"threshold": "0.5"}, ValueError, MSG_OPEN_THRESHOLD),
    ((X, S), {"k": -1}, ValueError, MSG_COUNT),
    ((X, S), {"k": 1.5}, ValueError, MSG_COUNT),
    ((X, S), {"random_state": 1.5}, ValueError, MSG_SEED),
    ((X, S), {"groups": pd.Series({"a": "A", "b": "B"})}, ValueError, MSG_GROUP_MISSING),
    ((X, S), {"groups": pd.Series({"a": "A", "b": "B", "c": None})}, ValueError,
     MSG_GROUP_MISSING),
    ((X, S), {"groups": ["A", "B", "C"]}, TypeError, MSG_NOT_SERIES),
])
def test_bad_inputs_raise(args: tuple[Any, Any], kwargs: dict[str, Any],
                          error: type[Exception], template: str) -> None:
    with pytest.raises(error, match=_msg(template)):
        active_learning_flags(*args, **kwargs)


# --- encoded features and the queue ----------------------------------------------------


def test_encoded_features_are_what_the_final_step_sees() -> None:
    df = make_synthetic_loans(300, random_state=1)
    model = train_default_model(df, ROLES, kind="logistic_regression")
    enc = encoded_features(model.pipeline, df, features=FEATURES)
    expected = model.pipeline.named_steps["preprocess"].transform(df[list(FEATURES)])
    assert enc.index.equals(df.index) and enc.shape == expected.shape
    np.testing.assert_allclose(enc.to_numpy(), expected)
    assert any(c.endswith("zip_region_R1") for c in enc.columns)
    bare = LogisticRegression().fit(df[["income", "debt_to_income"]].to_numpy(), df["repaid"])
    plain = encoded_features(bare, df, features=["income", "debt_to_income"])
    np.testing.assert_array_equal(plain.to_numpy(), df[["income", "debt_to_income"]].to_numpy())


def _context(pipeline: Any) -> FlagContext:
    return FlagContext(y_true="repaid", y_pred="y_pred", y_score="y_score", threshold=0.5,
                       sensitive_features=("group",), features=FEATURES, disparities=[],
                       positive_is_favourable=True, positive_label="repaid",
                       pipeline=pipeline)


def test_the_queue_gets_active_learning_seats_only_with_a_model() -> None:
    df = make_synthetic_loans(1200, random_state=2)
    model = train_default_model(df, ROLES, kind="logistic_regression")
    frame = df.iloc[model.test_rows].reset_index(drop=True)
    proba = model.pipeline.predict_proba(frame[list(FEATURES)])[:, 1]
    frame = frame.assign(y_score=proba, y_pred=(proba >= 0.5).astype(int))
    policy = FlagPolicy(budget=40)
    flagged = flag_and_snapshot(frame, _context(model.pipeline), policy)
    mine = flagged.flags[flagged.flags["reason"] == "active_learning"]
    assert len(mine) == 40 and set(frame.loc[mine["row"], "group"]) == {"A", "B"}
    chosen = flagged.selection.cases
    # Its own 0.1 of 40 seats, plus a share of the seats no disparity, counterfactual or
    # attribution candidate could fill (here 16, split 0.2 : 0.2 : 0.1 : 0.1 -> 3 more).
    assert (chosen["primary_reason"] == "active_learning").sum() == 4 + 3
    case = next(c for c in flagged.cases if c.primary_reason == "active_learning")
    assert any(r["reason"] == "active_learning" and "teach" in r["explanation"]
               for r in case.reasons)
    logged = flag_and_snapshot(frame, _context(None), policy)
    assert "active_learning" not in set(logged.flags["reason"])


# --- measured: labels chosen by active learning vs at random ------------------------------


@pytest.mark.slow  # a simulation study: 8 seeds, two models trained on each
def test_active_learning_labels_beat_random_labels_on_accuracy() -> None:
    """300 more labels for gradient boosting: active learning vs a uniform draw.

    Synthetic loans (3,000 candidate rows, 3,000 held out, target ``repaid``), 300 random
    labelled rows to start; the model trained on them scores the other rows and either
    :func:`active_learning_flags` (groups = ``group``, k = 300) or a uniform draw picks
    300 more; the default gradient-boosting model is retrained on the 600 rows. Measured
    on seeds 0-7 (the loop below; medians over seeds):

    * held-out accuracy: random 0.686, active learning 0.703; paired gain median
      +0.012, positive on 7 seeds of 8 (the 8th a tie). On seeds 0-19: +0.011, 18 of 20.
    * held-out log-loss gets WORSE: random 0.741, active learning 0.776 (paired +0.032,
      worse on all 8 seeds): labels near the threshold sharpen the decision boundary
      but bias the probabilities. Active learning serves decisions, not calibration.
    * logistic regression barely gains: accuracy +0.003 (better on 22 of 30 seeds),
      log-loss -0.001 (17 of 30); with gradient boosting, diversity adds +0.002 accuracy
      over the 300 most uncertain rows alone.
    """
    gains, losses = [], []
    for seed in range(8):
        df = make_synthetic_loans(6000, random_state=100 + seed)
        held_out, candidates = df.iloc[3000:], df.iloc[:3000]
        rng = np.random.default_rng(seed)
        start = rng.choice(3000, 300, replace=False)
        first = retrain(df, ROLES, labels=None, train_rows=start, kind="gradient_boosting")
        y_score = pd.Series(first.pipeline.predict_proba(candidates[list(FEATURES)])[:, 1],
                            index=candidates.index)
        picked = active_learning_flags(
            encoded_features(first.pipeline, candidates, features=FEATURES), y_score,
            groups=candidates["group"], k=300, exclude=start.tolist(), random_state=seed)
        chosen = np.asarray(picked["row"].tolist())
        drawn = rng.choice(np.setdiff1d(np.arange(3000), start), 300, replace=False)
        assert len(chosen) == 300 and not set(chosen) & set(start)
        results = []
        for extra in (drawn, chosen):
            model = retrain(df, ROLES, labels=None, train_rows=np.concatenate([start, extra]),
                            kind="gradient_boosting")
            p = model.pipeline.predict_proba(held_out[list(FEATURES)])[:, 1]
            results.append((accuracy_score(held_out["repaid"], p >= 0.5),
                            log_loss(held_out["repaid"], p)))
        gains.append(results[1][0] - results[0][0])
        losses.append(results[1][1] - results[0][1])
    assert np.median(gains) >= 0.006  # measured 0.012
    assert sum(g > 0 for g in gains) >= 6  # measured 7 of 8, the 8th a tie
    assert min(gains) >= -0.005  # measured 0.0
    # The calibration cost stated above (measured +0.032); if this fails, update the docstring.
    assert np.median(losses) > 0
