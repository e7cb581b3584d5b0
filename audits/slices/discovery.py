"""Finding the worst-off subgroups nobody declared: every 1-, 2- and 3-way slice, tested.

Auditors test the groups someone thought of; the worst-off are often intersections nobody
named (age band x region x product). :func:`find_slices` looks at every slice of the
chosen columns up to ``max_depth`` attributes:

1. **Bins.** A numeric column with more than ``bins`` distinct values is cut at its
   quantiles (labels like ``"[31, 45)"``); every other column keeps its values, a missing
   value being a value of its own.
2. **Counts.** One GROUP BY GROUPING SETS query in DuckDB counts every slice at once (the
   pushdown of :mod:`audits.fairness.pushdown`: only the counts leave the engine), once
   on a random half of the rows (discovery) and once on the other half (hold-out).
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from audits.fairness.intervals import wilson_interval
from audits.fairness.significance import benjamini_hochberg

__all__ = ["DEFAULT_BINS", "METRICS", "Slice", "SliceReport", "find_slices", "slice_columns"]

#: What a slice can be worse at: the metric, its population and its events.
METRICS = {
    "error_rate": ("all", "errors"),
    "false_positive_rate": ("negatives", "fp"),
    "false_negative_rate": ("positives", "fn"),
    "selection_rate": ("all", "selected"),
}
#: Quantile bins of a numeric column.
DEFAULT_BINS = 4
MISSING = "<missing>"
MSG_METRIC = "metric must be one of {names}; got {metric!r}"
MSG_DEPTH = "max_depth must be 1, 2 or 3; got {depth!r}"
MSG_SUPPORT = "min_support must be an integer >= 1; got {n!r}"
MSG_ALPHA = "alpha must lie in (0, 1); got {alpha!r}"
MSG_COLUMN = "column {column!r} is not in the data; columns: {present}"
MSG_NO_COLUMNS = "no columns to slice on (every column is a role column)"
MSG_TOO_FEW = "{n} rows: slice discovery needs at least {need} (two halves of {half})"
MSG_BINARY = "{role} column {column!r} must hold 0 and 1 only; got {values}"


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


def find_slices(
    frame: pd.DataFrame, *, y_true: str, y_pred: str | None = None,
    y_score: str | None = None, threshold: float | None = None,
    metric: str = "error_rate", columns: Sequence[str] | None = None, max_depth: int = 3,
    min_support: int = 100, bins: int = DEFAULT_BINS, alpha: float = 0.05,
    random_state: int = 0,
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
    codes, labels = _encode(frame, chosen, bins)
    half = np.random.default_rng(random_state).random(len(frame)) < 0.5
    depth = min(max_depth, len(chosen))
    sets = [c for k in range(1, depth + 1) for c in itertools.combinations(range(len(chosen)), k)]
    discovery = _count(codes, y, p, sets, half)
    holdout = _count(codes, y, p, sets, ~half)
    population, events = METRICS[metric]
    found = _discover(discovery, population, events, min_support, alpha)
    confirmed = _confirm(found, holdout, population, events, alpha)
    confirmed = _explained_away(confirmed, codes.to_numpy()[~half],
                                *_row_events(y[~half], p[~half], metric),
                                alpha / max(1, len(found.discovered)))
    total = _add(discovery, holdout)
    tot_n, tot_e = _totals(total, population, events)
    slices = []
    for key, (p_adj, p_hold) in confirmed.items():
        n, e = total[key][population], total[key][events]
        low, high = wilson_interval(np.array([e]), np.array([n]))
        slices.append(Slice(
            attributes={chosen[i]: labels[chosen[i]][code] for i, code in key},
            n=int(n), value=e / n, ci_low=float(low[0]), ci_high=float(high[0]),
            complement_value=(tot_e - e) / (tot_n - n) if tot_n > n else math.nan,
            p_adjusted=p_adj, p_holdout=p_hold))
    slices.sort(key=lambda s: (-s.value, s.p_adjusted, len(s.attributes)))
    binned = {c: labels[c] for c in chosen if pd.api.types.is_numeric_dtype(frame[c])
              and not pd.api.types.is_bool_dtype(frame[c]) and frame[c].nunique() > bins}
    return SliceReport(
        rows=len(frame), metric=metric, n_tested=len(found.tested),
        n_discovered=len(found.discovered), columns=tuple(chosen), slices=tuple(slices),
        bins=binned, config={"max_depth": max_depth, "min_support": min_support,
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
            ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Small integer codes per column (quantile bins for numbers) and their labels."""
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {}
    for column in columns:
        values = frame[column]
        numeric = (pd.api.types.is_numeric_dtype(values)
                   and not pd.api.types.is_bool_dtype(values))
        if numeric and values.nunique() > bins:
            edges = np.unique(np.nanquantile(values.to_numpy(dtype=float),
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
        else:
            as_text = values.astype(object).where(values.notna(), MISSING).astype(str)
            uniques, index = np.unique(as_text.to_numpy(), return_inverse=True)
            codes[column], labels[column] = index.astype(np.int16), [str(u) for u in uniques]
    return pd.DataFrame(codes), labels


def _interval(lo: float, hi: float, *, last: bool) -> str:
    return f"[{_num(lo)}, {_num(hi)}{']' if last else ')'}"


def _num(value: float) -> str:
    return f"{value:.6g}"


Key = tuple[tuple[int, int], ...]


def _count(codes: pd.DataFrame, y: np.ndarray, p: np.ndarray,
           sets: Sequence[tuple[int, ...]], rows: np.ndarray) -> dict[Key, dict[str, int]]:
    """Every slice's counts in one GROUPING SETS query (DuckDB), over ``rows``."""
    import duckdb

    names = [f"c{i}" for i in range(codes.shape[1])]
    table = codes.set_axis(names, axis=1).loc[rows].assign(y=y[rows], p=p[rows])
    grouping = ", ".join("(" + ", ".join(names[i] for i in s) + ")" for s in sets)
    query = (f"SELECT {', '.join(names)}, count(*) AS n, sum(y) AS positives, "
             "sum(CASE WHEN y = 1 AND p = 0 THEN 1 ELSE 0 END) AS fn, "
             "sum(CASE WHEN y = 0 AND p = 1 THEN 1 ELSE 0 END) AS fp, sum(p) AS selected "
             f"FROM slices_source GROUP BY GROUPING SETS ({grouping})")
    con = duckdb.connect()
    try:
        con.register("slices_source", table)
        result = con.execute(query).fetchnumpy()
        total = con.execute("SELECT count(*), sum(y), sum(CASE WHEN y = 1 AND p = 0 THEN 1 "
                            "ELSE 0 END), sum(CASE WHEN y = 0 AND p = 1 THEN 1 ELSE 0 END), "
                            "sum(p) FROM slices_source").fetchone()
    finally:
        con.close()
    out: dict[Key, dict[str, int]] = {}
    columns = [np.ma.getmaskarray(result[n]) for n in names]
    values = [np.ma.getdata(result[n]) for n in names]
    for r in range(len(result["n"])):
        key = tuple((i, int(values[i][r])) for i in range(len(names)) if not columns[i][r])
        out[key] = _cells(int(result["n"][r]), int(result["positives"][r]),
                          int(result["fn"][r]), int(result["fp"][r]),
                          int(result["selected"][r]))
    n, positives, fn, fp, selected = (int(v or 0) for v in total)  # type: ignore[union-attr]
    out[()] = _cells(n, positives, fn, fp, selected)
    return out


def _cells(n: int, positives: int, fn: int, fp: int, selected: int) -> dict[str, int]:
    return {"all": n, "positives": positives, "negatives": n - positives, "fn": fn,
            "fp": fp, "errors": fn + fp, "selected": selected}


def _add(a: dict[Key, dict[str, int]], b: dict[Key, dict[str, int]]
         ) -> dict[Key, dict[str, int]]:
    keys = set(a) | set(b)
    zero = _cells(0, 0, 0, 0, 0)
    return {k: {c: a.get(k, zero)[c] + b.get(k, zero)[c] for c in zero} for k in keys}


def _totals(counts: dict[Key, dict[str, int]], population: str, events: str
            ) -> tuple[int, int]:
    return counts[()][population], counts[()][events]


def _worse_p(e1: int, n1: int, e2: int, n2: int) -> float:
    """One-sided p of the z-test that group 1's rate exceeds group 2's (pooled)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (e1 + e2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(norm.sf((e1 / n1 - e2 / n2) / se))


@dataclass(frozen=True)
class _Found:
    tested: dict[Key, float]
    discovered: dict[Key, float]


def _discover(counts: dict[Key, dict[str, int]], population: str, events: str,
              min_support: int, alpha: float) -> _Found:
    tot_n, tot_e = _totals(counts, population, events)
    tested = {}
    for key, cells in counts.items():
        n, e = cells[population], cells[events]
        if key and n >= min_support and tot_n - n >= min_support:
            tested[key] = _worse_p(e, n, tot_e - e, tot_n - n)
    if not tested:
        return _Found({}, {})
    keys = list(tested)
    adjusted = benjamini_hochberg(np.array([tested[k] for k in keys]))
    discovered = {}
    for key, p_adj in zip(keys, adjusted, strict=True):
        if p_adj <= alpha and _worse_than_parents(counts, key, population, events, alpha):
            discovered[key] = float(p_adj)
    return _Found(tested, discovered)


def _worse_than_parents(counts: dict[Key, dict[str, int]], key: Key, population: str,
                        events: str, alpha: float) -> bool:
    n, e = counts[key][population], counts[key][events]
    for drop in range(len(key)) if len(key) > 1 else ():
        parent = counts.get(key[:drop] + key[drop + 1:])
        if parent is None:
            return False
        rest_n, rest_e = parent[population] - n, parent[events] - e
        if _worse_p(e, n, rest_e, rest_n) > alpha:
            return False
    return True


def _row_events(y: np.ndarray, p: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row: in the metric's population, and an event of it."""
    if metric == "error_rate":
        return np.ones(len(y), dtype=bool), y != p
    if metric == "false_positive_rate":
        return y == 0, p == 1
    if metric == "false_negative_rate":
        return y == 1, p == 0
    return np.ones(len(y), dtype=bool), p == 1


def _explained_away(confirmed: dict[Key, tuple[float, float]], codes: np.ndarray,
                    population: np.ndarray, events: np.ndarray, level: float
                    ) -> dict[Key, tuple[float, float]]:
    """Keep the confirmed slices that are bad on their own, strongest first: a slice is
    dropped when, without the rows of the slices kept before it, it is no longer worse
    than the rest (on the hold-out half). A parent of a bad slice, or the overlap of two
    bad slices, is then not reported as a third."""
    taken = np.zeros(len(codes), dtype=bool)
    kept = {}
    for key in sorted(confirmed, key=lambda k: (confirmed[k][1], len(k))):
        inside = np.ones(len(codes), dtype=bool)
        for column, code in key:
            inside &= codes[:, column] == code
        own = inside & ~taken & population
        rest = ~inside & population
        p_own = _worse_p(int((own & events).sum()), int(own.sum()),
                         int((rest & events).sum()), int(rest.sum()))
        if p_own <= level:
            kept[key] = confirmed[key]
            taken |= inside
    return kept


def _confirm(found: _Found, holdout: dict[Key, dict[str, int]], population: str,
             events: str, alpha: float) -> dict[Key, tuple[float, float]]:
    if not found.discovered:
        return {}
    tot_n, tot_e = _totals(holdout, population, events)
    level = alpha / len(found.discovered)
    out = {}
    for key, p_adj in found.discovered.items():
        cells = holdout.get(key)
        if cells is None:
            continue
        n, e = cells[population], cells[events]
        p_hold = _worse_p(e, n, tot_e - e, tot_n - n)
        if p_hold <= level and _worse_than_parents(holdout, key, population, events, level):
            out[key] = (p_adj, p_hold)
    return out
