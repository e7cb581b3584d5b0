"""Fairness audits: per-group and intersectional metrics with intervals, tests and verdicts.

:func:`audit_fairness` counts the decisions once (:mod:`audits.fairness.counts`) and does
everything else on the counts: metrics and their bootstrap replicates
(:mod:`audits.fairness.estimates`), disparities to a reference group and summaries
(:mod:`audits.fairness.disparities`), significance tests with Benjamini-Hochberg
(:mod:`audits.fairness.significance`) and verdicts judged with simultaneous intervals
over the audit's judged family (:mod:`audits.fairness.family`,
:mod:`audits.fairness.verdicts`). :meth:`FairnessAudit.to_dict` is the stable JSON contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from audits.fairness.config import AuditConfig
from audits.fairness.counts import DEFAULT_SCORE_BINS, GroupCounts, count_groups
from audits.fairness.disparities import (
    Reference,
    best_references,
    check_reference,
    direction,
    fixed_references,
    summarize,
)
from audits.fairness.estimates import estimate, metric_names
from audits.fairness.family import Inference, family_size, family_z
from audits.fairness.intervals import percentile_interval
from audits.fairness.metrics import eligible
from audits.fairness.result import FairnessAudit
from audits.fairness.scores import CALIBRATION_BINS, reliability_curve
from audits.fairness.tables import disparity_tables, group_table, metric_table
from audits.fairness.thresholds import threshold_effects
from audits.fairness.verdicts import Rule, combine, judge, parse_rule, ratio_rule

__all__ = ["DEFAULT_RULES", "AuditConfig", "FairnessAudit", "audit_counts", "audit_fairness"]

#: Rules applied when none are given: every metric's ratio within [0.8, 1.25].
DEFAULT_RULES: tuple[Rule, ...] = (ratio_rule(0.8),)

MSG_OPTION_INT = "{name} must be a non-negative integer, got {value!r}"
MSG_OPTION_LEVEL = "{name} must lie strictly between 0 and 1, got {value!r}"
MSG_RULE_TYPE = "rules must be Rule objects or rule strings, got {value!r}"

Progress = Callable[[float, str], None]


def audit_fairness(
    frame: pd.DataFrame,
    *,
    y_true: str,
    y_pred: str | None,
    sensitive_features: Sequence[str] | str,
    y_score: str | None = None,
    threshold: float | None = None,
    pos_label: object = None,
    intersections: bool | Sequence[Sequence[str]] = True,
    metrics: Sequence[str] | None = None,
    reference: Reference = None,
    rules: Sequence[Rule | str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | None = 0,
    min_n: int = 30,
    min_cell_count: int = 5,
    positive_is_favourable: bool = True,
    score_bins: int = DEFAULT_SCORE_BINS,
    calibration_bins: int = CALIBRATION_BINS,
    alpha: float = 0.05,
    power: float = 0.8,
    progress: Progress | None = None,
) -> FairnessAudit:
    """Audit decisions for group fairness: metrics, intervals, tests and verdicts.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        The decisions.
    y_true, y_pred, sensitive_features, y_score, threshold, pos_label, intersections,
    score_bins
        What to count; see :func:`audits.fairness.counts.count_groups`. NaN in a sensitive
        feature is its own group, ``"<missing>"``.
    metrics : sequence of str or None, default None
        Metrics to compute (default: every confusion metric, plus ``roc_auc`` and
        ``expected_calibration_error`` with scores).
    reference : "largest", "best", mapping feature -> value, or None (largest)
        Reference group of each slice; see :mod:`audits.fairness.disparities`.
    rules : sequence of Rule or str, or None
        Parity rules (default :data:`DEFAULT_RULES`); strings are read by
        :func:`audits.fairness.verdicts.parse_rule`.
    n_boot : int, default 1000
        Bootstrap replicates (stratified multinomial resampling of each group's counts,
        group sizes fixed); 0 computes no intervals, and every verdict is then
        insufficient evidence.
    level : float, default 0.95
        Confidence level of every interval.
    random_state : int or None, default 0
        Seed of the bootstrap; ``None`` draws one and records it in ``config``.
    min_n, min_cell_count : int, default 30 and 5
        Groups with fewer rows, or fewer of the counts a metric divides by, never get
        ``pass`` or ``fail``.
    positive_is_favourable : bool, default True
        Whether a positive decision favours the person (a loan approved: True; a
        "high risk" label: False). Orients the best-off reference and the impact ratio.
    calibration_bins : int, default 10
    alpha, power : float, default 0.05 and 0.8
        For the minimum detectable difference.
    progress : callable (fraction, message) or None

    Returns
    -------
    FairnessAudit

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0, 1, 0] * 25, "p": [1, 0, 0, 1] * 25,
    ...                    "sex": ["f", "f", "m", "m"] * 25})
    >>> audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="sex",
    ...                        n_boot=200)
    >>> audit.metrics.query("metric == 'true_positive_rate'")[["group_label", "value"]]
       group_label  value
    2            f    1.0
    14           m    0.0
    """
    _check_options(n_boot=n_boot, level=level, min_n=min_n, min_cell_count=min_cell_count)
    report = progress or _silent
    report(0.0, "Counting decisions")
    counts = count_groups(frame, y_true=y_true, y_pred=y_pred,
                          sensitive_features=sensitive_features, y_score=y_score,
                          threshold=threshold, pos_label=pos_label,
                          intersections=intersections, score_bins=score_bins)
    return audit_counts(
        counts, y_true=y_true, y_pred=y_pred, y_score=y_score, threshold=threshold,
        metrics=metrics, reference=reference, rules=rules, n_boot=n_boot, level=level,
        random_state=random_state, min_n=min_n, min_cell_count=min_cell_count,
        positive_is_favourable=positive_is_favourable, score_bins=score_bins,
        calibration_bins=calibration_bins, alpha=alpha, power=power, progress=report)


def audit_counts(
    counts: GroupCounts,
    *,
    y_true: str = "y_true",
    y_pred: str | None = "y_pred",
    y_score: str | None = None,
    threshold: float | None = None,
    metrics: Sequence[str] | None = None,
    reference: Reference = None,
    rules: Sequence[Rule | str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | None = 0,
    min_n: int = 30,
    min_cell_count: int = 5,
    positive_is_favourable: bool = True,
    score_bins: int = DEFAULT_SCORE_BINS,
    calibration_bins: int = CALIBRATION_BINS,
    alpha: float = 0.05,
    power: float = 0.8,
    progress: Progress | None = None,
) -> FairnessAudit:
    """Audit from counts already made (e.g. by the DuckDB backend); see :func:`audit_fairness`.

    ``y_true``, ``y_pred``, ``y_score`` and ``threshold`` only name the inputs in the
    configuration.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0] * 50, "p": [1, 1, 0, 0] * 25, "s": ["a", "b"] * 50})
    >>> counts = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> audit_counts(counts, n_boot=0).groups["n"].tolist()
    [50, 50]
    """
    _check_options(n_boot=n_boot, level=level, min_n=min_n, min_cell_count=min_cell_count)
    check_reference(counts, reference)
    report = progress or _silent
    names = metric_names(counts, metrics)
    the_rules = _rules(rules)
    report(0.05, "Computing metrics")
    est = estimate(counts, names, n_boot=n_boot, random_state=random_state,
                   calibration=calibration_bins, progress=report)
    cells = counts.cells
    usable = {m: eligible(cells, m, min_n=min_n, min_cell_count=min_cell_count)
              & np.isfinite(est.values[m]) for m in names}
    fixed = None if reference == "best" else fixed_references(counts, reference)
    refs = {m: fixed if fixed is not None else best_references(
        counts, est.values[m], usable[m],
        higher_is_better=direction(m, positive_is_favourable=positive_is_favourable))
        for m in names}
    report(0.92, "Comparing groups")
    intervals = {m: percentile_interval(est.replicates[m], level=level)
                 for m in est.replicates}
    metric_rows = metric_table(counts, names, est.values, intervals, usable, refs,
                               level=level, alpha=alpha, power=power)
    inference = Inference(counts, est.values, est.replicates, usable, refs,
                          positive_is_favourable, level, best_reference=reference == "best")
    # One family for every verdict of the audit: any fail under a fair system <= 1 - level.
    family = family_size(inference, the_rules)
    adjusted_z = family_z(family, level)
    disparities, verdicts = disparity_tables(counts, names, est, refs, usable, the_rules,
                                             level=level, adjusted_z=adjusted_z,
                                             best_reference=reference == "best")
    summaries = summarize(counts, est.values, est.replicates or None, usable, level=level,
                          positive_is_favourable=positive_is_favourable,
                          adjusted_z=adjusted_z)
    summaries["verdict"] = _summary_verdicts(summaries, the_rules)
    config = AuditConfig(
        y_true=y_true, y_pred=y_pred, y_score=y_score, threshold=threshold,
        positive_label=str(counts.positive_label), sensitive_features=counts.features,
        slices=counts.slices, metrics=tuple(names), reference=_reference_json(reference),
        rules=the_rules, n_boot=n_boot, level=level, random_state=est.seed, min_n=min_n,
        min_cell_count=min_cell_count, positive_is_favourable=positive_is_favourable,
        score_histogram=None if counts.scores is None else (
            "exact" if counts.scores.exact else "binned"),
        score_bins=score_bins, calibration_bins=calibration_bins, alpha=alpha, power=power)
    scores = counts.scores
    reliability = reliability_curve(counts, n_bins=calibration_bins, level=level) if (
        scores is not None and scores.unit_interval) else None
    effects = threshold_effects(counts, threshold) if (
        scores is not None and y_pred is not None and threshold is not None) else None
    report(1.0, "Audit complete")
    return FairnessAudit(rows=counts.rows, config=config, counts=counts,
                         groups=group_table(counts, min_n=min_n), metrics=metric_rows,
                         disparities=disparities, verdicts=verdicts, summaries=summaries,
                         reliability=reliability, threshold_effects=effects,
                         inference=inference, family_size=family)


def _silent(fraction: float, message: str) -> None:
    """Ignore progress."""


def _check_options(*, n_boot: int, level: float, min_n: int, min_cell_count: int) -> None:
    for name, value in (("n_boot", n_boot), ("min_n", min_n),
                        ("min_cell_count", min_cell_count)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(MSG_OPTION_INT.format(name=name, value=value))
    if not (isinstance(level, float | int) and 0.0 < level < 1.0):
        raise ValueError(MSG_OPTION_LEVEL.format(name="level", value=level))


def _rules(rules: Sequence[Rule | str] | None) -> tuple[Rule, ...]:
    if rules is None:
        return DEFAULT_RULES
    if isinstance(rules, Rule | str):
        rules = [rules]
    out = []
    for rule in rules:
        if isinstance(rule, str):
            out.append(parse_rule(rule))
        elif isinstance(rule, Rule):
            out.append(rule)
        else:
            raise TypeError(MSG_RULE_TYPE.format(value=rule))
    return tuple(out)


def _summary_verdicts(summaries: pd.DataFrame, rules: tuple[Rule, ...]) -> list[str | None]:
    found: list[list[str]] = [[] for _ in range(len(summaries))]
    for rule in rules:
        if rule.summary is None:
            continue
        rows = np.flatnonzero(summaries["summary"].to_numpy() == rule.summary)
        verdict = judge(summaries["adjusted_ci_low"].to_numpy()[rows],
                        summaries["adjusted_ci_high"].to_numpy()[rows], rule)
        for i, v in zip(rows, verdict, strict=True):
            found[i].append(str(v))
    return [combine(v) for v in found]


def _reference_json(reference: Reference) -> str | dict[str, str]:
    if isinstance(reference, Mapping):
        return {str(k): str(v) for k, v in reference.items()}
    return reference or "largest"
