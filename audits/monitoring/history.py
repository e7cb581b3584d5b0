"""Fairness over time: disparities batch by batch, and alerts with hysteresis.

Each batch of decisions is audited on its own (:func:`audits.fairness.audit.audit_fairness`)
and, pooled with the batches before it, as a rolling window (:func:`pooled_window`); both
are stored as the JSON of :meth:`~audits.fairness.audit.FairnessAudit.to_dict`.
:func:`disparity_history` lines those audits up in one tidy table, optionally after a
baseline audit.

:func:`verdict_alerts` and :func:`alert_status` read such a table (the ingest feeds them
the rolling window's verdicts, not one batch's) as a two-state record per disparity,
*open* (failing) or *clear*:

* a clear disparity opens ("new failure") only after ``hold`` consecutive ``fail``
  verdicts;
* an open one is "resolved" only after ``hold`` consecutive ``pass`` verdicts, and a
  ``pass`` means the whole interval lies inside the allowed region: the evidence supports
  passing. An ``insufficient_evidence`` verdict (a small batch, a wide interval) never
  resolves anything; the disparity stays open, with insufficient evidence said plainly.

One batch's verdict near a bound moves with sampling noise; alerting on each move made a
group sitting at a ratio of 0.75 "resolved" one week and a "new failure" the next. Moves
between ``pass`` and ``insufficient_evidence`` of a clear disparity are never alerts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_METRICS",
    "HOLD",
    "HISTORY_COLUMNS",
    "BatchResult",
    "disparity_history",
    "STATUS_COLUMNS",
    "alert_status",
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
MSG_HOLD = "hold must be a positive integer (batches), got {value!r}"

VERDICTS = ("pass", "fail", "insufficient_evidence")
FAIL = "fail"
PASS = "pass"
#: Consecutive verdicts a change of alert state must hold for, by default.
HOLD = 2
#: Metrics whose verdict changes raise alerts. Their complements (FNR, TNR, ...) test the
#: same hypotheses and would repeat each alert; the monitoring chart still shows every metric.
ALERT_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")
OPEN, CLEAR = "open", "clear"

#: Columns of :func:`disparity_history`.
HISTORY_COLUMNS: tuple[str, ...] = (
    "position", "batch_id", "label", "period_start", "period_end", "metric", "group",
    "reference", "ratio", "ratio_low", "ratio_high", "difference", "difference_low",
    "difference_high", "verdict")
#: Columns of :func:`verdict_alerts`.
ALERT_COLUMNS: tuple[str, ...] = (
    "batch_id", "label", "metric", "group", "reference", "from_verdict", "to_verdict",
    "severity", "ratio", "ratio_low", "ratio_high", "message")
#: Columns of :func:`alert_status`.
STATUS_COLUMNS: tuple[str, ...] = (
    "metric", "group", "reference", "state", "since_label", "label", "verdict", "streak",
    "ratio", "ratio_low", "ratio_high", "note")


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
        references labelled by :func:`group_label` with their attributes in sorted order
        (so a group keeps its label however its stored JSON orders them); a missing verdict becomes
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


def verdict_alerts(history: pd.DataFrame, *, hold: int = HOLD) -> pd.DataFrame:
    """Raise an alert wherever a disparity's alert state opens or is resolved.

    Each (metric, group) is followed through its own appearances in order of position
    (a batch where it is absent is skipped). Its first appearance sets its state (open
    if it fails, clear otherwise) and raises nothing. A clear disparity opens after
    ``hold`` consecutive ``fail`` verdicts ("new failure"); an open one is resolved after
    ``hold`` consecutive ``pass`` verdicts ("resolved"); ``insufficient_evidence`` breaks
    either run and never resolves (see the module docstring).

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`disparity_history`; the ingest passes the rolling window's history.
    hold : int, default :data:`HOLD`
        Consecutive verdicts a change must hold for; 1 follows every verdict.

    Returns
    -------
    pandas.DataFrame
        One row per alert, columns :data:`ALERT_COLUMNS`, in order of position;
        ``severity`` is ``"new failure"`` or ``"resolved"``; ``from_verdict`` is the
        verdict before the run that changed the state.

    Raises
    ------
    ValueError
        A column of :func:`disparity_history` is missing, or ``hold`` is not a positive
        integer.

    Examples
    --------
    >>> h = pd.DataFrame({"position": [1, 2], "batch_id": [1, 2],
    ...                   "label": ["week-1", "week-2"], "metric": "selection_rate",
    ...                   "group": "sex=f", "reference": "sex=m", "ratio": [0.9, 0.62],
    ...                   "ratio_low": [0.85, 0.55], "ratio_high": [0.95, 0.70],
    ...                   "verdict": ["pass", "fail"]})
    >>> print(verdict_alerts(h, hold=1)["message"].iloc[0])  # doctest: +NORMALIZE_WHITESPACE
    Batch week-2: selection rate of sex=f vs sex=m now fails the parity rule
    (ratio 0.62 [0.55, 0.70]); it was pass.
    >>> verdict_alerts(h, hold=2).empty  # one failing batch is not yet a failure
    True
    """
    needed = [c for c in ALERT_COLUMNS if c not in ("from_verdict", "to_verdict", "severity",
                                                    "message")]
    h = _checked(history, ("position", *needed, "verdict"), hold)
    rows = []
    for walk in _walks(h, hold):
        for row, before, severity in walk.changes:
            picked = {c: row[c] for c in needed}
            picked.update(from_verdict=before, to_verdict=row["verdict"], severity=severity)
            rows.append((row["position"], picked))
    rows.sort(key=lambda item: item[0])
    table = pd.DataFrame([r for _, r in rows], columns=[*needed, "from_verdict",
                                                         "to_verdict", "severity"])
    table["message"] = [_message(r, hold) for r in table.itertuples(index=False)]
    return table.reset_index(drop=True)[list(ALERT_COLUMNS)]


def alert_status(history: pd.DataFrame, *, hold: int = HOLD) -> pd.DataFrame:
    """Return each disparity's alert state after the latest position it appears at.

    Follows the same record as :func:`verdict_alerts` and says where each disparity
    stands: ``state`` ``"open"`` (failing, and not yet shown to pass) or ``"clear"``;
    ``since_label`` where that state began; the latest ``verdict`` with its ratio; the
    length of the run of verdicts pointing to a change (``streak``); and a ``note`` in
    words, e.g. ``"still open: insufficient evidence to call it resolved"`` when the
    latest interval straddles a bound.

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`disparity_history`.
    hold : int, default :data:`HOLD`

    Returns
    -------
    pandas.DataFrame
        One row per (metric, group), columns :data:`STATUS_COLUMNS`, open ones first.

    Examples
    --------
    >>> h = pd.DataFrame({"position": [1, 2], "batch_id": [1, 2],
    ...                   "label": ["week-1", "week-2"], "metric": "selection_rate",
    ...                   "group": "sex=f", "reference": "sex=m", "ratio": [0.7, 0.44],
    ...                   "ratio_low": [0.65, 0.0], "ratio_high": [0.75, 1.35],
    ...                   "verdict": ["fail", "insufficient_evidence"]})
    >>> alert_status(h)[["state", "since_label", "note"]].values.tolist()
    [['open', 'week-1', 'still open: insufficient evidence to call it resolved']]
    """
    needed = ("position", "label", "metric", "group", "reference", "ratio", "ratio_low",
              "ratio_high", "verdict")
    h = _checked(history, needed, hold)
    rows = []
    for walk in _walks(h, hold):
        last = walk.last
        rows.append({"metric": last["metric"], "group": last["group"],
                     "reference": last["reference"], "state": walk.state,
                     "since_label": walk.since, "label": last["label"],
                     "verdict": last["verdict"], "streak": walk.streak,
                     "ratio": last["ratio"], "ratio_low": last["ratio_low"],
                     "ratio_high": last["ratio_high"], "note": _note(walk, hold)})
    table = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    order = np.argsort((table["state"] != OPEN).to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


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


@dataclass
class _Walk:
    """One disparity's record: its state, where it began, the run toward a change."""

    state: str
    since: Any
    last: dict[str, Any]
    streak: int = 0
    run_from: str | None = None
    since_run: Any = None
    changes: list[tuple[dict[str, Any], Any, str]] = field(default_factory=list)


def _walks(h: pd.DataFrame, hold: int) -> list[_Walk]:
    walks: dict[tuple[str, str], _Walk] = {}
    for row in h.to_dict("records"):
        key = (row["metric"], row["group"])
        walk = walks.get(key)
        if walk is None:
            walks[key] = _Walk(OPEN if row["verdict"] == FAIL else CLEAR, row["label"], row)
            continue
        _step(walk, row, hold)
    return list(walks.values())


def _step(walk: _Walk, row: dict[str, Any], hold: int) -> None:
    toward = PASS if walk.state == OPEN else FAIL
    if row["verdict"] == toward:
        if walk.streak == 0:
            walk.run_from, walk.since_run = walk.last["verdict"], row["label"]
        walk.streak += 1
    else:
        walk.streak = 0
    walk.last = row
    if walk.streak >= hold:
        walk.changes.append((row, walk.run_from, "resolved" if walk.state == OPEN
                             else "new failure"))
        walk.state = CLEAR if walk.state == OPEN else OPEN
        walk.since, walk.streak = walk.since_run, 0


def _note(walk: _Walk, hold: int) -> str:
    verdict = walk.last["verdict"]
    if walk.state == OPEN:
        if verdict == FAIL:
            return "open: fails the parity rule"
        if verdict == PASS:
            return f"open: passes, {walk.streak} of {hold} batches needed to resolve it"
        return "still open: insufficient evidence to call it resolved"
    if verdict == FAIL:
        return f"clear: fails, {walk.streak} of {hold} batches needed to raise an alert"
    if verdict == PASS:
        return "clear: passes the parity rule"
    return "clear: insufficient evidence either way"


def _checked(history: pd.DataFrame, needed: Sequence[str], hold: int) -> pd.DataFrame:
    if isinstance(hold, bool) or not isinstance(hold, int | np.integer) or hold < 1:
        raise ValueError(MSG_HOLD.format(value=hold))
    lacking = [c for c in dict.fromkeys(needed) if c not in history.columns]
    if lacking:
        raise ValueError(MSG_HISTORY_COLUMNS.format(columns=", ".join(lacking)))
    return history.sort_values("position", kind="stable")


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
        # Attributes in sorted order: a stored audit's JSON may come back with its keys
        # reordered (PostgreSQL's jsonb does), and one group must keep one label.
        row = {**head, "metric": d["metric"], "group": group_label(_sorted(d["attributes"])),
               "reference": group_label(_sorted(d["reference"])), "verdict": verdict}
        for name in ("ratio", "difference"):
            triple = d.get(name) or {}
            for suffix, key in (("", "value"), ("_low", "ci_low"), ("_high", "ci_high")):
                row[name + suffix] = _number(triple.get(key))
        rows.append(row)
    return rows


def _sorted(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return dict(sorted(attributes.items())) if isinstance(attributes, Mapping) else attributes


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _message(r: Any, hold: int = 1) -> str:
    ratio = "ratio n/a" if math.isnan(r.ratio) else (
        f"ratio {r.ratio:.2f} [{_fmt(r.ratio_low)}, {_fmt(r.ratio_high)}]")
    what = f"{r.metric.replace('_', ' ')} of {r.group} vs {r.reference}"
    was = str(r.from_verdict).replace("_", " ")
    held = f", {hold} batches in a row" if hold > 1 else ""
    if r.to_verdict == FAIL:
        return (f"Batch {r.label}: {what} now fails the parity rule ({ratio}){held}; "
                f"it was {was}.")
    return (f"Batch {r.label}: {what} no longer fails the parity rule ({ratio}): its "
            f"interval lies inside the allowed region{held}; it was {was}.")


def _fmt(x: float) -> str:
    return "?" if math.isnan(x) else f"{x:.2f}"
