"""The slice reason: decisions in the worst-off subgroups nobody declared.

:func:`slice_flags` runs :func:`audits.slices.find_slices` on the decisions being
flagged and flags every decision of each confirmed slice (a combination of up to three
feature values significantly worse than the rest on a metric, confirmed on a held-out
half). Every decision of the slice is flagged, whatever its outcome: flagging only the
slice's errors would make the reason an answer in disguise. The score is the slice's
severity (as the disparity reason's, from the ratio of the slice's rate to the rest's);
the explanation, for the people who tune the queue, names the slice and its figures.
Reviewers read the fixed outcome-free sentence of :data:`audits.flagging.reasons.OUTCOME_FREE`
instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.flagging.common import _check_unique, _table
from audits.slices.discovery import (
    MAX_LEVELS,
    METRICS,
    SliceReport,
    feature_columns,
    find_slices,
    slice_label,
    slice_mask,
)

__all__ = ["MAX_LEVELS", "MIN_SUPPORT", "flags_of_slices", "queue_slice_columns",
           "slice_flags"]

#: The fewest decisions of the metric's population a slice needs in each half.
MIN_SUPPORT = 100
_POPULATION_WORDS = {"all": "decisions", "negatives": "decisions of outcome 0",
                     "positives": "decisions of outcome 1"}
_METRIC_WORDS = {"error_rate": "error rate", "false_positive_rate": "false-positive rate",
                 "false_negative_rate": "false-negative rate",
                 "selection_rate": "selection rate"}


def slice_flags(
    frame: pd.DataFrame, *, y_true: str, y_pred: str, columns: Sequence[str],
    metric: str = "error_rate", max_depth: int = 3, min_support: int = MIN_SUPPORT,
    random_state: int = 0,
) -> tuple[pd.DataFrame, SliceReport | None]:
    """Flag the decisions of the confirmed worst-off slices of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The decisions; its index labels the rows.
    y_true, y_pred : str
        Outcome and decision columns (0/1).
    columns : sequence of str
        What to slice on (see :func:`queue_slice_columns`).
    metric, max_depth, min_support, random_state
        As for :func:`audits.slices.find_slices`.

    Returns
    -------
    (pandas.DataFrame, SliceReport or None)
        The flags (columns :data:`audits.flagging.flags.FLAG_COLUMNS`, reason
        ``"slice"``) and what discovery found; no flags and None when there are no
        columns or too few rows to split in two halves of ``min_support``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"region": rng.choice(list("abcd"), 8000),
    ...                    "y": rng.integers(0, 2, 8000)})
    >>> df["p"] = np.where((df["region"] == "c") & (rng.random(8000) < 0.3), 1 - df["y"],
    ...                    df["y"])
    >>> flags, found = slice_flags(df, y_true="y", y_pred="p", columns=["region"])
    >>> set(df.loc[flags["row"], "region"]), int(found.n_tested)
    ({'c'}, 4)
    """
    _check_unique(frame.index, "frame")
    if not columns or len(frame) < 2 * min_support:
        return _table([], "slice", np.zeros(0), []), None
    found = find_slices(frame, y_true=y_true, y_pred=y_pred, metric=metric,
                        columns=list(columns), max_depth=max_depth, min_support=min_support,
                        random_state=random_state)
    return flags_of_slices(frame, found), found


def flags_of_slices(frame: pd.DataFrame, report: SliceReport) -> pd.DataFrame:
    """Flag every row of ``frame`` in a slice of ``report`` (found on ``frame``).

    A row in several slices keeps the most severe (the first, worst, on ties).
    """
    best = np.full(len(frame), -1.0)
    which = np.full(len(frame), -1)
    bins = int(report.config.get("bins", 4))
    for i, found in enumerate(report.slices):
        score = _severity(found.ci_low, found.value, found.complement_value)
        hit = slice_mask(frame, found.attributes, bins=bins) & (score > best)
        best[hit], which[hit] = score, i
    keep = which >= 0
    notes = {i: _note(report, i) for i in set(which[keep].tolist())}
    return _table(frame.index[keep], "slice", best[keep], [notes[w] for w in which[keep]])


def queue_slice_columns(frame: pd.DataFrame, *, features: Sequence[str],
                        sensitive_features: Sequence[str], roles: Sequence[str | None]
                        ) -> list[str]:
    """The columns the queue slices on: :func:`audits.slices.feature_columns` (the
    features and sensitive features, not the role columns, row ids or text columns of
    more than :data:`MAX_LEVELS` values).

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 2, 3], "sex": ["F", "M", "F"], "age": [20, 30, 30],
    ...                    "y": [0, 1, 1]})
    >>> queue_slice_columns(df, features=["id", "age"], sensitive_features=["sex"],
    ...                     roles=["y"])
    ['age', 'sex']
    """
    return feature_columns(frame, features=features, sensitive_features=sensitive_features,
                           roles=roles)


def _severity(ci_low: float, value: float, complement: float) -> float:
    """``min(1, log2 r)`` for the slice's rate over the rest's, ``r`` read from the
    interval's lower bound when it lies above the rest (so a twofold rate scores 1)."""
    if not complement > 0:
        return 1.0
    ratio = ci_low / complement if ci_low > complement else value / complement
    return float(min(1.0, max(0.0, math.log2(ratio)))) if ratio > 0 else 0.0


def _note(report: SliceReport, i: int) -> str:
    found = report.slices[i]
    metric = _METRIC_WORDS.get(report.metric, report.metric.replace("_", " "))
    population = _POPULATION_WORDS[METRICS[report.metric][0]]
    return (f"In the slice {slice_label(found.attributes)} ({found.n:,} {population}), whose "
            f"{metric} is {found.value:.2f} [{found.ci_low:.2f}, {found.ci_high:.2f}] "
            f"against {found.complement_value:.2f} elsewhere (adjusted p "
            f"{found.p_adjusted:.2g}; found among {report.n_tested:,} slices, confirmed on "
            "a held-out half).")
