"""``fairpanel queue`` and ``fairpanel ingest``: the review queue and continuous operation.

``queue build`` runs (or reuses) the stored fairness audit of a bundled dataset, or takes
a stored audit run, and builds its review queue under a budget; ``queue show`` prints
the queue by reason and group; ``ingest`` appends a batch of new decisions to an audit;
``monitor`` prints each disparity's verdict per batch and the alerts. Each writes JSON
with ``--json PATH|-`` (contracts documented in docs/json-contracts.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from audits.cli.common import (
    EXIT_OK,
    ProgressBar,
    emit_json,
    group_help,
    open_store,
)
from audits.cli.interchange import add_queue_export
from audits.data.catalog import DATASET_NAMES
from audits.roles import Actor

__all__ = ["add_queue_parsers", "queue_json"]

MSG_AUDIT_OR_DATASET = "give --audit ID or --dataset NAME"


def add_queue_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``queue``, ``ingest`` and ``monitor`` on the top-level subparsers."""
    queue = sub.add_parser("queue", help="the review queue of an audit",
                           description="Build or show the queue of decisions sent to people.")
    qsub = queue.add_subparsers(title="queue commands", metavar="COMMAND")
    build = qsub.add_parser("build", help="flag an audit's decisions and queue them",
                            description="Flag every decision of a stored fairness audit and "
                                        "queue the cases chosen under the budget. With "
                                        "--dataset, the bundled dataset's audit is run (or "
                                        "reused) first.")
    target = build.add_mutually_exclusive_group(required=True)
    target.add_argument("--audit", type=int, metavar="ID", help="a stored fairness audit run")
    target.add_argument("--dataset", choices=list(DATASET_NAMES), help="a bundled dataset")
    build.add_argument("--budget", type=int, default=200, help="cases per period (200)")
    build.add_argument("--seed", type=int, default=0, help="random seed (0)")
    build.add_argument("--json", metavar="PATH|-", help="write the queue as JSON")
    build.set_defaults(func=_cmd_build)
    show = qsub.add_parser("show", help="the queue by reason and subject group")
    show.add_argument("--audit", type=int, metavar="ID", required=True)
    show.add_argument("--json", metavar="PATH|-", help="write the queue as JSON")
    show.set_defaults(func=_cmd_show)
    add_queue_export(qsub)
    queue.set_defaults(func=lambda _args: group_help(queue))

    ingest = sub.add_parser("ingest", help="append a batch of new decisions to an audit",
                            description="Score, audit, flag and queue a batch of new "
                                        "decisions (e.g. a week's log). The same batch twice "
                                        "adds nothing; a malformed batch is rejected whole.")
    ingest.add_argument("data", metavar="DATA", help="CSV or Parquet file of new decisions")
    ingest.add_argument("--audit", type=int, metavar="ID", required=True)
    ingest.add_argument("--label", default=None, help="batch label (default: batch N)")
    ingest.add_argument("--period-start", default=None, metavar="DATE")
    ingest.add_argument("--period-end", default=None, metavar="DATE")
    ingest.add_argument("--window", type=int, default=4, metavar="N",
                        help="batches pooled in the rolling window that alerts follow (4)")
    ingest.add_argument("--hold", type=int, default=2, metavar="N",
                        help="window verdicts in a row a new failure or a resolution "
                             "must hold for (2)")
    ingest.add_argument("--json", metavar="PATH|-", help="write the result as JSON")
    ingest.set_defaults(func=_cmd_ingest)

    monitor = sub.add_parser("monitor", help="disparities per batch and alerts")
    monitor.add_argument("--audit", type=int, metavar="ID", required=True)
    monitor.add_argument("--json", metavar="PATH|-", help="write history and alerts as JSON")
    monitor.set_defaults(func=_cmd_monitor)


def queue_json(audit_run_id: int, cases: list[Any], summary: dict[str, Any],
               policy: dict[str, Any]) -> dict[str, Any]:
    """Return the ``queue`` JSON contract: policy, counts and one entry per case."""
    return {"audit_run_id": audit_run_id, "policy": policy, "n_cases": len(cases),
            "by_reason": _count(c.primary_reason for c in cases),
            "by_group": _count(c.subject_group for c in cases),
            "flagged_by_reason": summary.get("flagged_by_reason", {}),
            "cases": [{"case_id": c.id, "row_key": c.row_key, "batch_id": c.batch_id,
                       "rank": c.rank, "priority": c.priority,
                       "primary_reason": c.primary_reason,
                       "reasons": [r["reason"] for r in c.reasons],
                       "subject_group": c.subject_group} for c in cases]}


def _cmd_build(args: argparse.Namespace) -> int:
    from audits.flagging.policy import FlagPolicy
    from audits.flagging.stored import build_queue

    bar = ProgressBar(sys.stderr)
    with open_store() as store:
        run_id = args.audit if args.audit is not None else _dataset_audit(store, args.dataset,
                                                                          bar)
        queue = build_queue(store, Actor.system(), run_id,
                            policy=FlagPolicy(budget=args.budget, random_state=args.seed),
                            progress=bar)
    result = queue_json(run_id, queue.cases, queue.summary, queue.policy.as_dict())
    emit_json(result, args.json, f"audit run {run_id}: {len(queue.cases)} cases queued "
                             f"({'new' if queue.created else 'already stored'})\n"
                             + _table(result))
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        stored = store.get_flag_policy(args.audit)
        if stored is None:
            raise LookupError(f"audit run {args.audit} has no review queue")
        cases = store.list_cases(args.audit)
    result = queue_json(args.audit, cases, stored.get("summary", {}), stored["policy"])
    emit_json(result, args.json, f"audit run {args.audit}: {len(cases)} cases\n" + _table(result))
    return EXIT_OK


def _cmd_ingest(args: argparse.Namespace) -> int:
    from audits.data.datasets import read_table
    from audits.monitoring.ingest import ingest_batch

    frame = read_table(Path(args.data))
    with open_store() as store:
        done = ingest_batch(store, Actor.system(), args.audit, frame, label=args.label,
                            period_start=args.period_start, period_end=args.period_end,
                            window=args.window, hold=args.hold,
                            progress=ProgressBar(sys.stderr))
    result = {"audit_run_id": args.audit, "batch_id": done.batch.id, "label": done.batch.label,
              "sha256": done.batch.sha256, "created": done.created, "n_rows": done.batch.n_rows,
              "n_cases": done.n_cases, "alerts": done.alerts}
    text = (f"batch {done.batch.label!r} (#{done.batch.id}): "
            + (f"{done.batch.n_rows} decisions, {done.n_cases} cases queued"
               if done.created else "already ingested; nothing added")
            + "".join(f"\nALERT: {a}" for a in done.alerts))
    emit_json(result, args.json, text)
    return EXIT_OK


def _cmd_monitor(args: argparse.Namespace) -> int:
    from audits.monitoring.stored import monitoring_view

    with open_store() as store:
        view = monitoring_view(store, args.audit)
    result = view.to_dict()
    lines = [f"{a['label']}: {a['message']}" for a in result["alerts"]]
    lines += [f"OPEN {s['metric']} {s['group']} (since {s['since_label']}): {s['note']}"
              for s in result["status"] if s["state"] == "open"]
    emit_json(result, args.json, f"audit run {args.audit}: {len(result['batches'])} batch(es), "
                             f"{len(result['alerts'])} alert(s), "
                             f"{sum(s['state'] == 'open' for s in result['status'])} open"
          + "".join("\n" + x for x in lines))
    return EXIT_OK



def _dataset_audit(store: Any, name: str, progress: Any) -> int:
    from audits.demo.default import DEMO_PERSONAS, ensure_demo
    from audits.fairness.stored import run_fairness_audit

    state = ensure_demo(store, dataset=name, progress=progress)
    actor = Actor(DEMO_PERSONAS[0].username, DEMO_PERSONAS[0].role)
    run = run_fairness_audit(store, actor, state.dataset, state.model, progress=progress)
    return run.id



def _table(result: dict[str, Any]) -> str:
    reasons = "\n".join(f"  {k:<16} {v:>5}" for k, v in result["by_reason"].items())
    return "by reason:\n" + reasons


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items()))
