"""What if the k least-confident decisions went to people: a deferral curve.

The model decides ``score >= threshold``. Deferring a share of the decisions sends the
``k`` rows whose score lies closest to the threshold (the least confident; ties broken by
position in the frame) to a person who is right with probability ``p``, the human
accuracy. A deferred row then contributes its *expected* confusion counts,
``p`` times the cell of the right decision plus ``1 - p`` times the cell of the wrong
one; the kept rows contribute the model's own counts. Everything is computed
analytically, with no simulation.

Expected counts are linear in ``p`` and additive over rows, so cumulative sums over the
rows sorted by confidence give every point of the curve in O(n log n) overall.

Human accuracy comes from reviewed cases when there are enough of them (a Wilson
interval), and is otherwise an assumption with an assumed range; either way the chart
states which (:attr:`HumanAccuracy.statement`). The ``*_low`` and ``*_high`` columns of
the curve are the same quantity evaluated with ``p`` at both ends of that interval (and
at ``p`` itself, so the band always holds the value): a sensitivity band for human
accuracy, not a sampling interval for the model's data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audits.data.schema import check_columns_exist
from audits.fairness.counts import MISSING
from audits.fairness.intervals import wilson_interval
from audits.fairness.metrics import CONFUSION_METRICS, confusion_metrics

__all__ = ["DeferralCurve", "HumanAccuracy", "deferral_curve", "human_accuracy"]

MSG_PROBABILITY = "{name} must lie in [0, 1], got {value!r}"
MSG_ORDER = "human accuracy needs ci_low <= value <= ci_high, got {low!r}, {value!r}, {high!r}"
MSG_SOURCE = "source must be 'assumed' or 'estimated', got {value!r}"
MSG_MIN_REVIEWS = "min_reviews must be a positive integer, got {value!r}"
MSG_EMPTY = "the data has no rows"
MSG_SHARES = "shares must be numbers in [0, 1]; got {value!r}"
MSG_NO_SHARES = "shares must hold at least one share"
MSG_THRESHOLD = "threshold must be a finite number, got {value!r}"
MSG_METRIC = "metric {name!r} is not a confusion metric; choose from: {choices}"
MSG_MISSING_VALUES = "column {column!r} ({role}) has {n} missing value(s)"
MSG_NOT_NUMERIC = "column {column!r} (score) must be numeric, got dtype {dtype}"
MSG_REFERENCE_FEATURE = "reference names {feature!r}, which is not a sensitive feature"
MSG_REFERENCE_VALUE = (
    "reference value {value!r} of {feature!r} is not in the data; values: {values}")

#: Default shares deferred: 0, 0.02, ..., 0.5 (26 points).
DEFAULT_SHARES: tuple[float, ...] = tuple(round(0.02 * i, 2) for i in range(26))
_TP, _FP, _FN, _TN = range(4)


@dataclass(frozen=True)
class HumanAccuracy:
    """How often a person reviewing a deferred case decides it right.

    Attributes
    ----------
    value, ci_low, ci_high : float
        The accuracy and its interval (an assumed range when ``source == "assumed"``),
        each in [0, 1] with ``ci_low <= value <= ci_high``.
    n_reviews : int
        Reviewed cases the value rests on (0 or too few for an assumption).
    source : str
        ``"assumed"`` or ``"estimated"``.
    statement : str
        One sentence for the chart saying where the value comes from.
    """

    value: float
    ci_low: float
    ci_high: float
    n_reviews: int
    source: str
    statement: str

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            _check_probability(name, getattr(self, name))
        if not self.ci_low <= self.value <= self.ci_high:
            raise ValueError(MSG_ORDER.format(low=self.ci_low, value=self.value,
                                              high=self.ci_high))
        if self.source not in ("assumed", "estimated"):
            raise ValueError(MSG_SOURCE.format(value=self.source))


@dataclass(frozen=True, eq=False)
class DeferralCurve:
    """The result of :func:`deferral_curve`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, one row per (point, quantity, group): ``k, share_deferred`` (``k / n``),
        ``quantity`` (``"accuracy"`` overall, or a metric name), ``group``
        (``"feature=value"``; ``"all"`` for overall accuracy), ``reference`` (the
        reference group's label, None overall), ``value, value_low, value_high``,
        ``difference, difference_low, difference_high, ratio, ratio_low, ratio_high``
        (to the reference group; NaN on overall and reference rows).
    human : HumanAccuracy
    threshold : float
    """

    table: pd.DataFrame
    human: HumanAccuracy
    threshold: float


def human_accuracy(
    reviewed: pd.DataFrame | None = None,
    *,
    label: str = "label",
    y_true: str = "y_true",
    assumed: float = 0.9,
    assumed_range: tuple[float, float] = (0.8, 0.98),
    min_reviews: int = 30,
    level: float = 0.95,
) -> HumanAccuracy:
    """Estimate human accuracy from reviewed cases, or fall back to a stated assumption.

    Parameters
    ----------
    reviewed : pandas.DataFrame or None, default None
        One row per reviewed case: the person's ``label`` and the true (adjudicated)
        ``y_true``. Rows missing either are not counted.
    label, y_true : str, default "label" and "y_true"
        Column names.
    assumed : float, default 0.9
        Accuracy assumed with fewer than ``min_reviews`` reviewed cases.
    assumed_range : (float, float), default (0.8, 0.98)
        The band stated with the assumption; must hold ``assumed``.
    min_reviews : int, default 30
        Reviewed cases needed before the estimate replaces the assumption.
    level : float, default 0.95
        Level of the Wilson interval.

    Returns
    -------
    HumanAccuracy

    Raises
    ------
    ValueError
        For a missing column, or a probability, range or count out of bounds.

    Examples
    --------
    >>> human_accuracy().statement
    'Human accuracy assumed 0.90, range 0.80 to 0.98 (no reviewed cases yet).'
    >>> df = pd.DataFrame({"label": [1] * 40, "y_true": [1] * 36 + [0] * 4})
    >>> human_accuracy(df).statement
    'Human accuracy 0.90 [0.77, 0.96], estimated from 40 reviewed cases.'
    """
    _check_probability("assumed", assumed)
    low, high = assumed_range
    for name, value in (("assumed_range[0]", low), ("assumed_range[1]", high)):
        _check_probability(name, value)
    if isinstance(min_reviews, bool) or not isinstance(min_reviews, int) or min_reviews < 1:
        raise ValueError(MSG_MIN_REVIEWS.format(value=min_reviews))
    n, correct = 0, 0
    if reviewed is not None:
        check_columns_exist(reviewed, [label, y_true], "reviewed cases")
        pairs = reviewed[[label, y_true]].dropna()
        n = len(pairs)
        correct = int((pairs[label].to_numpy() == pairs[y_true].to_numpy()).sum())
    if n < min_reviews:
        why = "no reviewed cases yet" if n == 0 else (
            f"only {n} reviewed cases; {min_reviews} needed to estimate it")
        return HumanAccuracy(
            value=float(assumed), ci_low=float(low), ci_high=float(high), n_reviews=n,
            source="assumed",
            statement=f"Human accuracy assumed {assumed:.2f}, range {low:.2f} to "
                      f"{high:.2f} ({why}).")
    lo, hi = wilson_interval(np.array([correct]), np.array([n]), level=level)
    value = correct / n
    return HumanAccuracy(
        value=value, ci_low=float(lo[0]), ci_high=float(hi[0]), n_reviews=n,
        source="estimated",
        statement=f"Human accuracy {value:.2f} [{lo[0]:.2f}, {hi[0]:.2f}], estimated from "
                  f"{n} reviewed cases.")


def deferral_curve(
    frame: pd.DataFrame,
    *,
    y_true: str,
    y_score: str,
    sensitive_features: Sequence[str],
    threshold: float,
    human: HumanAccuracy,
    shares: Sequence[float] | None = None,
    metrics: Sequence[str] = ("selection_rate", "true_positive_rate", "false_positive_rate"),
    reference: Mapping[str, str] | None = None,
    pos_label: object = 1,
    y_pred: str | None = None,
) -> DeferralCurve:
    """Compute metrics and disparities as the least-confident decisions go to people.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        The decisions; at least one row.
    y_true, y_score : str
        Observed outcome (positive where equal to ``pos_label``) and the model's score.
    sensitive_features : sequence of str
        Each is audited separately (no intersections). Missing values form the group
        ``"<missing>"``.
    threshold : float
        The model decides positive where ``score >= threshold``.
    human : HumanAccuracy
        From :func:`human_accuracy`.
    shares : sequence of float or None, default None
        Shares of rows deferred, each in [0, 1]; ``k = round(share * n)`` (half to even).
        Default :data:`DEFAULT_SHARES`, 0 to 0.5 by 0.02.
    metrics : sequence of str, default selection, true positive and false positive rate
        Names from :data:`audits.fairness.metrics.CONFUSION_METRICS`, per group.
    reference : mapping feature -> value, or None
        Reference group of a feature; default the largest group (first in sorted order
        on ties).
    pos_label : scalar, default 1
    y_pred : str or None, default None
        Logged decisions (positive where equal to ``pos_label``); None: the model
        decides ``score >= threshold``. The score still ranks rows by confidence.

    Returns
    -------
    DeferralCurve

    Raises
    ------
    ValueError
        For an empty frame, a missing column, missing values, a share out of [0, 1], an
        unknown metric or reference.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 0, 1, 0], "s": [1.0, 0.75, 0.25, 0.0],
    ...                    "g": ["a", "a", "b", "b"]})
    >>> human = human_accuracy(assumed=1.0, assumed_range=(1.0, 1.0))
    >>> curve = deferral_curve(df, y_true="y", y_score="s", sensitive_features=["g"],
    ...                        threshold=0.5, human=human, shares=[0, 0.5])
    >>> curve.table.query("group == 'all'")[["k", "value"]].to_numpy().tolist()
    [[0.0, 0.5], [2.0, 1.0]]
    """
    y, score, names = _validate(frame, y_true=y_true, y_score=y_score,
                                sensitive_features=sensitive_features, threshold=threshold,
                                metrics=metrics, reference=reference)
    share, n = np.asarray(DEFAULT_SHARES if shares is None else _check_shares(shares)), len(y)
    ks = np.round(share * n).astype(np.int64)
    order = np.argsort(np.abs(score - threshold), kind="stable")
    # Rows in deferral order from here on: the first k are the ones deferred.
    decided = (score >= threshold if y_pred is None
               else (frame[y_pred] == pos_label).to_numpy())
    base, slope, model = (a[order] for a in _row_terms(y == pos_label, decided))
    ps = (human.value, human.ci_low, human.ci_high)
    point = {"k": ks, "share_deferred": ks / n}
    tables = [_overall(model, base, slope, ks, ps, point)]
    for feature in sensitive_features:
        labels = _labels(frame[feature])
        ref = _reference(feature, labels, reference)
        codes, groups = pd.factorize(labels[order], sort=True)
        cells = _group_cells(codes, len(groups), model, base, slope, ks, ps)
        ref_code = int(np.flatnonzero(groups == ref)[0])
        group_labels = [f"{feature}={g}" for g in groups]
        tables += [_compare(cells, name, ref_code, group_labels, point) for name in names]
    return DeferralCurve(table=pd.concat(tables, ignore_index=True), human=human,
                         threshold=float(threshold))


def _validate(
    frame: pd.DataFrame, *, y_true: str, y_score: str, sensitive_features: Sequence[str],
    threshold: float, metrics: Sequence[str], reference: Mapping[str, str] | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if len(frame) == 0:
        raise ValueError(MSG_EMPTY)
    check_columns_exist(frame, [y_true], "y_true")
    check_columns_exist(frame, [y_score], "score")
    check_columns_exist(frame, list(sensitive_features), "sensitive feature")
    if not pd.api.types.is_numeric_dtype(frame[y_score]) or pd.api.types.is_bool_dtype(
            frame[y_score]):
        raise ValueError(MSG_NOT_NUMERIC.format(column=y_score, dtype=frame[y_score].dtype))
    for column, role in ((y_true, "y_true"), (y_score, "score")):
        missing = int(frame[column].isna().sum())
        if missing:
            raise ValueError(MSG_MISSING_VALUES.format(column=column, role=role, n=missing))
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
            math.isfinite(threshold)):
        raise ValueError(MSG_THRESHOLD.format(value=threshold))
    for key in reference or {}:
        if key not in sensitive_features:
            raise ValueError(MSG_REFERENCE_FEATURE.format(feature=key))
    for name in metrics:
        if name not in CONFUSION_METRICS:
            raise ValueError(MSG_METRIC.format(name=name, choices=", ".join(CONFUSION_METRICS)))
    return (frame[y_true].to_numpy(), frame[y_score].to_numpy(dtype=np.float64),
            list(metrics))


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(MSG_PROBABILITY.format(name=name, value=value))


def _check_shares(shares: Sequence[float]) -> list[float]:
    if len(shares) == 0:
        raise ValueError(MSG_NO_SHARES)
    for s in shares:
        if isinstance(s, bool) or not isinstance(s, int | float | np.number) or not (
                0.0 <= float(s) <= 1.0):
            raise ValueError(MSG_SHARES.format(value=s))
    return [float(s) for s in shares]


def _row_terms(positive: np.ndarray, decided: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row: the change in cells if deferred at p = 0, its slope in p, the model's cells.

    A deferred row contributes ``p * right + (1 - p) * wrong``, so its change from the
    model's cells is ``(wrong - model) + p * (right - wrong)``.
    """
    rows = np.arange(n := len(positive))
    model = np.zeros((n, 4))
    model[rows, np.where(decided, np.where(positive, _TP, _FP),
                         np.where(positive, _FN, _TN))] = 1.0
    right, wrong = np.zeros((n, 4)), np.zeros((n, 4))
    right[rows, np.where(positive, _TP, _TN)] = 1.0
    wrong[rows, np.where(positive, _FN, _FP)] = 1.0
    return wrong - model, right - wrong, model


def _at_k(base: np.ndarray, slope: np.ndarray, taken: np.ndarray,
          ps: tuple[float, ...]) -> np.ndarray:
    """Cumulative change after the first ``taken`` rows, shape (len(ps), len(taken), 4)."""
    zero = np.zeros((1, 4))
    cum_base = np.concatenate([zero, np.cumsum(base, axis=0)])[taken]
    cum_slope = np.concatenate([zero, np.cumsum(slope, axis=0)])[taken]
    return np.stack([cum_base + p * cum_slope for p in ps])


def _group_cells(codes: np.ndarray, n_groups: int, model: np.ndarray, base: np.ndarray,
                 slope: np.ndarray, ks: np.ndarray, ps: tuple[float, ...]) -> np.ndarray:
    """Expected cells per (p, point, group), shape (len(ps), len(ks), n_groups, 4)."""
    by_group = np.argsort(codes, kind="stable")  # each group's positions, ascending
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_groups))])
    out = np.empty((len(ps), len(ks), n_groups, 4))
    for g in range(n_groups):
        pos = by_group[bounds[g]:bounds[g + 1]]
        taken = np.searchsorted(pos, ks, side="left")  # group rows among the first k
        out[:, :, g, :] = model[pos].sum(axis=0) + _at_k(base[pos], slope[pos], taken, ps)
    return out


def _overall(model: np.ndarray, base: np.ndarray, slope: np.ndarray, ks: np.ndarray,
             ps: tuple[float, ...], point: dict[str, np.ndarray]) -> pd.DataFrame:
    cells = model.sum(axis=0) + _at_k(base, slope, ks, ps)
    acc = confusion_metrics(cells, metrics=["accuracy"])["accuracy"]
    low, high = _band(acc)
    nan = np.full(len(ks), np.nan)
    return pd.DataFrame({**point, "quantity": "accuracy", "group": "all", "reference": None,
                         "value": acc[0], "value_low": low, "value_high": high,
                         **{f"{q}{s}": nan for q in ("difference", "ratio")
                            for s in ("", "_low", "_high")}})


def _compare(cells: np.ndarray, name: str, ref: int, groups: list[str],
             point: dict[str, np.ndarray]) -> pd.DataFrame:
    value = confusion_metrics(cells, metrics=[name])[name]  # (len(ps), points, groups)
    ref_value = value[:, :, ref:ref + 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(ref_value != 0, value / ref_value, np.nan)
    difference = value - ref_value
    difference[:, :, ref] = np.nan
    ratio[:, :, ref] = np.nan
    n_points, n_groups = value.shape[1], value.shape[2]
    columns: dict[str, object] = {key: np.repeat(v, n_groups) for key, v in point.items()}
    columns.update(quantity=name, group=np.tile(groups, n_points), reference=groups[ref])
    for q, x in (("value", value), ("difference", difference), ("ratio", ratio)):
        low, high = _band(x)
        columns.update({q: x[0].ravel(), f"{q}_low": low.ravel(), f"{q}_high": high.ravel()})
    return pd.DataFrame(columns)


def _band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Over p, ci_low and ci_high; NaN wherever any of them leaves the quantity undefined.
    return np.min(x, axis=0), np.max(x, axis=0)


def _labels(column: pd.Series) -> np.ndarray:
    filled = column.astype(object).where(column.notna(), MISSING)
    return np.asarray(filled.astype(str).to_numpy(), dtype=object)


def _reference(feature: str, labels: np.ndarray, reference: Mapping[str, str] | None) -> str:
    values, counts = np.unique(labels.astype(str), return_counts=True)
    if reference is not None and feature in reference:
        wanted = str(reference[feature])
        if wanted not in values:
            raise ValueError(MSG_REFERENCE_VALUE.format(
                value=wanted, feature=feature, values=", ".join(values)))
        return wanted
    return str(values[int(np.argmax(counts))])
