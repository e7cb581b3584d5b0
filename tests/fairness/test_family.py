"""Simultaneous intervals of the judged family: published values, properties, coverage."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audits.fairness.audit import audit_counts, audit_fairness
from audits.fairness.count_types import GroupCounts
from audits.fairness.family import (
    Inference,
    family_size,
    family_z,
    pair_interval,
    summary_interval,
)
from audits.fairness.gate import gate_table, violates
from audits.fairness.verdicts import FAIL, INSUFFICIENT, parse_rule


def selection_counts(selected: list[int], sizes: list[int]) -> GroupCounts:
    """Counts with the given selected/size per group (half of each cell positive)."""
    sel, n = np.asarray(selected), np.asarray(sizes)
    tp, fp = sel // 2, sel - sel // 2
    rest = n - sel
    fn, tn = rest // 2, rest - rest // 2
    labels = [f"g{i}" for i in range(len(n))]
    groups = pd.DataFrame({"group_id": np.arange(len(n)), "slice": "group",
                           "group_label": labels, "group": pd.Series(labels, dtype=object),
                           "n": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn})
    return GroupCounts(rows=int(n.sum()), features=("group",), slices=(("group",),),
                       groups=groups, positive_label=1)


def inference(counts: GroupCounts, *, favourable: bool = True) -> Inference:
    rate = counts.cells[:, :2].sum(axis=1) / counts.cells.sum(axis=1)
    k = len(rate)
    return Inference(counts, {"selection_rate": rate},
                     {"selection_rate": np.zeros((1, k))},
                     {"selection_rate": np.ones(k, dtype=bool)},
                     {"selection_rate": np.zeros(k, dtype=np.int64)}, favourable, 0.95)


def test_difference_matches_newcombes_published_score_interval() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, Table II: 56/70 - 48/80, method 10
    # (hybrid score): 0.0524 to 0.3339.
    inf = inference(selection_counts([56, 48], [70, 80]))
    lo, hi = pair_interval(inf, "selection_rate", np.array([0]), np.array([1]),
                           statistic="difference", z=stats.norm.isf(0.025))
    assert (round(float(lo[0]), 4), round(float(hi[0]), 4)) == (0.0524, 0.3339)


def test_ratio_agrees_with_the_katz_log_interval_for_large_counts() -> None:
    x1, n1, x2, n2 = 3000, 20000, 2400, 20000
    inf = inference(selection_counts([x1, x2], [n1, n2]))
    lo, hi = pair_interval(inf, "selection_rate", np.array([0]), np.array([1]),
                           statistic="ratio", z=1.96)
    se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    katz = np.exp(np.log((x1 / n1) / (x2 / n2)) + np.array([-1.96, 1.96]) * se)
    assert lo[0] == pytest.approx(katz[0], rel=2e-3)
    assert hi[0] == pytest.approx(katz[1], rel=2e-3)


def test_ratio_interval_inverts_with_the_order_and_survives_zero_counts() -> None:
    inf = inference(selection_counts([7, 19, 0, 0], [60, 80, 40, 50]))
    a, b = np.array([0, 2, 2]), np.array([1, 0, 3])
    lo, hi = pair_interval(inf, "selection_rate", a, b, statistic="ratio", z=2.5)
    rlo, rhi = pair_interval(inf, "selection_rate", b, a, statistic="ratio", z=2.5)
    assert lo[0] == pytest.approx(1 / rhi[0]) and hi[0] == pytest.approx(1 / rlo[0])
    assert lo[1] == 0.0 and 0.0 < hi[1] < np.inf  # 0 of 40 against 7 of 60: not [0, 0]
    assert (lo[2], hi[2]) == (0.0, np.inf)  # 0/40 against 0/50: nothing is known


def test_the_bonferroni_quantile() -> None:
    assert family_z(1, 0.95) == pytest.approx(1.959964, abs=1e-6)
    assert family_z(44, 0.95) == pytest.approx(stats.norm.isf(0.05 / 88))
    with pytest.raises(ValueError, match="family size"):
        family_z(0, 0.95)


def test_summary_interval_bounds_the_extreme_and_counts_every_pair() -> None:
    inf = inference(selection_counts([10, 14, 6, 12, 9], [100] * 5))
    low, high, pairs = summary_interval(inf, 0, ["selection_rate"], "impact", z=None)
    assert pairs == 10
    assert low <= 6 / 14 <= high <= 1.0
    # The bound is the least of the pairwise bounds, both ways round (brute force).
    z = family_z(10, 0.95)
    bounds = []
    for i, j in itertools.permutations(range(5), 2):
        lo, hi = pair_interval(inf, "selection_rate", np.array([i]), np.array([j]),
                               statistic="ratio", z=z)
        bounds.append((lo[0], hi[0]))
    assert low == pytest.approx(min(b[0] for b in bounds))
    assert high == pytest.approx(min(1.0, min(b[1] for b in bounds)))
    spread = summary_interval(inf, 0, ["selection_rate"], "difference", z=None)
    assert spread[0] <= 0.14 - 0.06 <= spread[1]


def test_family_size_counts_each_comparison_once_and_all_pairs_for_best() -> None:
    inf = inference(selection_counts([10, 14, 6, 12, 9], [100] * 5))
    impact, ratio = parse_rule("impact_ratio<0.8"), parse_rule("selection_rate_ratio<0.8")
    assert family_size(inf, [impact]) == 10
    assert family_size(inf, [ratio]) == 4
    assert family_size(inf, [impact, ratio]) == 10  # the 4 are among the 10 pairs
    diff = parse_rule("abs(selection_rate_difference)>0.1")
    assert family_size(inf, [impact, diff]) == 14
    best = Inference(inf.counts, inf.values, inf.replicates, inf.usable, inf.references,
                     True, 0.95, best_reference=True)
    assert family_size(best, [ratio]) == 10


def _fair(rng: np.random.Generator, k: int, n: int, rate: float) -> GroupCounts:
    return selection_counts(list(rng.binomial(n, rate, size=k)), [n] * k)


@pytest.mark.parametrize(("k", "n", "rate"), [(5, 100, 0.1), (10, 100, 0.3), (10, 1000, 0.1)])
def test_simultaneous_intervals_cover_together_in_fair_systems(k: int, n: int,
                                                               rate: float) -> None:
    # 400 fair systems: every pairwise ratio interval covers 1 at once in >= 95% (its
    # lower one-sided 99% Clopper-Pearson bound above 0.93), and the impact ratio's
    # interval covers the true 1.0 at least as often.
    rng = np.random.default_rng([k, n, int(rate * 10)])
    runs, together, impact = 400, 0, 0
    z = family_z(k * (k - 1) // 2, 0.95)
    a, b = (np.array(x) for x in zip(*itertools.combinations(range(k), 2), strict=True))
    for _ in range(runs):
        inf = inference(_fair(rng, k, n, rate))
        lo, hi = pair_interval(inf, "selection_rate", a, b, statistic="ratio", z=z)
        together += bool(((lo <= 1) & (hi >= 1)).all())
        impact += summary_interval(inf, 0, ["selection_rate"], "impact", z=None)[1] >= 1.0
    assert impact >= together
    assert stats.beta.ppf(0.01, together, runs - together + 1) > 0.93


def test_the_reviewers_fair_system_no_longer_fails_the_gate() -> None:
    # Five groups of 100, every decision approved with probability 0.1: the old percentile
    # interval of the impact ratio excluded 1.0 and the gate failed in 100% of audits.
    rng = np.random.default_rng(15)
    runs = 120  # 0 or 1 failing audits keep the upper bound under 5%
    fails = sum(violates(audit_counts(_fair(rng, 5, 100, 0.1), n_boot=1, random_state=i,
                                      metrics=["selection_rate"]), "impact_ratio<0.8")
                for i in range(runs))
    assert stats.beta.ppf(0.95, fails + 1, runs - fails) <= 0.05  # one-sided upper bound


def test_gate_point_reading_and_interval_reading_differ_as_documented() -> None:
    # 9/100 against 13/100: impact ratio 0.69 by the point, but the data cannot show it.
    audit = audit_counts(selection_counts([9, 13], [100, 100]), n_boot=20,
                         metrics=["selection_rate"])
    on_interval = gate_table(audit, "impact_ratio<0.8")
    on_point = gate_table(audit, "impact_ratio<0.8", on="point")
    assert on_point["gate_verdict"].tolist() == [FAIL]
    assert on_interval["gate_verdict"].tolist() == [INSUFFICIENT]
    assert on_interval["gate_low"][0] < 9 / 13 < 0.8 < on_interval["gate_high"][0]
    assert on_interval["lowest_group"][0] == "g0" and on_interval["highest_group"][0] == "g1"
    # A clear violation fails either way, and names the groups.
    clear = audit_counts(selection_counts([300, 600], [1000, 1000]), n_boot=20,
                         metrics=["selection_rate"])
    assert gate_table(clear, "impact_ratio<0.8")["gate_verdict"].tolist() == [FAIL]
    with pytest.raises(ValueError, match="on must be one of"):
        gate_table(clear, "impact_ratio<0.8", on="median")


def test_gates_judged_together_share_one_family() -> None:
    audit = audit_counts(selection_counts([30, 40, 35], [300, 300, 300]), n_boot=20,
                         metrics=["selection_rate"])
    alone = gate_table(audit, "impact_ratio<0.8")
    both = gate_table(audit, "impact_ratio<0.8",
                      family=["impact_ratio<0.8", "abs(selection_rate_difference)>0.1"])
    assert alone["gate_family_size"][0] == 3 and both["gate_family_size"][0] == 5
    assert both["gate_low"][0] < alone["gate_low"][0]  # a larger family, wider intervals


def test_summary_verdicts_read_the_adjusted_interval() -> None:
    df = pd.DataFrame({"y": [1, 0] * 1500, "p": ([1] * 450 + [0] * 1050) + ([1] * 300
                       + [0] * 1200), "s": ["a"] * 1500 + ["b"] * 1500})
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s", n_boot=100,
                           rules=["impact_ratio<0.8", "selection_rate_ratio<0.8"])
    row = audit.summaries.set_index("summary").loc["impact_ratio"]
    assert row["value"] == pytest.approx(300 / 450)
    assert row["adjusted_ci_low"] <= row["ci_low"] <= row["value"] <= row["ci_high"] <= (
        row["adjusted_ci_high"])
    assert row["verdict"] == FAIL and row["n_pairs"] == 1
    assert audit.family_size == 1  # the impact ratio's pair is the disparity's comparison
