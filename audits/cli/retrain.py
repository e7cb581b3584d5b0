"""``fairpanel retrain`` and ``fairpanel models``: the feedback loop at the command line.

``fairpanel retrain AUDIT_ID`` retrains the audited model on the panel's consensus
labels, stores the new version as a candidate with its lineage, re-audits old and new
model on the same held-out decisions and prints the before/after comparison (``--json``:
the contract in docs/json-contracts.md). ``fairpanel models list|approve|reject`` shows
model versions and records a person's decision on a candidate: ``--user NAME`` is
authenticated by password (``--password-stdin``, else a prompt at a terminal; see
:mod:`audits.cli.signoff`), and the store refuses a decider who is not an active, named
user with the right, and an approval by whoever trained the candidate.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from audits.cli.common import (
    EXIT_OK,
    ProgressBar,
    group_help,
    open_store,
)
from audits.cli.signoff import add_signoff_options, authenticated_actor
from audits.roles import Actor

if TYPE_CHECKING:
    from audits.retrain.stored import Retraining
    from audits.store import ModelRecord

__all__ = ["add_retrain_parsers", "model_json", "retraining_json"]

MSG_PASSWORD_WITHOUT_USER = "--password-stdin needs --user NAME (whose password it is)"


def add_retrain_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``retrain`` and ``models`` on the top-level subparsers."""
    retrain = sub.add_parser(
        "retrain", help="retrain an audited model on the panel's labels",
        description="Retrain the model of audit AUDIT_ID on the panel's consensus labels "
                    "(adjudicated, else Dawid-Skene above --min-confidence), store it as a "
                    "candidate version with its lineage, and compare old and new model on "
                    "the same held-out decisions. The candidate is not used until a person "
                    "approves it (fairpanel models approve).")
    retrain.add_argument("audit", type=int, metavar="AUDIT_ID")
    retrain.add_argument("--constraint", choices=["demographic_parity", "equalized_odds"],
                         default=None, help="also meet a fairness constraint (fairlearn's "
                                            "ThresholdOptimizer)")
    retrain.add_argument("--sensitive-feature", default=None,
                         help="group column of the constraint (default: the audit's first)")
    retrain.add_argument("--min-confidence", type=float, default=0.9,
                         help="smallest Dawid-Skene posterior trusted (default 0.9)")
    retrain.add_argument("--include-majority", action="store_true",
                         help="also use plain majority votes the other rules do not trust")
    retrain.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    retrain.add_argument("--json", action="store_true", help="print the JSON contract")
    retrain.add_argument("--user", default=None, metavar="NAME",
                         help="record NAME (a data scientist or admin, authenticated by "
                              "password) as the candidate's trainer, so the store can refuse "
                              "NAME's own approval of it; default: the command line "
                              "(system:cli)")
    retrain.add_argument("--password-stdin", action="store_true",
                         help="read NAME's password from the first line of standard input "
                              "(else it is prompted for at a terminal)")
    retrain.set_defaults(func=_cmd_retrain)

    models = sub.add_parser("models", help="model versions: list, approve, reject",
                            description="Model versions, their lineage and approval.")
    msub = models.add_subparsers(title="models commands", metavar="ACTION")
    lst = msub.add_parser("list", help="list model versions")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_cmd_list)
    for action in ("approve", "reject"):
        p = msub.add_parser(action, help=f"{action} a candidate model as a named person",
                            description=f"{action.capitalize()} candidate MODEL_ID as the "
                                        "person NAME, authenticated by NAME's password "
                                        "(--password-stdin, else a prompt at a terminal). "
                                        "The log records NAME, how they were authenticated "
                                        "and the operating-system account.")
        p.add_argument("model", type=int, metavar="MODEL_ID")
        who = "an active compliance officer or admin of the store"
        add_signoff_options(p, who=who + (" who did not train it" if action == "approve" else ""))
        p.add_argument("--note", default="", required=action == "reject")
        p.set_defaults(func=_cmd_decide, action=action)
    models.set_defaults(func=lambda a: group_help(models))


def model_json(m: ModelRecord) -> dict[str, Any]:
    """Return one model version as the JSON that docs/json-contracts.md documents."""
    return {"id": m.id, "dataset_id": m.dataset_id, "kind": m.kind, "sha256": m.sha256,
            "status": m.status, "parent_id": m.parent_id,
            "source_audit_run_id": m.source_audit_run_id,
            "constraint": m.params.get("constraint"),
            "n_label_changes": sum(bool(e.get("changed")) for e in m.lineage),
            "n_reviewed_labels": len(m.lineage), "created_by": m.created_by,
            "created_at": m.created_at.isoformat(), "decided_by": m.decided_by,
            "decided_at": m.decided_at.isoformat() if m.decided_at else None}


def retraining_json(r: Retraining) -> dict[str, Any]:
    """Return a retraining as the JSON contract of ``fairpanel retrain --json``."""
    from audits.fairness.stored import json_safe
    from audits.retrain.stored import COMPARISON_COLUMNS

    table = r.comparison.reindex(columns=list(COMPARISON_COLUMNS))
    rows = [{k: json_safe(v) for k, v in row.items()} for row in table.to_dict("records")]
    return {"candidate": model_json(r.candidate), "parent": model_json(r.parent),
            "before_audit_run_id": r.before_run.id, "after_audit_run_id": r.after_run.id,
            "n_evaluated": r.candidate.metrics.get("n_evaluated"), "comparison": rows,
            "lineage": list(r.candidate.lineage)}



def _cmd_retrain(args: argparse.Namespace) -> int:
    from audits.retrain.stored import DEFAULT_SOURCES, retrain_from_panel

    sources = (*DEFAULT_SOURCES, "majority") if args.include_majority else DEFAULT_SOURCES
    if args.password_stdin and not args.user:
        raise ValueError(MSG_PASSWORD_WITHOUT_USER)
    with open_store() as store:
        actor = Actor.system() if args.user is None else authenticated_actor(
            store, args.user, password_stdin=args.password_stdin)[0]
        done = retrain_from_panel(store, actor, args.audit, constraint=args.constraint,
                                  sensitive_feature=args.sensitive_feature,
                                  min_confidence=args.min_confidence, sources=sources,
                                  n_boot=args.n_boot, progress=ProgressBar(sys.stderr))
    if args.json:
        print(json.dumps(retraining_json(done), indent=2, default=str))
        return EXIT_OK
    c, lineage = done.candidate, done.candidate.lineage
    print(f"Candidate model #{c.id} ({c.kind}"
          f"{', ' + str(c.params['constraint']) if c.params.get('constraint') else ''}) "
          f"retrained from model #{done.parent.id} on {len(lineage)} reviewed labels "
          f"({sum(bool(e['changed']) for e in lineage)} differ from the recorded label).")
    print(f"sha256 {c.sha256}; status {c.status}: not used until a person approves it.")
    print(f"Before/after on {c.metrics.get('n_evaluated')} held-out decisions "
          f"(audit runs #{done.before_run.id} and #{done.after_run.id}):")
    for row in done.comparison.itertuples(index=False):
        name = row.metric if row.group is None or row.group != row.group else (
            f"{row.metric} {row.sensitive_feature}={row.group} vs {row.reference}")
        print(f"  {name:<60} {row.before:+.3f} -> {row.after:+.3f}  "
              f"diff {row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        rows = [model_json(m) for m in store.list_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        parent = f" from #{r['parent_id']}" if r["parent_id"] else ""
        print(f"#{r['id']:<4} {r['status']:<10} {r['kind']:<20}{parent} "
              f"{r['n_label_changes']} label changes  sha256 {r['sha256'][:16]}")
    return EXIT_OK


def _cmd_decide(args: argparse.Namespace) -> int:
    with open_store() as store:
        actor, how = authenticated_actor(store, args.user, password_stdin=args.password_stdin)
        if args.action == "approve":
            done = store.approve_model(actor, args.model, note=args.note, authentication=how)
        else:
            done = store.reject_model(actor, args.model, note=args.note, authentication=how)
    print(f"model #{done.id} is now {done.status} (decided by {done.decided_by})")
    return EXIT_OK
