"""Significance of disparities and the power of each comparison, from counts.

A disparity in a proportion metric (selection rate, TPR, precision, ...) between a group
and its reference group is tested with a two-sided two-proportion z-test, or with
Fisher's exact test when any expected cell of the 2x2 table is below 5. The p-values of
the whole family of disparities are adjusted together with Benjamini-Hochberg.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

__all__ = [
    "MIN_EXPECTED",
    "benjamini_hochberg",
    "holm",
    "min_detectable_difference",
    "two_proportion_test",
]

#: Below this expected count in any cell of the 2x2 table, Fisher's exact test is used.
MIN_EXPECTED = 5.0


def two_proportion_test(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray,
    *, min_expected: float = MIN_EXPECTED,
) -> tuple[np.ndarray, np.ndarray]:
    """Test whether two proportions differ (two-sided), choosing the test per pair.

    Parameters
    ----------
    x1, n1, x2, n2 : ndarray of int
        Successes and trials of each pair of groups.
    min_expected : float, default 5
        Pairs whose 2x2 table has an expected count below this get Fisher's exact test;
        the others the pooled two-proportion z-test.

    Returns
    -------
    p_value : ndarray of float
        NaN where either group has no trials.
    method : ndarray of str
        ``"z"``, ``"fisher"`` or ``""`` (no test).

    Examples
    --------
    >>> p, how = two_proportion_test(np.array([30, 1]), np.array([100, 10]),
    ...                              np.array([50, 6]), np.array([100, 10]))
    >>> how.tolist(), bool(p[0] < 0.01)
    (['z', 'fisher'], True)
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype=np.float64) for a in (x1, n1, x2, n2))
    testable = (n1 > 0) & (n2 > 0)
    total, hits = n1 + n2, x1 + x2
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.stack([n1 * hits, n1 * (total - hits), n2 * hits,
                             n2 * (total - hits)]) / total
        pooled = hits / total
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        z = (x1 / n1 - x2 / n2) / se
    fisher = testable & (expected.min(axis=0) < min_expected)
    p = np.where(se > 0, 2.0 * stats.norm.sf(np.abs(np.nan_to_num(z))), 1.0)
    cache: dict[tuple[int, int, int, int], float] = {}
    for i in np.flatnonzero(fisher):
        key = (int(x1[i]), int(n1[i] - x1[i]), int(x2[i]), int(n2[i] - x2[i]))
        if key not in cache:
            cache[key] = float(stats.fisher_exact([key[:2], key[2:]]).pvalue)
        p[i] = cache[key]
    p = np.where(testable, np.clip(p, 0.0, 1.0), np.nan)
    method = np.where(fisher, "fisher", np.where(testable, "z", ""))
    return p, method


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Adjust p-values for the false discovery rate (Benjamini-Hochberg); NaN stays NaN.

    The family is every non-NaN p-value given. Equal to
    ``scipy.stats.false_discovery_control(p, method="bh")`` on the non-NaN values.

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03])).round(3).tolist()
    [0.03, 0.04, nan, 0.04]
    """
    def step_up(ordered: np.ndarray) -> np.ndarray:
        m = len(ordered)
        return np.minimum.accumulate((ordered * m / np.arange(1, m + 1))[::-1])[::-1]

    return _adjusted(p_values, step_up)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error rate); NaN stays NaN.

    Equal to ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]`` on
    the non-NaN values.

    Examples
    --------
    >>> holm(np.array([0.01, 0.04, np.nan, 0.03])).round(3).tolist()
    [0.03, 0.06, nan, 0.06]
    """
    def step_down(ordered: np.ndarray) -> np.ndarray:
        m = len(ordered)
        return np.maximum.accumulate(ordered * (m - np.arange(m)))

    return _adjusted(p_values, step_down)


def _adjusted(p_values: np.ndarray,
              adjust: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``adjust`` to the sorted non-NaN p-values, clip to [0, 1], restore order."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    values = p[ok]
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    result[order] = np.clip(adjust(values[order]), 0.0, 1.0)
    out[ok] = result
    return out


def min_detectable_difference(
    n1: np.ndarray, n2: np.ndarray, p0: np.ndarray, *, alpha: float = 0.05,
    power: float = 0.8,
) -> np.ndarray:
    """Smallest difference in a proportion that a two-sided z-test detects with this power.

    The group's proportion is ``p1 = p0 + delta`` (or ``p0 - delta``), the reference's
    ``p0``. The pooled z-test rejects with probability about
    ``Phi((delta - z[1 - alpha/2] * se0) / se1)``, where ``se0`` is the standard error
    under the null (the pooled proportion in both groups) and ``se1`` the one under the
    alternative, ``sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n2)`` (separate variances).
    The smallest ``delta`` reaching ``power`` is found by bisection in each direction;
    the larger of the two is returned (a difference of that size is detected whichever
    way it goes), or the only one where the other direction has no room.

    A proportion can only move to 0 or 1: when even ``p1 = 1`` (or 0) does not reach the
    power, no difference is detectable and the result is NaN (reported as null, "not
    detectable"), never a figure above what a proportion allows. Also NaN where a group
    has no trials.

    Parameters
    ----------
    n1, n2 : ndarray of int
        Trials (the metric's denominator) in the group and in its reference group.
    p0 : ndarray of float
        The reference group's proportion.

    Examples
    --------
    >>> round(float(min_detectable_difference(np.array(500), np.array(500),
    ...                                       np.array(0.5))), 4)
    0.0881
    >>> float(min_detectable_difference(np.array(3), np.array(4), np.array(0.5)))
    nan
    """
    n1 = np.asarray(n1, dtype=np.float64)
    n2 = np.asarray(n2, dtype=np.float64)
    p0 = np.clip(np.asarray(p0, dtype=np.float64), 0.0, 1.0)
    n1, n2, p0 = np.broadcast_arrays(n1, n2, p0)
    ok = (n1 > 0) & (n2 > 0) & np.isfinite(p0)
    a, b = np.where(ok, n1, 1.0), np.where(ok, n2, 1.0)
    p = np.where(ok, p0, 0.5)
    z_a, z_b = float(stats.norm.ppf(1.0 - alpha / 2.0)), float(stats.norm.ppf(power))

    def excess(delta: np.ndarray, sign: float) -> np.ndarray:
        p1 = np.clip(p + sign * delta, 0.0, 1.0)
        pooled = (a * p1 + b * p) / (a + b)
        se0 = np.sqrt(pooled * (1.0 - pooled) * (1.0 / a + 1.0 / b))
        se1 = np.sqrt(p1 * (1.0 - p1) / a + p * (1.0 - p) / b)
        # delta - z_a se0 - z_b se1 >= 0 <=> power reached (se1 = 0: the test is certain)
        return np.asarray(delta - z_a * se0 - z_b * se1, dtype=np.float64)

    best = np.full(p.shape, -np.inf)
    for sign, room in ((1.0, 1.0 - p), (-1.0, p)):
        reach = (room > 0) & (excess(room, sign) >= 0)
        lo, hi = np.zeros_like(room), room.copy()
        for _ in range(60):
            mid = (lo + hi) / 2.0
            good = excess(mid, sign) >= 0
            lo, hi = np.where(good, lo, mid), np.where(good, mid, hi)
        best = np.where(reach, np.fmax(best, hi), best)
    return np.asarray(np.where(ok & np.isfinite(best), best, np.nan), dtype=np.float64)
