"""``fairpanel retention show|set|schedule|apply|check``: how long records are kept.

``retention show`` prints the policy (months the audit log and the oversight records are
kept, at least six), the deletion schedules of each system's sensitive data, the purges
the log records and the check; ``retention set`` changes the policy; ``retention
schedule SYSTEM`` gives a system's sensitive data a deletion date and the reason to keep
them until then; ``retention apply`` purges what is due (for a scheduler); ``retention
check`` exits 1 when a rule is broken, like ``log verify``. The engine is
:mod:`audits.store.retention`; the JSON is :mod:`audits.evidence.retention`'s.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, date, datetime

from audits.cli.common import EXIT_CHECK_FAILED, EXIT_OK, group_help, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_retention_parser"]

MSG_BAD_DATE = "--delete-on must be a date written YYYY-MM-DD; got {value!r}"
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
WHO = "a compliance officer or admin"


def add_retention_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``retention show|set|schedule|apply|check`` on the top-level subparsers."""
    retention = sub.add_parser(
        "retention", help="how long logs and oversight records are kept; when sensitive "
                          "data are deleted",
        description="Retention (EU AI Act Art. 10(5), 12, 19, 26(6)): the audit log and the "
                    "oversight records are kept at least six months; each system's "
                    "sensitive data get a deletion date and the reason they are kept "
                    "until then, and are purged when it comes.")
    rsub = retention.add_subparsers(title="retention commands", metavar="ACTION")
    show = rsub.add_parser("show", help="the policy, the deletion schedules, the purges, "
                                        "the check",
                           description="Print the retention policy, each system's deletion "
                                       "schedule of sensitive data, every purge the log "
                                       "records, and the retention check.")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_cmd_show)
    _set_parser(rsub)
    _schedule_parser(rsub)
    apply = rsub.add_parser("apply", help="purge the sensitive data whose deletion date "
                                          "has come",
                            description="Purge the sensitive data of every system whose "
                                        "deletion date has come, logging each purge with "
                                        "the schedule's date and reason (for a scheduler; "
                                        "nothing due: nothing written).")
    add_acting_options(apply, who=WHO)
    apply.set_defaults(func=_cmd_apply)
    check = rsub.add_parser("check", help="check what is kept against the retention rules; "
                                          "exit 1 if one is broken",
                            description="Check sensitive data held past their deletion date "
                                        "or with none, the audit log's hash chain, oversight "
                                        "records the log names but the database lost, and "
                                        "the policy's minimum; exit 0 when none is broken, "
                                        "1 otherwise.")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=_cmd_check)
    retention.set_defaults(func=lambda _args: group_help(retention))


def _set_parser(rsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    setp = rsub.add_parser("set", help="set how many months logs and oversight records "
                                       "are kept",
                           description="Set how many months the audit log and the oversight "
                                       "records (ratings, cannot-tell answers, "
                                       "adjudications) are kept: at least 6, the EU AI "
                                       "Act's minimum. Logged.")
    setp.add_argument("--log-months", type=int, required=True, metavar="N",
                      help="months the audit log is kept (at least 6)")
    setp.add_argument("--oversight-months", type=int, required=True, metavar="N",
                      help="months the oversight records are kept (at least 6)")
    add_acting_options(setp, who=WHO)
    setp.set_defaults(func=_cmd_set)


def _schedule_parser(rsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = rsub.add_parser("schedule", help="set when a system's sensitive data are "
                                                "deleted, and why they are kept until then",
                               description="Give the sensitive data of system SYSTEM a "
                                           "deletion date (00:00 UTC of that day) and the "
                                           "reason they are needed until then; replaces an "
                                           "earlier date. Logged.")
    schedule.add_argument("system", metavar="SYSTEM")
    schedule.add_argument("--delete-on", required=True, metavar="YYYY-MM-DD",
                          help="the day the sensitive data are to be deleted")
    schedule.add_argument("--reason", required=True, metavar="TEXT",
                          help="why the data are kept until then (logged)")
    add_acting_options(schedule, who=WHO)
    schedule.set_defaults(func=_cmd_schedule)


def _cmd_show(args: argparse.Namespace) -> int:
    from audits.evidence.retention import retention_summary, retention_text

    with open_store() as store:
        summary = retention_summary(store)
    print(json.dumps(summary, indent=2) if args.json else retention_text(summary))
    return EXIT_OK


def _cmd_set(args: argparse.Namespace) -> int:
    with open_store() as store:
        actor = acting_user(store, args)
        policy = store.set_retention_policy(actor, log_months=args.log_months,
                                            oversight_months=args.oversight_months)
    print(f"retention policy: logs {policy.log_months} months, oversight records "
          f"{policy.oversight_months} months (set by {policy.updated_by})")
    return EXIT_OK


def _cmd_schedule(args: argparse.Namespace) -> int:
    day = _day(args.delete_on)
    with open_store() as store:
        actor = acting_user(store, args)
        made = store.schedule_sensitive_deletion(
            actor, args.system, delete_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
            reason=args.reason)
    print(f"sensitive data of system {made.system!r} to be deleted on "
          f"{made.delete_at.date().isoformat()} (set by {made.set_by}); reason: {made.reason}")
    return EXIT_OK


def _cmd_apply(args: argparse.Namespace) -> int:
    with open_store() as store:
        actor = acting_user(store, args)
        purges = store.apply_retention(actor)
    if not purges:
        print("nothing due: no sensitive data held past its deletion date")
    for p in purges:
        due = p.delete_at.date().isoformat() if p.delete_at is not None else "?"
        print(f"purged the sensitive data of system {p.system!r} (version(s) "
              f"{', '.join(map(str, p.versions))}), due {due}: log entry {p.log_entry_id}")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from audits.evidence.retention import retention_check_json, retention_check_text

    with open_store() as store:
        result = retention_check_json(store.retention_check())
    print(json.dumps(result, indent=2) if args.json else retention_check_text(result))
    return EXIT_OK if result["ok"] else EXIT_CHECK_FAILED


def _day(value: str) -> date:
    if DATE_PATTERN.fullmatch(value) is None:
        raise ValueError(MSG_BAD_DATE.format(value=value))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(MSG_BAD_DATE.format(value=value)) from None
