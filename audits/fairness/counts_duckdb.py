"""The one pass in DuckDB: counts from Parquet or CSV files larger than memory.

An optional backend (``pip install duckdb``): the GROUP BY runs in DuckDB, out of core
and on every core, and only the small table of distinct keys comes back to Python,
where :func:`audits.fairness.rollup.counts_from_fine` encodes and rolls it up exactly as for
pandas. The two backends therefore give identical counts and groups (score sums, used
only for calibration, agree to floating-point rounding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audits.data.schema import MSG_MISSING_COLUMN, DataValidationError
from audits.fairness.count_types import DEFAULT_SCORE_BINS, FineCounts, GroupCounts
from audits.fairness.counts import MSG_EMPTY, check_roles, resolve_slices
from audits.fairness.rollup import counts_from_fine

__all__ = ["count_groups_duckdb"]

MSG_NO_DUCKDB = (
    "the DuckDB backend needs the duckdb package: pip install 'fairpanel[duckdb]'"
)
MSG_SOURCE = "source must be a .parquet or .csv path or a pandas DataFrame, got {source!r}"
MSG_MISSING_VALUES = "column {column!r} ({role}) has {n} missing value(s)"
MSG_SCORE_VALUES = "column {column!r} (y_score) has {n} value(s) that are not finite numbers"


def count_groups_duckdb(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    y_true: str,
    y_pred: str | None,
    sensitive_features: Sequence[str] | str,
    y_score: str | None = None,
    threshold: float | None = None,
    pos_label: object = None,
    intersections: bool | Sequence[Sequence[str]] = True,
    score_bins: int = DEFAULT_SCORE_BINS,
) -> GroupCounts:
    """Count groups like :func:`audits.fairness.counts.count_groups`, with DuckDB doing the pass.

    Parameters
    ----------
    source : path or pandas.DataFrame
        A Parquet file (or glob), a CSV file, or a frame (scanned in place).
    y_true, y_pred, sensitive_features, y_score, threshold, pos_label, intersections, \
score_bins
        As for :func:`audits.fairness.counts.count_groups`.

    Returns
    -------
    GroupCounts

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0, 1], "p": [1, 1, 0], "s": ["a", "b", "b"]})
    >>> c = count_groups_duckdb(df, y_true="y", y_pred="p",
    ...                         sensitive_features="s")  # doctest: +SKIP
    >>> c.groups[["group_label", "tp", "fp", "fn"]].to_numpy().tolist()  # doctest: +SKIP
    [['a', 1, 0, 0], ['b', 0, 1, 1]]
    """
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(MSG_NO_DUCKDB) from None
    features = check_roles(y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features,
                           y_score=y_score, threshold=threshold, score_bins=score_bins)
    slices = resolve_slices(features, intersections)
    con = duckdb.connect()
    try:
        _register(con, source)
        fine = _fine_counts(con, y_true=y_true, y_pred=y_pred, features=features,
                            y_score=y_score, threshold=threshold, score_bins=score_bins)
    finally:
        con.close()
    return counts_from_fine(fine, y_true=y_true, y_pred=y_pred or "y_score >= threshold",
                            pos_label=pos_label, slices=slices)


def _register(con: Any, source: str | os.PathLike[str] | pd.DataFrame) -> None:
    if isinstance(source, pd.DataFrame):
        con.register("fp_source", source)
        return
    path = str(source)
    name = Path(path).name.lower()
    if name.endswith(".parquet"):
        reader = "read_parquet"
    elif name.endswith((".csv", ".csv.gz")):
        reader = "read_csv_auto"
    else:
        raise ValueError(MSG_SOURCE.format(source=source))
    literal = "'" + path.replace("'", "''") + "'"
    con.execute(f"CREATE TEMP VIEW fp_source AS SELECT * FROM {reader}({literal})")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fine_counts(con: Any, *, y_true: str, y_pred: str | None, features: tuple[str, ...],
                 y_score: str | None, threshold: float | None, score_bins: int) -> FineCounts:
    present = [row[0] for row in con.execute("DESCRIBE SELECT * FROM fp_source").fetchall()]
    roles = [(y_true, "y_true"), (y_pred, "y_pred"), (y_score, "y_score")]
    for col, role in [*roles, *((f, "sensitive feature") for f in features)]:
        if col is not None and col not in present:
            raise DataValidationError(MSG_MISSING_COLUMN.format(
                column=col, role=role, present=", ".join(present[:30])))
    checks = ", ".join(f"count(*) FILTER (WHERE {_q(c)} IS NULL)" for c, _ in roles if c)
    total, *nulls = con.execute(f"SELECT count(*), {checks} FROM fp_source").fetchone()
    if total == 0:
        raise DataValidationError(MSG_EMPTY)
    for (col, role), n in zip([r for r in roles if r[0]], nulls, strict=True):
        if n:
            raise DataValidationError(MSG_MISSING_VALUES.format(column=col, role=role, n=n))
    keys = [_q(f) for f in features] + [_q(y_true)]
    extra: dict[str, Any] = {}
    score = None
    if y_score is not None:
        score = f"TRY_CAST({_q(y_score)} AS DOUBLE)"
        if y_pred is None:
            keys.append(f"CAST({score} >= {float(threshold)!r} AS INTEGER)")  # type: ignore[arg-type]
        key, extra = _score_key(con, score, y_score, score_bins)
    if y_pred is not None:
        keys.append(_q(y_pred))
    if score is not None:
        keys.append(key)
    select = ", ".join(keys) + ", count(*)" + (f", sum({score})" if score else "")
    rows = con.execute(f"SELECT {select} FROM fp_source GROUP BY ALL").fetchall()
    cols = list(zip(*rows, strict=True))
    n_feat = len(features)

    def column(i: int) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = list(cols[i])
        return out

    return FineCounts(
        rows=int(total), features=features, values=tuple(column(i) for i in range(n_feat)),
        y=column(n_feat), p=column(n_feat + 1), pred_coded=y_pred is None,
        count=np.asarray(cols[n_feat + 2 + (score is not None)], dtype=np.int64),
        score_key=column(n_feat + 2) if score else None,
        score_sum=np.asarray(cols[-1], dtype=np.float64) if score else None,
        score_bins=score_bins, **extra,
    )


def _score_key(con: Any, score: str, column: str, bins: int) -> tuple[str, dict[str, Any]]:
    bad, low, high, distinct = con.execute(
        f"SELECT count(*) FILTER (WHERE {score} IS NULL OR isnan({score}) OR isinf({score})), "
        f"min({score}), max({score}), count(DISTINCT {score}) FROM fp_source").fetchone()
    if bad:
        raise DataValidationError(MSG_SCORE_VALUES.format(column=column, n=bad))
    extra: dict[str, Any] = {"score_min": float(low), "score_max": float(high)}
    if distinct <= bins:
        return score, {**extra, "score_mode": "exact"}
    lo, hi = (0.0, 1.0) if low >= 0.0 and high <= 1.0 else (float(low), float(high))
    # The same IEEE operations, in the same order, as the pandas backend.
    key = (f"CAST(least(greatest(floor(({score} - {lo!r}) / ({hi!r} - {lo!r}) * {bins}), 0), "
           f"{bins - 1}) AS BIGINT)")
    return key, {**extra, "score_mode": "binned", "bin_low": lo, "bin_high": hi}
