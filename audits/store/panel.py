"""The reviewer panel: reviewers, their consented backgrounds, and assignments.

Background attributes are self-reported and optional. They are stored apart from
identity (keyed by the reviewer's internal id), only with consent and its date, and
read back in two ways only: by the assignment engine (panel lead or admin) as
pseudonymous rows, and as aggregates in which any value held by fewer than
:data:`MIN_AGGREGATE` reviewers is suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, Role, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.tables import (
    AssignmentRow,
    Case,
    Exclusion,
    PanelSetting,
    ReviewerBackground,
    ReviewerRow,
    User,
    utcnow,
)
from audits.store.validation import (
    check_actor,
    check_count,
    check_id,
    check_json_object,
    check_names,
    check_text,
)

__all__ = ["AssignmentInput", "MIN_AGGREGATE", "PanelOps", "ReviewerRecord"]

#: Fewest reviewers an aggregate of backgrounds may describe.
MIN_AGGREGATE = 5
SCHEMA_KEY = "background_schema"
DEFAULT_SCHEMA: dict[str, list[str]] = {
    "gender": ["woman", "man", "non-binary", "other"],
    "age_band": ["18-29", "30-44", "45-59", "60+"],
    "ethnicity": ["asian", "black", "hispanic or latino", "white", "mixed", "other"],
    "region": ["north", "south", "east", "west", "abroad"],
    "profession": ["legal", "finance", "social work", "data science", "community member",
                   "other"],
}
MSG_NOT_REVIEWER_USER = "user {username!r} has role {role}; only a reviewer joins the panel"
MSG_UNKNOWN_USER = "no user named {username!r}"
MSG_NOT_ON_PANEL = "{username!r} is not on the reviewer panel"
MSG_ALREADY_ON_PANEL = "{username!r} is already on the reviewer panel"
MSG_INACTIVE_REVIEWER = (
    "{username!r} is deactivated: an admin reactivates the account (Users page) before "
    "they can be made available"
)
MSG_NO_CONSENT = "background attributes are stored only with consent; consent was not given"
MSG_UNKNOWN_ATTRIBUTE = "background attribute {name!r} is not in the schema: {choices}"
MSG_UNKNOWN_VALUE = "background {name}={value!r} is not allowed; choose one of: {choices}"
MSG_SELF_OR_LEAD = "{actor} may only report their own background (or be a panel lead)"
MSG_BAD_SCHEMA = "background schema must map attribute names to lists of values; {problem}"
MSG_CASE_RUN = "case {case_id} belongs to audit run {actual}, not {audit_run_id}"
MSG_UNKNOWN_CASE = "no case with id {id}"
MSG_UNKNOWN_REVIEWER = "no reviewer with id {id}"
MSG_ASSIGNED = "case {case_id} is already assigned to reviewer {reviewer_id}"
MSG_EXCLUDE_ASSIGNED = (
    "case {case_id} is already assigned to {username!r}; withdraw the assignment first"
)
MSG_EXCLUDED = "case {case_id} may not go to reviewer {reviewer_id} (conflict of interest)"


@dataclass(frozen=True)
class ReviewerRecord:
    """A panel member as the panel lead sees them (never their background)."""

    id: int
    username: str
    display_name: str
    expertise: tuple[str, ...]
    capacity: int
    available: bool
    simulated: bool
    has_background: bool
    open_assignments: int


@dataclass(frozen=True)
class AssignmentInput:
    """One assignment to store (from :func:`audits.panel.assignment.assign_cases`)."""

    case_id: int
    reviewer_id: int
    slot: int
    kind: str
    model_shown: bool
    sensitive_shown: bool


class PanelOps(StoreBase):
    """The reviewer, background and assignment methods of :class:`~audits.store.Store`."""

    def add_reviewer(self, actor: Actor, username: str, *, expertise: Sequence[str] = (),
                     capacity: int = 50, simulated: bool = False) -> ReviewerRecord:
        """Put a user with the reviewer role on the panel (requires "manage the panel")."""
        require_role(check_actor(actor), "manage the panel")
        names = check_names(list(expertise), "expertise")
        capacity = check_count(capacity, "capacity")
        with self._write() as (session, head):
            user = _user(session, username)
            if user.role != Role.REVIEWER.value:
                raise ValueError(MSG_NOT_REVIEWER_USER.format(username=username, role=user.role))
            if session.scalar(select(ReviewerRow.id).where(ReviewerRow.user_id == user.id)):
                raise ValueError(MSG_ALREADY_ON_PANEL.format(username=username))
            row = ReviewerRow(user_id=user.id, expertise_json=names, capacity=capacity,
                              available=True, simulated=bool(simulated),
                              created_by=actor.username, created_at=utcnow())
            session.add(row)
            session.flush()
            append_entry(session, head, actor=actor.username, action="add_reviewer",
                         entity="reviewer", entity_id=row.id,
                         payload={"username": username, "expertise": names,
                                  "capacity": capacity, "simulated": bool(simulated)})
            return _reviewer_record(session, row, user)

    def set_reviewer_available(self, actor: Actor, username: str, available: bool) -> None:
        """Mark a reviewer available or not (requires "manage the panel").

        A deactivated account cannot be made available (``ValueError``): it would be
        given cases it can never rate.
        """
        require_role(check_actor(actor), "manage the panel")
        with self._write() as (session, head):
            row = _reviewer_of(session, username)
            if available and not _user(session, username).active:
                raise ValueError(MSG_INACTIVE_REVIEWER.format(username=username))
            row.available = bool(available)
            append_entry(session, head, actor=actor.username, action="set_reviewer_available",
                         entity="reviewer", entity_id=row.id,
                         payload={"available": bool(available)})

    def panel_config(self, audit_run_id: int) -> dict[str, Any] | None:
        """Return the panel configuration stored for an audit's assignments, or None."""
        with self._read() as session:
            row = session.get(PanelSetting, f"panel:{int(audit_run_id)}")
            return None if row is None else dict(row.value_json)

    def set_panel_config(self, actor: Actor, audit_run_id: int,
                         config: Mapping[str, Any]) -> None:
        """Store the panel configuration of an audit (requires "manage the panel")."""
        require_role(check_actor(actor), "manage the panel")
        key = f"panel:{check_id(audit_run_id, 'audit_run_id')}"
        value = check_json_object(dict(config), "config")
        with self._write() as (session, head):
            row = session.get(PanelSetting, key)
            if row is not None and row.value_json == value:
                return
            if row is None:
                session.add(PanelSetting(key=key, value_json=value, updated_by=actor.username,
                                         updated_at=utcnow()))
            else:
                row.value_json, row.updated_by, row.updated_at = value, actor.username, utcnow()
            append_entry(session, head, actor=actor.username, action="set_panel_config",
                         entity="audit_run", entity_id=audit_run_id, payload=value)

    def background_schema(self) -> dict[str, list[str]]:
        """Return the configurable background schema (attribute -> allowed values)."""
        with self._read() as session:
            row = session.get(PanelSetting, SCHEMA_KEY)
            return {k: list(v) for k, v in (row.value_json if row else DEFAULT_SCHEMA).items()}

    def set_background_schema(self, actor: Actor, schema: Mapping[str, Sequence[str]]) -> None:
        """Replace the background schema (requires "manage the panel")."""
        require_role(check_actor(actor), "manage the panel")
        value = _check_schema(schema)
        with self._write() as (session, head):
            row = session.get(PanelSetting, SCHEMA_KEY)
            if row is None:
                session.add(PanelSetting(key=SCHEMA_KEY, value_json=value,
                                         updated_by=actor.username, updated_at=utcnow()))
            else:
                row.value_json, row.updated_by, row.updated_at = value, actor.username, utcnow()
            append_entry(session, head, actor=actor.username, action="set_background_schema",
                         entity="panel_setting", entity_id=SCHEMA_KEY, payload=value)

    def report_background(self, actor: Actor, username: str, attributes: Mapping[str, str], *,
                          consent: bool, consented_at: datetime | None = None) -> None:
        """Store a reviewer's self-reported background, with consent and its date.

        The reviewer reports their own; a panel lead or admin may record it for them.
        The log entry names the attributes given, never their values.

        Raises
        ------
        ValueError
            No consent (:data:`MSG_NO_CONSENT`), an attribute or value outside the schema.
        """
        check_actor(actor)
        if actor.username != username:
            require_role(actor, "manage the panel")
        if consent is not True:
            raise ValueError(MSG_NO_CONSENT)
        schema = self.background_schema()
        values = _check_background(attributes, schema)
        when = consented_at or utcnow()
        with self._write() as (session, head):
            reviewer = _reviewer_of(session, username)
            row = session.scalar(select(ReviewerBackground).where(
                ReviewerBackground.reviewer_id == reviewer.id))
            if row is None:
                session.add(ReviewerBackground(reviewer_id=reviewer.id, attributes_json=values,
                                               consented_at=when, updated_at=utcnow()))
            else:
                row.attributes_json, row.consented_at, row.updated_at = values, when, utcnow()
            append_entry(session, head, actor=actor.username, action="report_background",
                         entity="reviewer", entity_id=reviewer.id,
                         payload={"attributes": sorted(values), "consented_at": when.isoformat()})

    def withdraw_background(self, actor: Actor, username: str) -> None:
        """Delete a reviewer's background (consent withdrawn); the reviewer or a lead."""
        check_actor(actor)
        if actor.username != username:
            require_role(actor, "manage the panel")
        with self._write() as (session, head):
            reviewer = _reviewer_of(session, username)
            row = session.scalar(select(ReviewerBackground).where(
                ReviewerBackground.reviewer_id == reviewer.id))
            if row is not None:
                session.delete(row)
            append_entry(session, head, actor=actor.username, action="withdraw_background",
                         entity="reviewer", entity_id=reviewer.id, payload={})

    def list_reviewers(self, actor: Actor) -> list[ReviewerRecord]:
        """Return the panel (requires "manage the panel"); backgrounds are not included."""
        require_role(check_actor(actor), "manage the panel")
        with self._read() as session:
            rows = session.execute(select(ReviewerRow, User).join(User, User.id ==
                                                                  ReviewerRow.user_id)
                                   .order_by(ReviewerRow.id)).all()
            return [_reviewer_record(session, r, u) for r, u in rows]

    def backgrounds_for_assignment(self, actor: Actor) -> dict[int, dict[str, str]]:
        """Return reviewer id -> background, for the assignment engine only (a lead)."""
        require_role(check_actor(actor), "manage the panel")
        with self._read() as session:
            rows = session.scalars(select(ReviewerBackground))
            return {r.reviewer_id: dict(r.attributes_json) for r in rows}

    def background_aggregates(self, actor: Actor) -> dict[str, dict[str, int | None]]:
        """Return per attribute the number of reviewers per value, suppressing small ones.

        A value held by fewer than :data:`MIN_AGGREGATE` reviewers is reported as None,
        and so is "not disclosed" when fewer than that many did not disclose it.
        """
        require_role(check_actor(actor), "read panel aggregates")
        schema = self.background_schema()
        with self._read() as session:
            panel = session.scalar(select(func.count()).select_from(ReviewerRow)) or 0
            rows = [dict(r.attributes_json) for r in session.scalars(select(ReviewerBackground))]
        out: dict[str, dict[str, int | None]] = {}
        for name, allowed in schema.items():
            counts = {v: sum(1 for r in rows if r.get(name) == v) for v in allowed}
            counts["not disclosed"] = panel - sum(counts.values())
            out[name] = {v: (n if n >= MIN_AGGREGATE else None) for v, n in counts.items()}
        return out

    def background_groups(self, actor: Actor, attribute: str) -> dict[int, str]:
        """Return reviewer id -> value of one background attribute, for groups of 5+.

        Requires "read panel aggregates". Only values held by at least
        :data:`MIN_AGGREGATE` reviewers are returned; the others (and undisclosed) are left
        out, so no group smaller than that can be analysed or shown.
        """
        require_role(check_actor(actor), "read panel aggregates")
        with self._read() as session:
            rows = [(r.reviewer_id, dict(r.attributes_json).get(attribute))
                    for r in session.scalars(select(ReviewerBackground))]
        sizes: dict[str, int] = {}
        for _, value in rows:
            if value is not None:
                sizes[value] = sizes.get(value, 0) + 1
        return {rid: value for rid, value in rows
                if value is not None and sizes[value] >= MIN_AGGREGATE}

    def record_assignments(self, actor: Actor, audit_run_id: int,
                           assignments: Sequence[AssignmentInput], *,
                           config: Mapping[str, Any]) -> int:
        """Store new assignments of an audit's cases (requires "manage the panel").

        All or nothing, with one log entry holding the panel configuration and the
        (case, reviewer, model shown, sensitive shown) of each; the cases move to
        ``in_review``. Returns the number stored.
        """
        require_role(check_actor(actor), "manage the panel")
        run_id = check_id(audit_run_id, "audit_run_id")
        items = [_check_assignment(a) for a in assignments]
        with self._write() as (session, head):
            now = utcnow()
            for item in items:
                case = session.get(Case, item.case_id)
                if case is None:
                    raise LookupError(MSG_UNKNOWN_CASE.format(id=item.case_id))
                if case.audit_run_id != run_id:
                    raise ValueError(MSG_CASE_RUN.format(case_id=item.case_id, audit_run_id=run_id,
                                                         actual=case.audit_run_id))
                if session.get(ReviewerRow, item.reviewer_id) is None:
                    raise LookupError(MSG_UNKNOWN_REVIEWER.format(id=item.reviewer_id))
                if session.scalar(select(Exclusion.id).where(
                        Exclusion.case_id == item.case_id,
                        Exclusion.reviewer_id == item.reviewer_id)) is not None:
                    raise ValueError(MSG_EXCLUDED.format(case_id=item.case_id,
                                                         reviewer_id=item.reviewer_id))
                if session.scalar(select(AssignmentRow.id).where(
                        AssignmentRow.case_id == item.case_id,
                        AssignmentRow.reviewer_id == item.reviewer_id)) is not None:
                    raise ValueError(MSG_ASSIGNED.format(case_id=item.case_id,
                                                         reviewer_id=item.reviewer_id))
                session.add(AssignmentRow(
                    case_id=item.case_id, reviewer_id=item.reviewer_id, slot=item.slot,
                    kind=item.kind, model_shown=item.model_shown,
                    sensitive_shown=item.sensitive_shown, status="open", created_at=now,
                    updated_at=now))
                if case.status == "queued":
                    case.status = "in_review"
            append_entry(session, head, actor=actor.username, action="record_assignments",
                         entity="audit_run", entity_id=run_id,
                         payload={"config": dict(config),
                                  "assignments": [[a.case_id, a.reviewer_id, a.model_shown,
                                                   a.sensitive_shown] for a in items]})
            return len(items)

    def add_exclusion(self, actor: Actor, case_id: int, username: str, *, reason: str) -> None:
        """Record a conflict of interest: never assign this case to this reviewer."""
        require_role(check_actor(actor), "manage the panel")
        case_id = check_id(case_id, "case_id")
        reason = check_text(reason, "reason", 2000)
        with self._write() as (session, head):
            reviewer = _reviewer_of(session, username)
            if session.get(Case, case_id) is None:
                raise LookupError(MSG_UNKNOWN_CASE.format(id=case_id))
            if session.scalar(select(AssignmentRow.id).where(
                    AssignmentRow.case_id == case_id,
                    AssignmentRow.reviewer_id == reviewer.id)) is not None:
                raise ValueError(MSG_EXCLUDE_ASSIGNED.format(case_id=case_id, username=username))
            if session.scalar(select(Exclusion.id).where(
                    Exclusion.case_id == case_id, Exclusion.reviewer_id == reviewer.id)) is None:
                session.add(Exclusion(case_id=case_id, reviewer_id=reviewer.id, reason=reason,
                                      created_by=actor.username, created_at=utcnow()))
                append_entry(session, head, actor=actor.username, action="add_exclusion",
                             entity="case", entity_id=case_id,
                             payload={"reviewer_id": reviewer.id, "reason": reason})

    def exclusions(self, actor: Actor, audit_run_id: int) -> dict[int, set[int]]:
        """Return case id -> excluded reviewer ids for an audit's cases (a lead)."""
        require_role(check_actor(actor), "manage the panel")
        query = (select(Exclusion.case_id, Exclusion.reviewer_id)
                 .join(Case, Case.id == Exclusion.case_id).where(Case.audit_run_id == audit_run_id))
        out: dict[int, set[int]] = {}
        with self._read() as session:
            for case_id, reviewer_id in session.execute(query).all():
                out.setdefault(case_id, set()).add(reviewer_id)
        return out

    def withdraw_open_assignments(self, actor: Actor, audit_run_id: int,
                                  username: str) -> int:
        """Withdraw a reviewer's unrated assignments of an audit; return how many.

        Rated assignments stay (their ratings are evidence). Requires "manage the panel".
        """
        require_role(check_actor(actor), "manage the panel")
        with self._write() as (session, head):
            reviewer = _reviewer_of(session, username)
            rows = list(session.scalars(
                select(AssignmentRow).join(Case, Case.id == AssignmentRow.case_id)
                .where(Case.audit_run_id == audit_run_id,
                       AssignmentRow.reviewer_id == reviewer.id,
                       AssignmentRow.status == "open")))
            now = utcnow()
            for row in rows:
                row.status, row.updated_at = "withdrawn", now
            append_entry(session, head, actor=actor.username, action="withdraw_assignments",
                         entity="reviewer", entity_id=reviewer.id,
                         payload={"audit_run_id": audit_run_id,
                                  "case_ids": [r.case_id for r in rows]})
            return len(rows)

    def assignment_table(self, actor: Actor, audit_run_id: int) -> list[dict[str, Any]]:
        """Return every assignment of an audit's cases (requires "manage the panel")."""
        require_role(check_actor(actor), "manage the panel")
        query = (select(AssignmentRow).join(Case, Case.id == AssignmentRow.case_id)
                 .where(Case.audit_run_id == audit_run_id).order_by(AssignmentRow.id))
        with self._read() as session:
            return [{"assignment_id": a.id, "case_id": a.case_id, "reviewer_id": a.reviewer_id,
                     "slot": a.slot, "kind": a.kind, "model_shown": a.model_shown,
                     "sensitive_shown": a.sensitive_shown, "status": a.status}
                    for a in session.scalars(query)]


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(MSG_UNKNOWN_USER.format(username=username))
    return user


def _reviewer_of(session: Session, username: str) -> ReviewerRow:
    user = _user(session, username)
    row = session.scalar(select(ReviewerRow).where(ReviewerRow.user_id == user.id))
    if row is None:
        raise LookupError(MSG_NOT_ON_PANEL.format(username=username))
    return row


def _reviewer_record(session: Session, row: ReviewerRow, user: User) -> ReviewerRecord:
    has_background = session.scalar(select(ReviewerBackground.id).where(
        ReviewerBackground.reviewer_id == row.id)) is not None
    open_count = session.scalar(select(func.count()).select_from(AssignmentRow).where(
        AssignmentRow.reviewer_id == row.id, AssignmentRow.status == "open")) or 0
    return ReviewerRecord(id=row.id, username=user.username, display_name=user.display_name,
                          expertise=tuple(row.expertise_json), capacity=row.capacity,
                          available=row.available, simulated=row.simulated,
                          has_background=has_background, open_assignments=int(open_count))


def _check_schema(schema: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if not isinstance(schema, Mapping) or not schema:
        raise ValueError(MSG_BAD_SCHEMA.format(problem="got an empty or non-mapping value"))
    out = {}
    for name, values in schema.items():
        check_text(name, "attribute name", 64)
        try:
            out[name] = check_names(list(values), f"values of {name}")
        except (TypeError, ValueError) as error:
            raise ValueError(MSG_BAD_SCHEMA.format(problem=str(error))) from None
    return out


def _check_background(attributes: Mapping[str, str],
                      schema: dict[str, list[str]]) -> dict[str, str]:
    values = {}
    for name, value in dict(attributes).items():
        if name not in schema:
            raise ValueError(MSG_UNKNOWN_ATTRIBUTE.format(name=name, choices=", ".join(schema)))
        if value not in schema[name]:
            raise ValueError(MSG_UNKNOWN_VALUE.format(name=name, value=value,
                                                      choices=", ".join(schema[name])))
        values[name] = value
    return values


def _check_assignment(item: AssignmentInput) -> AssignmentInput:
    if not isinstance(item, AssignmentInput):
        raise TypeError(f"assignments must be AssignmentInput values; got {type(item).__name__}")
    check_id(item.case_id, "case_id")
    check_id(item.reviewer_id, "reviewer_id")
    check_id(item.slot, "slot")
    check_text(item.kind, "kind", 16)
    return item
