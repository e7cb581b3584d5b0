"""Simulation: how often a fair system gets a ``fail``, and the gate's power at IR 0.7.

For each cell of the grid (groups x rows per group x selection rate) it simulates many
audits of a *fair* system at the level of counts: every group's scores are drawn from
the same 20 score values, the outcome is ``Bernoulli(score)`` (calibrated scores) and
the decision ``score >= t`` with ``t`` giving the selection rate, so selection rate,
TPR, FPR, precision, AUC, calibration and every other metric are equal across groups.
Each audit runs on :class:`~audits.fairness.counts.GroupCounts` (no rows are made) with
the default rules, and the script counts

* ``any fail``: audits with at least one ``fail`` among all their verdicts (every
  judged disparity and summary), the audit-wide false-fail rate;
* ``gate``: audits where ``impact_ratio<0.8`` fails (the ``--fail-on`` gate);
* ``power``: the same gate when one group's selection rate is 0.7 times the others'
  (true impact ratio 0.7).

Each rate is printed with its one-sided 95% upper Clopper-Pearson bound.

Usage::

    python benchmarks/null_verdicts.py                    # full grid, 200 audits per cell
    python benchmarks/null_verdicts.py --quick            # 2 and 5 groups, n = 100, 50 audits
    python benchmarks/null_verdicts.py --audits 400 --n-boot 200
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audits.fairness.audit import audit_counts  # noqa: E402
from audits.fairness.count_types import GroupCounts, ScoreHistogram  # noqa: E402
from audits.fairness.gate import violates  # noqa: E402

SCORES = (np.arange(20) + 0.5) / 20
#: Decide positive for the top 2 (selection 0.1) or top 6 (0.3) of the 20 score values.
TOP = {0.1: 2, 0.3: 6}


def fair_counts(rng: np.random.Generator, n_groups: int, n: int, rate: float,
                last_ratio: float = 1.0) -> GroupCounts:
    """Counts of one simulated audit; the last group's selection rate times ``last_ratio``."""
    k = len(SCORES)
    top = TOP[rate]
    hist = np.zeros((n_groups, 2, k), dtype=np.int64)
    for g in range(n_groups):
        weights = np.full(k, 1.0 / k)
        if g == n_groups - 1 and last_ratio != 1.0:
            sel = rate * last_ratio  # the decided share of this group
            weights = np.r_[np.full(k - top, (1 - sel) / (k - top)), np.full(top, sel / top)]
        per_value = rng.multinomial(n, weights)
        positives = rng.binomial(per_value, SCORES)
        hist[g, 1] = positives
        hist[g, 0] = per_value - positives
    sums = hist * SCORES[None, None, :]
    decided = np.zeros(k, dtype=bool)
    decided[k - top:] = True
    tp = hist[:, 1, decided].sum(axis=1)
    fp = hist[:, 0, decided].sum(axis=1)
    fn = hist[:, 1, ~decided].sum(axis=1)
    tn = hist[:, 0, ~decided].sum(axis=1)
    labels = [f"g{i}" for i in range(n_groups)]
    groups = pd.DataFrame({"group_id": np.arange(n_groups), "slice": "group",
                           "group_label": labels, "group": pd.Series(labels, dtype=object),
                           "n": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn})
    histogram = ScoreHistogram(edges=SCORES.copy(), exact=True, counts=hist, sums=sums,
                               low=float(SCORES[0]), high=float(SCORES[-1]))
    return GroupCounts(rows=int(groups["n"].sum()), features=("group",), slices=(("group",),),
                       groups=groups, positive_label=1, scores=histogram)


def run_cell(n_groups: int, n: int, rate: float, *, audits: int, n_boot: int,
             seed: int) -> dict[str, object]:
    """Simulate one cell; return counts of failing audits under the null and the power."""
    rng = np.random.default_rng([seed, n_groups, n, int(rate * 100)])
    any_fail = gate = power = 0
    failing_metrics: dict[str, int] = {}
    for i in range(audits):
        audit = audit_counts(fair_counts(rng, n_groups, n, rate), n_boot=n_boot,
                             random_state=i)
        fails = audit.verdicts.loc[audit.verdicts["verdict"] == "fail", "metric"]
        summary_fail = (audit.summaries["verdict"] == "fail").any()
        if len(fails) or summary_fail:
            any_fail += 1
            for m in set(fails):
                failing_metrics[m] = failing_metrics.get(m, 0) + 1
        gate += bool(violates(audit, "impact_ratio<0.8"))
        shifted = audit_counts(fair_counts(rng, n_groups, n, rate, last_ratio=0.7),
                               n_boot=n_boot, random_state=i, metrics=["selection_rate"])
        power += bool(violates(shifted, "impact_ratio<0.8"))
    return {"groups": n_groups, "n": n, "rate": rate, "audits": audits, "any_fail": any_fail,
            "gate": gate, "power": power, "by_metric": failing_metrics}


def upper(k: int, n: int) -> float:
    """One-sided 95% upper Clopper-Pearson bound of a binomial proportion."""
    return 1.0 if k >= n else float(stats.beta.ppf(0.95, k + 1, n - k))


def main(argv: list[str] | None = None) -> int:
    """Print the table of false-fail rates and power."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audits", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--groups", type=int, nargs="*", default=[2, 5, 10])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--rates", type=float, nargs="*", default=[0.1, 0.3])
    args = parser.parse_args(argv)
    grid = list(itertools.product(args.groups, args.sizes, args.rates))
    audits = args.audits
    if args.quick:
        grid, audits = [(2, 100, 0.1), (5, 100, 0.1)], 50
    print(f"{audits} simulated audits per cell, n_boot {args.n_boot}; rates with their "
          "one-sided 95% upper bound")
    print(f"{'groups':>6} {'n/group':>8} {'rate':>5}  {'any fail (null)':>18}  "
          f"{'gate IR<0.8 (null)':>19}  {'power at IR 0.7':>16}  failing metrics")
    for n_groups, n, rate in grid:
        start = time.perf_counter()
        r = run_cell(n_groups, n, rate, audits=audits, n_boot=args.n_boot, seed=args.seed)
        a, g, p = (int(r[k]) for k in ("any_fail", "gate", "power"))  # type: ignore[call-overload]
        worst = sorted(r["by_metric"].items(), key=lambda kv: -kv[1])[:3]  # type: ignore[union-attr]
        print(f"{n_groups:>6} {n:>8} {rate:>5}  {a / audits:>7.1%} (<= {upper(a, audits):5.1%})  "
              f"{g / audits:>8.1%} (<= {upper(g, audits):5.1%})  {p / audits:>16.1%}  "
              f"{', '.join(f'{m} {c}' for m, c in worst)}  [{time.perf_counter() - start:.0f}s]",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
