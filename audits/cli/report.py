"""``fairpanel report``: export, verify, and the report workflow as named people.

``fairpanel report AUDIT_ID --format html|pdf|json --out PATH`` writes the audit's newest
approved report (signed, frozen) or, when none is approved, a draft built from what is
stored now, marked as a draft (``report export AUDIT_ID ...`` is the same).
``fairpanel report verify PATH`` checks a report file against its signature and against
the stored numbers behind it; it exits 1 when any check fails.

``report draft AUDIT_ID``, ``report submit REPORT_ID``, ``report approve REPORT_ID`` and
``report return REPORT_ID`` run the workflow of the Reports page as the person ``--as
USER``, authenticated by password (``--password-stdin``, else a prompt at a terminal;
see :mod:`audits.cli.signoff`); the store applies the same separation of duties as the
page (whoever ran the audit, drafted or submitted the report cannot approve it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from audits.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    group_help,
    insert_default_action,
    open_store,
)
from audits.cli.signoff import authenticated_actor
from audits.roles import Actor

__all__ = ["WORKFLOW", "add_report_parser", "report_argv"]

FORMATS = ("html", "pdf", "json")
#: The subcommands; anything else after ``report`` is an AUDIT_ID to export.
ACTIONS = ("export", "verify", "draft", "submit", "approve", "return")
WORKFLOW = ("draft", "submit", "approve", "return")
MSG_USAGE = "give AUDIT_ID (with --format and --out) or 'verify PATH'"
MSG_NOT_ID = "AUDIT_ID must be a number; got {value!r}"
MSG_NOT_REPORT_ID = "{what} must be a number; got {value!r}"
MSG_EMPTY_COMMENT = "--comment must say why the report is returned"


def report_argv(argv: Sequence[str]) -> list[str]:
    """Return ``argv`` with ``export`` inserted in ``report AUDIT_ID ...``.

    ``report AUDIT_ID --format F --out PATH`` predates the subcommands; it stays the way
    to export, so the word after ``report`` that is no subcommand (nor ``-h``) gets an
    ``export`` in front of it.

    Examples
    --------
    >>> report_argv(["--database-url", "sqlite://", "report", "3", "--out", "r.pdf"])
    ['--database-url', 'sqlite://', 'report', 'export', '3', '--out', 'r.pdf']
    >>> report_argv(["report", "verify", "r.pdf"])
    ['report', 'verify', 'r.pdf']
    """
    return insert_default_action(argv, "report", ACTIONS, "export")


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report`` and its actions on the top-level subparsers."""
    report = sub.add_parser(
        "report", help="export or verify an audit's report; draft, submit, approve, return",
        description="fairpanel report AUDIT_ID --format html|pdf|json --out PATH exports the "
                    "audit's approved report (else a draft); fairpanel report verify PATH "
                    "checks a report file's signature and the stored numbers behind it. "
                    "draft, submit, approve and return run the sign-off workflow as a "
                    "named person authenticated by password.")
    rsub = report.add_subparsers(title="report commands", metavar="ACTION")
    export = rsub.add_parser("export", help="write an audit's report (also: report AUDIT_ID)",
                             description="Write audit AUDIT_ID's newest approved report, "
                                         "else its newest draft, else a fresh unsaved draft "
                                         "(marked as a draft).")
    export.add_argument("target", metavar="AUDIT_ID")
    export.add_argument("path", nargs="?", metavar="PATH", help=argparse.SUPPRESS)
    export.add_argument("--format", choices=FORMATS, default="pdf")
    export.add_argument("--out", metavar="PATH", help="where to write the report")
    export.set_defaults(func=_cmd_export)
    verify = rsub.add_parser("verify", help="verify a report file; exit 1 if a check fails",
                             description="Check a report file (HTML, PDF or JSON) against "
                                         "its signature and the stored numbers behind it.")
    verify.add_argument("path", nargs="?", metavar="PATH", help="the file to verify")
    verify.set_defaults(func=_cmd_verify)
    _workflow_parsers(rsub)
    report.set_defaults(func=lambda _args: group_help(report))


def _workflow_parsers(rsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    specs = {
        "draft": ("AUDIT_ID", "draft the report of a completed audit run",
                  "a data scientist or admin"),
        "submit": ("REPORT_ID", "submit a draft or returned report for approval",
                   "its author or an admin"),
        "approve": ("REPORT_ID", "approve (sign and freeze) a submitted report",
                    "a compliance officer or admin who did not run the audit, draft or "
                    "submit the report"),
        "return": ("REPORT_ID", "return a submitted report to its author with a comment",
                   "a compliance officer or admin"),
    }
    for action, (what, summary, who) in specs.items():
        p = rsub.add_parser(action, help=summary,
                            description=f"{summary[0].upper()}{summary[1:]}, as USER "
                                        f"({who}), authenticated by USER's password "
                                        "(--password-stdin, else a prompt at a terminal).")
        p.add_argument("target", metavar=what)
        p.add_argument("--as", dest="as_user", required=True, metavar="USER",
                       help=f"who acts ({who}); authenticated by password")
        p.add_argument("--password-stdin", action="store_true",
                       help="read USER's password from the first line of standard input "
                            "(else it is prompted for at a terminal)")
        if action == "approve":
            p.add_argument("--note", default="", help="a note signed with the approval")
        if action == "return":
            p.add_argument("--comment", required=True, help="why it is returned (required)")
        p.add_argument("--json", action="store_true",
                       help='print {"report_id", "status"} as JSON')
        p.set_defaults(func=_cmd_workflow, action=action, what=what)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.path or not args.out:
        raise ValueError(MSG_USAGE)
    try:
        audit_run_id = int(args.target)
    except ValueError:
        raise ValueError(MSG_NOT_ID.format(value=args.target)) from None
    from audits.reports.stored import export_audit_report

    with open_store() as store:
        data, status = export_audit_report(store, Actor.system(), audit_run_id, args.format)
    Path(args.out).write_bytes(data)
    print(f"{status} report of audit run {audit_run_id} written to {args.out} "
          f"({len(data):,} bytes, {args.format})")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    if not args.path:
        raise ValueError(MSG_USAGE)
    from audits.reports.stored import verify_report_file

    with open_store() as store:
        result = verify_report_file(store, Path(args.path))
    for name, passed, detail in result.checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    print("report verified" if result.ok else "report NOT verified", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED


def _cmd_workflow(args: argparse.Namespace) -> int:
    from audits.reports.stored import approve, draft_report, return_report, submit

    try:
        target = int(args.target)
    except ValueError:
        raise ValueError(MSG_NOT_REPORT_ID.format(what=args.what, value=args.target)) from None
    if args.action == "return" and not args.comment.strip():
        raise ValueError(MSG_EMPTY_COMMENT)
    with open_store() as store:
        actor, how = authenticated_actor(store, args.as_user,
                                         password_stdin=args.password_stdin)
        if args.action == "draft":
            record = draft_report(store, actor, target)
        elif args.action == "submit":
            record = submit(store, actor, target)
        elif args.action == "approve":
            record = approve(store, actor, target, note=args.note, authentication=how)
        else:
            record = return_report(store, actor, target, args.comment, authentication=how)
    if args.json:
        print(json.dumps({"report_id": record.id, "status": record.status}, indent=2))
        return EXIT_OK
    print(f"report #{record.id} of audit run {record.audit_run_id} is now {record.status} "
          f"({args.action} by {actor.username})")
    return EXIT_OK

