"""The deferral curve against hand counts, scikit-learn and a row-by-row loop oracle."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix

from audits.fairness.metrics import confusion_metrics
from audits.flagging.deferral import (
    DEFAULT_SHARES,
    HumanAccuracy,
    deferral_curve,
    human_accuracy,
)

METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")


def human(p: float, low: float | None = None, high: float | None = None) -> HumanAccuracy:
    return HumanAccuracy(p, p if low is None else low, p if high is None else high, 0,
                         "assumed", "test")


def toy() -> pd.DataFrame:
    # Model: row 0 tp, row 1 fp, row 2 fn, row 3 tn. Rows 1 and 2 tie exactly (0.25 away).
    return pd.DataFrame({"y": [1, 0, 1, 0], "s": [1.0, 0.75, 0.25, 0.0],
                         "g": ["a", "a", "b", "b"]})


def random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < np.where(g == "y", 0.6, 0.4)).astype(int)
    s = np.clip(np.round(rng.normal(0.35 + 0.3 * y, 0.2, n), 2), 0, 1)
    return pd.DataFrame({"y": y, "s": s, "g": g, "h": rng.choice(["u", "v"], n)})


def rows(curve_table: pd.DataFrame, quantity: str, group: str) -> pd.DataFrame:
    t = curve_table
    return t[(t["quantity"] == quantity) & (t["group"] == group)].reset_index(drop=True)


def test_at_share_zero_every_value_is_the_models_own_metric() -> None:
    df = random_frame(600, seed=1)
    curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g", "h"],
                           threshold=0.5, human=human(0.9, 0.7, 0.95))
    at0 = curve.table[curve.table["k"] == 0]
    pred = (df["s"] >= 0.5).astype(int)
    overall = at0[at0["group"] == "all"].iloc[0]
    assert overall["value"] == accuracy_score(df["y"], pred)
    assert overall["value_low"] == overall["value_high"] == overall["value"]
    for feature in ("g", "h"):
        for value, part in df.groupby(feature):
            tn, fp, fn, tp = confusion_matrix(part["y"], pred[part.index], labels=[0, 1]).ravel()
            expected = {"selection_rate": (tp + fp) / len(part),
                        "true_positive_rate": tp / (tp + fn),
                        "false_positive_rate": fp / (fp + tn)}
            for metric, want in expected.items():
                got = rows(at0, metric, f"{feature}={value}").iloc[0]
                assert got["value"] == pytest.approx(want, abs=1e-15)
                assert got["value_low"] == pytest.approx(want, abs=1e-15)


def test_hand_computed_expected_counts_at_p_one_half() -> None:
    curve = deferral_curve(toy(), y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=0.5, human=human(0.5, 0.4, 0.6),
                           shares=[0, 0.25, 0.5])
    acc = rows(curve.table, "accuracy", "all")
    # k=1 defers row 1 (tie broken by position): tp 1, fp .5, fn 1, tn 1.5.
    # k=2 also defers row 2: tp 1.5, fp .5, fn .5, tn 1.5.
    assert acc["k"].tolist() == [0, 1, 2]
    assert acc["value"].tolist() == pytest.approx([0.5, 0.625, 0.75])
    assert acc["value_low"].iloc[2] == pytest.approx((2 + 2 * 0.4) / 4)
    assert acc["value_high"].iloc[2] == pytest.approx((2 + 2 * 0.6) / 4)
    sel_a = rows(curve.table, "selection_rate", "g=a")
    sel_b = rows(curve.table, "selection_rate", "g=b")
    assert sel_a["value"].tolist() == pytest.approx([1.0, 0.75, 0.75])
    assert sel_b["value"].tolist() == pytest.approx([0.0, 0.0, 0.25])
    # Equal sizes: the reference is the first group in sorted order, "g=a".
    assert set(sel_b["reference"]) == {"g=a"}
    assert sel_b["difference"].tolist() == pytest.approx([-1.0, -0.75, -0.5])
    assert sel_b["ratio"].tolist() == pytest.approx([0.0, 0.0, 1 / 3])
    assert sel_a[["difference", "ratio"]].isna().all().all()
    assert acc[["difference", "ratio", "reference"]].isna().all().all()


def test_ties_are_broken_by_position() -> None:
    swapped = toy().iloc[[0, 2, 1, 3]].reset_index(drop=True)  # the fn now comes first
    curve = deferral_curve(swapped, y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=0.5, human=human(1.0), shares=[0.25])
    # Deferring the false negative to a perfect person makes it a true positive.
    assert rows(curve.table, "true_positive_rate", "g=b")["value"].iloc[0] == 1.0
    assert rows(curve.table, "false_positive_rate", "g=a")["value"].iloc[0] == 1.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60))
def test_perfect_people_make_accuracy_nondecreasing(seed: int, n: int) -> None:
    df = random_frame(n, seed)
    shares = np.linspace(0, 1, 21).tolist()
    curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=0.5, human=human(1.0), shares=shares)
    acc = rows(curve.table, "accuracy", "all")["value"].to_numpy()
    assert (np.diff(acc) >= -1e-12).all()
    assert acc[-1] == pytest.approx(1.0)


def loop_oracle(df: pd.DataFrame, feature: str, t: float, p: float, k: int,
                metric: str) -> dict[str, float]:
    """Expected counts by walking the deferred rows one by one."""
    order = sorted(range(len(df)), key=lambda i: (abs(df["s"].iloc[i] - t), i))
    deferred = set(order[:k])
    cells: dict[str, list[float]] = {}
    for i in range(len(df)):
        y, group = int(df["y"].iloc[i]), str(df[feature].iloc[i])
        c = cells.setdefault(group, [0.0] * 4)
        if i in deferred:
            right, wrong = (0, 2) if y == 1 else (3, 1)
            c[right] += p
            c[wrong] += 1 - p
        else:
            d = int(df["s"].iloc[i] >= t)
            c[{(1, 1): 0, (0, 1): 1, (1, 0): 2, (0, 0): 3}[(y, d)]] += 1
    return {g: float(confusion_metrics(np.array(c), metrics=[metric])[metric])
            for g, c in cells.items()}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40),
       p=st.floats(0, 1), t=st.sampled_from([0.3, 0.5, 0.62]))
def test_matches_a_row_by_row_loop(seed: int, n: int, p: float, t: float) -> None:
    df = random_frame(n, seed)
    shares = [0.0, 0.1, 0.35, 0.5, 1.0]
    curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=t, human=human(p), shares=shares, metrics=METRICS)
    for share in shares:
        k = round(share * n)
        for metric in METRICS:
            want = loop_oracle(df, "g", t, p, k, metric)
            got = curve.table[(curve.table["k"] == k) & (curve.table["quantity"] == metric)]
            for group, value in zip(got["group"], got["value"], strict=True):
                expected = want[group.removeprefix("g=")]
                assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(
                    expected, abs=1e-9)


def test_band_holds_the_value_and_follows_p() -> None:
    df = random_frame(400, seed=3)
    curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=0.5, human=human(0.85, 0.7, 0.95))
    t = curve.table
    for q in ("value", "difference", "ratio"):
        ok = t[q].notna()
        assert (t.loc[ok, f"{q}_low"] <= t.loc[ok, q] + 1e-12).all()
        assert (t.loc[ok, q] <= t.loc[ok, f"{q}_high"] + 1e-12).all()
    at_low = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                            threshold=0.5, human=human(0.7)).table
    acc, acc_low = rows(t, "accuracy", "all"), rows(at_low, "accuracy", "all")
    np.testing.assert_allclose(acc["value_low"], acc_low["value"])


def test_table_shape_defaults_and_reference_mapping() -> None:
    df = random_frame(200, seed=4)
    curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=0.5, human=human(0.9), reference={"g": "z"})
    t = curve.table
    assert len(DEFAULT_SHARES) == 26 and DEFAULT_SHARES[-1] == 0.5
    assert len(t) == 26 * (1 + 3 * 3)
    assert list(t.columns) == [
        "k", "share_deferred", "quantity", "group", "reference", "value", "value_low",
        "value_high", "difference", "difference_low", "difference_high", "ratio",
        "ratio_low", "ratio_high"]
    assert set(t.loc[t["group"] != "all", "reference"]) == {"g=z"}
    assert t["k"].max() == 100 and t["share_deferred"].max() == 0.5
    default = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                             threshold=0.5, human=human(0.9)).table
    assert set(default.loc[default["group"] != "all", "reference"]) == {"g=x"}  # largest


def test_pos_label_missing_groups_and_scores_outside_unit_interval() -> None:
    df = pd.DataFrame({"y": ["bad", "good", "good", "bad"], "s": [-2.0, 3.0, -1.0, 0.5],
                       "g": ["a", None, "a", None]})
    curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
                           threshold=0.0, human=human(1.0), shares=[0.0],
                           pos_label="good", metrics=["true_positive_rate"])
    t = curve.table.set_index("group")["value"]
    assert t["g=a"] == 0.0 and t["g=<missing>"] == 1.0
    assert t["all"] == 0.5


def test_human_accuracy_assumed_until_enough_reviews() -> None:
    none = human_accuracy()
    assert (none.value, none.ci_low, none.ci_high, none.source) == (0.9, 0.8, 0.98, "assumed")
    few = human_accuracy(pd.DataFrame({"label": [1, 0], "y_true": [1, 1]}), min_reviews=3)
    assert few.source == "assumed" and few.n_reviews == 2
    assert few.statement == ("Human accuracy assumed 0.90, range 0.80 to 0.98 "
                             "(only 2 reviewed cases; 3 needed to estimate it).")


def test_human_accuracy_estimated_with_wilson() -> None:
    # 81 of 263: the textbook Wilson 95% interval is [0.2553, 0.3662].
    reviewed = pd.DataFrame({"h": [1] * 263, "t": [1] * 81 + [0] * 182})
    reviewed.loc[0, "h"] = None  # an unanswered review does not count
    reviewed.loc[len(reviewed)] = [1.0, 1]
    est = human_accuracy(reviewed, label="h", y_true="t")
    assert est.source == "estimated" and est.n_reviews == 263
    assert est.value == pytest.approx(81 / 263)
    assert (round(est.ci_low, 4), round(est.ci_high, 4)) == (0.2553, 0.3662)
    assert est.statement == ("Human accuracy 0.31 [0.26, 0.37], estimated from "
                             "263 reviewed cases.")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"assumed": 1.2}, r"assumed must lie in \[0, 1\], got 1.2"),
    ({"assumed_range": (0.8, 1.5)}, r"assumed_range\[1\] must lie in \[0, 1\]"),
    ({"assumed_range": (0.95, 0.99)}, "ci_low <= value <= ci_high"),
    ({"min_reviews": 0}, "min_reviews must be a positive integer"),
    ({"reviewed": pd.DataFrame({"label": [1]})}, r"column 'y_true' \(reviewed cases\)"),
    ({"reviewed": pd.DataFrame({"label": [1] * 40, "y_true": 1}), "level": 1.0},
     "level must lie strictly between 0 and 1"),
])
def test_human_accuracy_refuses_bad_inputs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        human_accuracy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "message"), [
    ((1.5, 0.9, 1.0), r"value must lie in \[0, 1\], got 1.5"),
    ((0.9, -0.1, 0.95), r"ci_low must lie in \[0, 1\]"),
    ((0.9, 0.8, 1.01), r"ci_high must lie in \[0, 1\]"),
    ((0.9, 0.92, 0.95), "ci_low <= value <= ci_high"),
])
def test_human_accuracy_outside_unit_interval_is_refused(args: tuple[float, float, float],
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HumanAccuracy(*args, 0, "assumed", "x")
    with pytest.raises(ValueError, match="source must be 'assumed' or 'estimated'"):
        HumanAccuracy(0.9, 0.8, 0.95, 0, "guessed", "x")


@pytest.mark.parametrize(("change", "message"), [
    ({"y_true": "outcome"}, r"column 'outcome' \(y_true\) is not in the data"),
    ({"y_score": "p"}, r"column 'p' \(score\) is not in the data"),
    ({"sensitive_features": ["race"]}, r"column 'race' \(sensitive feature\)"),
    ({"shares": [0.1, 1.5]}, r"shares must be numbers in \[0, 1\]; got 1.5"),
    ({"shares": [-0.1]}, r"shares must be numbers in \[0, 1\]; got -0.1"),
    ({"shares": []}, "shares must hold at least one share"),
    ({"threshold": float("nan")}, "threshold must be a finite number"),
    ({"metrics": ["roc_auc"]}, "metric 'roc_auc' is not a confusion metric"),
    ({"reference": {"h": "u"}}, "reference names 'h', which is not a sensitive feature"),
    ({"reference": {"g": "q"}}, "reference value 'q' of 'g' is not in the data"),
])
def test_deferral_curve_refuses_bad_inputs(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"y_true": "y", "y_score": "s", "sensitive_features": ["g"],
                               "threshold": 0.5, "human": human(0.9), **change}
    with pytest.raises(ValueError, match=message):
        deferral_curve(toy(), **args)  # type: ignore[arg-type]


def test_empty_frame_missing_and_non_numeric_scores_are_refused() -> None:
    args: dict[str, object] = {"y_true": "y", "y_score": "s", "sensitive_features": ["g"],
                               "threshold": 0.5, "human": human(0.9)}
    with pytest.raises(ValueError, match="the data has no rows"):
        deferral_curve(toy().iloc[:0], **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"column 's' \(score\) has 1 missing value"):
        deferral_curve(toy().assign(s=[0.1, None, 0.2, 0.3]), **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"column 's' \(score\) must be numeric"):
        deferral_curve(toy().assign(s=list("abcd")), **args)  # type: ignore[arg-type]
