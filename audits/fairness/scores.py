"""Score metrics from per-group histograms: ROC AUC, calibration error, reliability.

AUC is the Mann-Whitney statistic on the histogram: the share of (positive, negative)
pairs in which the positive scores higher, pairs in the same bin counting one half.
When each bin holds one distinct score (``ScoreHistogram.exact``, e.g. COMPAS deciles)
that is exactly scikit-learn's ``roc_auc_score``. With equal-width bins, pairs of
different scores that share a bin also count one half, so the error is at most
:func:`auc_binning_bound` (half the share of pairs sharing a bin), reported per group.

Calibration reads scores as probabilities (only when every score lies in [0, 1]):
``n_bins`` equal-width calibration bins (default 10) over [0, 1], each fine bin falling
in the calibration bin of its lowest score. The plug-in binned error
``sum over bins of (n_b / n) * |observed rate_b - mean score_b|`` is biased upward in
small samples (a perfectly calibrated group of 150 rows shows about 0.05 from binomial
noise alone), so the audit's ``expected_calibration_error`` is the *debiased* binned
calibration error of Kumar, Liang & Ma (2019, "Verified Uncertainty Calibration"):

    CE^2 = sum over bins of (n_b / n) * [(rate_b - score_b)^2 - rate_b (1 - rate_b) / (n_b - 1)]

an unbiased estimate of the squared (root-mean-square, l2) binned calibration error;
the metric is ``sqrt(max(CE^2, 0))``, on the probability scale. Bins with fewer than
two rows carry no variance estimate and are left out. Its bootstrap replicates are
recentred on the estimate (:func:`calibration_replicates`): resampling adds the same
binomial noise again, so uncentred replicates sit above the estimate by its bias.

Ratios of calibration errors are not estimable when the reference group is well
calibrated (its error is 0 up to noise), so disparities in calibration are judged with
the hull of the two groups' intervals (:func:`calibration_disparity_intervals`):
a group fails a ratio rule only when its lower bound exceeds the allowed multiple of
the reference's upper bound.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from audits.fairness.counts import GroupCounts, ScoreHistogram
from audits.fairness.intervals import newcombe_difference, percentile_interval, wilson_interval

__all__ = [
    "CALIBRATION_BINS",
    "MIN_AUC_EVENTS",
    "auc_binning_bound",
    "auc_interval_floor",
    "auc_pair_floor",
    "calibration_bins",
    "calibration_disparity_intervals",
    "calibration_error_squared",
    "calibration_pair_interval",
    "calibration_replicates",
    "expected_calibration_error",
    "reliability_curve",
    "roc_auc",
]

#: Default number of calibration bins.
CALIBRATION_BINS = 10
#: The AUC interval is floored by a Wilson interval (see :func:`auc_interval_floor`)
#: when ``min(positives, negatives) * min(AUC, 1 - AUC)`` is below this.
MIN_AUC_EVENTS = 10

MSG_NOT_PROBABILITIES = (
    "calibration needs scores in [0, 1]; the scores range over [{low}, {high}]"
)
MSG_NO_SCORES = "these counts have no score histograms; pass y_score when counting"


def roc_auc(counts: np.ndarray) -> np.ndarray:
    """ROC AUC from histograms by true label; NaN without both positives and negatives.

    Parameters
    ----------
    counts : ndarray of shape (..., 2, n_bins)
        Counts of negatives (index 0) and positives (index 1) per score bin, bins in
        increasing score order.

    Returns
    -------
    ndarray of shape counts.shape[:-2]

    Examples
    --------
    >>> float(roc_auc(np.array([[2, 1, 0], [0, 1, 2]])))
    0.9444444444444444
    """
    x = np.asarray(counts, dtype=np.float64)
    neg, pos = x[..., 0, :], x[..., 1, :]
    n_pos, n_neg = pos.sum(axis=-1), neg.sum(axis=-1)
    above = n_pos[..., None] - np.cumsum(pos, axis=-1)  # positives in higher bins
    wins = np.sum(neg * (above + 0.5 * pos), axis=-1)
    pairs = n_pos * n_neg
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(pairs > 0, wins / pairs, np.nan), dtype=np.float64)


def auc_binning_bound(counts: np.ndarray) -> np.ndarray:
    """Largest possible error of :func:`roc_auc` caused by binning (0 for exact bins).

    Examples
    --------
    >>> float(auc_binning_bound(np.array([[2, 1, 0], [0, 1, 2]])))
    0.05555555555555555
    """
    x = np.asarray(counts, dtype=np.float64)
    pairs = x[..., 0, :].sum(axis=-1) * x[..., 1, :].sum(axis=-1)
    shared = np.sum(x[..., 0, :] * x[..., 1, :], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(pairs > 0, 0.5 * shared / pairs, np.nan), dtype=np.float64)


def calibration_bins(hist: ScoreHistogram, *, n_bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Return the calibration bin of each fine bin of a histogram of probabilities.

    Examples
    --------
    >>> h = ScoreHistogram(edges=np.array([0.05, 0.5, 1.0]), exact=True,
    ...                    counts=np.zeros((1, 2, 3)), sums=np.zeros((1, 2, 3)),
    ...                    low=0.05, high=1.0)
    >>> calibration_bins(h).tolist()
    [0, 5, 9]
    """
    if not hist.unit_interval:
        raise ValueError(MSG_NOT_PROBABILITIES.format(low=hist.low, high=hist.high))
    if hist.exact:
        index = np.floor(hist.edges * n_bins)
    else:
        fine = len(hist.edges)
        index = (np.arange(fine) * n_bins) // fine  # integer arithmetic: no edge rounding
    out: np.ndarray = np.clip(index, 0, n_bins - 1).astype(np.int64)
    return out


def _calibration_table(counts: np.ndarray, sums: np.ndarray, bins: np.ndarray,
                       n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, positives and score sums per calibration bin: (..., n_bins) each."""
    onehot = np.zeros((len(bins), n_bins))
    onehot[np.arange(len(bins)), bins] = 1.0
    c = np.asarray(counts, dtype=np.float64) @ onehot
    s = np.asarray(sums, dtype=np.float64) @ onehot
    return c.sum(axis=-2), c[..., 1, :], s.sum(axis=-2)


def calibration_error_squared(
    counts: np.ndarray, sums: np.ndarray, bins: np.ndarray, *, n_bins: int = CALIBRATION_BINS
) -> np.ndarray:
    """Debiased squared calibration error (Kumar, Liang & Ma 2019); may be negative.

    ``sum_b (n_b / n) [(rate_b - score_b)^2 - rate_b (1 - rate_b) / (n_b - 1)]`` over
    bins with at least two rows: unbiased for the squared binned calibration error when
    the labels of a bin are independent draws of its rate. NaN without such a bin.

    Parameters
    ----------
    counts, sums : ndarray of shape (..., 2, n_fine)
        Counts and score sums per true label and fine bin.
    bins : ndarray of int, shape (n_fine,)
        Calibration bin of each fine bin (see :func:`calibration_bins`).

    Examples
    --------
    >>> c = np.array([[3, 1], [1, 3]]); s = np.array([[0.6, 0.7], [0.2, 2.1]])
    >>> round(float(calibration_error_squared(c, s, np.array([0, 1]), n_bins=2)), 4)
    -0.06
    """
    n_b, pos, score = _calibration_table(counts, sums, bins, n_bins)
    use = n_b >= 2
    safe = np.where(use, n_b, 2.0)
    rate, mean = pos / safe, score / safe
    term = np.where(use, n_b * ((rate - mean) ** 2 - rate * (1.0 - rate) / (safe - 1.0)), 0.0)
    n = np.sum(np.where(use, n_b, 0.0), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, term.sum(axis=-1) / n, np.nan), dtype=np.float64)


def expected_calibration_error(
    counts: np.ndarray, sums: np.ndarray, bins: np.ndarray, *, n_bins: int = CALIBRATION_BINS,
    debiased: bool = True,
) -> np.ndarray:
    """Calibration error from fine histograms and their calibration bins.

    Parameters
    ----------
    counts, sums : ndarray of shape (..., 2, n_fine)
        Counts and score sums per true label and fine bin.
    bins : ndarray of int, shape (n_fine,)
        Calibration bin of each fine bin (see :func:`calibration_bins`).
    debiased : bool, default True
        ``True``: ``sqrt(max(0, calibration_error_squared))``, the debiased l2 error the
        audit reports. ``False``: the plug-in l1 binned error
        ``sum_b (n_b / n) |rate_b - score_b|``, biased upward in small samples (kept
        for comparison).

    Examples
    --------
    >>> c = np.array([[3, 1], [1, 3]]); s = np.array([[0.6, 0.7], [0.2, 2.1]])
    >>> round(float(expected_calibration_error(c, s, np.array([0, 1]), n_bins=2,
    ...                                        debiased=False)), 4)
    0.05
    >>> float(expected_calibration_error(c, s, np.array([0, 1]), n_bins=2))
    0.0
    """
    if debiased:
        sq = calibration_error_squared(counts, sums, bins, n_bins=n_bins)
        return np.asarray(np.sqrt(np.fmax(sq, 0.0)), dtype=np.float64)
    n_b, pos, score = _calibration_table(counts, sums, bins, n_bins)
    n = n_b.sum(axis=-1)
    gap = np.abs(pos - score).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, gap / n, np.nan), dtype=np.float64)


def calibration_replicates(
    draws: np.ndarray, means: np.ndarray, observed: np.ndarray, bins: np.ndarray, *,
    n_bins: int = CALIBRATION_BINS,
) -> np.ndarray:
    """Bootstrap replicates of the calibration error, recentred on the estimate.

    A replicate resamples rows whose labels already carry the sample's binomial noise,
    so its debiased error estimates the *sample's* plug-in error, which lies above the
    population's by the bias. The squared replicates are therefore shifted by their
    mean minus the observed squared estimate (the bootstrap estimate of that bias)
    before the square root, so the percentile interval is centred on the debiased value.

    Parameters
    ----------
    draws : ndarray of shape (n_boot, 2, n_fine)
        Resampled histograms of one group.
    means : ndarray of shape (2, n_fine)
        Mean score of each fine cell (score sums of a replicate are ``draws * means``).
    observed : ndarray of shape (2, n_fine)
        The group's observed histogram.

    Returns
    -------
    ndarray of shape (n_boot,)

    Examples
    --------
    >>> obs = np.array([[40, 10], [10, 40]])
    >>> means = np.array([[0.2, 0.8], [0.2, 0.8]])
    >>> reps = np.random.default_rng(0).multinomial(100, obs.ravel() / 100, 200)
    >>> reps = calibration_replicates(reps.reshape(200, 2, 2), means, obs, np.array([0, 1]),
    ...                               n_bins=2)
    >>> reps.shape, bool(abs(np.median(reps)) < 0.05)
    ((200,), True)
    """
    sq = calibration_error_squared(draws, draws * means, bins, n_bins=n_bins)
    point = float(calibration_error_squared(observed, observed * means, bins, n_bins=n_bins))
    defined = sq[np.isfinite(sq)]
    if defined.size and np.isfinite(point):
        sq = sq - (float(defined.mean()) - point)
    return np.asarray(np.sqrt(np.fmax(sq, 0.0)), dtype=np.float64)


def calibration_disparity_intervals(
    replicates: np.ndarray, rows: np.ndarray, ref: np.ndarray, *, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference and ratio intervals of calibration errors from the two groups' intervals.

    With the percentile intervals ``[l_g, u_g]`` of a group and ``[l_r, u_r]`` of its
    reference, the difference lies in ``[l_g - u_r, u_g - l_r]`` and the ratio in
    ``[l_g / u_r, u_g / l_r]`` (``inf`` when ``l_r`` is 0, ``0`` when both ``l_g`` and
    ``u_r`` are 0). Calibration errors are non-negative and the well calibrated
    reference's is 0 up to noise, so the bootstrap ratio of replicates has no usable
    distribution; the hull needs none and is conservative (each bound is the worst
    case of two intervals).

    Parameters
    ----------
    replicates : ndarray of shape (n_boot, n_groups)
        Replicates of the calibration error (see :func:`calibration_replicates`).
    rows : ndarray of int
        The groups compared.
    ref : ndarray of int
        The reference group of every group.

    Returns
    -------
    d_low, d_high, r_low, r_high : ndarray of shape rows.shape

    Examples
    --------
    >>> ref = np.clip(np.linspace(-0.005, 0.01, 101), 0.0, None)  # well calibrated
    >>> reps = np.column_stack([ref, np.linspace(0.1, 0.2, 101)])
    >>> d_lo, d_hi, r_lo, r_hi = calibration_disparity_intervals(
    ...     reps, np.array([1]), np.array([0, 0]), level=0.9)
    >>> round(float(d_lo[0]), 4), float(r_hi[0]), round(float(r_lo[0]), 1)
    (0.0958, inf, 11.4)
    """
    low, high = percentile_interval(replicates, level=level)
    return _calibration_hull(low[rows], high[rows], low[ref[rows]], high[ref[rows]])


def calibration_pair_interval(
    replicates: np.ndarray, a: np.ndarray, b: np.ndarray, *, statistic: str, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Interval of the calibration error of groups ``a`` against ``b`` at normal quantile ``z``.

    For simultaneous intervals (:mod:`audits.fairness.family`): the hull of
    :func:`calibration_disparity_intervals` with each group's percentile interval at
    the two-sided level of ``z``. ``statistic`` is ``"ratio"`` or ``"difference"``.

    Examples
    --------
    >>> ref = np.clip(np.linspace(-0.005, 0.01, 101), 0.0, None)
    >>> reps = np.column_stack([ref, np.linspace(0.1, 0.2, 101)])
    >>> lo, hi = calibration_pair_interval(reps, np.array([1]), np.array([0]),
    ...                                    statistic="ratio", z=1.645)
    >>> round(float(lo[0]), 1), float(hi[0])
    (11.4, inf)
    """
    level = 1.0 - 2.0 * float(stats.norm.sf(z))
    low, high = percentile_interval(replicates, level=level)
    d_low, d_high, r_low, r_high = _calibration_hull(low[a], high[a], low[b], high[b])
    return (r_low, r_high) if statistic == "ratio" else (d_low, d_high)


def _calibration_hull(lg: np.ndarray, ug: np.ndarray, lr: np.ndarray, ur: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        r_low = np.where(ur > 0, lg / np.where(ur > 0, ur, 1.0), np.where(lg > 0, np.inf, 0.0))
        r_high = np.where(lr > 0, ug / np.where(lr > 0, lr, 1.0), np.inf)
    bad = np.isnan(lg) | np.isnan(ug) | np.isnan(lr) | np.isnan(ur)
    return (np.where(bad, np.nan, lg - ur), np.where(bad, np.nan, ug - lr),
            np.where(bad, np.nan, r_low), np.where(bad, np.nan, r_high))


def auc_interval_floor(
    values: np.ndarray, low: np.ndarray, high: np.ndarray, positives: np.ndarray,
    negatives: np.ndarray, *, level: float = 0.95, min_events: int = MIN_AUC_EVENTS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widen AUC intervals with a Wilson-type floor where the bootstrap cannot be trusted.

    The variance of an AUC estimate ``A`` from ``m`` positives and ``k`` negatives is at
    most ``A (1 - A) / min(m, k)`` (Birnbaum & Klose 1957), the variance of a proportion
    over ``min(m, k)`` trials. So the Wilson interval of ``A`` with ``min(m, k)`` trials
    is a conservative interval that never collapses: where ``min(m, k) * min(A, 1 - A)``
    is below ``min_events`` (a perfectly separating small group makes every bootstrap
    replicate 1), the interval becomes the hull of the bootstrap and Wilson intervals.
    Where there is no bootstrap interval (NaN) none is made up.

    Returns
    -------
    low, high : ndarray
        The widened intervals (NaN where the AUC is undefined).
    floored : ndarray of bool
        Where the floor applied.

    Examples
    --------
    >>> lo, hi, used = auc_interval_floor(np.array([1.0]), np.array([1.0]), np.array([1.0]),
    ...                                   np.array([6]), np.array([7]))
    >>> round(float(lo[0]), 3), float(hi[0]), bool(used[0])
    (0.61, 1.0, True)
    """
    a = np.asarray(values, dtype=np.float64)
    trials = np.minimum(np.asarray(positives, dtype=np.float64),
                        np.asarray(negatives, dtype=np.float64))
    w_low, w_high = wilson_interval(a * trials, trials, level=level)
    floored = np.isfinite(a) & (trials > 0) & (trials * np.fmin(a, 1.0 - a) < min_events)
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    floored &= ~(np.isnan(lo) | np.isnan(hi))  # no interval (no bootstrap) stays none
    return (np.where(floored, np.fmin(lo, w_low), lo), np.where(floored, np.fmax(hi, w_high), hi),
            np.asarray(floored, dtype=bool))


def auc_pair_floor(
    values: np.ndarray, positives: np.ndarray, negatives: np.ndarray, a: np.ndarray,
    b: np.ndarray, low: np.ndarray, high: np.ndarray, *, statistic: str, z: float,
    min_events: int = MIN_AUC_EVENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Widen intervals of AUC(a) vs AUC(b) where either group needs the Wilson-type floor.

    For simultaneous intervals (:mod:`audits.fairness.family`), whose bootstrap normal
    interval collapses when a small group separates perfectly. Each group's floor is
    the Wilson interval of its AUC over ``min(positives, negatives)`` trials at normal
    quantile ``z`` (see :func:`auc_interval_floor`); a difference is widened to its hull
    with Newcombe's combination of the two, a ratio with ``[low_a / high_b,
    high_a / low_b]``.

    Examples
    --------
    >>> lo, hi = auc_pair_floor(np.array([1.0, 0.8]), np.array([6, 400]),
    ...                         np.array([7, 500]), np.array([0]), np.array([1]),
    ...                         np.array([0.2]), np.array([0.2]), statistic="difference",
    ...                         z=1.96)
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (-0.192, 0.242)
    """
    v = np.asarray(values, dtype=np.float64)
    trials = np.minimum(np.asarray(positives, dtype=np.float64),
                        np.asarray(negatives, dtype=np.float64))
    level = 1.0 - 2.0 * float(stats.norm.sf(z))
    w_low, w_high = wilson_interval(v * trials, trials, level=level)
    floored = np.isfinite(v) & (trials > 0) & (trials * np.fmin(v, 1.0 - v) < min_events)
    where = (floored[a] | floored[b]) & ~(np.isnan(w_low[a]) | np.isnan(w_low[b]))
    if statistic == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            alt_low = w_low[a] / w_high[b]
            alt_high = np.where(w_low[b] > 0, w_high[a] / np.where(w_low[b] > 0, w_low[b], 1.0),
                                np.inf)
    else:
        alt_low, alt_high = newcombe_difference(v[a], w_low[a], w_high[a], v[b], w_low[b],
                                                w_high[b])
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    use = where & ~(np.isnan(lo) | np.isnan(hi))
    return np.where(use, np.fmin(lo, alt_low), lo), np.where(use, np.fmax(hi, alt_high), hi)


def reliability_curve(
    counts: GroupCounts, *, n_bins: int = CALIBRATION_BINS, level: float = 0.95
) -> pd.DataFrame:
    """Observed positive rate against mean score, per group and calibration bin.

    Returns
    -------
    pandas.DataFrame
        One row per (group, non-empty bin): ``group_id, slice, group_label, bin,
        bin_low, bin_high, n, mean_score, observed_rate, wilson_low, wilson_high``.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "p": [0, 1, 1, 1], "s": list("aabb"),
    ...                    "score": [0.1, 0.8, 0.9, 0.7]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features=["s"],
    ...                  y_score="score")
    >>> reliability_curve(c)[["group_label", "bin", "n", "observed_rate"]].iloc[:2]
      group_label  bin  n  observed_rate
    0           a    1  1            0.0
    1           a    8  1            1.0
    """
    hist = _scores(counts)
    bins = calibration_bins(hist, n_bins=n_bins)
    onehot = np.zeros((len(bins), n_bins))
    onehot[np.arange(len(bins)), bins] = 1.0
    c = hist.counts @ onehot
    s = hist.sums @ onehot
    n = c.sum(axis=1)
    gid, b = np.nonzero(n)
    pos = c[gid, 1, b]
    low, high = wilson_interval(pos, n[gid, b], level=level)
    g = counts.groups
    return pd.DataFrame({
        "group_id": gid, "slice": g["slice"].to_numpy()[gid],
        "group_label": g["group_label"].to_numpy()[gid], "bin": b, "bin_low": b / n_bins,
        "bin_high": (b + 1) / n_bins, "n": n[gid, b].astype(np.int64),
        "mean_score": s.sum(axis=1)[gid, b] / n[gid, b], "observed_rate": pos / n[gid, b],
        "wilson_low": low, "wilson_high": high,
    })


def _scores(counts: GroupCounts) -> ScoreHistogram:
    if counts.scores is None:
        raise ValueError(MSG_NO_SCORES)
    return counts.scores
