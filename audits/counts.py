"""The one pass: confusion counts per group, from which fairness metrics are read.

Every classification fairness metric is a function of per-group confusion counts, so the
engine groups the decisions once and works on the small table of counts afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from audits.schema import check_columns_exist

__all__ = ["COUNT_COLUMNS", "group_counts"]

#: Columns of the tidy counts table returned by :func:`group_counts`.
COUNT_COLUMNS = ("feature", "group", "n", "tp", "fp", "fn", "tn")


def group_counts(
    frame: pd.DataFrame, *, y_true: str, y_pred: str, sensitive_features: Sequence[str]
) -> pd.DataFrame:
    """Count true/false positives/negatives per group of each sensitive feature.

    Parameters
    ----------
    frame : pandas.DataFrame
        Decisions with binary (0/1) ``y_true`` and ``y_pred`` columns.
    y_true, y_pred : str
        Column names of the observed outcome and the decision.
    sensitive_features : sequence of str
        Columns whose groups are counted separately.

    Returns
    -------
    pandas.DataFrame
        One row per (feature, group) with columns :data:`COUNT_COLUMNS`.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0, 1, 1], "p": [1, 1, 0, 1], "s": list("aabb")})
    >>> group_counts(df, y_true="y", y_pred="p", sensitive_features=["s"])[["group", "tp"]]
      group  tp
    0     a   1
    1     b   1
    """
    check_columns_exist(frame, [y_true, y_pred], "outcome")
    check_columns_exist(frame, list(sensitive_features), "sensitive feature")
    t = frame[y_true].astype(int).to_numpy()
    p = frame[y_pred].astype(int).to_numpy()
    cells = pd.DataFrame({
        "tp": (t == 1) & (p == 1), "fp": (t == 0) & (p == 1),
        "fn": (t == 1) & (p == 0), "tn": (t == 0) & (p == 0),
    }).astype("int64")
    parts = []
    for feature in sensitive_features:
        groups = frame[feature].astype(str).to_numpy()
        summed = cells.groupby(groups, sort=True).sum()
        summed.insert(0, "n", summed.sum(axis=1))
        summed = summed.rename_axis("group").reset_index()
        summed.insert(0, "feature", feature)
        parts.append(summed)
    return pd.concat(parts, ignore_index=True).loc[:, list(COUNT_COLUMNS)]
