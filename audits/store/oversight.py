"""The human-oversight rows of an audit: every time a person touched one of its cases.

One row per rating, per "cannot tell" answer and per adjudication, with what the person
saw (the model's decision shown or hidden, the sensitive attributes shown or hidden),
what they did, why, when and for how long, and who they are on the panel (user name and
role; never their background). :mod:`audits.evidence.oversight` turns the rows into the
per-decision record and its aggregates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.systems import check_system_name, system_row
from audits.store.tables import (
    Adjudication,
    AssignmentRow,
    CannotTellRow,
    Case,
    Rating,
    ReviewerRow,
    User,
)
from audits.store.validation import check_actor, check_id, check_sha256, check_text

__all__ = ["OversightOps"]


class OversightOps(StoreBase):
    """The oversight-record method of :class:`~audits.store.Store`."""

    def oversight_rows(self, actor: Actor, audit_run_id: int) -> list[dict[str, Any]]:
        """Return every touch of a person on an audit's cases, oldest case first.

        Requires "read the oversight record". Each row has ``case_id``, ``row_key``,
        ``snapshot_sha256``, ``subject_group``, ``primary_reason``, ``case_status``,
        ``final_label``, ``model_decision``, ``model_sha256`` (the model whose decision it
        was; None for logged decisions), ``score``, ``threshold``, ``touch``
        (``"rating"``, ``"cannot_tell"`` or ``"adjudication"``), ``username``, ``role``,
        ``reviewer_id`` (None for an adjudication), ``simulated``, ``assignment_kind``,
        ``model_shown``, ``sensitive_shown`` (None for an adjudication, which shows
        everything), ``label`` (None for "cannot tell"), ``confidence``, ``rationale``,
        ``seconds_spent``, ``edits`` (a rating's version), ``assigned_at``, ``started_at``
        and ``decided_at``.
        """
        require_role(check_actor(actor), "read the oversight record")
        run_id = check_id(audit_run_id, "audit_run_id")
        with self._read() as session:
            ratings = session.execute(
                select(Rating, AssignmentRow, Case, ReviewerRow, User)
                .join(AssignmentRow, AssignmentRow.id == Rating.assignment_id)
                .join(Case, Case.id == Rating.case_id)
                .join(ReviewerRow, ReviewerRow.id == Rating.reviewer_id)
                .join(User, User.id == ReviewerRow.user_id)
                .where(Case.audit_run_id == run_id)).all()
            unsure = session.execute(
                select(CannotTellRow, AssignmentRow, Case, ReviewerRow, User)
                .join(AssignmentRow, AssignmentRow.id == CannotTellRow.assignment_id)
                .join(Case, Case.id == CannotTellRow.case_id)
                .join(ReviewerRow, ReviewerRow.id == CannotTellRow.reviewer_id)
                .join(User, User.id == ReviewerRow.user_id)
                .where(Case.audit_run_id == run_id)).all()
            final = session.execute(
                select(Adjudication, Case, User)
                .join(Case, Case.id == Adjudication.case_id)
                .outerjoin(User, User.username == Adjudication.adjudicator)
                .where(Case.audit_run_id == run_id)).all()
            rows = [_rating(*r) for r in ratings] + [_unsure(*r) for r in unsure]
            rows += [_adjudication(*r) for r in final]
        order = {"rating": 0, "cannot_tell": 0, "adjudication": 1}
        rows.sort(key=lambda r: (r["case_id"], order[r["touch"]], r["decided_at"]))
        return rows

    def record_evidence_pack(self, actor: Actor, system: str, *, release: str,
                             version: int, sha256: str, counts: dict[str, int]) -> None:
        """Log that an evidence pack of ``system``'s release was written (requires "build
        an evidence pack"): action ``evidence_pack`` with the release, the version, the
        archive's sha256 and the requirements' counts by status."""
        require_role(check_actor(actor), "build an evidence pack")
        name = check_system_name(system)
        label = check_text(release, "release", 100)
        digest = check_sha256(sha256)
        tally = {str(k): int(v) for k, v in counts.items()}
        with self._write() as (session, head):
            row = system_row(session, name)
            append_entry(session, head, actor=actor.username, action="evidence_pack",
                         entity="system", entity_id=row.id,
                         payload={"system": name, "release": label,
                                  "version": int(version), "sha256": digest,
                                  "counts": tally})


def _case(case: Case) -> dict[str, Any]:
    snapshot = case.snapshot_json
    return {"case_id": case.id, "row_key": case.row_key,
            "snapshot_sha256": case.snapshot_sha256, "subject_group": case.subject_group,
            "primary_reason": case.primary_reason, "case_status": case.status,
            "final_label": case.final_label,
            "model_decision": (snapshot.get("decision") or {}).get("value"),
            "model_sha256": (snapshot.get("provenance") or {}).get("model_sha256"),
            "score": snapshot.get("score"), "threshold": snapshot.get("threshold")}


def _person(reviewer: ReviewerRow, user: User, assignment: AssignmentRow) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "reviewer_id": reviewer.id,
            "simulated": reviewer.simulated, "assignment_kind": assignment.kind,
            "model_shown": assignment.model_shown,
            "sensitive_shown": assignment.sensitive_shown,
            "assigned_at": assignment.created_at}


def _rating(r: Rating, a: AssignmentRow, c: Case, reviewer: ReviewerRow,
            user: User) -> dict[str, Any]:
    return {**_case(c), "touch": "rating", **_person(reviewer, user, a), "label": r.label,
            "confidence": r.confidence, "rationale": r.rationale,
            "seconds_spent": r.seconds_spent, "edits": r.version,
            "started_at": r.created_at, "decided_at": r.updated_at}


def _unsure(u: CannotTellRow, a: AssignmentRow, c: Case, reviewer: ReviewerRow,
            user: User) -> dict[str, Any]:
    return {**_case(c), "touch": "cannot_tell", **_person(reviewer, user, a), "label": None,
            "confidence": None, "rationale": u.reason, "seconds_spent": u.seconds_spent,
            "edits": 1, "started_at": u.created_at, "decided_at": u.created_at}


def _adjudication(j: Adjudication, c: Case, user: User | None) -> dict[str, Any]:
    return {**_case(c), "touch": "adjudication", "username": j.adjudicator,
            "role": None if user is None else user.role, "reviewer_id": None,
            "simulated": False, "assignment_kind": None, "model_shown": None,
            "sensitive_shown": None, "assigned_at": None, "label": j.label,
            "confidence": None, "rationale": j.reason, "seconds_spent": None, "edits": 1,
            "started_at": j.created_at, "decided_at": j.created_at}
