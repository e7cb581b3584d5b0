"""Simulation: rate intervals and detectable differences when events are rare.

Measures (fixed seeds), with the project's own code:

* coverage of the per-group intervals of the metrics table (``ci_low``, ``ci_high``:
  percentile bootstrap, hull with Wilson below ``MIN_EVENTS`` events) for selection
  rate, FPR and TPR at 0.4-10 expected events (n = 100, 300, 1000): asserted
  >= 0.95 - 2.5 MC standard errors;
* the power of the test the engine uses (:func:`two_proportion_test`, Fisher at small
  expected counts) at the returned minimum detectable difference, by simulation:
  asserted >= 0.80 - 2.5 MC standard errors.

About 30 s on one core. Tables: docs/fairness.md, "Rare events".
"""

from __future__ import annotations

import numpy as np
import pytest

import audits.fairness.tables as tables_module
from audits.fairness.count_types import FineCounts
from audits.fairness.estimates import estimate
from audits.fairness.intervals import percentile_interval
from audits.fairness.rollup import counts_from_fine
from audits.fairness.significance import min_detectable_difference, two_proportion_test
from audits.fairness.tables import metric_table

pytestmark = pytest.mark.slow

R_GROUPS = 2000  # independent groups (one replicate each) per cell
R_POWER = 4000


def counts_of(cells: np.ndarray):  # type: ignore[no-untyped-def]
    """One group per row of ``cells`` (tp, fp, fn, tn), all in one slice."""
    n_groups = len(cells)
    labels = np.repeat(np.array([f"g{i:05d}" for i in range(n_groups)], dtype=object), 4)
    flat = cells.reshape(-1)
    keep = flat > 0
    fine = FineCounts(rows=int(flat.sum()), features=("s",), values=(labels[keep],),
                      y=np.tile([1, 0, 1, 0], n_groups)[keep],
                      p=np.tile([1, 1, 0, 0], n_groups)[keep], count=flat[keep])
    return counts_from_fine(fine, y_true="y", y_pred="p", pos_label=1, slices=[("s",)])


def metric_rows(counts, name: str, seed: int):  # type: ignore[no-untyped-def]
    """The metrics table rows exactly as :func:`audit_counts` makes them (no summaries)."""
    est = estimate(counts, [name], n_boot=1000, random_state=seed)
    intervals = {name: percentile_interval(est.replicates[name], level=0.95)}
    usable = {name: np.ones(len(counts.cells), dtype=bool)}
    refs = {name: np.zeros(len(counts.cells), dtype=np.int64)}
    return metric_table(counts, [name], est.values, intervals, usable, refs, level=0.95,
                        alpha=0.05, power=0.8)


def interval_coverage(n: int, rate: float, seed: int) -> dict[str, tuple[float, int]]:
    """Coverage of selection rate (rate), FPR (rate) and TPR (1 - rate) intervals."""
    rng = np.random.default_rng(seed)
    prev = 0.3
    # Decisions independent of y at selection rate `rate` would leave FPR = TPR; so
    # positives are predicted at 1 - rate and negatives at rate.
    probs = np.array([prev * (1 - rate), (1 - prev) * rate, prev * rate,
                      (1 - prev) * (1 - rate)])
    cells = rng.multinomial(n, probs, size=R_GROUPS)
    rare_selection = rng.multinomial(n, [0.5 * rate, 0.5 * rate, 0.5 * (1 - rate),
                                         0.5 * (1 - rate)], size=R_GROUPS)
    out = {}
    for name, block, truth in (("false_positive_rate", cells, rate),
                               ("true_positive_rate", cells, 1 - rate),
                               ("selection_rate", rare_selection, rate)):
        m = metric_rows(counts_of(block), name, seed)
        ok = m["ci_low"].notna().to_numpy()
        hit = ((m["ci_low"] <= truth) & (truth <= m["ci_high"])).to_numpy()[ok]
        out[name] = (float(hit.mean()), int(ok.sum()))
    return out


@pytest.fixture(autouse=True)
def _no_mdd(monkeypatch: pytest.MonkeyPatch) -> None:
    # The detectable difference plays no part in coverage; skip its cost here.
    monkeypatch.setattr(tables_module, "min_detectable_difference",
                        lambda n1, n2, p0, **_: np.full(np.shape(n1), np.nan))


@pytest.mark.parametrize(("n", "rate"), [(100, 0.02), (300, 0.0125), (1000, 0.005)])
def test_rate_intervals_cover_with_few_events(n: int, rate: float) -> None:
    for name, (coverage, k) in interval_coverage(n, rate, seed=17).items():
        se = np.sqrt(0.95 * 0.05 / k)
        assert coverage >= 0.95 - 2.5 * se, (name, n, rate, coverage, k)


@pytest.mark.parametrize(("n1", "n2", "p0"), [(100, 100, 0.05), (30, 1000, 0.01),
                                              (50, 500, 0.1), (300, 300, 0.0125),
                                              (100, 1000, 0.02)])
def test_power_at_the_detectable_difference(n1: int, n2: int, p0: float) -> None:
    mdd = float(min_detectable_difference(np.array(n1), np.array(n2), np.array(p0)))
    assert np.isfinite(mdd) and 0 < mdd <= 1 - p0
    rng = np.random.default_rng(n1 * 7 + n2)
    x1 = rng.binomial(n1, p0 + mdd, R_POWER)
    x2 = rng.binomial(n2, p0, R_POWER)
    p, _ = two_proportion_test(x1, np.full(R_POWER, n1), x2, np.full(R_POWER, n2))
    power = float(np.mean(p <= 0.05))
    se = np.sqrt(0.8 * 0.2 / R_POWER)
    assert power >= 0.8 - 2.5 * se, (n1, n2, p0, mdd, power)


if __name__ == "__main__":  # print the tables of docs/fairness.md
    setattr(tables_module, "min_detectable_difference",  # noqa: B010
            lambda n1, n2, p0, **_: np.full(np.shape(n1), np.nan))
    print("| metric | n | true rate | coverage | R | MC se |\n|---|---|---|---|---|---|")
    for n, rate in [(100, 0.005), (100, 0.02), (100, 0.05), (300, 0.0125), (300, 0.02),
                    (1000, 0.005), (1000, 0.01)]:
        for name, (cov, k) in interval_coverage(n, rate, seed=17).items():
            truth = 1 - rate if name == "true_positive_rate" else rate
            print(f"| {name} | {n} | {truth:g} | {cov:.4f} | {k} | "
                  f"{np.sqrt(cov * (1 - cov) / k):.4f} |")
