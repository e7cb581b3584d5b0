"""Tables and the figure of the retraining page (shaping only; the engine computed it all).

The paired comparison comes from :func:`audits.retrain.stored.retrain_from_panel` (stored
with the candidate model); the lineage is the candidate's stored list of reviewed labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from audits.store import ModelRecord

__all__ = ["DISPARITY_LABELS", "STATUS_TEXT", "comparison_figure", "comparison_table",
           "headline", "lineage_table", "version_label", "versions_table"]

DISPARITY_LABELS = {"accuracy": "Accuracy",
                    "selection_rate_difference": "Selection rate gap",
                    "true_positive_rate_difference": "True positive rate gap",
                    "false_positive_rate_difference": "False positive rate gap"}
STATUS_TEXT = {"deployed": "deployed", "candidate": "candidate, waiting for approval",
               "retired": "retired (replaced)", "rejected": "rejected"}
_BETTER, _WORSE, _UNCLEAR = "#009E73", "#D55E00", "#777777"


def version_label(m: ModelRecord) -> str:
    """Return a one-line label of a model version for a select box."""
    constraint = m.params.get("constraint")
    made = f"retrained from #{m.parent_id}" if m.parent_id else "original"
    extra = f", {str(constraint).replace('_', ' ')}" if constraint else ""
    return f"#{m.id} · {m.kind.replace('_', ' ')}{extra} · {made} · {STATUS_TEXT[m.status]}"


def versions_table(models: Sequence[ModelRecord]) -> pd.DataFrame:
    """Return one row per model version: status, parent, labels, hash, who decided.

    No accuracy column: a retrained version is evaluated on fewer held-out rows than its
    original (the rows it trained on are left out), so the two would not compare; the
    before/after comparison puts both models on the same rows.
    """
    return pd.DataFrame([{
        "Version": f"#{m.id}", "Status": STATUS_TEXT.get(m.status, m.status),
        "From": f"#{m.parent_id}" if m.parent_id else "",
        "Constraint": str(m.params.get("constraint") or "").replace("_", " "),
        "Reviewed labels": len(m.lineage),
        "Labels changed": sum(bool(e.get("changed")) for e in m.lineage),
        "sha256": m.sha256[:16], "Trained by": m.created_by,
        "Decided by": m.decided_by or ""} for m in models])


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Return the paired comparison with readable names and a verdict per row."""
    rows = []
    for r in comparison.itertuples(index=False):
        name = DISPARITY_LABELS.get(str(r.metric), str(r.metric))
        group = ("" if r.metric == "accuracy"
                 else f"{r.sensitive_feature}={r.group} vs {r.reference}")
        rows.append({"Measure": name, "Groups": group, "Before": r.before, "After": r.after,
                     "Change": r.difference, "95% CI low": r.ci_low, "95% CI high": r.ci_high,
                     "Reading": _reading(r.metric, r.before, r.after, r.ci_low, r.ci_high)})
    return pd.DataFrame(rows)


def headline(comparison: pd.DataFrame) -> list[str]:
    """Return plain sentences: accuracy, then each gap whose change interval excludes zero."""
    out = []
    for r in comparison.itertuples(index=False):
        if r.metric == "accuracy":
            out.append(f"Accuracy {r.before:.3f} -> {r.after:.3f} (change {r.difference:+.3f}, "
                       f"95% CI {r.ci_low:+.3f} to {r.ci_high:+.3f}).")
        elif r.ci_low > 0 or r.ci_high < 0:
            narrower = abs(r.after) < abs(r.before)
            out.append(f"{DISPARITY_LABELS[str(r.metric)]} of {r.sensitive_feature}={r.group} "
                       f"vs {r.reference}: {r.before:+.3f} -> {r.after:+.3f} "
                       f"({'narrower' if narrower else 'wider'}; change {r.difference:+.3f}, "
                       f"95% CI {r.ci_low:+.3f} to {r.ci_high:+.3f}).")
    if len(out) == 1:
        out.append("No gap between groups changed by more than resampling noise explains.")
    return out


def comparison_figure(comparison: pd.DataFrame) -> go.Figure:
    """Return the change of each measure with its 95% interval (green: closer to parity).

    Measures undefined for either model (a group with no negatives has no false positive
    rate) are left out; the table lists them.
    """
    rows = comparison.dropna(subset=["difference", "ci_low", "ci_high"]).iloc[::-1]
    labels = [DISPARITY_LABELS.get(str(m), str(m)) + ("" if m == "accuracy" else
              f" · {f}={g}") for m, f, g in zip(rows["metric"], rows["sensitive_feature"],
                                                 rows["group"], strict=True)]
    colours = [_colour(r.metric, r.before, r.after, r.ci_low, r.ci_high)
               for r in rows.itertuples(index=False)]
    fig = go.Figure(go.Scatter(
        x=rows["difference"], y=labels, mode="markers",
        marker={"size": 10, "color": colours},
        error_x={"type": "data", "symmetric": False,
                 "array": rows["ci_high"] - rows["difference"],
                 "arrayminus": rows["difference"] - rows["ci_low"], "color": "#555555"},
        hovertemplate="%{y}: change %{x:+.3f}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#444444")
    fig.update_layout(
        title="Change from the old to the new model (after - before), 95% paired bootstrap CI",
        xaxis_title="change", height=140 + 34 * len(rows), margin={"l": 10, "r": 10, "t": 50},
        showlegend=False)
    return fig


def lineage_table(lineage: Sequence[dict[str, object]]) -> pd.DataFrame:
    """Return one row per reviewed label: case, row, recorded and new label, rule, reviewers."""
    return pd.DataFrame([{
        "Case": e["case_id"], "Held-out row": e["held_out_row"],
        "Dataset row": e["dataset_row"], "Recorded label": e["recorded_label"],
        "Panel label": e["label"], "Changed": bool(e["changed"]),
        "Rule": str(e["source"]).replace("_", "-"), "Confidence": e["confidence"],
        "Reviewers": e["n_ratings"]} for e in lineage])


def _reading(metric: object, before: float, after: float, low: float, high: float) -> str:
    if any(v != v for v in (before, after, low, high)):  # NaN: undefined for a group
        return "undefined (a group has no such cases)"
    if low <= 0 <= high:
        return "no clear change"
    if metric == "accuracy":
        return "more accurate" if low > 0 else "less accurate"
    return "closer to parity" if abs(after) < abs(before) else "further from parity"


def _colour(metric: object, before: float, after: float, low: float, high: float) -> str:
    reading = _reading(metric, before, after, low, high)
    if reading == "no clear change":
        return _UNCLEAR
    return _BETTER if reading in ("more accurate", "closer to parity") else _WORSE
