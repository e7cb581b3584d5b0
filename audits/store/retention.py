"""Retention: how long the log and the oversight records are kept, and when each system's
special-category data are deleted (EU AI Act Art. 10(5), 12, 19 and 26(6)).

The store never deletes audit-log entries or oversight records (ratings, "cannot tell"
answers, adjudications). The *policy* (:meth:`RetentionOps.retention_policy`) says how
long the deployment keeps them, at least the six months Art. 19(1) and 26(6) ask of logs,
and :meth:`RetentionOps.retention_check` shows they are still there. Sensitive data kept
apart (:mod:`audits.store.systems`) are to be deleted once no longer needed
(Art. 10(5)(e)), with the reasons recorded (Art. 10(5)(f)): a compliance officer gives a
system's sensitive data a deletion date and the reason they are kept until then
(:meth:`RetentionOps.schedule_sensitive_deletion`), and
:meth:`RetentionOps.apply_retention` purges what is due as
:meth:`~audits.store.systems.SystemOps.purge_sensitive` does.

A schedule covers the sensitive data the system held when it was set and any registered
before its date. Data registered after both (e.g. again, after a purge) need a new
schedule, so an old date never deletes them unseen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.retention_rules import (
    MIN_MONTHS,
    RetentionCheck,
    RetentionPolicy,
    covers,
    log_violation,
    months_before,
    oversight_violations,
    policy_of,
    policy_violations,
    sensitive_versions,
    sensitive_violations,
)
from audits.store.systems import check_system_name, live_sensitive, purge_versions, system_row
from audits.store.tables import (
    AuditLog,
    Dataset,
    LogHead,
    PanelSetting,
    RetentionSchedule,
    System,
    utcnow,
)
from audits.store.validation import check_actor, check_text

__all__ = ["RetentionOps", "RetentionPurge", "RetentionScheduleRecord"]

POLICY_KEY = "retention"
MAX_MONTHS = 1200

MSG_MONTHS_TYPE = "{field} must be a whole number of months (an int, not a bool); got {value!r}"
MSG_MONTHS_MINIMUM = (
    "{field} must be at least {minimum} months: the EU AI Act requires logs to be kept at "
    "least six months (Art. 19(1), 26(6)); got {value}"
)
MSG_MONTHS_MAXIMUM = "{field} must be at most {maximum} months; got {value}"
MSG_NOT_DATETIME = "{field} must be a datetime; got {type}"
MSG_NAIVE = "{field} must be timezone-aware (e.g. tzinfo=UTC); got {value} with no time zone"
MSG_NOTHING_HELD = (
    "system {name!r} holds no sensitive data to schedule for deletion (none kept apart, or "
    "all purged)"
)
MSG_RETENTION_REASON = "retention schedule: deletion due {date}; kept until then because: {reason}"


@dataclass(frozen=True)
class RetentionScheduleRecord:
    """A system's deletion date for its sensitive data, the reason, and whether they went.

    ``purged`` is True once no sensitive data the schedule covers are held any more;
    ``purged_at`` is then the time of the last purge (by the schedule or by hand).
    """

    system: str
    delete_at: datetime
    reason: str
    set_by: str
    set_at: datetime
    purged: bool
    purged_at: datetime | None


@dataclass(frozen=True)
class RetentionPurge:
    """A ``purge_sensitive`` entry of the log; ``scheduled`` when the schedule made it."""

    log_entry_id: int
    purged_at: datetime
    purged_by: str
    system: str
    versions: tuple[int, ...]
    sha256s: tuple[str, ...]
    reason: str
    scheduled: bool
    delete_at: datetime | None


class RetentionOps(StoreBase):
    """The retention methods of :class:`~audits.store.Store`."""

    def retention_policy(self) -> RetentionPolicy:
        """Return the retention policy: six months of each when never set.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.retention_policy().log_months
        6
        """
        with self._read() as session:
            return policy_of(session.get(PanelSetting, POLICY_KEY))

    def set_retention_policy(self, actor: Actor, *, log_months: int,
                             oversight_months: int) -> RetentionPolicy:
        """Set how many months the log and the oversight records are kept.

        Requires "set retention". Logged as ``set_retention_policy`` with the previous
        values; nothing is written when nothing changes.

        Raises
        ------
        PermissionDenied
            The role may not set retention.
        TypeError, ValueError
            A value that is not an int (or is a bool), under :data:`MIN_MONTHS` (the AI
            Act's six months) or over 1200.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.set_retention_policy(Actor.system(), log_months=12,
        ...                                oversight_months=6).log_months
        12
        """
        require_role(check_actor(actor), "set retention")
        value = {"log_months": _check_months(log_months, "log_months"),
                 "oversight_months": _check_months(oversight_months, "oversight_months")}
        with self._write() as (session, head):
            row = session.get(PanelSetting, POLICY_KEY)
            previous = None if row is None else dict(row.value_json)
            if previous == value:
                return policy_of(row)
            if row is None:
                row = PanelSetting(key=POLICY_KEY)
                session.add(row)
            row.value_json, row.updated_by, row.updated_at = value, actor.username, utcnow()
            append_entry(session, head, actor=actor.username, action="set_retention_policy",
                         entity="panel_setting", entity_id=POLICY_KEY,
                         payload={**value, "previous": previous})
            return policy_of(row)

    def schedule_sensitive_deletion(self, actor: Actor, system: str, *, delete_at: datetime,
                                    reason: str) -> RetentionScheduleRecord:
        """Give a system's sensitive data a deletion date and the reason to keep them.

        Requires "set retention". The system must hold sensitive data not yet purged. A
        date in the past makes them due at once. Replaces an earlier schedule; logged as
        ``schedule_sensitive_deletion`` with the date and reason, and the earlier ones
        under ``previous``.

        Raises
        ------
        PermissionDenied
            The role may not set retention.
        LookupError
            No system has this name.
        TypeError, ValueError
            ``delete_at`` not a timezone-aware datetime, an empty reason, or a system
            holding no sensitive data.

        Examples
        --------
        >>> from audits.store import Store, SystemInput, VersionInput
        >>> sensitive = {"path": "sensitive/s.parquet", "sha256": "c" * 64,
        ...              "columns": ["sex"], "join": "id"}
        >>> with Store("sqlite://") as store:
        ...     _ = store.register_system_version(Actor.system(), SystemInput("credit"),
        ...         VersionInput(source="s", sha256="a" * 64, n_rows=1, roles={}, card="",
        ...                      card_data={}, data_path="data/a.parquet",
        ...                      sensitive=sensitive))
        ...     store.schedule_sensitive_deletion(
        ...         Actor.system(), "credit", delete_at=datetime(2030, 1, 1, tzinfo=UTC),
        ...         reason="bias monitoring until the 2029 review").delete_at.year
        2030
        """
        require_role(check_actor(actor), "set retention")
        name = check_system_name(system)
        when = _check_aware(delete_at, "delete_at")
        why = check_text(reason, "reason", 2000)
        with self._write() as (session, head):
            row = system_row(session, name)
            if not live_sensitive(session, row.id):
                raise ValueError(MSG_NOTHING_HELD.format(name=name))
            schedule = session.get(RetentionSchedule, row.id)
            previous = None if schedule is None else {
                "delete_at": schedule.delete_at.isoformat(), "reason": schedule.reason,
                "set_by": schedule.set_by, "set_at": schedule.set_at.isoformat()}
            if schedule is None:
                schedule = RetentionSchedule(system_id=row.id)
                session.add(schedule)
            schedule.delete_at, schedule.reason = when, why
            schedule.set_by, schedule.set_at = actor.username, utcnow()
            session.flush()
            append_entry(session, head, actor=actor.username,
                         action="schedule_sensitive_deletion", entity="system",
                         entity_id=row.id, payload={"system": name, "delete_at": when.isoformat(),
                                                    "reason": why, "previous": previous})
            return _schedule_record(schedule, row, sensitive_versions(session).get(row.id, []))

    def retention_schedules(self) -> list[RetentionScheduleRecord]:
        """Return every deletion schedule, soonest first, with whether it was carried out.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.retention_schedules()
        []
        """
        query = (select(RetentionSchedule, System).join(System, System.id ==
                 RetentionSchedule.system_id).order_by(RetentionSchedule.delete_at, System.name))
        with self._read() as session:
            versions = sensitive_versions(session)
            return [_schedule_record(s, system, versions.get(system.id, []))
                    for s, system in session.execute(query).all()]

    def retention_purges(self) -> list[RetentionPurge]:
        """Return every purge of sensitive data the log records, oldest first.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.retention_purges()
        []
        """
        query = select(AuditLog).where(AuditLog.action == "purge_sensitive").order_by(AuditLog.id)
        with self._read() as session:
            return [_purge_record(e) for e in session.scalars(query)]

    def apply_retention(self, actor: Actor, *, now: datetime | None = None
                        ) -> list[RetentionPurge]:
        """Purge the sensitive data whose deletion date has come (``delete_at <= now``).

        Requires "purge sensitive data". Each system due is purged in its own transaction
        as :meth:`~audits.store.systems.SystemOps.purge_sensitive` does (files deleted,
        versions marked), with one ``purge_sensitive`` entry whose reason names the
        schedule, its date and its reason (and whose payload has them under
        ``"retention"``). Nothing due: nothing written.

        Parameters
        ----------
        actor : Actor
        now : datetime or None, default None
            The time to compare with (timezone-aware); None: now.

        Returns
        -------
        list of RetentionPurge
            The purges made, by system id.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.apply_retention(Actor.system())
        []
        """
        require_role(check_actor(actor), "purge sensitive data")
        when = utcnow() if now is None else _check_aware(now, "now")
        with self._read() as session:
            due = _due_systems(session, when)
        done: list[RetentionPurge] = []
        for system_id in due:
            with self._write() as (session, head):
                entry = _apply_schedule(session, head, actor, system_id, when)
            if entry is not None:
                done.append(_purge_record(entry))
        return done

    def retention_check(self, *, now: datetime | None = None) -> RetentionCheck:
        """Check what is kept against the retention rules; read-only.

        The rules (ids in :data:`~audits.store.retention_rules.RULES`):

        - ``sensitive_overdue``: a system's sensitive data are held after the deletion
          date of its schedule (Art. 10(5)(e): deleted once no longer needed).
        - ``sensitive_unscheduled``: sensitive data are held with no deletion date, an
          open-ended hold of special-category data (Art. 10(5)(e), (f)); fixed by
          scheduling their deletion with the reason they are needed.
        - ``log_broken``: the audit log's hash chain does not verify, so entries missing
          or edited within the log retention period cannot be shown (Art. 12, 19(1),
          26(6)).
        - ``oversight_missing``: the log records a rating, a "cannot tell" answer or an
          adjudication written within the oversight retention period whose row is gone
          (the human-oversight record of Art. 14, kept per Art. 26(6)).
        - ``policy_below_minimum``: the stored policy keeps logs or oversight records
          under six months (reachable only by editing the database).

        The periods are the policy's, never under six months.

        Parameters
        ----------
        now : datetime or None, default None
            The time to check at (timezone-aware); None: now.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.retention_check().ok
        True
        """
        when = utcnow() if now is None else _check_aware(now, "now")
        policy = self.retention_policy()
        chain = self.verify_log()
        cutoff = months_before(when, max(policy.oversight_months, MIN_MONTHS))
        with self._read() as session:
            found = sensitive_violations(session, when)
            missing = oversight_violations(session, cutoff, policy.oversight_months)
        if not chain.ok:
            found.append(log_violation(chain.reason, policy))
        found += missing + policy_violations(policy)
        return RetentionCheck(not found, when, policy, tuple(found))


def _check_months(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(MSG_MONTHS_TYPE.format(field=field, value=value))
    if value < MIN_MONTHS:
        raise ValueError(MSG_MONTHS_MINIMUM.format(field=field, minimum=MIN_MONTHS, value=value))
    if value > MAX_MONTHS:
        raise ValueError(MSG_MONTHS_MAXIMUM.format(field=field, maximum=MAX_MONTHS, value=value))
    return value


def _check_aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(MSG_NOT_DATETIME.format(field=field, type=type(value).__name__))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(MSG_NAIVE.format(field=field, value=value.isoformat()))
    return value.astimezone(UTC)


def _schedule_record(schedule: RetentionSchedule, system: System,
                     versions: list[Dataset]) -> RetentionScheduleRecord:
    held = [d for d in versions if d.sensitive_purged_at is None and covers(schedule, d)]
    purges = [d.sensitive_purged_at for d in versions if d.sensitive_purged_at is not None]
    purged_at = max(purges) if purges and not held else None
    return RetentionScheduleRecord(system.name, schedule.delete_at, schedule.reason,
                                   schedule.set_by, schedule.set_at, purged_at is not None,
                                   purged_at)


def _due_systems(session: Session, when: datetime) -> list[int]:
    versions = sensitive_versions(session)
    due = session.scalars(select(RetentionSchedule).where(RetentionSchedule.delete_at <= when)
                          .order_by(RetentionSchedule.system_id))
    return [s.system_id for s in due
            if any(d.sensitive_purged_at is None and covers(s, d)
                   for d in versions.get(s.system_id, []))]


def _apply_schedule(session: Session, head: LogHead, actor: Actor, system_id: int,
                    when: datetime) -> AuditLog | None:
    """Purge what one schedule covers, if still due and held (checked again here)."""
    schedule = session.get(RetentionSchedule, system_id)
    if schedule is None or schedule.delete_at > when:
        return None
    covered = [d for d in live_sensitive(session, system_id) if covers(schedule, d)]
    if not covered:
        return None
    reason = MSG_RETENTION_REASON.format(date=schedule.delete_at.isoformat(),
                                         reason=schedule.reason)
    extra = {"retention": {"delete_at": schedule.delete_at.isoformat(),
                           "reason": schedule.reason, "set_by": schedule.set_by}}
    return purge_versions(session, head, actor, session.get_one(System, system_id), covered,
                          reason, extra=extra)


def _purge_record(entry: AuditLog) -> RetentionPurge:
    payload = entry.payload_json if isinstance(entry.payload_json, dict) else {}
    retention = payload.get("retention")
    due = retention.get("delete_at") if isinstance(retention, dict) else None
    return RetentionPurge(entry.id, datetime.fromisoformat(entry.ts), entry.actor,
                          str(payload.get("system", "")),
                          tuple(v for v in payload.get("versions") or () if isinstance(v, int)),
                          tuple(str(s) for s in payload.get("sha256s") or ()),
                          str(payload.get("reason", "")), isinstance(retention, dict),
                          None if due is None else datetime.fromisoformat(str(due)))
