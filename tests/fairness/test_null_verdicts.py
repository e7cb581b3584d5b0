"""Null simulations: a fair system gets no ``fail`` verdict and fails no gate, at most 5%.

Each simulated audit is of a fair system, made at the level of counts: every group draws
its scores from the same 20 values, the outcome is ``Bernoulli(score)`` (calibrated
scores) and the decision ``score >= t`` (selection rate 0.1 or 0.3), so every metric
(selection rate, TPR, FPR, precision, ..., ROC AUC and the calibration error) is equal
across groups. The audit runs on :class:`GroupCounts` with the default rules (every
metric's ratio within [0.8, 1.25]).

Monte-Carlo tolerance: a cell passes when the one-sided 95% upper Clopper-Pearson bound
of its false-fail rate is at most 5% (``AUDITS`` audits per cell: at most 4 failing
audits of 200 or 9 of 300). The fast cell in the default run uses fewer audits and
states its own, looser bound. Power at a true impact ratio of 0.7 is asserted only where
the data can show it (10,000 per group); the whole table is printed by
``python benchmarks/null_verdicts.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import audits.fairness.tables as tables_module
from audits.fairness.audit import audit_counts
from audits.fairness.count_types import GroupCounts, ScoreHistogram
from audits.fairness.gate import violates
from audits.fairness.verdicts import FAIL

SCORES = (np.arange(20) + 0.5) / 20
TOP = {0.1: 2, 0.3: 6}  # score values decided positive: selection rate 0.1 or 0.3
AUDITS = 300


def fair_system(rng: np.random.Generator, k: int, n: int, rate: float,
                last_ratio: float = 1.0) -> GroupCounts:
    """One fair system's counts; the last group's selection rate times ``last_ratio``."""
    top = TOP[rate]
    hist = np.zeros((k, 2, len(SCORES)), dtype=np.int64)
    for g in range(k):
        sel = rate * (last_ratio if g == k - 1 else 1.0)
        weights = np.r_[np.full(20 - top, (1 - sel) / (20 - top)), np.full(top, sel / top)]
        drawn = rng.multinomial(n, weights)
        hist[g, 1] = rng.binomial(drawn, SCORES)
        hist[g, 0] = drawn - hist[g, 1]
    decided = np.arange(20) >= 20 - top
    tp, fp = hist[:, 1, decided].sum(axis=1), hist[:, 0, decided].sum(axis=1)
    fn, tn = hist[:, 1, ~decided].sum(axis=1), hist[:, 0, ~decided].sum(axis=1)
    labels = [f"g{i}" for i in range(k)]
    groups = pd.DataFrame({"group_id": np.arange(k), "slice": "group", "group_label": labels,
                           "group": pd.Series(labels, dtype=object), "n": tp + fp + fn + tn,
                           "tp": tp, "fp": fp, "fn": fn, "tn": tn})
    scores = ScoreHistogram(edges=SCORES.copy(), exact=True, counts=hist,
                            sums=hist * SCORES[None, None, :], low=0.025, high=0.975)
    return GroupCounts(rows=int(groups["n"].sum()), features=("group",),
                       slices=(("group",),), groups=groups, positive_label=1, scores=scores)


def upper_bound(failures: int, runs: int) -> float:
    """One-sided 95% upper Clopper-Pearson bound of a rate."""
    return 1.0 if failures >= runs else float(stats.beta.ppf(0.95, failures + 1,
                                                             runs - failures))


def false_fails(k: int, n: int, rate: float, runs: int, *, n_boot: int
                ) -> tuple[int, int, set[str]]:
    """Audits with any fail, audits failing the impact-ratio gate, metrics that failed."""
    rng = np.random.default_rng([k, n, int(rate * 10)])
    any_fail = gate = 0
    metrics: set[str] = set()
    for i in range(runs):
        audit = audit_counts(fair_system(rng, k, n, rate), n_boot=n_boot, random_state=i)
        assert "expected_calibration_error" in audit.config.metrics  # scores: judged too
        failed = audit.verdicts[audit.verdicts["verdict"] == FAIL]
        metrics.update(failed["metric"])
        any_fail += bool(len(failed)) or bool((audit.summaries["verdict"] == FAIL).any())
        gate += violates(audit, "impact_ratio<0.8")
    return any_fail, gate, metrics


@pytest.fixture(autouse=True)
def _no_mdd(monkeypatch: pytest.MonkeyPatch) -> None:
    # Verdicts, summaries and the gate do not read the detectable difference (a column of
    # the metrics table only); skip its cost here, a third to a half of each audit's.
    monkeypatch.setattr(tables_module, "min_detectable_difference",
                        lambda n1, n2, p0, **_: np.full(np.shape(n1), np.nan))


def test_fast_cell_five_groups_of_100_fail_no_more_than_chance() -> None:
    # The reviewer's case: before, 100% of these audits failed the gate and 18% had a
    # fail verdict. 50 audits: the upper bound (tolerance of 50 runs) must stay <= 10%.
    runs = 50
    any_fail, gate, metrics = false_fails(5, 100, 0.1, runs, n_boot=30)
    assert upper_bound(any_fail, runs) <= 0.10, (any_fail, metrics)
    assert upper_bound(gate, runs) <= 0.10, gate


#: Every number of groups with every group size, the prevalence alternating between 0.1
#: and 0.3: nine of the eighteen cells of ``benchmarks/null_verdicts.py``, which runs the
#: whole grid for the figures in docs/fairness.md (the full grid here took a third of the
#: slow run's time).
CELLS = [(k, n, (0.1, 0.3)[(i + j) % 2]) for i, k in enumerate((2, 5, 10))
         for j, n in enumerate((100, 1000, 10000))]


@pytest.mark.slow
@pytest.mark.parametrize(("k", "n", "rate"), CELLS)
def test_audit_wide_false_fail_rate_is_at_most_5_percent(k: int, n: int, rate: float) -> None:
    any_fail, gate, metrics = false_fails(k, n, rate, AUDITS, n_boot=200)
    assert upper_bound(any_fail, AUDITS) <= 0.05, (any_fail, sorted(metrics))
    assert upper_bound(gate, AUDITS) <= 0.05, gate


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.1, 0.3])
@pytest.mark.parametrize("k", [2, 5, 10])
def test_the_gate_finds_an_impact_ratio_of_07_with_enough_data(k: int, rate: float) -> None:
    rng = np.random.default_rng([k, 7, int(rate * 10)])
    runs = 100
    found = sum(violates(audit_counts(fair_system(rng, k, 10_000, rate, last_ratio=0.7),
                                      n_boot=1, random_state=i, metrics=["selection_rate"]),
                         "impact_ratio<0.8") for i in range(runs))
    assert found / runs >= 0.5
