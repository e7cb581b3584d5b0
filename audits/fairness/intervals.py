"""Uncertainty from counts: a stratified multinomial bootstrap, percentiles, Wilson.

Resampling the rows of a group with replacement (its size held fixed) gives the group's
confusion counts a multinomial distribution with the observed cell shares. So the
bootstrap draws the counts directly: one multinomial per group and replicate, all
replicates in one vectorised call, at a cost of O(groups x cells x replicates) however
many rows were counted. Holding every group's size fixed makes it a *stratified*
bootstrap: the uncertainty is that of each group's rates given how many people the
group has, which is what a per-group interval and a between-group difference ask for.

The percentile interval has one known blind spot: a proportion observed at 0 or 1 (no
false positives in a small group, say) makes every replicate identical, and the interval
collapses to a point. The audit tables (:mod:`audits.fairness.tables`) therefore widen the
interval of such a proportion, and of its differences and ratios, to the hull with its
Wilson score bounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

__all__ = [
    "bootstrap_counts",
    "percentile_interval",
    "resample_histogram",
    "wilson_interval",
]

MSG_N_BOOT = "n_boot must be a non-negative integer, got {value!r}"
MSG_LEVEL = "level must lie strictly between 0 and 1, got {value!r}"

#: A percentile interval needs at least this share of replicates where the statistic is
#: defined (a replicate can draw no positives for a small group, leaving TPR undefined).
MIN_DEFINED_SHARE = 0.5

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


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(MSG_LEVEL.format(value=level))
