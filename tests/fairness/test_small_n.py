"""Small samples: calibration verdicts, Wilson floors, AUC intervals, detectable differences.

Each statistical claim is checked by simulation against the truth that generated the
data; the fast cells run by default, the full grids under ``-m slow``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from audits.fairness.audit import audit_counts, audit_fairness
from audits.fairness.counts import GroupCounts, count_groups
from audits.fairness.disparities import compare
from audits.fairness.intervals import (
    MIN_EVENTS,
    few_events,
    newcombe_difference,
    percentile_interval,
    resample_histogram,
    wilson_interval,
)
from audits.fairness.scores import (
    calibration_bins,
    calibration_error_squared,
    expected_calibration_error,
)
from audits.fairness.significance import min_detectable_difference, two_proportion_test
from audits.fairness.verdicts import FAIL, judge, ratio_rule

SCORES = {
    "uniform": lambda rng, n: rng.random(n),
    "beta(2,5)": lambda rng, n: rng.beta(2.0, 5.0, n),
    "beta(0.5,0.5)": lambda rng, n: rng.beta(0.5, 0.5, n),
    "rare beta(1,12)": lambda rng, n: rng.beta(1.0, 12.0, n),
}


def calibrated(rng: np.random.Generator, n_a: int, n_b: int, dist: str,
               shift: float = 0.0) -> GroupCounts:
    """Groups a and b; labels drawn with the true probability; b's scores shifted."""
    parts = []
    for name, n, move in (("a", n_a, 0.0), ("b", n_b, shift)):
        p = SCORES[dist](rng, n)
        y = (rng.random(n) < p).astype(int)
        score = np.clip(p + move, 0.0, 1.0)
        parts.append(pd.DataFrame({"g": name, "y": y, "score": score,
                                   "p": (score >= 0.5).astype(int)}))
    return count_groups(pd.concat(parts, ignore_index=True), y_true="y", y_pred="p",
                        sensitive_features="g", y_score="score")


def calibration_verdict(counts: GroupCounts, seed: int, n_boot: int = 200) -> str:
    audit = audit_counts(counts, metrics=["expected_calibration_error"], n_boot=n_boot,
                         random_state=seed)
    return str(audit.verdicts["verdict"].iloc[0])


def plug_in_verdict(counts: GroupCounts, seed: int, n_boot: int = 200) -> str:
    """The former method: plug-in l1 binned error, percentile interval of the ratio."""
    hist = counts.scores
    assert hist is not None
    bins = calibration_bins(hist)
    means = np.where(hist.counts > 0, hist.sums / np.maximum(hist.counts, 1), 0.0)
    rng = np.random.default_rng(seed)
    reps = np.column_stack([
        expected_calibration_error(d, d * means[g], bins, debiased=False)
        for g, d in ((g, resample_histogram(hist.counts[g], n_boot=n_boot, random_state=rng))
                     for g in range(2))])
    _, ratio = compare(reps, np.array([0, 0]))
    low, high = percentile_interval(ratio[:, [1]])
    return str(judge(low, high, ratio_rule(0.8))[0])


def null_fail_limit(n_sims: int, rate: float = 0.05) -> int:
    """Most fails out of ``n_sims`` consistent with a true rate of at most ``rate``."""
    return int(stats.binom.ppf(0.99, n_sims, rate))


# --- calibration -------------------------------------------------------------------


def test_debiased_calibration_error_matches_its_definition_and_is_unbiased() -> None:
    rng = np.random.default_rng(1)
    n, reps = 60, 4000
    p = rng.random(n)
    counts_s, sums_s = [], []
    for _ in range(reps):
        y = rng.random(n) < p
        fine = np.minimum((p * 10).astype(int), 9)
        c, s = np.zeros((2, 10)), np.zeros((2, 10))
        np.add.at(c, (y.astype(int), fine), 1)
        np.add.at(s, (y.astype(int), fine), p)
        counts_s.append(c)
        sums_s.append(s)
    c, s = np.stack(counts_s), np.stack(sums_s)
    bins = np.arange(10)
    sq = calibration_error_squared(c, s, bins)
    plug = expected_calibration_error(c, s, bins, debiased=False)
    # Calibrated labels: the true squared binned error is 0 up to the spread of the
    # scores within a bin (Poisson-binomial), so the mean is 0 within its standard error.
    assert abs(sq.mean()) < 4 * sq.std() / np.sqrt(reps)
    assert plug.mean() > 0.1  # the plug-in error of 60 calibrated rows is far from 0


def test_perfectly_calibrated_groups_rarely_fail_and_the_plug_in_did() -> None:
    rng = np.random.default_rng(2)
    n_sims = 30
    now, before = [], []
    for i in range(n_sims):
        counts = calibrated(rng, 1_000, 100, "uniform")
        now.append(calibration_verdict(counts, i, n_boot=150))
        before.append(plug_in_verdict(counts, i, n_boot=150))
    assert sum(v == FAIL for v in now) <= null_fail_limit(n_sims)
    assert sum(v == FAIL for v in before) >= n_sims // 2  # the bug this replaces


def test_a_shifted_group_of_a_thousand_fails_calibration() -> None:
    rng = np.random.default_rng(3)
    verdicts = [calibration_verdict(calibrated(rng, 12_000, 1_000, "beta(2,5)", 0.1), i)
                for i in range(8)]
    assert sum(v == FAIL for v in verdicts) >= 7


def test_too_few_positives_gives_no_calibration_verdict() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"g": ["a"] * 2000 + ["b"] * 200,
                       "score": np.r_[rng.random(2000), np.full(200, 0.01)]})
    df["y"] = (rng.random(len(df)) < df["score"]).astype(int)
    df.loc[df.index[-200:], "y"] = [1] * 3 + [0] * 197  # 3 positives: too few
    df["p"] = (df["score"] > 0.5).astype(int)
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g",
                           y_score="score", metrics=["expected_calibration_error"],
                           n_boot=100)
    row = audit.verdicts.iloc[0]
    assert row["verdict"] == "insufficient_evidence"
    assert row["reason"] == "group or reference too small or metric undefined"


@pytest.mark.slow
@pytest.mark.parametrize("dist", list(SCORES))
@pytest.mark.parametrize(("n_a", "n_b"), [(12_000, 150), (1_000, 100), (200, 200)])
def test_calibration_null_false_fail_rate_full_grid(n_a: int, n_b: int, dist: str) -> None:
    rng = np.random.default_rng([n_a, n_b, len(dist)])
    n_sims = 200
    fails = sum(calibration_verdict(calibrated(rng, n_a, n_b, dist), i, 300) == FAIL
                for i in range(n_sims))
    assert fails <= null_fail_limit(n_sims)


@pytest.mark.slow
@pytest.mark.parametrize("dist", ["uniform", "beta(2,5)", "beta(0.5,0.5)"])
def test_calibration_power_at_a_thousand_rows(dist: str) -> None:
    rng = np.random.default_rng([7, len(dist)])
    n_sims = 60
    fails = sum(calibration_verdict(calibrated(rng, 12_000, 1_000, dist, 0.1), i, 300) == FAIL
                for i in range(n_sims))
    assert fails >= 0.9 * n_sims


# --- proportions: the Wilson floor ----------------------------------------------------


def two_rates(x_a: int, n_a: int, x_b: int, n_b: int) -> GroupCounts:
    """Group a selects x_a of n_a, b x_b of n_b; outcomes alternate."""
    parts = []
    for name, x, n in (("a", x_a, n_a), ("b", x_b, n_b)):
        parts.append(pd.DataFrame({"g": name, "p": (np.arange(n) < x).astype(int),
                                   "y": np.arange(n) % 2}))
    return count_groups(pd.concat(parts, ignore_index=True), y_true="y", y_pred="p",
                        sensitive_features="g")


def selection(audit: object, group: str) -> pd.Series:
    m = audit.metrics  # type: ignore[attr-defined]
    return m[(m["metric"] == "selection_rate") & (m["group_label"] == group)].iloc[0]


def test_few_events_intervals_are_never_narrower_than_wilson() -> None:
    for x in (1, 3, 9, 296):  # few events, or few non-events
        audit = audit_counts(two_rates(400, 5_000, x, 300), metrics=["selection_rate"],
                             n_boot=300)
        row = selection(audit, "b")
        assert row["ci_low"] <= row["wilson_low"] + 1e-12
        assert row["ci_high"] >= row["wilson_high"] - 1e-12
        assert row["ci_high"] - row["ci_low"] > 0
        d = audit.disparities.iloc[0]
        lo, hi = wilson_interval(np.array([x, 400]), np.array([300, 5_000]))
        n_lo, n_hi = newcombe_difference(x / 300, lo[0], hi[0], 0.08, lo[1], hi[1])
        assert d["difference_ci_low"] <= n_lo + 1e-12 and d["difference_ci_high"] >= n_hi - 1e-12
    assert few_events(np.array([MIN_EVENTS - 1, MIN_EVENTS]), np.array([300, 300])).tolist() == [
        True, False]


#: Simulated samples audited together, each a group of its own beside the reference.
SAMPLES_PER_AUDIT = 50


def proportion_coverage(n: int, p: float, n_sims: int, n_boot: int, seed: int) -> float:
    """Coverage of the audit's own interval of a selection rate of n rows at rate p.

    Each simulated sample is a group of its own (x of n selected), audited beside group
    a (500 of 5,000), :data:`SAMPLES_PER_AUDIT` samples to an audit. A group's interval
    comes from its own counts alone (each group is resampled on its own; the Wilson hull
    below ``MIN_EVENTS`` reads its own counts), so this measures what one audit per
    sample would, at a twentieth of the cost.
    """
    rng = np.random.default_rng(seed)
    xs = rng.binomial(n, p, size=n_sims)
    hits = 0
    for start in range(0, n_sims, SAMPLES_PER_AUDIT):
        batch = {f"b{i:04d}": (int(x), n)
                 for i, x in enumerate(xs[start:start + SAMPLES_PER_AUDIT], start)}
        audit = audit_counts(selection_rates({"a": (500, 5_000), **batch}),
                             metrics=["selection_rate"], n_boot=n_boot, random_state=start)
        m = audit.metrics
        rows = m[(m["metric"] == "selection_rate") & m["group_label"].isin(batch)]
        assert len(rows) == len(batch)
        hits += int(((rows["ci_low"] <= p) & (p <= rows["ci_high"])).sum())
    return hits / n_sims


def selection_rates(groups: dict[str, tuple[int, int]]) -> GroupCounts:
    """Each group (name: (x, n)) selects x of its n rows; outcomes alternate."""
    parts = [pd.DataFrame({"g": name, "p": (np.arange(n) < x).astype(int),
                           "y": np.arange(n) % 2}) for name, (x, n) in groups.items()]
    return count_groups(pd.concat(parts, ignore_index=True), y_true="y", y_pred="p",
                        sensitive_features="g")


def test_proportion_coverage_with_few_events_fast_cell() -> None:
    n_sims = 100
    cover = proportion_coverage(300, 0.0125, n_sims, 100, seed=5)
    assert cover >= 0.93  # the percentile bootstrap alone covered about 0.89 here


@pytest.mark.slow
@pytest.mark.parametrize(("n", "p"), [(300, 0.0125), (300, 0.02), (100, 0.05), (50, 0.1)])
def test_proportion_coverage_with_few_events(n: int, p: float) -> None:
    assert proportion_coverage(n, p, 1_000, 500, seed=n) >= 0.94


# --- AUC at small n ----------------------------------------------------------------------


def test_auc_interval_of_a_perfectly_separating_group_of_13_is_not_a_point() -> None:
    rng = np.random.default_rng(6)
    big = pd.DataFrame({"g": "a", "y": rng.integers(0, 2, 2_000)})
    big["score"] = np.clip(0.5 + 0.2 * (big["y"] - 0.5) + rng.normal(0, 0.2, 2_000), 0, 1)
    small = pd.DataFrame({"g": "b", "y": [0] * 7 + [1] * 6,
                          "score": np.r_[np.linspace(0.1, 0.3, 7), np.linspace(0.7, 0.9, 6)]})
    df = pd.concat([big, small], ignore_index=True)
    df["p"] = (df["score"] >= 0.5).astype(int)
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g",
                           y_score="score", metrics=["roc_auc"], n_boot=300, min_n=10,
                           min_cell_count=5)
    m = audit.metrics.set_index("group_label")
    assert m.loc["b", "value"] == 1.0
    wilson_low = wilson_interval(np.array([6]), np.array([6]))[0][0]  # min(6, 7) trials
    assert m.loc["b", "ci_low"] <= wilson_low + 1e-12 < 1.0
    d = audit.disparities.iloc[0]
    assert d["difference_ci_high"] - d["difference_ci_low"] > 0.3
    for column in ("difference_adjusted", "ratio_adjusted"):
        if f"{column}_ci_low" in d and np.isfinite(d[f"{column}_ci_low"]):
            assert d[f"{column}_ci_high"] - d[f"{column}_ci_low"] > 0.3


def test_auc_interval_coverage_at_6_positives_and_7_negatives() -> None:
    rng = np.random.default_rng(8)
    auc, shift = 0.9, np.sqrt(2.0) * stats.norm.ppf(0.9)
    hits, n_sims = 0, 200
    from audits.fairness.scores import auc_interval_floor, roc_auc
    for _ in range(n_sims):
        label = np.r_[np.zeros(7), np.ones(6)][np.argsort(np.r_[rng.normal(0, 1, 7),
                                                                 rng.normal(shift, 1, 6)])]
        hist = np.stack([(label == 0).astype(int), (label == 1).astype(int)])
        value = roc_auc(hist)
        lo, hi = percentile_interval(roc_auc(resample_histogram(
            hist, n_boot=200, random_state=rng))[:, None])
        lo, hi, _ = auc_interval_floor(np.array([value]), lo, hi, np.array([6]), np.array([7]))
        hits += lo[0] <= auc <= hi[0]
    assert hits / n_sims >= 0.93  # the bootstrap alone: about 0.84, a point in 16%


# --- minimum detectable difference -------------------------------------------------------


@given(n1=st.integers(1, 5_000), n2=st.integers(1, 5_000), p0=st.floats(0.0, 1.0))
def test_detectable_difference_never_exceeds_what_a_proportion_allows(
        n1: int, n2: int, p0: float) -> None:
    mdd = float(min_detectable_difference(np.array(n1), np.array(n2), np.array(p0)))
    if not np.isnan(mdd):
        assert 0.0 < mdd <= max(p0, 1.0 - p0) + 1e-9


def test_detectable_difference_is_none_when_nothing_is_detectable() -> None:
    assert np.isnan(min_detectable_difference(np.array(5), np.array(5), np.array(0.5)))
    audit = audit_counts(two_rates(3, 6, 1, 6), metrics=["selection_rate"], n_boot=50,
                         min_n=0, min_cell_count=0)
    payload = audit.to_dict()
    assert [d["min_detectable_difference"] for d in payload["disparities"]] == [None]


def test_detectable_difference_at_small_counts_has_its_power() -> None:
    # 60 vs 60 at p0 = 0.05: little room below, so the detectable move is upward.
    mdd = float(min_detectable_difference(np.array(60), np.array(60), np.array(0.05)))
    assert 0.05 < mdd < 0.95
    rng = np.random.default_rng(9)
    x1, x2 = rng.binomial(60, 0.05 + mdd, 4_000), rng.binomial(60, 0.05, 4_000)
    p, _ = two_proportion_test(x1, np.full(4_000, 60), x2, np.full(4_000, 60))
    assert np.mean(p < 0.05) >= 0.75  # z or Fisher, whichever the audit uses
