"""Slice discovery where the data lives: DuckDB on files, or a SQL database.

Slice discovery needs only how many decisions share each combination of the sliced
columns (numeric ones binned) and each confusion cell: the :class:`~audits.slices.
discovery.Patterns`. One GROUP BY returns them; the tests, the held-out half and the
figures then run on those counts in Python exactly as for a frame, so a table audited
where it lives and its copy in pandas give the same slices, to the last digit
(tested on DuckDB, SQLite and PostgreSQL).

The queries, in order (kept in :attr:`CountedSlices.aggregation`, which a report
prints):

1. **Profile**: the rows and each candidate column's distinct values (one query), and
   one non-missing value of each column, read for its type (a number is binned when it
   has more than ``bins`` distinct values).
2. **Bins**: the quantile edges of each binned column, computed from its value counts
   (``GROUP BY`` the value) with NumPy's rule (:func:`numpy.nanquantile`, linear), so
   the edges are pandas' to the last bit. A column with more than
   :data:`MAX_VALUE_COUNTS` distinct values on DuckDB or PostgreSQL asks the engine's
   own linear quantile instead (``quantile_cont``, ``percentile_cont``: the same rule,
   computed by the engine).
3. **Patterns**: one GROUP BY of every column's bin (a ``CASE`` on the edges) or value,
   the outcome and the decision (``y_pred``, or ``y_score >= threshold``), with
   ``count(*)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from audits.data.encoding import encode_outcomes
from audits.fairness.pushdown import DIALECTS, Aggregation, duckdb_source, sql_source
from audits.slices.discovery import (
    DEFAULT_BINS,
    MAX_LEVELS,
    MISSING,
    MSG_BINARY,
    MSG_COLUMN,
    MSG_NO_COLUMNS,
    MSG_TOO_FEW,
    Patterns,
    Progress,
    SliceReport,
    _check,
    _find,
    _interval,
)

__all__ = ["MAX_VALUE_COUNTS", "CountedSlices", "count_slices_duckdb", "count_slices_sql",
           "find_slices_duckdb", "find_slices_sql", "weighted_quantiles"]

#: A binned column with at most this many distinct values has its quantiles computed
#: from its value counts (exactly NumPy's); past it, DuckDB and PostgreSQL compute them.
MAX_VALUE_COUNTS = 200_000
_ENGINE_QUANTILE = {
    "duckdb": "quantile_cont({x}, {q})",
    "postgresql": "percentile_cont({q}) WITHIN GROUP (ORDER BY {x})",
}
_IS_NAN = {
    "duckdb": "isnan({x})",
    "postgresql": "{x} = 'NaN'::float8",
    "spark": "isnan({x})",
}
Fetch = Callable[[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class CountedSlices:
    """What the data's engine returned for slice discovery: the counted patterns of the
    columns, their labels (bins of numeric columns, values of the others) and the
    queries that counted them."""

    patterns: Patterns
    columns: tuple[str, ...]
    labels: dict[str, list[str]]
    binned: dict[str, list[str]]
    bins: int
    aggregation: Aggregation

    def sha256(self) -> str:
        """A fingerprint of the counts (a table that changed gives another)."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(self.columns), self.labels, self.bins],
                                 sort_keys=True).encode())
        for array in (self.patterns.codes, self.patterns.cell, self.patterns.count):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def find(self, *, metric: str = "error_rate", max_depth: int = 3,
             min_support: int = 100, alpha: float = 0.05, random_state: int = 0,
             progress: Progress | None = None) -> SliceReport:
        """Run :func:`audits.slices.find_slices`'s tests on these counts."""
        _check(metric, max_depth, min_support, alpha)
        rows = self.patterns.rows
        if rows < 2 * min_support:
            raise ValueError(MSG_TOO_FEW.format(n=rows, need=2 * min_support,
                                                half=min_support))
        report = progress or (lambda fraction, message: None)
        return _find(self.patterns, columns=self.columns, labels=self.labels,
                     binned=self.binned, metric=metric, max_depth=max_depth,
                     min_support=min_support, bins=self.bins, alpha=alpha,
                     random_state=random_state, report=report)


def weighted_quantiles(values: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`numpy.nanquantile` (method ``"linear"``) of ``values`` repeated ``counts``
    times, without repeating them: the same floating-point operations on the same two
    order statistics, so the same bits (a -0.0 counted as 0.0, as the binning does).

    Examples
    --------
    >>> v, c = np.array([3.0, 1.0, 2.0]), np.array([1, 2, 1])
    >>> q = np.linspace(0, 1, 5)
    >>> bool((weighted_quantiles(v, c, q) == np.nanquantile(np.repeat(v, c), q)).all())
    True
    """
    values = np.asarray(values, dtype=np.float64) + 0.0  # -0.0 is 0.0, as when binning
    order = np.argsort(values, kind="stable")
    values, counts = values[order], np.asarray(counts)[order]
    ends = np.cumsum(counts)  # the sorted position after each value's last copy
    n = int(ends[-1])
    q = np.asarray(q, dtype=np.float64)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above], following[above] = n - 1, n - 1
    previous[virtual < 0], following[virtual < 0] = 0, 0
    a = values[np.searchsorted(ends, previous.astype(np.int64), side="right")]
    b = values[np.searchsorted(ends, following.astype(np.int64), side="right")]
    # NumPy takes the last value at and past the end (index -1), and its gamma is
    # measured from that index (so a -0.0 stays -0.0, as NumPy leaves it).
    gamma = virtual - np.floor(virtual)
    gamma[above] = virtual[above] + 1
    diff = b - a
    out = a + diff * gamma
    late = gamma >= 0.5
    out[late] = (b - diff * (1 - gamma))[late]
    return np.asarray(out, dtype=np.float64)


def count_slices_duckdb(
    source: str | os.PathLike[str] | pd.DataFrame, *, y_true: str, y_pred: str | None = None,
    y_score: str | None = None, threshold: float | None = None,
    columns: Sequence[str] | None = None, bins: int = DEFAULT_BINS,
    progress: Progress | None = None,
) -> CountedSlices:
    """Count the patterns of slice discovery with DuckDB (Parquet or CSV files and globs,
    out of core, or a frame scanned in place); see the module's description.

    ``columns`` None slices on every column but the roles and row ids, as
    :func:`audits.slices.slice_columns` does on a frame.
    """
    with duckdb_source(source) as where:
        return _count(where.fetch, where.columns, backend="duckdb", dialect="duckdb",
                      source=where.source, y_true=y_true, y_pred=y_pred, y_score=y_score,
                      threshold=threshold, columns=columns, bins=bins, progress=progress)


def count_slices_sql(
    url: Any, *, table: str | None = None, query: str | None = None, y_true: str,
    y_pred: str | None = None, y_score: str | None = None, threshold: float | None = None,
    columns: Sequence[str] | None = None, features: Sequence[str] | None = None,
    sensitive_features: Sequence[str] = (), bins: int = DEFAULT_BINS,
    pos_label: object = None, progress: Progress | None = None,
) -> CountedSlices:
    """Count the patterns of slice discovery in a SQL database (a SQLAlchemy URL or
    engine; ``table`` or ``query`` is the source); only the counts leave it.

    ``columns`` None: with ``features`` (and ``sensitive_features``), the rule of
    :func:`audits.slices.feature_columns` (a system's features, not its role columns, row
    ids or text columns of more than :data:`audits.slices.discovery.MAX_LEVELS`
    values); without, every column but the roles and row ids. ``pos_label`` names the
    positive outcome when the outcome and decision are not 0/1 (see
    :func:`audits.data.encoding.encode_outcomes`).
    """
    with sql_source(url, table=table, query=query) as where:
        return _count(where.fetch, where.columns, backend=where.backend,
                      dialect=where.dialect, source=where.source, y_true=y_true,
                      y_pred=y_pred, y_score=y_score, threshold=threshold, columns=columns,
                      features=features, sensitive_features=sensitive_features, bins=bins,
                      pos_label=pos_label, progress=progress)


def find_slices_duckdb(source: str | os.PathLike[str] | pd.DataFrame, *, y_true: str,
                       y_pred: str | None = None, y_score: str | None = None,
                       threshold: float | None = None, metric: str = "error_rate",
                       columns: Sequence[str] | None = None, max_depth: int = 3,
                       min_support: int = 100, bins: int = DEFAULT_BINS,
                       alpha: float = 0.05, random_state: int = 0,
                       progress: Progress | None = None) -> SliceReport:
    """:func:`audits.slices.find_slices` with DuckDB counting (the same report)."""
    _check(metric, max_depth, min_support, alpha)
    report = progress or (lambda fraction, message: None)
    counted = count_slices_duckdb(source, y_true=y_true, y_pred=y_pred, y_score=y_score,
                                  threshold=threshold, columns=columns, bins=bins,
                                  progress=lambda f, m: report(0.6 * f, m))
    return counted.find(metric=metric, max_depth=max_depth, min_support=min_support,
                        alpha=alpha, random_state=random_state,
                        progress=lambda f, m: report(0.6 + 0.4 * f, m))


def find_slices_sql(url: Any, *, table: str | None = None, query: str | None = None,
                    y_true: str, y_pred: str | None = None, y_score: str | None = None,
                    threshold: float | None = None, metric: str = "error_rate",
                    columns: Sequence[str] | None = None, max_depth: int = 3,
                    min_support: int = 100, bins: int = DEFAULT_BINS, alpha: float = 0.05,
                    random_state: int = 0, progress: Progress | None = None) -> SliceReport:
    """:func:`audits.slices.find_slices` counted in a SQL database (the same report)."""
    _check(metric, max_depth, min_support, alpha)
    report = progress or (lambda fraction, message: None)
    counted = count_slices_sql(url, table=table, query=query, y_true=y_true, y_pred=y_pred,
                               y_score=y_score, threshold=threshold, columns=columns,
                               bins=bins, progress=lambda f, m: report(0.6 * f, m))
    return counted.find(metric=metric, max_depth=max_depth, min_support=min_support,
                        alpha=alpha, random_state=random_state,
                        progress=lambda f, m: report(0.6 + 0.4 * f, m))


def _count(fetch: Fetch, available: Sequence[str], *, backend: str, dialect: str,
           source: str, y_true: str, y_pred: str | None, y_score: str | None,
           threshold: float | None, columns: Sequence[str] | None, bins: int,
           features: Sequence[str] | None = None, sensitive_features: Sequence[str] = (),
           pos_label: object = None, progress: Progress | None = None) -> CountedSlices:
    report = progress or (lambda fraction, message: None)
    d = DIALECTS[dialect]
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1; got {bins!r}")
    if y_pred is None and (y_score is None or threshold is None):
        raise ValueError("give y_pred, or y_score with threshold")
    roles = [r for r in (y_true, y_pred, y_score) if r is not None]
    for column in [y_true, y_pred if y_pred is not None else y_score, *(columns or [])]:
        if column not in available:
            raise ValueError(MSG_COLUMN.format(column=column, present=", ".join(available)))
    queries: list[str] = []

    def run(sql: str) -> list[tuple[Any, ...]]:
        queries.append(sql)
        return fetch(sql)

    report(0.0, "Profiling the columns where they live")
    candidates = (list(columns) if columns is not None else
                  [c for c in dict.fromkeys([*(features or available), *sensitive_features])
                   if c in available and c not in roles])
    if not candidates:
        raise ValueError(MSG_NO_COLUMNS)
    profile = run("SELECT count(*), " + ", ".join(
        f"count(DISTINCT {d.ident(c)})" for c in candidates) + f" FROM {source}")[0]
    rows = int(profile[0])
    distinct = {c: int(profile[1 + i]) for i, c in enumerate(candidates)}
    kinds = {c: _kind(run(f"SELECT {d.ident(c)} FROM {source} WHERE {d.ident(c)} IS NOT "
                          f"NULL LIMIT 1")) for c in candidates}
    chosen = candidates if columns is not None else [
        c for c in candidates
        if not (kinds[c] in ("int", "text") and rows > 1 and distinct[c] == rows)
        and (features is None or kinds[c] in ("int", "float") or distinct[c] <= MAX_LEVELS)]
    if not chosen:
        raise ValueError(MSG_NO_COLUMNS)
    binned = [c for c in chosen if kinds[c] in ("int", "float") and distinct[c] > bins]
    report(0.2, f"Quantile bins of {len(binned)} numeric column(s)")
    edges = {c: _edges(run, d, dialect, source, c, distinct[c], bins) for c in binned}
    keys = []
    for c in chosen:
        if c in edges:
            x = f"CAST({d.ident(c)} AS {d.double})"
            nan = _IS_NAN.get(dialect, "{x} <> {x}").format(x=x)
            inner = edges[c][1:-1]
            cases = " ".join(f"WHEN {x} >= {_literal(e, d.double)} THEN {i + 1}"
                             for i, e in reversed(list(enumerate(inner))))
            keys.append(f"CASE WHEN {x} IS NULL OR {nan} THEN -1 {cases} ELSE 0 END"
                        if cases else f"CASE WHEN {x} IS NULL OR {nan} THEN -1 ELSE 0 END")
        else:
            keys.append(d.ident(c))
    keys.append(d.ident(y_true))
    keys.append(d.ident(y_pred) if y_pred is not None else
                f"CASE WHEN CAST({d.ident(str(y_score))} AS {d.double}) >= "
                f"{_literal(float(threshold), d.double)} THEN 1 ELSE 0 END")  # type: ignore[arg-type]
    report(0.4, "Counting every combination in one GROUP BY")
    counted = run(f"SELECT {', '.join(keys)}, count(*) FROM {source} GROUP BY "
                  + ", ".join(str(i) for i in range(1, len(keys) + 1)))
    report(0.9, f"{len(counted):,} patterns counted")
    return _patterns(counted, chosen, edges, bins,
                     Aggregation(backend=backend, source=source, queries=tuple(queries)),
                     y_true=y_true, y_pred=y_pred, pos_label=pos_label)


def _kind(found: list[tuple[Any, ...]]) -> str:
    value = found[0][0] if found else None
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | Decimal | np.floating):
        return "float"
    return "text"


def _literal(value: float, double: str) -> str:
    return f"CAST({float(value)!r} AS {double})"


def _edges(run: Callable[[str], list[tuple[Any, ...]]], d: Any, dialect: str, source: str,
           column: str, distinct: int, bins: int) -> np.ndarray:
    """The column's quantile edges, as :func:`audits.slices.discovery._encode` finds them
    (``np.unique`` of the linear quantiles at ``0, 1/bins, ..., 1``)."""
    x = f"CAST({d.ident(column)} AS {d.double})"
    q = np.linspace(0, 1, bins + 1)
    nan = _IS_NAN.get(dialect, "{x} <> {x}").format(x=x)
    if distinct > MAX_VALUE_COUNTS and dialect in _ENGINE_QUANTILE:
        found = run("SELECT " + ", ".join(
            _ENGINE_QUANTILE[dialect].format(x=x, q=repr(float(p))) for p in q)
            + f" FROM {source} WHERE {x} IS NOT NULL AND NOT ({nan})")[0]
        return np.unique(np.array([float(v) for v in found], dtype=np.float64))
    values = run(f"SELECT {x}, count(*) FROM {source} WHERE {x} IS NOT NULL AND NOT ({nan}) "
                 "GROUP BY 1")
    v = np.array([float(r[0]) for r in values], dtype=np.float64)
    c = np.array([int(r[1]) for r in values], dtype=np.int64)
    return np.unique(weighted_quantiles(v, c, q))


def _patterns(counted: list[tuple[Any, ...]], chosen: list[str],
              edges: dict[str, np.ndarray], bins: int, aggregation: Aggregation,
              *, y_true: str, y_pred: str | None, pos_label: object) -> CountedSlices:
    k = len(chosen)
    labels: dict[str, list[str]] = {}
    codes = np.zeros((len(counted), k), dtype=np.int64)
    for j, c in enumerate(chosen):
        raw = [r[j] for r in counted]
        if c in edges:
            e = edges[c]
            names = [_interval(lo, hi, last=i == len(e) - 2)
                     for i, (lo, hi) in enumerate(zip(e[:-1], e[1:], strict=True))]
            index = np.array([int(v) for v in raw], dtype=np.int64)
            if (index < 0).any():
                index[index < 0] = len(names)
                names.append(MISSING)
        else:  # values in sorted order of their text, a missing value as its own
            text = [None if _missing(v) else str(v) for v in raw]
            names = sorted({t for t in text if t is not None})
            rank = {t: i for i, t in enumerate(names)}
            index = np.array([len(names) if t is None else rank[t] for t in text],
                             dtype=np.int64)
            if any(t is None for t in text):
                names.append(MISSING)
        labels[c], codes[:, j] = names, index
    y, p = _outcomes([r[k] for r in counted], [r[k + 1] for r in counted], y_true=y_true,
                     y_pred=y_pred, pos_label=pos_label)
    count = np.array([int(r[k + 2]) for r in counted], dtype=np.int64)
    patterns = Patterns.of_rows(codes, y * 2 + p, count)
    binned = {c: labels[c] for c in chosen if c in edges}
    return CountedSlices(patterns=patterns, columns=tuple(chosen), labels=labels,
                         binned=binned, bins=bins, aggregation=aggregation)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _outcomes(y: list[Any], p: list[Any], *, y_true: str, y_pred: str | None,
              pos_label: object) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes and decisions of the patterns (a decision made from a score is 0/1)."""
    if pos_label is None:
        return (_binary(y, "y_true", y_true),
                _binary(p, "y_pred", y_pred or "score >= threshold"))
    for values, column in ((y, y_true), (p, y_pred)):
        if any(_missing(v) for v in values):
            raise ValueError(MSG_BINARY.format(role="y_true" if column == y_true else "y_pred",
                                               column=column, values="None"))
    y_codes, y_labels = pd.factorize(np.asarray(y, dtype=object))
    if y_pred is None:
        y_pos, _, _ = encode_outcomes(list(y_labels), None, y_true=y_true, y_pred="",
                                      pos_label=pos_label)
        return y_pos[y_codes].astype(np.int64), _binary(p, "y_pred", "score >= threshold")
    p_codes, p_labels = pd.factorize(np.asarray(p, dtype=object))
    y_pos, p_pos, _ = encode_outcomes(list(y_labels), list(p_labels), y_true=y_true,
                                      y_pred=y_pred, pos_label=pos_label)
    assert p_pos is not None  # given p labels, encode_outcomes returns their coding
    return y_pos[y_codes].astype(np.int64), p_pos[p_codes].astype(np.int64)


def _binary(values: list[Any], role: str, column: str) -> np.ndarray:
    found = sorted({repr(v) for v in values if v not in (0, 1) or v is None})
    if found:
        raise ValueError(MSG_BINARY.format(role=role, column=column,
                                           values=", ".join(found[:5])))
    return np.array([int(v) for v in values], dtype=np.int64)
