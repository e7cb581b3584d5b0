"""Intervals, tests and power: coverage by simulation, and oracles for each formula."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audits.fairness.audit import audit_fairness
from audits.fairness.intervals import (
    MSG_LEVEL,
    bootstrap_counts,
    percentile_interval,
    resample_histogram,
    wilson_interval,
)
from audits.fairness.metrics import confusion_metrics
from audits.fairness.significance import (
    benjamini_hochberg,
    min_detectable_difference,
    two_proportion_test,
)


def test_selection_rate_interval_covers_the_truth_95_percent_of_the_time() -> None:
    # 2,000 independent samples of 200 decisions, audited as groups, 50 groups per audit.
    # A group's intervals come from its own counts alone (each group is resampled on its
    # own), so splitting the groups over audits changes no interval's distribution; one
    # audit of all 2,000 groups took 60 s, nearly all of it in the audit's summary of the
    # spread over every pair of groups (2 million pairs), which this test does not read.
    rng = np.random.default_rng(2024)
    samples, n, truth, per_audit = 2_000, 200, 0.3, 50
    df = pd.DataFrame({"sample": np.repeat(np.arange(samples), n),
                       "y": rng.integers(0, 2, samples * n),
                       "p": (rng.random(samples * n) < truth).astype(int)})
    m = pd.concat([
        audit_fairness(batch, y_true="y", y_pred="p", sensitive_features="sample",
                       metrics=["selection_rate"], n_boot=400, random_state=int(seed),
                       rules=[]).metrics
        for seed, batch in df.groupby(df["sample"] // per_audit)])
    assert len(m) == samples
    assert m["group_label"].nunique() == samples
    coverage = np.mean((m["ci_low"] <= truth) & (truth <= m["ci_high"]))
    assert 0.93 <= coverage <= 0.97, coverage
    wilson = np.mean((m["wilson_low"] <= truth) & (truth <= m["wilson_high"]))
    assert 0.93 <= wilson <= 0.97, wilson


@pytest.mark.parametrize("metric", ["selection_rate", "true_positive_rate"])
def test_difference_interval_covers_the_true_difference_95_percent_of_the_time(
    metric: str,
) -> None:
    # The audit's own machinery (multinomial bootstrap of the cells, the metric formula,
    # percentile intervals), vectorised over 2,000 simulated pairs of groups.
    rng = np.random.default_rng(7)
    samples = 2_000
    cells_a = np.array([0.20, 0.10, 0.15, 0.55])  # tp, fp, fn, tn shares
    cells_b = np.array([0.30, 0.15, 0.10, 0.45])
    a = rng.multinomial(300, cells_a, size=samples)
    b = rng.multinomial(150, cells_b, size=samples)
    reps = bootstrap_counts(np.concatenate([a, b]), n_boot=400, random_state=3)
    values = confusion_metrics(reps, metrics=[metric])[metric]
    low, high = percentile_interval(values[:, samples:] - values[:, :samples])
    truth = (confusion_metrics(cells_b, metrics=[metric])[metric]
             - confusion_metrics(cells_a, metrics=[metric])[metric])
    coverage = np.mean((low <= truth) & (truth <= high))
    assert 0.93 <= coverage <= 0.97, coverage


def test_the_audit_uses_exactly_that_machinery_for_differences() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": np.repeat(["a", "b"], [300, 150]),
                       "y": rng.integers(0, 2, 450), "p": rng.integers(0, 2, 450)})
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g",
                           metrics=["selection_rate"], n_boot=500, random_state=11)
    stream = np.random.default_rng(np.random.SeedSequence(11).spawn(2)[0])
    reps = bootstrap_counts(audit.counts.cells, n_boot=500, random_state=stream)
    rate = confusion_metrics(reps, metrics=["selection_rate"])["selection_rate"]
    low, high = percentile_interval(rate[:, 1] - rate[:, 0])
    d = audit.disparities.iloc[0]
    assert (d["group_label"], d["reference_label"]) == ("b", "a")
    assert (d["difference_ci_low"], d["difference_ci_high"]) == (low, high)


def test_multinomial_bootstrap_has_the_row_resampling_distribution() -> None:
    rng = np.random.default_rng(1)
    rows = rng.choice(4, size=80, p=[0.1, 0.2, 0.3, 0.4])
    cells = np.bincount(rows, minlength=4)
    ours = bootstrap_counts(cells[None, :], n_boot=20_000, random_state=2)[:, 0, :]
    resampled = np.stack([np.bincount(rng.choice(rows, size=80), minlength=4)
                          for _ in range(4_000)])
    np.testing.assert_allclose(ours.mean(axis=0), cells, rtol=0.02)
    np.testing.assert_allclose(ours.var(axis=0), resampled.var(axis=0), rtol=0.1)
    assert (ours.sum(axis=1) == 80).all()


def test_bootstrap_is_seeded_chunk_free_and_order_invariant() -> None:
    cells = np.array([[5, 3, 2, 10], [40, 1, 7, 52], [0, 0, 1, 0]])
    first = bootstrap_counts(cells, n_boot=300, random_state=5)
    assert np.array_equal(first, bootstrap_counts(cells, n_boot=300, random_state=5))
    assert not np.array_equal(first, bootstrap_counts(cells, n_boot=300, random_state=6))
    perm = [2, 0, 1]
    assert np.array_equal(first[:, perm], bootstrap_counts(cells[perm], n_boot=300,
                                                           random_state=5))
    calls: list[float] = []
    big = bootstrap_counts(np.tile(cells, (400_000, 1))[:1_000_000 // 4], n_boot=20,
                           random_state=5, progress=lambda f, m: calls.append(f))
    assert calls[-1] == 1.0 and big.shape == (20, 250_000, 4)
    hist = resample_histogram(np.array([[3, 0], [0, 2]]), n_boot=50,
                              random_state=np.random.default_rng(0))
    assert (hist[:, 0, 1] == 0).all() and (hist.sum(axis=(1, 2)) == 5).all()


def test_percentile_interval_matches_numpy_and_needs_defined_replicates() -> None:
    x = np.random.default_rng(3).normal(size=(999, 3))
    x[:100, 1] = np.nan
    x[:600, 2] = np.nan
    low, high = percentile_interval(x, level=0.9)
    np.testing.assert_allclose([low[0], high[0]], np.quantile(x[:, 0], [0.05, 0.95]))
    np.testing.assert_allclose([low[1], high[1]], np.nanquantile(x[:, 1], [0.05, 0.95]))
    assert np.isnan(low[2]) and np.isnan(high[2])
    with pytest.raises(ValueError, match=MSG_LEVEL.split("{")[0]):
        percentile_interval(x, level=1.0)


def test_wilson_interval_against_statsmodels_or_newcombes_published_values() -> None:
    x, n = np.array([81, 0, 1, 15, 29]), np.array([263, 20, 29, 148, 29])
    low, high = wilson_interval(x, n)
    if importlib.util.find_spec("statsmodels"):
        from statsmodels.stats.proportion import proportion_confint

        ref = np.array([proportion_confint(a, b, method="wilson")
                        for a, b in zip(x, n, strict=True)])
        np.testing.assert_allclose(low, ref[:, 0], atol=1e-12)
        np.testing.assert_allclose(high, ref[:, 1], atol=1e-12)
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson).
    published = [(0.2553, 0.3662), (0.0, 0.1611), (0.0061, 0.1718)]
    for (lo, hi), a, b in zip(published, low[:3], high[:3], strict=True):
        assert (round(float(a), 4), round(float(b), 4)) == (lo, hi)
    assert np.isnan(wilson_interval(np.array([0]), np.array([0]))[0][0])


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(4).random(200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p),
                               stats.false_discovery_control(p, method="bh"), atol=1e-15)
    with_nan = p.copy()
    with_nan[::7] = np.nan
    ok = ~np.isnan(with_nan)
    adjusted = benjamini_hochberg(with_nan)
    assert np.isnan(adjusted[~ok]).all()
    np.testing.assert_allclose(adjusted[ok],
                               stats.false_discovery_control(with_nan[ok], method="bh"))


def test_two_proportion_test_uses_z_or_fisher_like_the_references() -> None:
    x1, n1 = np.array([30, 120, 2, 0]), np.array([100, 400, 12, 50])
    x2, n2 = np.array([45, 150, 8, 0]), np.array([110, 380, 14, 60])
    p, method = two_proportion_test(x1, n1, x2, n2)
    assert method.tolist() == ["z", "z", "fisher", "fisher"]
    for i in range(2):
        table = np.array([[x1[i], n1[i] - x1[i]], [x2[i], n2[i] - x2[i]]])
        chi2 = stats.chi2_contingency(table, correction=False)
        assert p[i] == pytest.approx(chi2.pvalue, rel=1e-9)  # pooled z^2 is Pearson chi2
    assert p[2] == pytest.approx(stats.fisher_exact([[2, 10], [8, 6]]).pvalue)
    assert p[3] == 1.0
    none, how = two_proportion_test(np.array([0]), np.array([0]), np.array([1]),
                                    np.array([5]))
    assert np.isnan(none[0]) and how[0] == ""


def test_minimum_detectable_difference_has_80_percent_power() -> None:
    n1, n2, p0 = 400.0, 900.0, 0.3
    mdd = float(min_detectable_difference(np.array(n1), np.array(n2), np.array(p0)))
    rng = np.random.default_rng(0)
    power = []
    for p1 in (p0 + mdd, p0 - mdd):  # detected whichever way the difference goes
        x1, x2 = rng.binomial(int(n1), p1, 20_000), rng.binomial(int(n2), p0, 20_000)
        p, _ = two_proportion_test(x1, np.full(20_000, n1), x2, np.full(20_000, n2))
        power.append(float(np.mean(p < 0.05)))
    assert 0.77 <= min(power) <= 0.83  # the harder direction has 80% power
