"""The tidy tables of a fairness audit: groups, metrics, disparities and verdicts.

Arranges the arrays of :mod:`audits.fairness.estimates` into long frames keyed by ``group_id``
(see :class:`audits.fairness.audit.FairnessAudit` for the columns), adding the Wilson
intervals, significance tests, Benjamini-Hochberg adjustment, power figures and the
verdicts of each rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audits.fairness.counts import GroupCounts
from audits.fairness.disparities import compare
from audits.fairness.estimates import Estimates
from audits.fairness.family import (
    NAMED_SUMMARIES,
    Inference,
    family_size,
    family_z,
    pair_interval,
)
from audits.fairness.intervals import (
    few_events,
    floor_disparities,
    percentile_interval,
    wilson_interval,
)
from audits.fairness.metrics import CONFUSION_METRICS, metric_fraction
from audits.fairness.scores import (
    auc_binning_bound,
    auc_interval_floor,
    calibration_disparity_intervals,
)
from audits.fairness.significance import (
    benjamini_hochberg,
    min_detectable_difference,
    two_proportion_test,
)
from audits.fairness.verdicts import FAIL, INSUFFICIENT, PASS, Rule, combine, judge

__all__ = ["disparity_tables", "group_table", "metric_table"]

Interval = tuple[np.ndarray, np.ndarray]

REASON_SMALL = "group or reference too small or metric undefined"
REASON_NO_INTERVAL = "no interval"
REASONS = {PASS: "interval within bounds", FAIL: "interval outside bounds",
           INSUFFICIENT: "interval straddles a bound"}


def group_table(counts: GroupCounts, *, min_n: int) -> pd.DataFrame:
    """Groups with their counts, a ``small`` flag and, with scores, the AUC binning bound.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [1, 0], "p": [1, 1], "s": ["a", "b"]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> group_table(c, min_n=1)["small"].tolist()
    [False, False]
    """
    out = counts.groups.copy()
    out["small"] = out["n"].to_numpy() < min_n
    if counts.scores is not None:
        # Exact histograms tie only equal scores, which roc_auc_score ties as well.
        bound = auc_binning_bound(counts.scores.counts)
        out["roc_auc_binning_bound"] = np.where(counts.scores.exact, 0.0, bound)
    return out


def metric_table(
    counts: GroupCounts, names: Sequence[str], values: Mapping[str, np.ndarray],
    intervals: Mapping[str, Interval], usable: Mapping[str, np.ndarray],
    refs: Mapping[str, np.ndarray], *, level: float, alpha: float, power: float,
) -> pd.DataFrame:
    """One row per (group, metric), groups in order and metrics in ``names`` order.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> from audits.fairness.estimates import estimate
    >>> df = pd.DataFrame({"y": [1, 0, 1, 0], "p": [1, 1, 0, 0], "s": list("aabb")})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> e = estimate(c, ["selection_rate"], n_boot=0, random_state=0)
    >>> t = metric_table(c, ["selection_rate"], e.values, {},
    ...                  {"selection_rate": np.array([True, True])},
    ...                  {"selection_rate": np.array([0, 0])}, level=0.95, alpha=0.05,
    ...                  power=0.8)
    >>> t[["group_label", "value", "numerator", "denominator"]]
      group_label  value  numerator  denominator
    0           a    1.0          2            2
    1           b    0.0          0            2
    """
    cells = counts.cells
    n_groups = len(cells)
    nan = np.full(n_groups, np.nan)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in (
        "value", "ci_low", "ci_high", "wilson_low", "wilson_high", "numerator",
        "denominator", "eligible", "reference_id", "min_detectable_difference")}
    for name in names:
        ref = refs[name]
        low, high = intervals.get(name, (nan, nan))
        num, den = nan, nan
        w_low, w_high, mdd = nan, nan, nan
        if name in CONFUSION_METRICS and CONFUSION_METRICS[name].is_fraction:
            num, den = metric_fraction(cells, name)
            w_low, w_high = wilson_interval(num, den, level=level)
            low, high = _widen(low, high, w_low, w_high, _at_boundary(num, den))
            mdd = min_detectable_difference(den, den[ref], values[name][ref], alpha=alpha,
                                            power=power)
            mdd = np.where(ref == np.arange(n_groups), np.nan, mdd)
        elif name == "roc_auc":  # a Wilson-type floor: never [1, 1] in a small group
            low, high, _ = auc_interval_floor(values[name], low, high, *_labels(cells),
                                              level=level)
        for key, col in (("value", values[name]), ("ci_low", low), ("ci_high", high),
                         ("wilson_low", w_low), ("wilson_high", w_high), ("numerator", num),
                         ("denominator", den), ("eligible", usable[name]),
                         ("reference_id", ref), ("min_detectable_difference", mdd)):
            columns[key].append(np.asarray(col))
    g = counts.groups
    n_metrics = len(names)
    frame = pd.DataFrame({
        "group_id": np.repeat(np.arange(n_groups), n_metrics),
        "slice": np.repeat(g["slice"].to_numpy(), n_metrics),
        "group_label": np.repeat(g["group_label"].to_numpy(), n_metrics),
        "metric": np.tile(np.asarray(names, dtype=object), n_groups),
        **{k: np.stack(v, axis=1).reshape(-1) for k, v in columns.items()},
    })
    for key in ("numerator", "denominator"):
        frame[key] = frame[key].astype("Int64")
    frame["eligible"] = frame["eligible"].astype(bool)
    frame["reference_id"] = frame["reference_id"].astype(np.int64)
    return frame


def disparity_tables(
    counts: GroupCounts, names: Sequence[str], est: Estimates,
    refs: Mapping[str, np.ndarray], usable: Mapping[str, np.ndarray],
    rules: Sequence[Rule], *, level: float, adjusted_z: float | None = None,
    best_reference: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Disparities (metric-major, then groups) and the per-rule verdicts.

    ``difference_ci_low, ...`` are per-comparison intervals (percentile bootstrap);
    verdicts read ``difference_adjusted_ci_low, ..., ratio_adjusted_ci_high``, the
    simultaneous intervals of the judged family (see :mod:`audits.fairness.family`)
    at the normal quantile ``adjusted_z`` (default: Bonferroni over the comparisons
    these rules judge), computed for the rows a rule judges (NaN elsewhere).

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> from audits.fairness.estimates import estimate
    >>> from audits.fairness.verdicts import difference_rule
    >>> df = pd.DataFrame({"y": [1, 0] * 40, "p": [1, 1, 0, 0] * 20, "s": ["a", "b"] * 40})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> e = estimate(c, ["selection_rate"], n_boot=200, random_state=0)
    >>> table, verdicts = disparity_tables(
    ...     c, ["selection_rate"], e, {"selection_rate": np.array([0, 0])},
    ...     {"selection_rate": np.array([True, True])}, [difference_rule(0.5)], level=0.95)
    >>> table[["group_label", "reference_label", "difference", "verdict"]]
      group_label reference_label  difference verdict
    0           b               a         0.0    pass
    """
    parts = [_disparities(counts, name, est, refs[name], usable[name], level=level)
             for name in names]
    table = pd.concat(parts, ignore_index=True)
    judged = _judged_rows(table, rules)
    table["p_adjusted"] = benjamini_hochberg(
        np.where(judged, table["p_value"].to_numpy(dtype=np.float64), np.nan))
    table["bh_family"] = judged & table["p_value"].notna().to_numpy()
    inf = Inference(counts, est.values, est.replicates, dict(usable), dict(refs),
                    True, level, best_reference)
    z = adjusted_z if adjusted_z is not None else family_z(
        family_size(inf, rules), level)
    _add_adjusted(table, inf, rules, z)
    verdict_parts: list[pd.DataFrame] = []
    per_row: list[list[str]] = [[] for _ in range(len(table))]
    for rule in rules:
        rows = np.flatnonzero(table["metric"].map(rule.applies_to).to_numpy(dtype=bool))
        if len(rows) == 0:
            continue
        verdict, reason = _judge_rows(table.iloc[rows], rule)
        for i, v in zip(rows, verdict, strict=True):
            per_row[i].append(v)
        sub = table.iloc[rows]
        verdict_parts.append(pd.DataFrame({
            "group_id": sub["group_id"].to_numpy(), "slice": sub["slice"].to_numpy(),
            "group_label": sub["group_label"].to_numpy(),
            "reference_id": sub["reference_id"].to_numpy(), "metric": sub["metric"].to_numpy(),
            "rule": rule.text, "statistic": rule.statistic, "verdict": verdict,
            "reason": reason,
        }))
    table["verdict"] = [combine(v) for v in per_row]
    columns = ["group_id", "slice", "group_label", "reference_id", "metric", "rule",
               "statistic", "verdict", "reason"]
    verdicts = (pd.concat(verdict_parts, ignore_index=True) if verdict_parts
                else pd.DataFrame(columns=columns))
    return table, verdicts


def _disparities(counts: GroupCounts, name: str, est: Estimates, ref: np.ndarray,
                 usable: np.ndarray, *, level: float) -> pd.DataFrame:
    n_groups = len(ref)
    rows = np.flatnonzero(ref != np.arange(n_groups))
    values = est.values[name]
    diff, ratio = compare(values, ref)
    nan = np.full(len(rows), np.nan)
    d_low, d_high, r_low, r_high = nan, nan, nan, nan
    if name in est.replicates:
        boot_diff, boot_ratio = compare(est.replicates[name], ref)
        d_low, d_high = percentile_interval(boot_diff[:, rows], level=level)
        r_low, r_high = percentile_interval(boot_ratio[:, rows], level=level)
    p_value, test = nan, np.full(len(rows), "", dtype=object)
    if name in CONFUSION_METRICS and CONFUSION_METRICS[name].is_fraction:
        num, den = metric_fraction(counts.cells, name)
        p_value, test = two_proportion_test(num[rows], den[rows], num[ref[rows]],
                                            den[ref[rows]])
        w_low, w_high = wilson_interval(num, den, level=level)
        d_low, d_high, r_low, r_high = floor_disparities(
            values, w_low, w_high, _at_boundary(num, den), rows, ref, d_low, d_high, r_low,
            r_high)
    elif name == "expected_calibration_error" and name in est.replicates:
        d_low, d_high, r_low, r_high = calibration_disparity_intervals(
            est.replicates[name], rows, ref, level=level)
    elif name == "roc_auc" and name in est.replicates:
        a_low, a_high = percentile_interval(est.replicates[name], level=level)
        a_low, a_high, floored = auc_interval_floor(values, a_low, a_high,
                                                    *_labels(counts.cells), level=level)
        d_low, d_high, r_low, r_high = floor_disparities(
            values, a_low, a_high, floored, rows, ref, d_low, d_high, r_low, r_high)
    g = counts.groups
    return pd.DataFrame({
        "group_id": rows, "slice": g["slice"].to_numpy()[rows],
        "group_label": g["group_label"].to_numpy()[rows], "reference_id": ref[rows],
        "reference_label": g["group_label"].to_numpy()[ref[rows]], "metric": name,
        "value": values[rows], "reference_value": values[ref[rows]],
        "difference": diff[rows], "difference_ci_low": d_low, "difference_ci_high": d_high,
        "ratio": ratio[rows], "ratio_ci_low": r_low, "ratio_ci_high": r_high,
        "p_value": p_value, "test": np.asarray(test, dtype=object),
        "eligible": usable[rows] & usable[ref[rows]],
    })


def _judged_rows(table: pd.DataFrame, rules: Sequence[Rule]) -> np.ndarray:
    """Rows a verdict can judge: eligible, of a metric some rule reads.

    The Benjamini-Hochberg family is these rows only: prevalence (never judged by a rule
    that names no metrics) and groups too small for a verdict do not dilute it. A
    summary rule reads its basis metrics, so their rows count too.
    """
    basis = {name: b for name, b, _ in NAMED_SUMMARIES}
    metrics = table["metric"].to_numpy()
    read = np.zeros(len(table), dtype=bool)
    for rule in rules:
        if rule.summary is not None:
            read |= np.isin(metrics, basis[rule.summary])
        else:
            read |= table["metric"].map(rule.applies_to).to_numpy(dtype=bool)
    out: np.ndarray = read & table["eligible"].to_numpy(dtype=bool)
    return out


def _add_adjusted(table: pd.DataFrame, inf: Inference, rules: Sequence[Rule],
                  z: float) -> None:
    """Add the simultaneous intervals, for the rows each statistic's rules judge."""
    for statistic in ("difference", "ratio"):
        low = np.full(len(table), np.nan)
        high = np.full(len(table), np.nan)
        judged = np.zeros(len(table), dtype=bool)
        for rule in rules:
            if rule.statistic == statistic and rule.summary is None:
                judged |= table["metric"].map(rule.applies_to).to_numpy(dtype=bool)
        for metric in pd.unique(table["metric"][judged]):
            rows = np.flatnonzero(judged & (table["metric"] == metric).to_numpy())
            lo, hi = pair_interval(inf, str(metric), table["group_id"].to_numpy()[rows],
                                   table["reference_id"].to_numpy()[rows],
                                   statistic=statistic, z=z)
            low[rows], high[rows] = lo, hi
        table[f"{statistic}_adjusted_ci_low"] = low
        table[f"{statistic}_adjusted_ci_high"] = high


def _at_boundary(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # With few events or non-events (0 or 1 collapses it to a point) the percentile
    # interval under-covers, so it is widened with the Wilson bounds.
    return few_events(num, den)


def _labels(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positives (tp + fn) and negatives (fp + tn) of each group."""
    return cells[:, 0] + cells[:, 2], cells[:, 1] + cells[:, 3]


def _widen(low: np.ndarray, high: np.ndarray, alt_low: np.ndarray, alt_high: np.ndarray,
           where: np.ndarray) -> Interval:
    """Hull of an interval and an alternative one where ``where`` (NaN stays NaN)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    use = where & ~np.isnan(low) & ~np.isnan(high)
    return (np.where(use, np.fmin(low, alt_low), low), np.where(use, np.fmax(high, alt_high), high))


def _judge_rows(rows: pd.DataFrame, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    bounds = {"ratio": ("ratio_adjusted_ci_low", "ratio_adjusted_ci_high"),
              "difference": ("difference_adjusted_ci_low",
                             "difference_adjusted_ci_high")}[rule.statistic]
    low, high = rows[bounds[0]].to_numpy(), rows[bounds[1]].to_numpy()
    verdict = judge(low, high, rule)
    reason = np.array([REASONS[v] for v in verdict], dtype=object)
    no_interval = np.isnan(low) | np.isnan(high)
    reason = np.where(no_interval, REASON_NO_INTERVAL, reason)
    small = ~rows["eligible"].to_numpy(dtype=bool)
    reason = np.where(small, REASON_SMALL, reason)
    verdict = np.where(small | no_interval, INSUFFICIENT, verdict)
    return verdict.astype(object), reason.astype(object)
