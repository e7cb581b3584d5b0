"""Deciding live decisions over the store: score, judge, hold, queue, record.

:func:`live_system` gathers once what a system's live decisions need (its latest
completed fairness audit that has a review queue, the model in use now, the flag
context and the audit's own decisions as the reference for counterfactuals); a
service keeps it and rebuilds it when the deployed model changes. :func:`decide` takes
a call's decisions: it checks each field against the system's schema (every problem
named with its decision and field, nothing stored when any is wrong), scores them with
the deployed model (or takes the logged decision and score), judges them with
:func:`audits.live.policy.evaluate_live`, explains the held ones with SHAP (one row
each), snapshots them as cases and records everything through
:meth:`audits.store.Store.record_live_decisions` in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from audits.explain.shap_values import explain_model
from audits.fairness.stored import AUDIT_KIND
from audits.flagging.cases import FlagContext, case_of
from audits.flagging.stored import deployed_context, flag_context
from audits.live.budget import Bucket, sla_stage, take
from audits.live.policy import LivePolicy, evaluate_live
from audits.models.training import predict_decisions
from audits.panel.stored import assign_queue
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, ModelRecord, Store
from audits.store.live import BudgetTaker, LiveDecisionInput, LiveDecisionRecord
from audits.store.webhooks import LiveSettingsRecord

__all__ = ["MSG_NO_LIVE_AUDIT", "DecisionProblem", "DecisionRequest", "LiveSystem",
           "RequestRejected", "Sweep", "assign_held", "configure_live", "decide", "decide_calls",
           "live_policy", "live_system", "request_problems", "sweep_service_levels"]

MSG_NO_LIVE_AUDIT = (
    "system {system!r} has no completed fairness audit with a review queue; run an audit "
    "and build its queue first (the live policy flags decisions against it)"
)
MSG_REJECTED = "{n} problem(s) in the request, nothing stored: {first}"


@dataclass(frozen=True)
class DecisionRequest:
    """One decision a service sends.

    ``features`` are the model's inputs; ``sensitive`` the sensitive features (used to
    judge and group, never to score unless the model takes them). Without a deployed
    model, ``prediction`` (0/1) and optionally ``score`` are the decision logged by the
    caller's own system.
    """

    id: str
    idempotency_key: str
    features: Mapping[str, Any]
    sensitive: Mapping[str, Any] = field(default_factory=dict)
    prediction: int | None = None
    score: float | None = None

    def sha256(self) -> str:
        """The request's content hash (what an idempotency key is bound to)."""
        body = {"id": self.id, "features": dict(self.features),
                "sensitive": dict(self.sensitive), "prediction": self.prediction,
                "score": self.score}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DecisionProblem:
    """A bad field of one decision: ``index`` in the call, ``field`` as a path."""

    index: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"decisions[{self.index}].{self.field}: {self.message}"


class RequestRejected(ValueError):
    """A call with bad fields; ``problems`` names each one."""

    def __init__(self, problems: Sequence[DecisionProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(MSG_REJECTED.format(n=len(self.problems), first=self.problems[0]))


@dataclass(frozen=True)
class LiveSystem:
    """What a system's live decisions are judged against (built by :func:`live_system`)."""

    system: str
    run: AuditRunRecord
    model: ModelRecord | None
    context: FlagContext
    reference: pd.DataFrame

    @property
    def model_version(self) -> str | None:
        """The deployed model's id and hash prefix, e.g. ``"#3 9f2c1a7e"``."""
        return None if self.model is None else f"#{self.model.id} {self.model.sha256[:8]}"


def live_system(store: Store, system: str) -> LiveSystem:
    """Gather what ``system``'s live decisions are judged against.

    The newest completed fairness audit of any version of the system that has a review
    queue; the model in use now (the deployed version of the audited model's family);
    its flag context; and the audit's decisions as the counterfactuals' reference.

    Raises
    ------
    LookupError
        No such system.
    ValueError
        No audit with a queue yet (:data:`MSG_NO_LIVE_AUDIT`).
    """
    versions = {v.id for v in store.system_versions(system)}
    queued = set(store.queued_audit_runs())
    runs = [r for r in store.list_audit_runs()
            if r.dataset_id in versions and r.status == "completed" and r.id in queued
            and (r.config or {}).get("kind") == AUDIT_KIND]
    if not runs:
        raise ValueError(MSG_NO_LIVE_AUDIT.format(system=system))
    run = max(runs, key=lambda r: r.id)
    frame, context = flag_context(store, run)
    context, model = deployed_context(store, run, context)
    return LiveSystem(system=system, run=run, model=model, context=context, reference=frame)


def request_problems(live: LiveSystem, requests: Sequence[DecisionRequest]
                     ) -> list[DecisionProblem]:
    """Every bad field of a call, against the system's schema.

    A feature or sensitive feature the system does not know, one it needs that is
    missing, a value whose type differs from the audit's data (a number where the data
    has numbers), a logged decision that is not 0 or 1 (or missing without a model), a
    score that is not a finite number. Idempotency keys and ids must be non-empty text of
    at most 128 characters.

    Examples
    --------
    >>> p = DecisionProblem(0, "features.income", "missing")
    >>> str(p)
    'decisions[0].features.income: missing'
    """
    context, reference = live.context, live.reference
    features = [f for f in context.features if f not in context.sensitive_features]
    sensitive = list(context.sensitive_features)
    inputs_sensitive = [s for s in sensitive if s in context.features]
    problems: list[DecisionProblem] = []
    for i, request in enumerate(requests):
        def bad(where: str, message: str, i: int = i) -> None:
            problems.append(DecisionProblem(i, where, message))
        for name, value in (("id", request.id), ("idempotency_key", request.idempotency_key)):
            if not isinstance(value, str) or not value.strip() or len(value) > 128:
                bad(name, "must be text of 1 to 128 characters")
        for part, given, wanted in (("features", request.features, features),
                                    ("sensitive", request.sensitive, sensitive)):
            if not isinstance(given, Mapping):
                bad(part, "must be an object")
                continue
            for name in given:
                if name not in wanted and not (part == "features" and name in inputs_sensitive):
                    bad(f"{part}.{name}", f"is not a {part[:-1] if part == 'features' else part}"
                        f" field of system {live.system!r}; expected: {', '.join(wanted)}")
            for name in wanted:
                if name not in given and not (part == "sensitive" and name in request.features):
                    bad(f"{part}.{name}", "is required")
                elif name in given:
                    message = _type_problem(given[name], reference[name]
                                            if name in reference.columns else None)
                    if message:
                        bad(f"{part}.{name}", message)
        if context.pipeline is None:
            if request.prediction not in (0, 1) or isinstance(request.prediction, bool):
                bad("prediction", "is required as 0 or 1 (the system has no deployed model)")
        elif request.prediction is not None:
            bad("prediction", "must be omitted: the deployed model decides")
        if request.score is not None and (isinstance(request.score, bool) or not isinstance(
                request.score, int | float) or not math.isfinite(request.score)):
            bad("score", "must be a finite number")
    keys = [r.idempotency_key for r in requests]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            problems.append(DecisionProblem(i, "idempotency_key",
                                            f"repeats decisions[{keys.index(key)}]'s key"))
    return problems


def _type_problem(value: Any, column: pd.Series | None) -> str | None:
    if value is None:
        return None  # the model's imputation handles a missing value, as in training
    numeric = (column is not None and pd.api.types.is_numeric_dtype(column)
               and not pd.api.types.is_bool_dtype(column))
    if numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number; got {type(value).__name__}"
        if not math.isfinite(value):
            return "must be a finite number"
    elif isinstance(value, dict | list):
        return f"must be a single value; got {type(value).__name__}"
    return None


def decide(store: Store, actor: Actor, live: LiveSystem,
           requests: Sequence[DecisionRequest], *, policy: LivePolicy,
           now: datetime | None = None) -> list[LiveDecisionRecord]:
    """Score, judge and record a call's decisions; answer each in order.

    Raises
    ------
    RequestRejected
        Bad fields (each named; nothing stored).
    ValueError
        A used idempotency key with another request, too many decisions.
    """
    answer = decide_calls(store, live, [(actor, requests)], policy=policy, now=now)[0]
    if isinstance(answer, ValueError):
        raise answer
    return answer


def decide_calls(store: Store, live: LiveSystem,
                 calls: Sequence[tuple[Actor, Sequence[DecisionRequest]]], *,
                 policy: LivePolicy, now: datetime | None = None
                 ) -> list[list[LiveDecisionRecord] | ValueError]:
    """Decide several callers' calls together: one scoring of all their rows, one
    judgement, one SHAP explanation of the held ones, one transaction (one log entry per
    call). Each call is answered as :func:`decide` would answer it alone (the policy
    judges each row on its own), or with its own error (:class:`RequestRejected`, a
    reused key) in its place, the others unaffected. Idempotency keys must differ
    between calls.

    Raises
    ------
    ValueError
        A key in two calls.
    """
    return _record_judged(store, _judge_calls(live, calls, policy=policy), now=now)


@dataclass(frozen=True)
class _JudgedCalls:
    """Calls scored and judged, not yet recorded."""

    live: LiveSystem
    policy: LivePolicy
    answers: tuple[list[LiveDecisionRecord] | ValueError | None, ...]
    recorded: tuple[tuple[int, Actor, list[LiveDecisionInput]], ...]


def _judge_calls(live: LiveSystem, calls: Sequence[tuple[Actor, Sequence[DecisionRequest]]],
                *, policy: LivePolicy) -> _JudgedCalls:
    """Check, score and judge calls (no store): what :func:`_record_judged` records.

    Raises
    ------
    ValueError
        A key in two calls.
    """
    answers: list[list[LiveDecisionRecord] | ValueError | None] = [None] * len(calls)
    valid: list[int] = []
    for i, (actor, requests) in enumerate(calls):
        require_role(actor, "run an audit")
        problems = request_problems(live, requests)
        if problems:
            answers[i] = RequestRejected(problems)
        elif not requests:
            answers[i] = []
        else:
            valid.append(i)
    everyone = [r.idempotency_key for i in valid for r in calls[i][1]]
    if len(set(everyone)) != len(everyone):
        raise ValueError("decide_calls: an idempotency key appears in two calls")
    recorded = []
    if valid:
        items = _judged(live, [r for i in valid for r in calls[i][1]], policy)
        at = 0
        for i in valid:
            n = len(calls[i][1])
            recorded.append((i, calls[i][0], items[at:at + n]))
            at += n
    return _JudgedCalls(live, policy, tuple(answers), tuple(recorded))


def _record_judged(store: Store, judged: _JudgedCalls, *, now: datetime | None = None
                  ) -> list[list[LiveDecisionRecord] | ValueError]:
    """Record judged calls in one transaction; answer each call in order."""
    out = list(judged.answers)
    if judged.recorded:
        answers = store.record_live_calls(
            judged.live.system, judged.live.run.id,
            [(actor, items) for _, actor, items in judged.recorded],
            take_budget=_budget_taker(judged.policy), when_spent=judged.policy.when_spent,
            now=now)
        for (i, _, _), answer in zip(judged.recorded, answers, strict=True):
            out[i] = answer
    return [answer if answer is not None else [] for answer in out]


def _judged(live: LiveSystem, requests: Sequence[DecisionRequest], policy: LivePolicy
            ) -> list[LiveDecisionInput]:
    """Score and judge checked requests; each as the decision the store records."""
    context = live.context
    keys = [f"live:{r.idempotency_key}" for r in requests]
    frame = pd.DataFrame([{**dict(r.sensitive), **dict(r.features)} for r in requests],
                         index=pd.Index(keys, dtype=object))
    for column in live.reference.columns:
        if column in frame.columns and pd.api.types.is_numeric_dtype(live.reference[column]):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    y_score, y_pred = context.y_score or "y_score", context.y_pred
    if context.pipeline is not None:
        scored = predict_decisions(context.pipeline, frame, features=list(context.features),
                                   threshold=context.threshold)
        frame[y_score] = scored["y_score"].to_numpy()
        frame[y_pred] = scored["y_pred"].to_numpy()
    else:
        frame[y_pred] = [int(r.prediction or 0) for r in requests]
        frame[y_score] = [np.nan if r.score is None else float(r.score) for r in requests]
    scores = frame[y_score]
    has_scores = bool(scores.notna().all())
    judged = evaluate_live(
        frame, scores.fillna(context.threshold) if not has_scores else scores,
        threshold=context.threshold,
        policy=replace(policy, counterfactual=policy.counterfactual
                       and context.pipeline is not None,
                       low_confidence_margin=policy.low_confidence_margin if has_scores
                       else None,
                       attribution_min_share=policy.attribution_min_share
                       if context.pipeline is not None else None),
        pipeline=context.pipeline, features=context.features,
        sensitive_features=context.sensitive_features, proxies=context.proxies,
        reference=live.reference, positive_is_favourable=context.positive_is_favourable,
        **_attribution(context, frame, policy))
    held = [key for key in frame.index if judged.at[key, "held"]]
    explanation = (explain_model(context.pipeline, frame.loc[held],
                                 features=list(context.features),
                                 background=context.background,
                                 random_state=policy.random_state)
                   if held and context.pipeline is not None else None)
    items = []
    for key, request in zip(frame.index, requests, strict=True):
        reasons = list(judged.at[key, "reasons"])
        case = (case_of(frame, key, context, reasons, explanation=explanation)
                if reasons else None)
        items.append(LiveDecisionInput(
            external_id=request.id, idempotency_key=request.idempotency_key,
            request_sha256=request.sha256(), threshold=float(context.threshold),
            score=None if pd.isna(frame.at[key, y_score]) else float(frame.at[key, y_score]),
            model_decision=int(frame.at[key, y_pred]), would_hold=bool(reasons),
            reasons=reasons, features=_json(request.features),
            sensitive=_json(request.sensitive), case=case,
            model_id=None if live.model is None else live.model.id))
    return items


def _budget_taker(policy: LivePolicy) -> BudgetTaker:
    def take_budget(tokens: float | None, updated: datetime | None, at: datetime
                    ) -> tuple[bool, float, datetime]:
        bucket = (Bucket.full(policy.capacity, at) if tokens is None or updated is None
                  else Bucket(tokens, updated))
        ok, after = take(bucket, at, rate_per_day=policy.reviews_per_day,
                         capacity=policy.capacity)
        return ok, after.tokens, after.updated_at
    return take_budget


def _attribution(context: FlagContext, frame: pd.DataFrame,
                 policy: LivePolicy) -> dict[str, Any]:
    """SHAP of every decision of the call, when the attribution reason is on."""
    if policy.attribution_min_share is None or context.pipeline is None:
        return {}
    watched = [f for f in context.features if f in context.sensitive_features]
    watched += [p for ps in context.proxies.values() for p in ps if p not in watched]
    if not watched:
        return {}
    explanation = explain_model(context.pipeline, frame, features=list(context.features),
                                background=context.background,
                                random_state=policy.random_state)
    return {"contributions": explanation.contributions, "watched": watched}


def _json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in values.items()}


def configure_live(store: Store, actor: Actor, system: str, policy: LivePolicy, *,
                   webhook_url: str | None = None, notify: str = "held",
                   new_secret: bool = False) -> LiveSettingsRecord:
    """Store ``system``'s live policy and webhook (the policy checked as a
    :class:`LivePolicy` first). A new URL's signing secret is in the record, this once."""
    if not isinstance(policy, LivePolicy):
        raise TypeError(f"policy must be a LivePolicy; got {type(policy).__name__}")
    return store.set_live_settings(actor, system, policy=policy.to_dict(),
                                   webhook_url=webhook_url, notify=notify,
                                   new_secret=new_secret)


def live_policy(store: Store, system: str, default: LivePolicy | None = None) -> LivePolicy:
    """``system``'s stored live policy, else ``default`` (else the defaults)."""
    settings = store.live_settings(system)
    if settings is None or not settings.policy:
        return default or LivePolicy()
    return LivePolicy(**settings.policy)


@dataclass(frozen=True)
class Sweep:
    """What one service-level sweep did: decisions sent to the lead, and decided by the
    fallback."""

    escalated: tuple[int, ...]
    fell_back: tuple[int, ...]


def sweep_service_levels(store: Store, actor: Actor, now: datetime, *,
                         default: LivePolicy | None = None) -> Sweep:
    """Escalate held decisions past their service level, and decide those past the lead's.

    Each system's own policy (:func:`live_policy`) sets ``sla_hours``, ``lead_hours``
    and ``fallback`` (``model``: the model's decision takes effect; ``positive`` or
    ``negative``: that decision). ``now`` is the caller's clock.
    """
    escalate: list[int] = []
    fall_back: dict[int, int] = {}
    policies: dict[str, LivePolicy] = {}
    for record in store.pending_live():
        policy = policies.get(record.system)
        if policy is None:
            policy = policies[record.system] = live_policy(store, record.system, default)
        stage = sla_stage(record.created_at, now, sla_hours=policy.sla_hours,
                          lead_hours=policy.lead_hours)
        if stage == "fallback":
            fall_back[record.id] = (record.model_decision if policy.fallback == "model"
                                    else int(policy.fallback == "positive"))
        elif stage == "lead" and record.escalated_at is None:
            escalate.append(record.id)
    escalated = store.escalate_live(actor, escalate, now=now) if escalate else []
    fell = store.fall_back_live(actor, fall_back, now=now) if fall_back else []
    return Sweep(tuple(escalated), tuple(fell))


def assign_held(store: Store, actor: Actor) -> dict[int, int]:
    """Give the cases of newly held decisions their reviewers, with the panel's rules.

    Only those cases are assigned (the rest of each audit's queue is left as it is);
    the audit's stored panel configuration applies (availability, capacity, diversity,
    exclusions). Returns audit run id -> assignments made.
    """
    made = {}
    for run_id, case_ids in store.unassigned_live_cases().items():
        result = assign_queue(store, actor, run_id, only=case_ids)
        made[run_id] = len(result.table)
    return made
