"""What the panel lead's pages read: the monitoring history and the deferral curve.

:func:`monitoring_view` lines up an audit's stored batch results after its baseline
audit (per batch and per rolling window) with the stored alerts and where each alert
stands now (open, or clear, on the rolling window's record); :func:`deferral_view`
computes the deferral curve of an audit's decisions, with human accuracy estimated from
reviewed gold cases once there are enough, and assumed (and said so) before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.fairness.stored import columnar, decisions_for
from audits.flagging.deferral import (
    DeferralCurve,
    HumanAccuracy,
    deferral_curve,
    human_accuracy,
)
from audits.flagging.stored import decision_scale
from audits.monitoring.history import (
    ALERT_METRICS,
    HISTORY_COLUMNS,
    HOLD,
    STATUS_COLUMNS,
    BatchResult,
    alert_status,
    disparity_history,
)
from audits.monitoring.ingest import WINDOW, alerting_of
from audits.roles import Actor
from audits.store import AlertRecord, BatchRecord, Store

__all__ = ["DeferralInputs", "MonitoringView", "deferral_from", "deferral_inputs", "deferral_view",
           "monitoring_view", "reviewed_decisions"]

MSG_NO_RUN = "no audit run with id {id}"
MSG_NO_SCORES = (
    "audit run {id} has no scores: the deferral curve needs a score to rank decisions by "
    "confidence"
)


@dataclass(frozen=True)
class MonitoringView:
    """An audit's batches, disparity history (per batch and per window) and alerts.

    ``history`` and ``window_history`` have the columns of
    :func:`audits.monitoring.history.disparity_history`; position 0 is the baseline audit.
    ``status`` (columns of :func:`audits.monitoring.history.alert_status`) says where each
    alerting metric's disparity stands on the rolling window's record, judged as the
    latest batch's alerts were (``alerting``: ``based_on``, ``window``, ``hold``).
    """

    audit_run_id: int
    batches: list[BatchRecord]
    history: pd.DataFrame
    window_history: pd.DataFrame
    alerts: list[AlertRecord]
    status: pd.DataFrame
    alerting: dict[str, Any]

    @property
    def open_alerts(self) -> pd.DataFrame:
        """The rows of ``status`` whose alert is open (failing, not shown to pass)."""
        return self.status[self.status["state"] == "open"]

    def to_dict(self) -> dict[str, Any]:
        """Return the ``monitor`` JSON contract."""
        labels = {b.id: b.label for b in self.batches}
        return {"audit_run_id": self.audit_run_id,
                "batches": [{"batch_id": b.id, "label": b.label, "n_rows": b.n_rows,
                             "period_start": b.period_start, "period_end": b.period_end,
                             "sha256": b.sha256} for b in self.batches],
                "history": columnar(self.history),
                "window_history": columnar(self.window_history),
                "alerts": [{"batch_id": a.batch_id, "label": labels.get(a.batch_id),
                            "metric": a.metric, "group": a.subject_group,
                            "from_verdict": a.from_verdict, "to_verdict": a.to_verdict,
                            "severity": a.severity, "message": a.message}
                           for a in self.alerts],
                "alerting": dict(self.alerting),
                "status": [{k: _plain(v) for k, v in row.items()}
                           for row in self.status.to_dict("records")]}


def monitoring_view(store: Store, audit_run_id: int, *,
                    batches: Sequence[BatchRecord] | None = None) -> MonitoringView:
    """Return an audit's monitoring history: its baseline and every ingested batch.

    ``batches`` are the run's batches as :meth:`Store.list_batches` returns them, when the
    caller has just read them (None: read here).

    Raises
    ------
    LookupError
        No audit run with this id.
    """
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_NO_RUN.format(id=audit_run_id))
    batches = list(batches) if batches is not None else store.list_batches(audit_run_id)
    baseline = run.results if run.results and "disparities" in run.results else None
    window = _history(batches, "window", baseline)
    alerting: dict[str, Any] = alerting_of(batches[-1]) if batches else {
        "based_on": "window", "window": WINDOW, "hold": HOLD}
    return MonitoringView(
        audit_run_id=audit_run_id, batches=batches,
        history=_history(batches, "audit", baseline), window_history=window,
        alerts=store.list_alerts(audit_run_id), alerting=alerting,
        status=alert_status(window[window["metric"].isin(ALERT_METRICS)],
                            hold=int(alerting["hold"]))
        if batches else pd.DataFrame(columns=list(STATUS_COLUMNS)))


@dataclass(frozen=True, eq=False)
class DeferralInputs:
    """An audit's decisions as the deferral curve reads them (the costly part to rebuild).

    ``frame`` holds the decisions (``y_true``, ``y_score``, ``y_pred`` and the
    ``sensitive_features`` columns); ``threshold`` is the decision threshold on the score.
    A stored run's decisions never change, so a caller may keep these and draw the curve
    again for another human accuracy (:func:`deferral_from`) without rebuilding them.
    """

    audit_run_id: int
    frame: pd.DataFrame
    y_true: str
    y_score: str
    y_pred: str
    sensitive_features: tuple[str, ...]
    threshold: float


def deferral_view(store: Store, audit_run_id: int, *, actor: Actor | None = None,
                  reviewed: pd.DataFrame | None = None,
                  assumed: float = 0.9, shares: Sequence[float] | None = None,
                  metrics: Sequence[str] = ("selection_rate", "true_positive_rate",
                                            "false_positive_rate")) -> DeferralCurve:
    """Return the deferral curve of an audit's decisions.

    Human accuracy is estimated from ``reviewed`` (one row per reviewer decision with a
    known answer: ``label``, the reviewer's decision, and ``y_true``, the gold or
    adjudicated answer; None reads them from the audit's stored ratings with
    :func:`reviewed_decisions`) when there are at least 30; otherwise it is ``assumed``,
    which the curve's :class:`~audits.flagging.deferral.HumanAccuracy` states for the chart.
    The same as :func:`deferral_inputs` then :func:`deferral_from`.

    Raises
    ------
    LookupError
        No audit run with this id.
    ValueError
        The audit's decisions have no scores (:data:`MSG_NO_SCORES`).
    """
    inputs = deferral_inputs(store, audit_run_id, actor=actor)
    human = human_accuracy(reviewed if reviewed is not None
                           else reviewed_decisions(store, audit_run_id), assumed=assumed)
    return deferral_from(inputs, human, shares=shares, metrics=metrics)


def deferral_inputs(store: Store, audit_run_id: int, *,
                    actor: Actor | None = None) -> DeferralInputs:
    """Rebuild a stored audit's decisions for the deferral curve (scores included).

    Raises what :func:`deferral_view` raises.
    """
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_NO_RUN.format(id=audit_run_id))
    dataset = store.get_dataset(run.dataset_id)
    model = store.get_model(run.model_id) if run.model_id is not None else None
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    decisions = decisions_for(store, actor or Actor.system(), dataset, model)
    if decisions.y_score is None:
        raise ValueError(MSG_NO_SCORES.format(id=audit_run_id))
    chosen = list(run.config.get("sensitive_features") or decisions.sensitive_features)
    threshold, _ = decision_scale(decisions.frame, decisions.y_score, decisions.y_pred, model)
    # Only the columns the curve reads: a caller keeping the inputs keeps a small frame.
    columns = list(dict.fromkeys([decisions.y_true, decisions.y_score, decisions.y_pred,
                                  *chosen]))
    return DeferralInputs(audit_run_id=audit_run_id, frame=decisions.frame.loc[:, columns],
                          y_true=str(decisions.y_true), y_score=str(decisions.y_score),
                          y_pred=str(decisions.y_pred), sensitive_features=tuple(chosen),
                          threshold=float(threshold))


def deferral_from(inputs: DeferralInputs, human: HumanAccuracy, *,
                  shares: Sequence[float] | None = None,
                  metrics: Sequence[str] = ("selection_rate", "true_positive_rate",
                                            "false_positive_rate")) -> DeferralCurve:
    """Return the deferral curve of rebuilt decisions for a given human accuracy."""
    return deferral_curve(inputs.frame, y_true=inputs.y_true, y_score=inputs.y_score,
                          y_pred=inputs.y_pred,
                          sensitive_features=list(inputs.sensitive_features),
                          threshold=inputs.threshold, human=human, shares=shares,
                          metrics=metrics)


def reviewed_decisions(store: Store, audit_run_id: int) -> pd.DataFrame:
    """Return the panel's decisions on an audit's cases whose answer is known.

    One row per rating of a gold case (its known answer) or an adjudicated case (the
    final label): ``label`` (the reviewer's decision) and ``y_true``. Only this aggregate
    leaves the function (human accuracy), so it reads with the deployment's own actor.
    """
    rows = store.ratings_for_analysis(Actor.system(), audit_run_id)
    known = [(r["label"], r["truth"]) for r in rows if r["truth"] is not None]
    return pd.DataFrame(known, columns=["label", "y_true"])


def _plain(value: Any) -> Any:
    """JSON-safe scalars: NaN becomes None, numpy numbers Python numbers."""
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _history(batches: list[BatchRecord], key: str,
             baseline: dict[str, Any] | None) -> pd.DataFrame:
    results = [BatchResult(b.id, b.label, b.period_start, b.period_end, b.results[key]
                           if key == "audit" else b.results[key]["audit"])
               for b in batches]
    if not results:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return disparity_history(results, baseline=baseline)
