"""``fairpanel slices``: the worst-off subgroups nobody declared, found and tested.

``fairpanel slices DATA --target Y (--prediction P | --score S --threshold T)``,
``fairpanel slices --sql URL (--table T | --query Q) --target Y ...`` or
``fairpanel slices --system NAME`` looks at every 1-, 2- and 3-way slice of the data's
columns (numeric ones binned at quantiles) and reports those significantly worse than
the rest on ``--metric``, worst first (:func:`audits.slices.find_slices`). A Parquet file
or glob is counted by DuckDB, a database (``--sql``, or a system kept in place) where it
is; only the counts come back, and the report is the one pandas would give. ``--json -``
prints ``{"rows", "metric", "n_tested", "slices": [{"attributes", "n", "value",
"ci_low", "ci_high", "complement_value", "p_adjusted"}]}``, with ``n_discovered``,
``p_holdout`` per slice, ``columns``, ``bins`` and ``config`` added.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from audits.cli.common import EXIT_OK, ProgressBar, emit_json, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_slices_parser"]

METRIC_CHOICES = ("error_rate", "false_positive_rate", "false_negative_rate",
                  "selection_rate")
MSG_DATA_OR_SYSTEM = ("give one of DATA (a CSV or Parquet file, or a Parquet glob), --sql URL "
                      "or --system NAME")
MSG_TABLE_OR_QUERY = "--sql needs --table T or --query Q (one of them)"
MSG_SQL_ONLY = "{option} goes with --sql URL"
MSG_NEED_ROLES = "with DATA give --target and --prediction, or --score with --threshold"
MSG_ROLES_WITH_SYSTEM = "{option} is fixed by the system's registration; drop it"


def add_slices_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fairpanel slices``."""
    p = sub.add_parser(
        "slices", help="find the worst-off subgroups nobody declared (tested slices)",
        description="Every 1-, 2- and 3-way slice of the data's columns (numeric columns "
                    "binned at quantiles), tested against the rest (Benjamini-Hochberg), "
                    "kept only when worse than each of its parents and confirmed on a "
                    "held-out half. Worst first. A Parquet file or glob is counted by "
                    "DuckDB, a database where it is (one GROUP BY of the binned columns): "
                    "only the counts come back.")
    p.add_argument("data", metavar="DATA", nargs="?", default=None,
                   help="a CSV or Parquet file of decisions, or a Parquet glob")
    p.add_argument("--sql", metavar="URL",
                   help="a database URL (no password: the driver finds it) holding the "
                        "decisions")
    p.add_argument("--table", help="the table of decisions (name or schema.name; --sql)")
    p.add_argument("--query", help="a SELECT whose rows are the decisions (--sql)")
    p.add_argument("--system", metavar="NAME", help="a registered system's latest version")
    p.add_argument("--target", help="observed outcome column (0/1)")
    p.add_argument("--prediction", help="decision column (0/1)")
    p.add_argument("--score", help="score column (with --threshold)")
    p.add_argument("--threshold", type=float, help="decide prediction = score >= T")
    p.add_argument("--metric", choices=METRIC_CHOICES, default="error_rate",
                   help="what a slice is worse at (default error_rate)")
    p.add_argument("--columns", nargs="+", metavar="COL",
                   help="the columns to slice on (default: every column but the roles "
                        "and row ids)")
    p.add_argument("--max-depth", type=int, choices=(1, 2, 3), default=3,
                   help="the most attributes a slice combines (default 3)")
    p.add_argument("--min-support", type=int, default=100, metavar="N",
                   help="the fewest rows of the metric's population a slice needs in each "
                        "half to be tested (default 100)")
    p.add_argument("--bins", type=int, default=4, help="quantile bins of a numeric column "
                                                       "(default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split (0)")
    p.add_argument("--json", metavar="PATH|-", help="write the JSON ('-' for stdout)")
    add_acting_options(p, who="a data scientist or admin, with --system")
    p.set_defaults(func=_cmd_slices)


def _cmd_slices(args: argparse.Namespace) -> int:
    progress = ProgressBar(sys.stderr)
    report = _found(args, progress)
    progress(1.0, "Done")
    emit_json(report.to_dict(), args.json, _text(report))
    return EXIT_OK


def _found(args: argparse.Namespace, progress: Any) -> Any:
    given = [v for v in (args.data, args.sql, args.system) if v is not None]
    if len(given) != 1:
        raise ValueError(MSG_DATA_OR_SYSTEM)
    for option in ("table", "query"):
        if args.sql is None and getattr(args, option) is not None:
            raise ValueError(MSG_SQL_ONLY.format(option=f"--{option}"))
    options = {"metric": args.metric, "columns": args.columns, "max_depth": args.max_depth,
               "min_support": args.min_support, "random_state": args.seed}
    sub = (lambda f, m: progress(0.05 + 0.9 * f, m))  # noqa: E731 - a small adapter
    if args.system is not None:
        return _of_system(args, options, sub)
    roles = _roles(args)
    if args.sql is not None:
        from audits.slices.pushdown import find_slices_sql

        if (args.table is None) == (args.query is None):
            raise ValueError(MSG_TABLE_OR_QUERY)
        return find_slices_sql(args.sql, table=args.table, query=args.query, bins=args.bins,
                               progress=sub, **roles, **options)
    if str(args.data).lower().endswith(".parquet"):  # a file or a glob: counted by DuckDB
        from audits.slices.pushdown import find_slices_duckdb

        return find_slices_duckdb(args.data, bins=args.bins, progress=sub, **roles, **options)
    from audits.data.datasets import read_table
    from audits.slices.discovery import find_slices

    progress(0.05, f"Reading {args.data}")
    return find_slices(read_table(Path(args.data)), bins=args.bins, progress=sub, **roles,
                       **options)


def _roles(args: argparse.Namespace) -> dict[str, Any]:
    if not args.target or (args.prediction is None and (args.score is None
                                                        or args.threshold is None)):
        raise ValueError(MSG_NEED_ROLES)
    return {"y_true": args.target, "y_pred": args.prediction,
            "y_score": args.score if args.prediction is None else None,
            "threshold": args.threshold}


def _of_system(args: argparse.Namespace, options: dict[str, Any], progress: Any) -> Any:
    for option in ("target", "prediction", "score", "threshold"):
        if getattr(args, option) is not None:
            raise ValueError(MSG_ROLES_WITH_SYSTEM.format(option=f"--{option}"))
    from audits.cli.systems import find_version, system_model
    from audits.fairness.stored import decisions_for
    from audits.slices.discovery import find_slices
    from audits.slices.stored import count_version_in_place
    from audits.systems.in_place import in_place_source

    progress(0.0, f"Loading system {args.system!r}")
    with open_store() as store:
        actor = acting_user(store, args)
        dataset = find_version(store, args.system, None)
        if in_place_source(dataset) is not None:  # counted where it lives
            counted = count_version_in_place(dataset, columns=options["columns"],
                                             bins=args.bins, progress=progress)
            return counted.find(**{k: v for k, v in options.items() if k != "columns"})
        decisions = decisions_for(store, actor, dataset, system_model(store, dataset))
    frame = decisions.frame
    if options["columns"] is None:  # not the registration's role columns (id, decision)
        roles = {v for v in dataset.roles.values() if isinstance(v, str)}
        roles -= set(decisions.sensitive_features)
        frame = frame.drop(columns=[c for c in roles if c in frame.columns
                                    and c != decisions.y_true])
    return find_slices(frame, y_true=decisions.y_true, y_pred=decisions.y_pred,
                       y_score=decisions.y_score, bins=args.bins, progress=progress,
                       **options)


def _text(report: Any) -> str:
    lines = [f"{report.rows:,} decisions; {report.n_tested:,} slices tested, "
             f"{report.n_discovered} discovered, {len(report.slices)} confirmed on the "
             f"held-out half ({report.metric})"]
    for s in report.slices:
        where = " & ".join(f"{k}={v}" for k, v in s.attributes.items())
        lines.append(f"  {where}: {s.value:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}] "
                     f"vs {s.complement_value:.3f} elsewhere, n={s.n:,}, "
                     f"adjusted p={s.p_adjusted:.2g}")
    if not report.slices:
        lines.append("  no slice is significantly worse than the rest")
    return "\n".join(lines)
