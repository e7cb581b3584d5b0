"""The retention record as evidence: the policy, the deletion schedules of special-category
data, the purges the log records, and the retention check, as JSON and as text.

What the store keeps and checks is in :mod:`audits.store.retention`; this module puts it
in the one shape the command line (``fairpanel retention show|check``) and the evidence
pack publish, for EU AI Act Art. 10(5)(e)-(f) (special-category data deleted once no
longer needed, the reasons recorded) and Art. 12, 19(1) and 26(6) (logs kept at least six
months).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from audits.store.retention_rules import MIN_MONTHS, RULES, RetentionCheck, RetentionPolicy

if TYPE_CHECKING:
    from audits.store import Store
    from audits.store.retention import RetentionPurge, RetentionScheduleRecord

__all__ = ["retention_check_json", "retention_check_text", "retention_summary",
           "retention_text"]


def retention_summary(store: Store, *, now: datetime | None = None) -> dict[str, Any]:
    """Return the retention record of ``store`` as JSON-ready data (read-only).

    Keys: ``policy``, ``schedules`` (soonest first, each with ``due``: its date has come
    and the data it covers are still held), ``purges`` (every purge of sensitive data the
    log records, oldest first) and ``check`` (:func:`retention_check_json`). Times are
    ISO 8601 in UTC.

    Parameters
    ----------
    store : Store
    now : datetime or None, default None
        The time to check at (timezone-aware); None: now.

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     summary = retention_summary(store)
    >>> summary["policy"]["log_months"], summary["schedules"], summary["check"]["ok"]
    (6, [], True)
    """
    check = store.retention_check(now=now)
    return {"policy": _policy_json(check.policy),
            "schedules": [_schedule_json(s, check.checked_at)
                          for s in store.retention_schedules()],
            "purges": [_purge_json(p) for p in store.retention_purges()],
            "check": retention_check_json(check)}


def retention_check_json(check: RetentionCheck) -> dict[str, Any]:
    """Return a retention check as JSON-ready data (``fairpanel retention check --json``).

    Examples
    --------
    >>> from datetime import UTC
    >>> policy = RetentionPolicy(6, 6, None, None)
    >>> done = RetentionCheck(True, datetime(2026, 1, 1, tzinfo=UTC), policy, ())
    >>> sorted(retention_check_json(done))
    ['checked_at', 'ok', 'policy', 'rules', 'violations']
    """
    return {"ok": check.ok, "checked_at": check.checked_at.isoformat(),
            "policy": _policy_json(check.policy), "rules": list(RULES),
            "violations": [{"rule": v.rule, "subject": v.subject, "detail": v.detail,
                            "since": _iso(v.since)} for v in check.violations]}


def retention_check_text(check: dict[str, Any]) -> str:
    """Return the text of a check made by :func:`retention_check_json`.

    Examples
    --------
    >>> print(retention_check_text({"ok": True, "checked_at": "2026-01-01T00:00:00+00:00",
    ...                             "rules": ["log_broken"], "violations": []}))
    retention check: ok (1 rules checked at 2026-01-01T00:00:00+00:00)
    """
    if check["ok"]:
        return (f"retention check: ok ({len(check['rules'])} rules checked at "
                f"{check['checked_at']})")
    lines = [f"retention check: {len(check['violations'])} violation(s) at {check['checked_at']}"]
    lines += [f"  [{v['rule']}] {v['subject']}: {v['detail']}" for v in check["violations"]]
    return "\n".join(lines)


def retention_text(summary: dict[str, Any]) -> str:
    """Return the text of a summary made by :func:`retention_summary`.

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     print(retention_text(retention_summary(store)).splitlines()[0])
    retention policy: logs 6 months, oversight records 6 months (the default: never set)
    """
    policy = summary["policy"]
    who = ("the default: never set" if policy["updated_by"] is None
           else f"set by {policy['updated_by']} on {policy['updated_at']}")
    lines = [f"retention policy: logs {policy['log_months']} months, oversight records "
             f"{policy['oversight_months']} months ({who})", "deletion schedules of "
             "sensitive data:" if summary["schedules"] else "no deletion schedules"]
    for s in summary["schedules"]:
        state = (f"purged {s['purged_at']}" if s["purged"]
                 else "DUE, still held" if s["due"] else "held")
        lines.append(f"  {s['system']}: delete on {s['delete_at']} ({state}); set by "
                     f"{s['set_by']}; reason: {s['reason']}")
    lines.append("purges of sensitive data (from the log):" if summary["purges"]
                 else "no purges of sensitive data")
    for p in summary["purges"]:
        how = "retention schedule" if p["scheduled"] else "by hand"
        lines.append(f"  log entry {p['log_entry_id']}: {p['system']} version(s) "
                     f"{', '.join(map(str, p['versions']))} purged {p['purged_at']} by "
                     f"{p['purged_by']} ({how}): {p['reason']}")
    lines.append(retention_check_text(summary["check"]))
    return "\n".join(lines)


def _policy_json(policy: RetentionPolicy) -> dict[str, Any]:
    return {"log_months": policy.log_months, "oversight_months": policy.oversight_months,
            "minimum_months": MIN_MONTHS, "updated_by": policy.updated_by,
            "updated_at": _iso(policy.updated_at)}


def _schedule_json(schedule: RetentionScheduleRecord, now: datetime) -> dict[str, Any]:
    return {"system": schedule.system, "delete_at": schedule.delete_at.isoformat(),
            "reason": schedule.reason, "set_by": schedule.set_by,
            "set_at": schedule.set_at.isoformat(), "purged": schedule.purged,
            "purged_at": _iso(schedule.purged_at),
            "due": not schedule.purged and schedule.delete_at <= now}


def _purge_json(purge: RetentionPurge) -> dict[str, Any]:
    return {"log_entry_id": purge.log_entry_id, "purged_at": purge.purged_at.isoformat(),
            "purged_by": purge.purged_by, "system": purge.system,
            "versions": list(purge.versions), "sha256s": list(purge.sha256s),
            "reason": purge.reason, "scheduled": purge.scheduled,
            "delete_at": _iso(purge.delete_at)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
