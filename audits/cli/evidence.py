"""``fairpanel evidence``: the signed evidence pack of a release, and its verification.

``evidence SYSTEM --release LABEL --out PATH`` writes the pack (``evidence pack`` is the
same command spelled out); ``evidence verify PATH`` checks a pack file anywhere (exit 1
when any byte changed); ``evidence oversight SYSTEM`` prints the human-oversight record;
``evidence ll144 REPORT_ID --out PATH`` writes the Local Law 144 public summary of an
approved report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

from audits.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    ProgressBar,
    group_help,
    insert_default_action,
    open_store,
)
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_evidence_parser", "evidence_argv"]

ACTIONS = ("pack", "verify", "oversight", "ll144")
FRAMEWORK_NAMES = ("ll144", "eu-ai-act", "iso42001", "nist-ai-rmf")
MSG_SCOPE = "--out-of-scope takes FRAMEWORK=REASON with FRAMEWORK one of {known}; got {value!r}"
MSG_DATE = "--distribution-date takes YYYY-MM-DD; got {value!r}"
MSG_FORMAT = "--out must end in .html, .pdf or .json; got {path!r}"


def evidence_argv(argv: Sequence[str]) -> list[str]:
    """Return ``argv`` with ``pack`` inserted in ``evidence SYSTEM ...``.

    Examples
    --------
    >>> evidence_argv(["evidence", "credit", "--release", "r1", "--out", "p.zip"])
    ['evidence', 'pack', 'credit', '--release', 'r1', '--out', 'p.zip']
    >>> evidence_argv(["evidence", "verify", "p.zip"])
    ['evidence', 'verify', 'p.zip']
    """
    return insert_default_action(argv, "evidence", ACTIONS, "pack")


def add_evidence_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evidence [pack] SYSTEM``, ``evidence verify|oversight|ll144``."""
    evidence = sub.add_parser(
        "evidence", help="signed evidence packs for auditors, and their verification",
        description="The evidence of one release of a system, mapped to NYC Local Law 144, "
                    "the EU AI Act, ISO/IEC 42001 and the NIST AI RMF: `fairpanel evidence "
                    "SYSTEM --release LABEL --out PATH` writes the signed pack; `fairpanel "
                    "evidence verify PATH` checks it.")
    esub = evidence.add_subparsers(title="evidence commands", metavar="ACTION")
    _add_pack(esub)
    verify = esub.add_parser("verify", help="check a pack: exit 1 if any byte changed",
                             description="Check an evidence pack file alone: readable, "
                                         "byte for byte canonical, every file's sha256, the "
                                         "signature. Exit 1 when any check fails.")
    verify.add_argument("path", metavar="PATH")
    verify.add_argument("--key-fingerprint", metavar="HEX",
                        help="also require the pack to be signed by this key (the "
                             "fingerprint `fairpanel log key` prints)")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(func=_cmd_verify)
    _add_oversight(esub)
    _add_ll144(esub)
    evidence.set_defaults(func=lambda _args: group_help(evidence))


def _add_pack(esub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pack = esub.add_parser(
        "pack", help="write the signed evidence pack of a release (the default action)",
        description="Gather a system version's approved report (all formats), audit "
                    "configuration and query, human-oversight record, log checkpoints, data "
                    "card, sensitive-data register with deletion dates, retention record and "
                    "Local Law 144 summary into one signed archive, with a crosswalk from "
                    "each requirement to its artifacts and status. Requires a compliance "
                    "officer or admin.")
    pack.add_argument("system", metavar="SYSTEM")
    pack.add_argument("--release", required=True, metavar="LABEL",
                      help="the release this pack evidences, e.g. 2026.12")
    pack.add_argument("--out", required=True, metavar="PATH", help="where to write the pack")
    pack.add_argument("--version", type=int, default=None, metavar="N",
                      help="the system version (default: the latest)")
    pack.add_argument("--distribution-date", metavar="YYYY-MM-DD", default=None,
                      help="when the tool was distributed (Local Law 144 summary)")
    pack.add_argument("--out-of-scope", action="append", default=[],
                      metavar="FRAMEWORK=REASON",
                      help="a framework that does not apply, with why (repeatable); "
                           f"FRAMEWORK is one of {', '.join(FRAMEWORK_NAMES)}")
    add_acting_options(pack, who="a compliance officer or admin")
    pack.add_argument("--json", action="store_true", help="print JSON")
    pack.set_defaults(func=_cmd_pack)


def _add_oversight(esub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    over = esub.add_parser(
        "oversight", help="the human-oversight record of a system's audit",
        description="Every decision a person touched in the audit of a system version: "
                    "what they saw, did, why and for how long, with their recorded "
                    "training; override rates, rubber-stamping signs, agreement and "
                    "automation bias.")
    over.add_argument("system", metavar="SYSTEM")
    over.add_argument("--version", type=int, default=None, metavar="N",
                      help="the system version (default: the latest)")
    add_acting_options(over, who="a compliance officer, panel lead or admin")
    over.add_argument("--json", action="store_true", help="print JSON")
    over.set_defaults(func=_cmd_oversight)


def _add_ll144(esub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ll = esub.add_parser(
        "ll144", help="the Local Law 144 public summary of an approved report",
        description="Write the one-page summary an employer publishes under NYC Local Law "
                    "144 (rates, impact ratios, unknown counts, exclusions, dates) from an "
                    "approved report; the format follows --out's suffix.")
    ll.add_argument("report_id", type=int, metavar="REPORT_ID")
    ll.add_argument("--out", required=True, metavar="PATH",
                    help="where to write it: .html, .pdf or .json")
    ll.add_argument("--distribution-date", metavar="YYYY-MM-DD", default=None,
                    help="when the tool was distributed")
    ll.set_defaults(func=_cmd_ll144)


def _cmd_pack(args: argparse.Namespace) -> int:
    from audits.evidence.pack import build_evidence_pack

    scope = _scope(args.out_of_scope)
    when = _date(args.distribution_date)
    with open_store() as store:
        actor = acting_user(store, args)
        bar = None if args.json else ProgressBar(sys.stderr)
        pack = build_evidence_pack(store, actor, args.system, release=args.release,
                                   out=args.out, version=args.version,
                                   distribution_date=when, out_of_scope=scope, progress=bar)
    result = {"path": str(pack.path), "sha256": pack.sha256, **pack.about,
              "counts": pack.counts(),
              "requirements": [f.to_dict() for f in pack.findings]}
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    counts = pack.counts()
    print(f"evidence pack of {args.system} release {args.release}: {pack.path}")
    print(f"sha256 {pack.sha256}")
    print(f"{counts['met']} met, {counts['not_met']} not met, {counts['not_applicable']} not "
          "applicable")
    for f in pack.findings:
        if f.status == "not_met":
            print(f"  NOT MET {f.requirement.id}: {f.why}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from audits.evidence.pack import verify_evidence_pack

    result = verify_evidence_pack(args.path, expected_fingerprint=args.key_fingerprint)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        for check, passed, detail in result.checks:
            print(f"{'ok  ' if passed else 'FAIL'} {check}: {detail}")
        print("evidence pack verified" if result.ok else "evidence pack FAILED verification")
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED


def _cmd_oversight(args: argparse.Namespace) -> int:
    from audits.evidence.oversight import oversight_record
    from audits.evidence.pack import latest_audit, system_version

    with open_store() as store:
        actor = acting_user(store, args)
        chosen = system_version(store, args.system, args.version)
        run, _ = latest_audit(store, chosen)
        if run is None:
            raise LookupError(f"no fairness audit of {args.system!r} version "
                              f"{chosen.version} is stored")
        record = oversight_record(store, actor, run.id)
    if args.json:
        print(json.dumps(record.to_dict(), indent=2))
        return EXIT_OK
    _print_summary(record.summary())
    return EXIT_OK


def _print_summary(s: dict[str, Any]) -> None:
    print(f"audit run {s['audit_run_id']}: {s['decisions']} decisions touched by "
          f"{s['reviewers']} people in {s['touches']} touches")
    rate = s["override_rate"]
    print(f"overrides: {s['overrides']}" + ("" if rate is None else f" ({rate:.1%})")
          + f"; cannot tell: {s['cannot_tell']}; escalated: {s['escalated']}")
    print(f"reviews without a recorded training or competence: {s['unqualified_reviews']}")
    print("rubber-stamping signs: " + (", ".join(s["rubber_stamping"]) or "none"))
    auto = s["automation_bias"]
    if auto:
        print(f"automation bias: {auto['value']:+.3f} [{auto['ci_low']:+.3f}, "
              f"{auto['ci_high']:+.3f}]")
    for note in s["notes"]:
        print(f"note: {note}")


def _cmd_ll144(args: argparse.Namespace) -> int:
    from pathlib import Path

    from audits.evidence.ll144 import ll144_summary
    from audits.evidence.ll144_render import render_ll144_html, render_ll144_pdf

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf", ".json"):
        raise ValueError(MSG_FORMAT.format(path=args.out))
    with open_store() as store:
        summary = ll144_summary(store, args.report_id,
                                distribution_date=_date(args.distribution_date))
    data = (render_ll144_pdf(summary) if suffix == ".pdf" else
            render_ll144_html(summary).encode("utf-8") if suffix == ".html" else
            (json.dumps(summary.to_dict(), indent=2) + "\n").encode("utf-8"))
    out.write_bytes(data)
    print(f"Local Law 144 summary of report {args.report_id} written to {out}")
    for gap in summary.gaps:
        print(f"  gap: {gap}")
    return EXIT_OK


def _scope(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, _, reason = value.partition("=")
        if name not in FRAMEWORK_NAMES or not reason.strip():
            raise ValueError(MSG_SCOPE.format(known=", ".join(FRAMEWORK_NAMES), value=value))
        out[name] = reason.strip()
    return out


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(MSG_DATE.format(value=value)) from None
