"""Simulation study: small-sample intervals of the panel statistics hold their level.

What it measures (fixed seeds; every rate is asserted against nominal with its
Monte-Carlo margin, ``2.5 * sqrt(p (1 - p) / R)``):

- automation bias (:mod:`audits.raters.automation`): coverage of the reviewer-jackknife
  ``t`` interval of the effect and of the copy rate with 4, 6, 10 and 20 reviewers whose
  copy rates and baseline agreement differ (R = 1,000 panels each); coverage of one
  reviewer's Newcombe / Katz intervals (R = 1,000); size of the heterogeneity test with
  6 and 10 reviewers and 2 or 3 subject groups (R = 1,000);
- Krippendorff's alpha (:mod:`audits.raters.agreement`): coverage of the jackknife-z
  interval at 20, 50 and 200 cases for nominal, ordinal and interval (0-100) ratings,
  2-4 ratings per case from 6 reviewers (R = 400 tables each).

The panels are drawn directly as per-reviewer sums (agree shown, n shown, agree hidden,
n hidden) and passed to the kernels the public functions use (a fast test in
tests/raters/test_automation.py checks those functions against a by-hand recomputation).
About 60 s on one core. The tables of docs/statistics.md come from this file with larger R.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits.raters import automation as auto
from audits.raters.agreement import estimate_statistics
from audits.raters.agreement_stats import (
    bootstrap_weights,
    compress,
    encode_ratings,
    evaluate,
    percentile_interval,
    prepare,
)

pytestmark = pytest.mark.slow

NOMINAL = 0.95


def _margin(r: int, p: float = NOMINAL) -> float:
    return 2.5 * float(np.sqrt(p * (1 - p) / r))


# ---------------------------------------------------------------- automation bias
# Reviewer j: baseline agreement a_j = 0.8 acc_j + 0.2 (1 - acc_j), acc_j ~ U(0.65, 0.95);
# copy rate c_j ~ U(0, 0.6); 20-80 ratings, each shown with probability 1/2. Population
# effect E[c] E[1 - a] = 0.3 * 0.32, copy rate E[c] = 0.3 (c, a and sizes independent).
TRUE_EFFECT, TRUE_COPY = 0.3 * 0.32, 0.3


def _panel(n_reviewers: int, rng: np.random.Generator, n_groups: int = 1) -> np.ndarray:
    acc = rng.uniform(0.65, 0.95, n_reviewers)
    a = 0.8 * acc + 0.2 * (1 - acc)
    c = rng.uniform(0.0, 0.6, n_reviewers)
    m = rng.integers(20, 81, n_reviewers) * n_groups
    per_group = rng.multinomial(m, np.full(n_groups, 1.0 / n_groups))  # (G, k)
    n_shown = rng.binomial(per_group, 0.5)
    n_hidden = per_group - n_shown
    agree_shown = rng.binomial(n_shown, (a + c * (1 - a))[:, None])
    agree_hidden = rng.binomial(n_hidden, a[:, None])
    return np.stack([agree_shown, n_shown, agree_hidden, n_hidden], axis=-1).astype(float)


@pytest.mark.parametrize("n_reviewers", [4, 6, 10, 20])
def test_reviewer_jackknife_covers_with_few_reviewers(n_reviewers: int) -> None:
    r = 1000
    rng = np.random.default_rng(100 + n_reviewers)
    opts = auto._Options("jackknife", 0, 0.95, 0)
    hits = np.zeros(2)
    for _ in range(r):
        est = auto._clustered(_panel(n_reviewers, rng)[:, 0, :], opts)
        hits += [est.ci_low <= TRUE_EFFECT <= est.ci_high,
                 est.copy_rate_ci_low <= TRUE_COPY <= est.copy_rate_ci_high]
    coverage = hits / r
    assert (coverage >= NOMINAL - _margin(r)).all(), coverage


@pytest.mark.parametrize(("n", "agree_hidden", "copy"), [(10, 0.68, 0.3), (20, 0.9, 0.5),
                                                          (40, 0.6, 0.8)])
def test_one_reviewer_intervals_cover(n: int, agree_hidden: float, copy: float) -> None:
    r = 1000
    rng = np.random.default_rng(n)
    shown = rng.binomial(n, agree_hidden + copy * (1 - agree_hidden), r)
    hidden = rng.binomial(n, agree_hidden, r)
    opts = auto._Options("jackknife", 0, 0.95, 0)
    effect_hits = copy_hits = copy_defined = 0
    for s, h in zip(shown, hidden, strict=True):
        est = auto._within(np.array([s, n, h, n], dtype=float), opts)
        effect_hits += est.ci_low <= copy * (1 - agree_hidden) <= est.ci_high
        if np.isfinite(est.copy_rate_ci_low):
            copy_defined += 1
            copy_hits += est.copy_rate_ci_low <= copy <= est.copy_rate_ci_high
    assert effect_hits / r >= NOMINAL - _margin(r)
    assert copy_hits / copy_defined >= NOMINAL - _margin(copy_defined)


@pytest.mark.parametrize(("n_reviewers", "n_groups"), [(6, 2), (10, 2), (6, 3), (10, 3)])
def test_heterogeneity_test_holds_its_size(n_reviewers: int, n_groups: int) -> None:
    r = 1000
    rng = np.random.default_rng(10 * n_reviewers + n_groups)
    rejected = sum(auto._heterogeneity(_panel(n_reviewers, rng, n_groups), "jackknife", 0,
                                       0).p_value < 0.05 for _ in range(r))
    assert rejected / r <= 0.05 + _margin(r, 0.05)


# ---------------------------------------------------------------- Krippendorff's alpha


def _table(level: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    m = rng.choice([2, 3, 4], size=n, p=[0.3, 0.5, 0.2])
    case = np.repeat(np.arange(n), m)
    order = np.argsort(rng.random((n, 6)), axis=1)
    rater = np.concatenate([order[i, :k] for i, k in enumerate(m)])
    if level == "interval_skewed":  # reported, not asserted: truths gamma(2, 12) on 0-100
        truth = rng.gamma(2.0, 12.0, n)
        label = np.clip(np.round(truth[case] + rng.normal(0, 10, len(case))), 0, 100)
    elif level == "interval":
        truth = rng.uniform(0, 100, n)
        label = np.clip(np.round(truth[case] + rng.normal(0, 15, len(case))), 0, 100)
    elif level == "ordinal":
        truth = rng.normal(0, 1, n)
        label = np.digitize(truth[case] + rng.normal(0, 0.6, len(case)),
                            [-1.2, -0.4, 0.4, 1.2]) + 1.0
    else:
        truth = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
        label = np.where(rng.random(len(case)) < 0.7, truth[case],
                         rng.choice(3, size=len(case))).astype(float)
    return pd.DataFrame({"case_id": case, "reviewer_id": rater, "label": label})


def _alpha(ratings: pd.DataFrame, level: str) -> tuple[float, float, float]:
    level = level.removesuffix("_skewed")
    enc = encode_ratings(ratings, item="case_id", rater="reviewer_id", label="label",
                         level=level)
    est = estimate_statistics(enc, level, ("krippendorff_alpha",), n_boot=1, level_ci=0.95,
                              random_state=0)["krippendorff_alpha"]
    return est.value, est.ci_low, est.ci_high


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_interval_covers_at_20_50_and_200_cases(level: str) -> None:
    seed = {"nominal": 3, "ordinal": 2, "interval": 4}[level]
    true = _alpha(_table(level, 100_000, np.random.default_rng(seed)), level)[0]
    r = 400
    for n in (20, 50, 200):
        rng = np.random.default_rng(seed * 1000 + n)
        hits = 0
        for _ in range(r):
            _, low, high = _alpha(_table(level, n, rng), level)
            hits += low <= true <= high
        assert hits / r >= NOMINAL - _margin(r), (level, n, hits / r)


# ---------------------------------------------------------------- the tables


def _row(label: str, hits: float, r: int) -> str:
    p = hits / r
    return f"| {label} | {r} | {p:.3f} | {np.sqrt(p * (1 - p) / r):.3f} |"


def _print_tables(r: int = 2000) -> None:  # pragma: no cover - run by hand
    """Print the tables: ``python tests/raters/test_small_sample_simulation.py``."""
    jack = auto._Options("jackknife", 0, 0.95, 0)
    print("| automation bias: interval, reviewers | R | coverage | MC s.e. |\n|---|---|---|---|")
    for g in (4, 6, 10, 20):
        rng = np.random.default_rng(100 + g)
        hits = np.zeros(4)
        for i in range(r):
            sums = _panel(g, rng)[:, 0, :]
            j = auto._clustered(sums, jack)
            b = auto._clustered(sums, auto._Options("bootstrap", 1000, 0.95, i))
            hits += [j.ci_low <= TRUE_EFFECT <= j.ci_high,
                     j.copy_rate_ci_low <= TRUE_COPY <= j.copy_rate_ci_high,
                     b.ci_low <= TRUE_EFFECT <= b.ci_high,
                     b.copy_rate_ci_low <= TRUE_COPY <= b.copy_rate_ci_high]
        for k, name in enumerate(("effect, jackknife-t", "copy rate, jackknife-t",
                                  "effect, percentile bootstrap (before)",
                                  "copy rate, percentile bootstrap (before)")):
            print(_row(f"{name}, {g}", hits[k], r))
    print("\n| heterogeneity test: reviewers, groups | R | false-flag rate at 5% | MC s.e. |"
          "\n|---|---|---|---|")
    for g in (4, 6, 10, 20):
        for k in (2, 3):
            rng = np.random.default_rng(10 * g + k)
            new = old = 0
            for i in range(r // 2):
                sums = _panel(g, rng, k)
                new += auto._heterogeneity(sums, "jackknife", 0, 0).p_value < 0.05
                old += auto._heterogeneity(sums, "bootstrap", 400, i).p_value < 0.05
            print(_row(f"Hotelling F, jackknife, {g}, {k}", new, r // 2))
            print(_row(f"chi-square, bootstrap (before), {g}, {k}", old, r // 2))
    print("\n| one reviewer: ratings per arm, P(agree hidden), copy | R | effect | copy rate |"
          "\n|---|---|---|---|")
    for n, a, c in ((10, 0.68, 0.3), (20, 0.9, 0.5), (40, 0.6, 0.8), (10, 0.9, 0.5)):
        rng = np.random.default_rng(n)
        shown, hidden = rng.binomial(n, a + c * (1 - a), r), rng.binomial(n, a, r)
        e = cp = defined = 0
        for s, h in zip(shown, hidden, strict=True):
            est = auto._within(np.array([s, n, h, n], dtype=float), jack)
            e += est.ci_low <= c * (1 - a) <= est.ci_high
            if np.isfinite(est.copy_rate_ci_low):
                defined += 1
                cp += est.copy_rate_ci_low <= c <= est.copy_rate_ci_high
        print(f"| {n}, {a}, {c} | {r} | {e / r:.3f} | {cp / defined:.3f} (of {defined}) |")


def _percentile_alpha(ratings: pd.DataFrame, level: str) -> tuple[float, float]:
    """The percentile bootstrap interval alpha had before (1,000 case resamples)."""
    level = level.removesuffix("_skewed")
    enc = encode_ratings(ratings, item="case_id", rater="reviewer_id", label="label",
                         level=level)
    counts, pattern, _ = compress(enc.counts)
    prep = prepare(counts, enc.positions, level, with_pairs=True)
    reps = np.concatenate([evaluate(prep, w, ("krippendorff_alpha",))["krippendorff_alpha"]
                           for w in bootstrap_weights(len(enc.case_ids), 1000, 0,
                                                      pattern=pattern)])
    return percentile_interval(reps, 0.95)


def _print_alpha(r: int = 1000) -> None:  # pragma: no cover - run by hand
    print("\n| alpha: level, cases | R | jackknife-z | MC s.e. | percentile (before) |"
          "\n|---|---|---|---|---|")
    for level in ("nominal", "ordinal", "interval", "interval_skewed"):
        seed = {"nominal": 3, "ordinal": 2, "interval": 4, "interval_skewed": 5}[level]
        true = _alpha(_table(level, 100_000, np.random.default_rng(seed)), level)[0]
        for n in (20, 50, 200):
            rng = np.random.default_rng(seed * 1000 + n)
            hits = old = 0
            for _ in range(r):
                table = _table(level, n, rng)
                _, low, high = _alpha(table, level)
                hits += low <= true <= high
                p_low, p_high = _percentile_alpha(table, level)
                old += p_low <= true <= p_high
            print(_row(f"{level} (alpha {true:.3f}), {n}", hits, r) + f" {old / r:.3f} |")


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "alpha" not in sys.argv[1:]:
        _print_tables()
    _print_alpha()
