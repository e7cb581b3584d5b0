"""Fairness over time: disparities batch by batch, and alerts when a verdict changes.

Each batch of decisions is audited on its own (:func:`audits.fairness.audit.audit_fairness`)
and stored as the JSON of :meth:`~audits.fairness.audit.FairnessAudit.to_dict`.
:func:`disparity_history` lines those audits up in one tidy table, optionally after a
baseline audit; :func:`verdict_alerts` reads that table and raises an alert when a
disparity's verdict moves into ``fail`` or out of it.

Only moves into and out of ``fail`` are alerts. A disparity near the edge of what a
batch can resolve flips between ``pass`` and ``insufficient_evidence`` as batch sizes and
sampling noise vary; alerting on those flips would bury the changes that matter (a rule
now broken, or no longer broken) in noise.

:func:`pooled_window` pools the decisions of the last few batches, for an audit of a
rolling time window with more data than one batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ALERT_COLUMNS",
    "HISTORY_COLUMNS",
    "BatchResult",
    "disparity_history",
    "group_label",
    "pooled_window",
    "verdict_alerts",
]

MSG_NO_BATCHES = "at least one batch is required"
MSG_DUPLICATE_BATCH = "batch_id {batch_id!r} occurs more than once"
MSG_NO_DISPARITIES = "the audit of {which} has no 'disparities' list"
MSG_BAD_DISPARITY = "disparity {index} of {which} lacks {key!r}"
MSG_BAD_VERDICT = "disparity {index} of {which} has verdict {verdict!r}; verdicts: {choices}"
MSG_HISTORY_COLUMNS = "history lacks column(s) {columns}; expected those of disparity_history"
MSG_WINDOW = "window must be a positive integer, got {value!r}"
MSG_NO_FRAMES = "at least one frame is required"

VERDICTS = ("pass", "fail", "insufficient_evidence")
FAIL = "fail"

#: Columns of :func:`disparity_history`.
HISTORY_COLUMNS: tuple[str, ...] = (
    "position", "batch_id", "label", "period_start", "period_end", "metric", "group",
    "reference", "ratio", "ratio_low", "ratio_high", "difference", "difference_low",
    "difference_high", "verdict")
#: Columns of :func:`verdict_alerts`.
ALERT_COLUMNS: tuple[str, ...] = (
    "batch_id", "label", "metric", "group", "reference", "from_verdict", "to_verdict",
    "severity", "ratio", "ratio_low", "ratio_high", "message")


@dataclass(frozen=True)
class BatchResult:
    """One batch of decisions and its stored audit.

    Attributes
    ----------
    batch_id : int
    label : str
        Shown in alerts, e.g. ``"week-3"``.
    period_start, period_end : str or None
        ISO dates of the decisions in the batch, when known.
    audit : mapping
        The batch's :meth:`~audits.fairness.audit.FairnessAudit.to_dict` JSON.
    """

    batch_id: int
    label: str
    period_start: str | None
    period_end: str | None
    audit: Mapping[str, Any]


def group_label(attributes: Mapping[str, str]) -> str:
    """Label a group by its attributes: ``"k=v"`` joined by ``" & "``, in the given order.

    Examples
    --------
    >>> group_label({"group": "B", "age_band": "50+"})
    'group=B & age_band=50+'
    """
    return " & ".join(f"{key}={value}" for key, value in attributes.items())


def disparity_history(
    batches: Sequence[BatchResult], *, baseline: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Line up the disparities of a sequence of batch audits in one tidy table.

    Parameters
    ----------
    batches : sequence of BatchResult
        In time order; positions 1, 2, ... follow that order.
    baseline : mapping or None, default None
        An audit JSON to compare the first batch with, at position 0 (``batch_id``
        None, ``label`` "baseline").

    Returns
    -------
    pandas.DataFrame
        One row per (position, disparity), columns :data:`HISTORY_COLUMNS`; groups and
        references labelled by :func:`group_label`; a missing verdict becomes
        ``"insufficient_evidence"``, a missing number NaN.

    Raises
    ------
    ValueError
        Without batches, for a repeated ``batch_id``, or an audit that is not in the
        stored format.

    Examples
    --------
    >>> d = {"metric": "selection_rate", "attributes": {"sex": "f"},
    ...      "reference": {"sex": "m"}, "difference": {"value": -0.1},
    ...      "ratio": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}, "verdict": None}
    >>> batch = BatchResult(1, "week-1", "2024-01-01", None, {"disparities": [d]})
    >>> disparity_history([batch])[["position", "group", "ratio", "verdict"]]
       position  group  ratio                verdict
    0         1  sex=f    0.8  insufficient_evidence
    """
    if len(batches) == 0:
        raise ValueError(MSG_NO_BATCHES)
    ids = [b.batch_id for b in batches]
    for batch_id in ids:
        if ids.count(batch_id) > 1:
            raise ValueError(MSG_DUPLICATE_BATCH.format(batch_id=batch_id))
    rows: list[dict[str, Any]] = []
    if baseline is not None:
        rows += _rows(baseline, which="the baseline",
                      head={"position": 0, "batch_id": None, "label": "baseline",
                            "period_start": None, "period_end": None})
    for position, b in enumerate(batches, start=1):
        rows += _rows(b.audit, which=f"batch {b.batch_id!r}",
                      head={"position": position, "batch_id": b.batch_id, "label": b.label,
                            "period_start": b.period_start, "period_end": b.period_end})
    table = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    for column in ("batch_id", "period_start", "period_end"):  # keep None as None
        table[column] = pd.Series([r[column] for r in rows], dtype=object)
    return table


def verdict_alerts(history: pd.DataFrame) -> pd.DataFrame:
    """Raise an alert wherever a disparity's verdict moves into or out of ``fail``.

    Each (metric, group) is compared with its own previous appearance: the previous
    position, or the last position where the group appeared if it was absent since. A
    group's first appearance starts its record and raises nothing. Moves between
    ``pass`` and ``insufficient_evidence`` are not alerts (see the module docstring).

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`disparity_history`.

    Returns
    -------
    pandas.DataFrame
        One row per alert, columns :data:`ALERT_COLUMNS`, in order of position;
        ``severity`` is ``"new failure"`` or ``"resolved"``.

    Examples
    --------
    >>> h = pd.DataFrame({"position": [1, 2], "batch_id": [1, 2],
    ...                   "label": ["week-1", "week-2"], "metric": "selection_rate",
    ...                   "group": "sex=f", "reference": "sex=m", "ratio": [0.9, 0.62],
    ...                   "ratio_low": [0.85, 0.55], "ratio_high": [0.95, 0.70],
    ...                   "verdict": ["pass", "fail"]})
    >>> print(verdict_alerts(h)["message"].iloc[0])  # doctest: +NORMALIZE_WHITESPACE
    Batch week-2: selection rate of sex=f vs sex=m now fails the parity rule
    (ratio 0.62 [0.55, 0.70]); it was pass.
    """
    needed = [c for c in ALERT_COLUMNS if c not in ("from_verdict", "to_verdict", "severity",
                                                    "message")]
    lacking = [c for c in ("position", *needed, "verdict") if c not in history.columns]
    if lacking:
        raise ValueError(MSG_HISTORY_COLUMNS.format(columns=", ".join(lacking)))
    h = history.sort_values("position", kind="stable")
    before = h.groupby(["metric", "group"], sort=False)["verdict"].shift(1)
    into = (h["verdict"] == FAIL) & before.notna() & (before != FAIL)
    out_of = (h["verdict"] != FAIL) & (before == FAIL)
    picked = h.loc[into | out_of, needed].copy()
    picked["from_verdict"] = before[into | out_of]
    picked["to_verdict"] = h.loc[into | out_of, "verdict"]
    picked["severity"] = np.where(into[into | out_of], "new failure", "resolved")
    picked["message"] = [_message(r) for r in picked.itertuples(index=False)]
    return picked.reset_index(drop=True)[list(ALERT_COLUMNS)]


def pooled_window(frames: Sequence[pd.DataFrame], *, window: int) -> pd.DataFrame:
    """Pool the decisions of the last ``window`` batches into one frame.

    Parameters
    ----------
    frames : sequence of pandas.DataFrame
        Batches of decisions in time order.
    window : int
        How many of the latest batches to pool (all of them if fewer).

    Returns
    -------
    pandas.DataFrame
        The batches concatenated in order, with a fresh index.

    Examples
    --------
    >>> frames = [pd.DataFrame({"x": [i, i]}) for i in range(4)]
    >>> pooled_window(frames, window=2)["x"].tolist()
    [2, 2, 3, 3]
    """
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(MSG_WINDOW.format(value=window))
    if len(frames) == 0:
        raise ValueError(MSG_NO_FRAMES)
    chosen = list(frames)[-int(window):]
    # Empty batches add no rows; leaving them out keeps pandas from guessing dtypes.
    kept = [f for f in chosen if len(f)] or chosen[-1:]
    return pd.concat(kept, ignore_index=True)


def _rows(audit: Mapping[str, Any], *, which: str, head: dict[str, Any]) -> list[dict[str, Any]]:
    disparities = audit.get("disparities") if isinstance(audit, Mapping) else None
    if not isinstance(disparities, list):
        raise ValueError(MSG_NO_DISPARITIES.format(which=which))
    rows = []
    for index, d in enumerate(disparities):
        for key in ("metric", "attributes", "reference"):
            if key not in d:
                raise ValueError(MSG_BAD_DISPARITY.format(index=index, which=which, key=key))
        verdict = d.get("verdict") or "insufficient_evidence"
        if verdict not in VERDICTS:
            raise ValueError(MSG_BAD_VERDICT.format(index=index, which=which, verdict=verdict,
                                                    choices=", ".join(VERDICTS)))
        row = {**head, "metric": d["metric"], "group": group_label(d["attributes"]),
               "reference": group_label(d["reference"]), "verdict": verdict}
        for name in ("ratio", "difference"):
            triple = d.get(name) or {}
            for suffix, key in (("", "value"), ("_low", "ci_low"), ("_high", "ci_high")):
                row[name + suffix] = _number(triple.get(key))
        rows.append(row)
    return rows


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _message(r: Any) -> str:
    ratio = "ratio n/a" if math.isnan(r.ratio) else (
        f"ratio {r.ratio:.2f} [{_fmt(r.ratio_low)}, {_fmt(r.ratio_high)}]")
    what = f"{r.metric.replace('_', ' ')} of {r.group} vs {r.reference}"
    was = str(r.from_verdict).replace("_", " ")
    if r.to_verdict == FAIL:
        return f"Batch {r.label}: {what} now fails the parity rule ({ratio}); it was {was}."
    now = str(r.to_verdict).replace("_", " ")
    return f"Batch {r.label}: {what} no longer fails the parity rule ({ratio}); it is now {now}."


def _fmt(x: float) -> str:
    return "?" if math.isnan(x) else f"{x:.2f}"
