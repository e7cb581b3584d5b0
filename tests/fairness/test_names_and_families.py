"""Honest names, the judged Benjamini-Hochberg family, references that do not read
outcomes, and detectable differences from the test actually used (issue 17, 3/5/6)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from scipy import stats

from audits.fairness.audit import audit_fairness
from audits.fairness.significance import (
    exact_power,
    min_detectable_difference,
    normal_detectable_difference,
    two_proportion_test,
)

COMPAS = Path(__file__).resolve().parents[2] / "datasets" / "compas.parquet"
FAIRLEARN = {"demographic_parity_difference": demographic_parity_difference,
             "demographic_parity_ratio": demographic_parity_ratio,
             "equal_opportunity_difference": equal_opportunity_difference,
             "equalized_odds_difference": equalized_odds_difference}


@pytest.fixture(scope="module")
def compas() -> pd.DataFrame:
    df = pd.read_parquet(COMPAS)
    return df[df["propublica_filter"]].reset_index(drop=True)


def test_summaries_over_all_groups_equal_fairlearn(compas: pd.DataFrame) -> None:
    audit = audit_fairness(compas, y_true="two_year_recid", y_pred="high_risk",
                           sensitive_features=["race", "sex"], n_boot=0)
    s = audit.summaries.set_index(["slice", "summary"])
    for features, (name, fn) in itertools.product((["race"], ["sex"], ["race", "sex"]),
                                                  FAIRLEARN.items()):
        row = s.loc[(" & ".join(features), name)]
        expected = fn(compas["two_year_recid"], compas["high_risk"],
                      sensitive_features=compas[features])
        assert abs(row["value_all_groups"] - expected) < 1e-12, (features, name)
        assert row["groups"] == "eligible"
    # COMPAS by race: the eligible groups (Native American has 11 people) give 0.372.
    race = s.loc[("race", "demographic_parity_difference")]
    assert round(race["value"], 3) == 0.372 and round(race["value_all_groups"], 3) == 0.523
    assert race["n_groups"] == 5 and race["n_groups_all"] == 6
    item = next(x for x in audit.to_dict()["summaries"]
                if x["summary"] == "equalized_odds_difference" and x["features"] == ["race"])
    assert item["groups"] == "eligible" and round(item["value_all_groups"], 3) == 0.661


def _frame(seed: int = 0, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = rng.choice(list("abc"), n, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < np.where(s == "a", 0.6, 0.35)).astype(int)
    return pd.DataFrame({"y": y, "p": p, "s": s, "small": np.where(np.arange(n) < 8, "x", "z")})


def test_bh_family_is_only_what_is_judged() -> None:
    audit = audit_fairness(_frame(), y_true="y", y_pred="p", sensitive_features=["s", "small"],
                           intersections=False, n_boot=50)
    d = audit.disparities
    family = d["bh_family"].to_numpy(dtype=bool)
    assert not family[(d["metric"] == "prevalence").to_numpy()].any()
    assert not family[~d["eligible"].to_numpy(dtype=bool)].any()
    assert d.loc[~family, "p_adjusted"].isna().all()
    expected = stats.false_discovery_control(d.loc[family, "p_value"].to_numpy(), method="bh")
    np.testing.assert_allclose(d.loc[family, "p_adjusted"].to_numpy(), expected, rtol=1e-12)
    assert all("bh_family" in x for x in audit.to_dict()["disparities"])


def test_bh_family_follows_named_metrics() -> None:
    audit = audit_fairness(_frame(), y_true="y", y_pred="p", sensitive_features="s",
                           rules=["selection_rate_ratio>=0.8"], n_boot=50)
    d = audit.disparities
    assert set(d.loc[d["bh_family"], "metric"]) == {"selection_rate"}


def test_largest_reference_ties_never_read_outcomes() -> None:
    base = pd.DataFrame({"y": [1, 0] * 40, "s": ["b"] * 40 + ["a"] * 40})
    refs = set()
    for p in ([1] * 40 + [0] * 40, [0] * 40 + [1] * 40, [1, 0] * 40):
        audit = audit_fairness(base.assign(p=p), y_true="y", y_pred="p",
                               sensitive_features="s", n_boot=0)
        refs.add(tuple(audit.disparities["reference_label"]))
    assert refs == {("a",) * len(audit.disparities)}  # first label, whatever the outcomes


def test_best_reference_is_labelled() -> None:
    df = _frame()
    best = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s", n_boot=50,
                          reference="best").inference_json()
    fixed = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s", n_boot=50
                           ).inference_json()
    assert best["reference_chosen_by_data"] and "p_value" in best["exploratory"]
    assert not fixed["reference_chosen_by_data"] and fixed["exploratory"] == []


def _brute_power(n1: int, n2: int, p1: float, p0: float) -> float:
    """Power by looping over every table with scipy's tests (independent of the engine)."""
    total = 0.0
    for x1, x2 in itertools.product(range(n1 + 1), range(n2 + 1)):
        hits, size = x1 + x2, n1 + n2
        expected = min(n1 * hits, n1 * (size - hits), n2 * hits, n2 * (size - hits)) / size
        if expected < 5:
            p = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
        else:
            pooled = hits / size
            z = (x1 / n1 - x2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            p = 2 * stats.norm.sf(abs(z))
        if p <= 0.05:
            total += stats.binom.pmf(x1, n1, p1) * stats.binom.pmf(x2, n2, p0)
    return total


@pytest.mark.parametrize(("n1", "n2", "p0"), [(20, 30, 0.1), (25, 25, 0.04), (15, 60, 0.5)])
def test_detectable_difference_has_its_power_under_the_test_used(n1: int, n2: int,
                                                                  p0: float) -> None:
    mdd = float(min_detectable_difference(np.array(n1), np.array(n2), np.array(p0)))
    assert 0 < mdd <= max(p0, 1 - p0)
    up = p0 + mdd if p0 + mdd <= 1 else p0 - mdd
    assert _brute_power(n1, n2, up, p0) >= 0.8 - 1e-9
    assert abs(exact_power(n1, n2, up, p0) - _brute_power(n1, n2, up, p0)) < 1e-9
    # Just below it the power is short of 80% (in the direction returned).
    assert _brute_power(n1, n2, p0 + (up - p0) * 0.97, p0) < 0.8


def test_normal_theory_was_optimistic_where_events_are_rare() -> None:
    approx = float(normal_detectable_difference(np.array(30), np.array(1000), np.array(0.01)))
    assert exact_power(30, 1000, 0.01 + approx, 0.01) < 0.72
    exact = float(min_detectable_difference(np.array(30), np.array(1000), np.array(0.01)))
    assert exact > approx and exact_power(30, 1000, 0.01 + exact, 0.01) >= 0.8 - 1e-9


def test_exact_fisher_by_margin_matches_scipy() -> None:
    from audits.fairness.significance import _test_p_values

    rng = np.random.default_rng(3)
    for n1, n2 in ((7, 3), (12, 40), (3, 500)):
        x1, x2 = rng.integers(0, n1 + 1, 200), rng.integers(0, n2 + 1, 200)
        mine = _test_p_values(x1, n1, x2, n2, 200)
        ref, _ = two_proportion_test(x1, np.full(200, n1), x2, np.full(200, n2))
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12)
