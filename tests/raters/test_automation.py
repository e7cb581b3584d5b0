"""Automation-bias intervals: the reviewer jackknife, one reviewer's exact-style intervals,
the Hotelling F heterogeneity test, each against an independent recomputation.

(The older behaviour tests of automation bias live in tests/raters/test_human_bias.py.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from audits.raters.automation import (
    MSG_INTERVAL,
    automation_bias,
    automation_bias_heterogeneity,
    over_reliance,
)


def _ratings(n_reviewers: int, seed: int, *, per_reviewer: int = 40,
             groups: str = "xy") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for j in range(n_reviewers):
        shown = rng.random(per_reviewer) < 0.5
        copy = rng.uniform(0.0, 0.6)
        agree = rng.random(per_reviewer) < np.where(shown, 0.7 + 0.3 * copy, 0.7)
        decision = rng.integers(0, 2, per_reviewer)
        frames.append(pd.DataFrame({
            "case_id": j * per_reviewer + np.arange(per_reviewer), "reviewer_id": f"r{j:02d}",
            "model_decision": decision, "label": np.where(agree, decision, 1 - decision),
            "model_shown": shown, "subject_group": rng.choice(list(groups), per_reviewer),
            "truth": np.where(rng.random(per_reviewer) < 0.5, 1 - decision, decision)}))
    return pd.concat(frames, ignore_index=True)


def _effect(df: pd.DataFrame) -> tuple[float, float]:
    agree = df["label"] == df["model_decision"]
    shown, hidden = agree[df["model_shown"]].mean(), agree[~df["model_shown"]].mean()
    return shown - hidden, (shown - hidden) / (1 - hidden)


def test_interval_is_the_reviewer_jackknife_with_t_on_g_minus_1_df() -> None:
    df = _ratings(6, seed=1)
    est = automation_bias(df)
    reviewers = sorted(df["reviewer_id"].unique())
    loo = np.array([_effect(df[df["reviewer_id"] != r]) for r in reviewers])  # by hand
    t = stats.t.ppf(0.975, len(reviewers) - 1)
    value, copy = _effect(df)
    for column, centre, (low, high) in ((0, value, ("ci_low", "ci_high")),
                                        (1, copy, ("copy_rate_ci_low", "copy_rate_ci_high"))):
        se = np.sqrt(5 / 6 * ((loo[:, column] - loo[:, column].mean()) ** 2).sum())
        assert getattr(est, low) == pytest.approx(centre - t * se, abs=1e-12)
        assert getattr(est, high) == pytest.approx(centre + t * se, abs=1e-12)
    assert est.n_reviewers == 6 and est.method.startswith("reviewer jackknife")
    wrong = over_reliance(df)
    assert wrong.ci_low < wrong.value < wrong.ci_high


def test_one_reviewer_gets_newcombe_and_katz_intervals_as_statsmodels() -> None:
    df = _ratings(3, seed=2, per_reviewer=60)
    table = automation_bias(df, by="reviewer_id").set_index("reviewer_id")
    for reviewer, part in df.groupby("reviewer_id"):
        agree = part["label"] == part["model_decision"]
        shown, hidden = agree[part["model_shown"]], agree[~part["model_shown"]]
        low, high = confint_proportions_2indep(shown.sum(), len(shown), hidden.sum(),
                                               len(hidden), method="newcomb", compare="diff")
        row = table.loc[reviewer]
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-10)
        # copy rate = 1 - ratio of disagreement rates (shown / hidden): Katz log interval
        r_low, r_high = confint_proportions_2indep(
            (~shown).sum(), len(shown), (~hidden).sum(), len(hidden), method="log",
            compare="ratio")
        assert (row.copy_rate_ci_low, row.copy_rate_ci_high) == pytest.approx(
            (1 - r_high, 1 - r_low), abs=1e-10)
    # a panel of one reviewer: the same one-reviewer intervals
    alone = automation_bias(df[df["reviewer_id"] == "r00"])
    assert (alone.ci_low, alone.ci_high) == pytest.approx(
        (table.loc["r00", "ci_low"], table.loc["r00", "ci_high"]))


def test_bootstrap_option_is_the_reviewer_cluster_percentile_bootstrap() -> None:
    df = _ratings(4, seed=3)
    est = automation_bias(df, interval="bootstrap", n_boot=300, random_state=9)
    reviewers = sorted(df["reviewer_id"].unique())
    weights = np.random.default_rng(9).multinomial(4, [0.25] * 4, size=300)
    effects = [_effect(pd.concat([df[df["reviewer_id"] == r] for r, k in
                                  zip(reviewers, w, strict=True) for _ in range(k)]))[0]
               for w in weights]
    assert (est.ci_low, est.ci_high) == pytest.approx(tuple(np.quantile(effects,
                                                                         [0.025, 0.975])))
    assert est.method == "reviewer-cluster percentile bootstrap"
    with pytest.raises(ValueError, match=MSG_INTERVAL.split("{")[0]):
        automation_bias(df, interval="wild")


def test_heterogeneity_is_hotelling_f_on_the_jackknife_covariance() -> None:
    df = _ratings(8, seed=4, groups="xyz")
    test = automation_bias_heterogeneity(df)
    groups, reviewers = ["x", "y", "z"], sorted(df["reviewer_id"].unique())

    def contrasts(part: pd.DataFrame) -> np.ndarray:
        effects = [_effect(part[part["subject_group"] == g])[0] for g in groups]
        return np.array(effects[1:]) - effects[0]

    diff = contrasts(df)
    loo = np.array([contrasts(df[df["reviewer_id"] != r]) for r in reviewers])
    cov = 7 / 8 * (loo - loo.mean(axis=0)).T @ (loo - loo.mean(axis=0))
    q = float(diff @ np.linalg.inv(cov) @ diff)
    assert test.statistic == pytest.approx(q)
    assert (test.df, test.df_denominator) == (2, 6.0)
    assert test.p_value == pytest.approx(stats.f.sf(q * 6 / (2 * 7), 2, 6))
    assert "Hotelling" in test.method
