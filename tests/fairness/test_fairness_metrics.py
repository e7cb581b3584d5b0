"""Per-group metrics against fairlearn's MetricFrame and scikit-learn, and edge cases."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    precision_score,
    roc_auc_score,
)

from audits.data.schema import DataValidationError
from audits.fairness.audit import FairnessAudit, audit_fairness
from audits.fairness.counts import MISSING

FAIRLEARN = {
    "selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate, "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
    "precision": partial(precision_score, zero_division=0),
    "accuracy": accuracy_score, "balanced_accuracy": balanced_accuracy_score, "count": count,
}


def random_decisions(n: int, seed: int) -> pd.DataFrame:
    """Decisions whose rates depend on the groups; an integer-coded feature included."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["w", "x", "y", "z"], n, p=[0.5, 0.25, 0.15, 0.1])
    sex = rng.choice(["f", "m"], n)
    band = rng.choice([1, 2, 10], n, p=[0.3, 0.5, 0.2])
    base = 0.3 + 0.1 * (race == "x") + 0.05 * (sex == "m") - 0.1 * (band == 10)
    y = (rng.random(n) < base).astype(int)
    p = (rng.random(n) < np.where(y == 1, 0.75 - 0.1 * (race == "y"), 0.25)).astype(int)
    score = np.clip(np.round(rng.normal(0.35 + 0.3 * y, 0.2, n), 3), 0, 1)
    return pd.DataFrame({"y": y, "p": p, "race": race, "sex": sex, "band": band,
                         "score": score, "decile": np.minimum(score * 10 // 1 + 1, 10)})


def slice_rows(audit: FairnessAudit, features: tuple[str, ...]) -> pd.DataFrame:
    m = audit.metrics
    return m[m["slice"] == " & ".join(features)]


def fairlearn_key(audit: FairnessAudit, group_id: int, features: tuple[str, ...],
                  frame: MetricFrame) -> object:
    """Our group's index label in a MetricFrame (values matched by their string form)."""
    attrs = audit.attributes(group_id)
    index = frame.by_group.index
    if len(features) == 1:
        return next(k for k in index if str(k) == attrs[features[0]])
    return next(k for k in index if tuple(map(str, k)) == tuple(attrs[f] for f in features))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_shared_metric_matches_fairlearn_metricframe_with_intersections(
    seed: int,
) -> None:
    df = random_decisions(4_000, seed)
    features = ["race", "sex", "band"]
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features=features,
                           n_boot=0)
    compared = 0
    for sl in audit.counts.slices:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fairlearn warns about its own internals
            frame = MetricFrame(metrics=FAIRLEARN, y_true=df["y"], y_pred=df["p"],
                                sensitive_features=df[list(sl)])
        ours = slice_rows(audit, sl)
        groups = audit.groups[audit.groups["slice"] == " & ".join(sl)]
        observed = frame.by_group.dropna(subset=["count"])
        assert len(groups) == len(observed[observed["count"] > 0])
        for gid, n in zip(groups["group_id"], groups["n"], strict=True):
            theirs = frame.by_group.loc[fairlearn_key(audit, gid, sl, frame)]
            assert n == theirs["count"]
            mine = ours[ours["group_id"] == gid].set_index("metric")["value"]
            for name in FAIRLEARN:
                if name == "count":
                    continue
                assert np.isfinite(mine[name]), (sl, gid, name)
                assert mine[name] == pytest.approx(theirs[name], abs=1e-9), (sl, gid, name)
                compared += 1
    assert compared > 8 * 40  # 3 + 3 + 1 slices, dozens of groups


def test_roc_auc_matches_sklearn_per_group_for_discrete_scores() -> None:
    df = random_decisions(3_000, 4)
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["race", "sex"],
                           y_score="decile", n_boot=0)
    assert audit.counts.scores is not None and audit.counts.scores.exact
    assert (audit.groups["roc_auc_binning_bound"] == 0).all()
    rows = audit.metrics[audit.metrics["metric"] == "roc_auc"]
    for gid, value in zip(rows["group_id"], rows["value"], strict=True):
        mask = _mask(df, audit.attributes(gid))
        expected = roc_auc_score(df.loc[mask, "y"], df.loc[mask, "decile"])
        assert value == pytest.approx(expected, abs=1e-9)


def test_roc_auc_from_fine_bins_is_within_its_reported_bound() -> None:
    rng = np.random.default_rng(5)
    df = random_decisions(20_000, 5).assign(score=lambda d: np.clip(
        rng.normal(0.4 + 0.2 * d["y"], 0.2), 0, 1))
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["race"],
                           y_score="score", n_boot=0, intersections=False)
    assert audit.counts.scores is not None and not audit.counts.scores.exact
    rows = audit.metrics[audit.metrics["metric"] == "roc_auc"]
    bounds = audit.groups.set_index("group_id")["roc_auc_binning_bound"]
    for gid, value in zip(rows["group_id"], rows["value"], strict=True):
        mask = _mask(df, audit.attributes(gid))
        expected = roc_auc_score(df.loc[mask, "y"], df.loc[mask, "score"])
        assert abs(value - expected) <= bounds[gid] + 1e-12
        assert bounds[gid] < 2e-3


def test_calibration_error_matches_a_row_level_computation() -> None:
    rng = np.random.default_rng(6)
    df = random_decisions(5_000, 6).assign(score=lambda d: rng.random(len(d)))
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["sex"],
                           y_score="score", n_boot=50)
    rows = audit.metrics[audit.metrics["metric"] == "expected_calibration_error"]
    for gid, value in zip(rows["group_id"], rows["value"], strict=True):
        sub = df[_mask(df, audit.attributes(gid))]
        bins = np.minimum(np.floor(sub["score"] * 10), 9)
        # Debiased squared error (Kumar, Liang & Ma 2019) over bins of two or more rows.
        terms = sub.groupby(bins).apply(lambda b: len(b) * (
            (b["y"].mean() - b["score"].mean()) ** 2
            - b["y"].mean() * (1 - b["y"].mean()) / (len(b) - 1)))
        assert value == pytest.approx(np.sqrt(max(terms.sum() / len(sub), 0.0)), abs=1e-12)
        assert value > 0.1  # labels drawn independently of the scores: badly calibrated
    curve = audit.reliability
    assert curve is not None and curve.groupby("group_id")["n"].sum().tolist() == (
        audit.groups["n"].tolist())


def test_named_summaries_match_fairlearn() -> None:
    df = random_decisions(3_000, 7)
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["race", "sex"],
                           n_boot=0, min_n=0, min_cell_count=0)
    s = audit.summaries.set_index(["slice", "summary"])["value"]
    for features in (["race"], ["sex"], ["race", "sex"]):
        sf = df[features] if len(features) > 1 else df[features[0]]
        label = " & ".join(features)
        kwargs = {"y_true": df["y"], "y_pred": df["p"], "sensitive_features": sf}
        assert s[label, "demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(**kwargs), abs=1e-12)
        assert s[label, "demographic_parity_ratio"] == pytest.approx(
            demographic_parity_ratio(**kwargs), abs=1e-12)
        assert s[label, "impact_ratio"] == s[label, "demographic_parity_ratio"]
        assert s[label, "equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(**kwargs), abs=1e-12)


def test_a_group_without_positives_gets_nan_not_zero_or_a_crash() -> None:
    df = pd.DataFrame({"y": [0] * 40 + [1, 0] * 30, "p": [1, 0] * 50,
                       "g": ["none"] * 40 + ["some"] * 60})
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g", n_boot=100)
    m = audit.metrics.set_index(["group_label", "metric"])
    for name in ("true_positive_rate", "false_negative_rate", "balanced_accuracy"):
        assert np.isnan(m.loc[("none", name), "value"])
        assert np.isnan(m.loc[("none", name), "ci_low"])
        assert not m.loc[("none", name), "eligible"]
    assert m.loc[("none", "false_positive_rate"), "value"] == 0.5
    assert m.loc[("none", "precision"), "value"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(metrics=true_positive_rate, y_true=df["y"], y_pred=df["p"],
                            sensitive_features=df["g"])
    assert frame.by_group["none"] == 0.0  # fairlearn reports 0/0 as 0; we say undefined
    d = audit.disparities.set_index("metric")
    assert d.loc["true_positive_rate", "verdict"] == "insufficient_evidence"
    assert d.loc["true_positive_rate", "p_value"] != d.loc["true_positive_rate", "p_value"]
    assert audit.to_dict()["groups"][0]["metrics"]["true_positive_rate"] == {
        "value": None, "ci_low": None, "ci_high": None}


def test_a_group_of_one_and_missing_sensitive_values() -> None:
    df = random_decisions(600, 8)
    df["race"] = df["race"].astype(object)
    df.loc[0, "race"] = "solo"
    df.loc[[1, 2, 3], "race"] = np.nan
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["race", "sex"],
                           n_boot=200)
    g = audit.groups.set_index("group_label")
    assert g.loc["solo", "n"] == 1 and g.loc["solo", "small"]
    assert g.loc[MISSING, "n"] == 3
    solo = audit.disparities[(audit.disparities["group_label"] == "solo")
                             & (audit.disparities["metric"] != "prevalence")]
    assert set(solo["verdict"]) == {"insufficient_evidence"}
    payload = audit.to_dict()
    assert {"race": MISSING} in [grp["attributes"] for grp in payload["groups"]]
    assert {"race": MISSING, "sex": "f"} in [grp["attributes"] for grp in payload["groups"]]


def test_label_problems_are_refused_clearly() -> None:
    df = random_decisions(300, 9)
    with pytest.raises(DataValidationError, match="at most two labels"):
        audit_fairness(df.assign(y=np.arange(300) % 3), y_true="y", y_pred="p",
                       sensitive_features="sex")
    words = df.assign(y=df["y"].map({1: "reoffended", 0: "did not"}),
                      p=df["p"].map({1: "reoffended", 0: "did not"}))
    with pytest.raises(DataValidationError, match="pass pos_label"):
        audit_fairness(words, y_true="y", y_pred="p", sensitive_features="sex")
    with pytest.raises(DataValidationError, match="pos_label 'yes' never occurs"):
        audit_fairness(words, y_true="y", y_pred="p", sensitive_features="sex",
                       pos_label="yes")
    a = audit_fairness(words, y_true="y", y_pred="p", sensitive_features="sex",
                       pos_label="reoffended", n_boot=50)
    b = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="sex", n_boot=50)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.config.positive_label == "reoffended"


def _mask(df: pd.DataFrame, attributes: dict[str, str]) -> np.ndarray:
    mask = np.ones(len(df), dtype=bool)
    for feature, value in attributes.items():
        mask &= df[feature].astype(str).to_numpy() == value
    return mask
