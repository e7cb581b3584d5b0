"""``fairpanel report``: export an audit's report, and verify a report file.

``fairpanel report AUDIT_ID --format html|pdf|json --out PATH`` writes the audit's newest
approved report (signed, frozen) or, when none is approved, a draft built from what is
stored now, marked as a draft. ``fairpanel report verify PATH`` checks a report file
against its signature and against the stored numbers behind it; it exits 1 when any
check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audits.cli.common import EXIT_CHECK_FAILED, EXIT_OK, open_store
from audits.roles import Actor

__all__ = ["add_report_parser"]

FORMATS = ("html", "pdf", "json")
MSG_USAGE = "give AUDIT_ID (with --format and --out) or 'verify PATH'"
MSG_NOT_ID = "AUDIT_ID must be a number; got {value!r}"


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report`` on the top-level subparsers."""
    report = sub.add_parser(
        "report", help="export an audit's report, or verify a report file",
        description="fairpanel report AUDIT_ID --format html|pdf|json --out PATH exports the "
                    "audit's approved report (else a draft); fairpanel report verify PATH "
                    "checks a report file's signature and the stored numbers behind it.")
    report.add_argument("target", metavar="AUDIT_ID|verify")
    report.add_argument("path", nargs="?", metavar="PATH", help="the file to verify")
    report.add_argument("--format", choices=FORMATS, default="pdf")
    report.add_argument("--out", metavar="PATH", help="where to write the report")
    report.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    if args.target == "verify":
        if not args.path:
            raise ValueError(MSG_USAGE)
        return _verify(Path(args.path))
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


def _verify(path: Path) -> int:
    from audits.reports.stored import verify_report_file

    with open_store() as store:
        result = verify_report_file(store, path)
    for name, passed, detail in result.checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    print("report verified" if result.ok else "report NOT verified", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED
