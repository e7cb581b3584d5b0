"""The review queue and monitoring: flag policies, cases, batches and alerts.

Everything a batch brings (its decisions, results, cases and alerts) is written in one
transaction with one log entry, so a failure stores nothing and the same batch twice
(same content hash) is one batch.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry, canonical_json
from audits.store.records import (
    AlertInput,
    AlertRecord,
    BatchRecord,
    CaseInput,
    CaseRecord,
    alert_record,
    batch_record,
    case_record,
)
from audits.store.tables import Alert, AuditRun, Batch, Case, FlagPolicyRow, utcnow
from audits.store.validation import (
    check_actor,
    check_count,
    check_id,
    check_json_object,
    check_sha256,
    check_text,
)

__all__ = ["QueueOps", "add_cases", "check_cases", "completed_run"]

MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_RUN_NOT_COMPLETED = "audit run {id} is {status}; only a completed run can have a queue"
MSG_POLICY_EXISTS = (
    "audit run {id} already has a review policy; its queue was built with it and cannot be "
    "rebuilt (new decisions join it through ingested batches)"
)
MSG_NO_POLICY = "audit run {id} has no review policy yet; build its queue first"
MSG_DUPLICATE_KEY = "case row_key {key!r} appears twice in one call"
MSG_KEY_EXISTS = "audit run {id} already has a case for row_key(s) {keys}"
MSG_LABEL_EXISTS = "audit run {id} already has a batch labelled {label!r} (with other content)"
MSG_BAD_CASE = "case {key!r}: {problem}"
MSG_NOT_CASE = "cases must be CaseInput values; got {type}"
MSG_NOT_ALERT = "alerts must be AlertInput values; got {type}"


class QueueOps(StoreBase):
    """The queue and monitoring methods of :class:`~audits.store.Store`."""

    def record_queue(self, actor: Actor, audit_run_id: int, *, policy: dict[str, Any],
                     cases: Sequence[CaseInput]) -> list[CaseRecord]:
        """Store an audit run's review policy and the cases it selected (once per run).

        Requires "run an audit". The policy and every case commit together or not at
        all, with one log entry holding the policy and the sha256 of each snapshot.

        Raises
        ------
        LookupError
            No audit run with this id.
        ValueError
            The run is not completed, already has a policy, or a case is malformed
            (:data:`MSG_BAD_CASE`, :data:`MSG_DUPLICATE_KEY`).
        """
        require_role(check_actor(actor), "run an audit")
        run_id = check_id(audit_run_id, "audit_run_id")
        policy_json = check_json_object(policy, "policy")
        checked = check_cases(cases)
        with self._write() as (session, head):
            completed_run(session, run_id)
            if session.scalar(select(FlagPolicyRow.id).where(
                    FlagPolicyRow.audit_run_id == run_id)) is not None:
                raise ValueError(MSG_POLICY_EXISTS.format(id=run_id))
            session.add(FlagPolicyRow(audit_run_id=run_id, policy_json=policy_json,
                                      created_by=actor.username, created_at=utcnow()))
            rows = add_cases(session, actor, run_id, None, checked)
            append_entry(session, head, actor=actor.username, action="record_queue",
                         entity="audit_run", entity_id=run_id,
                         payload={"policy": policy_json, "cases": _digests(rows)})
            return [case_record(r) for r in rows]

    def record_batch(
        self, actor: Actor, audit_run_id: int, *, sha256: str, label: str, n_rows: int,
        period_start: str | None, period_end: str | None, data: dict[str, Any],
        results: dict[str, Any], cases: Sequence[CaseInput], alerts: Sequence[AlertInput],
    ) -> tuple[BatchRecord, bool]:
        """Append a batch with its results, cases and alerts; idempotent on ``sha256``.

        Returns the stored batch and whether it was created: a batch whose content hash
        the audit already holds returns the existing batch and ``False``, adding nothing.

        Raises
        ------
        LookupError
            No audit run with this id.
        ValueError
            The run is not completed or has no policy, the label is taken by another
            batch, or a case or alert is malformed.
        """
        require_role(check_actor(actor), "run an audit")
        run_id = check_id(audit_run_id, "audit_run_id")
        sha = check_sha256(sha256)
        label = check_text(label, "label", 200)
        n_rows = check_count(n_rows, "n_rows")
        starts = [None if p is None else check_text(p, "period", 40)
                  for p in (period_start, period_end)]
        data_json = check_json_object(data, "data")
        results_json = check_json_object(results, "results")
        checked = check_cases(cases)
        alert_rows = [_alert_row(a) for a in alerts]
        with self._write() as (session, head):
            completed_run(session, run_id)
            existing = session.scalar(select(Batch).where(Batch.audit_run_id == run_id,
                                                          Batch.sha256 == sha))
            if existing is not None:
                return batch_record(existing), False
            if self._policy(session, run_id) is None:
                raise ValueError(MSG_NO_POLICY.format(id=run_id))
            if session.scalar(select(Batch.id).where(Batch.audit_run_id == run_id,
                                                     Batch.label == label)) is not None:
                raise ValueError(MSG_LABEL_EXISTS.format(id=run_id, label=label))
            batch = Batch(audit_run_id=run_id, sha256=sha, label=label, n_rows=n_rows,
                          period_start=starts[0], period_end=starts[1], data_json=data_json,
                          results_json=results_json, created_by=actor.username,
                          created_at=utcnow())
            session.add(batch)
            session.flush()
            rows = add_cases(session, actor, run_id, batch.id, checked)
            for alert in alert_rows:
                alert.audit_run_id, alert.batch_id = run_id, batch.id
                session.add(alert)
            payload = {"audit_run_id": run_id, "sha256": sha, "label": label,
                       "n_rows": n_rows, "results_sha256": _digest(results_json),
                       "cases": _digests(rows),
                       "alerts": [a.message for a in alert_rows]}
            append_entry(session, head, actor=actor.username, action="ingest_batch",
                         entity="batch", entity_id=batch.id, payload=payload)
            return batch_record(batch), True

    def get_flag_policy(self, audit_run_id: int) -> dict[str, Any] | None:
        """Return the review policy stored with an audit run, or None."""
        with self._read() as session:
            return self._policy(session, audit_run_id)

    def queued_audit_runs(self) -> list[int]:
        """Return the ids of the audit runs that have a review queue, oldest first."""
        with self._read() as session:
            query = select(FlagPolicyRow.audit_run_id).order_by(FlagPolicyRow.audit_run_id)
            return list(session.scalars(query))

    def list_cases(self, audit_run_id: int) -> list[CaseRecord]:
        """Return the cases of an audit run: the first queue by rank, then each batch's."""
        query = (select(Case).where(Case.audit_run_id == audit_run_id)
                 .order_by(Case.batch_id.is_not(None), Case.batch_id, Case.rank, Case.id))
        with self._read() as session:
            return [case_record(r) for r in session.scalars(query)]

    def list_batches(self, audit_run_id: int, *, with_data: bool = False) -> list[BatchRecord]:
        """Return an audit run's batches in the order they were ingested."""
        query = select(Batch).where(Batch.audit_run_id == audit_run_id).order_by(Batch.id)
        with self._read() as session:
            return [batch_record(r, with_data=with_data) for r in session.scalars(query)]

    def find_batch(self, audit_run_id: int, sha256: str) -> BatchRecord | None:
        """Return the batch of this content hash in an audit run, or None."""
        query = select(Batch).where(Batch.audit_run_id == audit_run_id,
                                    Batch.sha256 == sha256)
        with self._read() as session:
            row = session.scalar(query)
            return None if row is None else batch_record(row)

    def list_alerts(self, audit_run_id: int) -> list[AlertRecord]:
        """Return an audit run's alerts, oldest first."""
        query = select(Alert).where(Alert.audit_run_id == audit_run_id).order_by(Alert.id)
        with self._read() as session:
            return [alert_record(r) for r in session.scalars(query)]

    @staticmethod
    def _policy(session: Session, audit_run_id: int) -> dict[str, Any] | None:
        row = session.scalar(select(FlagPolicyRow).where(
            FlagPolicyRow.audit_run_id == audit_run_id))
        return None if row is None else dict(row.policy_json)


def completed_run(session: Session, run_id: int) -> AuditRun:
    """Return the completed audit run ``run_id`` (LookupError, ValueError otherwise)."""
    # Only what the check reads: a run's results can be large, and live decisions call
    # this on every request.
    run = session.get(AuditRun, run_id, options=[
        load_only(AuditRun.id, AuditRun.status, AuditRun.dataset_id)])
    if run is None:
        raise LookupError(MSG_UNKNOWN_RUN.format(id=run_id))
    if run.status != "completed":
        raise ValueError(MSG_RUN_NOT_COMPLETED.format(id=run_id, status=run.status))
    return run


def check_cases(cases: Sequence[CaseInput]) -> list[tuple[CaseInput, dict[str, Any], str]]:
    """Validate cases to queue; return each with its snapshot and the snapshot's hash."""
    checked, seen = [], set()
    for case in cases:
        if not isinstance(case, CaseInput):
            raise ValueError(MSG_NOT_CASE.format(type=type(case).__name__))
        key = check_text(case.row_key, "row_key", 128)
        if key in seen:
            raise ValueError(MSG_DUPLICATE_KEY.format(key=key))
        seen.add(key)
        check_text(case.subject_group, "subject_group", 500)
        check_text(case.primary_reason, "primary_reason", 32)
        if not isinstance(case.priority, int | float) or not math.isfinite(case.priority):
            raise ValueError(MSG_BAD_CASE.format(key=key, problem="priority is not finite"))
        check_id(case.rank, "rank")
        reasons = check_json_object({"reasons": case.reasons}, "reasons")["reasons"]
        if not isinstance(reasons, list) or not reasons:
            raise ValueError(MSG_BAD_CASE.format(key=key, problem="no reasons"))
        snapshot = check_json_object(case.snapshot, "snapshot")
        checked.append((case, snapshot, _digest(snapshot)))
    return checked


def add_cases(session: Session, actor: Actor, run_id: int, batch_id: int | None,
              checked: list[tuple[CaseInput, dict[str, Any], str]]) -> list[Case]:
    """Queue checked cases in run ``run_id`` (refused if a row key is already queued)."""
    keys = [c.row_key for c, _, _ in checked]
    taken = sorted(session.scalars(select(Case.row_key).where(
        Case.audit_run_id == run_id, Case.row_key.in_(keys)))) if keys else []
    if taken:
        raise ValueError(MSG_KEY_EXISTS.format(id=run_id, keys=taken[:5]))
    now = utcnow()
    rows = [Case(audit_run_id=run_id, batch_id=batch_id, row_key=c.row_key,
                 subject_group=c.subject_group, primary_reason=c.primary_reason,
                 reasons_json=list(c.reasons), priority=float(c.priority), rank=c.rank,
                 snapshot_json=snapshot, snapshot_sha256=sha, status="queued",
                 created_by=actor.username, created_at=now)
            for c, snapshot, sha in checked]
    session.add_all(rows)
    session.flush()
    return rows


def _alert_row(alert: AlertInput) -> Alert:
    if not isinstance(alert, AlertInput):
        raise ValueError(MSG_NOT_ALERT.format(type=type(alert).__name__))
    return Alert(metric=check_text(alert.metric, "metric", 64),
                 subject_group=check_text(alert.subject_group, "subject_group", 500),
                 from_verdict=check_text(alert.from_verdict, "from_verdict", 32),
                 to_verdict=check_text(alert.to_verdict, "to_verdict", 32),
                 severity=check_text(alert.severity, "severity", 32),
                 message=check_text(alert.message, "message", None),
                 details_json=check_json_object(alert.details, "details"),
                 created_at=utcnow())


def _digests(rows: list[Case]) -> dict[str, str]:
    return {r.row_key: r.snapshot_sha256 for r in rows}


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
