"""Reviewer fairness: each reviewer, or reviewer group, audited like a model.

Reviewer fairness (:func:`reviewer_fairness`)
    Each reviewer (or reviewer background group) is audited like a model with
    :func:`audits.fairness.audit.audit_fairness`, the reviewer's labels playing ``y_pred`` and
    the case's ``subject_group`` the sensitive feature: the same metrics, bootstrap
    intervals, ratios to the reference group and verdicts as a model audit. The
    selection rate uses every rating (it needs no truth; it is audited with
    ``y_true=label``); the true and false positive rates use the ratings whose case has
    a known ``truth``. Groups of fewer than ``min_reviewers`` reviewers are not audited,
    so that no result describes one or two identifiable people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audits.fairness.audit import FairnessAudit, audit_fairness
from audits.fairness.verdicts import Rule
from audits.raters.ratings import check_options, prepare_ratings

__all__ = ["reviewer_fairness"]

MSG_RATER_BY = "by must be 'reviewer_id', a column of ratings or a mapping; got {value!r}"
MSG_RATER_CONSTANT = (
    "column {column!r} must be constant per reviewer; reviewer {reviewer!r} has several")
MSG_UNMAPPED = "by has no group for reviewer(s) {reviewers}"
FAIRNESS_COLUMNS = ["rater", "n_reviewers", "metric", "group", "n", "value", "ci_low",
                    "ci_high", "reference", "ratio", "ratio_ci_low", "ratio_ci_high",
                    "verdict", "suppressed"]
TRUTH_METRICS = ["true_positive_rate", "false_positive_rate"]


def reviewer_fairness(ratings: pd.DataFrame, *, by: str | Mapping[Any, str] = "reviewer_id",
                      min_reviewers: int = 5, n_boot: int = 1000, level: float = 0.95,
                      rules: Sequence[Rule | str] | None = None, random_state: int = 0,
                      columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Audit each reviewer, or reviewer group, for fairness across subject groups.

    See the module docstring; every number comes from
    :func:`audits.fairness.audit.audit_fairness`.

    Parameters
    ----------
    ratings : pandas.DataFrame
        ``case_id, reviewer_id, label, subject_group`` and, for error rates, ``truth``.
    by : "reviewer_id", a column name or a mapping reviewer_id -> group
        The raters: each reviewer, or reviewer groups from a per-reviewer column of
        ``ratings`` or a mapping.
    min_reviewers : int, default 5
        Groups with fewer reviewers are suppressed (not audited; one row, ``suppressed``
        True). Does not apply to ``by="reviewer_id"``.
    n_boot, level, rules, random_state
        Passed to :func:`audits.fairness.audit.audit_fairness`.
    columns : mapping role -> column name, or None

    Returns
    -------
    pandas.DataFrame
        Columns ``rater, n_reviewers, metric, group, n`` (the metric's denominator),
        ``value, ci_low, ci_high, reference`` (the reference group), ``ratio,
        ratio_ci_low, ratio_ci_high, verdict`` (NaN/None for the reference group) and
        ``suppressed``.

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": range(8), "reviewer_id": ["a"] * 8,
    ...                    "label": [1, 1, 1, 0, 1, 0, 0, 0],
    ...                    "subject_group": ["x"] * 4 + ["y"] * 4})
    >>> out = reviewer_fairness(df, n_boot=0)
    >>> out[["rater", "metric", "group", "value", "ratio"]]
      rater          metric group  value     ratio
    0     a  selection_rate     x   0.75       NaN
    1     a  selection_rate     y   0.25  0.333333
    """
    check_options(ints={"min_reviewers": (min_reviewers, 1), "n_boot": (n_boot, 0)},
                  units={"level": level})
    data = prepare_ratings(ratings, columns, required=("subject_group",))
    raters = _raters(data, ratings, by, columns)
    parts = []
    for rater in sorted(pd.unique(raters)):
        rows = data[(raters == rater).to_numpy()]
        n_reviewers = rows["reviewer_id"].nunique()
        if by != "reviewer_id" and n_reviewers < min_reviewers:
            parts.append(pd.DataFrame({"rater": [rater], "n_reviewers": [n_reviewers],
                                       "suppressed": [True]}))
            continue
        table = _audit_rater(rows, n_boot=n_boot, level=level, rules=rules,
                             random_state=random_state)
        parts.append(table.assign(rater=rater, n_reviewers=n_reviewers, suppressed=False))
    return pd.concat(parts, ignore_index=True).reindex(columns=FAIRNESS_COLUMNS)


def _raters(data: pd.DataFrame, ratings: pd.DataFrame, by: str | Mapping[Any, str],
            columns: Mapping[str, str] | None) -> pd.Series:
    reviewers = data["reviewer_id"]
    if isinstance(by, Mapping):
        lookup = {str(k): str(v) for k, v in by.items()}
        missing = sorted({str(r) for r in reviewers} - set(lookup))
        if missing:
            raise ValueError(MSG_UNMAPPED.format(reviewers=missing[:10]))
        return reviewers.astype(str).map(lookup)
    if by == "reviewer_id" or (columns or {}).get("reviewer_id") == by:
        return reviewers.astype(str)
    if not isinstance(by, str) or by not in ratings.columns:
        raise ValueError(MSG_RATER_BY.format(value=by))
    original = ratings[(columns or {}).get("reviewer_id", "reviewer_id")].astype(str)
    values = ratings[by].astype(str)
    distinct = values.groupby(original.to_numpy()).nunique()
    if (distinct > 1).any():
        raise ValueError(MSG_RATER_CONSTANT.format(column=by,
                                                   reviewer=distinct[distinct > 1].index[0]))
    lookup = values.groupby(original.to_numpy()).first()
    return reviewers.astype(str).map(lookup)


def _audit_rater(rows: pd.DataFrame, *, n_boot: int, level: float,
                 rules: Sequence[Rule | str] | None, random_state: int) -> pd.DataFrame:
    options: dict[str, Any] = {
        "sensitive_features": "subject_group", "y_pred": "label", "pos_label": 1,
        "intersections": False, "n_boot": n_boot, "level": level, "rules": rules,
        "random_state": random_state}
    # The selection rate needs no truth; audit_fairness wants one, so a copy of the
    # labels stands in for it (and only the selection rate is read back).
    tables = [_tidy(audit_fairness(rows.assign(label_as_truth=rows["label"]),
                                   y_true="label_as_truth", metrics=["selection_rate"],
                                   **options))]
    known = rows[rows["truth"].notna()] if "truth" in rows else rows.iloc[:0]
    if len(known):
        tables.append(_tidy(audit_fairness(known.astype({"truth": np.int64}), y_true="truth",
                                           metrics=TRUTH_METRICS, **options)))
    table = pd.concat(tables, ignore_index=True)
    rank = table["metric"].map({m: i for i, m in enumerate(["selection_rate", *TRUTH_METRICS])})
    return table.iloc[np.lexsort((table["group"].to_numpy(), rank.to_numpy()))].reset_index(
        drop=True)


def _tidy(audit: FairnessAudit) -> pd.DataFrame:
    m = audit.metrics
    labels = dict(zip(m["group_id"], m["group_label"], strict=False))
    d = audit.disparities[["group_id", "metric", "ratio", "ratio_ci_low", "ratio_ci_high",
                           "verdict"]]
    out = m.merge(d, on=["group_id", "metric"], how="left")
    return pd.DataFrame({
        "metric": out["metric"], "group": out["group_label"].astype(str),
        "n": out["denominator"].astype(np.int64), "value": out["value"],
        "ci_low": out["ci_low"], "ci_high": out["ci_high"],
        "reference": out["reference_id"].map(labels).astype(str), "ratio": out["ratio"],
        "ratio_ci_low": out["ratio_ci_low"], "ratio_ci_high": out["ratio_ci_high"],
        "verdict": out["verdict"].astype(object).where(out["verdict"].notna(), None)})
