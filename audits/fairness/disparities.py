"""Disparities between groups: reference groups, differences, ratios and summaries.

Within each slice (a sensitive feature, or an intersection of several) every group is
compared with one reference group of the same slice:

* ``"largest"`` (default): the group with the most rows (ties: more true positives,
  false positives, ...; then the first in value order);
* a mapping ``{feature: value}``: in each slice that holds the named features, the
  largest group with those values; slices without them use the largest group;
* ``"best"``: per metric, the eligible group with the most favourable value (highest
  TPR, lowest FPR, ...; for selection rate and prevalence, highest when a positive
  decision is favourable to the person, else lowest).

The difference is ``metric(group) - metric(reference)``, the ratio
``metric(group) / metric(reference)`` (NaN when the reference's value is 0).
Summaries per slice compare the eligible groups: the max-min spread, the min/max ratio
and fairlearn's named summaries.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from audits.fairness.counts import CELLS, GroupCounts
from audits.fairness.intervals import percentile_interval
from audits.fairness.metrics import spec_of

__all__ = [
    "NAMED_SUMMARIES",
    "Reference",
    "best_references",
    "check_reference",
    "compare",
    "direction",
    "fixed_references",
    "summarize",
]

Reference = str | Mapping[str, object] | None

MSG_REFERENCE_KIND = (
    "reference must be 'largest', 'best' or a mapping feature -> value, got {value!r}"
)
MSG_REFERENCE_FEATURE = "reference names {feature!r}, which is not a sensitive feature ({features})"
MSG_REFERENCE_VALUE = (
    "reference {feature}={value!r} is not a group; values of {feature!r}: {values}"
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


def check_reference(counts: GroupCounts, reference: Reference) -> None:
    """Raise ``ValueError`` if ``reference`` names no feature or value of ``counts``.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0], "p": [1, 1], "s": ["a", "b"]})
    >>> check_reference(count_groups(df, y_true="y", y_pred="p", sensitive_features="s"),
    ...                 {"s": "c"})
    Traceback (most recent call last):
    ...
    ValueError: reference s='c' is not a group; values of 's': 'a', 'b'
    """
    if reference is None or reference in ("largest", "best"):
        return
    if not isinstance(reference, Mapping):
        raise ValueError(MSG_REFERENCE_KIND.format(value=reference))
    g = counts.groups
    for feature, value in reference.items():
        if feature not in counts.features:
            raise ValueError(MSG_REFERENCE_FEATURE.format(
                feature=feature, features=", ".join(counts.features)))
        present = g.loc[g["slice"] == feature, feature].tolist()
        if str(value) not in present:
            raise ValueError(MSG_REFERENCE_VALUE.format(
                feature=feature, value=str(value), values=", ".join(map(repr, present))))


def fixed_references(counts: GroupCounts, reference: Reference = None) -> np.ndarray:
    """Return, for every group, the id of its slice's reference group.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0, 1], "p": [1, 1, 0], "s": ["a", "b", "b"]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> fixed_references(c).tolist(), fixed_references(c, {"s": "a"}).tolist()
    ([1, 1], [0, 0])
    """
    check_reference(counts, reference)
    g = counts.groups
    mapping = reference if isinstance(reference, Mapping) else {}
    out = np.empty(len(g), dtype=np.int64)
    for members in _slice_members(counts):
        candidates = members
        for feature, value in mapping.items():
            if g[feature].iloc[members[0]] is not None:
                matched = members[g[feature].to_numpy()[members] == str(value)]
                candidates = np.intersect1d(candidates, matched)
        out[members] = _largest(counts, candidates if len(candidates) else members)
    return out


def best_references(
    counts: GroupCounts, values: np.ndarray, usable: np.ndarray, *, higher_is_better: bool
) -> np.ndarray:
    """Return, for every group, the best-off usable group of its slice for one metric.

    Slices with no usable group fall back to groups with a defined value, then to the
    largest group.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0, 1], "p": [1, 1, 0], "s": ["a", "b", "b"]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> best_references(c, np.array([0.2, 0.5]), np.array([True, True]),
    ...                 higher_is_better=False).tolist()
    [0, 0]
    """
    out = np.empty(len(values), dtype=np.int64)
    for members in _slice_members(counts):
        pool = members[usable[members] & np.isfinite(values[members])]
        if len(pool) == 0:
            pool = members[np.isfinite(values[members])]
        if len(pool) == 0:
            out[members] = _largest(counts, members)
            continue
        vals = values[pool] if higher_is_better else -values[pool]
        best = pool[vals == vals.max()]
        out[members] = _largest(counts, best)
    return out


def compare(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Differences and ratios of each group to its reference (last axis is groups).

    Examples
    --------
    >>> d, r = compare(np.array([0.2, 0.4, 0.0]), np.array([1, 1, 1]))
    >>> d.round(2).tolist(), r.round(2).tolist()
    ([-0.2, 0.0, -0.4], [0.5, 1.0, 0.0])
    """
    ref = values[..., reference]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref != 0, values / np.where(ref != 0, ref, 1.0), np.nan)
    return values - ref, np.where(np.isnan(ref), np.nan, ratio)


def summarize(
    counts: GroupCounts,
    values: Mapping[str, np.ndarray],
    replicates: Mapping[str, np.ndarray] | None,
    usable: Mapping[str, np.ndarray],
    *,
    level: float = 0.95,
    positive_is_favourable: bool = True,
) -> pd.DataFrame:
    """Summaries per slice over its usable groups, with percentile intervals.

    For every metric, ``max_min_difference`` (max - min) and ``min_max_ratio``
    (min / max); then the named summaries of :data:`NAMED_SUMMARIES` whose metrics were
    computed. Only groups usable for the metric (enough data, defined value) count;
    with fewer than two the summary is NaN. The interval of a spread is biased upward
    in small groups (the max of noisy values); read it as indicative.

    Returns
    -------
    pandas.DataFrame
        ``slice, summary, metric, value, ci_low, ci_high, n_groups``.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0, 1, 0], "p": [1, 1, 1, 0], "s": list("aabb")})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> s = summarize(c, {"selection_rate": np.array([1.0, 0.5])}, None,
    ...               {"selection_rate": np.array([True, True])})
    >>> s.loc[s["summary"] == "impact_ratio", ["slice", "value"]]
      slice  value
    4     s    0.5
    """
    rows: list[dict[str, object]] = []
    slices = [" & ".join(s) for s in counts.slices]
    for label, members in zip(slices, _slice_members(counts), strict=True):
        stats: dict[tuple[str, str], tuple[float, np.ndarray | None, int]] = {}
        for metric in values:
            for kind in ("difference", "ratio", "impact"):
                if kind == "impact" and metric != "selection_rate":
                    continue
                reps = None if replicates is None else replicates[metric]
                stats[metric, kind] = _spread(values[metric], reps,
                                              members[usable[metric][members]], kind,
                                              positive_is_favourable)
        for metric in values:
            for kind, name in (("difference", "max_min_difference"), ("ratio", "min_max_ratio")):
                rows.append(_row(label, name, metric, stats[metric, kind], level))
        for name, basis, kind in NAMED_SUMMARIES:
            if all(m in values for m in basis):
                parts = [stats[m, kind] for m in basis]
                rows.append(_row(label, name, ",".join(basis), _worst(parts), level))
    return pd.DataFrame(rows, columns=["slice", "summary", "metric", "value", "ci_low",
                                       "ci_high", "n_groups"])


def _slice_members(counts: GroupCounts) -> list[np.ndarray]:
    of = counts.slice_of
    return [np.flatnonzero(of == i) for i in range(len(counts.slices))]


def _largest(counts: GroupCounts, members: np.ndarray) -> int:
    g = counts.groups
    keys = [g[c].to_numpy()[members] for c in ("n", *CELLS)]
    # lexsort sorts by the last key first; stable, so ties keep value order.
    order = np.lexsort([-k for k in reversed(keys)])
    return int(members[order[0]])


def _spread(values: np.ndarray, reps: np.ndarray | None, cols: np.ndarray, kind: str,
            favourable: bool) -> tuple[float, np.ndarray | None, int]:
    cols = cols[np.isfinite(values[cols])]
    if len(cols) < 2:
        return float("nan"), None, len(cols)
    point = _stat(values[cols][None, :], kind, favourable)[0]
    boot = None if reps is None else _stat(reps[:, cols], kind, favourable)
    return float(point), boot, len(cols)


def _stat(x: np.ndarray, kind: str, favourable: bool) -> np.ndarray:
    if kind == "impact" and not favourable:
        x = 1.0 - x
    high, low = np.fmax.reduce(x, axis=1), np.fmin.reduce(x, axis=1)
    if kind == "difference":
        return np.asarray(high - low)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(high > 0, low / np.where(high > 0, high, 1.0), np.nan))


def _worst(parts: list[tuple[float, np.ndarray | None, int]]) -> tuple[float, np.ndarray | None,
                                                                         int]:
    if len(parts) == 1:
        return parts[0]
    point = float(np.fmax.reduce([p[0] for p in parts]))
    reps = [p[1] for p in parts if p[1] is not None]
    boot = np.fmax.reduce(np.stack(reps), axis=0) if len(reps) == len(parts) else None
    return point, boot, min(p[2] for p in parts)


def _row(label: str, name: str, metric: str, stat: tuple[float, np.ndarray | None, int],
         level: float) -> dict[str, object]:
    point, boot, n_groups = stat
    low = high = float("nan")
    if boot is not None and not np.isnan(point):
        lo, hi = percentile_interval(boot[:, None], level=level)
        low, high = float(lo[0]), float(hi[0])
    return {"slice": label, "summary": name, "metric": metric, "value": point,
            "ci_low": low, "ci_high": high, "n_groups": n_groups}


def direction(metric: str, *, positive_is_favourable: bool) -> bool:
    """Return whether a higher value of ``metric`` is better off for the group.

    Examples
    --------
    >>> direction("false_positive_rate", positive_is_favourable=True)
    False
    """
    better = spec_of(metric).higher_is_better
    return positive_is_favourable if better is None else better
