"""Benchmark: fairpanel's count-once audit against fairlearn's MetricFrame, same work.

Synthetic decisions with two sensitive features (4 and 2 values) and their
intersection (8 groups): 14 groups, 7 metrics. In one run it times

* the floor: one pandas group-by count of the same frame;
* fairlearn ``MetricFrame`` (one frame per slice: s1, s2, s1 x s2) vs fairpanel's
  ``audit_fairness`` (all three slices at once), without bootstrap;
* both with ``n_boot=20`` (fairlearn's own bootstrap: it resamples the rows and
  recomputes the frame 20 times);
* fairpanel with 1,000 replicates,

each as the median of a few repeats (``--repeats``; the slow fairlearn runs use
``--reference-repeats`` and ``--bootstrap-repeats``), and prints the ratios against the
targets: >= 50x without bootstrap, >= 1,000x with, and the full 1,000-replicate audit
within 3x the group-by floor. It also prints the largest difference between the two
tools' metric values.

Usage::

    python benchmarks/fairness_vs_fairlearn.py             # 1,000,000 rows
    python benchmarks/fairness_vs_fairlearn.py --quick     # 20,000 rows, one repeat each
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audits.fairness.audit import audit_fairness  # noqa: E402

METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate",
           "false_negative_rate", "true_negative_rate", "precision", "accuracy")
SLICES = (("s1",), ("s2",), ("s1", "s2"))
N_BOOT_REFERENCE = 20
N_BOOT_FULL = 1000


def make_decisions(rows: int, *, random_state: int = 0) -> pd.DataFrame:
    """Synthetic decisions: s1 (4 values), s2 (2 values), outcome and decision (0/1)."""
    rng = np.random.default_rng(random_state)
    s1 = rng.choice(4, size=rows, p=[0.4, 0.3, 0.2, 0.1])
    s2 = rng.choice(2, size=rows, p=[0.55, 0.45])
    y = rng.random(rows) < 0.35 + 0.05 * s1
    p = rng.random(rows) < np.where(y, 0.7 - 0.05 * s1, 0.2 + 0.04 * s2)
    return pd.DataFrame({
        "s1": np.array(["A", "B", "C", "D"])[s1], "s2": np.array(["F", "M"])[s2],
        "y": y.astype("int8"), "p": p.astype("int8"),
    })


def fairlearn_frames(df: pd.DataFrame, *, n_boot: int | None) -> list[Any]:
    """fairlearn's MetricFrame for each slice (the reference implementation)."""
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    fns = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
           "false_positive_rate": false_positive_rate,
           "false_negative_rate": false_negative_rate,
           "true_negative_rate": true_negative_rate,
           "precision": partial(precision_score, zero_division=0),
           "accuracy": accuracy_score}
    boot: dict[str, Any] = {}
    if n_boot:
        boot = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [MetricFrame(metrics=fns, y_true=df["y"], y_pred=df["p"],
                            sensitive_features=df[list(sl)], **boot) for sl in SLICES]


def fairpanel_audit(df: pd.DataFrame, *, n_boot: int) -> Any:
    """fairpanel's audit of every slice at once."""
    return audit_fairness(df, y_true="y", y_pred="p", sensitive_features=["s1", "s2"],
                          metrics=list(METRICS), n_boot=n_boot, random_state=0)


def groupby_floor(df: pd.DataFrame) -> pd.Series:
    """The floor: one pandas group-by count of the same frame."""
    return df.groupby(["s1", "s2", "y", "p"], observed=True).size()


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def max_difference(frames: list[Any], audit: Any) -> float:
    """Largest |fairlearn - fairpanel| over every metric of every group."""
    m = audit.metrics
    worst = 0.0
    for sl, frame in zip(SLICES, frames, strict=True):
        ours = m[m["slice"] == " & ".join(sl)]
        for row in ours.itertuples(index=False):
            attrs = audit.attributes(row.group_id)
            key = attrs[sl[0]] if len(sl) == 1 else tuple(attrs[f] for f in sl)
            worst = max(worst, abs(float(frame.by_group.loc[key, row.metric]) - row.value))
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print timings and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None,
                        help="decisions to generate (default 1,000,000; 20,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small and one repeat each")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats of the fast timings (default 5; 1 with --quick)")
    parser.add_argument("--reference-repeats", type=int, default=None,
                        help="repeats of MetricFrame without bootstrap (default 3)")
    parser.add_argument("--bootstrap-repeats", type=int, default=1,
                        help="repeats of MetricFrame with bootstrap (default 1)")
    parser.add_argument("--n-boot-reference", type=int, default=N_BOOT_REFERENCE,
                        help="replicates of the compared bootstrap runs (default 20)")
    args = parser.parse_args(argv)
    n_ref = args.n_boot_reference
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    repeats = args.repeats or (1 if args.quick else 5)
    ref_repeats = args.reference_repeats or (1 if args.quick else 3)
    df = make_decisions(rows)
    fairpanel_audit(df.head(1000), n_boot=10)  # import and warm up, not timed

    print(f"rows: {rows:,}; slices: s1 (4 groups), s2 (2), s1 x s2 (8); "
          f"metrics: {len(METRICS)}")
    # The fast timings run back to back first, so they share the machine's state.
    floor = timed(lambda: groupby_floor(df), repeats)
    fp_plain = timed(lambda: fairpanel_audit(df, n_boot=0), repeats)
    fp_boot = timed(lambda: fairpanel_audit(df, n_boot=n_ref), repeats)
    fp_full = timed(lambda: fairpanel_audit(df, n_boot=N_BOOT_FULL), repeats)
    fl_plain = timed(lambda: fairlearn_frames(df, n_boot=None), ref_repeats)
    fl_boot = timed(lambda: fairlearn_frames(df, n_boot=n_ref), args.bootstrap_repeats)
    _line("pandas group-by count (floor)", floor, repeats)
    _line("fairlearn MetricFrame x3, no bootstrap", fl_plain, ref_repeats)
    _line("fairpanel audit, no bootstrap", fp_plain, repeats)
    _line(f"fairlearn MetricFrame x3, n_boot={n_ref}", fl_boot, args.bootstrap_repeats)
    _line(f"fairpanel audit, n_boot={n_ref}", fp_boot, repeats)
    _line(f"fairpanel audit, n_boot={N_BOOT_FULL}", fp_full, repeats)

    diff = max_difference(fairlearn_frames(df, n_boot=None), fairpanel_audit(df, n_boot=0))
    print(f"largest |fairlearn - fairpanel| over all metric values: {diff:.1e}")
    print("ratios:")
    _ratio("MetricFrame / fairpanel, no bootstrap", fl_plain / fp_plain, ">= 50x",
           fl_plain / fp_plain >= 50)
    _ratio(f"MetricFrame / fairpanel, n_boot={n_ref}", fl_boot / fp_boot,
           ">= 1000x", fl_boot / fp_boot >= 1000)
    _ratio(f"fairpanel n_boot={N_BOOT_FULL} / group-by floor", fp_full / floor, "<= 3x",
           fp_full / floor <= 3)
    return 0


def _line(label: str, seconds: float, repeats: int) -> None:
    print(f"  {label:<42} {seconds:10.4f} s  (median of {max(1, repeats)})")


def _ratio(label: str, value: float, target: str, met: bool) -> None:
    print(f"  {label:<48} {value:10.1f}x  target {target:<8} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    raise SystemExit(main())
