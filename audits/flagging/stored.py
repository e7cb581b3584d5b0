"""The review queue of a stored fairness audit: flag its decisions and store the cases.

:func:`build_queue` reads a completed fairness audit run (see :mod:`audits.fairness.stored`),
rebuilds its decisions from stored provenance, flags them for every reason, selects the
queue under a :class:`~audits.flagging.policy.FlagPolicy` and stores the policy with the run
and a frozen snapshot of each case. It is idempotent: a run that already has a queue
returns it (with a different policy it refuses, naming the stored one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from audits.data.datasets import BUNDLED
from audits.fairness.stored import (
    MSG_NOT_FAIRNESS,
    completed_fairness_run,
    decisions_for,
    registered_model,
)
from audits.flagging.cases import FlagContext, flag_and_snapshot, likely_proxies
from audits.flagging.policy import FlagPolicy
from audits.models.files import load_model
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, CaseRecord, ModelRecord, Store

__all__ = ["MSG_NOT_FAIRNESS", "MSG_OTHER_POLICY", "Queue", "build_queue", "decision_scale",
           "deployed_context", "flag_context", "stored_policy"]

Progress = Callable[[float, str], None]

PURPOSE = "queue the decisions of a fairness audit run"
MSG_OTHER_POLICY = (
    "audit run {id} already has a queue built with another policy ({stored}); a queue is "
    "built once per audit"
)
MSG_CONVERSATIONS = (
    "audit run {id} is of conversation system {name!r}: its queue is built with "
    "audits.conversations.build_conversation_queue (fairpanel conversations queue {name})"
)
#: Rows of the audit's decisions used as the SHAP background of every batch.
N_BACKGROUND = 100


@dataclass(frozen=True)
class Queue:
    """An audit's stored queue: its policy, its cases and what flagging found."""

    audit_run: AuditRunRecord
    policy: FlagPolicy
    cases: list[CaseRecord]
    summary: dict[str, Any]
    created: bool


def build_queue(store: Store, actor: Actor, audit_run_id: int, *,
                policy: FlagPolicy | None = None,
                progress: Progress | None = None) -> Queue:
    """Return the stored review queue of a fairness audit, building it if new.

    Parameters
    ----------
    store : Store
    actor : Actor
        Needs "run an audit" (data scientists and admins).
    audit_run_id : int
        A completed run of kind ``"fairness"``.
    policy : FlagPolicy or None, default None
        None: the stored policy, else the defaults (a budget of 200).
    progress : callable ``(fraction, message) -> None`` or None

    Raises
    ------
    LookupError
        No such run.
    ValueError
        Not a completed fairness audit, or a queue built with another policy.
    """
    require_role(actor, "run an audit")
    report = progress or (lambda fraction, message: None)
    run = _fairness_run(store, audit_run_id)
    dataset = store.get_dataset(run.dataset_id)
    if dataset is not None and "conversations" in dict(dataset.roles):
        raise ValueError(MSG_CONVERSATIONS.format(id=run.id, name=dataset.name))
    stored = stored_policy(store, run.id)
    if stored is not None:
        if policy is not None and policy != stored:
            raise ValueError(MSG_OTHER_POLICY.format(id=run.id, stored=stored.as_dict()))
        report(1.0, f"Reusing the stored queue of audit run #{run.id}")
        return Queue(run, stored, store.list_cases(run.id),
                     dict(store.get_flag_policy(run.id) or {}).get("summary", {}), False)
    chosen = policy or FlagPolicy()
    report(0.02, "Rebuilding the audited decisions")
    frame, context = flag_context(store, run, actor=actor,
                                  random_state=chosen.random_state)
    flagged = flag_and_snapshot(frame, context, chosen,
                                progress=lambda f, m: report(0.05 + 0.9 * f, m))
    summary = flagged.summary()
    stored_json = {"policy": chosen.as_dict(), "summary": summary,
                   "proxies": {k: list(v) for k, v in context.proxies.items()},
                   "gold_source": "recorded outcome" if context.y_true else None}
    cases = store.record_queue(actor, run.id, policy=stored_json, cases=flagged.cases)
    report(1.0, f"Queued {len(cases)} cases")
    return Queue(run, chosen, cases, summary, True)


def stored_policy(store: Store, audit_run_id: int) -> FlagPolicy | None:
    """Return the policy stored with an audit run's queue, or None."""
    stored = store.get_flag_policy(audit_run_id)
    return None if stored is None else FlagPolicy.from_dict(stored["policy"])


def flag_context(store: Store, run: AuditRunRecord, *, actor: Actor | None = None,
                 random_state: int = 0) -> tuple[pd.DataFrame, FlagContext]:
    """Return a fairness run's decisions and the :class:`FlagContext` to flag them with.

    Batches ingested later reuse this context (same model, proxies, SHAP background
    drawn from the audit's own decisions), so their cases are comparable. ``actor``
    reads the version's sensitive data kept apart (None: the engine itself, for callers
    that checked their own actor already).
    """
    dataset = store.get_dataset(run.dataset_id)
    model = store.get_model(run.model_id) if run.model_id is not None else None
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    decisions = decisions_for(store, actor or Actor.system(), dataset, model)
    frame, roles = decisions.frame, dict(dataset.roles)
    chosen = tuple(run.config.get("sensitive_features") or roles["sensitive_features"])
    pipeline = load_model(model.path) if model is not None else None
    features = tuple(model.feature_names if model is not None else roles["features"])
    proxies = (likely_proxies(frame, features=features, sensitive_features=chosen)
               if pipeline is not None else {})
    threshold, span = decision_scale(frame, decisions.y_score, decisions.y_pred, model)
    context = FlagContext(
        y_true=decisions.y_true, y_pred=decisions.y_pred, y_score=decisions.y_score,
        threshold=threshold, score_span=span,
        sensitive_features=chosen, features=features,
        disparities=list((run.results or {}).get("disparities", [])),
        positive_is_favourable=bool(run.config.get(
            "favourable", BUNDLED[dataset.name].positive_is_favourable
            if dataset.name in BUNDLED else True)),
        positive_label=str(roles.get("positive_label") or "positive"),
        pipeline=pipeline,
        background=frame.sample(n=min(N_BACKGROUND, len(frame)), random_state=random_state),
        proxies=proxies,
        provenance={"dataset_sha256": dataset.sha256,
                    "model_sha256": model.sha256 if model else None,
                    "audit_run_id": run.id, "decisions": decisions.source},
    )
    return frame, context


def decision_scale(frame: pd.DataFrame, y_score: str | None, y_pred: str,
           model: ModelRecord | None) -> tuple[float, float]:
    """Return the decision threshold and the width of the score scale.

    A model's threshold is stored with it. Logged decisions carry none, so it is read
    off the data: the lowest score of a positive decision, when every score at or above
    it is positive (COMPAS: "high risk" from decile 5). Probabilities span 1.
    """
    if model is not None:
        return float(model.params.get("threshold", 0.5)), 1.0
    if y_score is None:
        return 0.5, 1.0
    score = frame[y_score].astype(float)
    positive = frame[y_pred].astype(int) == 1
    low, high = float(score.min()), float(score.max())
    span = 1.0 if low >= 0.0 and high <= 1.0 else high - low
    if not positive.any() or positive.all():
        return 0.5 * (low + high), span
    threshold = float(score[positive].min())
    consistent = bool((positive[score >= threshold]).all())
    return (threshold if consistent else 0.5 * (low + high)), span


def _fairness_run(store: Store, audit_run_id: int) -> AuditRunRecord:
    return completed_fairness_run(store, audit_run_id, purpose=PURPOSE)


def deployed_context(store: Store, run: AuditRunRecord,
              context: FlagContext) -> tuple[FlagContext, ModelRecord | None]:
    """Return ``context`` with the model in use now, and that model (None: logged decisions).

    New decisions are made by the deployed version of the audited model's family: the
    audited model itself until a person approves a retrained one (batches ingested into
    monitoring, live decisions).
    """
    if run.model_id is None:
        return context, None
    deployed = store.deployed_version(run.model_id)
    if deployed.id == run.model_id:
        return context, deployed
    provenance = {**context.provenance, "model_sha256": deployed.sha256,
                  "model_id": deployed.id}
    return replace(context, pipeline=registered_model(deployed), provenance=provenance), deployed
