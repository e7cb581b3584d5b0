"""The findings of a stored fairness audit, most severe first.

Reads the JSON contract of :meth:`audits.fairness.result.FairnessAudit.to_dict` (what a
stored run keeps as ``results``), so a page or a report can lead with what needs action.
Severity orders the disparities by verdict (fail, then insufficient evidence, then
pass; disparities no rule judged last) and, within a verdict, first by the size the
evidence assures, then by the size of the point estimate. Sizes are ``|log ratio|`` (a
ratio of 0.5 and one of 2 are equally far from parity), or ``|difference|`` where the
ratio is undefined. The assured size is the size of the end of the ratio's interval
nearest to parity (0 when the interval holds 1): the simultaneous interval the verdict
reads where there is one, else the per-comparison interval. So a tiny group whose ratio
is 0 with an interval from 0 to 3 ranks below a large group whose whole interval lies
at 0.7, though its point estimate lies further from parity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["NOT_JUDGED", "VERDICT_ORDER", "disparity_size", "ranked_disparities"]

#: Verdicts from the most to the least severe; anything else (no rule judged it) follows.
VERDICT_ORDER = ("fail", "insufficient_evidence", "pass")
#: The verdict of a disparity no rule judged (e.g. prevalence, which a model cannot change).
NOT_JUDGED = "not_judged"
MSG_NOT_RESULTS = "results must be a fairness run's results mapping with {key!r}"

_COLUMNS = ["position", "metric", "slice", "group", "reference", "verdict", "difference",
            "difference_low", "difference_high", "ratio", "ratio_low", "ratio_high",
            "ratio_adjusted_low", "ratio_adjusted_high", "difference_adjusted_low",
            "difference_adjusted_high", "p_value", "p_adjusted",
            "min_detectable_difference", "size", "assured_size"]


def ranked_disparities(results: Mapping[str, Any]) -> pd.DataFrame:
    """Return every disparity of a fairness run, most severe first.

    Parameters
    ----------
    results : mapping
        A fairness run's ``results`` (``config`` with ``sensitive_features``, and
        ``disparities``).

    Returns
    -------
    pandas.DataFrame
        One row per disparity: ``position`` (its index in ``results["disparities"]``),
        ``metric``, ``slice`` (``"sex & age"``), ``group`` and ``reference``
        (``"sex=female & age=old"``, features in the audit's order), ``verdict``
        (:data:`NOT_JUDGED` where no rule judged it), the difference and ratio with
        their per-comparison intervals (``*_low``, ``*_high``) and the simultaneous
        intervals the verdict reads (``*_adjusted_low``, ``*_adjusted_high``),
        ``p_value``, ``p_adjusted``, ``min_detectable_difference``, ``size`` (see
        :func:`disparity_size`) and ``assured_size`` (see the module). NaN where
        undefined. Ties keep the audit's order.

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"]}, "disparities": [
    ...     {"metric": "m", "attributes": {"s": "b"}, "reference": {"s": "a"},
    ...      "ratio": {"value": 0.9}, "verdict": "pass"},
    ...     {"metric": "m", "attributes": {"s": "c"}, "reference": {"s": "a"},
    ...      "ratio": {"value": 0.5}, "verdict": "fail"},
    ...     {"metric": "m", "attributes": {"s": "d"}, "reference": {"s": "a"},
    ...      "ratio": {"value": 1.5}, "verdict": "pass"}]}
    >>> ranked_disparities(results)[["position", "group", "verdict"]].to_dict("list")
    {'position': [1, 2, 0], 'group': ['s=c', 's=d', 's=b'], 'verdict': ['fail', 'pass', 'pass']}
    """
    for key in ("config", "disparities"):
        if key not in results:
            raise ValueError(MSG_NOT_RESULTS.format(key=key))
    features = list(results["config"].get("sensitive_features") or [])
    rows = [_row(i, d, features) for i, d in enumerate(results["disparities"])]
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    if frame.empty:
        return frame
    rank = frame["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)}).fillna(
        len(VERDICT_ORDER))
    order = sorted(range(len(frame)), key=lambda i: (rank.iat[i], _descending(frame, i)))
    return frame.iloc[order].reset_index(drop=True)


def disparity_size(ratio: float | None, difference: float | None) -> float:
    """Return how far a disparity lies from parity: ``|log ratio|``, else ``|difference|``.

    ``inf`` for a ratio of 0 or infinity; NaN when neither is defined.

    Examples
    --------
    >>> round(disparity_size(0.5, -0.2), 4), round(disparity_size(2.0, 0.1), 4)
    (0.6931, 0.6931)
    >>> disparity_size(None, -0.25)
    0.25
    """
    if ratio is not None and not math.isnan(ratio) and ratio >= 0:
        return math.inf if ratio in (0.0, math.inf) else abs(math.log(ratio))
    if difference is not None and not math.isnan(difference):
        return abs(difference)
    return math.nan


def _descending(frame: pd.DataFrame, i: int) -> tuple[int, float, float]:
    """Sort key within a verdict: sized by a ratio, then by a difference, then unsized;
    larger assured sizes first, then larger point estimates."""
    size = float(frame["size"].iat[i])
    if math.isnan(size):
        return (2, 0.0, 0.0)
    assured = float(frame["assured_size"].iat[i])
    return (0 if not math.isnan(frame["ratio"].iat[i]) else 1,
            -(0.0 if math.isnan(assured) else assured), -size)


def _assured(ratio: float, low: float, high: float, d_low: float, d_high: float) -> float:
    """The size of the interval's end nearest to parity (0 when it holds parity)."""
    if not math.isnan(ratio):
        if math.isnan(low) and math.isnan(high):
            return math.nan
        low = 0.0 if math.isnan(low) else low
        high = math.inf if math.isnan(high) else high
        if low <= 1.0 <= high:
            return 0.0
        return min(disparity_size(low, None), disparity_size(high, None))
    if math.isnan(d_low) or math.isnan(d_high):
        return math.nan
    return 0.0 if d_low <= 0.0 <= d_high else min(abs(d_low), abs(d_high))


def _row(position: int, d: Mapping[str, Any], features: Sequence[str]) -> dict[str, Any]:
    diff, ratio = d.get("difference") or {}, d.get("ratio") or {}
    d_adj, r_adj = d.get("difference_adjusted") or {}, d.get("ratio_adjusted") or {}
    attributes = d.get("attributes") or {}
    order = [f for f in features if f in attributes] + sorted(set(attributes) - set(features))
    r_value, d_value = _num(ratio.get("value")), _num(diff.get("value"))
    # The simultaneous interval where the audit judged one (a null bound beside a
    # number is infinite), else the per-comparison interval.
    adjusted = r_adj.get("ci_low") is not None or r_adj.get("ci_high") is not None
    r_low, r_high = ((_num(r_adj.get("ci_low")), _num(r_adj.get("ci_high"))) if adjusted
                     else (_num(ratio.get("ci_low")), _num(ratio.get("ci_high"))))
    d_adjusted = d_adj.get("ci_low") is not None and d_adj.get("ci_high") is not None
    d_low, d_high = ((_num(d_adj.get("ci_low")), _num(d_adj.get("ci_high"))) if d_adjusted
                     else (_num(diff.get("ci_low")), _num(diff.get("ci_high"))))
    return {
        "position": position, "metric": d["metric"], "slice": " & ".join(order),
        "group": _name(attributes, features), "reference": _name(d.get("reference") or {},
                                                                 features),
        "verdict": d.get("verdict") or NOT_JUDGED,
        "difference": d_value, "difference_low": _num(diff.get("ci_low")),
        "difference_high": _num(diff.get("ci_high")),
        "ratio": r_value, "ratio_low": _num(ratio.get("ci_low")),
        "ratio_high": _num(ratio.get("ci_high")),
        "ratio_adjusted_low": _num(r_adj.get("ci_low")),
        "ratio_adjusted_high": _num(r_adj.get("ci_high")),
        "difference_adjusted_low": _num(d_adj.get("ci_low")),
        "difference_adjusted_high": _num(d_adj.get("ci_high")),
        "p_value": _num(d.get("p_value")), "p_adjusted": _num(d.get("p_adjusted")),
        "min_detectable_difference": _num(d.get("min_detectable_difference")),
        "size": disparity_size(r_value, d_value),
        "assured_size": _assured(r_value, r_low, r_high, d_low, d_high),
    }


def _name(attributes: Mapping[str, Any], features: Sequence[str]) -> str:
    order = [f for f in features if f in attributes] + sorted(set(attributes) - set(features))
    return " & ".join(f"{f}={attributes[f]}" for f in order)


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)
