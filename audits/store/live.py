"""Live decisions in the store: recorded once per idempotency key, held ones queued as
cases in the same transaction, and a system's review budget kept beside them.

:meth:`LiveOps.record_live_decisions` writes a call's decisions in one transaction with
one log entry (``record_live_decisions``, with each decision's id, outcome and request
hash): a batch of a thousand decisions is one append to the hash chain, not a thousand.
A decision whose idempotency key the system already holds is answered from the store
(``replayed``), provided the request is the same; a different request under a used key
is refused. A decision the policy would hold takes one token from the system's review
budget: the store keeps the bucket's row and asks the caller's ``take_budget`` (the
arithmetic lives in :mod:`audits.live.budget`; the store imports no analysis) under the
log's write lock, so two requests never spend the same token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.queue import add_cases, check_cases, completed_run
from audits.store.records import CaseInput
from audits.store.systems import system_row
from audits.store.tables import (
    AssignmentRow,
    Case,
    Dataset,
    LiveBudget,
    LiveDecision,
    LiveSettings,
    LogHead,
    System,
    utcnow,
)
from audits.store.validation import (
    check_actor,
    check_id,
    check_json_object,
    check_sha256,
    check_text,
)
from audits.store.webhooks import queue_delivery

__all__ = ["MSG_KEY_REUSED", "MSG_RUN_OF_ANOTHER_SYSTEM", "MSG_TOO_MANY", "MSG_UNKNOWN_DECISION",
           "MAX_BATCH", "BudgetTaker", "LiveDecisionInput", "LiveDecisionRecord", "LiveOps",
           "settle_live"]

#: The most decisions one call may record (the API's batch limit).
MAX_BATCH = 1000
MSG_TOO_MANY = "at most {max} decisions per call; got {n}"
MSG_KEY_REUSED = ("idempotency key {key!r} was already used for another request to system "
                  "{system!r}; use a new key for a new decision")
MSG_DUPLICATE_KEY = "idempotency key {key!r} appears twice in one call"
MSG_RUN_OF_ANOTHER_SYSTEM = "audit run {id} does not audit a version of system {system!r}"
MSG_UNKNOWN_DECISION = "no live decision with id {id}"
MSG_BAD_DECISION = "decision {key!r}: {problem}"

#: ``(tokens, updated_at, now) -> (taken, tokens, updated_at)``; None tokens: a new bucket.
BudgetTaker = Callable[[float | None, datetime | None, datetime],
                       tuple[bool, float, datetime]]


@dataclass(frozen=True)
class LiveDecisionInput:
    """One decision to record, as the live policy judged it.

    ``would_hold`` says the policy wants a person to see it; whether it is held depends
    on the budget (and ``when_spent``). ``case`` is the case to queue if it is held.
    """

    external_id: str
    idempotency_key: str
    request_sha256: str
    threshold: float
    score: float | None
    model_decision: int
    would_hold: bool
    reasons: list[dict[str, Any]]
    features: dict[str, Any]
    sensitive: dict[str, Any]
    case: CaseInput | None = None
    model_id: int | None = None


@dataclass(frozen=True)
class LiveDecisionRecord:
    """A stored live decision; ``replayed`` is True when a resent request found it."""

    id: int
    system: str
    audit_run_id: int
    external_id: str
    idempotency_key: str
    request_sha256: str
    model_id: int | None
    threshold: float
    score: float | None
    model_decision: int
    outcome: str
    reasons: list[dict[str, Any]]
    unreviewed: str | None
    case_id: int | None
    status: str
    final_decision: int | None
    decided_how: str | None
    decided_role: str | None
    decided_at: datetime | None
    created_at: datetime
    replayed: bool = field(default=False, compare=False)
    escalated_at: datetime | None = None
    sensitive: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def changed(self) -> bool | None:
        """Whether a person changed the model's decision (None until decided)."""
        if self.final_decision is None:
            return None
        return self.final_decision != self.model_decision


def _record(row: LiveDecision, system: str, *, replayed: bool = False) -> LiveDecisionRecord:
    return LiveDecisionRecord(
        id=row.id, system=system, audit_run_id=row.audit_run_id,
        external_id=row.external_id, idempotency_key=row.idempotency_key,
        request_sha256=row.request_sha256, model_id=row.model_id, threshold=row.threshold,
        score=row.score, model_decision=row.model_decision, outcome=row.outcome,
        reasons=list(row.reasons_json), unreviewed=row.unreviewed, case_id=row.case_id,
        status=row.status, final_decision=row.final_decision, decided_how=row.decided_how,
        decided_role=row.decided_role, decided_at=row.decided_at, created_at=row.created_at,
        replayed=replayed, escalated_at=row.escalated_at, sensitive=dict(row.sensitive_json))


def _check(item: object) -> LiveDecisionInput:
    if not isinstance(item, LiveDecisionInput):
        raise ValueError(f"decisions must be LiveDecisionInput values; got "
                         f"{type(item).__name__}")
    key = check_text(item.idempotency_key, "idempotency_key", 128)
    check_text(item.external_id, "id", 128)
    check_sha256(item.request_sha256, "request_sha256")
    if item.model_decision not in (0, 1) or isinstance(item.model_decision, bool):
        raise ValueError(MSG_BAD_DECISION.format(key=key, problem="model_decision must be "
                                                 f"0 or 1, not {item.model_decision!r}"))
    if item.would_hold and item.case is None:
        raise ValueError(MSG_BAD_DECISION.format(key=key, problem="a decision to hold needs "
                                                 "its case"))
    check_json_object(item.features, "features")
    check_json_object(item.sensitive, "sensitive")
    return item


class LiveOps(StoreBase):
    """The live-decision methods of :class:`~audits.store.Store`."""

    def record_live_decisions(
        self, actor: Actor, system: str, audit_run_id: int,
        decisions: Sequence[LiveDecisionInput], *, take_budget: BudgetTaker,
        when_spent: str = "auto", now: datetime | None = None,
    ) -> list[LiveDecisionRecord]:
        """Record a call's decisions (requires "run an audit"); answer each in order.

        Parameters
        ----------
        actor : Actor
            The service's token (a system actor) or a data scientist.
        system : str
        audit_run_id : int
            The completed audit of a version of ``system`` whose queue held cases join.
        decisions : sequence of LiveDecisionInput
            At most :data:`MAX_BATCH`; idempotency keys unique within the call.
        take_budget : callable
            Takes one token of the review budget for a decision the policy would hold.
        when_spent : {"auto", "hold"}, default "auto"
            With the budget spent: decide automatically (``unreviewed = "budget"``), or
            hold anyway.
        now : datetime or None
            The time of the call (None: the clock); tests pass their own.

        Returns
        -------
        list of LiveDecisionRecord
            In the order given; ``replayed`` for a key the system already held.

        Raises
        ------
        ValueError
            Too many decisions, a key twice in the call, a used key with another
            request (:data:`MSG_KEY_REUSED`), a malformed decision or case.
        LookupError
            No such system or audit run.
        """
        answer = self.record_live_calls(system, audit_run_id, [(actor, decisions)],
                                        take_budget=take_budget, when_spent=when_spent,
                                        now=now)[0]
        if isinstance(answer, ValueError):
            raise answer
        return answer

    def record_live_calls(
        self, system: str, audit_run_id: int,
        calls: Sequence[tuple[Actor, Sequence[LiveDecisionInput]]], *,
        take_budget: BudgetTaker, when_spent: str = "auto", now: datetime | None = None,
    ) -> list[list[LiveDecisionRecord] | ValueError]:
        """Record several callers' calls in one transaction: one lock, one log entry per
        call, in order (what a busy service does with the calls that arrived together).

        Each call is as in :meth:`record_live_decisions` and stands alone: a call refused
        (its key used for another request, a malformed decision) gets its
        ``ValueError`` in its place and writes nothing, and the others are recorded. The
        budget is taken in call order. Idempotency keys must differ between the calls
        (a caller resending a key waits for the next transaction, which answers it from
        the store).

        Raises
        ------
        ValueError
            An actor may not run an audit, a key in two calls, the run audits another
            system.
        LookupError
            No such system or audit run.
        """
        run_id = check_id(audit_run_id, "audit_run_id")
        checked: list[tuple[Actor, list[LiveDecisionInput], list[str]] | ValueError] = []
        everyone: set[str] = set()
        for actor, decisions in calls:
            require_role(check_actor(actor), "run an audit")
            try:
                checked.append((actor, *_checked_call(decisions)))
            except ValueError as refused:
                checked.append(refused)
                continue
            keys = checked[-1][2]  # type: ignore[index]
            if everyone & set(keys):
                raise ValueError("a key appears in two calls of one transaction: "
                                 f"{sorted(everyone & set(keys))[:3]}")
            everyone |= set(keys)
        when = now or utcnow()
        with self._write() as (session, head):
            target = system_row(session, system)
            run = completed_run(session, run_id)
            if session.scalar(select(Dataset.system_id).where(
                    Dataset.id == run.dataset_id)) != target.id:
                raise ValueError(MSG_RUN_OF_ANOTHER_SYSTEM.format(id=run_id,
                                                                  system=target.name))
            existing = {row.idempotency_key: row for row in session.scalars(
                select(LiveDecision).where(LiveDecision.system_id == target.id,
                                           LiveDecision.idempotency_key.in_(everyone)))
                } if everyone else {}
            budget = session.get(LiveBudget, target.id)
            settings = session.get(LiveSettings, target.id)
            state = _BudgetState(take_budget, when_spent,
                                 None if budget is None else budget.tokens,
                                 None if budget is None else budget.updated_at)
            out: list[list[LiveDecisionRecord] | ValueError] = []
            for call in checked:
                if isinstance(call, ValueError):
                    out.append(call)
                    continue
                saved = state.tokens, state.updated
                try:
                    out.append(_record_call(session, head, target, run_id, call, existing,
                                            state, when, settings))
                except ValueError as refused:  # refused before it wrote anything
                    state.tokens, state.updated = saved
                    out.append(refused)
            if state.tokens is not None and state.updated is not None:
                if budget is None:
                    session.add(LiveBudget(system_id=target.id, tokens=state.tokens,
                                           updated_at=state.updated))
                else:
                    budget.tokens, budget.updated_at = state.tokens, state.updated
            return out

    def unassigned_live_cases(self) -> dict[int, list[int]]:
        """Audit run id -> the cases of held decisions still waiting for a reviewer
        (pending, not escalated, no assignment yet)."""
        assigned = select(AssignmentRow.case_id)
        with self._read() as session:
            rows = session.execute(select(LiveDecision.audit_run_id, LiveDecision.case_id).where(
                LiveDecision.status == "pending", LiveDecision.escalated_at.is_(None),
                LiveDecision.case_id.is_not(None), LiveDecision.case_id.not_in(assigned))
                .order_by(LiveDecision.id))
            out: dict[int, list[int]] = {}
            for run_id, case_id in rows:
                if case_id is not None:
                    out.setdefault(int(run_id), []).append(int(case_id))
            return out

    def pending_live(self) -> list[LiveDecisionRecord]:
        """Every held decision still waiting for a person, oldest first (all systems)."""
        with self._read() as session:
            rows = session.execute(select(LiveDecision, System.name)
                                   .join(System, System.id == LiveDecision.system_id)
                                   .where(LiveDecision.status == "pending")
                                   .order_by(LiveDecision.id))
            return [_record(r, name) for r, name in rows]

    def escalate_live(self, actor: Actor, decision_ids: Sequence[int], *,
                      now: datetime) -> list[int]:
        """Send held decisions past their service level to the panel lead.

        Each one's case goes to the lead's adjudication queue (``disputed``; its open
        assignments are withdrawn, ratings given stay), once. One log entry
        (``escalate_live_decisions``) for the call. Requires "run an audit" (the
        service's own sweep). Returns the ids escalated now.
        """
        require_role(check_actor(actor), "run an audit")
        with self._write() as (session, head):
            rows = [r for r in _pending_rows(session, decision_ids) if r.escalated_at is None]
            for row in rows:
                row.escalated_at = now
                case = session.get(Case, row.case_id) if row.case_id is not None else None
                if case is not None and case.status != "closed":
                    for assignment in session.scalars(select(AssignmentRow).where(
                            AssignmentRow.case_id == case.id,
                            AssignmentRow.status == "open")):
                        assignment.status, assignment.updated_at = "withdrawn", now
                    case.status = "disputed"
            if rows:
                append_entry(session, head, actor=actor.username,
                             action="escalate_live_decisions", entity="live_decision",
                             entity_id=rows[0].id,
                             payload={"decisions": [r.id for r in rows],
                                      "cases": [r.case_id for r in rows]})
            return [r.id for r in rows]

    def fall_back_live(self, actor: Actor, fallbacks: Mapping[int, int], *,
                       now: datetime) -> list[int]:
        """Decide held decisions nobody decided in time: ``{decision id: decision}``.

        Each becomes final with ``decided_how = "fallback"`` and the role ``policy``;
        its case stays for the lead (a later adjudication no longer changes the
        decision, which took effect). One log entry (``fall_back_live_decisions``).
        Returns the ids decided now.
        """
        require_role(check_actor(actor), "run an audit")
        for value in fallbacks.values():
            if value not in (0, 1) or isinstance(value, bool):
                raise ValueError(f"a fallback decision must be 0 or 1, not {value!r}")
        with self._write() as (session, head):
            rows = _pending_rows(session, list(fallbacks))
            for row in rows:
                row.status, row.final_decision = "decided", int(fallbacks[row.id])
                row.decided_how, row.decided_role, row.decided_at = "fallback", "policy", now
                queue_delivery(session, row, _system_name(session, row.system_id), now)
            if rows:
                append_entry(session, head, actor=actor.username,
                             action="fall_back_live_decisions", entity="live_decision",
                             entity_id=rows[0].id,
                             payload={"decisions": {str(r.id): r.final_decision
                                                    for r in rows}})
            return [r.id for r in rows]

    def live_decision(self, decision_id: int) -> LiveDecisionRecord:
        """Return one live decision.

        Raises
        ------
        LookupError
            No live decision has this id.
        """
        decision_id = check_id(decision_id, "decision_id")
        with self._read() as session:
            row = session.get(LiveDecision, decision_id)
            if row is None:
                raise LookupError(MSG_UNKNOWN_DECISION.format(id=decision_id))
            return _record(row, _system_name(session, row.system_id))

    def live_decisions(self, system: str, *, status: str | None = None
                       ) -> list[LiveDecisionRecord]:
        """Return a system's live decisions, oldest first (only ``status`` if given)."""
        with self._read() as session:
            target = system_row(session, system)
            query = select(LiveDecision).where(LiveDecision.system_id == target.id)
            if status is not None:
                query = query.where(LiveDecision.status == status)
            return [_record(r, target.name)
                    for r in session.scalars(query.order_by(LiveDecision.id))]


@dataclass
class _BudgetState:
    """The review budget as calls of one transaction spend it, in order."""

    take: BudgetTaker
    when_spent: str
    tokens: float | None
    updated: datetime | None

    def hold(self, when: datetime) -> tuple[bool, str | None]:
        """Take a token for a decision the policy would hold: (held, unreviewed)."""
        taken, self.tokens, self.updated = self.take(self.tokens, self.updated, when)
        held = taken or self.when_spent == "hold"
        return held, None if held else "budget"


def _checked_call(decisions: Sequence[LiveDecisionInput]
                  ) -> tuple[list[LiveDecisionInput], list[str]]:
    if len(decisions) > MAX_BATCH:
        raise ValueError(MSG_TOO_MANY.format(max=MAX_BATCH, n=len(decisions)))
    checked = [_check(d) for d in decisions]
    keys = [d.idempotency_key.strip() for d in checked]
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(MSG_DUPLICATE_KEY.format(key=key))
        seen.add(key)
    return checked, keys


def _record_call(session: Session, head: LogHead, target: System, run_id: int,
                 call: tuple[Actor, list[LiveDecisionInput], list[str]],
                 existing: dict[str, LiveDecision], budget: _BudgetState,
                 when: datetime, settings: LiveSettings | None) -> list[LiveDecisionRecord]:
    """One call's decisions, in the caller's transaction; ValueError writes nothing."""
    actor, checked, keys = call
    for item, key in zip(checked, keys, strict=True):  # refuse before writing anything
        old = existing.get(key)
        if old is not None and old.request_sha256 != item.request_sha256.lower():
            raise ValueError(MSG_KEY_REUSED.format(key=key, system=target.name))
    out: list[LiveDecisionRecord | None] = []
    new_rows: list[tuple[int, LiveDecision, LiveDecisionInput]] = []
    for i, (item, key) in enumerate(zip(checked, keys, strict=True)):
        old = existing.get(key)
        if old is not None:
            out.append(_record(old, target.name, replayed=True))
            continue
        held, unreviewed = budget.hold(when) if item.would_hold else (False, None)
        row = LiveDecision(
            system_id=target.id, audit_run_id=run_id,
            external_id=item.external_id.strip(), idempotency_key=key,
            request_sha256=item.request_sha256.lower(),
            features_json=dict(item.features), sensitive_json=dict(item.sensitive),
            model_id=item.model_id, threshold=float(item.threshold),
            score=None if item.score is None else float(item.score),
            model_decision=int(item.model_decision),
            outcome="held" if held else "auto", reasons_json=list(item.reasons),
            unreviewed=unreviewed, status="pending" if held else "decided",
            final_decision=None if held else int(item.model_decision),
            decided_how=None if held else "model",
            decided_role=None if held else "model",
            decided_at=None if held else when,
            created_by=actor.username, created_at=when)
        new_rows.append((i, row, item))
        out.append(None)
    cases = [(item.case, row) for _, row, item in new_rows
             if row.outcome == "held" and item.case is not None]
    if cases:
        made = add_cases(session, actor, run_id, None, check_cases([c for c, _ in cases]))
        for case, (_, row) in zip(made, cases, strict=True):
            row.case_id = case.id
    session.add_all([row for _, row, _ in new_rows])
    session.flush()
    for i, row, _ in new_rows:
        out[i] = _record(row, target.name)
        queue_delivery(session, row, target.name, when, settings=settings)
        existing[row.idempotency_key] = row
    if new_rows:
        append_entry(session, head, actor=actor.username, action="record_live_decisions",
                     entity="system", entity_id=target.id,
                     payload={"system": target.name, "audit_run_id": run_id,
                              "decisions": [{"id": row.id, "outcome": row.outcome,
                                             "request_sha256": row.request_sha256,
                                             "case_id": row.case_id,
                                             "unreviewed": row.unreviewed}
                                            for _, row, _ in new_rows]})
    return [r for r in out if r is not None]


def _pending_rows(session: Session, ids: Sequence[int]) -> list[LiveDecision]:
    return list(session.scalars(select(LiveDecision).where(
        LiveDecision.id.in_(list(ids)), LiveDecision.status == "pending")
        .order_by(LiveDecision.id)))


def settle_live(session: Session, case: Case, *, how: str, role: str) -> None:
    """Give the live decision queued as ``case`` its final decision, as ``case`` closes.

    Called in the transaction that closes the case (reviewers agreeing, or an
    adjudication), so a held decision is decided exactly when its case is; ``changed``
    is read off ``final_decision != model_decision``.
    """
    if case.final_label is None:
        return
    for row in session.scalars(select(LiveDecision).where(LiveDecision.case_id == case.id,
                                                          LiveDecision.status == "pending")):
        row.status, row.final_decision = "decided", int(case.final_label)
        row.decided_how, row.decided_role = how, role
        row.decided_at = case.closed_at or utcnow()
        queue_delivery(session, row, _system_name(session, row.system_id))


def _system_name(session: Session, system_id: int) -> str:
    return str(session.scalar(select(System.name).where(System.id == system_id)))
