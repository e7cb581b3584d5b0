"""Disparities between groups: reference groups, differences, ratios and summaries.

Within each slice (a sensitive feature, or an intersection of several) every group is
compared with one reference group of the same slice:

* ``"largest"`` (default): the group with the most rows (ties: the first in value
  order; never a rule that reads outcomes, so the reference does not depend on them);
* a mapping ``{feature: value}``: in each slice that holds the named features, the
  largest group with those values; slices without them use the largest group;
* ``"best"``: per metric, the eligible group with the most favourable value (highest
  TPR, lowest FPR, ...; for selection rate and prevalence, highest when a positive
  decision is favourable to the person, else lowest).

The difference is ``metric(group) - metric(reference)``, the ratio
``metric(group) / metric(reference)`` (NaN when the reference's value is 0).
Summaries per slice compare the eligible groups: the max-min spread, the min/max ratio
and fairlearn's named summaries (each also over every group, as fairlearn computes it:
``value_all_groups``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audits.fairness.counts import GroupCounts
from audits.fairness.family import NAMED_SUMMARIES, Inference, summary_interval
from audits.fairness.metrics import spec_of

__all__ = [
    "NAMED_SUMMARIES",
    "SUMMARY_COLUMNS",
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
    adjusted_z: float | None = None,
) -> pd.DataFrame:
    """Summaries per slice over its usable groups, with intervals valid for extremes.

    For every metric, ``max_min_difference`` (max - min) and ``min_max_ratio``
    (min / max); then the named summaries of :data:`NAMED_SUMMARIES` whose metrics were
    computed. Only groups usable for the metric (enough data, defined value) count;
    with fewer than two the summary is NaN. The value is the plain statistic (the
    number a regulation prints); its interval ``ci_low, ci_high`` is bounded by
    simultaneous intervals of every pair of groups of the slice (see
    :mod:`audits.fairness.family`), so it covers although the statistic is an extreme
    of noisy estimates. ``adjusted_ci_low, adjusted_ci_high`` use the normal quantile
    ``adjusted_z`` of the audit's judged family (NaN when not given); verdicts read them.
    No interval without bootstrap replicates.

    The summaries carry fairlearn's names but ``value`` is over the groups large enough
    to judge (``groups`` says ``"eligible"``); ``value_all_groups`` is the same statistic
    over every group of the slice with a defined value (``n_groups_all`` of them), which
    is what fairlearn's ``demographic_parity_difference``, ``equalized_odds_difference``
    and so on compute (fairlearn scores an undefined rate, e.g. TPR in a group with no
    positives, as 0 with a warning; here that group is left out).

    Returns
    -------
    pandas.DataFrame
        ``slice, summary, metric, value, ci_low, ci_high, n_groups, adjusted_ci_low,
        adjusted_ci_high, n_pairs, lowest_group, highest_group, groups,
        value_all_groups, n_groups_all``: ``n_pairs`` pairwise intervals bound the
        summary; the lowest and highest groups are those of the point value (of the
        worst basis metric).

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0, 1, 0], "p": [1, 1, 1, 0], "s": list("aabb")})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> s = summarize(c, {"selection_rate": np.array([1.0, 0.5])}, None,
    ...               {"selection_rate": np.array([True, True])})
    >>> s.loc[s["summary"] == "impact_ratio", ["slice", "value", "lowest_group"]]
      slice  value lowest_group
    4     s    0.5            b
    """
    inf = Inference(counts, dict(values), dict(replicates or {}), dict(usable), {},
                    positive_is_favourable, level)
    rows: list[dict[str, object]] = []
    slices = [" & ".join(s) for s in counts.slices]
    for index, label in enumerate(slices):
        for metric in values:
            for kind, name in (("difference", "max_min_difference"), ("ratio", "min_max_ratio")):
                rows.append(_summary_row(inf, index, label, name, (metric,), kind, adjusted_z))
        for name, basis, kind in NAMED_SUMMARIES:
            if all(m in values for m in basis):
                rows.append(_summary_row(inf, index, label, name, basis, kind, adjusted_z))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


#: Columns of :func:`summarize`.
SUMMARY_COLUMNS = ("slice", "summary", "metric", "value", "ci_low", "ci_high", "n_groups",
                   "adjusted_ci_low", "adjusted_ci_high", "n_pairs", "lowest_group",
                   "highest_group", "groups", "value_all_groups", "n_groups_all")


def _slice_members(counts: GroupCounts) -> list[np.ndarray]:
    of = counts.slice_of
    return [np.flatnonzero(of == i) for i in range(len(counts.slices))]


def _largest(counts: GroupCounts, members: np.ndarray) -> int:
    """The group with the most rows; ties go to the first in value order (group order).

    Only the group sizes are read, never the outcomes: a reference chosen by outcomes
    would make the comparisons with it depend on the data they test.
    """
    sizes = counts.groups["n"].to_numpy()[members]
    return int(members[np.argmax(sizes)])  # argmax: the first of equal sizes


def _summary_row(inf: Inference, index: int, label: str, name: str, basis: Sequence[str],
                 kind: str, adjusted_z: float | None) -> dict[str, object]:
    parts = [_spread(inf, index, metric, kind) for metric in basis]
    defined = [p for p in parts if not np.isnan(p[0])]
    worst: tuple[float, str | None, str | None] = (float("nan"), None, None)
    if len(defined) == len(parts):
        pick = max if kind == "difference" else min
        worst = pick(defined, key=lambda p: p[0])
    low, high, n_pairs = summary_interval(inf, index, basis, kind, z=None)
    adj_low = adj_high = float("nan")
    if adjusted_z is not None:
        adj_low, adj_high, _ = summary_interval(inf, index, basis, kind, z=adjusted_z)
    if np.isnan(worst[0]):
        low = high = adj_low = adj_high = float("nan")
    n_groups = min(len(inf.members(index, metric)) for metric in basis)
    every = [_spread(inf, index, metric, kind, every_group=True) for metric in basis]
    value_all = float("nan")
    if all(not np.isnan(p[0]) for p in every):
        value_all = (max if kind == "difference" else min)(p[0] for p in every)
    n_all = min(len(_defined(inf, index, metric)) for metric in basis)
    return {"slice": label, "summary": name, "metric": ",".join(basis), "value": worst[0],
            "ci_low": low, "ci_high": high, "n_groups": n_groups, "adjusted_ci_low": adj_low,
            "adjusted_ci_high": adj_high, "n_pairs": n_pairs, "lowest_group": worst[1],
            "highest_group": worst[2], "groups": "eligible", "value_all_groups": value_all,
            "n_groups_all": n_all}


def _defined(inf: Inference, index: int, metric: str) -> np.ndarray:
    """Every group of a slice with a defined value of ``metric``, however small."""
    cols = np.flatnonzero(inf.counts.slice_of == index)
    out: np.ndarray = cols[np.isfinite(inf.values[metric][cols])]
    return out


def _spread(inf: Inference, index: int, metric: str, kind: str, *, every_group: bool = False
            ) -> tuple[float, str | None, str | None]:
    cols = _defined(inf, index, metric) if every_group else inf.members(index, metric)
    if len(cols) < 2:
        return float("nan"), None, None
    x = inf.values[metric][cols]
    if kind == "impact" and not inf.positive_is_favourable:
        x = 1.0 - x
    labels = inf.counts.groups["group_label"].to_numpy()
    low_at, high_at = int(np.argmin(x)), int(np.argmax(x))
    high, low = float(x[high_at]), float(x[low_at])
    names = (str(labels[cols[low_at]]), str(labels[cols[high_at]]))
    if kind == "difference":
        return high - low, *names
    return (low / high if high > 0 else float("nan")), *names


def direction(metric: str, *, positive_is_favourable: bool) -> bool:
    """Return whether a higher value of ``metric`` is better off for the group.

    Examples
    --------
    >>> direction("false_positive_rate", positive_is_favourable=True)
    False
    """
    better = spec_of(metric).higher_is_better
    return positive_is_favourable if better is None else better
