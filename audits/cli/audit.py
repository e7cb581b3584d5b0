"""``fairpanel audit``: a fairness audit from the command line, and a gate for CI.

Kept apart from :mod:`audits.cli.command` so each stays short; the command registers
the subcommand. The JSON it writes is :meth:`audits.fairness.audit.FairnessAudit.to_dict`, a
documented, stable contract (see docs/json-contracts.md). ``fairpanel audit DATA`` is
stateless: it stores nothing. ``fairpanel audit --system NAME --save`` audits a registered
system's version (:mod:`audits.cli.systems`) with its model, stores the run through
:func:`audits.fairness.stored.run_fairness_audit` (reused when the same data, model and
options were audited before) and adds ``audit_run_id`` to the same JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from audits.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    SHOWN_FAILS,
    ProgressBar,
    label_width,
    more_failing_line,
    open_store,
)
from audits.cli.signoff import acting_user, add_acting_options
from audits.data.catalog import DATASET_NAMES

if TYPE_CHECKING:
    import pandas as pd

    from audits.fairness.audit import FairnessAudit

__all__ = ["add_audit_parser", "cmd_audit"]

MSG_NEED_TARGET = "--target is required when DATA is a file ({data})"
MSG_NEED_SENSITIVE = "at least one --sensitive column is required when DATA is a file"
MSG_NEED_DECISIONS = (
    "no decisions to audit in {data}: give --prediction COL, or --score COL with "
    "--threshold T"
)
MSG_REFERENCE = "--reference must look like COLUMN=VALUE, 'largest' or 'best'; got {value!r}"
MSG_ONLY_WITHOUT_SYSTEM = "{option} names data where it lives; it does not go with --system"
MSG_ONE_ENGINE = "give one of --sql and --spark"
MSG_NEEDS_ENGINE = "{option} goes with --sql URL or --spark MASTER"
MSG_DATA_AND_ENGINE = "give DATA ({data}) or {option}, not both"
MSG_OPTION_FOR = "{option} goes with {engine}"
MSG_THRESHOLD_NEEDS_SCORE = "--threshold needs --score (the column the threshold applies to)"
MSG_NEED_DATA = ("give DATA (a bundled dataset, a file or a Parquet glob), --sql URL or --spark "
                 "MASTER, or --system NAME with --save")
MSG_DATA_AND_SYSTEM = (
    "give DATA or --system NAME, not both ({data!r} and --system {system!r})"
)
MSG_SAVE_NEEDS_SYSTEM = (
    "--save stores an audit of a registered system: give --system NAME (register a file "
    "first with: fairpanel systems add NAME --data PATH ...)"
)
MSG_SYSTEM_NEEDS_SAVE = (
    "an audit of a registered system is stored as an audit run: add --save"
)
MSG_ONLY_WITH_SYSTEM = "{option} goes with --system NAME"
MSG_FIXED_ROLE = (
    "{option} was fixed when system {system!r} was registered (see fairpanel systems show "
    "{system}); register a new version to change it"
)
#: Options of a stateless audit that a registered system's roles fix: (attribute, option).
MSG_SCORE_BINS = "--score-bins must be an integer of at least 2; got {value}"
MSG_SCORE_BINS_STORED = ("--score-bins applies to an audit of DATA, --sql or --spark; a "
                         "stored audit of a system keeps 1000 bins, as every run before it")
FIXED_BY_SYSTEM = (("target", "--target"), ("prediction", "--prediction"),
                   ("score", "--score"), ("threshold", "--threshold"),
                   ("positive_label", "--positive-label"),
                   ("positive_is_adverse", "--positive-is-adverse"))

SHOWN_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
#: What a gate can judge (the same choices as :data:`audits.fairness.gate.GATE_ON`, kept
#: here so that ``fairpanel --help`` does not import the engine).
GATE_ON = ("interval", "point")
#: Failing rows a gate lists before "and N more".
GATE_SHOWN = 10

MSG_GATE_RESULT = (
    "fairpanel: gate {rule!r} {outcome} ({how}): {n_fail} fail, {n_pass} pass, "
    "{n_unsure} insufficient evidence{treated}, of {n} {what}"
)
MSG_GATE_CANNOT_JUDGE = (
    "fairpanel: gate {rule!r} cannot judge: no {what} has enough data (one group per "
    "slice, or every group under --min-n {min_n} or short of positives/negatives); "
    "exit 1, since a gate that saw no evidence must not pass"
)


def add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fairpanel audit`` on the top-level subparsers."""
    p = sub.add_parser(
        "audit", help="audit decisions for group fairness (metrics, intervals, verdicts)",
        description="Per-group and intersectional fairness metrics with bootstrap "
                    "intervals, significance tests and verdicts. DATA is a bundled dataset "
                    "name, a CSV file, or a Parquet file or glob (counted by DuckDB); or "
                    "count where the data lives with --sql or --spark. With a bundled "
                    "dataset and no decisions (--prediction, or --score with --threshold), "
                    "the default model's held-out decisions are audited. Exit 1 when a "
                    "--fail-on rule fails or cannot judge any group (see --gate-on, "
                    "--insufficient).")
    p.add_argument("data", metavar="DATA", nargs="?", default=None,
                   help=f"one of {', '.join(DATASET_NAMES)}, a file, or a Parquet glob")
    p.add_argument("--target", help="observed outcome column (y_true)")
    p.add_argument("--prediction", help="decision column (y_pred)")
    p.add_argument("--score", help="score column (y_score), for AUC, calibration, thresholds")
    p.add_argument("--threshold", type=float, help="decide y_pred = score >= T")
    p.add_argument("--sensitive", action="append", metavar="COL",
                   help="sensitive feature (repeat for several; intersections included)")
    p.add_argument("--positive-label", help="the label of the positive class, when not 0/1")
    p.add_argument("--reference", action="append", metavar="COL=VALUE",
                   help="reference group per feature (default: the largest group); "
                        "or 'largest' / 'best'")
    p.add_argument("--no-intersections", action="store_true",
                   help="audit each sensitive feature alone")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    p.add_argument("--score-bins", type=int, default=None, metavar="N",
                   help="bins of the score histogram (1000): AUC and calibration are "
                        "computed on them, and their bootstrap costs in proportion; a score "
                        "with at most N values is kept exact")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--min-n", type=int, default=30,
                   help="smallest group that gets a pass/fail verdict (30)")
    p.add_argument("--positive-is-adverse", action="store_true",
                   help="a positive decision is unfavourable (e.g. 'high risk'): the best-off "
                        "group is the one with the lowest rates (bundled datasets know "
                        "this already)")
    p.add_argument("--json", metavar="PATH|-", help="write the JSON result ('-' for stdout)")
    p.add_argument("--fail-on", action="append", metavar="RULE", default=[],
                   help="gate, e.g. 'impact_ratio<0.8' or "
                        "'abs(false_positive_rate_difference)>0.1': exit 1 if any group "
                        "or slice fails it, judged with simultaneous intervals over every "
                        "comparison the gates read (repeatable)")
    p.add_argument("--gate-on", choices=GATE_ON, default="interval",
                   help="what a gate judges: 'interval' (default; fails only when the "
                        "simultaneous interval lies wholly in the violation) or 'point' "
                        "(the point estimate a regulation prints, read without its "
                        "uncertainty)")
    p.add_argument("--insufficient", choices=("warn", "fail"), default="warn",
                   help="rows of a gate with insufficient evidence: 'warn' (default; "
                        "listed on stderr) or 'fail' (exit 1). A gate that can judge no row "
                        "at all (one group, or every group under --min-n) always exits 1")
    where = p.add_argument_group(
        "data where it lives (the one GROUP BY runs there; only the counts come back)",
        "A Parquet file or glob as DATA is counted by DuckDB, out of core. The JSON gains "
        "\"aggregation\": the backend and the exact queries, to run again.")
    where.add_argument("--sql", metavar="URL",
                       help="a SQLAlchemy database URL (with --table or --query)")
    where.add_argument("--spark", metavar="MASTER",
                       help="a Spark master, e.g. local[2] or spark://host:7077 (with "
                            "--table or --path)")
    where.add_argument("--table", help="the table of decisions (name or schema.name)")
    where.add_argument("--query", help="a SELECT whose rows are the decisions (--sql)")
    where.add_argument("--path", help="Parquet files Spark reads (--spark)")
    stored = p.add_argument_group("a registered system, stored (fairpanel systems add)")
    stored.add_argument("--system", metavar="NAME", help="audit this registered system")
    stored.add_argument("--version", type=int, metavar="N",
                        help="its version N (default: the latest)")
    stored.add_argument("--save", action="store_true",
                        help="store the audit run (required with --system; the JSON gains "
                             "audit_run_id)")
    add_acting_options(stored, who="a data scientist or admin")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    """Run ``fairpanel audit``; return the exit code."""
    # The engine is imported here, not at the top: `fairpanel --help` must not load it.
    from audits.fairness.audit import audit_fairness
    from audits.fairness.verdicts import parse_rule

    gates = [parse_rule(text) for text in args.fail_on]  # bad rules fail before any work
    if _check_target(args):
        return _stored_audit(args, gates)
    if args.threshold is not None and args.score is None:
        raise ValueError(MSG_THRESHOLD_NEEDS_SCORE)
    progress = ProgressBar(sys.stderr)
    pushed = _pushdown(args, progress)
    if pushed is not None:
        from audits.fairness.audit import audit_counts

        counts, aggregation, columns = pushed
        audit = audit_counts(
            counts, y_true=columns["target"], y_pred=columns["prediction"],
            y_score=columns["score"], threshold=columns["threshold"],
            reference=_reference(args.reference), n_boot=args.n_boot,
            random_state=args.seed, min_n=args.min_n, score_bins=_score_bins(args),
            positive_is_favourable=not args.positive_is_adverse,
            progress=lambda f, m: progress(0.3 + 0.7 * f, m))
        result = {**audit.to_dict(), "aggregation": aggregation.to_dict()}
    else:
        frame, columns = _decisions(args, progress)
        audit = audit_fairness(
            frame, y_true=columns["target"], y_pred=columns["prediction"],
            y_score=columns["score"], threshold=columns["threshold"],
            sensitive_features=columns["sensitive"], pos_label=args.positive_label,
            intersections=not args.no_intersections, reference=_reference(args.reference),
            n_boot=args.n_boot, random_state=args.seed, min_n=args.min_n,
            score_bins=_score_bins(args),
            positive_is_favourable=columns["favourable"] and not args.positive_is_adverse,
            progress=lambda f, m: progress(0.3 + 0.7 * f, m),
        )
        result = audit.to_dict()
    if args.json == "-":
        print(json.dumps(result, indent=2, allow_nan=False))
    else:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        _print_summary(result, sys.stdout)
    return _gate(audit, gates, sys.stderr, on=args.gate_on,
                 insufficient_fails=args.insufficient == "fail")


def _score_bins(args: argparse.Namespace) -> int:
    """--score-bins, checked: an integer of at least 2 (the default without it)."""
    from audits.fairness.count_types import DEFAULT_SCORE_BINS

    if args.score_bins is None:
        return DEFAULT_SCORE_BINS
    if args.score_bins < 2:
        raise ValueError(MSG_SCORE_BINS.format(value=args.score_bins))
    return int(args.score_bins)


def _check_target(args: argparse.Namespace) -> bool:
    """Check DATA against --system/--save; return True for a stored audit of a system."""
    if args.system is None:
        if args.save:
            raise ValueError(MSG_SAVE_NEEDS_SYSTEM)
        if args.sql or args.spark:
            return False
        for option, value in (("--version", args.version), ("--user", args.user),
                              ("--password-stdin", args.password_stdin or None)):
            if value is not None:
                raise ValueError(MSG_ONLY_WITH_SYSTEM.format(option=option))
        if args.data is None:
            raise ValueError(MSG_NEED_DATA)
        return False
    if args.data is not None:
        raise ValueError(MSG_DATA_AND_SYSTEM.format(data=args.data, system=args.system))
    for option in ("--sql", "--spark", "--table", "--query", "--path"):
        if getattr(args, option[2:]) is not None:
            raise ValueError(MSG_ONLY_WITHOUT_SYSTEM.format(option=option))
    if not args.save:
        raise ValueError(MSG_SYSTEM_NEEDS_SAVE)
    if args.score_bins is not None:
        raise ValueError(MSG_SCORE_BINS_STORED)
    for attribute, option in FIXED_BY_SYSTEM:
        if getattr(args, attribute) not in (None, False):
            raise ValueError(MSG_FIXED_ROLE.format(option=option, system=args.system))
    return True


def _stored_audit(args: argparse.Namespace, gates: list[Any]) -> int:
    """Audit a registered system's version, store the run, print as the stateless audit."""
    from audits.cli.systems import find_version, system_model
    from audits.fairness.stored import run_fairness_audit

    progress = ProgressBar(sys.stderr)
    with open_store() as store:
        actor = acting_user(store, args)
        dataset = find_version(store, args.system, args.version)
        model = system_model(store, dataset)
        run = run_fairness_audit(
            store, actor, dataset, model, sensitive_features=args.sensitive,
            intersections=not args.no_intersections, reference=_reference(args.reference),
            n_boot=args.n_boot, random_state=args.seed, min_n=args.min_n,
            progress=progress)
        audit = _rebuilt_audit(store, actor, dataset, model, run) if gates else None
    result = {k: v for k, v in (run.results or {}).items() if k != "threshold_curves"}
    result["audit_run_id"] = run.id
    if args.json == "-":
        print(json.dumps(result, indent=2, allow_nan=False))
    else:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        decided = (f"model #{model.id} ({model.kind})" if model is not None
                   else "logged decisions")
        print(f"audit run {run.id} of system {args.system!r} version {dataset.version} "
              f"({decided}) stored\n")
        _print_summary(result, sys.stdout)
    if audit is None:
        return EXIT_OK
    return _gate(audit, gates, sys.stderr, on=args.gate_on,
                 insufficient_fails=args.insufficient == "fail")


def _rebuilt_audit(store: Any, actor: Any, dataset: Any, model: Any, run: Any) -> FairnessAudit:
    """The stored run's audit as an object a gate reads: the same decisions and options.

    Every option that determines the numbers is in the run's configuration and the
    bootstrap is seeded, so the recomputed audit equals the stored one.
    """
    from audits.fairness.audit import audit_fairness
    from audits.fairness.stored import decisions_for, in_place_audit
    from audits.fairness.verdicts import ratio_rule
    from audits.systems.in_place import in_place_source

    if in_place_source(dataset) is not None:
        return in_place_audit(dataset, run)
    config = run.config
    decisions = decisions_for(store, actor, dataset, model)
    return audit_fairness(
        decisions.frame, y_true=decisions.y_true, y_pred=decisions.y_pred,
        y_score=decisions.y_score, sensitive_features=list(config["sensitive_features"]),
        intersections=bool(config["intersections"]), reference=config["reference"],
        rules=[ratio_rule(float(config["tau"]))], n_boot=int(config["n_boot"]),
        random_state=int(config["random_state"]), min_n=int(config["min_n"]),
        positive_is_favourable=bool(config["favourable"]))


def _pushdown(args: argparse.Namespace, progress: Any) -> tuple[Any, Any, dict[str, Any]] | None:
    """Count where the data lives (a SQL database, Spark, or Parquet files through
    DuckDB); None when DATA is read into pandas (a bundled dataset, a CSV file)."""
    where = [o for o, v in (("--sql", args.sql), ("--spark", args.spark)) if v]
    if len(where) > 1:
        raise ValueError(MSG_ONE_ENGINE)
    parquet = (args.data is not None and args.data not in DATASET_NAMES
               and _is_parquet(args.data))
    if not where:
        for option in ("--table", "--query", "--path"):
            if getattr(args, option[2:]) is not None:
                raise ValueError(MSG_NEEDS_ENGINE.format(option=option))
        if not parquet:
            return None
    elif args.data is not None:
        raise ValueError(MSG_DATA_AND_ENGINE.format(data=args.data, option=where[0]))
    source = args.data or args.table or args.query or args.path or ""
    if not args.target:
        raise ValueError(MSG_NEED_TARGET.format(data=source))
    if not args.sensitive:
        raise ValueError(MSG_NEED_SENSITIVE)
    if args.prediction is None and args.threshold is None:
        raise ValueError(MSG_NEED_DECISIONS.format(data=source))
    roles = {"y_true": args.target, "y_pred": args.prediction, "y_score": args.score,
             "threshold": args.threshold, "sensitive_features": list(args.sensitive),
             "pos_label": args.positive_label, "intersections": not args.no_intersections,
             "score_bins": _score_bins(args), "with_query": True}
    if args.sql:
        from audits.fairness.pushdown import count_groups_sql

        if args.path is not None:
            raise ValueError(MSG_OPTION_FOR.format(option="--path", engine="--spark"))
        progress(0.05, "Counting in the database")
        counts, aggregation = count_groups_sql(args.sql, table=args.table, query=args.query,
                                               **roles)
    elif args.spark:
        from audits.fairness.pushdown import count_groups_spark

        if args.query is not None:
            raise ValueError(MSG_OPTION_FOR.format(option="--query", engine="--sql"))
        progress(0.05, f"Counting with Spark ({args.spark})")
        counts, aggregation = count_groups_spark(args.spark, table=args.table,
                                                 path=args.path, **roles)
    else:
        from audits.fairness.pushdown import count_groups_duckdb

        progress(0.05, f"Counting {args.data} with DuckDB")
        counts, aggregation = count_groups_duckdb(args.data, **roles)
    return counts, aggregation, {"target": args.target, "prediction": args.prediction,
                                 "score": args.score, "threshold": args.threshold}


def _is_parquet(data: str) -> bool:
    return data.lower().endswith(".parquet")


def _decisions(args: argparse.Namespace, progress: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    from audits.data.datasets import read_table

    if args.data in DATASET_NAMES:
        return _bundled(args, progress)
    progress(0.05, f"Reading {args.data}")
    frame = read_table(Path(args.data))
    if not args.target:
        raise ValueError(MSG_NEED_TARGET.format(data=args.data))
    if not args.sensitive:
        raise ValueError(MSG_NEED_SENSITIVE)
    if args.prediction is None and args.threshold is None:
        raise ValueError(MSG_NEED_DECISIONS.format(data=args.data))
    return frame, {"target": args.target, "prediction": args.prediction,
                   "score": args.score, "threshold": args.threshold,
                   "sensitive": list(args.sensitive), "favourable": True}


def _bundled(args: argparse.Namespace, progress: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    from audits.data.datasets import BUNDLED, load_dataset
    from audits.models.training import held_out_decisions, train_default_model

    progress(0.05, f"Loading the bundled dataset {args.data!r}")
    loaded = load_dataset(args.data, random_state=args.seed)
    roles = loaded.roles
    frame = loaded.frame
    columns: dict[str, Any] = {
        "target": args.target or roles.target,
        "prediction": args.prediction, "score": args.score, "threshold": args.threshold,
        "sensitive": list(args.sensitive or roles.sensitive_features),
        "favourable": BUNDLED[args.data].positive_is_favourable,
    }
    if args.prediction is None and args.threshold is None:
        if roles.prediction is not None:
            columns.update(prediction=roles.prediction, score=args.score or roles.score)
        else:
            trained = train_default_model(
                frame, roles, random_state=args.seed,
                progress=lambda f, m: progress(0.05 + 0.25 * f, f"Default model: {m}"))
            frame = held_out_decisions(frame, trained)
            columns.update(prediction="y_pred", score="y_score")
    return frame, columns


def _reference(values: list[str] | None) -> str | dict[str, str] | None:
    if not values:
        return None
    if len(values) == 1 and values[0] in ("largest", "best"):
        return values[0]
    mapping: dict[str, str] = {}
    for value in values:
        column, sep, group = value.partition("=")
        if not sep or not column or not group:
            raise ValueError(MSG_REFERENCE.format(value=value))
        mapping[column] = group
    return mapping


def _gate(audit: FairnessAudit, gates: list[Any], err: TextIO, *, on: str = "interval",
          insufficient_fails: bool = False) -> int:
    from audits.fairness.gate import gate_table
    from audits.fairness.verdicts import FAIL, INSUFFICIENT, PASS

    code = EXIT_OK
    for gate in gates:
        table = gate_table(audit, gate, family=gates, on=on)
        what = "slices" if gate.summary is not None else "comparisons"
        level = round(100 * audit.config.level)
        how = (f"simultaneous {level}% intervals over {table['gate_family_size'].iloc[0]} "
               "comparison(s), Bonferroni" if on == "interval" and len(table) else
               "point estimates, no uncertainty" if on == "point" else "no rows")
        judged = int(table["judgeable"].sum()) if len(table) else 0
        if judged == 0:
            err.write(MSG_GATE_CANNOT_JUDGE.format(rule=gate.text, what=what[:-1],
                                                   min_n=audit.config.min_n) + "\n")
            code = EXIT_CHECK_FAILED
            continue
        failing = table[table["gate_verdict"] == FAIL]
        unsure = table[table["gate_verdict"] == INSUFFICIENT]
        failed = len(failing) > 0 or (insufficient_fails and len(unsure) > 0)
        treated = (" (counted as failing: --insufficient fail)" if insufficient_fails
                   and len(unsure) else "")
        err.write(MSG_GATE_RESULT.format(
            rule=gate.text, outcome="failed" if failed else "passed", how=how,
            n_fail=len(failing), n_pass=int((table["gate_verdict"] == PASS).sum()),
            n_unsure=len(unsure), treated=treated, n=len(table), what=what) + "\n")
        for rows, label in ((failing, "fail"), (unsure, "insufficient evidence")):
            if len(rows):
                err.write(f"  {label}:\n")
                _gate_rows(rows, gate, err)
        if failed:
            code = EXIT_CHECK_FAILED
    return code


def _gate_rows(rows: Any, gate: Any, err: TextIO) -> None:
    """Name each row: the slice and its extreme groups, or the group and its reference."""
    for r in rows.head(GATE_SHOWN).itertuples(index=False):
        bounds = _bounds(r.gate_low, r.gate_high)
        if gate.summary is not None:
            err.write(f"    {r.slice}: {gate.summary} {_num(r.value)} {bounds}; lowest "
                      f"{r.lowest_group}, highest {r.highest_group}\n")
        else:
            err.write(f"    {r.metric}_{gate.statistic} of {r.group_label} vs "
                      f"{r.reference_label}: {_num(getattr(r, gate.statistic))} {bounds}\n")
    if len(rows) > GATE_SHOWN:
        err.write(f"    ... and {len(rows) - GATE_SHOWN} more\n")


def _num(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{value:.3f}")


def _bounds(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "(no interval)"
    if low == high:
        return "(point)"
    return f"[{low:.3f}, {high:.3f}]"


def _print_summary(result: dict[str, Any], out: TextIO) -> None:
    out.write(f"{result['rows']} decisions audited\n\n")
    labels = [", ".join(f"{k}={v}" for k, v in g["attributes"].items())
              for g in result["groups"]]
    width = label_width(labels)  # whole labels: cut ones can read the same
    header = f"{'group':<{width}} {'n':>7}  " + "  ".join(f"{m[:22]:>22}"
                                                        for m in SHOWN_METRICS)
    out.write(header + "\n")
    for label, g in zip(labels, result["groups"], strict=True):
        cells = "  ".join(f"{_estimate(g['metrics'].get(m)):>22}" for m in SHOWN_METRICS)
        out.write(f"{label:<{width}} {g['n']:>7}  {cells}\n")
    verdicts = [d["verdict"] for d in result["disparities"]]
    failing = [d for d in result["disparities"] if d["verdict"] == "fail"]
    out.write(f"\ndisparities: {verdicts.count('fail')} fail, {verdicts.count('pass')} pass, "
              f"{verdicts.count('insufficient_evidence')} insufficient evidence, "
              f"{verdicts.count(None)} not judged (prevalence, or no rule)\n")
    inference = result.get("inference") or {}
    if inference:
        out.write(f"verdicts read simultaneous intervals over {inference['family_size']} "
                  f"judged comparison(s) (Bonferroni, each at level "
                  f"{inference['per_comparison_level']:.4g}); the intervals shown are "
                  "per comparison\n")
    for d in failing[:SHOWN_FAILS]:
        label = ", ".join(f"{k}={v}" for k, v in d["attributes"].items())
        out.write(f"  {d['metric']:<26} {label:<36} ratio {_estimate(d['ratio'])}  "
                  f"difference {_estimate(d['difference'])}\n")
    if len(failing) > SHOWN_FAILS:
        out.write(more_failing_line(len(failing) - SHOWN_FAILS) + "\n")


def _estimate(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None or (isinstance(e["value"], float)
                                           and math.isnan(e["value"])):
        return "-"
    lo, hi = e.get("ci_low"), e.get("ci_high")
    if lo is None or hi is None:
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} [{lo:.3f}, {hi:.3f}]"
