"""Decision thresholds on a score: every metric per group as a function of the threshold.

Read from the per-group score histograms of :class:`~audits.fairness.counts.GroupCounts`, with
no further pass over the rows: the decision at threshold ``t`` is ``score >= t``. When
the histogram is exact (one bin per distinct score) every threshold is exact. With
equal-width bins a threshold is moved up to the next bin edge, and the table reports
the threshold actually used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.fairness.counts import CELLS, GroupCounts
from audits.fairness.disparities import Reference, compare, fixed_references
from audits.fairness.metrics import CONFUSION_METRICS, confusion_metrics

__all__ = ["threshold_curves", "threshold_effects"]

MSG_NO_SCORES = "threshold analysis needs score histograms; pass y_score when counting"
MSG_MAX_THRESHOLDS = "max_thresholds must be an integer >= 2, got {value!r}"


def threshold_curves(
    counts: GroupCounts,
    *,
    thresholds: Sequence[float] | None = None,
    metrics: Sequence[str] | None = None,
    reference: Reference = None,
    max_thresholds: int = 101,
) -> pd.DataFrame:
    """Each confusion metric of each group at each decision threshold.

    Parameters
    ----------
    counts : GroupCounts
        Counts with score histograms.
    thresholds : sequence of float or None, default None
        Thresholds to evaluate; by default every bin edge, or ``max_thresholds`` of
        them evenly spread over the bins.
    metrics : sequence of str or None, default None
        Confusion metrics (all by default).
    reference : "largest", mapping or None, default None
        Reference group of each slice for the ``difference`` and ``ratio`` columns (see
        :func:`audits.fairness.disparities.fixed_references`). ``"best"`` is per metric and
        threshold, so it is read as the largest group here.
    max_thresholds : int, default 101

    Returns
    -------
    pandas.DataFrame
        ``group_id, slice, group_label, threshold, metric, value, reference_id,
        difference, ratio`` (against the reference group's value at the same threshold).
        ``threshold`` is the one used (``inf``: above every score).

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "s": list("aabb"),
    ...                    "score": [0.2, 0.8, 0.6, 0.4]})
    >>> c = count_groups(df, y_true="y", y_pred=None, sensitive_features="s",
    ...                  y_score="score", threshold=0.5)
    >>> t = threshold_curves(c, thresholds=[0.5], metrics=["selection_rate"])
    >>> t[["group_label", "threshold", "value"]]
      group_label  threshold  value
    0           a        0.6    0.5
    1           b        0.6    0.5
    """
    hist = counts.scores
    if hist is None:
        raise ValueError(MSG_NO_SCORES)
    if isinstance(max_thresholds, bool) or not isinstance(max_thresholds, int) or (
        max_thresholds < 2
    ):
        raise ValueError(MSG_MAX_THRESHOLDS.format(value=max_thresholds))
    edges = hist.edges
    if thresholds is None:
        idx = np.arange(len(edges)) if len(edges) <= max_thresholds else np.unique(
            np.round(np.linspace(0, len(edges) - 1, max_thresholds)).astype(np.int64))
    else:
        idx = np.searchsorted(edges, np.asarray(thresholds, dtype=np.float64), side="left")
    used = np.append(edges, np.inf)[idx]
    cells = _cells_at(hist.counts, idx)  # (groups, thresholds, 4)
    names = list(CONFUSION_METRICS) if metrics is None else list(metrics)
    values = confusion_metrics(cells, metrics=names)
    ref = fixed_references(counts, reference)
    g = counts.groups
    n_g, n_t = cells.shape[:2]
    parts = []
    for name in names:
        diff, ratio = compare(values[name].T, ref)  # groups on the last axis
        parts.append(pd.DataFrame({
            "group_id": np.repeat(np.arange(n_g), n_t),
            "slice": np.repeat(g["slice"].to_numpy(), n_t),
            "group_label": np.repeat(g["group_label"].to_numpy(), n_t),
            "threshold": np.tile(used, n_g), "metric": name,
            "value": values[name].reshape(-1), "reference_id": np.repeat(ref, n_t),
            "difference": diff.T.reshape(-1), "ratio": ratio.T.reshape(-1),
        }))
    return pd.concat(parts, ignore_index=True)


def threshold_effects(
    counts: GroupCounts, threshold: float, *, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """What one threshold on the score does to every group, against the current decisions.

    Returns
    -------
    pandas.DataFrame
        ``group_id, slice, group_label, metric, current, at_threshold, change,
        threshold`` where ``current`` is read from the counted decisions (``y_pred``).

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "p": [0, 1, 1, 1], "s": list("aabb"),
    ...                    "score": [0.2, 0.8, 0.6, 0.4]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s",
    ...                  y_score="score")
    >>> e = threshold_effects(c, 0.5, metrics=["false_positive_rate"])
    >>> e[["group_label", "current", "at_threshold", "change"]]
      group_label  current  at_threshold  change
    0           a      0.0           0.0     0.0
    1           b      1.0           0.0    -1.0
    """
    names = list(CONFUSION_METRICS) if metrics is None else list(metrics)
    curve = threshold_curves(counts, thresholds=[threshold], metrics=names)
    current = confusion_metrics(counts.groups.loc[:, list(CELLS)].to_numpy(), metrics=names)
    now = np.concatenate([current[name] for name in names])
    return pd.DataFrame({
        "group_id": curve["group_id"].to_numpy(), "slice": curve["slice"].to_numpy(),
        "group_label": curve["group_label"].to_numpy(), "metric": curve["metric"].to_numpy(),
        "current": now, "at_threshold": curve["value"].to_numpy(),
        "change": curve["value"].to_numpy() - now, "threshold": curve["threshold"].to_numpy(),
    })


def _cells_at(hist: np.ndarray, idx: np.ndarray) -> np.ndarray:
    neg, pos = hist[:, 0, :], hist[:, 1, :]
    zero = np.zeros((len(hist), 1), dtype=np.int64)
    pos_at = np.concatenate([np.cumsum(pos[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    neg_at = np.concatenate([np.cumsum(neg[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    tp, fp = pos_at[:, idx], neg_at[:, idx]
    fn = pos.sum(axis=1)[:, None] - tp
    tn = neg.sum(axis=1)[:, None] - fp
    return np.stack([tp, fp, fn, tn], axis=-1)
