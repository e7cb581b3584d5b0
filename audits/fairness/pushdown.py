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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audits.data.schema import MSG_MISSING_COLUMN, DataValidationError
from audits.fairness.count_types import DEFAULT_SCORE_BINS, FineCounts, GroupCounts
from audits.fairness.counts import MSG_EMPTY, check_roles, resolve_slices
from audits.fairness.rollup import counts_from_fine

__all__ = ["Aggregation", "SqlSource", "aggregation_queries", "count_groups_duckdb",
           "count_groups_spark", "count_groups_sql", "duckdb_source", "sql_source"]

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

    ``queries`` are every query run, in order; the last is the GROUP BY whose rows are
    the fine counts. Usually there is one. A score outside [0, 1] adds the GROUP BY over
    its own range, and a score whose bins cannot tell whether it has at most
    ``score_bins`` distinct values adds the distinct count (and, when it does, the GROUP
    BY on the exact score).
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
    score_range: tuple[float, float] = (0.0, 1.0), exact_score: bool = False,
    score_bins: int = DEFAULT_SCORE_BINS,
) -> tuple[str, str | None]:
    """The GROUP BY of the pass over ``source`` (a table name or ``(query) AS t``), and the
    score's distinct-value count (None without a score).

    The GROUP BY's keys are every feature, ``y_true``, the decision (``y_pred``, or
    ``y_score >= threshold``) and, with a score, the score's bin: ``score_bins`` equal
    bins over ``score_range`` (the maximum joins the last bin; a score outside the range,
    missing or not finite gets bin -1), or the score itself with ``exact_score``. Its
    values are ``count(*)`` and, with a score, the score's sum, minimum, maximum and
    ``count`` (its values that are not missing), so that one pass also checks the data
    and finds the score's range (a missing outcome or decision is a NULL key; a NaN or an
    infinity shows in a minimum or maximum).

    Examples
    --------
    >>> sql, _ = aggregation_queries("decisions", dialect="duckdb", y_true="y",
    ...                              y_pred="p", features=["sex"])
    >>> print(sql)
    SELECT "sex", "y", "p", count(*) FROM decisions GROUP BY 1, 2, 3
    """
    d = DIALECTS[dialect]
    keys = [d.ident(f) for f in features] + [d.ident(y_true)]
    score = None
    if y_score is not None:
        score = f"CAST({d.ident(y_score)} AS {d.double})"
        if y_pred is None:
            keys.append(f"CASE WHEN {score} >= {float(threshold)!r} THEN 1 ELSE 0 END")  # type: ignore[arg-type]
    if y_pred is not None:
        keys.append(d.ident(y_pred))
    tail = ", count(*)"
    distinct = None
    if score is not None:
        keys.append(score if exact_score else _score_key(d, score, *score_range, score_bins))
        tail += f", sum({score}), min({score}), max({score}), count({score})"
        distinct = f"SELECT count(DISTINCT {score}) FROM {source}"
    group_by = (f"SELECT {', '.join(keys)}{tail} FROM {source} GROUP BY "
                + ", ".join(str(i) for i in range(1, len(keys) + 1)))
    return group_by, distinct


def _score_key(d: _Dialect, score: str, lo: float, hi: float, bins: int) -> str:
    # The same IEEE operations, in the same order, as the pandas backend, on scores in
    # [lo, hi] only (so the bin is never negative and never overflows); the maximum
    # joins the last bin.
    index = d.floor(f"({score} - {lo!r}) / ({hi!r} - {lo!r}) * {bins}")
    return (f"CASE WHEN {score} >= {lo!r} AND {score} <= {hi!r} THEN CASE WHEN {index} > "
            f"{bins - 1} THEN {bins - 1} ELSE {index} END ELSE -1 END")


def _bin_range(low: float, high: float) -> tuple[float, float]:
    return (0.0, 1.0) if low >= 0.0 and high <= 1.0 else (float(low), float(high))


def _count(fetch: Callable[[str], list[tuple[Any, ...]]], columns: Sequence[str], *,
           backend: str, source: str, dialect: str, y_true: str, y_pred: str | None,
           features: tuple[str, ...], y_score: str | None, threshold: float | None,
           pos_label: object, slices: tuple[tuple[str, ...], ...], score_bins: int
           ) -> tuple[GroupCounts, Aggregation]:
    """Run the pass through ``fetch`` (SQL text -> rows) and roll the counts up.

    Usually one query: the GROUP BY with the score binned over [0, 1]. A score outside
    [0, 1] needs the same GROUP BY again over its own range. Whether the score is kept
    exact (at most ``score_bins`` distinct values, as pandas decides) is read from the
    bins' minima and maxima; only when they cannot tell is the distinct count asked.
    """
    roles = [(y_true, "y_true"), (y_pred, "y_pred"), (y_score, "y_score")]
    for col, role in [*roles, *((f, "sensitive feature") for f in features)]:
        if col is not None and col not in columns:
            raise DataValidationError(MSG_MISSING_COLUMN.format(
                column=col, role=role, present=", ".join(list(columns)[:30])))
    queries: list[str] = []

    def run(*, distinct: bool = False, **score: Any) -> list[tuple[Any, ...]]:
        group_by, count_distinct = aggregation_queries(
            source, dialect=dialect, y_true=y_true, y_pred=y_pred, features=features,
            y_score=y_score, threshold=threshold, score_bins=score_bins, **score)
        sql = count_distinct if distinct and count_distinct else group_by
        queries.append(sql)
        return fetch(sql)

    rows = run()
    if not rows:
        raise DataValidationError(MSG_EMPTY)
    n_feat, scored = len(features), y_score is not None
    at = n_feat + 2 + scored  # the count's column
    count = np.asarray([int(r[at]) for r in rows], dtype=np.int64)
    for i, (col, role) in enumerate([r for r in roles[:2] if r[0]]):
        missing = int(count[[r[n_feat + i] is None for r in rows]].sum())
        if missing:
            raise DataValidationError(MSG_MISSING_VALUES.format(column=col, role=role,
                                                                n=missing))
    extra: dict[str, Any] = {}
    if scored:
        nulls = int(count.sum()) - sum(int(r[at + 4] or 0) for r in rows)
        if nulls:
            raise DataValidationError(MSG_MISSING_VALUES.format(column=y_score,
                                                                role="y_score", n=nulls))
        ends = np.asarray([(float(r[at + 2]), float(r[at + 3])) for r in rows])
        if not np.isfinite(ends).all():  # a NaN or an infinity: count them, to say how many
            d = DIALECTS[dialect]
            score = f"CAST({d.ident(str(y_score))} AS {d.double})"
            bad = fetch(f"SELECT sum(CASE WHEN {d.not_finite(score)} THEN 1 ELSE 0 END) "
                        f"FROM {source}")[0][0]
            raise DataValidationError(MSG_SCORE_VALUES.format(column=y_score, n=int(bad)))
        low, high = float(ends[:, 0].min()), float(ends[:, 1].max())
        lo, hi = _bin_range(low, high)
        extra = {"score_min": low, "score_max": high}
        if (lo, hi) != (0.0, 1.0) and low < high:
            rows = run(score_range=(lo, hi))
        exact = _exactly_binned(rows, at, score_bins)
        if exact is None:  # the bins cannot tell: ask
            exact = int(run(distinct=True)[0][0]) <= score_bins
            if exact:
                rows = run(exact_score=True)
        elif exact:  # each bin holds one value: the bin is the value
            rows = [(*r[:at - 1], r[at + 2], *r[at:]) for r in rows]
        extra.update(score_mode="exact") if exact else extra.update(
            score_mode="binned", bin_low=lo, bin_high=hi)
    cols = list(zip(*rows, strict=True))

    def column(i: int) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        values = cols[i]
        out[:] = values if set(map(type, values)) <= _PLAIN else [_plain(v) for v in values]
        return out

    fine = FineCounts(
        rows=int(np.asarray(cols[at], dtype=np.int64).sum()), features=features,
        values=tuple(column(i) for i in range(n_feat)),
        y=column(n_feat), p=column(n_feat + 1), pred_coded=y_pred is None,
        count=np.asarray(cols[at], dtype=np.int64),
        score_key=column(n_feat + 2) if scored else None,
        score_sum=np.asarray([float(v) for v in cols[at + 1]], dtype=np.float64)
        if scored else None, score_bins=score_bins, **extra)
    counts = counts_from_fine(fine, y_true=y_true, y_pred=y_pred or "y_score >= threshold",
                              pos_label=pos_label, slices=slices)
    return counts, Aggregation(backend, source, tuple(queries))


def _exactly_binned(rows: list[tuple[Any, ...]], at: int, bins: int) -> bool | None:
    """Does the score have at most ``bins`` distinct values? From the binned rows: True
    when each bin holds one value, False when the bins' minima and maxima already show
    more than ``bins`` values, None when they cannot tell."""
    values: dict[Any, set[float]] = {}
    for r in rows:
        values.setdefault(r[at - 1], set()).update((float(r[at + 2]), float(r[at + 3])))
    if all(len(v) == 1 for v in values.values()):
        return True
    return False if sum(len(v) for v in values.values()) > bins else None


_PLAIN = {str, bool, int, float, type(None)}


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
    features, slices = _roles(y_true, y_pred, sensitive_features, y_score, threshold,
                              intersections, score_bins)
    with duckdb_source(source) as where:
        counts, aggregation = _count(
            where.fetch, where.columns, backend="duckdb", source=where.source,
            dialect="duckdb", y_true=y_true, y_pred=y_pred, features=features,
            y_score=y_score, threshold=threshold, pos_label=pos_label, slices=slices,
            score_bins=score_bins)
    return (counts, aggregation) if with_query else counts


@contextmanager
def duckdb_source(source: str | os.PathLike[str] | pd.DataFrame) -> Iterator[SqlSource]:
    """Open a DuckDB connection on a Parquet or CSV file or glob, or a frame (scanned in
    place, never copied), and read its columns; closed after."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(MSG_NO_DUCKDB) from None
    con = duckdb.connect()
    try:
        if isinstance(source, pd.DataFrame):
            con.register("fp_source", source)
            from_sql = "fp_source"
        else:
            from_sql = _duckdb_reader(source)
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]
        yield SqlSource(lambda sql: con.execute(sql).fetchall(), columns, "duckdb", "duckdb",
                        from_sql)
    finally:
        con.close()


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
    features, slices = _roles(y_true, y_pred, sensitive_features, y_score, threshold,
                              intersections, score_bins)
    with sql_source(url, table=table, query=query) as where:
        counts, aggregation = _count(
            where.fetch, where.columns, backend=where.backend, source=where.source,
            dialect=where.dialect, y_true=y_true, y_pred=y_pred, features=features,
            y_score=y_score, threshold=threshold, pos_label=pos_label, slices=slices,
            score_bins=score_bins)
    return (counts, aggregation) if with_query else counts


@dataclass(frozen=True)
class SqlSource:
    """An open SQL source: how to run a query on it, and what it is."""

    fetch: Callable[[str], list[tuple[Any, ...]]]
    columns: list[str]
    backend: str
    dialect: str
    source: str


@contextmanager
def sql_source(url: Any, *, table: str | None, query: str | None) -> Iterator[SqlSource]:
    """Connect to a SQL database (a SQLAlchemy URL or engine) and read the columns of
    ``table`` or ``query``; the connection (and an engine made here) is closed after.

    Raises
    ------
    DataValidationError
        The table or query cannot be read (:data:`MSG_CANNOT_READ`).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import SQLAlchemyError

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
            yield SqlSource(lambda sql: [tuple(r) for r in conn.execute(text(sql)).fetchall()],
                            columns, name, dialect, source)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


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
