"""Reviewers' qualifications: the training, competence and authority the panel records.

The EU AI Act asks that human oversight be given to people "who have the necessary
competence, training and authority" (Art. 26(2)). A panel lead records each one against
a reviewer: what it is, the evidence (a course, a certificate's number, a mandate), when
it was completed and until when it holds. Records are append-only: a lapsed training
stays on record and a renewal is a new row, so the human-oversight record can state what
a reviewer held on the day they rated (:meth:`QualificationRecord.valid_at`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.tables import ReviewerQualification, ReviewerRow, User, utcnow
from audits.store.validation import check_actor, check_text

__all__ = ["KINDS", "QualificationOps", "QualificationRecord"]

#: What a qualification records (Art. 26(2): competence, training and authority).
KINDS = ("training", "competence", "authority")
MSG_KIND = "kind must be one of {choices}; got {value!r}"
MSG_NAIVE = "{field} must be a timezone-aware datetime; got {value!r}"
MSG_EXPIRES = "expires_at ({expires}) must be after completed_at ({completed})"
MSG_FUTURE = "completed_at ({completed}) is in the future: record a qualification once held"
MSG_NO_REVIEWER = "{username!r} is not on the reviewer panel"


@dataclass(frozen=True)
class QualificationRecord:
    """One recorded training, competence or authority of a reviewer."""

    id: int
    reviewer_id: int
    username: str
    kind: str
    title: str
    evidence: str
    completed_at: datetime
    expires_at: datetime | None
    recorded_by: str
    recorded_at: datetime

    def valid_at(self, when: datetime) -> bool:
        """Whether it was held at ``when``: completed by then and not yet expired."""
        return self.completed_at <= when and (self.expires_at is None
                                              or when < self.expires_at)


class QualificationOps(StoreBase):
    """The qualification methods of :class:`~audits.store.Store`."""

    def record_qualification(self, actor: Actor, username: str, *, kind: str, title: str,
                             completed_at: datetime, expires_at: datetime | None = None,
                             evidence: str = "") -> QualificationRecord:
        """Record a reviewer's training, competence or authority (requires "manage the
        panel"); logged as ``record_qualification``.

        Raises
        ------
        ValueError
            An unknown ``kind``, an empty ``title``, a naive or future ``completed_at``,
            an ``expires_at`` not after it; LookupError when ``username`` is not on the
            panel. Nothing is written.
        """
        require_role(check_actor(actor), "manage the panel")
        kind = _check_kind(kind)
        title = check_text(title, "title", 500)
        evidence = check_text(evidence, "evidence", 2000, empty=True)
        completed = _aware(completed_at, "completed_at")
        expires = None if expires_at is None else _aware(expires_at, "expires_at")
        if completed > utcnow():
            raise ValueError(MSG_FUTURE.format(completed=completed.isoformat()))
        if expires is not None and expires <= completed:
            raise ValueError(MSG_EXPIRES.format(expires=expires.isoformat(),
                                                completed=completed.isoformat()))
        with self._write() as (session, head):
            reviewer = session.scalar(select(ReviewerRow).join(
                User, User.id == ReviewerRow.user_id).where(User.username == username))
            if reviewer is None:
                raise LookupError(MSG_NO_REVIEWER.format(username=username))
            row = ReviewerQualification(
                reviewer_id=reviewer.id, kind=kind, title=title, evidence=evidence,
                completed_at=completed, expires_at=expires, recorded_by=actor.username,
                recorded_at=utcnow())
            session.add(row)
            session.flush()
            append_entry(session, head, actor=actor.username, action="record_qualification",
                         entity="reviewer", entity_id=reviewer.id,
                         payload={"username": username, "kind": kind, "title": title,
                                  "completed_at": completed.isoformat(),
                                  "expires_at": None if expires is None
                                  else expires.isoformat()})
            return _record(row, username)

    def qualifications(self, actor: Actor, *, reviewer_ids: Iterable[int] | None = None,
                       ) -> list[QualificationRecord]:
        """Return recorded qualifications, oldest first (requires "read panel
        aggregates"; a reviewer's qualifications are no background attribute)."""
        require_role(check_actor(actor), "read panel aggregates")
        query = (select(ReviewerQualification, User.username)
                 .join(ReviewerRow, ReviewerRow.id == ReviewerQualification.reviewer_id)
                 .join(User, User.id == ReviewerRow.user_id)
                 .order_by(ReviewerQualification.id))
        if reviewer_ids is not None:
            query = query.where(ReviewerQualification.reviewer_id.in_(list(reviewer_ids)))
        with self._read() as session:
            return [_record(row, name) for row, name in session.execute(query).all()]


def _check_kind(value: object) -> str:
    if value not in KINDS:
        raise ValueError(MSG_KIND.format(choices=", ".join(KINDS), value=value))
    return str(value)


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(MSG_NAIVE.format(field=field, value=value))
    return value


def _record(row: ReviewerQualification, username: str) -> QualificationRecord:
    return QualificationRecord(
        id=row.id, reviewer_id=row.reviewer_id, username=username, kind=row.kind,
        title=row.title, evidence=row.evidence, completed_at=row.completed_at,
        expires_at=row.expires_at, recorded_by=row.recorded_by,
        recorded_at=row.recorded_at)
