"""Continuous operation: append a batch of new decisions to an audit.

:func:`ingest_batch` checks the whole batch first (every bad row named, nothing stored
when any is bad), skips a batch the audit already holds (same content hash), scores it
with the audit's model (or takes its logged decisions), audits it and the rolling window
of the last batches with the audit's own options, raises the alerts of the rolling
window's record (a disparity opens or is resolved only when the window's verdict has held
for ``hold`` batches; see :mod:`audits.monitoring.history`), flags and snapshots its cases
under the audit's review policy, and stores all of it in one transaction. Missing values
in the model's inputs are the model's to handle (:func:`batch_problems`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from audits.data.datasets import frame_sha256
from audits.fairness.audit import audit_fairness
from audits.fairness.stored import columnar
from audits.fairness.verdicts import ratio_rule
from audits.flagging.cases import FlagContext, flag_and_snapshot
from audits.flagging.stored import deployed_context, flag_context, stored_policy
from audits.models.group_thresholds import apply_thresholds
from audits.models.training import predict_decisions
from audits.monitoring.history import (
    ALERT_METRICS,
    HOLD,
    BatchResult,
    disparity_history,
    pooled_window,
    verdict_alerts,
)
from audits.roles import Actor, require_role
from audits.store import AlertInput, AuditRunRecord, BatchRecord, ModelRecord, Store

__all__ = ["ALERT_METRICS", "MSG_BAD_BATCH", "MSG_NO_QUEUE", "Ingested", "alerting_of",
           "batch_problems", "ingest_batch", "unscorable_rows"]

Progress = Callable[[float, str], None]

MSG_NO_QUEUE = (
    "audit run {id} has no review queue yet; build it first (fairpanel queue build "
    "--audit {id}) so new batches are flagged with the same policy"
)
MSG_BAD_BATCH = "batch rejected, nothing stored: {problems}"
MSG_EMPTY_BATCH = "the batch has no rows"
MSG_POSITIVE = "{name} must be a positive whole number of batches, got {value!r}"
#: Batches pooled in the rolling time window (this batch and the ones before it).
WINDOW = 4
#: Bad rows named per problem before "and N more".
SHOWN_ROWS = 10


@dataclass(frozen=True)
class Ingested:
    """What ingesting a batch did: the stored batch and whether it was new."""

    batch: BatchRecord
    created: bool
    n_cases: int
    alerts: list[str]


def ingest_batch(store: Store, actor: Actor, audit_run_id: int, batch: pd.DataFrame, *,
                 label: str | None = None, period_start: str | None = None,
                 period_end: str | None = None, window: int = WINDOW, hold: int = HOLD,
                 progress: Progress | None = None) -> Ingested:
    """Append ``batch`` to an audit: score, audit, alert, flag, queue; all or nothing.

    Parameters
    ----------
    store : Store
    actor : Actor
        Needs "run an audit".
    audit_run_id : int
        A fairness audit run that has a review queue (:func:`audits.flagging.stored.build_queue`).
    batch : pandas.DataFrame
        New decisions with the audit's features, sensitive features and outcome (and,
        for logged decisions, the decision and score columns).
    label : str or None, default None
        Unique within the audit; None: ``"batch N"``.
    period_start, period_end : str or None
        The period the batch covers (ISO dates), shown on the monitoring chart.
    window : int, default 4
        Batches pooled in the rolling window audit; alerts follow its verdicts.
    hold : int, default 2
        Consecutive window verdicts a change of alert state must hold for
        (:func:`audits.monitoring.history.verdict_alerts`).
    progress : callable ``(fraction, message) -> None`` or None

    Returns
    -------
    Ingested
        ``created`` is False when the audit already held this batch (nothing added).

    Raises
    ------
    ValueError
        Bad rows (:data:`MSG_BAD_BATCH`, naming each problem and its rows), no queue yet
        (:data:`MSG_NO_QUEUE`), or a label already used by another batch.
    """
    require_role(actor, "run an audit")
    for name, value in (("window", window), ("hold", hold)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(MSG_POSITIVE.format(name=name, value=value))
    report = progress or (lambda fraction, message: None)
    run = store.get_audit_run(audit_run_id)
    policy = stored_policy(store, audit_run_id) if run is not None else None
    if run is None or policy is None:
        raise ValueError(MSG_NO_QUEUE.format(id=audit_run_id))
    report(0.02, "Rebuilding the audit's context")
    baseline_frame, context = flag_context(store, run, actor=actor,
                                            random_state=policy.random_state)
    context, model = deployed_context(store, run, context)
    problems = batch_problems(batch, baseline_frame, context)
    if problems:
        raise ValueError(MSG_BAD_BATCH.format(problems="; ".join(problems)))
    sha = frame_sha256(batch)
    existing = store.find_batch(run.id, sha)
    if existing is not None:
        report(1.0, f"Batch already ingested as {existing.label!r}; nothing added")
        return Ingested(existing, False, 0, [])
    decisions = _decisions(batch.reset_index(drop=True), context, model)
    previous = store.list_batches(run.id, with_data=True)
    report(0.15, "Auditing the batch and the rolling window")
    label = label or f"batch {len(previous) + 1}"
    audit = _audit(decisions, context, run)
    window_frames = [pd.DataFrame(b.data) for b in previous] + [decisions]
    pooled = pooled_window(window_frames, window=window)
    window_audit = _audit(pooled, context, run)
    alerts = _alerts(run, previous, window_audit, label, period_start, period_end, hold)
    report(0.3, "Flagging the batch's decisions")
    batch_context = _with_disparities(context, audit["disparities"])
    flagged = flag_and_snapshot(decisions, batch_context, policy, key_prefix=f"{sha[:12]}:",
                                progress=lambda f, m: report(0.3 + 0.6 * f, m))
    results = {"audit": audit, "window": {"batches": [b.label for b in previous][-(window - 1):]
                                          + [label] if window > 1 else [label],
                                          "audit": window_audit},
               "alerting": {"based_on": "window", "window": window, "hold": hold},
               "flagging": flagged.summary(),
               "model": None if model is None else {"id": model.id, "sha256": model.sha256}}
    stored, created = store.record_batch(
        actor, run.id, sha256=sha, label=label, n_rows=len(decisions),
        period_start=period_start, period_end=period_end, data=columnar(decisions),
        results=results, cases=flagged.cases, alerts=alerts)
    report(1.0, f"Ingested {label!r}: {len(flagged.cases)} cases queued, "
                f"{len(alerts)} alert(s)")
    return Ingested(stored, created, len(flagged.cases) if created else 0,
                    [a.message for a in alerts] if created else [])


def batch_problems(batch: pd.DataFrame, reference: pd.DataFrame,
                   context: FlagContext) -> list[str]:
    """Return every problem of a batch, each naming its column and rows (1-based).

    ``reference`` is the audit's own decisions: a column numeric there must be numeric
    here. Logged decisions must be 0 or 1, and probability scores within [0, 1]. The
    outcome and the sensitive features must be present in every row. A missing value in
    one of the model's own inputs is the model's to handle (the default pipelines impute
    a missing number and encode a missing category, as in training): it is a problem
    only where the model cannot score the row (:func:`unscorable_rows`). Logged decisions
    have no model, so there every listed column must be present.

    Examples
    --------
    >>> ctx = FlagContext(y_true="y", y_pred="d", y_score=None, threshold=0.5,
    ...                   sensitive_features=("g",), features=("x",), disparities=[],
    ...                   positive_is_favourable=True, positive_label="yes")
    >>> ref = pd.DataFrame({"x": [1.0], "g": ["a"], "y": [1], "d": [1]})
    >>> batch_problems(pd.DataFrame({"x": ["5", "n/a"], "g": ["a", None], "y": [1, 0],
    ...                              "d": [1, 2]}), ref, ctx)
    ["column 'x' is not a number at row 2", "column 'g' is missing at row 2", \
"column 'd' is not 0 or 1 at row 2"]
    """
    if not isinstance(batch, pd.DataFrame) or batch.empty:
        return [MSG_EMPTY_BATCH]
    logged = context.pipeline is None
    required = [*context.features, *context.sensitive_features,
                *([context.y_true] if context.y_true else []),
                *([context.y_pred] if logged else []),
                *([context.y_score] if logged and context.y_score else [])]
    missing = [c for c in dict.fromkeys(required) if c not in batch.columns]
    if missing:
        return [f"column {c!r} is not in the batch" for c in missing]
    # The model's inputs may be missing where the model scores them anyway.
    model_inputs = set() if logged else (
        set(context.features) - set(context.sensitive_features) - {context.y_true})
    problems = []
    for column in dict.fromkeys(required):
        values = batch[column]
        if column not in model_inputs:
            problems += _rows(f"column {column!r} is missing", values.isna())
        if column in reference.columns and pd.api.types.is_numeric_dtype(reference[column]):
            number = pd.to_numeric(values, errors="coerce")
            problems += _rows(f"column {column!r} is not a number", number.isna() & values.notna())
    for column in ([context.y_pred] if logged else []) + (
            [context.y_true] if context.y_true else []):
        number = pd.to_numeric(batch[column], errors="coerce")
        problems += _rows(f"column {column!r} is not 0 or 1", number.notna() & ~number.isin([0, 1]))
    if logged and context.y_score and context.score_span == 1.0:
        score = pd.to_numeric(batch[context.y_score], errors="coerce")
        problems += _rows(f"column {context.y_score!r} is outside [0, 1]",
                          score.notna() & ((score < 0) | (score > 1)))
    if not logged and not problems:
        problems += unscorable_rows(context.pipeline, batch, list(context.features))
    return problems


def unscorable_rows(pipeline: Any, batch: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """Return a problem for each group of rows that the model cannot score.

    The batch is scored with the model first (its own imputation and encoding apply to
    missing values); when every row gets a finite score there is no problem. Otherwise
    the rows are grouped by which features are missing or infinite, each group is
    scored alone, and each group the model refuses (an error, or a score that is not a
    finite number) is named with those columns, its rows (1-based) and the model's error.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit(pd.DataFrame({"x": [0.0, 1.0]}), [0, 1])
    >>> unscorable_rows(model, pd.DataFrame({"x": [0.5, None]}), ["x"])[0][:58]
    "column 'x' is missing at row 2, which the model cannot sco"
    """
    batch = batch.reset_index(drop=True)
    if _score_error(pipeline, batch, features) is None:
        return []
    odd = pd.DataFrame({c: np.where(batch[c].isna(), "missing",
                                    np.where(_infinite(batch[c]), "infinite", ""))
                        for c in features})
    patterns = odd.apply(lambda r: tuple((c, r[c]) for c in features if r[c]), axis=1)
    refused: dict[tuple[str, str], list[Any]] = {}  # (what, error) -> rows, merged
    for pattern, index in patterns.groupby(patterns, sort=False).groups.items():
        error = _score_error(pipeline, batch.loc[index], features)
        if error is None:
            continue
        blamed = _blame(pipeline, batch, index[0], pattern, odd, features)
        what = " and ".join(f"column {c!r} is {kind}" for c, kind in blamed) or "the values"
        refused.setdefault((what, error), []).extend(index)
    problems = []
    for (what, error), index in sorted(refused.items(), key=lambda item: min(item[1])):
        mask = pd.Series(batch.index.isin(index), index=batch.index)
        problems += [f"{text}, which the model cannot score ({error})"
                     for text in _rows(what, mask)]
    return problems


def _blame(pipeline: Any, batch: pd.DataFrame, row: Any, pattern: tuple[tuple[str, str], ...],
           odd: pd.DataFrame, features: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The missing or infinite cells of a refused row that the model cannot take alone:
    each is tried with the row's other odd cells set to a usual value of their column
    (the most common ordinary one in the batch). Without a culprit alone, all of them."""
    if len(pattern) < 2:
        return pattern
    usual = {}
    for column, _ in pattern:
        ordinary = batch.loc[odd[column] == "", column]
        if ordinary.empty:
            return pattern
        usual[column] = ordinary.mode().iloc[0]
    blamed = []
    for column, kind in pattern:
        probe = batch.loc[[row]].copy()
        for other, _ in pattern:
            if other != column:
                probe[other] = usual[other]
        if _score_error(pipeline, probe, features) is not None:
            blamed.append((column, kind))
    return tuple(blamed) or pattern


def _score_error(pipeline: Any, frame: pd.DataFrame, features: Sequence[str]) -> str | None:
    """None when the model gives every row a finite score, else why not (one line)."""
    try:
        scores = predict_decisions(pipeline, frame, features=list(features))["y_score"]
    except Exception as exc:  # noqa: BLE001 - any model's refusal is reported, with its rows
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None if np.isfinite(scores.to_numpy(dtype=float)).all() else "a score is not a number"


def _infinite(values: pd.Series) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return np.zeros(len(values), dtype=bool)
    infinite: np.ndarray = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
    return infinite


def _rows(problem: str, mask: pd.Series) -> list[str]:
    positions = np.flatnonzero(mask.to_numpy()) + 1
    if not len(positions):
        return []
    shown = ", ".join(str(p) for p in positions[:SHOWN_ROWS])
    more = f" and {len(positions) - SHOWN_ROWS} more" if len(positions) > SHOWN_ROWS else ""
    noun = "row" if len(positions) == 1 else "rows"
    return [f"{problem} at {noun} {shown}{more}"]


def _decisions(batch: pd.DataFrame, context: FlagContext,
               model: ModelRecord | None) -> pd.DataFrame:
    if context.pipeline is None:
        return batch
    scored = predict_decisions(context.pipeline, batch, features=list(context.features),
                               threshold=context.threshold)
    y_pred = scored["y_pred"].to_numpy()
    rules = model.params.get("thresholds") if model is not None else None
    if model is not None and rules:  # a constrained version decides by its group rules
        y_pred = apply_thresholds(scored["y_score"].to_numpy(),
                                  batch[str(model.params["sensitive_feature"])], rules,
                                  random_state=int(model.params.get("random_state", 0)))
    return batch.assign(**{context.y_score or "y_score": scored["y_score"].to_numpy(),
                           context.y_pred: y_pred})


def _audit(frame: pd.DataFrame, context: FlagContext, run: AuditRunRecord) -> dict[str, Any]:
    config = run.config
    audit = audit_fairness(
        frame, y_true=str(context.y_true), y_pred=context.y_pred, y_score=context.y_score,
        sensitive_features=list(context.sensitive_features),
        intersections=bool(config.get("intersections", True)),
        reference=config.get("reference"), rules=[ratio_rule(float(config.get("tau", 0.8)))],
        n_boot=int(config.get("n_boot", 1000)), random_state=int(config.get("random_state", 0)),
        min_n=int(config.get("min_n", 30)),
        positive_is_favourable=context.positive_is_favourable)
    return audit.to_dict()


def _alerts(run: AuditRunRecord, previous: Sequence[BatchRecord], window_audit: dict[str, Any],
            label: str, period_start: str | None, period_end: str | None,
            hold: int) -> list[AlertInput]:
    """The alerts the new batch raises: the rolling window's record (after the baseline
    audit) moved into or out of its open state on this batch."""
    batches = [BatchResult(b.id, b.label, b.period_start, b.period_end, _window_audit(b))
               for b in previous]
    batches.append(BatchResult(-1, label, period_start, period_end, window_audit))
    history = disparity_history(batches, baseline=run.results)
    alerts = verdict_alerts(history[history["metric"].isin(ALERT_METRICS)], hold=hold)
    mine = alerts[alerts["batch_id"] == -1]
    return [AlertInput(metric=str(a.metric), subject_group=str(a.group),
                       from_verdict=str(a.from_verdict), to_verdict=str(a.to_verdict),
                       severity=str(a.severity), message=str(a.message),
                       details={"reference": str(a.reference), "ratio": _num(a.ratio),
                                "ratio_low": _num(a.ratio_low), "ratio_high": _num(a.ratio_high),
                                "based_on": "window", "hold": hold})
            for a in mine.itertuples(index=False)]


def alerting_of(batch: BatchRecord) -> dict[str, Any]:
    """Return how a stored batch's alerts were judged: ``based_on``, ``window``, ``hold``.

    Batches stored before alerts followed the rolling window read as ``based_on``
    ``"batch"`` with ``hold`` 1, which is how they were judged.
    """
    stored = batch.results.get("alerting")
    if isinstance(stored, dict):
        return dict(stored)
    return {"based_on": "batch", "window": len(batch.results.get("window", {})
                                               .get("batches", [])) or WINDOW, "hold": 1}


def _window_audit(batch: BatchRecord) -> dict[str, Any]:
    window = batch.results.get("window")
    audit: dict[str, Any] = window["audit"] if isinstance(window, dict) and "audit" in window \
        else batch.results["audit"]
    return audit


def _with_disparities(context: FlagContext, disparities: list[dict[str, Any]]) -> FlagContext:
    return replace(context, disparities=disparities)


def _num(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
