"""Finding the worst-off subgroups nobody declared: every 1-, 2- and 3-way slice, tested.

Auditors test the groups someone thought of; the worst-off are often intersections nobody
named (age band x region x product). :func:`find_slices` looks at every slice of the
chosen columns up to ``max_depth`` attributes:

1. **Bins.** A numeric column with more than ``bins`` distinct values is cut at its
   quantiles (labels like ``"[31, 45)"``); every other column keeps its values, a missing
   value being a value of its own.
2. **Counts.** The rows are counted as patterns (:class:`Patterns`: each distinct
   combination of the columns' codes and the decision's confusion cell, with its number
   of rows), which is all a database has to return (:mod:`audits.slices.pushdown`); the
   held-out half takes ``Binomial(count, 1/2)`` rows of each pattern, a fair coin per
   row. Every slice of a set of columns is then counted at once, in both halves: one
   ``np.bincount`` of a combined key (the columns' codes, the cell and the half) per set
   of columns, so a 3-way set is one small array. (DuckDB's GROUPING SETS over the
   1,350 sets of 20 columns needed over 3 GB for 200,000 rows.)
3. **Tests.** On the discovery half each slice with at least ``min_support`` rows in the
   metric's population is tested against its complement (a one-sided two-proportion
   z-test: is the slice worse?), and Benjamini-Hochberg at ``alpha`` runs over every slice
   tested. A discovered slice must also be worse than each of its parents (the slice
   against the rest of the parent, one-sided, at ``alpha``), so a bad 1-way slice does not
   bring a pile of its 2- and 3-way children.
4. **Hold-out.** What is discovered is tested again on the hold-out half, against its
   complement and against each parent (one-sided, Bonferroni over the discovered slices
   at ``alpha``); only confirmed slices are reported, worst first, with their figures
   over all rows (Wilson intervals). A child of a bad slice that looked worse than its
   parent by chance on one half rarely does on the other. Then, strongest first, a
   slice is kept only if it is still worse than the rest without the rows of the
   slices kept before it, so a bad 3-way slice does not bring its parents, nor two bad
   slices their overlaps.

Under a null where no slice differs, BH controls the false discovery rate among the
discoveries and the hold-out test must then agree, so a report on null data is rare
(measured over many null datasets in ``benchmarks/slices.py``; the tests check the
seeds they use).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from audits.fairness.intervals import wilson_interval
from audits.fairness.significance import benjamini_hochberg

__all__ = ["DEFAULT_BINS", "MAX_CELLS", "MAX_LEVELS", "METRICS", "Patterns", "Progress",
           "Slice", "SliceReport", "feature_columns", "find_slices", "slice_columns",
           "slice_label", "slice_mask"]

#: ``(fraction done in [0, 1], what is being done) -> None``.
Progress = Callable[[float, str], None]

#: What a slice can be worse at: the metric, its population and its events.
METRICS = {
    "error_rate": ("all", "errors"),
    "false_positive_rate": ("negatives", "fp"),
    "false_negative_rate": ("positives", "fn"),
    "selection_rate": ("all", "selected"),
}
#: Quantile bins of a numeric column.
DEFAULT_BINS = 4
#: The most counts one set of columns may need (levels of each column x 4 cells x 2
#: halves): 2**24 int64 counts are 128 MiB. A set past it is refused, naming its columns.
MAX_CELLS = 2**24
#: :func:`feature_columns` leaves out a text column with more distinct values than this
#: (a name or free text: its slices are too small to test, and a 3-way count of such
#: columns would not fit in memory). Numeric columns are binned, so never too many.
MAX_LEVELS = 50
MISSING = "<missing>"
MSG_METRIC = "metric must be one of {names}; got {metric!r}"
MSG_DEPTH = "max_depth must be 1, 2 or 3; got {depth!r}"
MSG_SUPPORT = "min_support must be an integer >= 1; got {n!r}"
MSG_ALPHA = "alpha must lie in (0, 1); got {alpha!r}"
MSG_COLUMN = "column {column!r} is not in the data; columns: {present}"
MSG_NO_COLUMNS = "no columns to slice on (every column is a role column)"
MSG_TOO_FEW = "{n} rows: slice discovery needs at least {need} (two halves of {half})"
MSG_BINARY = "{role} column {column!r} must hold 0 and 1 only; got {values}"
MSG_TOO_MANY_CELLS = ("slicing on {columns} together needs {cells:,} counts (more than "
                      "{limit:,}): drop a column with many distinct values, or lower "
                      "max_depth")
MSG_NO_LABEL = ("slice value {value!r} is not a value (or bin) of column {column!r}; "
                "its values: {labels}")


@dataclass(frozen=True)
class Slice:
    """A reported slice: its attributes, and its figures over all rows."""

    attributes: dict[str, str]
    n: int
    value: float
    ci_low: float
    ci_high: float
    complement_value: float
    p_adjusted: float
    p_holdout: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract's slice object."""
        return {"attributes": dict(self.attributes), "n": self.n, "value": self.value,
                "ci_low": self.ci_low, "ci_high": self.ci_high,
                "complement_value": self.complement_value, "p_adjusted": self.p_adjusted,
                "p_holdout": self.p_holdout}


@dataclass(frozen=True)
class SliceReport:
    """What :func:`find_slices` found; ``to_dict`` is the ``fairpanel slices`` JSON."""

    rows: int
    metric: str
    n_tested: int
    n_discovered: int
    columns: tuple[str, ...]
    slices: tuple[Slice, ...]
    bins: dict[str, list[str]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "metric": self.metric, "n_tested": self.n_tested,
                "n_discovered": self.n_discovered, "columns": list(self.columns),
                "slices": [s.to_dict() for s in self.slices], "bins": self.bins,
                "config": dict(self.config)}


def slice_columns(frame: pd.DataFrame, roles: Sequence[str | None]) -> list[str]:
    """Every column but the role columns (the outcome, decision and score) and row ids
    (integer or text columns with a different value on every row).

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 2, 3], "region": ["a", "b", "a"], "y": [0, 1, 1]})
    >>> slice_columns(df, ["y", None])
    ['region']
    """
    taken = {r for r in roles if r is not None}
    out = []
    for column in frame.columns:
        values = frame[column]
        is_id = ((pd.api.types.is_integer_dtype(values) or values.dtype == object
                  or pd.api.types.is_string_dtype(values))
                 and len(values) > 1 and values.nunique() == len(values))
        if column not in taken and not is_id:
            out.append(column)
    return out


def feature_columns(frame: pd.DataFrame, *, features: Sequence[str],
                    sensitive_features: Sequence[str], roles: Sequence[str | None]
                    ) -> list[str]:
    """The columns to slice a system's decisions on by default: its features and
    sensitive features, but not the role columns, row ids (:func:`slice_columns`) or
    text columns of more than :data:`MAX_LEVELS` values.

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 2, 3], "sex": ["F", "M", "F"], "age": [20, 30, 30],
    ...                    "y": [0, 1, 1]})
    >>> feature_columns(df, features=["id", "age"], sensitive_features=["sex"], roles=["y"])
    ['age', 'sex']
    """
    taken = {r for r in roles if r}
    wanted = [c for c in dict.fromkeys([*features, *sensitive_features])
              if c in frame.columns and c not in taken]
    return [c for c in slice_columns(frame[wanted], [])
            if (pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c]))
            or frame[c].nunique() <= MAX_LEVELS]


def slice_mask(frame: pd.DataFrame, attributes: Mapping[str, str], *,
               bins: int = DEFAULT_BINS) -> np.ndarray:
    """Which rows of ``frame`` lie in a slice :func:`find_slices` reported on ``frame``.

    Each column is binned as :func:`find_slices` bins it (quantiles of ``frame`` itself,
    so the labels match only on the frame the slices were found in, with the same
    ``bins``), and a row is in the slice when every attribute matches.

    Raises
    ------
    ValueError
        A column not in ``frame``, or a value that is not one of its values or bins.

    Examples
    --------
    >>> df = pd.DataFrame({"region": ["a", "b", "a"], "age": [20, 30, 40]})
    >>> slice_mask(df, {"region": "a"}).tolist()
    [True, False, True]
    """
    mask = np.ones(len(frame), dtype=bool)
    for column, value in attributes.items():
        if column not in frame.columns:
            raise ValueError(MSG_COLUMN.format(column=column,
                                               present=", ".join(map(str, frame.columns))))
        codes, labels = _encode(frame, [column], bins)
        if value not in labels[column]:
            raise ValueError(MSG_NO_LABEL.format(value=value, column=column,
                                                 labels=", ".join(labels[column][:20])))
        mask &= codes[:, 0] == labels[column].index(value)
    return mask


def slice_label(attributes: Mapping[str, str]) -> str:
    """A slice as people read it: ``"region=s & product=loan"``.

    Examples
    --------
    >>> slice_label({"region": "s", "age": "[31, 45)"})
    'region=s & age=[31, 45)'
    """
    return " & ".join(f"{column}={value}" for column, value in attributes.items())


def find_slices(
    frame: pd.DataFrame, *, y_true: str, y_pred: str | None = None,
    y_score: str | None = None, threshold: float | None = None,
    metric: str = "error_rate", columns: Sequence[str] | None = None, max_depth: int = 3,
    min_support: int = 100, bins: int = DEFAULT_BINS, alpha: float = 0.05,
    random_state: int = 0, progress: Progress | None = None,
) -> SliceReport:
    """Find the slices significantly worse than the rest on ``metric``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per decision.
    y_true : str
        The observed outcome (0/1).
    y_pred : str or None
        The decision (0/1); or give ``y_score`` and ``threshold``.
    metric : {"error_rate", "false_positive_rate", "false_negative_rate", "selection_rate"}
    columns : sequence of str or None
        What to slice on (None: every other column).
    max_depth : {1, 2, 3}
    min_support : int, default 100
        The fewest rows of the metric's population a slice needs, in each half, to be
        tested.
    bins : int, default 4
        Quantile bins of a numeric column.
    alpha : float, default 0.05
        The false discovery rate of the discovery (BH), and the level of the parent and
        hold-out tests.
    random_state : int
        Seed of the discovery/hold-out split.
    progress : callable ``(fraction, message) -> None`` or None
        Told how far the work is (counting the sets of columns takes most of it).

    Returns
    -------
    SliceReport

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"region": rng.choice(list("abcd"), 8000),
    ...                    "y": rng.integers(0, 2, 8000)})
    >>> df["p"] = np.where((df["region"] == "c") & (rng.random(8000) < 0.3), 1 - df["y"],
    ...                    df["y"])
    >>> report = find_slices(df, y_true="y", y_pred="p", max_depth=1)
    >>> [s.attributes for s in report.slices]
    [{'region': 'c'}]
    """
    _check(metric, max_depth, min_support, alpha)
    y, p = _outcomes(frame, y_true, y_pred, y_score, threshold)
    chosen = list(columns) if columns is not None else slice_columns(
        frame, [y_true, y_pred, y_score])
    if not chosen:
        raise ValueError(MSG_NO_COLUMNS)
    for column in chosen:
        if column not in frame.columns:
            raise ValueError(MSG_COLUMN.format(column=column,
                                               present=", ".join(map(str, frame.columns))))
    need = 2 * min_support
    if len(frame) < need:
        raise ValueError(MSG_TOO_FEW.format(n=len(frame), need=need, half=min_support))
    report = progress or (lambda fraction, message: None)
    report(0.0, f"Binning {len(chosen)} columns of {len(frame):,} rows")
    codes, labels = _encode(frame, chosen, bins)
    binned = {c: labels[c] for c in chosen if pd.api.types.is_numeric_dtype(frame[c])
              and not pd.api.types.is_bool_dtype(frame[c]) and frame[c].nunique() > bins}
    patterns = Patterns.of_rows(codes, y * 2 + p)
    del codes  # the patterns replace the rows' codes (memory on wide tables)
    return _find(patterns, columns=chosen, labels=labels,
                 binned=binned, metric=metric, max_depth=max_depth, min_support=min_support,
                 bins=bins, alpha=alpha, random_state=random_state, report=report)


@dataclass(frozen=True)
class Patterns:
    """The decisions as counted patterns: each distinct combination of the columns' codes
    and the decision's confusion cell (``y_true * 2 + y_pred``), with how many rows have
    it, in lexicographic order of ``(codes..., cell)``.

    Slice discovery needs nothing else, so the rows of a table can stay where they live:
    a database returns these counts from one GROUP BY
    (:mod:`audits.slices.pushdown`), and a frame's rows are counted the same way, so both
    give the same patterns, the same held-out split and the same slices.
    """

    codes: np.ndarray
    cell: np.ndarray
    count: np.ndarray

    @classmethod
    def of_rows(cls, codes: np.ndarray, cell: np.ndarray,
                count: np.ndarray | None = None) -> Patterns:
        """Count the distinct rows of ``codes`` (rows x columns) with ``cell`` (each row
        weighted by ``count``, default 1), in lexicographic order."""
        codes = np.asarray(codes).reshape(len(cell), -1)
        cell = np.asarray(cell, dtype=np.int64)
        weight = (np.ones(len(cell), dtype=np.int64) if count is None
                  else np.asarray(count, dtype=np.int64))
        if len(cell) == 0:
            return cls(codes.astype(np.int32), cell, weight)
        columns = [codes[:, j] for j in range(codes.shape[1])] + [cell]
        sizes = [int(c.max()) + 1 for c in columns]
        if float(np.prod(np.array(sizes, dtype=np.float64))) < 2.0**62:
            # Mixed radix, the first column most significant: the key's order is the
            # lexicographic order of the rows.
            key = np.zeros(len(cell), dtype=np.int64)
            for column, size in zip(columns, sizes, strict=True):
                key *= size
                key += column
            order = np.argsort(key, kind="stable")
            ranked = key[order]
            starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        else:
            order = np.lexsort(columns[::-1])
            differs = np.zeros(len(cell) - 1, dtype=bool)
            for column in columns:
                ranked = column[order]
                differs |= ranked[1:] != ranked[:-1]
            starts = np.flatnonzero(np.r_[True, differs])
        first = order[starts]
        total = np.add.reduceat(weight[order], starts) if len(starts) < len(cell) else (
            weight[order])
        keep = total > 0
        return cls(codes[first[keep]].astype(np.int32), cell[first[keep]], total[keep])

    @property
    def rows(self) -> int:
        return int(self.count.sum())


def _find(patterns: Patterns, *, columns: Sequence[str], labels: Mapping[str, list[str]],
          binned: Mapping[str, list[str]], metric: str, max_depth: int, min_support: int,
          bins: int, alpha: float, random_state: int, report: Progress) -> SliceReport:
    """Slice discovery on counted patterns (steps 2-4 of the module's description).

    The held-out half is drawn per pattern: ``Binomial(count, 1/2)`` of its rows, which
    is what a fair coin per row gives (the rows of a pattern are alike).
    """
    chosen = list(columns)
    hold = np.random.default_rng(random_state).binomial(patterns.count, 0.5)
    depth = min(max_depth, len(chosen))
    sets = [c for k in range(1, depth + 1) for c in itertools.combinations(range(len(chosen)), k)]
    _check_cells(sets, chosen, labels)
    counts = _Counts(patterns.codes, [len(labels[c]) for c in chosen], patterns.cell,
                     patterns.count - hold, hold, sets, metric,
                     progress=lambda f, m: report(0.05 + 0.75 * f, m))
    report(0.8, "Testing every slice against the rest (Benjamini-Hochberg)")
    found = _discover(counts, min_support, alpha)
    report(0.9, f"Checking the {len(found.discovered)} discovered slices on the held-out half")
    confirmed = _confirm(found, counts, alpha)
    held = hold > 0
    confirmed = _explained_away(confirmed, patterns.codes[held],
                                *_cell_events(patterns.cell[held], metric), hold[held],
                                alpha / max(1, len(found.discovered)))
    tot_n, tot_e = counts.get((), None)
    slices = []
    for key, (p_adj, p_hold) in confirmed.items():
        n, e = counts.get(key, None)
        low, high = wilson_interval(np.array([e]), np.array([n]))
        slices.append(Slice(
            attributes={chosen[i]: labels[chosen[i]][code] for i, code in key},
            n=int(n), value=e / n, ci_low=float(low[0]), ci_high=float(high[0]),
            complement_value=(tot_e - e) / (tot_n - n) if tot_n > n else math.nan,
            p_adjusted=p_adj, p_holdout=p_hold))
    slices.sort(key=lambda s: (-s.value, s.p_adjusted, len(s.attributes)))
    report(1.0, f"{len(slices)} slice(s) confirmed of {found.tested:,} tested")
    return SliceReport(
        rows=patterns.rows, metric=metric, n_tested=found.tested,
        n_discovered=len(found.discovered), columns=tuple(chosen), slices=tuple(slices),
        bins={c: list(v) for c, v in binned.items()},
        config={"max_depth": max_depth, "min_support": min_support,
                "bins": bins, "alpha": alpha, "random_state": random_state,
                "correction": "benjamini_hochberg", "holdout": "bonferroni"})


def _check(metric: str, max_depth: int, min_support: int, alpha: float) -> None:
    if metric not in METRICS:
        raise ValueError(MSG_METRIC.format(names=", ".join(METRICS), metric=metric))
    if max_depth not in (1, 2, 3) or isinstance(max_depth, bool):
        raise ValueError(MSG_DEPTH.format(depth=max_depth))
    if isinstance(min_support, bool) or not isinstance(min_support, int) or min_support < 1:
        raise ValueError(MSG_SUPPORT.format(n=min_support))
    if not 0 < alpha < 1:
        raise ValueError(MSG_ALPHA.format(alpha=alpha))


def _check_cells(sets: Sequence[tuple[int, ...]], chosen: Sequence[str],
                 labels: Mapping[str, Sequence[str]]) -> None:
    for combo in sets:
        cells = int(np.prod([len(labels[chosen[i]]) for i in combo], dtype=np.float64)) * 8
        if cells > MAX_CELLS:
            raise ValueError(MSG_TOO_MANY_CELLS.format(
                columns=", ".join(repr(chosen[i]) for i in combo), cells=cells,
                limit=MAX_CELLS))


def _outcomes(frame: pd.DataFrame, y_true: str, y_pred: str | None, y_score: str | None,
              threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    for column in (y_true, y_pred, y_score):
        if column is not None and column not in frame.columns:
            raise ValueError(MSG_COLUMN.format(column=column,
                                               present=", ".join(map(str, frame.columns))))
    if y_pred is None:
        if y_score is None or threshold is None:
            raise ValueError("give y_pred, or y_score with threshold")
        p = (pd.to_numeric(frame[y_score]) >= threshold).to_numpy(dtype=np.int8)
    else:
        p = _binary(frame[y_pred], "y_pred")
    return _binary(frame[y_true], "y_true"), p


def _binary(column: pd.Series, role: str) -> np.ndarray:
    values = pd.unique(column)
    if not set(values.tolist()) <= {0, 1}:
        shown = ", ".join(map(repr, list(values)[:5]))
        raise ValueError(MSG_BINARY.format(role=role, column=column.name, values=shown))
    out: np.ndarray = column.to_numpy(dtype=np.int8)
    return out


def _encode(frame: pd.DataFrame, columns: Sequence[str], bins: int
            ) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Small integer codes per column (quantile bins for numbers) and their labels."""
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {}
    for column in columns:
        values = frame[column]
        numeric = (pd.api.types.is_numeric_dtype(values)
                   and not pd.api.types.is_bool_dtype(values))
        if numeric and values.nunique() > bins:
            # + 0.0 makes -0.0 a 0.0: one zero, whichever order a sort leaves them in.
            edges = np.unique(np.nanquantile(values.to_numpy(dtype=float) + 0.0,
                                             np.linspace(0, 1, bins + 1)))
            inner = edges[1:-1]
            index = np.searchsorted(inner, values.to_numpy(dtype=float), side="right")
            names = [_interval(lo, hi, last=i == len(edges) - 2)
                     for i, (lo, hi) in enumerate(itertools.pairwise(edges))]
            missing = values.isna().to_numpy()
            if missing.any():
                index[missing] = len(names)
                names.append(MISSING)
            codes[column], labels[column] = index.astype(np.int16), names
        else:  # values in sorted order of their text, a missing value as its own
            found, uniques = pd.factorize(values, use_na_sentinel=True)
            names = [str(u) for u in uniques]
            order = sorted(range(len(names)), key=names.__getitem__)
            rank = np.empty(len(names) + 1, dtype=np.int32)
            rank[order] = np.arange(len(names))
            rank[-1] = len(names)  # -1 (missing) indexes this last slot
            index = rank[found]
            sorted_names = [names[i] for i in order]
            if (found < 0).any():
                sorted_names.append(MISSING)
            codes[column], labels[column] = index.astype(np.int16), sorted_names
    return np.column_stack([codes[c].astype(np.int32) for c in columns]), labels


def _interval(lo: float, hi: float, *, last: bool) -> str:
    return f"[{_num(lo)}, {_num(hi)}{']' if last else ')'}"


def _num(value: float) -> str:
    return f"{value:.6g}"


Key = tuple[tuple[int, int], ...]
#: The cells of a decision: y * 2 + p (true negative, false positive, false negative,
#: true positive), and which of them each metric's population and events are.
_CELLS = {"all": (0, 1, 2, 3), "positives": (2, 3), "negatives": (0, 1), "fn": (2,),
          "fp": (1,), "errors": (1, 2), "selected": (1, 3)}


class _Counts:
    """Every slice's counts, as one array per column set: ``levels... x 4 cells x 2
    halves`` (discovery, hold-out), each made by one ``np.bincount`` of a combined key.

    A 3-way set of columns with 4, 5 and 6 values is a 4 x 5 x 6 x 4 x 2 array; a slice is
    an index into it. Only the counts are kept, never a row.
    """

    def __init__(self, codes: np.ndarray, levels: Sequence[int], cell: np.ndarray,
                 discovery: np.ndarray, holdout: np.ndarray,
                 sets: Sequence[tuple[int, ...]], metric: str,
                 progress: Progress | None = None) -> None:
        population, events = METRICS[metric]
        self.pop, self.ev = list(_CELLS[population]), list(_CELLS[events])
        self.levels = list(levels)
        # Each pattern once per half it has rows in, weighted by those rows (a pattern
        # of one row, or all of whose rows fell in one half, needs no copy).
        if not ((discovery > 0) & (holdout > 0)).any():
            cell_half = cell.astype(np.int64) * 2 + (holdout > 0)
            weight = discovery + holdout
        else:
            parts = [(discovery > 0, 0, discovery), (holdout > 0, 1, holdout)]
            codes = np.concatenate([codes[w] for w, _, _ in parts])
            cell_half = np.concatenate([cell[w].astype(np.int64) * 2 + h
                                        for w, h, _ in parts])
            weight = np.concatenate([n[w] for w, _, n in parts])
        # Rows counted once each (most rows of a wide table) need no weights, and an
        # unweighted count is faster; sums of whole numbers below 2**53 are exact in
        # float64 otherwise.
        weights = None if bool((weight == 1).all()) else weight.astype(np.float64)
        self.cubes: dict[tuple[int, ...], np.ndarray] = {}
        singles = [np.ascontiguousarray(codes[:, i]) for i in range(codes.shape[1])]
        tail = [c * 8 + cell_half for c in singles]  # a column's code with cell and half
        prefix: tuple[tuple[int, ...], np.ndarray] | None = None
        every = max(1, len(sets) // 50)  # about 50 progress reports, whatever the sets
        for done, combo in enumerate(sets):
            if progress is not None and done % every == 0:
                progress(done / len(sets), f"Counting slices: set {done + 1:,} of "
                                           f"{len(sets):,} sets of columns")
            if len(combo) == 1:
                key = tail[combo[0]]
            else:
                head = combo[:-1]
                if prefix is None or prefix[0] != head:  # sets come in order: reuse it
                    start = singles[head[0]].astype(np.int64)
                    for i in head[1:]:
                        start = start * self.levels[i] + singles[i]
                    prefix = (head, start)
                key = prefix[1] * (self.levels[combo[-1]] * 8) + tail[combo[-1]]
            size = int(np.prod([self.levels[i] for i in combo])) * 8
            self.cubes[combo] = np.bincount(key, weights=weights, minlength=size).astype(
                np.int64, copy=False).reshape(*[self.levels[i] for i in combo], 4, 2)
        self.total = np.bincount(cell_half, weights=weights, minlength=8).astype(
            np.int64, copy=False).reshape(4, 2)

    def arrays(self, combo: tuple[int, ...], half: int | None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Population and event counts of every slice of ``combo`` (both halves: None)."""
        cube = self.cubes[combo]
        cube = cube.sum(axis=-1) if half is None else cube[..., half]
        return cube[..., self.pop].sum(axis=-1), cube[..., self.ev].sum(axis=-1)

    def get(self, key: Key, half: int | None) -> tuple[int, int]:
        """Population and events of one slice (``()``: every row)."""
        if not key:
            cells = self.total.sum(axis=-1) if half is None else self.total[:, half]
            return int(cells[self.pop].sum()), int(cells[self.ev].sum())
        combo = tuple(i for i, _ in key)
        n, e = self.arrays(combo, half)
        index = tuple(c for _, c in key)
        return int(n[index]), int(e[index])


def _worse_p(e1: int, n1: int, e2: int, n2: int) -> float:
    """One-sided p of the z-test that group 1's rate exceeds group 2's (pooled)."""
    return float(_worse_ps(np.array([e1]), np.array([n1]), np.array([e2]), np.array([n2]))[0])


def _worse_ps(e1: np.ndarray, n1: np.ndarray, e2: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """:func:`_worse_p` over arrays: 1 where a side is empty or nothing varies."""
    e1, n1, e2, n2 = (np.asarray(a, dtype=np.float64) for a in (e1, n1, e2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (e1 + e2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (e1 / n1 - e2 / n2) / se
    out = norm.sf(z)
    out[~((n1 > 0) & (n2 > 0) & (se > 0) & np.isfinite(z))] = 1.0
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class _Found:
    tested: int
    discovered: dict[Key, float]


def _discover(counts: _Counts, min_support: int, alpha: float) -> _Found:
    """Test every slice with enough support on the discovery half; BH over all of them;
    keep those worse than each parent."""
    tot_n, tot_e = counts.get((), 0)
    keys: list[Key] = []
    ps: list[np.ndarray] = []
    for combo in counts.cubes:
        n, e = counts.arrays(combo, 0)
        ok = (n >= min_support) & (tot_n - n >= min_support)
        if not ok.any():
            continue
        where = np.argwhere(ok)
        ps.append(_worse_ps(e[ok], n[ok], tot_e - e[ok], tot_n - n[ok]))
        keys += [tuple(zip(combo, map(int, idx), strict=True)) for idx in where]
    if not keys:
        return _Found(0, {})
    adjusted = benjamini_hochberg(np.concatenate(ps))
    discovered = {}
    for i in np.flatnonzero(adjusted <= alpha):
        key = keys[i]
        if _worse_than_parents(counts, key, 0, alpha):
            discovered[key] = float(adjusted[i])
    return _Found(len(keys), discovered)


def _worse_than_parents(counts: _Counts, key: Key, half: int, level: float) -> bool:
    n, e = counts.get(key, half)
    for drop in range(len(key)) if len(key) > 1 else ():
        parent_n, parent_e = counts.get(key[:drop] + key[drop + 1:], half)
        if _worse_p(e, n, parent_e - e, parent_n - n) > level:
            return False
    return True


def _cell_events(cell: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Each pattern (of confusion cell ``y_true * 2 + y_pred``): in the metric's
    population, and an event of it."""
    population, events = METRICS[metric]
    return np.isin(cell, _CELLS[population]), np.isin(cell, _CELLS[events])


def _explained_away(confirmed: dict[Key, tuple[float, float]], codes: np.ndarray,
                    population: np.ndarray, events: np.ndarray, weight: np.ndarray,
                    level: float) -> dict[Key, tuple[float, float]]:
    """Keep the confirmed slices that are bad on their own, strongest first: a slice is
    dropped when, without the rows of the slices kept before it, it is no longer worse
    than the rest (on the hold-out half: its patterns, each of ``weight`` rows). A
    parent of a bad slice, or the overlap of two bad slices, is then not reported as a
    third."""
    taken = np.zeros(len(codes), dtype=bool)
    kept = {}
    for key in sorted(confirmed, key=lambda k: (confirmed[k][1], len(k))):
        inside = np.ones(len(codes), dtype=bool)
        for column, code in key:
            inside &= codes[:, column] == code
        own = inside & ~taken & population
        rest = ~inside & population
        p_own = _worse_p(int(weight[own & events].sum()), int(weight[own].sum()),
                         int(weight[rest & events].sum()), int(weight[rest].sum()))
        if p_own <= level:
            kept[key] = confirmed[key]
            taken |= inside
    return kept


def _confirm(found: _Found, counts: _Counts, alpha: float
             ) -> dict[Key, tuple[float, float]]:
    """The discovered slices the hold-out half confirms: worse than the rest and than
    each parent, at ``alpha`` over the number discovered."""
    if not found.discovered:
        return {}
    tot_n, tot_e = counts.get((), 1)
    level = alpha / len(found.discovered)
    out = {}
    for key, p_adj in found.discovered.items():
        n, e = counts.get(key, 1)
        p_hold = _worse_p(e, n, tot_e - e, tot_n - n)
        if p_hold <= level and _worse_than_parents(counts, key, 1, level):
            out[key] = (p_adj, p_hold)
    return out
