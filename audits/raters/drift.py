"""Drift and fatigue: does reviewers' quality change along a session or over time?

Two measures, each on two axes.

Measures
    ``accuracy``: the share of ratings equal to ``truth``, over ratings whose truth is
    known. ``agreement``: the share of pairs (this rating, another rating of the same
    case) that agree; a rating on a case with ``k`` other ratings contributes ``k``
    pairs, and cases rated once drop out.

Axes
    ``position`` (order in the reviewer's session), cut into ``n_bins`` bins of about
    equal numbers of ratings (quantile edges; tied edges merge bins); and ``time``, the
    calendar week (Monday to Sunday) of ``rated_at``.

Intervals
    Wilson score intervals from the bin's successes and trials. They treat ratings (and,
    for agreement, pairs) as independent, which ignores that ratings of one reviewer or
    one case are correlated; read them as approximate.

Trend test
    Spearman's rank correlation between the axis (raw position or timestamp, not the
    bins) and the rating's outcome (1/0 correct; the share of agreeing pairs), tested by
    permuting the axis values *within each reviewer*: under the null that a reviewer's
    outcomes do not depend on where in their work they fall, every within-reviewer
    ordering is equally likely. Differences between reviewers (an accurate reviewer who
    rates mostly early) therefore cannot produce a trend, only changes within reviewers
    can. Two-sided, ``p = (1 + #{|rho_perm| >= |rho|}) / (1 + n_permutations)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from audits.fairness.intervals import wilson_interval
from audits.raters.ratings import check_options, leave_one_out, prepare_ratings

__all__ = ["drift_and_fatigue"]

MSG_NO_AXIS = "drift_and_fatigue needs a 'position' or a 'rated_at' column; neither is present"
COLUMNS = ["axis", "bin", "bin_label", "measure", "n", "successes", "value", "ci_low",
           "ci_high", "rho", "trend_p"]
CHUNK = 200


def drift_and_fatigue(ratings: pd.DataFrame, *, n_bins: int = 5, level: float = 0.95,
                      n_permutations: int = 2000, random_state: int = 0,
                      columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Accuracy and agreement by position in session and by week, with trend tests.

    The measures, bins, intervals and test are described in the module docstring.

    Parameters
    ----------
    ratings : pandas.DataFrame
        ``case_id, reviewer_id, label`` and ``position`` and/or ``rated_at``; ``truth``
        for accuracy.
    n_bins : int, default 5
        Position bins (at least 1).
    level : float, default 0.95
    n_permutations : int, default 2000
        Permutations of each trend test (at least 1).
    random_state : int, default 0
    columns : mapping role -> column name, or None

    Returns
    -------
    pandas.DataFrame
        One row per (axis, bin, measure): ``axis`` ("position" or "time"), ``bin``
        (0, 1, ...), ``bin_label``, ``measure``, ``n`` (trials), ``successes``,
        ``value, ci_low, ci_high``, and the axis-wide ``rho`` and ``trend_p`` of the
        measure (repeated on each of its bins).

    Examples
    --------
    >>> df = pd.DataFrame({"case_id": [1, 2, 3, 4], "reviewer_id": ["a"] * 4,
    ...                    "label": [1, 1, 0, 0], "truth": [1, 1, 1, 1],
    ...                    "position": [1, 2, 3, 4]})
    >>> out = drift_and_fatigue(df, n_bins=2, n_permutations=50)
    >>> out[["bin_label", "n", "value", "rho"]].round(3)
      bin_label  n  value    rho
    0  1 to 2.5  2    1.0 -0.894
    1  2.5 to 4  2    0.0 -0.894
    """
    check_options(ints={"n_bins": (n_bins, 1), "n_permutations": (n_permutations, 1)},
                  units={"level": level})
    data = prepare_ratings(ratings, columns)
    axes = [a for a in ("position", "rated_at") if a in data]
    if not axes:
        raise ValueError(MSG_NO_AXIS)
    outcomes = _outcomes(data)
    rng = np.random.default_rng(random_state)
    parts = []
    for axis in axes:
        raw = data[axis].to_numpy()
        value = raw.astype("datetime64[ns]").astype(np.int64) if axis == "rated_at" else raw
        bins, labels = (_position_bins(value, n_bins) if axis == "position"
                        else _week_bins(data[axis]))
        for measure, (success, trials) in outcomes.items():
            keep = trials > 0
            if not keep.any():
                continue
            rho, p = _trend(value[keep], success[keep] / trials[keep],
                            data["reviewer_id"].to_numpy()[keep], n_permutations, rng)
            table = _binned(bins[keep], labels, success[keep], trials[keep], level)
            parts.append(table.assign(axis="position" if axis == "position" else "time",
                                      measure=measure, rho=rho, trend_p=p))
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _outcomes(data: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    label = data["label"].to_numpy(dtype=np.float64)
    out = {}
    if "truth" in data:
        truth = data["truth"].to_numpy()
        known = ~np.isnan(truth)
        out["accuracy"] = ((label == truth) & known).astype(float), known.astype(float)
    consensus, others = leave_one_out(data)
    agreeing = np.where(others > 0, np.where(label == 1, consensus, 1 - consensus) * others, 0)
    out["agreement"] = np.round(agreeing), others.astype(float)
    return out


def _position_bins(value: np.ndarray, n_bins: int) -> tuple[np.ndarray, list[str]]:
    edges = np.unique(np.quantile(value, np.linspace(0, 1, n_bins + 1)))
    if len(edges) == 1:
        return np.zeros(len(value), dtype=np.int64), [f"{_fmt(edges[0])} to {_fmt(edges[0])}"]
    bins = np.clip(np.searchsorted(edges, value, side="right") - 1, 0, len(edges) - 2)
    labels = [f"{_fmt(lo)} to {_fmt(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return bins, labels


def _week_bins(times: pd.Series) -> tuple[np.ndarray, list[str]]:
    naive = times.dt.tz_localize(None) if times.dt.tz is not None else times
    monday = (naive.dt.normalize() - pd.to_timedelta(naive.dt.day_of_week, unit="D")).to_numpy()
    weeks, bins = np.unique(monday, return_inverse=True)
    return bins.astype(np.int64), [f"week of {pd.Timestamp(w).date()}" for w in weeks]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


def _binned(bins: np.ndarray, labels: list[str], success: np.ndarray, trials: np.ndarray,
            level: float) -> pd.DataFrame:
    k = len(labels)
    s = np.bincount(bins, weights=success, minlength=k)
    n = np.bincount(bins, weights=trials, minlength=k)
    low, high = wilson_interval(s, n, level=level)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n > 0, s / n, np.nan)
    return pd.DataFrame({"bin": np.arange(k), "bin_label": labels, "n": n.astype(np.int64),
                         "successes": s.astype(np.int64), "value": value, "ci_low": low,
                         "ci_high": high})


def _trend(axis: np.ndarray, outcome: np.ndarray, reviewers: np.ndarray,
           n_permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """Spearman rho and its within-reviewer permutation p-value (NaN if undefined)."""
    if len(axis) < 3:
        return np.nan, np.nan
    x = stats.rankdata(axis)
    y = stats.rankdata(outcome)
    x, y = x - x.mean(), y - y.mean()
    scale = np.sqrt((x @ x) * (y @ y))
    if scale == 0:
        return np.nan, np.nan
    rho = float(x @ y / scale)
    codes, _ = pd.factorize(reviewers)
    order = np.argsort(codes, kind="stable")
    x_sorted, y_sorted, block = x[order], y[order], codes[order].astype(float)
    exceed = 0
    for start in range(0, n_permutations, CHUNK):
        size = min(CHUNK, n_permutations - start)
        shuffle = np.argsort(block + rng.random((size, len(x))), axis=1)
        null = x_sorted[shuffle] @ y_sorted / scale
        exceed += int((np.abs(null) >= abs(rho) - 1e-12).sum())
    return rho, (1 + exceed) / (1 + n_permutations)
