"""``fairpanel panel qualify|qualifications``: reviewers' training, competence, authority.

The human-oversight record names, for every review, the training or competence the
reviewer held that day (EU AI Act Art. 26(2)); a panel lead records them here.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time
from typing import Any

from audits.cli.common import EXIT_OK, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_qualification_parsers"]

KINDS = ("training", "competence", "authority")
MSG_DATE = "{option} takes YYYY-MM-DD; got {value!r}"


def add_qualification_parsers(psub: argparse._SubParsersAction[argparse.ArgumentParser],
                              ) -> None:
    """Register ``panel qualify`` and ``panel qualifications``."""
    qualify = psub.add_parser(
        "qualify", help="record a reviewer's training, competence or authority",
        description="Record a training, a competence or an authority of reviewer USER: "
                    "what it is, when it was completed (and until when it holds), the "
                    "evidence. Records are kept; a renewal is a new one. Requires a panel "
                    "lead or admin.")
    qualify.add_argument("username", metavar="USER")
    qualify.add_argument("--kind", required=True, choices=KINDS)
    qualify.add_argument("--title", required=True, metavar="TEXT",
                         help="what it is, e.g. 'Fair lending review course'")
    qualify.add_argument("--completed", required=True, metavar="YYYY-MM-DD",
                         help="when it was completed (UTC midnight)")
    qualify.add_argument("--expires", default=None, metavar="YYYY-MM-DD",
                         help="until when it holds (default: no end)")
    qualify.add_argument("--evidence", default="", metavar="TEXT",
                         help="a certificate number, a course record, a mandate")
    add_acting_options(qualify, who="a panel lead or admin")
    qualify.add_argument("--json", action="store_true", help="print JSON")
    qualify.set_defaults(func=_cmd_qualify)
    listed = psub.add_parser("qualifications", help="list the reviewers' qualifications",
                             description="Every recorded training, competence and authority "
                                         "of the panel's reviewers, oldest first.")
    add_acting_options(listed, who="anyone who may read panel aggregates")
    listed.add_argument("--json", action="store_true", help="print JSON")
    listed.set_defaults(func=_cmd_list)


def _cmd_qualify(args: argparse.Namespace) -> int:
    completed = _day(args.completed, "--completed")
    expires = None if args.expires is None else _day(args.expires, "--expires")
    with open_store() as store:
        actor = acting_user(store, args)
        record = store.record_qualification(actor, args.username, kind=args.kind,
                                            title=args.title, completed_at=completed,
                                            expires_at=expires, evidence=args.evidence)
    if args.json:
        print(json.dumps(_json(record), indent=2))
        return EXIT_OK
    until = "" if record.expires_at is None else f", until {record.expires_at.date()}"
    print(f"{record.username}: {record.kind} '{record.title}' recorded (completed "
          f"{record.completed_at.date()}{until})")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        records = store.qualifications(acting_user(store, args))
    if args.json:
        print(json.dumps([_json(r) for r in records], indent=2))
        return EXIT_OK
    if not records:
        print("no qualification recorded")
    for r in records:
        until = "no end" if r.expires_at is None else f"until {r.expires_at.date()}"
        print(f"{r.username}\t{r.kind}\t{r.title}\t{r.completed_at.date()}\t{until}")
    return EXIT_OK


def _json(record: Any) -> dict[str, Any]:
    return {"id": record.id, "username": record.username, "kind": record.kind,
            "title": record.title, "evidence": record.evidence,
            "completed_at": record.completed_at.isoformat(),
            "expires_at": None if record.expires_at is None else record.expires_at.isoformat(),
            "recorded_by": record.recorded_by, "recorded_at": record.recorded_at.isoformat()}


def _day(value: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise ValueError(MSG_DATE.format(option=option, value=value)) from None
