"""Benchmark: small-sample behaviour of calibration verdicts, proportion and AUC intervals.

Four studies, each printed as a table, old method ("before") next to the current one:

1. **Calibration verdicts under the null and against a miscalibration.** Two groups with
   perfectly calibrated scores (labels drawn with the score as probability) of sizes
   12,000 vs 150, 1,000 vs 100 and 200 vs 200, scores from several distributions. Before:
   the plug-in binned l1 error, uncentred bootstrap, percentile ratio interval. Now: the
   audit itself (debiased error of Kumar, Liang & Ma 2019, recentred replicates, hull
   intervals). Prints the share of simulated audits whose calibration disparity is
   judged ``fail`` under the default rule (ratio within [0.8, 1.25]) and under
   ``|difference| <= 0.05``; then the same with the smaller group's scores shifted up by
   0.1 (power).
2. **Coverage of a proportion's 95% interval with few events**: n = 300 at p = 0.0125
   (selection rate) and a false positive rate of 0.02 (300 negatives); before: percentile
   bootstrap widened by Wilson only at 0 or n events; now: Wilson floor below 10 events.
   Also the difference to a large reference group (Newcombe floor).
3. **AUC intervals at small n**: the interval of a perfectly separating group of 13 and
   the coverage at 6 positives and 7 negatives (binormal scores, true AUC 0.9).
4. **Minimum detectable differences**: the old formula against the capped one.

    python benchmarks/small_n_intervals.py            # the figures of the report
    python benchmarks/small_n_intervals.py --quick    # fewer simulations
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audits.fairness.audit import audit_counts  # noqa: E402
from audits.fairness.counts import GroupCounts, count_groups  # noqa: E402
from audits.fairness.disparities import compare  # noqa: E402
from audits.fairness.intervals import (  # noqa: E402
    bootstrap_counts,
    few_events,
    newcombe_difference,
    percentile_interval,
    resample_histogram,
    wilson_interval,
)
from audits.fairness.metrics import confusion_metrics  # noqa: E402
from audits.fairness.scores import (  # noqa: E402
    auc_interval_floor,
    calibration_bins,
    expected_calibration_error,
    roc_auc,
)
from audits.fairness.significance import min_detectable_difference  # noqa: E402
from audits.fairness.verdicts import FAIL, difference_rule, judge, ratio_rule  # noqa: E402

#: Score distributions of the calibration study: name -> sampler of true probabilities.
DISTRIBUTIONS = {
    "uniform": lambda rng, n: rng.random(n),
    "beta(2,5)": lambda rng, n: rng.beta(2.0, 5.0, n),
    "beta(0.5,0.5)": lambda rng, n: rng.beta(0.5, 0.5, n),
    "rare beta(1,12)": lambda rng, n: rng.beta(1.0, 12.0, n),
}
SIZES = ((12_000, 150), (1_000, 100), (200, 200))
RULES = (ratio_rule(0.8), difference_rule(0.05))


def calibrated_groups(rng: np.random.Generator, sizes: tuple[int, int], dist: str,
                      shift: float = 0.0) -> GroupCounts:
    """Two groups (``a`` large, ``b`` small); ``b``'s scores shifted by ``shift``."""
    parts = []
    for name, n, move in (("a", sizes[0], 0.0), ("b", sizes[1], shift)):
        p = DISTRIBUTIONS[dist](rng, n)
        y = (rng.random(n) < p).astype(int)
        score = np.clip(p + move, 0.0, 1.0)
        parts.append(pd.DataFrame({"g": name, "y": y, "score": score,
                                   "p": (score >= 0.5).astype(int)}))
    frame = pd.concat(parts, ignore_index=True)
    return count_groups(frame, y_true="y", y_pred="p", sensitive_features="g", y_score="score")


def calibration_verdicts_before(counts: GroupCounts, *, n_boot: int, seed: int,
                                min_n: int = 30) -> list[str]:
    """The previous method: plug-in l1 error, uncentred replicates, percentile ratio."""
    hist = counts.scores
    assert hist is not None
    bins = calibration_bins(hist)
    value = expected_calibration_error(hist.counts, hist.sums, bins, debiased=False)
    means = np.where(hist.counts > 0, hist.sums / np.maximum(hist.counts, 1), 0.0)
    rng = np.random.default_rng(seed)
    reps = np.empty((n_boot, len(value)))
    for g in range(len(value)):
        draws = resample_histogram(hist.counts[g], n_boot=n_boot, random_state=rng)
        reps[:, g] = expected_calibration_error(draws, draws * means[g], bins, debiased=False)
    ref = np.array([0, 0])  # the largest group, a
    boot_diff, boot_ratio = compare(reps, ref)
    d_lo, d_hi = percentile_interval(boot_diff[:, [1]])
    r_lo, r_hi = percentile_interval(boot_ratio[:, [1]])
    if counts.groups["n"].min() < min_n:
        return ["insufficient_evidence"] * len(RULES)
    return [str(judge(r_lo, r_hi, RULES[0])[0]), str(judge(d_lo, d_hi, RULES[1])[0])]


def calibration_verdicts_now(counts: GroupCounts, *, n_boot: int, seed: int) -> list[str]:
    """The audit's own verdicts of b's calibration disparity, one audit per rule."""
    out = []
    for rule in RULES:
        audit = audit_counts(counts, metrics=["expected_calibration_error"], rules=[rule],
                             n_boot=n_boot, random_state=seed)
        out.append(str(audit.verdicts["verdict"].iloc[0]))
    return out


def calibration_study(n_sims: int, n_boot: int, *, sizes: Sequence[tuple[int, int]] = SIZES,
                      dists: Sequence[str] = tuple(DISTRIBUTIONS), shift: float = 0.0,
                      seed: int = 0) -> pd.DataFrame:
    """Share of ``fail`` per (sizes, distribution) before and now, per rule."""
    rows = []
    for size in sizes:
        for dist in dists:
            rng = np.random.default_rng([seed, size[0], size[1], len(dist), int(shift * 100)])
            before, now = [], []
            for i in range(n_sims):
                counts = calibrated_groups(rng, size, dist, shift)
                before.append(calibration_verdicts_before(counts, n_boot=n_boot, seed=i))
                now.append(calibration_verdicts_now(counts, n_boot=n_boot, seed=i))
            b, a = np.asarray(before) == FAIL, np.asarray(now) == FAIL
            rows.append({"sizes": f"{size[0]} vs {size[1]}", "scores": dist,
                         "before ratio": b[:, 0].mean(), "now ratio": a[:, 0].mean(),
                         "before |d|<=.05": b[:, 1].mean(), "now |d|<=.05": a[:, 1].mean()})
    return pd.DataFrame(rows)


def proportion_coverage(n: int, p: float, *, n_sims: int, n_boot: int, ref_n: int = 5_000,
                        seed: int = 0) -> dict[str, float]:
    """Coverage of a proportion's interval and of its difference to a large reference.

    The group has ``n`` trials at rate ``p``; the reference ``ref_n`` at ``2 p``.
    """
    rng = np.random.default_rng(seed)
    cover = {"single before": 0, "single now": 0, "difference before": 0,
             "difference now": 0}
    q = 2 * p
    for i in range(n_sims):
        x, xr = rng.binomial(n, p), rng.binomial(ref_n, q)
        cells = np.array([[x, 0, 0, n - x], [xr, 0, 0, ref_n - xr]])  # rate = tp / n
        reps = bootstrap_counts(cells, n_boot=n_boot, random_state=i)
        rate = confusion_metrics(reps, metrics=["selection_rate"])["selection_rate"]
        lo, hi = percentile_interval(rate)
        num, den = np.array([x, xr]), np.array([n, ref_n])
        w_lo, w_hi = wilson_interval(num, den)
        zero = (num == 0) | (num == den)
        few = few_events(num, den)
        est = num / den
        for label, edge in (("before", zero), ("now", few)):
            s_lo = np.where(edge, np.fmin(lo, w_lo), lo)[0]
            s_hi = np.where(edge, np.fmax(hi, w_hi), hi)[0]
            cover[f"single {label}"] += s_lo <= p <= s_hi
        d_lo, d_hi = percentile_interval(rate[:, [0]] - rate[:, [1]])
        if zero.any():  # before: the hull of the Wilson bounds only at 0 or n events
            d_lo, d_hi = np.fmin(d_lo, w_lo[0] - w_hi[1]), np.fmax(d_hi, w_hi[0] - w_lo[1])
        cover["difference before"] += d_lo[0] <= p - q <= d_hi[0]
        d_lo, d_hi = percentile_interval(rate[:, [0]] - rate[:, [1]])
        if few.any():
            n_lo, n_hi = newcombe_difference(est[0], w_lo[0], w_hi[0], est[1], w_lo[1], w_hi[1])
            d_lo, d_hi = np.fmin(d_lo, n_lo), np.fmax(d_hi, n_hi)
        cover["difference now"] += d_lo[0] <= p - q <= d_hi[0]
    return {k: v / n_sims for k, v in cover.items()}


def auc_small_n(*, n_sims: int, n_boot: int, n_pos: int = 6, n_neg: int = 7,
                auc: float = 0.9, seed: int = 0) -> dict[str, float]:
    """Coverage of the AUC interval (bootstrap alone vs with the floor), binormal scores."""
    rng = np.random.default_rng(seed)
    shift = np.sqrt(2.0) * stats.norm.ppf(auc)
    cover_before = cover_now = collapsed_before = collapsed_now = 0
    for _ in range(n_sims):
        pos, neg = rng.normal(shift, 1.0, n_pos), rng.normal(0.0, 1.0, n_neg)
        order = np.argsort(np.r_[neg, pos])
        label = np.r_[np.zeros(n_neg), np.ones(n_pos)][order]
        hist = np.stack([(label == 0).astype(int), (label == 1).astype(int)])
        value = roc_auc(hist)
        draws = resample_histogram(hist, n_boot=n_boot, random_state=rng)
        lo, hi = percentile_interval(roc_auc(draws)[:, None])
        f_lo, f_hi, _ = auc_interval_floor(np.array([value]), lo, hi, np.array([n_pos]),
                                           np.array([n_neg]))
        cover_before += lo[0] <= auc <= hi[0]
        cover_now += f_lo[0] <= auc <= f_hi[0]
        collapsed_before += lo[0] == hi[0]
        collapsed_now += f_lo[0] == f_hi[0]
    return {"coverage before": cover_before / n_sims, "coverage now": cover_now / n_sims,
            "collapsed before": collapsed_before / n_sims,
            "collapsed now": collapsed_now / n_sims}


def old_mdd(n1: np.ndarray, n2: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """The previous formula: pooled variance of p0 (0.5 at 0 or 1), never capped."""
    p = np.where((p0 > 0) & (p0 < 1), p0, 0.5)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    return np.asarray(z * np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the four studies and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulations")
    parser.add_argument("--sims", type=int, default=None, help="simulations per cell")
    parser.add_argument("--power-sims", type=int, default=None,
                        help="simulations per cell of the power table (default: --sims)")
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--skip-calibration", action="store_true",
                        help="only the interval and detectable-difference studies (2-4)")
    args = parser.parse_args(argv)
    sims = args.sims or (40 if args.quick else 400)
    pd.set_option("display.width", 120)
    pd.set_option("display.float_format", "{:.3f}".format)

    if not args.skip_calibration:
        print(f"1. Calibration: share of audits judging b's calibration 'fail' "
              f"({sims} simulations per row, n_boot={args.n_boot})")
        print("   a) both groups perfectly calibrated (null): should be <= 0.05", flush=True)
        print(calibration_study(sims, args.n_boot).to_string(index=False), flush=True)
        power_sims = args.power_sims or sims
        print(f"   b) b's scores shifted up by 0.1 (power; {power_sims} simulations per row)")
        print(calibration_study(power_sims, args.n_boot, shift=0.1,
                                sizes=(*SIZES, (12_000, 1_000))).to_string(index=False),
              flush=True)

    print(f"\n2. Coverage of 95% intervals of a proportion with few events "
          f"({sims * 5} simulations, n_boot={args.n_boot})")
    for label, n, p in (("selection rate, n=300, p=0.0125", 300, 0.0125),
                        ("false positive rate, 300 negatives, p=0.02", 300, 0.02),
                        ("selection rate, n=100, p=0.05", 100, 0.05)):
        cov = proportion_coverage(n, p, n_sims=sims * 5, n_boot=args.n_boot)
        print(f"   {label}: " + ", ".join(f"{k} {v:.3f}" for k, v in cov.items()))

    print("\n3. AUC at small n")
    block = np.array([[7, 0], [0, 6]])  # 7 negatives below 6 positives: AUC 1, n = 13
    draws = resample_histogram(block, n_boot=args.n_boot, random_state=np.random.default_rng(0))
    lo, hi = percentile_interval(roc_auc(draws)[:, None])
    f_lo, f_hi, _ = auc_interval_floor(np.array([1.0]), lo, hi, np.array([6]), np.array([7]))
    print(f"   perfectly separated, 6 positives and 7 negatives: before "
          f"[{lo[0]:.3f}, {hi[0]:.3f}], now [{f_lo[0]:.3f}, {f_hi[0]:.3f}]")
    res = auc_small_n(n_sims=sims * 5, n_boot=args.n_boot)
    print("   binormal, true AUC 0.9, 6 positives and 7 negatives: "
          + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))

    print("\n4. Minimum detectable difference (alpha 0.05, power 0.8)")
    n1 = np.array([3, 5, 10, 13, 20, 50, 300, 1000])
    n2 = np.array([3, 5, 10, 13, 20, 2000, 3000, 1000])
    p0 = np.array([0.5, 0.5, 0.0, 1.0, 0.3, 0.0, 0.02, 0.3])
    table = pd.DataFrame({"n group": n1, "n reference": n2, "p0": p0,
                          "before": old_mdd(n1, n2, p0),
                          "now": min_detectable_difference(n1, n2, p0)})
    print(table.to_string(index=False, na_rep="not detectable"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
