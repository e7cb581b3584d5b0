"""The one pass where the data lives: one SQL GROUP BY on DuckDB, a SQL database or Spark.

Every metric fairpanel reports is a function of per-group confusion counts and score
histograms, so the only work the data's own engine has to do is one GROUP BY over the
raw keys (every sensitive feature, ``y_true``, ``y_pred`` and the score bin).
:func:`aggregation_queries` writes that SQL once, in the small common part of the SQL the
three engines share (``CASE``, ``count``, ``sum``, ``min``, ``max``, ``floor``, ``least``,
``greatest``, ``GROUP BY`` ordinals); only quoting and the finite-number test differ by
dialect. The few distinct keys come back to Python, where
:func:`audits.fairness.rollup.counts_from_fine` encodes and rolls them up exactly as for
pandas, so every backend gives the same :class:`~audits.fairness.count_types.GroupCounts`
to the integer (score sums, used only for calibration, agree to floating-point rounding).

The queries are kept (:class:`Aggregation`), with the source written into them, so a
report can embed the exact SQL and an auditor can run it again on the same engine.

Backends: :func:`count_groups_duckdb` (Parquet and CSV files, globs, frames; out of core),
:func:`count_groups_sql` (any SQLAlchemy database: a table or a query) and
:func:`count_groups_spark` (a Spark session or master URL: a table or a Parquet path).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audits.data.schema import MSG_MISSING_COLUMN, DataValidationError
from audits.fairness.count_types import DEFAULT_SCORE_BINS, FineCounts, GroupCounts
from audits.fairness.counts import MSG_EMPTY, check_roles, resolve_slices
from audits.fairness.rollup import counts_from_fine

__all__ = ["Aggregation", "aggregation_queries", "count_groups_duckdb",
           "count_groups_spark", "count_groups_sql"]

MSG_NO_DUCKDB = ("the DuckDB backend needs the duckdb package (a dependency of fairpanel): "
                 "pip install duckdb")
MSG_NO_SPARK = "the Spark backend needs pyspark: pip install 'fairpanel[spark]'"
MSG_SOURCE = "source must be a .parquet or .csv path or glob, or a pandas DataFrame; got {source!r}"
MSG_MISSING_VALUES = "column {column!r} ({role}) has {n} missing value(s)"
MSG_SCORE_VALUES = "column {column!r} (y_score) has {n} value(s) that are not finite numbers"
MSG_TABLE_OR_QUERY = "give exactly one of table and query"
MSG_CANNOT_READ = "cannot read {source} in the database: {error}"
MSG_BAD_TABLE = "table must be a name like 'decisions' or 'schema.decisions'; got {table!r}"


@dataclass(frozen=True)
class Aggregation:
    """Where the counts were computed, and the exact SQL that computed them.

    ``queries`` are, in order: the row and missing-value counts, the score range (when a
    score is counted), and the GROUP BY whose rows are the fine counts.
    """

    backend: str
    source: str
    queries: tuple[str, ...]

    @property
    def group_by(self) -> str:
        """The aggregation itself (the last query)."""
        return self.queries[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"backend", "source", "queries"}``."""
        return {"backend": self.backend, "source": self.source, "queries": list(self.queries)}


@dataclass(frozen=True)
class _Dialect:
    quote: str
    double: str
    not_finite: Callable[[str], str]
    #: floor of a non-negative number, as a BIGINT.
    floor: Callable[[str], str] = lambda x: f"CAST(floor({x}) AS BIGINT)"

    def ident(self, name: str) -> str:
        return self.quote + name.replace(self.quote, self.quote * 2) + self.quote


_ANSI_NOT_FINITE = "({x} IS NULL OR {x} <> {x} OR {x} > 1e308 OR {x} < -1e308)"
DIALECTS: dict[str, _Dialect] = {
    "duckdb": _Dialect('"', "DOUBLE", lambda x: f"({x} IS NULL OR isnan({x}) OR isinf({x}))"),
    # PostgreSQL's NaN equals itself and sorts above every number, hence the comparison.
    "postgresql": _Dialect('"', "DOUBLE PRECISION",
                           lambda x: f"({x} IS NULL OR {x} = 'NaN'::float8 OR {x} = "
                                     f"'Infinity'::float8 OR {x} = '-Infinity'::float8)"),
    # SQLite may lack floor(); its CAST to INTEGER truncates, which is floor at x >= 0.
    "sqlite": _Dialect('"', "REAL", lambda x: _ANSI_NOT_FINITE.format(x=x),
                       lambda x: f"CAST({x} AS INTEGER)"),
    "spark": _Dialect("`", "DOUBLE", lambda x: f"({x} IS NULL OR isnan({x}) OR {x} = "
                                               f"double('inf') OR {x} = double('-inf'))"),
    "sql": _Dialect('"', "DOUBLE PRECISION", lambda x: _ANSI_NOT_FINITE.format(x=x)),
}


def aggregation_queries(
    source: str, *, dialect: str, y_true: str, y_pred: str | None,
    features: Sequence[str], y_score: str | None = None, threshold: float | None = None,
    score_range: tuple[float, float, int] | None = None,
    score_bins: int = DEFAULT_SCORE_BINS,
) -> tuple[str, str | None, str | None]:
    """The three queries of the pass over ``source`` (a table name or ``(query) AS t``).

    Returns ``(checks, score_range, group_by)``: the row count and each role's missing
    values; the score's non-finite count, min, max and number of distinct values (None
    without a score); and the GROUP BY. When a score is counted, the GROUP BY needs
    ``score_range`` (the answer to the second query: min, max, distinct values); without
    it the GROUP BY is None.

    Examples
    --------
    >>> _, _, sql = aggregation_queries("decisions", dialect="duckdb", y_true="y",
    ...                                 y_pred="p", features=["sex"])
    >>> print(sql)
    SELECT "sex", "y", "p", count(*) FROM decisions GROUP BY 1, 2, 3
    """
    d = DIALECTS[dialect]
    roles = [(c, r) for c, r in ((y_true, "y_true"), (y_pred, "y_pred"), (y_score, "y_score"))
             if c is not None]
    nulls = ", ".join(f"sum(CASE WHEN {d.ident(c)} IS NULL THEN 1 ELSE 0 END)"
                      for c, _ in roles)
    checks = f"SELECT count(*), {nulls} FROM {source}"
    keys = [d.ident(f) for f in features] + [d.ident(y_true)]
    score = ranged = None
    if y_score is not None:
        score = f"CAST({d.ident(y_score)} AS {d.double})"
        ranged = (f"SELECT sum(CASE WHEN {d.not_finite(score)} THEN 1 ELSE 0 END), "
                  f"min({score}), max({score}), count(DISTINCT {score}) FROM {source}")
        if y_pred is None:
            keys.append(f"CASE WHEN {score} >= {float(threshold)!r} THEN 1 ELSE 0 END")  # type: ignore[arg-type]
    if y_pred is not None:
        keys.append(d.ident(y_pred))
    if score is not None:
        if score_range is None:
            return checks, ranged, None
        keys.append(_score_key(d, score, *score_range, score_bins))
    tail = ", count(*)" + (f", sum({score})" if score is not None else "")
    group_by = (f"SELECT {', '.join(keys)}{tail} FROM {source} GROUP BY "
                + ", ".join(str(i) for i in range(1, len(keys) + 1)))
    return checks, ranged, group_by


def _score_key(d: _Dialect, score: str, low: float, high: float, distinct: int,
               bins: int) -> str:
    if distinct <= bins:
        return score
    lo, hi = _bin_range(low, high)
    # The same IEEE operations, in the same order, as the pandas backend; the bin is
    # never negative (lo is 0 or the minimum), and the maximum joins the last bin.
    index = d.floor(f"({score} - {lo!r}) / ({hi!r} - {lo!r}) * {bins}")
    return f"CASE WHEN {index} > {bins - 1} THEN {bins - 1} ELSE {index} END"


def _bin_range(low: float, high: float) -> tuple[float, float]:
    return (0.0, 1.0) if low >= 0.0 and high <= 1.0 else (float(low), float(high))


def _count(fetch: Callable[[str], list[tuple[Any, ...]]], columns: Sequence[str], *,
           backend: str, source: str, dialect: str, y_true: str, y_pred: str | None,
           features: tuple[str, ...], y_score: str | None, threshold: float | None,
           pos_label: object, slices: tuple[tuple[str, ...], ...], score_bins: int
           ) -> tuple[GroupCounts, Aggregation]:
    """Run the pass through ``fetch`` (SQL text -> rows) and roll the counts up."""
    roles = [(y_true, "y_true"), (y_pred, "y_pred"), (y_score, "y_score")]
    for col, role in [*roles, *((f, "sensitive feature") for f in features)]:
        if col is not None and col not in columns:
            raise DataValidationError(MSG_MISSING_COLUMN.format(
                column=col, role=role, present=", ".join(list(columns)[:30])))
    checks, ranged, _ = aggregation_queries(
        source, dialect=dialect, y_true=y_true, y_pred=y_pred, features=features,
        y_score=y_score, threshold=threshold, score_bins=score_bins)
    total, *nulls = fetch(checks)[0]
    if not total:
        raise DataValidationError(MSG_EMPTY)
    for (col, role), n in zip([r for r in roles if r[0]], nulls, strict=True):
        if n:
            raise DataValidationError(MSG_MISSING_VALUES.format(column=col, role=role, n=n))
    extra: dict[str, Any] = {}
    score_range = None
    if y_score is not None and ranged is not None:
        bad, low, high, distinct = fetch(ranged)[0]
        if bad:
            raise DataValidationError(MSG_SCORE_VALUES.format(column=y_score, n=bad))
        score_range = (float(low), float(high), int(distinct))
        extra = {"score_min": float(low), "score_max": float(high)}
        if distinct <= score_bins:
            extra["score_mode"] = "exact"
        else:
            lo, hi = _bin_range(float(low), float(high))
            extra.update(score_mode="binned", bin_low=lo, bin_high=hi)
    _, _, group_by = aggregation_queries(
        source, dialect=dialect, y_true=y_true, y_pred=y_pred, features=features,
        y_score=y_score, threshold=threshold, score_range=score_range, score_bins=score_bins)
    assert group_by is not None  # the range is known now
    rows = fetch(group_by)
    scored = y_score is not None
    cols = list(zip(*rows, strict=True))
    n_feat = len(features)

    def column(i: int) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = [_plain(v) for v in cols[i]]
        return out

    fine = FineCounts(
        rows=int(total), features=features, values=tuple(column(i) for i in range(n_feat)),
        y=column(n_feat), p=column(n_feat + 1), pred_coded=y_pred is None,
        count=np.asarray(cols[n_feat + 2 + scored], dtype=np.int64),
        score_key=column(n_feat + 2) if scored else None,
        score_sum=np.asarray([float(v) for v in cols[-1]], dtype=np.float64) if scored else None,
        score_bins=score_bins, **extra)
    counts = counts_from_fine(fine, y_true=y_true, y_pred=y_pred or "y_score >= threshold",
                              pos_label=pos_label, slices=slices)
    queries = tuple(q for q in (checks, ranged, group_by) if q is not None)
    return counts, Aggregation(backend, source, queries)


def _plain(value: Any) -> Any:
    """A database's value as Python's (a Decimal count as an int, as pandas has it)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if hasattr(value, "as_integer_ratio") and not isinstance(value, float):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def _roles(y_true: str, y_pred: str | None, sensitive_features: Sequence[str] | str,
           y_score: str | None, threshold: float | None, intersections: bool |
           Sequence[Sequence[str]], score_bins: int
           ) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    features = check_roles(y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features,
                           y_score=y_score, threshold=threshold, score_bins=score_bins)
    return features, resolve_slices(features, intersections)


def count_groups_duckdb(
    source: str | os.PathLike[str] | pd.DataFrame, *, y_true: str, y_pred: str | None,
    sensitive_features: Sequence[str] | str, y_score: str | None = None,
    threshold: float | None = None, pos_label: object = None,
    intersections: bool | Sequence[Sequence[str]] = True,
    score_bins: int = DEFAULT_SCORE_BINS, with_query: bool = False,
) -> Any:
    """Count groups like :func:`audits.fairness.counts.count_groups`, DuckDB doing the pass.

    Parameters
    ----------
    source : path or pandas.DataFrame
        A Parquet file or glob (``'logs/*.parquet'``), a CSV file, or a frame (scanned in
        place). Files are read by DuckDB, out of core, never into pandas.
    y_true, y_pred, sensitive_features, y_score, threshold, pos_label, intersections, \
score_bins
        As for :func:`audits.fairness.counts.count_groups`.
    with_query : bool, default False
        Also return the :class:`Aggregation` (backend and exact SQL).

    Returns
    -------
    GroupCounts, or (GroupCounts, Aggregation) with ``with_query``
    """
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(MSG_NO_DUCKDB) from None
    features, slices = _roles(y_true, y_pred, sensitive_features, y_score, threshold,
                              intersections, score_bins)
    con = duckdb.connect()
    try:
        if isinstance(source, pd.DataFrame):
            con.register("fp_source", source)
            from_sql = "fp_source"
        else:
            from_sql = _duckdb_reader(source)
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]
        counts, aggregation = _count(
            lambda sql: con.execute(sql).fetchall(), columns, backend="duckdb",
            source=from_sql, dialect="duckdb", y_true=y_true, y_pred=y_pred,
            features=features, y_score=y_score, threshold=threshold, pos_label=pos_label,
            slices=slices, score_bins=score_bins)
    finally:
        con.close()
    return (counts, aggregation) if with_query else counts


def _duckdb_reader(source: str | os.PathLike[str]) -> str:
    path = str(source)
    name = Path(path).name.lower()
    if name.endswith(".parquet"):
        reader = "read_parquet"
    elif name.endswith((".csv", ".csv.gz")):
        reader = "read_csv_auto"
    else:
        raise ValueError(MSG_SOURCE.format(source=source))
    return f"{reader}('" + path.replace("'", "''") + "')"


def _source_sql(quote: Callable[[str], str], table: str | None, query: str | None) -> str:
    if (table is None) == (query is None):
        raise ValueError(MSG_TABLE_OR_QUERY)
    if query is not None:
        return f"({query.strip().rstrip(';')}) AS fp_source"
    parts = str(table).split(".")
    if not all(p and p.strip() == p for p in parts) or len(parts) > 3:
        raise ValueError(MSG_BAD_TABLE.format(table=table))
    return ".".join(quote(p) for p in parts)


def count_groups_sql(
    url: Any, *, table: str | None = None, query: str | None = None, y_true: str,
    y_pred: str | None, sensitive_features: Sequence[str] | str, y_score: str | None = None,
    threshold: float | None = None, pos_label: object = None,
    intersections: bool | Sequence[Sequence[str]] = True,
    score_bins: int = DEFAULT_SCORE_BINS, with_query: bool = False,
) -> Any:
    """Count groups in a SQL database (any SQLAlchemy URL or engine), where the rows are.

    ``table`` (``name`` or ``schema.name``) or ``query`` (a SELECT whose rows are the
    decisions) is the source; only the grouped counts leave the database.

    Returns
    -------
    GroupCounts, or (GroupCounts, Aggregation) with ``with_query``
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import SQLAlchemyError

    features, slices = _roles(y_true, y_pred, sensitive_features, y_score, threshold,
                              intersections, score_bins)
    engine = url if isinstance(url, Engine) else create_engine(_driver(url))
    try:
        name = engine.dialect.name
        dialect = name if name in DIALECTS else "sql"
        source = _source_sql(DIALECTS[dialect].ident, table, query)
        with engine.connect() as conn:
            try:
                columns = list(conn.execute(text(f"SELECT * FROM {source} WHERE 1 = 0"))
                               .keys())
            except SQLAlchemyError as error:
                raise DataValidationError(MSG_CANNOT_READ.format(
                    source=source, error=getattr(error, "orig", error))) from None
            counts, aggregation = _count(
                lambda sql: [tuple(r) for r in conn.execute(text(sql)).fetchall()], columns,
                backend=name, source=source, dialect=dialect, y_true=y_true, y_pred=y_pred,
                features=features, y_score=y_score, threshold=threshold,
                pos_label=pos_label, slices=slices, score_bins=score_bins)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()
    return (counts, aggregation) if with_query else counts


def _driver(url: Any) -> Any:
    """``postgresql://`` with the PostgreSQL driver fairpanel installs (psycopg 3)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def count_groups_spark(
    spark: Any, *, table: str | None = None, path: str | None = None, y_true: str,
    y_pred: str | None, sensitive_features: Sequence[str] | str, y_score: str | None = None,
    threshold: float | None = None, pos_label: object = None,
    intersections: bool | Sequence[Sequence[str]] = True,
    score_bins: int = DEFAULT_SCORE_BINS, with_query: bool = False,
) -> Any:
    """Count groups with Spark: a SparkSession, or a master URL (``local[2]``,
    ``spark://host:7077``) for a session of its own, stopped afterwards.

    ``table`` (a table of the session's catalog) or ``path`` (Parquet files, read by
    Spark) is the source; only the grouped counts come back to the driver.

    Returns
    -------
    GroupCounts, or (GroupCounts, Aggregation) with ``with_query``
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(MSG_NO_SPARK) from None
    features, slices = _roles(y_true, y_pred, sensitive_features, y_score, threshold,
                              intersections, score_bins)
    own = isinstance(spark, str)
    session = (SparkSession.builder.master(spark).appName("fairpanel")
               .config("spark.ui.enabled", "false").getOrCreate() if own else spark)
    try:
        quote = DIALECTS["spark"].ident
        if (table is None) == (path is None):
            raise ValueError("give exactly one of table and path")
        source = (_source_sql(quote, table, None) if table is not None
                  else "parquet." + quote(str(path)))
        columns = session.sql(f"SELECT * FROM {source} LIMIT 0").columns
        counts, aggregation = _count(
            lambda sql: [tuple(r) for r in session.sql(sql).collect()], columns,
            backend="spark", source=source, dialect="spark", y_true=y_true, y_pred=y_pred,
            features=features, y_score=y_score, threshold=threshold, pos_label=pos_label,
            slices=slices, score_bins=score_bins)
    finally:
        if own:
            session.stop()
    return (counts, aggregation) if with_query else counts
