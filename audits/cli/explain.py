"""``fairpanel explain AUDIT_ID``: the stored explanations of an audit's decisions.

Runs (or reuses) :func:`audits.explain.stored.run_explanations` on the data and model of a
stored fairness audit run and prints, per sensitive feature and group, the features with
the largest mean |SHAP| (with intervals), the decomposition of the output gap between
groups, the likely proxies and the counterfactual flip rates. ``--json`` writes the
contract documented in docs/json-contracts.md: tidy lists of records, one per row.
A system audited on its logged decisions has no model to explain: exit 2, saying so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audits.cli.common import EXIT_OK, ProgressBar, open_store
from audits.cli.signoff import acting_user, add_acting_options

if TYPE_CHECKING:
    from audits.store import AuditRunRecord, DatasetRecord, ModelRecord

__all__ = ["add_explain_parser", "explanation_json"]

MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_NOT_FAIRNESS = (
    "audit run {id} is a {kind!r} run; give the id of a fairness audit run "
    "(fairpanel audit --system NAME --save prints it)"
)
MSG_NEEDS_MODEL = (
    "explanations need a model: audit run {id} ({what}) audited logged decisions, with no "
    "model to explain; register the system with --model PATH.skops (fairpanel systems add "
    "NAME ... --model PATH.skops) and audit it again"
)
MSG_ROWS = "--rows must be a whole number from 10 to 1,000,000; got {value}"
#: Largest per-group rows explained by default (:func:`run_explanations`'s default).
DEFAULT_ROWS = 5000
#: Features listed per group in the printed summary.
SHOWN_FEATURES = 5


def add_explain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``explain`` on the top-level subparsers."""
    p = sub.add_parser(
        "explain", help="SHAP per group, gaps, proxies, counterfactuals of an audit",
        description="Explain the decisions of stored fairness audit AUDIT_ID with its "
                    "model: per-group mean |SHAP| with bootstrap intervals, the "
                    "decomposition of the output gap between groups, likely proxies and "
                    "counterfactual flip rates. Computed once and stored; the same request "
                    "again reuses it.")
    p.add_argument("audit", type=int, metavar="AUDIT_ID")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, metavar="N",
                   help=f"at most N rows per group explained with SHAP ({DEFAULT_ROWS}); "
                        "more rows give narrower intervals and take longer")
    p.add_argument("--json", metavar="PATH|-", help="write the JSON result ('-' for stdout)")
    add_acting_options(p, who="a data scientist or admin")
    p.set_defaults(func=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from audits.explain.stored import run_explanations

    if not 10 <= args.rows <= 1_000_000:
        raise ValueError(MSG_ROWS.format(value=args.rows))
    with open_store() as store:
        actor = acting_user(store, args)
        audit = store.get_audit_run(args.audit)
        if audit is None:
            raise LookupError(MSG_UNKNOWN_RUN.format(id=args.audit))
        kind = (audit.config or {}).get("kind")
        if kind != "fairness":
            raise ValueError(MSG_NOT_FAIRNESS.format(id=args.audit, kind=kind))
        dataset = store.get_dataset(audit.dataset_id)
        if dataset is None:
            raise LookupError(f"the dataset of audit run {args.audit} is gone")
        model = store.get_model(audit.model_id) if audit.model_id is not None else None
        if model is None:
            raise ValueError(MSG_NEEDS_MODEL.format(id=args.audit, what=_what(dataset)))
        run = run_explanations(
            store, actor, dataset, model,
            sensitive_features=(audit.config or {}).get("sensitive_features"),
            min_rows_per_group=min(200, args.rows), max_rows_per_group=args.rows,
            progress=ProgressBar(sys.stderr))
    result = explanation_json(audit, run, dataset, model)
    payload = json.dumps(result, indent=2, allow_nan=False)
    if args.json == "-":
        print(payload)
        return EXIT_OK
    if args.json:
        Path(args.json).write_text(payload + "\n")
    print(_text(result))
    return EXIT_OK


def explanation_json(audit: AuditRunRecord, run: AuditRunRecord, dataset: DatasetRecord,
                     model: ModelRecord) -> dict[str, Any]:
    """Return the JSON contract of ``fairpanel explain``: tidy records, one per row.

    ``importances``: ``sensitive_feature, group, feature, mean_abs_shap, ci_low, ci_high,
    mean_shap, n_rows``; ``groups``: ``sensitive_feature, group, n_rows, n_group,
    mean_output, half_width``; ``gaps``: ``sensitive_feature, group, reference_group,
    feature, mean_shap_group, mean_shap_reference, contribution, output_gap``;
    ``proxies``: the likely proxies, ``sensitive_feature, rank, feature, measure,
    association, attribution_gap, gap_share``; ``counterfactual``:
    ``sensitive_feature, group, counterfactual_group, changed, n_rows, n_flips,
    flip_rate, n_to_positive, n_to_negative, with_proxies``.
    """
    results = run.results or {}
    per_feature: dict[str, Any] = results.get("per_feature", {})
    importances, groups, gaps, flips, notes = [], [], [], [], {}
    for column, part in per_feature.items():
        importances += _records(part["importances"])
        groups += _records(part["groups"])
        gaps += [{"sensitive_feature": column, **r} for r in _records(part["gaps"])]
        for with_proxies, key in ((False, "counterfactual"), (True, "counterfactual_proxies")):
            found = part.get(key)
            if found:
                flips += [{**r, "sensitive_feature": column, "with_proxies": with_proxies}
                          for r in _records(found["table"])]
        cf = part.get("counterfactual") or {}
        notes[column] = {"sensitive_is_input": cf.get("sensitive_is_input"),
                         "message": cf.get("message")}
    proxies = results.get("proxies", {})
    config = run.config or {}
    return {
        "audit_run_id": audit.id, "explanation_run_id": run.id,
        "rows": results.get("rows"), "threshold": results.get("threshold"),
        "positive_label": results.get("positive_label"),
        "sensitive_features": list(results.get("sensitive_features", [])),
        "importances": importances, "groups": groups, "gaps": gaps,
        "proxies": _records(proxies.get("likely", {})), "proxy_rule": proxies.get("rule"),
        "counterfactual": flips, "counterfactual_notes": notes,
        "provenance": {"dataset_id": dataset.id, "dataset_sha256": dataset.sha256,
                       "model_id": model.id, "model_sha256": model.sha256,
                       "config_sha256": config.get("config_sha256"),
                       "decisions": config.get("decisions"),
                       "explainer": results.get("explainer"),
                       "library_versions": config.get("library_versions"),
                       "created_at": run.created_at.isoformat()},
    }


def _records(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Column-wise lists (as stored) to one dict per row."""
    names = list(columns)
    if not names:
        return []
    return [dict(zip(names, values, strict=True))
            for values in zip(*(columns[n] for n in names), strict=True)]


def _text(result: dict[str, Any]) -> str:
    lines = [f"explanations of audit run {result['audit_run_id']} (stored as run "
             f"{result['explanation_run_id']}): {result['rows']} decisions, model "
             f"#{result['provenance']['model_id']}"]
    for column in result["sensitive_features"]:
        lines.append(f"\n{column}: largest mean |SHAP| per group (95% interval)")
        for group in [g for g in result["groups"] if g["sensitive_feature"] == column]:
            top = sorted((r for r in result["importances"]
                          if r["sensitive_feature"] == column and r["group"] == group["group"]),
                         key=lambda r: -(r["mean_abs_shap"] or 0))[:SHOWN_FEATURES]
            shown = ", ".join(f"{r['feature']} {_num(r['mean_abs_shap'])} "
                              f"[{_num(r['ci_low'])}, {_num(r['ci_high'])}]" for r in top)
            lines.append(f"  {group['group']} ({group['n_rows']} rows): {shown}")
        flips = [r for r in result["counterfactual"]
                 if r["sensitive_feature"] == column and not r["with_proxies"]]
        for r in flips:
            lines.append(f"  counterfactual {r['group']} -> {r['counterfactual_group']}: "
                         f"{_num(r['flip_rate'])} of {r['n_rows']} decisions flip")
        note = result["counterfactual_notes"].get(column, {}).get("message")
        if note:
            lines.append(f"  note: {note}")
        likely = [r["feature"] for r in result["proxies"] if r["sensitive_feature"] == column]
        lines.append(f"  likely proxies: {', '.join(map(str, likely)) or 'none found'}")
    return "\n".join(lines)


def _what(dataset: DatasetRecord) -> str:
    version = getattr(dataset, "version", None)
    return f"system {dataset.name!r}" + (f" version {version}" if version else "")


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
