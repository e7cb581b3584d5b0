"""The retention rules and how what is stored is checked against them.

The policy (:class:`RetentionPolicy`), the check's result (:class:`RetentionCheck`, each
:class:`RetentionViolation` naming one of :data:`RULES`), and the reads that find each
violation in one session; :class:`~audits.store.retention.RetentionOps` runs them.

- ``sensitive_overdue``: a system's sensitive data are still held after the deletion date
  its schedule set (EU AI Act Art. 10(5)(e): deleted once no longer needed).
- ``sensitive_unscheduled``: sensitive data are held with no deletion date: an
  open-ended hold of special-category data (Art. 10(5)(e), and (f): the reasons are
  recorded), fixed by scheduling their deletion with the reason they are still needed.
- ``log_broken``: the audit log's hash chain does not verify, so entries missing or
  edited within the log retention period cannot be shown (Art. 12, 19(1), 26(6)).
- ``oversight_missing``: the log records an oversight record (a rating, a "cannot tell"
  answer, an adjudication) written within the oversight retention period whose row is no
  longer in the database (the human oversight of Art. 14, its record kept per 26(6)).
- ``policy_below_minimum``: the stored policy keeps logs or oversight records for fewer
  than six months (Art. 19(1), 26(6)); the store refuses such a policy, so only an edit
  of the database reaches it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.store.tables import (
    Adjudication,
    AuditLog,
    CannotTellRow,
    Dataset,
    PanelSetting,
    Rating,
    RetentionSchedule,
    System,
)

__all__ = [
    "MIN_MONTHS",
    "OVERSIGHT_ACTIONS",
    "RULES",
    "RULE_LOG_BROKEN",
    "RULE_OVERSIGHT_MISSING",
    "RULE_POLICY_BELOW_MINIMUM",
    "RULE_SENSITIVE_OVERDUE",
    "RULE_SENSITIVE_UNSCHEDULED",
    "RetentionCheck",
    "RetentionPolicy",
    "RetentionViolation",
    "covers",
    "log_violation",
    "months_before",
    "oversight_violations",
    "policy_of",
    "policy_violations",
    "sensitive_versions",
    "sensitive_violations",
]

#: The fewest months logs are kept: "at least six months" (EU AI Act Art. 19(1), 26(6)).
MIN_MONTHS = 6
RULE_SENSITIVE_OVERDUE = "sensitive_overdue"
RULE_SENSITIVE_UNSCHEDULED = "sensitive_unscheduled"
RULE_LOG_BROKEN = "log_broken"
RULE_OVERSIGHT_MISSING = "oversight_missing"
RULE_POLICY_BELOW_MINIMUM = "policy_below_minimum"
#: The rules of the check, in the order it lists violations.
RULES = (RULE_SENSITIVE_OVERDUE, RULE_SENSITIVE_UNSCHEDULED, RULE_LOG_BROKEN,
         RULE_OVERSIGHT_MISSING, RULE_POLICY_BELOW_MINIMUM)
#: The log actions that write an oversight record (see :mod:`audits.store.reviews`).
OVERSIGHT_ACTIONS = ("rating_created", "rating_updated", "cannot_tell", "adjudicate")

DETAIL_OVERDUE = (
    "the sensitive data of version(s) {versions} are still held after their deletion date "
    "{date} (Art. 10(5)(e)); apply the retention schedule, or set a later date with a reason"
)
DETAIL_UNSCHEDULED = (
    "the sensitive data of version(s) {versions} are held with no deletion date; schedule "
    "their deletion with the reason they are still needed (Art. 10(5)(e), (f))"
)
DETAIL_LOG_BROKEN = (
    "the hash chain does not verify ({reason}): entries missing or edited within the "
    "{months}-month log retention period cannot be shown (Art. 12, 19(1), 26(6))"
)
DETAIL_OVERSIGHT = (
    "log entry {entry} ({action}, {ts}) records it within the {months}-month oversight "
    "retention period, but its row is no longer in the database (Art. 14, 26(6))"
)
DETAIL_POLICY = (
    "{field} is {value}, below the {minimum} months the EU AI Act requires (Art. 19(1), 26(6))"
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How many months the log and the oversight records are kept.

    ``updated_by`` and ``updated_at`` are None while the default (six and six) applies.
    """

    log_months: int
    oversight_months: int
    updated_by: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class RetentionViolation:
    """One broken rule: which (one of :data:`RULES`), about what, why, and since when.

    ``since`` is the deletion date passed, the first registration held unscheduled, the
    log entry that wrote a missing record, or the policy's last change (None for a
    broken log).
    """

    rule: str
    subject: str
    detail: str
    since: datetime | None


@dataclass(frozen=True)
class RetentionCheck:
    """The result of a check at ``checked_at`` under ``policy``; ``ok`` when no violation."""

    ok: bool
    checked_at: datetime
    policy: RetentionPolicy
    violations: tuple[RetentionViolation, ...]


def months_before(when: datetime, months: int) -> datetime:
    """Return ``when`` moved back ``months`` calendar months (the day kept, else the last).

    Examples
    --------
    >>> from datetime import UTC
    >>> months_before(datetime(2025, 8, 31, tzinfo=UTC), 6).date().isoformat()
    '2025-02-28'
    """
    total = when.year * 12 + when.month - 1 - months
    year, month = divmod(total, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def policy_of(row: PanelSetting | None) -> RetentionPolicy:
    """Read the stored policy (the default when there is none).

    A stored value that is not a whole number reads as 0, which the check reports.

    Examples
    --------
    >>> policy_of(None).oversight_months
    6
    """
    if row is None:
        return RetentionPolicy(MIN_MONTHS, MIN_MONTHS, None, None)
    value = row.value_json if isinstance(row.value_json, dict) else {}
    return RetentionPolicy(_stored_months(value.get("log_months")),
                           _stored_months(value.get("oversight_months")),
                           row.updated_by, row.updated_at)


def covers(schedule: RetentionSchedule, dataset: Dataset) -> bool:
    """True when ``schedule`` covers the version: registered before it was set or before
    its date, whichever is later."""
    return dataset.created_at <= max(schedule.set_at, schedule.delete_at)


def sensitive_versions(session: Session) -> dict[int, list[Dataset]]:
    """Every version with sensitive data kept apart (held or purged), by system id."""
    out: dict[int, list[Dataset]] = {}
    query = (select(Dataset).where(Dataset.sensitive_json.is_not(None),
                                   Dataset.system_id.is_not(None)).order_by(Dataset.version))
    for dataset in session.scalars(query):
        out.setdefault(int(dataset.system_id or 0), []).append(dataset)
    return out


def sensitive_violations(session: Session, when: datetime) -> list[RetentionViolation]:
    """Rules ``sensitive_overdue`` then ``sensitive_unscheduled``, by system name."""
    schedules = {s.system_id: s for s in session.scalars(select(RetentionSchedule))}
    overdue: list[RetentionViolation] = []
    loose: list[RetentionViolation] = []
    for system_id, versions in sensitive_versions(session).items():
        name = session.get_one(System, system_id).name
        schedule = schedules.get(system_id)
        held = [d for d in versions if d.sensitive_purged_at is None]
        covered = [d for d in held if schedule is not None and covers(schedule, d)]
        rest = [d for d in held if d not in covered]
        if schedule is not None and covered and schedule.delete_at <= when:
            overdue.append(RetentionViolation(RULE_SENSITIVE_OVERDUE, name, DETAIL_OVERDUE.format(
                versions=_numbers(covered), date=schedule.delete_at.isoformat()),
                schedule.delete_at))
        if rest:
            loose.append(RetentionViolation(RULE_SENSITIVE_UNSCHEDULED, name,
                                            DETAIL_UNSCHEDULED.format(versions=_numbers(rest)),
                                            min(d.created_at for d in rest)))
    by_subject = attrgetter("subject")
    return sorted(overdue, key=by_subject) + sorted(loose, key=by_subject)


def log_violation(reason: str, policy: RetentionPolicy) -> RetentionViolation:
    """Rule ``log_broken``, from the reason :func:`~audits.store.log.verify_log` gave.

    Examples
    --------
    >>> log_violation("entry 3 is missing", policy_of(None)).rule
    'log_broken'
    """
    months = max(policy.log_months, MIN_MONTHS)
    return RetentionViolation(RULE_LOG_BROKEN, "audit log",
                              DETAIL_LOG_BROKEN.format(reason=reason, months=months), None)


def oversight_violations(session: Session, cutoff: datetime,
                         months: int) -> list[RetentionViolation]:
    """Rule ``oversight_missing``: records the log says were written since ``cutoff``,
    whose rows are gone (one violation per record, at its first entry)."""
    entries = session.scalars(select(AuditLog).where(
        AuditLog.action.in_(OVERSIGHT_ACTIONS),
        AuditLog.ts >= cutoff.isoformat(timespec="microseconds")).order_by(AuditLog.id))
    present: set[tuple[object, ...]] = {("rating", i) for i in session.scalars(select(Rating.id))}
    present |= {("cannot_tell", c, r) for c, r in session.execute(
        select(CannotTellRow.case_id, CannotTellRow.reviewer_id)).all()}
    present |= {("adjudication", c) for c in session.scalars(select(Adjudication.case_id))}
    found: dict[tuple[object, ...], RetentionViolation] = {}
    for entry in entries:
        key = _record_key(entry)
        if key is None or key in present or key in found:
            continue
        detail = DETAIL_OVERSIGHT.format(entry=entry.id, action=entry.action, ts=entry.ts,
                                         months=max(months, MIN_MONTHS))
        found[key] = RetentionViolation(RULE_OVERSIGHT_MISSING, _subject(key), detail,
                                        datetime.fromisoformat(entry.ts))
    return list(found.values())


def policy_violations(policy: RetentionPolicy) -> list[RetentionViolation]:
    """Rule ``policy_below_minimum``: a stored policy under the AI Act's six months.

    Examples
    --------
    >>> [v.subject for v in policy_violations(RetentionPolicy(3, 6, "ada", None))]
    ['retention policy']
    """
    return [RetentionViolation(RULE_POLICY_BELOW_MINIMUM, "retention policy",
                               DETAIL_POLICY.format(field=field, value=value,
                                                    minimum=MIN_MONTHS), policy.updated_at)
            for field, value in (("log_months", policy.log_months),
                                 ("oversight_months", policy.oversight_months))
            if value < MIN_MONTHS]


def _stored_months(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _numbers(versions: list[Dataset]) -> str:
    return ", ".join(str(d.version) for d in versions)


def _record_key(entry: AuditLog) -> tuple[object, ...] | None:
    """Which oversight row a log entry wrote; None when the entry does not say."""
    payload = entry.payload_json if isinstance(entry.payload_json, dict) else {}
    if entry.action.startswith("rating_"):
        rating = payload.get("rating_id")
        return ("rating", rating) if isinstance(rating, int) else None
    text = entry.entity_id or ""
    if not text.isdigit():
        return None
    if entry.action == "cannot_tell":
        reviewer = payload.get("reviewer_id")
        return ("cannot_tell", int(text), reviewer) if isinstance(reviewer, int) else None
    return ("adjudication", int(text))


def _subject(key: tuple[object, ...]) -> str:
    if key[0] == "rating":
        return f"rating {key[1]}"
    if key[0] == "cannot_tell":
        return f"'cannot tell' answer of reviewer {key[2]} on case {key[1]}"
    return f"adjudication of case {key[1]}"
