"""Ratings: what a reviewer sees, what they submit, and adjudication of disagreements.

Access is enforced here, in the queries, whatever a page or a session says: a reviewer
reads only cases assigned to them, sees a case blinded as its assignment says (never the
other ratings, never a gold answer, the model's decision and score only when shown), and
writes only their own rating. A rating is one row per (case, reviewer); each submission
carries an idempotency key made when the form was drawn, so a double click or a resubmit
after a dropped connection changes nothing, and a real change keeps the earlier version.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, PermissionDenied, Role, require_role
from audits.store.approvals import check_approver
from audits.store.live import settle_live
from audits.store.log import append_entry
from audits.store.review_desk import InstructionOps, ReviewInstructions, case_context
from audits.store.tables import (
    Adjudication,
    AssignmentRow,
    CannotTellRow,
    Case,
    PanelSetting,
    Rating,
    RatingVersion,
    ReviewerRow,
    ReviewSkip,
    User,
    utcnow,
)
from audits.store.validation import check_actor, check_names, check_text

__all__ = ["CannotTellResult", "CaseReview", "CaseView", "MyAssignment", "RatingRecord",
           "ReviewOps", "SubmitResult", "blinded_snapshot", "disagreement"]

#: Disagreement (1 - share of the modal label) above which a case goes to adjudication.
ADJUDICATION_THRESHOLD = 0.25
TAGS = ("relies on a proxy", "not enough information", "model seems right",
        "model seems wrong", "sensitive attribute matters here", "data looks wrong")
MSG_NOT_YOURS = "case {case_id} is not assigned to {actor}"
MSG_NOT_REVIEWER = "{actor} is not on the reviewer panel"
MSG_LABEL = "label must be 0 or 1; got {value!r}"
MSG_CONFIDENCE = "confidence must be an integer from 1 to 5; got {value!r}"
MSG_SECONDS = "seconds_spent must be a non-negative number; got {value!r}"
MSG_KEY = "idempotency_key must be 16 to 64 characters of [A-Za-z0-9_-]; got {value!r}"
MSG_RATIONALE = (
    "a rationale is required when your decision overrides the model's ({model}); say why"
)
MSG_CLOSED = "case {case_id} is closed; its ratings can no longer change"
MSG_KEY_TAKEN = (
    "idempotency_key {key!r} already belongs to another rating (another reviewer or case); "
    "nothing was stored: reload the case to get a fresh form"
)
MSG_NOT_DISPUTED = "case {case_id} is {status}; only a disputed case is adjudicated"
MSG_UNKNOWN_CASE = "no case with id {id}"
MSG_WITHDRAWN = "the assignment of case {case_id} to {actor} was withdrawn"
MSG_ANSWERED_CANNOT_TELL = (
    "case {case_id} was answered 'cannot tell', the final outcome of this assignment; it "
    "can no longer be rated"
)
MSG_RATIONALE_JUDGE = (
    "a rationale is required when your verdict differs from the judge's shown to you "
    "({verdict}); say why"
)
MSG_RUBRIC_NEEDED = "case {case_id} is a conversation: score its rubric ({names})"
MSG_RUBRIC_KEYS = ("case {case_id}: score every criterion of its rubric ({names}) and no "
                   "other; missing {missing}, unknown {unknown}")
MSG_RUBRIC_VALUE = (
    "rubric criterion {name!r} takes an integer from {low} to {high}; got {value!r}")
MSG_NO_RUBRIC = "case {case_id} is not a conversation: it takes no rubric or corrected answer"
MSG_NOT_OPEN = "case {case_id} is already {status} by {actor}; only an open case can be {what}"
#: The assignment statuses that end a reviewer's work on a case.
DONE = ("rated", "cannot_tell")


@dataclass(frozen=True)
class MyAssignment:
    """One line of a reviewer's own queue."""

    assignment_id: int
    case_id: int
    audit_run_id: int
    position: int
    kind_hidden: bool
    status: str
    rated: bool
    cannot_tell: bool = False
    skipped_at: datetime | None = None

    @property
    def done(self) -> bool:
        """True when the reviewer rated the case or answered "cannot tell"."""
        return self.rated or self.cannot_tell


@dataclass(frozen=True)
class RatingRecord:
    """A stored rating (its current version)."""

    id: int
    case_id: int
    reviewer_id: int
    label: int
    confidence: int
    rationale: str
    tags: tuple[str, ...]
    seconds_spent: float
    version: int
    created_at: datetime
    updated_at: datetime
    rubric: dict[str, int] | None = None
    corrected_answer: str | None = None


@dataclass(frozen=True)
class CaseView:
    """A case as its reviewer sees it: blinded snapshot and their own rating only."""

    case_id: int
    assignment_id: int
    snapshot: dict[str, Any]
    model_shown: bool
    sensitive_shown: bool
    my_rating: RatingRecord | None
    case_status: str
    system_name: str | None = None
    instructions: ReviewInstructions | None = None
    card_columns: tuple[dict[str, Any], ...] = ()
    cannot_tell: bool = False


@dataclass(frozen=True)
class SubmitResult:
    """What a submission did: ``"created"``, ``"updated"`` or ``"duplicate"`` (nothing)."""

    rating: RatingRecord
    outcome: str
    case_status: str


@dataclass(frozen=True)
class CannotTellResult:
    """What a "cannot tell" answer did: ``"created"`` or ``"duplicate"`` (nothing)."""

    case_id: int
    reason: str
    outcome: str
    case_status: str


@dataclass(frozen=True)
class CaseReview:
    """A case with every rating, for the panel lead (adjudication)."""

    case_id: int
    audit_run_id: int
    status: str
    snapshot: dict[str, Any]
    ratings: list[dict[str, Any]]
    disagreement: float | None
    final_label: int | None
    adjudication: dict[str, Any] | None
    system_name: str | None = None
    instructions: ReviewInstructions | None = None
    card_columns: tuple[dict[str, Any], ...] = ()
    cannot_tell: tuple[dict[str, Any], ...] = ()


class ReviewOps(InstructionOps):
    """The rating and adjudication methods of :class:`~audits.store.Store`."""

    def my_assignments(self, actor: Actor, *, audit_run_id: int | None = None,
                       ) -> list[MyAssignment]:
        """Return the actor's own assignments: open ones first, by queue position, with
        the skipped ones after the others (the earliest skipped first), then the done ones.
        """
        check_actor(actor)
        with self._read() as session:
            reviewer = _reviewer(session, actor)
            query = (select(AssignmentRow, Case).join(Case, Case.id == AssignmentRow.case_id)
                     .where(AssignmentRow.reviewer_id == reviewer.id,
                            AssignmentRow.status != "withdrawn"))
            if audit_run_id is not None:
                query = query.where(Case.audit_run_id == audit_run_id)
            rows = session.execute(query).all()
            skipped = dict(session.execute(
                select(ReviewSkip.assignment_id, func.max(ReviewSkip.created_at))
                .where(ReviewSkip.reviewer_id == reviewer.id)
                .group_by(ReviewSkip.assignment_id)).all())
        out = [MyAssignment(a.id, c.id, c.audit_run_id, c.rank, True, a.status,
                            a.status == "rated", a.status == "cannot_tell",
                            skipped.get(a.id)) for a, c in rows]
        return sorted(out, key=_queue_order)

    def open_case(self, actor: Actor, case_id: int) -> CaseView:
        """Return a case blinded for the actor, who must be one of its reviewers.

        Raises
        ------
        PermissionDenied
            The case is not assigned to the actor (the same message whether or not the
            case exists, so ids cannot be probed).
        """
        check_actor(actor)
        with self._read() as session:
            assignment, case = _assignment(session, actor, case_id)
            rating = session.scalar(select(Rating).where(Rating.assignment_id == assignment.id))
            snapshot = blinded_snapshot(case.snapshot_json, assignment.model_shown,
                                        assignment.sensitive_shown)
            context = case_context(session, case, _shown_columns(snapshot))
            return CaseView(case_id=case.id, assignment_id=assignment.id, snapshot=snapshot,
                            model_shown=assignment.model_shown,
                            sensitive_shown=assignment.sensitive_shown,
                            my_rating=None if rating is None else _record(rating),
                            case_status=case.status, system_name=context.system_name,
                            instructions=context.instructions,
                            card_columns=context.card_columns,
                            cannot_tell=assignment.status == "cannot_tell")

    def submit_rating(self, actor: Actor, case_id: int, *, label: int, confidence: int,
                      rationale: str = "", tags: Sequence[str] = (), seconds_spent: float,
                      idempotency_key: str, rubric: Mapping[str, int] | None = None,
                      corrected_answer: str | None = None) -> SubmitResult:
        """Store the actor's rating of a case assigned to them, exactly once per key.

        A key already stored for this reviewer's rating of this case (current or
        earlier version) returns that rating with outcome ``"duplicate"`` and writes
        nothing. Keys are scoped to (reviewer, case): a key that belongs to another
        rating is refused (``ValueError``), never answered with that rating. Otherwise the
        first submission creates the rating and a later one (a change before the case
        closes) stores a new version, keeping the old one in the history; both are logged.
        A conversation's case (its snapshot has a ``rubric``) takes ``rubric``, a score of
        every criterion, and may take ``corrected_answer``: what the bot should have said;
        ``label`` is then whether the bot's answer is acceptable as it stands (1) or not.
        When every reviewer of the case has rated, the case closes with the majority
        label, or is ``disputed`` when the disagreement exceeds :data:`ADJUDICATION_THRESHOLD`.

        Raises
        ------
        PermissionDenied
            Not a reviewer, or the case is not theirs.
        ValueError
            A bad label, confidence, time, key or tag; a missing rationale when the
            decision overrides a model decision (or a judge's verdict) that was shown; a
            closed case; a conversation's rubric missing, incomplete or out of range, or a
            rubric given for a decision.
        """
        require_role(check_actor(actor), "rate a case")
        values = _check_rating(label, confidence, rationale, tags, seconds_spent,
                               idempotency_key)
        with self._write() as (session, head):
            assignment, case = _assignment(session, actor, case_id)
            values.update(_check_rubric(case, rubric, corrected_answer))
            seen = _by_key(session, assignment, values["idempotency_key"])
            if seen is not None:
                return SubmitResult(_record(seen), "duplicate", case.status)
            if case.status == "closed":
                raise ValueError(MSG_CLOSED.format(case_id=case_id))
            if assignment.status == "cannot_tell":
                raise ValueError(MSG_ANSWERED_CANNOT_TELL.format(case_id=case_id))
            model = case.snapshot_json.get("decision", {}).get("value")
            if assignment.model_shown and model is not None and values["label"] != model \
                    and not values["rationale"]:
                raise ValueError(MSG_RATIONALE.format(model=model) if "rubric" not in
                                 case.snapshot_json else MSG_RATIONALE_JUDGE.format(
                                     verdict="acceptable" if model else "not acceptable"))
            rating, outcome = _upsert(session, assignment, case, values)
            assignment.status, assignment.updated_at = "rated", utcnow()
            session.flush()
            _settle(session, case, self._threshold(session))
            append_entry(session, head, actor=actor.username, action=f"rating_{outcome}",
                         entity="case", entity_id=case.id, payload=_payload(rating, values))
            return SubmitResult(_record(rating), outcome, case.status)

    def skip_case(self, actor: Actor, case_id: int) -> int:
        """Put an open case of the actor's queue off for later; return its skip count.

        The case stays assigned and moves to the end of the reviewer's queue
        (:meth:`my_assignments`); each skip is stored (who, when, which case) and logged
        as ``case_skipped``.

        Raises
        ------
        PermissionDenied
            Not a reviewer, or the case is not theirs.
        ValueError
            The case is already rated or answered "cannot tell".
        """
        require_role(check_actor(actor), "rate a case")
        with self._write() as (session, head):
            assignment, case = _assignment(session, actor, case_id)
            _require_open(assignment, actor, "skipped")
            session.add(ReviewSkip(assignment_id=assignment.id, case_id=case.id,
                                   reviewer_id=assignment.reviewer_id, created_at=utcnow()))
            session.flush()
            n = session.scalar(select(func.count()).select_from(ReviewSkip).where(
                ReviewSkip.assignment_id == assignment.id)) or 0
            append_entry(session, head, actor=actor.username, action="case_skipped",
                         entity="case", entity_id=case.id,
                         payload={"reviewer_id": assignment.reviewer_id, "skips": int(n)})
            return int(n)

    def cannot_tell(self, actor: Actor, case_id: int, *, reason: str = "",
                    seconds_spent: float = 0.0) -> CannotTellResult:
        """Answer that the case cannot be decided from what it shows; final for the
        assignment.

        Stored with an optional reason (who, when, which case) and logged as
        ``cannot_tell`` (the reason as its SHA-256, like a rationale). It carries no
        label: agreement and bias statistics leave it out, and it is counted as its own
        outcome (:meth:`review_outcomes`). A second answer for the same assignment
        returns the first with outcome ``"duplicate"`` and writes nothing. When every
        reviewer of the case is done, the case settles on the ratings it has, or goes to
        adjudication when no reviewer could tell.

        Raises
        ------
        PermissionDenied
            Not a reviewer, or the case is not theirs.
        ValueError
            The case is already rated by the actor or closed; a bad reason or time.
        """
        require_role(check_actor(actor), "rate a case")
        reason = check_text(reason, "reason", 4000, empty=True)
        if isinstance(seconds_spent, bool) or not isinstance(seconds_spent, int | float) \
                or not 0 <= seconds_spent < float("inf"):
            raise ValueError(MSG_SECONDS.format(value=seconds_spent))
        with self._write() as (session, head):
            assignment, case = _assignment(session, actor, case_id)
            if assignment.status == "cannot_tell":
                row = session.scalar(select(CannotTellRow).where(
                    CannotTellRow.assignment_id == assignment.id))
                return CannotTellResult(case.id, "" if row is None else row.reason,
                                        "duplicate", case.status)
            if case.status == "closed":
                raise ValueError(MSG_CLOSED.format(case_id=case_id))
            _require_open(assignment, actor, "answered 'cannot tell'")
            session.add(CannotTellRow(assignment_id=assignment.id, case_id=case.id,
                                      reviewer_id=assignment.reviewer_id, reason=reason,
                                      seconds_spent=float(seconds_spent), created_at=utcnow()))
            assignment.status, assignment.updated_at = "cannot_tell", utcnow()
            session.flush()
            _settle(session, case, self._threshold(session))
            append_entry(session, head, actor=actor.username, action="cannot_tell",
                         entity="case", entity_id=case.id,
                         payload={"reviewer_id": assignment.reviewer_id,
                                  "seconds_spent": float(seconds_spent),
                                  "reason_sha256": hashlib.sha256(reason.encode()).hexdigest()})
            return CannotTellResult(case.id, reason, "created", case.status)

    def review_outcomes(self, actor: Actor, audit_run_id: int) -> list[dict[str, Any]]:
        """Return one row per live assignment of an audit: how it ended so far.

        Requires "read panel aggregates"; callers without "read every rating" publish
        only aggregates. Columns: ``case_id, reviewer_id, subject_group, kind, outcome``
        (``"rated"``, ``"cannot_tell"`` or ``"open"``) and ``skips`` (times skipped).
        """
        require_role(check_actor(actor), "read panel aggregates")
        query = (select(AssignmentRow, Case).join(Case, Case.id == AssignmentRow.case_id)
                 .where(Case.audit_run_id == audit_run_id,
                        AssignmentRow.status != "withdrawn").order_by(AssignmentRow.id))
        with self._read() as session:
            skips = dict(session.execute(
                select(ReviewSkip.assignment_id, func.count())
                .join(Case, Case.id == ReviewSkip.case_id)
                .where(Case.audit_run_id == audit_run_id)
                .group_by(ReviewSkip.assignment_id)).all())
            return [{"case_id": c.id, "reviewer_id": a.reviewer_id,
                     "subject_group": c.subject_group, "kind": a.kind, "outcome": a.status,
                     "skips": int(skips.get(a.id, 0))}
                    for a, c in session.execute(query).all()]

    def case_review(self, actor: Actor, case_id: int) -> CaseReview:
        """Return a case with every rating and reviewer (requires "read every rating")."""
        require_role(check_actor(actor), "read every rating")
        with self._read() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise LookupError(MSG_UNKNOWN_CASE.format(id=case_id))
            return _case_review(session, case)

    def disputed_cases(self, actor: Actor, *, audit_run_id: int | None = None,
                       ) -> list[CaseReview]:
        """Return the cases waiting for adjudication (requires "read every rating")."""
        require_role(check_actor(actor), "read every rating")
        query = select(Case).where(Case.status == "disputed").order_by(Case.id)
        if audit_run_id is not None:
            query = query.where(Case.audit_run_id == audit_run_id)
        with self._read() as session:
            return [_case_review(session, c) for c in session.scalars(query)]

    def adjudicate(self, actor: Actor, case_id: int, *, label: int, reason: str) -> CaseReview:
        """Record the final label of a disputed case, with a reason; closes the case.

        The adjudicator passes :func:`~audits.store.approvals.check_approver`: an active,
        named user of the store holding "adjudicate" now (never ``system:*``).
        """
        require_role(check_actor(actor), "adjudicate")
        value = _check_label(label)
        reason = check_text(reason, "reason", 4000)
        with self._write() as (session, head):
            case = session.get(Case, case_id)
            if case is None:
                raise LookupError(MSG_UNKNOWN_CASE.format(id=case_id))
            if case.status != "disputed":
                raise ValueError(MSG_NOT_DISPUTED.format(case_id=case_id, status=case.status))
            check_approver(session, actor, "adjudicate")
            now = utcnow()
            session.add(Adjudication(case_id=case.id, label=value, reason=reason,
                                     adjudicator=actor.username, created_at=now))
            case.status, case.final_label, case.closed_at = "closed", value, now
            settle_live(session, case, how="adjudication", role=actor.role.value)
            session.flush()
            append_entry(session, head, actor=actor.username, action="adjudicate",
                         entity="case", entity_id=case.id,
                         payload={"label": value, "reason": reason})
            return _case_review(session, case)

    def ratings_table(self, actor: Actor, audit_run_id: int) -> list[dict[str, Any]]:
        """Return an audit's ratings as the long table ``case_id, reviewer_id, label, ...``.

        Requires "read every rating". Each row also has ``confidence``, ``model_shown``,
        ``sensitive_shown``, ``model_decision``, ``kind``, ``seconds_spent``, ``version``,
        the case's ``row_key`` and ``snapshot_sha256``, the ``rationale``, and for a
        conversation its ``rubric`` scores and ``corrected_answer`` (else None), and
        ``rated_at`` (ISO 8601, the current version's time).
        """
        require_role(check_actor(actor), "read every rating")
        query = (select(Rating, AssignmentRow, Case)
                 .join(AssignmentRow, AssignmentRow.id == Rating.assignment_id)
                 .join(Case, Case.id == Rating.case_id)
                 .where(Case.audit_run_id == audit_run_id).order_by(Rating.id))
        with self._read() as session:
            return [{"case_id": r.case_id, "reviewer_id": r.reviewer_id, "label": r.label,
                     "confidence": r.confidence, "model_shown": a.model_shown,
                     "sensitive_shown": a.sensitive_shown, "kind": a.kind,
                     "model_decision": c.snapshot_json.get("decision", {}).get("value"),
                     "subject_group": c.subject_group, "seconds_spent": r.seconds_spent,
                     "version": r.version, "row_key": c.row_key,
                     "snapshot_sha256": c.snapshot_sha256, "rationale": r.rationale,
                     "rubric": None if r.rubric_json is None else dict(r.rubric_json),
                     "corrected_answer": r.corrected_answer,
                     "rated_at": r.updated_at.isoformat()}
                    for r, a, c in session.execute(query).all()]

    def ratings_for_analysis(self, actor: Actor, audit_run_id: int) -> list[dict[str, Any]]:
        """Return an audit's ratings for agreement and bias statistics (aggregates only).

        Requires "read panel aggregates". Like :meth:`ratings_table` without the texts,
        plus ``truth``: the adjudicated label of a disputed case, else the known answer
        of a gold case, else None; ``rubric`` holds a conversation's scores. Callers
        without "read every rating" must publish only aggregates.
        """
        require_role(check_actor(actor), "read panel aggregates")
        query = (select(Rating, AssignmentRow, Case)
                 .join(AssignmentRow, AssignmentRow.id == Rating.assignment_id)
                 .join(Case, Case.id == Rating.case_id)
                 .where(Case.audit_run_id == audit_run_id).order_by(Rating.id))
        with self._read() as session:
            adjudicated = dict(session.execute(
                select(Adjudication.case_id, Adjudication.label)
                .join(Case, Case.id == Adjudication.case_id)
                .where(Case.audit_run_id == audit_run_id)).all())
            return [{"case_id": r.case_id, "reviewer_id": r.reviewer_id, "label": r.label,
                     "confidence": r.confidence, "model_shown": a.model_shown,
                     "sensitive_shown": a.sensitive_shown, "kind": a.kind,
                     "model_decision": c.snapshot_json.get("decision", {}).get("value"),
                     "subject_group": c.subject_group, "seconds_spent": r.seconds_spent,
                     "truth": adjudicated.get(c.id, c.snapshot_json.get("hidden", {}).get(
                         "gold_answer")),
                     "rated_at": r.created_at, "simulated": "simulated" in r.tags_json,
                     "row_key": c.row_key,
                     "rubric": None if r.rubric_json is None else dict(r.rubric_json)}
                    for r, a, c in session.execute(query).all()]

    def panel_progress(self, actor: Actor, audit_run_id: int) -> dict[str, int]:
        """Return counts of cases by status and of ratings (requires aggregates)."""
        require_role(check_actor(actor), "read panel aggregates")
        with self._read() as session:
            statuses = Counter(session.scalars(select(Case.status).where(
                Case.audit_run_id == audit_run_id)))
            assignments = Counter(session.scalars(
                select(AssignmentRow.status).join(Case, Case.id == AssignmentRow.case_id)
                .where(Case.audit_run_id == audit_run_id)))
        return {**{f"cases_{s}": statuses.get(s, 0)
                   for s in ("queued", "in_review", "disputed", "closed")},
                "assignments_open": assignments.get("open", 0),
                "assignments_rated": assignments.get("rated", 0),
                "assignments_cannot_tell": assignments.get("cannot_tell", 0)}

    @staticmethod
    def _threshold(session: Session) -> float:
        row = session.get(PanelSetting, "adjudication")
        return float(row.value_json.get("threshold", ADJUDICATION_THRESHOLD)) if row else (
            ADJUDICATION_THRESHOLD)


def blinded_snapshot(snapshot: dict[str, Any], model_shown: bool,
                     sensitive_shown: bool) -> dict[str, Any]:
    """Return what a reviewer may see of a case snapshot.

    Never the gold answer, the flagging reasons (they reveal the score and the kind of
    case) or the provenance; the decision, score, threshold and explanation only when the
    model is shown; the sensitive attributes (and their explanation rows) only when
    they are shown. A conversation's case (``kind`` ``"conversation"``) always shows its
    turns and rubric, and its LLM judge's scores (``judge``, whose verdict is its
    ``decision``) only when the model is shown: the judge is the suggestion.

    Examples
    --------
    >>> snap = {"features": {"age": 40, "sex": "F"}, "sensitive": {"sex": "F"},
    ...         "decision": {"value": 1}, "score": 0.7, "threshold": 0.5,
    ...         "explanation": {"available": True}, "reasons": [], "hidden": {"gold": 1}}
    >>> sorted(blinded_snapshot(snap, False, False))
    ['features']
    >>> blinded_snapshot(snap, False, False)["features"]
    {'age': 40}
    """
    view = {"features": copy.deepcopy(snapshot.get("features", {}))}
    if snapshot.get("kind") == "conversation":  # the chat and its rubric, always
        for key in ("kind", "conversation_id", "turns", "rubric"):
            view[key] = copy.deepcopy(snapshot.get(key))
        if model_shown and "judge" in snapshot:  # the judge's verdict is the suggestion
            view["judge"] = copy.deepcopy(snapshot["judge"])
    sensitive = dict(snapshot.get("sensitive", {}))
    if sensitive_shown:
        view["sensitive"] = sensitive
    else:
        view["features"] = {k: v for k, v in view["features"].items() if k not in sensitive}
    if model_shown:
        for key in ("decision", "score", "threshold"):
            if key in snapshot:
                view[key] = copy.deepcopy(snapshot[key])
        view["explanation"] = _explanation(snapshot.get("explanation"), sensitive,
                                           sensitive_shown)
    return view


def disagreement(labels: Sequence[int]) -> float:
    """Return 1 minus the share of the most common label (0 when unanimous).

    Examples
    --------
    >>> round(disagreement([1, 1, 0]), 4)
    0.3333
    """
    if not labels:
        return 0.0
    return 1.0 - max(Counter(labels).values()) / len(labels)


def _explanation(explanation: Any, sensitive: dict[str, Any],
                 sensitive_shown: bool) -> dict[str, Any] | None:
    if not isinstance(explanation, dict):
        return None
    out = copy.deepcopy(explanation)
    waterfall = out.get("waterfall")
    if not sensitive_shown and isinstance(waterfall, dict) and "feature" in waterfall:
        keep = [i for i, f in enumerate(waterfall["feature"]) if f not in sensitive]
        out["waterfall"] = {k: [v[i] for i in keep] for k, v in waterfall.items()}
        out["reason"] = "" if any(s in str(out.get("reason", "")) for s in sensitive) else (
            out.get("reason", ""))
    return out


def _reviewer(session: Session, actor: Actor) -> ReviewerRow:
    row = session.scalar(select(ReviewerRow).join(User, User.id == ReviewerRow.user_id)
                         .where(User.username == actor.username))
    if row is None or actor.role != Role.REVIEWER:
        raise PermissionDenied(MSG_NOT_REVIEWER.format(actor=actor.username))
    return row


def _assignment(session: Session, actor: Actor, case_id: int) -> tuple[AssignmentRow, Case]:
    reviewer = _reviewer(session, actor)
    found = session.execute(
        select(AssignmentRow, Case).join(Case, Case.id == AssignmentRow.case_id)
        .where(AssignmentRow.case_id == case_id,
               AssignmentRow.reviewer_id == reviewer.id)).first()
    if found is None:
        raise PermissionDenied(MSG_NOT_YOURS.format(case_id=case_id, actor=actor.username))
    assignment, case = found
    if assignment.status == "withdrawn":
        raise PermissionDenied(MSG_WITHDRAWN.format(case_id=case_id, actor=actor.username))
    return assignment, case


def _require_open(assignment: AssignmentRow, actor: Actor, what: str) -> None:
    if assignment.status != "open":
        raise ValueError(MSG_NOT_OPEN.format(case_id=assignment.case_id,
                                             status=assignment.status.replace("_", " "),
                                             actor=actor.username, what=what))


def _by_key(session: Session, assignment: AssignmentRow, key: str) -> Rating | None:
    """Return this reviewer's rating of this case if ``key`` is one of its versions' keys.

    A key held by any other rating raises: answering with that rating would hand one
    reviewer another's decision, and storing a second copy of the key would make the
    next lookup ambiguous.
    """
    mine = session.scalar(select(Rating).where(Rating.case_id == assignment.case_id,
                                               Rating.reviewer_id == assignment.reviewer_id))
    if mine is not None:
        if mine.idempotency_key == key:
            return mine
        history = select(RatingVersion.id).where(RatingVersion.rating_id == mine.id,
                                                 RatingVersion.idempotency_key == key)
        if session.scalar(history) is not None:
            return mine
    taken = session.scalar(select(Rating.id).where(Rating.idempotency_key == key)) or \
        session.scalar(select(RatingVersion.id).where(RatingVersion.idempotency_key == key))
    if taken is not None:
        raise ValueError(MSG_KEY_TAKEN.format(key=key))
    return None


def _upsert(session: Session, assignment: AssignmentRow, case: Case,
            values: dict[str, Any]) -> tuple[Rating, str]:
    now = utcnow()
    rating = session.scalar(select(Rating).where(Rating.assignment_id == assignment.id))
    if rating is None:
        rating = Rating(assignment_id=assignment.id, case_id=case.id,
                        reviewer_id=assignment.reviewer_id, version=1, created_at=now,
                        updated_at=now, **values)
        session.add(rating)
        return rating, "created"
    session.add(RatingVersion(rating_id=rating.id, version=rating.version, label=rating.label,
                              confidence=rating.confidence, rationale=rating.rationale,
                              tags_json=list(rating.tags_json),
                              seconds_spent=rating.seconds_spent,
                              idempotency_key=rating.idempotency_key,
                              rubric_json=rating.rubric_json,
                              corrected_answer=rating.corrected_answer,
                              created_at=rating.updated_at))
    for key, value in values.items():
        setattr(rating, key, value)
    rating.version, rating.updated_at = rating.version + 1, now
    return rating, "updated"


def _settle(session: Session, case: Case, threshold: float) -> None:
    """Close, dispute or keep a case in review once an assignment of it is done.

    "Cannot tell" answers end their assignments but carry no label: the case settles on
    the ratings it has, and goes to adjudication when no reviewer could tell.
    """
    assignments = list(session.scalars(select(AssignmentRow).where(
        AssignmentRow.case_id == case.id, AssignmentRow.status != "withdrawn")))
    if any(a.status not in DONE for a in assignments):
        case.status = "in_review"
        return
    labels = list(session.scalars(select(Rating.label).where(Rating.case_id == case.id)))
    if not labels or disagreement(labels) > threshold:
        case.status = "disputed"
        return
    case.status, case.closed_at = "closed", utcnow()
    case.final_label = Counter(labels).most_common(1)[0][0]
    settle_live(session, case, how="reviewers", role=Role.REVIEWER.value)


def _case_review(session: Session, case: Case) -> CaseReview:
    rows = session.execute(
        select(Rating, AssignmentRow, User)
        .join(AssignmentRow, AssignmentRow.id == Rating.assignment_id)
        .join(ReviewerRow, ReviewerRow.id == Rating.reviewer_id)
        .join(User, User.id == ReviewerRow.user_id)
        .where(Rating.case_id == case.id).order_by(Rating.id)).all()
    ratings = [{"reviewer": u.display_name, "reviewer_id": r.reviewer_id, "label": r.label,
                "confidence": r.confidence, "rationale": r.rationale,
                "tags": list(r.tags_json), "model_shown": a.model_shown,
                "sensitive_shown": a.sensitive_shown, "version": r.version,
                "seconds_spent": r.seconds_spent, "updated_at": r.updated_at.isoformat(),
                "rubric": None if r.rubric_json is None else dict(r.rubric_json),
                "corrected_answer": r.corrected_answer}
               for r, a, u in rows]
    adjudication = session.scalar(select(Adjudication).where(Adjudication.case_id == case.id))
    labels = [int(r.label) for r, _, _ in rows]
    unsure = session.execute(
        select(CannotTellRow, User).join(ReviewerRow, ReviewerRow.id == CannotTellRow.reviewer_id)
        .join(User, User.id == ReviewerRow.user_id)
        .where(CannotTellRow.case_id == case.id).order_by(CannotTellRow.id)).all()
    context = case_context(session, case, _shown_columns(case.snapshot_json))
    return CaseReview(
        case_id=case.id, audit_run_id=case.audit_run_id, status=case.status,
        snapshot=copy.deepcopy(case.snapshot_json),
        ratings=ratings, disagreement=disagreement(labels) if labels else None,
        final_label=case.final_label,
        adjudication=None if adjudication is None else {
            "label": adjudication.label, "reason": adjudication.reason,
            "adjudicator": adjudication.adjudicator,
            "created_at": adjudication.created_at.isoformat()},
        system_name=context.system_name, instructions=context.instructions,
        card_columns=context.card_columns,
        cannot_tell=tuple({"reviewer": u.display_name, "reviewer_id": c.reviewer_id,
                           "reason": c.reason, "created_at": c.created_at.isoformat()}
                          for c, u in unsure))


def _queue_order(item: MyAssignment) -> tuple[Any, ...]:
    """Open before done; among open ones, never skipped before skipped (earliest first)."""
    skipped = item.skipped_at
    return (item.done, skipped is not None, "" if skipped is None else skipped.isoformat(),
            item.audit_run_id, item.position, item.case_id)


def _shown_columns(snapshot: dict[str, Any]) -> list[str]:
    return [*(snapshot.get("sensitive") or {}), *(snapshot.get("features") or {})]


def _check_label(value: object) -> int:
    if isinstance(value, bool) or value not in (0, 1):
        raise ValueError(MSG_LABEL.format(value=value))
    return int(value)


def _check_rating(label: object, confidence: object, rationale: object, tags: Sequence[str],
                  seconds: object, key: object) -> dict[str, Any]:
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not (
            1 <= confidence <= 5):
        raise ValueError(MSG_CONFIDENCE.format(value=confidence))
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            0 <= seconds < float("inf")):
        raise ValueError(MSG_SECONDS.format(value=seconds))
    if not isinstance(key, str) or not 16 <= len(key) <= 64 or not all(
            c.isascii() and (c.isalnum() or c in "-_") for c in key):
        raise ValueError(MSG_KEY.format(value=key))
    return {"label": _check_label(label), "confidence": confidence,
            "rationale": check_text(rationale, "rationale", 4000, empty=True),
            "tags_json": check_names(list(tags), "tags"), "seconds_spent": float(seconds),
            "idempotency_key": key}


def _check_rubric(case: Case, rubric: object, corrected: object) -> dict[str, Any]:
    """A conversation's rubric scores and corrected answer, checked against the rubric
    frozen in its case's snapshot (``[{"name", "low", "high", ...}]``; nothing for a
    decision's case)."""
    spec = case.snapshot_json.get("rubric")
    if spec is None:
        if rubric is not None or corrected is not None:
            raise ValueError(MSG_NO_RUBRIC.format(case_id=case.id))
        return {}
    names = [str(c["name"]) for c in spec]
    if not isinstance(rubric, Mapping):
        raise ValueError(MSG_RUBRIC_NEEDED.format(case_id=case.id, names=", ".join(names)))
    unknown = sorted(str(k) for k in rubric if k not in names)
    missing = [n for n in names if rubric.get(n) is None]
    if unknown or missing:
        raise ValueError(MSG_RUBRIC_KEYS.format(case_id=case.id, names=", ".join(names),
                                                missing=missing, unknown=unknown))
    scores: dict[str, int] = {}
    for criterion in spec:
        name, value = str(criterion["name"]), rubric[str(criterion["name"])]
        low, high = int(criterion["low"]), int(criterion["high"])
        value = int(value) if isinstance(value, bool) else value
        if not isinstance(value, int) or not low <= value <= high:
            raise ValueError(MSG_RUBRIC_VALUE.format(name=name, low=low, high=high,
                                                     value=value))
        scores[name] = value
    answer = None if corrected is None else check_text(corrected, "corrected_answer", 8000,
                                                       empty=True).strip() or None
    return {"rubric_json": scores, "corrected_answer": answer}


def _record(row: Rating) -> RatingRecord:
    return RatingRecord(id=row.id, case_id=row.case_id, reviewer_id=row.reviewer_id,
                        label=row.label, confidence=row.confidence, rationale=row.rationale,
                        tags=tuple(row.tags_json), seconds_spent=row.seconds_spent,
                        version=row.version, created_at=row.created_at,
                        updated_at=row.updated_at,
                        rubric=None if row.rubric_json is None else dict(row.rubric_json),
                        corrected_answer=row.corrected_answer)


def _payload(rating: Rating, values: dict[str, Any]) -> dict[str, Any]:
    return {"rating_id": rating.id, "reviewer_id": rating.reviewer_id, "version": rating.version,
            "label": values["label"], "confidence": values["confidence"],
            "tags": values["tags_json"], "idempotency_key": values["idempotency_key"],
            "rationale_sha256": hashlib.sha256(values["rationale"].encode()).hexdigest(),
            **({} if values.get("rubric_json") is None else {
                "rubric": values["rubric_json"],
                "corrected_answer_sha256": None if values["corrected_answer"] is None
                else hashlib.sha256(values["corrected_answer"].encode()).hexdigest()})}
