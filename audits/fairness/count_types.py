"""The data types of the one pass: fine counts from a backend, group counts, histograms.

:mod:`audits.fairness.counts` (pandas) and :mod:`audits.fairness.pushdown` produce
:class:`FineCounts`; :mod:`audits.fairness.rollup` turns them into :class:`GroupCounts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

__all__ = [
    "CELLS",
    "DEFAULT_SCORE_BINS",
    "GROUP_COLUMNS",
    "MAX_GROUPS",
    "FineCounts",
    "GroupCounts",
    "ScoreHistogram",
]

#: The confusion cells, in the order of the last axis of every cells array.
CELLS = ("tp", "fp", "fn", "tn")
#: Columns of :attr:`GroupCounts.groups` besides one column per sensitive feature.
GROUP_COLUMNS = ("group_id", "slice", "group_label", "n", "tp", "fp", "fn", "tn")
#: Default number of score histogram bins; scores with at most this many distinct
#: values are counted exactly, one bin per value.
DEFAULT_SCORE_BINS = 1000
#: More groups than this (over all slices) is refused: a sign of an identifier column.
MAX_GROUPS = 20_000

@dataclass(frozen=True, eq=False)
class ScoreHistogram:
    """Per-group histograms of scores by true label: what AUC and calibration read.

    Attributes
    ----------
    edges : ndarray of float, shape (n_bins,)
        The lowest score of each bin. Predicting positive for ``score >= edges[k]`` is
        predicting positive for bins ``k`` and above.
    exact : bool
        True when each bin holds one distinct score value (at most ``score_bins``
        distinct values): AUC and thresholds are then exact. Otherwise the bins split
        ``[0, 1]`` (or ``[min, max]`` for scores outside it) into equal widths.
    counts : ndarray of int64, shape (n_groups, 2, n_bins)
        Rows per group, true label (0 negative, 1 positive) and bin.
    sums : ndarray of float64, shape (n_groups, 2, n_bins)
        Sum of the scores in each of those cells.
    low, high : float
        The smallest and largest score in the data.
    """

    edges: np.ndarray
    exact: bool
    counts: np.ndarray
    sums: np.ndarray
    low: float
    high: float

    @property
    def unit_interval(self) -> bool:
        """Whether every score lies in [0, 1], so it can be read as a probability."""
        return self.low >= 0.0 and self.high <= 1.0


@dataclass(frozen=True, eq=False)
class GroupCounts:
    """Confusion counts of every group of every slice: the result of the one pass.

    Attributes
    ----------
    rows : int
        Number of decisions counted.
    features : tuple of str
        The sensitive features.
    slices : tuple of tuple of str
        Each slice is a tuple of features: one per feature, then the intersections.
    groups : pandas.DataFrame
        One row per group, in slice order then value order, with :data:`GROUP_COLUMNS`
        and one column per sensitive feature holding the group's value, or ``None`` when
        the feature is not part of the group's slice. ``slice`` and ``group_label`` join
        the feature names and the values with ``" & "`` for display.
    positive_label : object
        The label of ``y_true`` taken as the positive class.
    scores : ScoreHistogram or None
        Score histograms, when a score column was given.
    """

    rows: int
    features: tuple[str, ...]
    slices: tuple[tuple[str, ...], ...]
    groups: pd.DataFrame
    positive_label: object
    scores: ScoreHistogram | None = None

    @cached_property
    def cells(self) -> np.ndarray:
        """Return the (n_groups, 4) int64 array of counts in :data:`CELLS` order."""
        out: np.ndarray = self.groups.loc[:, list(CELLS)].to_numpy(dtype=np.int64)
        out.flags.writeable = False  # cached: shared by every caller
        return out

    @cached_property
    def slice_of(self) -> np.ndarray:
        """Return the index into :attr:`slices` of each group."""
        labels = [" & ".join(s) for s in self.slices]
        index = {lab: i for i, lab in enumerate(labels)}
        out: np.ndarray = self.groups["slice"].map(index).to_numpy(dtype=np.int64)
        out.flags.writeable = False
        return out

    def attributes(self, group_id: int) -> dict[str, str]:
        """Return the mapping feature -> value that defines a group.

        Examples
        --------
        >>> from audits.fairness.counts import count_groups
        >>> df = pd.DataFrame({"y": [1, 0], "p": [1, 1], "s": ["a", "b"]})
        >>> count_groups(df, y_true="y", y_pred="p", sensitive_features=["s"]).attributes(1)
        {'s': 'b'}
        """
        row = self.groups.iloc[group_id]
        return {f: str(row[f]) for f in self.features if row[f] is not None}


@dataclass(frozen=True, eq=False)
class FineCounts:
    """Counts per distinct raw key, as a backend produces them (one row per key).

    ``values`` holds one array per sensitive feature; ``y`` and ``p`` the raw labels
    (``p`` is already 0/1 when ``pred_coded``); ``score_key`` the score value (exact
    mode) or bin index (binned mode). Binned mode splits ``[bin_low, bin_high]`` into
    ``score_bins`` equal bins.
    """

    rows: int
    features: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    y: np.ndarray
    p: np.ndarray
    count: np.ndarray
    pred_coded: bool = False
    score_key: np.ndarray | None = None
    score_sum: np.ndarray | None = None
    score_mode: str | None = None
    score_bins: int = DEFAULT_SCORE_BINS
    bin_low: float = 0.0
    bin_high: float = 1.0
    score_min: float = 0.0
    score_max: float = 1.0
