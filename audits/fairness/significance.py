"""Significance of disparities and the power of each comparison, from counts.

A disparity in a proportion metric (selection rate, TPR, precision, ...) between a group
and its reference group is tested with a two-sided two-proportion z-test, or with
Fisher's exact test when any expected cell of the 2x2 table is below 5. The p-values of
the disparities a verdict can judge are adjusted together with Benjamini-Hochberg
(:mod:`audits.fairness.tables` chooses that family). The minimum detectable difference
is the smallest difference that same test detects with the stated power, computed
exactly where events are rare (:func:`min_detectable_difference`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from scipy import stats
from scipy.special import gammaln

__all__ = [
    "EXACT_CELLS",
    "MIN_EXPECTED",
    "RARE_EVENTS",
    "benjamini_hochberg",
    "exact_power",
    "holm",
    "min_detectable_difference",
    "normal_detectable_difference",
    "two_proportion_test",
]

#: Below this expected count in any cell of the 2x2 table, Fisher's exact test is used.
MIN_EXPECTED = 5.0

#: Exact power (every pair of plausible counts) when there are at most this many pairs;
#: beyond, the normal approximation, accurate for such large groups.
EXACT_CELLS = 250_000

#: The detectable difference is computed from the exact power when the smaller group
#: expects fewer events (or non-events) than this under the reference's rate: there
#: the normal approximation is optimistic (70% real power at n = 30, p0 = 0.01).
RARE_EVENTS = 25.0

#: Tail probability of the reference's count left out of the exact power.
TAIL = 1e-12

MSG_EXACT_TOO_LARGE = (
    "exact power needs at most {limit} tables of counts; n1={n1}, n2={n2} is too large"
)


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
    """Smallest difference in a proportion that the test used detects with this power.

    The group's proportion is ``p1 = p0 + delta`` (or ``p0 - delta``), the reference's
    ``p0``; each group has its own binomial variance. Where the smaller group expects
    fewer than :data:`RARE_EVENTS` events or non-events at ``p0`` (and there are at most
    :data:`EXACT_CELLS` tables of plausible counts), the power is computed exactly: the
    sum, over every pair of counts ``(x1, x2)``, of their binomial probabilities where
    :func:`two_proportion_test` (Fisher's exact test at small expected counts, else the
    pooled z-test) rejects at ``alpha``; the smallest
    ``delta`` reaching ``power`` is found by bisection. Larger groups use the normal
    approximation (:func:`normal_detectable_difference`), accurate there. The larger of
    the two directions is returned (a difference of that size is detected whichever way
    it goes), or the only one where the other direction has no room; NaN ("not
    detectable") where even ``p1 = 1`` (or 0) does not reach ``power``, so the result
    never exceeds what a proportion allows. Also NaN where a group has no trials.

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
    >>> round(float(min_detectable_difference(np.array(30), np.array(1000),
    ...                                       np.array(0.01))), 4)
    0.1059
    >>> float(min_detectable_difference(np.array(3), np.array(4), np.array(0.5)))
    nan
    """
    approx = normal_detectable_difference(n1, n2, p0, alpha=alpha, power=power)
    n1a, n2a, p0a = np.broadcast_arrays(np.asarray(n1, dtype=np.float64),
                                        np.asarray(n2, dtype=np.float64),
                                        np.asarray(p0, dtype=np.float64))
    out = np.array(approx, dtype=np.float64, copy=True)
    flat = out.reshape(-1)
    done: dict[tuple[int, int, float], float] = {}
    for i, (a, b, q) in enumerate(zip(n1a.reshape(-1), n2a.reshape(-1), p0a.reshape(-1),
                                      strict=True)):
        if not (a > 0 and b > 0 and np.isfinite(q)):
            continue
        key = (int(a), int(b), float(np.clip(q, 0.0, 1.0)))
        if min(a, b) * min(key[2], 1.0 - key[2]) >= RARE_EVENTS:
            continue  # enough expected events: the normal approximation holds
        if key not in done:
            done[key] = _exact_detectable(*key, alpha=alpha, power=power,
                                          fallback=float(flat[i]))
        flat[i] = done[key]
    return out.reshape(np.shape(approx)) if np.ndim(approx) else np.asarray(flat[0])


def exact_power(n1: int, n2: int, p1: float, p0: float, *, alpha: float = 0.05) -> float:
    """Exact probability that :func:`two_proportion_test` rejects at ``alpha``.

    Sums ``Binom(x1; n1, p1) Binom(x2; n2, p0)`` over the counts where the test (Fisher's
    exact test at small expected counts, else the pooled z-test) gives ``p <= alpha``;
    counts with probability below 1e-12 in the tails are left out.

    Examples
    --------
    >>> round(exact_power(30, 1000, 0.01 + 0.1059, 0.01), 3)
    0.8
    >>> round(exact_power(30, 1000, 0.01 + 0.0856, 0.01), 3)  # the normal-theory figure
    0.696
    """
    curve = _power_curve(int(n1), int(n2), float(p0), alpha)
    if curve is None:
        raise ValueError(MSG_EXACT_TOO_LARGE.format(limit=EXACT_CELLS, n1=n1, n2=n2))
    return curve(float(p1))


def normal_detectable_difference(
    n1: np.ndarray, n2: np.ndarray, p0: np.ndarray, *, alpha: float = 0.05,
    power: float = 0.8,
) -> np.ndarray:
    """Smallest difference in a proportion that a two-sided z-test detects (normal theory).

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
    >>> round(float(normal_detectable_difference(np.array(500), np.array(500),
    ...                                          np.array(0.5))), 4)
    0.0881
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


def _power_curve(n1: int, n2: int, p0: float, alpha: float,
                 ) -> Callable[[float], float] | None:
    """Exact power of :func:`two_proportion_test` as a function of ``p1`` (None: too big).

    The rejection region does not depend on ``p1``: it is computed once over every
    ``x1`` and the plausible ``x2`` under ``p0``, then the power is one dot product.
    """
    x2 = np.arange(n2 + 1)
    pmf2 = _binom_pmf(x2, n2, p0)
    kept = np.flatnonzero(pmf2 > TAIL)
    x2, pmf2 = x2[kept[0]:kept[-1] + 1], pmf2[kept[0]:kept[-1] + 1]
    if (n1 + 1) * len(x2) > EXACT_CELLS:
        return None
    x1 = np.arange(n1 + 1)
    grid1, grid2 = np.meshgrid(x1, x2, indexing="ij")
    size = grid1.size
    p_value = _test_p_values(grid1.reshape(-1), n1, grid2.reshape(-1), n2, size)
    reject = (p_value <= alpha).reshape(grid1.shape).astype(np.float64)
    by_x1 = reject @ pmf2

    def curve(p1: float) -> float:
        return float(_binom_pmf(x1, n1, p1) @ by_x1)

    return curve


def _test_p_values(x1: np.ndarray, n1: int, x2: np.ndarray, n2: int, size: int
                   ) -> np.ndarray:
    """:func:`two_proportion_test` p-values, with Fisher's test vectorised by margin."""
    n1s, n2s = np.full(size, n1), np.full(size, n2)
    p_z, _ = two_proportion_test(x1, n1s, x2, n2s, min_expected=0.0)
    hits = x1 + x2
    total = n1 + n2
    expected = np.minimum(np.minimum(n1 * hits, n1 * (total - hits)),
                          np.minimum(n2 * hits, n2 * (total - hits))) / total
    fisher = expected < MIN_EXPECTED
    out = np.asarray(p_z, dtype=np.float64).copy()
    ks = np.unique(hits[fisher])
    if len(ks) and (n1 + 1) ** 2 * len(ks) <= 4_000_000:
        # All margins at once: pmf[k, x] of x1 = x given k hits, then for each observed
        # x the mass of the tables no more probable than it (scipy's two-sided rule).
        x = np.arange(n1 + 1)
        kk = ks[:, None]
        valid = (x[None, :] >= kk - n2) & (x[None, :] <= kk)
        with np.errstate(invalid="ignore"):
            log_pmf = (_log_choose(n1, x)[None, :] + _log_choose(n2, np.where(valid, kk - x, 0))
                       - _log_choose(total, kk))
        pmf = np.where(valid, np.exp(log_pmf), 0.0)
        limit = pmf * (1.0 + 1e-7)
        table = np.minimum(1.0, np.einsum("kj,kxj->kx", pmf,
                                          pmf[:, None, :] <= limit[:, :, None]))
        rows = np.flatnonzero(fisher)
        out[rows] = table[np.searchsorted(ks, hits[rows]), x1[rows]]
        return out
    for k in ks:
        rows = np.flatnonzero(fisher & (hits == k))
        support = np.arange(max(0, k - n2), min(k, n1) + 1)
        pmf = np.exp(_log_choose(n1, support) + _log_choose(n2, k - support)
                     - _log_choose(total, k))
        # scipy's two-sided rule: tables no more probable than the observed one.
        order = np.argsort(pmf, kind="stable")
        cum = np.cumsum(pmf[order])
        limit = pmf[x1[rows] - support[0]] * (1.0 + 1e-7)
        out[rows] = np.minimum(1.0, cum[np.searchsorted(pmf[order], limit, side="right") - 1])
    return out


@functools.lru_cache(maxsize=8192)
def _exact_detectable(n1: int, n2: int, p0: float, *, alpha: float, power: float,
                      fallback: float) -> float:
    """Exact-power detectable difference of one pair; ``fallback`` when too large."""
    curve = _power_curve(n1, n2, p0, alpha)
    if curve is None:
        return fallback
    best = -np.inf
    for sign, room in ((1.0, 1.0 - p0), (-1.0, p0)):
        if room <= 0 or curve(p0 + sign * room) < power:
            continue
        lo, hi = 0.0, room
        for _ in range(40):
            mid = (lo + hi) / 2.0
            if curve(p0 + sign * mid) >= power:
                hi = mid
            else:
                lo = mid
        best = max(best, hi)
    return float(best) if np.isfinite(best) else float("nan")


def _log_choose(n: float, k: np.ndarray | float) -> np.ndarray:
    return np.asarray(gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0))


def _binom_pmf(x: np.ndarray, n: int, p: float) -> np.ndarray:
    """Binomial probabilities of ``x`` (all mass at 0 or ``n`` when ``p`` is 0 or 1)."""
    if p <= 0.0 or p >= 1.0:
        return np.asarray(x == (0 if p <= 0.0 else n), dtype=np.float64)
    with np.errstate(under="ignore"):
        out: np.ndarray = np.exp(_log_choose(n, x) + x * np.log(p) + (n - x) * np.log1p(-p))
    return out
