"""The report's human-oversight section: the panel, what it reviewed, how it agreed.

Reads the stored queue, the panel's aggregates and the stored ratings; the agreement and
human-bias statistics come from :func:`audits.raters.stored.analyse_panel` (a fixed
seed, so the same ratings give the same section). Reviewer groups under five people are
suppressed by the store and never shown.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from audits.raters.stored import PanelAnalysis
from audits.reports.context import Context

__all__ = ["oversight_section"]

def oversight_section(ctx: Context) -> dict[str, Any]:
    """Return the human-oversight section of a report."""
    panel = ctx.panel
    blocks: list[dict[str, Any]] = []
    if not panel.ratings:
        blocks.append(_para("No reviews yet: no stored rating for this audit's cases."))
    elif panel.simulated_share > 0:
        blocks.append(_para(
            f"Simulated: {panel.simulated_share:.0%} of the {len(panel.ratings)} stored "
            "ratings come from the simulated demo panel, not from human reviewers. The "
            "figures below show what the report states for a real panel; they are not "
            "evidence of human oversight."))
    blocks += _queue_blocks(ctx)
    blocks.append(_composition(ctx))
    if panel.ratings:
        blocks.append(_override_table(ctx))
    analysis = panel.analysis
    if analysis is None:
        if panel.ratings:
            blocks.append(_para(f"Agreement and human-bias statistics not computed: "
                                f"{panel.note}."))
        return {"key": "oversight", "title": "Human oversight", "blocks": blocks}
    blocks += _analysis_blocks(analysis)
    return {"key": "oversight", "title": "Human oversight", "blocks": blocks}


def _queue_blocks(ctx: Context) -> list[dict[str, Any]]:
    stored = ctx.store.get_flag_policy(ctx.run.id)
    progress = ctx.panel.progress
    facts = [[k.replace("_", " ").capitalize(), str(v)] for k, v in progress.items()]
    if stored is None:
        return [_para("No review queue stored for this audit."),
                {"type": "facts", "rows": facts}]
    selected = dict((stored.get("summary") or {}).get("selected_by_reason", {}))
    statuses = Counter((c.primary_reason, c.status) for c in ctx.store.list_cases(ctx.run.id))
    reasons = sorted(set(selected) | {reason for reason, _ in statuses})
    rows = [{"reason": r.replace("_", " "), "selected": int(selected.get(r, 0)),
             **{s: statuses.get((r, s), 0) for s in ("closed", "disputed", "in_review",
                                                      "queued")}}
            for r in reasons]
    table = {"type": "table", "id": "cases_by_reason",
             "caption": "Cases reviewed, by the reason they were flagged",
             "columns": [_col("reason", "Reason"), _col("selected", "Selected", "int"),
                         _col("closed", "Closed", "int"), _col("disputed", "Disputed", "int"),
                         _col("in_review", "In review", "int"),
                         _col("queued", "Queued", "int")], "rows": rows}
    return [{"type": "facts", "rows": facts}, table]


def _composition(ctx: Context) -> dict[str, Any]:
    aggregates = ctx.store.background_aggregates(ctx.actor)
    rows = [{"attribute": attribute, "value": value,
             "reviewers": "fewer than 5 (suppressed)" if n is None else str(n)}
            for attribute, counts in aggregates.items() for value, n in counts.items()]
    return {"type": "table", "id": "panel_composition",
            "caption": "Panel composition (self-reported; groups under 5 suppressed)",
            "columns": [_col("attribute", "Attribute"), _col("value", "Value"),
                        _col("reviewers", "Reviewers")], "rows": rows}


def _override_table(ctx: Context) -> dict[str, Any]:
    features = ctx.sensitive_features
    counts: Counter[str] = Counter()
    overrides: Counter[str] = Counter()
    for r in ctx.panel.ratings:
        if r.get("model_decision") is None:
            continue
        group = _part(str(r["subject_group"]), features[0]) if features else "all"
        counts[group] += 1
        overrides[group] += int(r["label"]) != int(r["model_decision"])
    rows = [{"group": g, "ratings": counts[g], "overrides": overrides[g],
             "override_rate": overrides[g] / counts[g]} for g in sorted(counts)]
    return {"type": "table", "id": "override_rate",
            "caption": "Override rate by subject group (ratings whose label differs from "
                       "the model's decision)",
            "columns": [_col("group", "Subject group"), _col("ratings", "Ratings", "int"),
                        _col("overrides", "Overrides", "int"),
                        _col("override_rate", "Override rate", "pct")], "rows": rows}


def _analysis_blocks(a: PanelAnalysis) -> list[dict[str, Any]]:
    agreement = a.agreement.to_dict()
    rows = [{"statistic": label, "estimate": agreement[key]}
            for key, label in (("krippendorff_alpha", "Krippendorff's alpha"),
                               ("gwet_ac1", "Gwet's AC1"),
                               ("percent_agreement", "Percent agreement"))]
    out = [_para(f"{a.n_ratings} ratings of {a.n_cases} cases by {a.n_reviewers} reviewers."),
           {"type": "table", "id": "agreement", "caption": "Agreement between reviewers",
            "columns": [_col("statistic", "Statistic"), _col("estimate", "Estimate [CI]", "ci")],
            "rows": rows}]
    flagged = a.drf[a.drf["flagged"]] if "flagged" in a.drf.columns else a.drf.iloc[0:0]
    cells = "; ".join(f"{r.rater_group} reviewers on {r.subject_group} (effect "
                      f"{float(r.effect):+.2f}, adjusted p {float(r.p_adjusted):.3f})"
                      for r in flagged.itertuples())
    items = [f"{a.n_flagged_reviewers} reviewer(s) flagged as unusually severe or lenient.",
             f"Differential rater functioning by {a.attribute}: {len(flagged)} flagged "
             f"cell(s) of {len(a.drf)} tested" + (f": {cells}." if cells else ".")]
    if a.automation is not None:
        e = a.automation
        items.append(f"Automation bias: showing the model's decision changes agreement with "
                     f"it by {e.value:+.3f} [{e.ci_low:+.3f}, {e.ci_high:+.3f}] "
                     f"({e.agree_shown:.1%} shown vs {e.agree_hidden:.1%} hidden; "
                     f"{e.n_shown} shown, {e.n_hidden} hidden ratings).")
    else:
        items.append("Automation bias: not estimated (the model's decision was not both "
                     "shown and hidden).")
    out.append({"type": "list", "items": items})
    return out


def _part(label: str, attribute: str) -> str:
    return next((p for p in label.split(" & ") if p.startswith(f"{attribute}=")), label)


def _para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "text": text}


def _col(key: str, label: str, fmt: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "format": fmt}
