"""``fairpanel queue export`` and ``fairpanel ratings import``: reviews in other tools.

``queue export`` writes an audit's open cases as Label Studio tasks (with the labelling
config), Argilla records (with the dataset settings) or a CSV, each showing what a blind
reviewer sees. ``ratings import`` reads the tool's export back: its annotators become
imported reviewers and their ratings are stored against the cases, idempotently and all
or nothing (``--skip-bad`` imports the good rows). Both write JSON with ``--json
PATH|-`` (contracts in docs/interchange.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audits.cli.common import (
    EXIT_OK,
    emit_json,
    group_help,
    open_store,
)
from audits.roles import Actor

__all__ = ["add_interchange_parsers", "add_queue_export"]

#: Duplicated from :mod:`audits.interchange.stored` (a test checks they agree): the
#: parser must not import the engine.
EXPORT_FORMATS = ("labelstudio", "argilla", "csv")
IMPORT_FORMATS = ("labelstudio", "argilla", "long")


def add_queue_export(qsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``queue export`` on the ``queue`` command's subparsers."""
    export = qsub.add_parser(
        "export", help="write the queue as tasks of an annotation tool",
        description="Write an audit's open cases as Label Studio tasks (and the labelling "
                    "config beside them), Argilla records (and the dataset settings beside "
                    "them) or a CSV. Every task shows what a blind reviewer sees: the "
                    "features without the sensitive attributes, never the model's "
                    "decision, score or explanation.")
    export.add_argument("--audit", type=int, metavar="ID", required=True)
    export.add_argument("--format", choices=list(EXPORT_FORMATS), required=True)
    export.add_argument("--out", metavar="PATH", required=True,
                        help="the file of tasks, records or rows")
    export.add_argument("--json", metavar="PATH|-", help="write what was written as JSON")
    export.set_defaults(func=_cmd_export)


def add_interchange_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ratings`` (``ratings import``) on the top-level subparsers."""
    ratings = sub.add_parser("ratings", help="ratings made in other annotation tools",
                             description="Bring in reviews done in Label Studio, Argilla or "
                                         "a spreadsheet.")
    rsub = ratings.add_subparsers(title="ratings commands", metavar="ACTION")
    imp = rsub.add_parser(
        "import", help="store the ratings of a tool's export",
        description="Read a Label Studio JSON export, exported Argilla records or a long "
                    "CSV (case_id, reviewer, label[, confidence, rationale]) and store its "
                    "ratings against the audit's cases; each annotator becomes an imported "
                    "reviewer. Importing a file again adds nothing. A row that cannot be "
                    "placed rejects the whole import, listing every such row, unless "
                    "--skip-bad is given.")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--audit", type=int, metavar="ID", required=True)
    imp.add_argument("--format", choices=list(IMPORT_FORMATS), required=True)
    imp.add_argument("--skip-bad", action="store_true",
                     help="import the good rows and list the others")
    imp.add_argument("--json", metavar="PATH|-", help="write the result as JSON")
    imp.set_defaults(func=_cmd_import)
    ratings.set_defaults(func=lambda _args: group_help(ratings))


def _cmd_export(args: argparse.Namespace) -> int:
    from audits.interchange.stored import export_queue

    with open_store() as store:
        done = export_queue(store, Actor.system(), args.audit, format=args.format,
                            out=Path(args.out))
    text = (f"audit run {done.audit_run_id}: {done.n_cases} open case(s) written as "
            f"{done.format} (blind: no decision, score or sensitive attribute)\n"
            + "\n".join(f"  {f}" for f in done.files))
    emit_json(done.to_dict(), args.json, text)
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from audits.interchange.stored import import_ratings

    with open_store() as store:
        done = import_ratings(store, Actor.system(), args.audit, Path(args.file),
                              format=args.format, skip_bad=args.skip_bad)
    lines = [f"audit run {done.audit_run_id}: {done.n_ratings_added} rating(s) added, "
             f"{done.n_already_present} already present, "
             f"{len(done.reviewers_created)} reviewer(s) created, "
             f"{len(done.skipped)} row(s) skipped"]
    lines += [f"  skipped {s.row}: {s.reason}" for s in done.skipped]
    emit_json(done.to_dict(), args.json, "\n".join(lines))
    return EXIT_OK


