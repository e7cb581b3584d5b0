"""Uncertainty from counts: a stratified multinomial bootstrap, percentiles, Wilson.

Resampling the rows of a group with replacement (its size held fixed) gives the group's
confusion counts a multinomial distribution with the observed cell shares. So the
bootstrap draws the counts directly: one multinomial per group and replicate, all
replicates in one vectorised call, at a cost of O(groups x cells x replicates) however
many rows were counted. Holding every group's size fixed makes it a *stratified*
bootstrap: the uncertainty is that of each group's rates given how many people the
group has, which is what a per-group interval and a between-group difference ask for.

The percentile interval has a known blind spot: a proportion observed at 0 or 1 (no
false positives in a small group, say) makes every replicate identical, and the interval
collapses to a point; with a handful of events it is merely too narrow (at n = 300 and a
rate of 0.0125 it covers about 89% at a nominal 95%). So a proportion with fewer than
:data:`MIN_EVENTS` events or non-events (:func:`few_events`) gets a floor: its interval
is the hull of the percentile and Wilson score intervals, a difference involving it the
hull with Newcombe's hybrid score interval (:func:`newcombe_difference`), and a ratio
the hull with the ratio of the Wilson bounds. The audit tables
(:mod:`audits.fairness.tables`) apply the floor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

__all__ = [
    "MIN_EVENTS",
    "bootstrap_counts",
    "bootstrap_means",
    "few_events",
    "floor_disparities",
    "newcombe_difference",
    "percentile_interval",
    "resample_histogram",
    "wilson_interval",
]

MSG_N_BOOT = "n_boot must be a non-negative integer, got {value!r}"
MSG_LEVEL = "level must lie strictly between 0 and 1, got {value!r}"

#: A percentile interval needs at least this share of replicates where the statistic is
#: defined (a replicate can draw no positives for a small group, leaving TPR undefined).
MIN_DEFINED_SHARE = 0.5

#: A proportion with fewer events or non-events than this gets the Wilson floor.
MIN_EVENTS = 10

Progress = Callable[[float, str], None]


def bootstrap_counts(
    counts: np.ndarray,
    *,
    n_boot: int,
    random_state: int | np.random.Generator | None = 0,
    progress: Progress | None = None,
) -> np.ndarray:
    """Draw stratified bootstrap replicates of per-group counts.

    Each group's replicate is ``Multinomial(n_g, counts_g / n_g)``: exactly the
    distribution of the group's counts after resampling its ``n_g`` rows with
    replacement. Groups are resampled independently, each keeping its size.

    Groups take the random stream in the order of their counts (not their names), so
    renaming groups permutes the replicates with the groups.

    Parameters
    ----------
    counts : ndarray of int, shape (n_groups, n_cells)
        Observed counts per group, e.g. ``(tp, fp, fn, tn)``.
    n_boot : int
        Number of replicates.
    random_state : int, Generator or None, default 0
        Seed of the draws.
    progress : callable (fraction, message) or None
        Called after each chunk of replicates.

    Returns
    -------
    ndarray of int64, shape (n_boot, n_groups, n_cells)

    Examples
    --------
    >>> reps = bootstrap_counts(np.array([[3, 1, 1, 5]]), n_boot=4, random_state=1)
    >>> reps.shape, bool((reps.sum(axis=2) == 10).all())
    ((4, 1, 4), True)
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(MSG_N_BOOT.format(value=n_boot))
    x = np.asarray(counts, dtype=np.int64)
    rng = np.random.default_rng(random_state)
    order = np.lexsort(x.T[::-1])
    sizes = x[order].sum(axis=1)
    shares = x[order] / np.maximum(sizes, 1)[:, None]
    out = np.empty((n_boot, *x.shape), dtype=np.int64)
    chunk = max(1, min(n_boot, 4_000_000 // max(x.size, 1)))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        # Replicate-major draws: chunking does not change the stream.
        out[start:stop, order] = rng.multinomial(sizes, shares, size=(stop - start, len(x)))
        if progress is not None:
            progress(stop / max(n_boot, 1), f"Bootstrap: {stop} of {n_boot} replicates")
    return out


def resample_histogram(
    counts: np.ndarray, *, n_boot: int, random_state: np.random.Generator
) -> np.ndarray:
    """Draw bootstrap replicates of one group's histogram (any shape of cells).

    Only occupied cells are drawn, so a sparse fine histogram costs what its
    occupied cells cost.

    Examples
    --------
    >>> h = np.array([[2, 0, 1], [0, 3, 0]])
    >>> reps = resample_histogram(h, n_boot=5, random_state=np.random.default_rng(0))
    >>> reps.shape, bool((reps[:, 0, 1] == 0).all())
    ((5, 2, 3), True)
    """
    flat = np.asarray(counts, dtype=np.int64).reshape(-1)
    occupied = np.flatnonzero(flat)
    n = int(flat.sum())
    out = np.zeros((n_boot, flat.size), dtype=np.int64)
    if n > 0:
        out[:, occupied] = random_state.multinomial(n, flat[occupied] / n, size=n_boot)
    return out.reshape(n_boot, *np.shape(counts))


def bootstrap_means(rng: np.random.Generator, values: np.ndarray, n_boot: int) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``values`` (with replacement, each its own size);
    NaN replicates when ``values`` is empty.

    Examples
    --------
    >>> reps = bootstrap_means(np.random.default_rng(0), np.array([1.0, 3.0]), 4)
    >>> reps.shape, bool(((reps >= 1) & (reps <= 3)).all())
    ((4,), True)
    """
    if len(values) == 0:
        return np.full(n_boot, np.nan)
    out: np.ndarray = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(
        axis=1)
    return out


def percentile_interval(
    samples: np.ndarray, *, level: float = 0.95, min_defined: float = MIN_DEFINED_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """Return percentile bootstrap intervals along the first axis, ignoring NaN.

    Uses NumPy's default ("linear") quantile rule on the defined replicates. Where
    fewer than ``min_defined`` of the replicates are defined the interval is NaN.

    Parameters
    ----------
    samples : ndarray of shape (n_boot, ...)
    level : float, default 0.95

    Returns
    -------
    low, high : ndarray of shape samples.shape[1:]

    Examples
    --------
    >>> lo, hi = percentile_interval(np.arange(101.0)[:, None], level=0.9)
    >>> round(float(lo[0]), 9), round(float(hi[0]), 9)
    (5.0, 95.0)
    """
    _check_level(level)
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)  # NaN sort last
    n_boot = x.shape[0]
    defined = np.sum(~np.isnan(x), axis=0)
    bounds = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        pos = np.maximum(defined - 1, 0) * q
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(defined - 1, 0))
        lo = np.take_along_axis(x, below[None, ...], axis=0)[0]
        hi = np.take_along_axis(x, above[None, ...], axis=0)[0]
        value = lo + (pos - below) * (hi - lo)
        ok = (defined >= max(1, min_defined * n_boot)) if n_boot else np.zeros_like(value, bool)
        bounds.append(np.where(ok, value, np.nan))
    return bounds[0], bounds[1]


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, *, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Return Wilson score intervals for binomial proportions (NaN where no trials).

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([81]), np.array([263]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.2553, 0.3662)
    """
    _check_level(level)
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z**2 / (4.0 * n**2)) / denom
    ok = n > 0
    return (np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan),
            np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan))


def few_events(num: np.ndarray, den: np.ndarray, *, min_events: int = MIN_EVENTS) -> np.ndarray:
    """Say which proportions have too few events or non-events for a percentile interval.

    Examples
    --------
    >>> few_events(np.array([0, 4, 50, 296, 0]), np.array([300, 300, 300, 300, 0])).tolist()
    [True, True, False, True, False]
    """
    x, n = np.asarray(num), np.asarray(den)
    return np.asarray((n > 0) & ((x < min_events) | (n - x < min_events)), dtype=bool)


def newcombe_difference(
    p1: np.ndarray | float, low1: np.ndarray | float, high1: np.ndarray | float,
    p2: np.ndarray | float, low2: np.ndarray | float, high2: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p1 - p2`` from each proportion's interval.

    ``p1 - p2 - sqrt((p1 - low1)^2 + (high2 - p2)^2)`` to
    ``p1 - p2 + sqrt((high1 - p1)^2 + (p2 - low2)^2)`` (Newcombe 1998, method 10, with
    Wilson intervals): it never collapses to a point and covers well with few events.

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([0, 3]), np.array([20, 20]))
    >>> d_lo, d_hi = newcombe_difference(0.0, lo[0], hi[0], 0.15, lo[1], hi[1])
    >>> round(float(d_lo), 4), round(float(d_hi), 4)
    (-0.3604, 0.0384)
    """
    a, b = np.asarray(p1, dtype=np.float64), np.asarray(p2, dtype=np.float64)
    d = a - b
    return (np.asarray(d - np.sqrt((a - low1) ** 2 + (high2 - b) ** 2)),
            np.asarray(d + np.sqrt((high1 - a) ** 2 + (b - low2) ** 2)))


def floor_disparities(
    values: np.ndarray, low: np.ndarray, high: np.ndarray, floored: np.ndarray,
    rows: np.ndarray, ref: np.ndarray, d_low: np.ndarray, d_high: np.ndarray,
    r_low: np.ndarray, r_high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Widen disparity intervals where the group's or the reference's interval is floored.

    The difference interval becomes its hull with Newcombe's interval
    (:func:`newcombe_difference`) from the per-group floor intervals ``[low, high]``;
    the ratio interval its hull with ``[low_g / high_r, high_g / low_r]`` (``inf`` when
    ``low_r`` is 0). Intervals that are NaN (no bootstrap) stay NaN.

    Parameters
    ----------
    values, low, high : ndarray of shape (n_groups,)
        Per-group values and their floor intervals (e.g. Wilson).
    floored : ndarray of bool, shape (n_groups,)
        Groups whose intervals need the floor (e.g. :func:`few_events`).
    rows, ref : ndarray of int
        The groups compared, and every group's reference.
    d_low, d_high, r_low, r_high : ndarray of shape rows.shape
        The bootstrap intervals of the differences and ratios.

    Examples
    --------
    >>> v = np.array([0.0, 0.15]); lo, hi = wilson_interval(np.array([0, 3]), np.array([20, 20]))
    >>> out = floor_disparities(v, lo, hi, np.array([True, False]), np.array([0]),
    ...                         np.array([1, 1]), np.array([-0.15]), np.array([-0.15]),
    ...                         np.array([0.0]), np.array([0.0]))
    >>> [round(float(x[0]), 4) for x in out]
    [-0.3604, 0.0384, 0.0, 3.0767]
    """
    g, r = rows, ref[rows]
    where = (floored[g] | floored[r]) & ~(np.isnan(low[g]) | np.isnan(low[r]))
    n_low, n_high = newcombe_difference(values[g], low[g], high[g], values[r], low[r], high[r])
    with np.errstate(divide="ignore", invalid="ignore"):
        q_low = low[g] / high[r]
        q_high = np.where(low[r] > 0, high[g] / np.where(low[r] > 0, low[r], 1.0), np.inf)
    d_low, d_high = _hull(d_low, d_high, n_low, n_high, where)
    r_low, r_high = _hull(r_low, r_high, q_low, q_high, where)
    return d_low, d_high, r_low, r_high


def _hull(low: np.ndarray, high: np.ndarray, alt_low: np.ndarray, alt_high: np.ndarray,
          where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hull of an interval and an alternative one where ``where`` (NaN stays NaN)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    use = where & ~np.isnan(low) & ~np.isnan(high)
    return (np.where(use, np.fmin(low, alt_low), low),
            np.where(use, np.fmax(high, alt_high), high))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(MSG_LEVEL.format(value=level))
