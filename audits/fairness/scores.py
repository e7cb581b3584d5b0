"""Score metrics from per-group histograms: ROC AUC, calibration error, reliability.

AUC is the Mann-Whitney statistic on the histogram: the share of (positive, negative)
pairs in which the positive scores higher, pairs in the same bin counting one half.
When each bin holds one distinct score (``ScoreHistogram.exact``, e.g. COMPAS deciles)
that is exactly scikit-learn's ``roc_auc_score``. With equal-width bins, pairs of
different scores that share a bin also count one half, so the error is at most
:func:`auc_binning_bound` (half the share of pairs sharing a bin), reported per group.

Calibration reads scores as probabilities (only when every score lies in [0, 1]):
``n_bins`` equal-width calibration bins (default 10) over [0, 1], each fine bin falling
in the calibration bin of its lowest score. The expected calibration error is
``sum over bins of (n_b / n) * |observed rate_b - mean score_b|``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits.fairness.counts import GroupCounts, ScoreHistogram
from audits.fairness.intervals import wilson_interval

__all__ = [
    "CALIBRATION_BINS",
    "auc_binning_bound",
    "calibration_bins",
    "expected_calibration_error",
    "reliability_curve",
    "roc_auc",
]

#: Default number of calibration bins.
CALIBRATION_BINS = 10

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


def expected_calibration_error(
    counts: np.ndarray, sums: np.ndarray, bins: np.ndarray, *, n_bins: int = CALIBRATION_BINS
) -> np.ndarray:
    """Expected calibration error from fine histograms and their calibration bins.

    Parameters
    ----------
    counts, sums : ndarray of shape (..., 2, n_fine)
        Counts and score sums per true label and fine bin.
    bins : ndarray of int, shape (n_fine,)
        Calibration bin of each fine bin (see :func:`calibration_bins`).

    Examples
    --------
    >>> c = np.array([[3, 1], [1, 3]]); s = np.array([[0.6, 0.7], [0.2, 2.1]])
    >>> round(float(expected_calibration_error(c, s, np.array([0, 1]), n_bins=2)), 4)
    0.05
    """
    onehot = np.zeros((len(bins), n_bins))
    onehot[np.arange(len(bins)), bins] = 1.0
    c = np.asarray(counts, dtype=np.float64) @ onehot
    s = np.asarray(sums, dtype=np.float64) @ onehot
    n = c.sum(axis=(-1, -2))
    gap = np.abs(c[..., 1, :] - s.sum(axis=-2)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, gap / n, np.nan), dtype=np.float64)


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
