"""Ratings made in other annotation tools, stored with the annotators who made them.

An organisation that already reviews in Label Studio, Argilla or a spreadsheet brings
those reviews in: each annotator becomes an *imported reviewer* (a user with the
reviewer role, no password, ``users.imported`` true, and a panel row that is never
available for assignment in fairpanel), and each rating is stored against its case
through an assignment of kind :data:`IMPORTED_KIND`, already rated and blind (the
exported tasks show what a blind reviewer sees), with ``ratings.imported_from`` naming
the format and the file.

:meth:`ImportOps.import_ratings` checks every row before writing anything and writes
all of it in one transaction: unless ``skip_bad`` is given, a single row it cannot place
(unknown case, a case of another audit, a closed case, no annotator, a label that is not
0 or 1...) rejects the whole import with :class:`ImportRejected`, which lists every bad
row. An import is idempotent: each rating's idempotency key is the sha256 of the format,
the case id and the annotator, so importing a file again adds nothing and writes no log
entry.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, Role, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.panel import ReviewerRecord, _reviewer_record
from audits.store.reviews import ADJUDICATION_THRESHOLD, disagreement
from audits.store.tables import (
    AssignmentRow,
    AuditRun,
    Case,
    Exclusion,
    LogHead,
    PanelSetting,
    Rating,
    RatingVersion,
    ReviewerRow,
    User,
    utcnow,
)
from audits.store.validation import check_actor, check_id, check_text

__all__ = [
    "DEFAULT_CONFIDENCE",
    "IMPORTED_KIND",
    "ImportOps",
    "ImportRejected",
    "ImportResult",
    "ImportRow",
    "SkippedRow",
    "import_key",
    "imported_username",
]

#: The assignment kind of an imported rating.
IMPORTED_KIND = "imported"
#: The confidence stored when the tool gave none (the middle of the 1-5 scale).
DEFAULT_CONFIDENCE = 3
#: Ratings a case needs, when no panel configuration says, before an import settles it
#: (the default overlap of :class:`audits.panel.assignment.PanelConfig`).
DEFAULT_OVERLAP = 3
#: Usernames of imported reviewers start with this, so they never take a local name.
USERNAME_PREFIX = "ext."
#: Longest text kept of ``ratings.imported_from`` and of a rationale.
MAX_SOURCE, MAX_RATIONALE = 200, 4000

MSG_FORMAT = "source_format must be 1 to 32 characters of a-z, 0-9 or '_'; got {value!r}"
MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_NOT_ROW = "rows must be ImportRow values; got {type}"
MSG_REJECTED = (
    "{n} row(s) of {file} cannot be placed, so nothing was imported (pass --skip-bad to "
    "import the other rows):\n{rows}"
)
MSG_NO_CASE_ID = "no case id"
MSG_UNKNOWN_CASE = "case {case_id} does not exist"
MSG_OTHER_AUDIT = "case {case_id} belongs to audit run {actual}, not {audit_run_id}"
MSG_NO_ANNOTATOR = "no annotator"
MSG_BAD_ANNOTATOR = "annotator name must be 1 to 200 characters; got {value!r}"
MSG_LABEL = "label must be 0 or 1; got {value!r}"
MSG_CONFIDENCE = "confidence must be an integer from 1 to 5; got {value!r}"
MSG_SECONDS = "seconds spent must be a non-negative number; got {value!r}"
MSG_RATIONALE = "rationale is longer than {max} characters"
MSG_SNAPSHOT = (
    "the task shows snapshot {given} of case {case_id}, but the store holds {stored}: "
    "the file was exported from another store or another audit"
)
MSG_CLOSED = "case {case_id} is closed; its ratings can no longer change"
MSG_TWICE = "annotator {annotator!r} rated case {case_id} twice in this file (also {other})"
MSG_LOCAL_USER = (
    "annotator {annotator!r} maps to username {username!r}, which belongs to a user who is "
    "not an imported reviewer"
)
MSG_ASSIGNED = "annotator {annotator!r} already has an unrated assignment of case {case_id}"
MSG_EXCLUDED = "annotator {annotator!r} may not rate case {case_id} (conflict of interest)"
_FORMAT = re.compile(r"[a-z0-9_]{1,32}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass(frozen=True)
class ImportRow:
    """One rating read from another tool's export, ready for the store to place.

    ``row`` says where it is in the file (``"task 3, annotation 7"``, ``"line 5"``);
    ``problem`` is a reason the reader already found it unplaceable (e.g. a label that is
    not one of the two), and the row is then reported as bad with that reason.
    """

    row: str
    case_id: int | None
    annotator: str | None
    label: int | None
    confidence: int = DEFAULT_CONFIDENCE
    rationale: str = ""
    seconds_spent: float = 0.0
    snapshot_sha256: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class SkippedRow:
    """A row that was not imported, and why."""

    row: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """The ``{"row", "reason"}`` object of the JSON contract."""
        return {"row": self.row, "reason": self.reason}


@dataclass(frozen=True)
class ImportResult:
    """What an import stored: new ratings, ratings already there, reviewers, bad rows."""

    audit_run_id: int
    n_ratings_added: int
    n_already_present: int
    reviewers_created: tuple[str, ...]
    skipped: tuple[SkippedRow, ...]


class ImportRejected(ValueError):
    """Rows of an import cannot be placed; nothing was written. ``bad`` lists them all."""

    def __init__(self, file_name: str, bad: Sequence[SkippedRow]) -> None:
        self.bad = tuple(bad)
        lines = "\n".join(f"  {b.row}: {b.reason}" for b in self.bad)
        super().__init__(MSG_REJECTED.format(n=len(self.bad), file=file_name, rows=lines))


def imported_username(annotator: str) -> str:
    """Return the username of the imported reviewer for an annotator's name.

    ``ext.`` and the name when it is a valid username of at most 60 characters, else
    ``ext.``, the name's safe characters (up to 40) and 12 hex digits of the sha256 of
    the name in lower case, so two names share a username only when they differ in case
    alone (usernames are unique ignoring case: the same annotator).

    Examples
    --------
    >>> imported_username("ana@example.org")
    'ext.ana@example.org'
    >>> imported_username("Ana María")
    'ext.Ana_Mar_a.e3dad06b2f70'
    """
    if re.fullmatch(r"[A-Za-z0-9_.@-]{1,60}", annotator):
        return USERNAME_PREFIX + annotator
    digest = hashlib.sha256(annotator.casefold().encode("utf-8")).hexdigest()[:12]
    safe = _UNSAFE.sub("_", annotator).strip("_.")[:40] or "annotator"
    return f"{USERNAME_PREFIX}{safe}.{digest}"


def import_key(source_format: str, case_id: int, annotator: str) -> str:
    """Return the idempotency key of an imported rating: sha256 of format, case, annotator.

    The annotator's name is compared ignoring case, as usernames are.

    Examples
    --------
    >>> len(import_key("labelstudio", 12, "ana@example.org"))
    64
    """
    text = "\x1f".join((source_format, str(case_id), annotator.casefold()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ImportOps(StoreBase):
    """The methods of :class:`~audits.store.Store` that import reviews from other tools."""

    def add_imported_reviewer(self, actor: Actor, name: str) -> ReviewerRecord:
        """Put an annotator of another tool on the panel (requires "manage the panel").

        Creates a user named :func:`imported_username` (display name ``name``, reviewer
        role, no password, ``imported``) and their panel row, never available for
        assignment in fairpanel; returns the existing one when the annotator was imported
        before.

        Raises
        ------
        ValueError
            The name is empty or too long, or its username belongs to a local user.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.add_imported_reviewer(Actor.system(), "ana@example.org").username
        'ext.ana@example.org'
        """
        require_role(check_actor(actor), "manage the panel")
        display = _check_annotator(name)
        with self._write() as (session, head):
            found = _find_imported(session, display)
            if isinstance(found, str):
                raise ValueError(found)
            reviewer, user = found or _create_reviewer(session, head, actor, display)
            return _reviewer_record(session, reviewer, user)

    def import_ratings(self, actor: Actor, audit_run_id: int, rows: Sequence[ImportRow], *,
                       source_format: str, file_name: str,
                       skip_bad: bool = False) -> ImportResult:
        """Store ratings made in another tool, all or nothing (requires "manage the panel").

        Every row is checked first. A bad row (see :class:`ImportRow` and the ``MSG_*``
        reasons) rejects the import with :class:`ImportRejected` unless ``skip_bad``, in
        which case the good rows are stored and the bad ones returned in ``skipped``. A
        row whose key (:func:`import_key`) is stored already, or whose annotator has
        rated the case already, counts as already present and changes nothing. New
        annotators become imported reviewers. Each new rating gets an assignment of kind
        :data:`IMPORTED_KIND` (blind, rated) and a ``rating_created`` log entry; one
        ``import_ratings`` entry sums up. A case settles (closes with the majority label,
        or goes to adjudication) once every assignment of it is rated and it has as many
        ratings as the audit's panel overlap (3 when none is configured). An import that
        adds nothing writes nothing.

        Raises
        ------
        LookupError
            No audit run with this id.
        ImportRejected
            Some rows cannot be placed and ``skip_bad`` is False; nothing was written.
        """
        require_role(check_actor(actor), "manage the panel")
        run_id = check_id(audit_run_id, "audit_run_id")
        if not isinstance(source_format, str) or not _FORMAT.fullmatch(source_format):
            raise ValueError(MSG_FORMAT.format(value=source_format))
        file_name = check_text(file_name, "file_name", None)
        source = f"{source_format}:{file_name}"[:MAX_SOURCE]
        checked = [_check_row(r) for r in rows]
        with self._write() as (session, head):
            if session.get(AuditRun, run_id) is None:
                raise LookupError(MSG_UNKNOWN_RUN.format(id=run_id))
            plan = _Plan(session, run_id, source_format)
            for row, problem in checked:
                plan.place(row, problem)
            if plan.bad and not skip_bad:
                raise ImportRejected(file_name, plan.bad)
            created = plan.write(head, actor, source)
            return ImportResult(run_id, len(plan.new), plan.present, tuple(created),
                                tuple(plan.bad))


class _Plan:
    """The rows of one import sorted into new, already present and bad, then written."""

    def __init__(self, session: Session, run_id: int, source_format: str) -> None:
        self.session, self.run_id, self.format = session, run_id, source_format
        self.new: list[tuple[ImportRow, str]] = []
        self.bad: list[SkippedRow] = []
        self.present = 0
        self._seen: dict[tuple[int, str], str] = {}
        self._reviewers: dict[str, ReviewerRow | None] = {}

    def place(self, row: ImportRow, problem: str | None) -> None:
        reason = problem or self._problem(row)
        if reason is not None:
            self.bad.append(SkippedRow(row.row, reason))
            return
        assert row.case_id is not None and row.annotator is not None  # _problem checked
        pair = (row.case_id, _identity(row.annotator))
        if pair in self._seen:
            self.bad.append(SkippedRow(row.row, MSG_TWICE.format(
                annotator=row.annotator, case_id=row.case_id, other=self._seen[pair])))
            return
        self._seen[pair] = row.row
        key = import_key(self.format, row.case_id, row.annotator)
        state = self._existing(row, key)
        if state == "present":
            self.present += 1
        elif state is not None:
            self.bad.append(SkippedRow(row.row, state))
        else:
            self.new.append((row, key))

    def write(self, head: LogHead, actor: Actor, source: str) -> list[str]:
        """Store the new rows; return the display names of the reviewers created."""
        if not self.new:
            return []
        created: list[str] = []
        for annotator in dict.fromkeys(a for r, _ in self.new if (a := r.annotator)):
            if self._reviewer(annotator) is None:
                self._reviewers[_identity(annotator)] = _create_reviewer(
                    self.session, head, actor, annotator)[0]
                created.append(annotator)
        touched: dict[int, Case] = {}
        for row, key in self.new:
            case = self.session.get(Case, row.case_id)
            reviewer = self._reviewer(row.annotator or "")
            assert case is not None and reviewer is not None  # placed and created above
            rating = self._add_rating(case, reviewer, row, key, source)
            append_entry(self.session, head, actor=actor.username, action="rating_created",
                         entity="case", entity_id=case.id, payload=_rating_payload(rating))
            touched[case.id] = case
        self._settle(touched.values())
        append_entry(self.session, head, actor=actor.username, action="import_ratings",
                     entity="audit_run", entity_id=self.run_id,
                     payload={"source": source, "n_ratings_added": len(self.new),
                              "n_already_present": self.present,
                              "n_reviewers_created": len(created),
                              "n_skipped": len(self.bad),
                              "case_ids": sorted(touched)})
        return created

    def _problem(self, row: ImportRow) -> str | None:
        if row.case_id is None:
            return MSG_NO_CASE_ID
        if row.annotator is None:
            return MSG_NO_ANNOTATOR
        case = self.session.get(Case, row.case_id)
        if case is None:
            return MSG_UNKNOWN_CASE.format(case_id=row.case_id)
        if case.audit_run_id != self.run_id:
            return MSG_OTHER_AUDIT.format(case_id=case.id, actual=case.audit_run_id,
                                          audit_run_id=self.run_id)
        if row.snapshot_sha256 is not None and row.snapshot_sha256 != case.snapshot_sha256:
            return MSG_SNAPSHOT.format(given=row.snapshot_sha256[:12], case_id=case.id,
                                       stored=case.snapshot_sha256[:12])
        found = _find_imported(self.session, row.annotator)
        return found if isinstance(found, str) else None

    def _existing(self, row: ImportRow, key: str) -> str | None:
        """``"present"``, a reason the row is bad, or None for a new rating."""
        taken = self.session.scalar(select(Rating.id).where(Rating.idempotency_key == key)) \
            or self.session.scalar(select(RatingVersion.id).where(
                RatingVersion.idempotency_key == key))
        if taken is not None:
            return "present"
        case = self.session.get(Case, row.case_id)
        reviewer = self._reviewer(row.annotator or "")
        assert case is not None  # placed
        if reviewer is not None:
            if self.session.scalar(select(Rating.id).where(
                    Rating.case_id == case.id, Rating.reviewer_id == reviewer.id)) is not None:
                return "present"
            if self.session.scalar(select(AssignmentRow.id).where(
                    AssignmentRow.case_id == case.id,
                    AssignmentRow.reviewer_id == reviewer.id)) is not None:
                return MSG_ASSIGNED.format(annotator=row.annotator, case_id=case.id)
            if self.session.scalar(select(Exclusion.id).where(
                    Exclusion.case_id == case.id,
                    Exclusion.reviewer_id == reviewer.id)) is not None:
                return MSG_EXCLUDED.format(annotator=row.annotator, case_id=case.id)
        if case.status == "closed":
            return MSG_CLOSED.format(case_id=case.id)
        return None

    def _reviewer(self, annotator: str) -> ReviewerRow | None:
        identity = _identity(annotator)
        if identity not in self._reviewers:
            found = _find_imported(self.session, annotator)
            self._reviewers[identity] = found[0] if isinstance(found, tuple) else None
        return self._reviewers[identity]

    def _add_rating(self, case: Case, reviewer: ReviewerRow, row: ImportRow, key: str,
                    source: str) -> Rating:
        now = utcnow()
        slot = (self.session.scalar(select(func.max(AssignmentRow.slot)).where(
            AssignmentRow.case_id == case.id)) or 0) + 1
        assignment = AssignmentRow(case_id=case.id, reviewer_id=reviewer.id, slot=slot,
                                   kind=IMPORTED_KIND, model_shown=False,
                                   sensitive_shown=False, status="rated", created_at=now,
                                   updated_at=now)
        self.session.add(assignment)
        self.session.flush()
        rating = Rating(assignment_id=assignment.id, case_id=case.id, reviewer_id=reviewer.id,
                        label=row.label, confidence=row.confidence, rationale=row.rationale,
                        tags_json=[], seconds_spent=float(row.seconds_spent),
                        idempotency_key=key, version=1, imported_from=source,
                        created_at=now, updated_at=now)
        self.session.add(rating)
        self.session.flush()
        return rating

    def _settle(self, cases: Any) -> None:
        setting = self.session.get(PanelSetting, "adjudication")
        threshold = float(setting.value_json.get("threshold", ADJUDICATION_THRESHOLD)) \
            if setting else ADJUDICATION_THRESHOLD
        config = self.session.get(PanelSetting, f"panel:{self.run_id}")
        overlap = int(config.value_json.get("overlap", DEFAULT_OVERLAP)) if config \
            else DEFAULT_OVERLAP
        for case in cases:
            statuses = list(self.session.scalars(select(AssignmentRow.status).where(
                AssignmentRow.case_id == case.id, AssignmentRow.status != "withdrawn")))
            labels = list(self.session.scalars(select(Rating.label).where(
                Rating.case_id == case.id)))
            if any(s != "rated" for s in statuses) or len(labels) < overlap:
                case.status = "in_review"
            elif disagreement(labels) > threshold:
                case.status = "disputed"
            else:
                case.status, case.closed_at = "closed", utcnow()
                case.final_label = Counter(labels).most_common(1)[0][0]


def _check_row(row: ImportRow) -> tuple[ImportRow, str | None]:
    """The row and the first problem that needs no database to see, or None."""
    if not isinstance(row, ImportRow):
        raise TypeError(MSG_NOT_ROW.format(type=type(row).__name__))
    if row.problem:
        return row, row.problem
    if row.annotator is not None and not 0 < len(row.annotator.strip()) <= 200:
        return row, MSG_BAD_ANNOTATOR.format(value=row.annotator)
    if isinstance(row.label, bool) or row.label not in (0, 1):
        return row, MSG_LABEL.format(value=row.label)
    if isinstance(row.confidence, bool) or not isinstance(row.confidence, int) or not (
            1 <= row.confidence <= 5):
        return row, MSG_CONFIDENCE.format(value=row.confidence)
    seconds = row.seconds_spent
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            0 <= seconds < float("inf")):
        return row, MSG_SECONDS.format(value=seconds)
    if not isinstance(row.rationale, str) or len(row.rationale) > MAX_RATIONALE:
        return row, MSG_RATIONALE.format(max=MAX_RATIONALE)
    return row, None


def _identity(annotator: str) -> str:
    """Who an annotator is: their username ignoring case."""
    return imported_username(annotator).lower()


def _check_annotator(name: object) -> str:
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 200:
        raise ValueError(MSG_BAD_ANNOTATOR.format(value=name))
    return name.strip()


def _find_imported(session: Session, annotator: str) -> tuple[ReviewerRow, User] | str | None:
    """The imported reviewer of ``annotator``; None if none; a reason if the name is taken."""
    username = imported_username(annotator)
    user = session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        return None
    reviewer = session.scalar(select(ReviewerRow).where(ReviewerRow.user_id == user.id))
    if not user.imported or user.role != Role.REVIEWER.value or reviewer is None:
        return MSG_LOCAL_USER.format(annotator=annotator, username=username)
    return reviewer, user


def _create_reviewer(session: Session, head: LogHead, actor: Actor,
                     annotator: str) -> tuple[ReviewerRow, User]:
    username = imported_username(annotator)
    # Like Store.add_user: an account a demo persona creates is a demo account too.
    demo = bool(session.scalar(select(User.demo).where(User.username == actor.username)))
    user = User(username=username, display_name=annotator, role=Role.REVIEWER.value,
                password_hash=None, active=True, created_at=utcnow(), demo=demo,
                failed_sign_ins=0, lockouts=0, imported=True)
    session.add(user)
    session.flush()
    append_entry(session, head, actor=actor.username, action="add_user", entity="user",
                 entity_id=user.id,
                 payload={"username": username, "role": Role.REVIEWER.value,
                          "display_name": annotator, "has_password": False,
                          "imported": True, **({"demo": True} if demo else {})})
    reviewer = _panel_row(user, actor.username)
    session.add(reviewer)
    session.flush()
    append_entry(session, head, actor=actor.username, action="add_reviewer",
                 entity="reviewer", entity_id=reviewer.id,
                 payload={"username": username, "expertise": [], "capacity": 0,
                          "simulated": False, "imported": True})
    return reviewer, user


def _panel_row(user: User, created_by: str) -> ReviewerRow:
    # Never available and no capacity: fairpanel's assignment must not give cases to
    # someone who cannot sign in; their ratings arrive through imports only.
    return ReviewerRow(user_id=user.id, expertise_json=[], capacity=0, available=False,
                       simulated=False, created_by=created_by, created_at=utcnow())


def _rating_payload(rating: Rating) -> dict[str, Any]:
    return {"rating_id": rating.id, "reviewer_id": rating.reviewer_id, "version": 1,
            "label": rating.label, "confidence": rating.confidence, "tags": [],
            "idempotency_key": rating.idempotency_key,
            "rationale_sha256": hashlib.sha256(rating.rationale.encode()).hexdigest(),
            "imported_from": rating.imported_from}
