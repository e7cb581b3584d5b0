"""Per-group metrics read from confusion counts: the registry and its vectorised formulas.

Every formula works on an array of counts whose last axis holds the cells
``(tp, fp, fn, tn)``, so the same code computes a point estimate from a (groups, 4)
array and a whole bootstrap from a (replicates, groups, 4) array. A ratio whose
denominator is zero is undefined and returned as NaN, never 0 and never an error.

Names follow fairlearn where it has one and scikit-learn otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONFUSION_METRICS",
    "METRIC_NAMES",
    "SCORE_METRICS",
    "MetricSpec",
    "confusion_metrics",
    "eligible",
    "metric_fraction",
    "spec_of",
]

MSG_UNKNOWN_METRIC = "unknown metric {name!r}; metrics: {choices}"

_ALL = (1, 1, 1, 1)
_POS = (1, 0, 1, 0)        # tp + fn: observed positives
_NEG = (0, 1, 0, 1)        # fp + tn: observed negatives
_PRED_POS = (1, 1, 0, 0)   # tp + fp
_PRED_NEG = (0, 0, 1, 1)   # fn + tn


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the registry.

    Parameters
    ----------
    name : str
        The metric's name in tables and JSON.
    numerator, denominator : tuple of 4 ints
        Which cells ``(tp, fp, fn, tn)`` are summed above and below the fraction;
        ``None`` for metrics that are not a single fraction.
    needs : tuple of str
        Which counts must reach ``min_cell_count`` for a verdict: any of
        ``"positives"``, ``"negatives"``, ``"predicted_positives"``,
        ``"predicted_negatives"``.
    higher_is_better : bool or None
        For the best-off reference group; ``None`` means "the favourable direction
        depends on the decision" (selection rate, prevalence).
    """

    name: str
    numerator: tuple[int, int, int, int] | None
    denominator: tuple[int, int, int, int] | None
    needs: tuple[str, ...]
    higher_is_better: bool | None

    @property
    def is_fraction(self) -> bool:
        """Whether the metric is one proportion, so binomial tests and Wilson apply."""
        return self.numerator is not None


CONFUSION_METRICS: dict[str, MetricSpec] = {
    m.name: m for m in (
        MetricSpec("prevalence", (1, 0, 1, 0), _ALL, (), None),
        MetricSpec("selection_rate", (1, 1, 0, 0), _ALL, (), None),
        MetricSpec("true_positive_rate", (1, 0, 0, 0), _POS, ("positives",), True),
        MetricSpec("false_positive_rate", (0, 1, 0, 0), _NEG, ("negatives",), False),
        MetricSpec("false_negative_rate", (0, 0, 1, 0), _POS, ("positives",), False),
        MetricSpec("true_negative_rate", (0, 0, 0, 1), _NEG, ("negatives",), True),
        MetricSpec("precision", (1, 0, 0, 0), _PRED_POS, ("predicted_positives",), True),
        MetricSpec("negative_predictive_value", (0, 0, 0, 1), _PRED_NEG,
                   ("predicted_negatives",), True),
        MetricSpec("false_discovery_rate", (0, 1, 0, 0), _PRED_POS,
                   ("predicted_positives",), False),
        MetricSpec("false_omission_rate", (0, 0, 1, 0), _PRED_NEG,
                   ("predicted_negatives",), False),
        MetricSpec("accuracy", (1, 0, 0, 1), _ALL, (), True),
        MetricSpec("balanced_accuracy", None, None, ("positives", "negatives"), True),
    )
}

#: Metrics read from score histograms (see :mod:`audits.fairness.scores`).
SCORE_METRICS: dict[str, MetricSpec] = {
    "roc_auc": MetricSpec("roc_auc", None, None, ("positives", "negatives"), True),
    "expected_calibration_error": MetricSpec("expected_calibration_error", None, None,
                                             ("positives", "negatives"), False),
}

#: Every metric name, in report order.
METRIC_NAMES: tuple[str, ...] = (*CONFUSION_METRICS, *SCORE_METRICS)

_NEEDS = {"positives": _POS, "negatives": _NEG, "predicted_positives": _PRED_POS,
          "predicted_negatives": _PRED_NEG}


def metric_fraction(cells: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the numerator and denominator counts of a fraction metric.

    Parameters
    ----------
    cells : ndarray of shape (..., 4)
        Counts ``(tp, fp, fn, tn)``.
    name : str
        A metric of :data:`CONFUSION_METRICS` that is one fraction.

    Examples
    --------
    >>> metric_fraction(np.array([[3, 1, 1, 5]]), "true_positive_rate")
    (array([3]), array([4]))
    """
    spec = _spec(name)
    if spec.numerator is None or spec.denominator is None:
        raise ValueError(f"{name!r} is not a single fraction")
    return cells @ np.asarray(spec.numerator), cells @ np.asarray(spec.denominator)


def confusion_metrics(
    cells: np.ndarray, *, metrics: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Compute confusion metrics from counts, NaN where a denominator is zero.

    Parameters
    ----------
    cells : ndarray of shape (..., 4)
        Counts ``(tp, fp, fn, tn)``; any leading shape (groups, or replicates x groups).
    metrics : sequence of str or None, default None
        Names from :data:`CONFUSION_METRICS`; all of them by default.

    Returns
    -------
    dict of str -> ndarray of shape cells.shape[:-1]

    Examples
    --------
    >>> out = confusion_metrics(np.array([3, 1, 1, 5]), metrics=["precision", "accuracy"])
    >>> float(out["precision"]), float(out["accuracy"])
    (0.75, 0.8)
    """
    names = list(CONFUSION_METRICS) if metrics is None else list(metrics)
    x = np.asarray(cells, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            spec = _spec(name)
            if name == "balanced_accuracy":
                tpr = x[..., 0] / (x[..., 0] + x[..., 2])
                tnr = x[..., 3] / (x[..., 1] + x[..., 3])
                out[name] = (tpr + tnr) / 2.0
                continue
            num = x @ np.asarray(spec.numerator or _ALL, dtype=np.float64)
            den = x @ np.asarray(spec.denominator or _ALL, dtype=np.float64)
            out[name] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def eligible(cells: np.ndarray, name: str, *, min_n: int, min_cell_count: int) -> np.ndarray:
    """Say which groups hold enough data for a verdict on a metric.

    A group qualifies when it has at least ``min_n`` rows and, for each count the
    metric needs (positives for TPR, predicted positives for precision, ...), at least
    ``min_cell_count`` of them.

    Examples
    --------
    >>> eligible(np.array([[3, 1, 1, 40], [20, 5, 6, 30]]), "true_positive_rate",
    ...          min_n=30, min_cell_count=5)
    array([False,  True])
    """
    spec = _spec(name)
    x = np.asarray(cells)
    ok = x.sum(axis=-1) >= min_n
    for need in spec.needs:
        ok &= x @ np.asarray(_NEEDS[need]) >= min_cell_count
    return np.asarray(ok, dtype=bool)


def _spec(name: str) -> MetricSpec:
    if name in CONFUSION_METRICS:
        return CONFUSION_METRICS[name]
    if name in SCORE_METRICS:
        return SCORE_METRICS[name]
    raise ValueError(MSG_UNKNOWN_METRIC.format(name=name, choices=", ".join(METRIC_NAMES)))


def spec_of(name: str) -> MetricSpec:
    """Return the registry entry of a metric, or raise naming the known metrics.

    Examples
    --------
    >>> spec_of("precision").needs
    ('predicted_positives',)
    """
    return _spec(name)
