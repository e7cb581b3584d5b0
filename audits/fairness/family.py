"""The judged family: simultaneous intervals for every comparison a verdict reads.

A verdict of ``fail`` is a claim that a group is treated differently. An audit makes
many such claims at once (every group against its reference, for every judged metric,
in every slice) and a gate judges summaries that are extremes of noisy estimates (the
impact ratio is the lowest rate over the highest). Per-comparison 95% intervals make
some ``fail`` likely in a fair system: with 40 comparisons the chance that at least one
interval misses its true value is far above 5%, and a percentile bootstrap of a minimum
or maximum does not cover at all (the best group's rate is biased up, the worst's down).

So verdicts read **simultaneous** intervals: Bonferroni over the judged family. With
``m`` intervals in the family, each is computed at level ``1 - (1 - level) / m``; then
with probability at least ``level`` every interval covers its true value together,
whatever the dependence between them, and a fair system gets any ``fail`` with
probability at most ``1 - level``. The intervals are

* for a proportion metric (selection rate, TPR, precision, ...): from Wilson score
  bounds of each group at the adjusted level, combined by the method of variance
  estimates recovery (MOVER): Newcombe's hybrid score interval for a difference, MOVER on
  the log scale for a ratio (the hull of the two Wilson intervals when a count is 0).
  They are analytic, so accurate far in the tail where a percentile bootstrap would need
  tens of thousands of replicates, and they do not collapse at a count of 0;
* for balanced accuracy and ROC AUC: normal intervals at the adjusted level with the
  bootstrap standard error, on the log scale for a ratio (for ROC AUC widened by the
  Wilson-type floor of :func:`~audits.fairness.scores.auc_pair_floor` where a small group
  separates perfectly);
* for the calibration error: the hull of the two groups' bootstrap intervals, each at
  half the pair's miss rate (:func:`~audits.fairness.scores.calibration_pair_interval`),
  since a ratio to a well calibrated reference has no usable bootstrap distribution.

A min/max summary is read from the pairwise intervals of its slice: if every pairwise
ratio ``p_i / p_j`` lies in its interval, the impact ratio (the smallest of them) lies
between the smallest lower bound and the smallest upper bound, and likewise the max-min
spread between the largest lower and upper bounds of the differences. The selection of
the best-off and worst-off groups is thereby part of the family. A summary's own
interval (``ci_low``, ``ci_high``) is simultaneous over its slice's pairs at ``level``;
the interval a verdict reads (``adjusted_ci_low``, ``adjusted_ci_high``) is simultaneous
over the audit's whole judged family. A gate (:mod:`audits.fairness.gate`) is a family
of its own: the comparisons its rules read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats

from audits.fairness.counts import GroupCounts
from audits.fairness.metrics import CONFUSION_METRICS, metric_fraction
from audits.fairness.scores import auc_pair_floor, calibration_pair_interval


class Rule(Protocol):
    """What the family reads of a rule (:class:`audits.fairness.verdicts.Rule`)."""

    @property
    def statistic(self) -> str:
        """``"ratio"`` or ``"difference"``."""

    @property
    def summary(self) -> str | None:
        """The named summary judged, or None for a rule on disparities."""

    def applies_to(self, metric: str) -> bool:
        """Whether the rule judges disparities of ``metric``."""

__all__ = [
    "METHOD",
    "NAMED_SUMMARIES",
    "Inference",
    "family_size",
    "family_z",
    "pair_interval",
    "summary_interval",
]

#: How verdicts are judged, in words, for the configuration and the report's method.
METHOD = (
    "simultaneous intervals over the judged family (Bonferroni: each of the m judged "
    "comparisons at level 1 - (1 - level)/m, so a fair system gets any fail with "
    "probability at most 1 - level); proportions: Wilson score bounds combined by "
    "MOVER (Newcombe's hybrid score interval for differences, log-scale MOVER for "
    "ratios); balanced accuracy and ROC AUC: normal intervals with the bootstrap "
    "standard error (ROC AUC with a Wilson-type floor); calibration error: the hull of "
    "the two groups' bootstrap intervals; "
    "min/max summaries (impact ratio, parity ratios, max-min differences) bounded by the "
    "pairwise intervals of all groups of the slice; pass if the whole simultaneous "
    "interval lies within the rule's bounds, fail if it lies wholly outside, else "
    "insufficient_evidence; small groups are always insufficient_evidence"
)

#: Named summaries: (name, basis metrics, statistic). ``impact_ratio`` is the min/max
#: ratio of the favourable-outcome rate (the four-fifths rule).
NAMED_SUMMARIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("demographic_parity_difference", ("selection_rate",), "difference"),
    ("demographic_parity_ratio", ("selection_rate",), "ratio"),
    ("impact_ratio", ("selection_rate",), "impact"),
    ("equal_opportunity_difference", ("true_positive_rate",), "difference"),
    ("equalized_odds_difference", ("true_positive_rate", "false_positive_rate"), "difference"),
    ("predictive_parity_difference", ("precision",), "difference"),
    ("predictive_parity_ratio", ("precision",), "ratio"),
)

#: Summary statistic kinds read as a ratio.
RATIO_KINDS = ("ratio", "impact")

MSG_FAMILY_SIZE = "family size must be a positive integer, got {value!r}"


@dataclass(frozen=True, eq=False)
class Inference:
    """What an audit's simultaneous intervals are computed from (kept for its gates).

    Attributes
    ----------
    counts : GroupCounts
    values, replicates : dict of str -> ndarray
        Point values per group, and bootstrap replicates (n_boot, n_groups); empty
        replicates mean no bootstrap was run, and then no interval is computed.
    usable : dict of str -> ndarray of bool
        Groups with enough data for a verdict on each metric.
    references : dict of str -> ndarray of int
        The reference group of each group, per metric.
    positive_is_favourable : bool
    level : float
    best_reference : bool
        Whether references were chosen as the best-off group (then every pair of a
        slice is part of the family).
    """

    counts: GroupCounts
    values: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]
    usable: dict[str, np.ndarray]
    references: dict[str, np.ndarray]
    positive_is_favourable: bool
    level: float
    best_reference: bool = False

    @property
    def has_intervals(self) -> bool:
        """Whether intervals can be computed (a bootstrap was run)."""
        return bool(self.replicates)

    def members(self, slice_index: int, metric: str) -> np.ndarray:
        """Usable groups of a slice with a defined value of ``metric``."""
        cols = np.flatnonzero(self.counts.slice_of == slice_index)
        cols = cols[self.usable[metric][cols]]
        out: np.ndarray = cols[np.isfinite(self.values[metric][cols])]
        return out


def family_z(size: int, level: float) -> float:
    """Normal quantile of a two-sided interval at the Bonferroni level for ``size`` intervals.

    Examples
    --------
    >>> round(family_z(1, 0.95), 3), round(family_z(10, 0.95), 3)
    (1.96, 2.807)
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(MSG_FAMILY_SIZE.format(value=size))
    return float(stats.norm.isf((1.0 - level) / (2.0 * size)))


def pair_interval(inf: Inference, metric: str, a: np.ndarray, b: np.ndarray, *,
                  statistic: str, z: float, complement: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Interval of ``metric(a) / metric(b)`` (ratio) or ``metric(a) - metric(b)`` at ``z``.

    ``complement`` compares ``1 - metric`` instead (the favourable outcome's rate when a
    positive decision is adverse). NaN where there is no interval.

    Examples
    --------
    >>> import pandas as pd
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0] * 100, "p": [1] * 60 + [0] * 40 + [1] * 30
    ...                    + [0] * 70, "s": ["a"] * 100 + ["b"] * 100})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> inf = Inference(c, {"selection_rate": np.array([0.6, 0.3])},
    ...                 {"selection_rate": np.zeros((1, 2))}, {}, {}, True, 0.95)
    >>> lo, hi = pair_interval(inf, "selection_rate", np.array([1]), np.array([0]),
    ...                        statistic="ratio", z=1.96)
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.354, 0.695)
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if not inf.has_intervals:
        nan = np.full(len(a), np.nan)
        return nan, nan.copy()
    spec = CONFUSION_METRICS.get(metric)
    if spec is not None and spec.is_fraction:
        num, den = metric_fraction(inf.counts.cells, metric)
        if complement:
            num = den - num
        x1, n1, x2, n2 = num[a], den[a], num[b], den[b]
        if statistic == "ratio":
            return _ratio_mover(x1, n1, x2, n2, z)
        return _difference_newcombe(x1, n1, x2, n2, z)
    if metric == "expected_calibration_error" and metric in inf.replicates:
        # The hull of the two groups' intervals (a ratio to a well calibrated reference
        # has no usable bootstrap distribution); each group at half the pair's miss rate.
        z_group = float(stats.norm.isf(stats.norm.sf(z) / 2.0))
        return calibration_pair_interval(inf.replicates[metric], a, b, statistic=statistic,
                                         z=z_group)
    low, high = _normal_bootstrap(inf, metric, a, b, statistic=statistic, z=z)
    if metric == "roc_auc":
        cells = inf.counts.cells
        return auc_pair_floor(inf.values[metric], cells[:, 0] + cells[:, 2],
                              cells[:, 1] + cells[:, 3], a, b, low, high,
                              statistic=statistic, z=z)
    return low, high


def summary_interval(inf: Inference, slice_index: int, basis: Sequence[str], kind: str, *,
                     z: float | None) -> tuple[float, float, int]:
    """Bounds of a min/max summary of one slice from all pairwise intervals.

    ``kind`` is ``"difference"`` (max - min), ``"ratio"`` (min / max) or ``"impact"``
    (min / max of the favourable outcome's rate). Over several basis metrics the worst
    one counts (the largest spread, the smallest ratio). Returns ``(low, high, n_pairs)``
    where ``n_pairs`` is the number of pairwise intervals read; ``z=None`` means "the
    Bonferroni level for exactly those pairs".

    Examples
    --------
    >>> import pandas as pd
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0] * 100, "p": [1] * 60 + [0] * 40 + [1] * 30
    ...                    + [0] * 70, "s": ["a"] * 100 + ["b"] * 100})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> inf = Inference(c, {"selection_rate": np.array([0.6, 0.3])},
    ...                 {"selection_rate": np.zeros((1, 2))},
    ...                 {"selection_rate": np.array([True, True])}, {}, True, 0.95)
    >>> low, high, pairs = summary_interval(inf, 0, ["selection_rate"], "impact", z=None)
    >>> round(low, 3), round(high, 3), pairs
    (0.354, 0.695, 1)
    """
    pairs = {m: _pairs(inf.members(slice_index, m)) for m in basis}
    n_pairs = sum(len(p[0]) for p in pairs.values())
    if n_pairs == 0 or not inf.has_intervals:
        return float("nan"), float("nan"), n_pairs
    z_used = family_z(n_pairs, inf.level) if z is None else z
    complement = kind == "impact" and not inf.positive_is_favourable
    lows, highs = [], []
    for metric, (a, b) in pairs.items():
        if len(a) == 0:
            continue
        statistic = "ratio" if kind in RATIO_KINDS else "difference"
        lo, hi = pair_interval(inf, metric, a, b, statistic=statistic, z=z_used,
                               complement=complement)
        if np.isnan(lo).any() or np.isnan(hi).any():
            return float("nan"), float("nan"), n_pairs
        if statistic == "ratio":
            # p_a/p_b in [lo, hi] and p_b/p_a in [1/hi, 1/lo]; min/max is the least of them.
            with np.errstate(divide="ignore"):
                lows.append(min(1.0, float(np.min(np.minimum(lo, 1.0 / hi)))))
                highs.append(min(1.0, float(np.min(np.minimum(hi, 1.0 / lo)))))
        else:
            lows.append(max(0.0, float(np.max(np.maximum(lo, -hi)))))
            highs.append(max(0.0, float(np.max(np.maximum(hi, -lo)))))
    if not lows:
        return float("nan"), float("nan"), n_pairs
    if kind in RATIO_KINDS:
        return min(lows), min(highs), n_pairs
    return max(lows), max(highs), n_pairs


def family_size(inf: Inference, rules: Iterable[Rule]) -> int:
    """Number of intervals the verdicts of ``rules`` read (at least 1).

    A rule on a metric's ratio or difference reads one interval per eligible
    (group, reference) comparison; with best-off references, every pair of usable groups
    of the slice counts, since the reference was chosen by the data. A rule on a
    summary reads every pair of usable groups of each slice, for each basis metric.
    The same comparison read by two rules counts once.

    Examples
    --------
    >>> import pandas as pd
    >>> from audits.fairness.counts import count_groups
    >>> from audits.fairness.verdicts import parse_rule
    >>> df = pd.DataFrame({"y": [1, 0] * 90, "p": [1, 0, 0] * 60, "s": list("abc") * 60})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> inf = Inference(c, {"selection_rate": np.array([0.5, 0.3, 0.2])}, {},
    ...                 {"selection_rate": np.array([True, True, True])},
    ...                 {"selection_rate": np.array([0, 0, 0])}, True, 0.95)
    >>> family_size(inf, [parse_rule("impact_ratio<0.8")])
    3
    >>> family_size(inf, [parse_rule("selection_rate_ratio<0.8")])
    2
    """
    kinds = {name: (basis, kind) for name, basis, kind in NAMED_SUMMARIES}
    keys: set[tuple[object, ...]] = set()
    n_slices = len(inf.counts.slices)
    for rule in rules:
        if rule.summary is not None:
            basis, kind = kinds[rule.summary]
            for s, metric in itertools.product(range(n_slices), basis):
                keys.update(_pair_keys(inf, s, metric, kind))
            continue
        for metric in inf.values:
            if not rule.applies_to(metric) or metric not in inf.references:
                continue
            ref = inf.references[metric]
            ok = inf.usable[metric] & inf.usable[metric][ref] & (ref != np.arange(len(ref)))
            for gid in np.flatnonzero(ok):
                if inf.best_reference:
                    keys.update(_pair_keys(inf, int(inf.counts.slice_of[gid]), metric,
                                           rule.statistic))
                else:
                    keys.add((metric, rule.statistic, *sorted((int(gid), int(ref[gid])))))
    return max(1, len(keys))


def _pair_keys(inf: Inference, index: int, metric: str, kind: str
               ) -> set[tuple[object, ...]]:
    statistic = "difference" if kind == "difference" else "ratio"
    if kind == "impact" and not inf.positive_is_favourable:
        statistic = "impact"  # the favourable outcome's rate: another comparison
    a, b = _pairs(inf.members(index, metric))
    return {(metric, statistic, int(i), int(j)) for i, j in zip(a, b, strict=True)}


def _pairs(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    combos = list(itertools.combinations(members.tolist(), 2))
    if not combos:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    a, b = zip(*combos, strict=True)
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


def _wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    x, n = np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z**2 / (4.0 * n**2)) / denom
    ok = n > 0
    low = np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan)
    # At the extremes the score bounds are exactly 0 or 1; keep them there.
    low = np.where(ok & (x == 0), 0.0, low)
    high = np.where(ok & (x == n), 1.0, high)
    return low, high


def _difference_newcombe(x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray,
                         z: float) -> tuple[np.ndarray, np.ndarray]:
    l1, u1 = _wilson(x1, n1, z)
    l2, u2 = _wilson(x2, n2, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return np.maximum(low, -1.0), np.minimum(high, 1.0)


def _ratio_mover(x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray,
                 z: float) -> tuple[np.ndarray, np.ndarray]:
    l1, u1 = _wilson(x1, n1, z)
    l2, u2 = _wilson(x2, n2, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        # MOVER on log p: Wilson bounds of each log-rate recovered into a variance.
        inner = (p1 > 0) & (p2 > 0)
        lp1, lp2 = np.log(np.where(inner, p1, 1.0)), np.log(np.where(inner, p2, 1.0))
        ll1, lu1 = np.log(np.where(inner, l1, 1.0)), np.log(np.where(inner, u1, 1.0))
        ll2, lu2 = np.log(np.where(inner, l2, 1.0)), np.log(np.where(inner, u2, 1.0))
        log_low = lp1 - lp2 - np.sqrt((lp1 - ll1) ** 2 + (lu2 - lp2) ** 2)
        log_high = lp1 - lp2 + np.sqrt((lu1 - lp1) ** 2 + (lp2 - ll2) ** 2)
        # A count of 0: the hull of the two Wilson intervals (0 / 0 gives [0, inf]).
        hull_low = np.where(u2 > 0, l1 / np.where(u2 > 0, u2, 1.0), 0.0)
        hull_high = np.where(l2 > 0, u1 / np.where(l2 > 0, l2, 1.0), np.inf)
    ok = (n1 > 0) & (n2 > 0)
    low = np.where(inner, np.exp(log_low), hull_low)
    high = np.where(inner, np.exp(log_high), hull_high)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def _normal_bootstrap(inf: Inference, metric: str, a: np.ndarray, b: np.ndarray, *,
                      statistic: str, z: float) -> tuple[np.ndarray, np.ndarray]:
    reps = inf.replicates.get(metric)
    values = inf.values[metric]
    nan = np.full(len(a), np.nan)
    if reps is None:
        return nan, nan.copy()
    va, vb = values[a], values[b]
    ra, rb = reps[:, a], reps[:, b]
    with np.errstate(divide="ignore", invalid="ignore"):
        if statistic == "ratio":
            point = np.log(va / vb)
            boot = np.log(ra / rb)
        else:
            point, boot = va - vb, ra - rb
    finite = np.isfinite(boot)
    count = finite.sum(axis=0)
    enough = (count >= 0.5 * len(boot)) & (count >= 2)
    boot = np.where(finite, boot, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = boot.sum(axis=0) / count
        se = np.sqrt((np.where(finite, boot - mean, 0.0) ** 2).sum(axis=0) / (count - 1))
    ok = enough & np.isfinite(point) & np.isfinite(se)
    low = np.where(ok, point - z * se, np.nan)
    high = np.where(ok, point + z * se, np.nan)
    if statistic == "ratio":
        return np.exp(low), np.exp(high)
    return low, high
