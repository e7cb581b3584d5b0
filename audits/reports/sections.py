"""Report sections built from stored tables: model bias, impact ratios, explanations.

Helpers of :mod:`audits.reports.report`; the human-oversight section is in
:mod:`audits.reports.oversight`. Every number is copied from a stored run; the impact
ratios are the one derived figure (a stored rate divided by the highest stored rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audits.reports.context import FOUR_FIFTHS, Context
from audits.store import AuditRunRecord

__all__ = ["bias_section", "block", "explanation_section", "group_label",
           "impact_ratio_section", "method_sentences", "metric_label", "more_sentence",
           "reference_mode",
           "reference_rule"]

#: Metrics of the per-group tables, in column order.
TABLE_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
#: NYC Local Law 144: categories below this share of the data may be left out of ratios.
LL144_MIN_SHARE = 0.02
EXPLAIN_KIND = "explanations"
TOP_DRIVERS = 3
METRIC_LABELS = {
    "selection_rate": "Selection rate", "true_positive_rate": "True-positive rate",
    "false_positive_rate": "False-positive rate", "precision": "Precision",
    "prevalence": "Prevalence", "false_negative_rate": "False-negative rate",
    "true_negative_rate": "True-negative rate",
    "negative_predictive_value": "Negative predictive value",
    "false_discovery_rate": "False-discovery rate", "false_omission_rate": "False-omission rate",
    "accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "roc_auc": "ROC AUC",
}


def block(type_: str, **content: Any) -> dict[str, Any]:
    """Return one body block: ``{"type": type_, **content}``.

    Examples
    --------
    >>> block("paragraph", text="Hello")
    {'type': 'paragraph', 'text': 'Hello'}
    """
    return {"type": type_, **content}


def group_label(attributes: Mapping[str, Any]) -> str:
    """Return a group's label, e.g. ``"race=Asian & sex=Male"``.

    Examples
    --------
    >>> group_label({"race": "Asian", "sex": "Male"})
    'race=Asian & sex=Male'
    """
    return " & ".join(f"{k}={v}" for k, v in attributes.items())


def metric_label(metric: str) -> str:
    """Return a metric's plain name.

    Examples
    --------
    >>> metric_label("false_positive_rate")
    'False-positive rate'
    """
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


def reference_mode(reference: Any) -> str:
    """Return how reference groups were chosen: largest, chosen or best-off group.

    Examples
    --------
    >>> reference_mode(None), reference_mode("best"), reference_mode({"sex": "Female"})
    ('largest group', 'best-off group', 'chosen group')
    """
    if isinstance(reference, Mapping) and reference:
        return "chosen group"
    return "best-off group" if reference == "best" else "largest group"


def reference_rule(reference: Any, features: Sequence[str]) -> str:
    """Return, in words, the reference group each group was compared with.

    Parameters
    ----------
    reference : "largest", "best", mapping feature -> value, or None
        The audit's stored ``reference`` option (None and "largest" are the default).
    features : sequence of str
        The audited sensitive features, for a mapping that names only some of them.

    Examples
    --------
    >>> reference_rule({"group": "B"}, ["group"])
    "the reference group group=B, chosen in the audit's configuration"
    >>> reference_rule({"group": "B"}, ["group", "age"])  # doctest: +NORMALIZE_WHITESPACE
    "the reference group group=B, chosen in the audit's configuration; in an
    intersection, the largest group with that value; for age, which has no chosen
    reference, the largest group of its slice"
    >>> reference_rule("best", ["sex"])
    'the best-off group of its slice, chosen for each metric'
    """
    mode = reference_mode(reference)
    if mode == "best-off group":
        return "the best-off group of its slice, chosen for each metric"
    if mode == "largest group":
        return "the largest group of its slice"
    chosen = dict(reference)
    text = (f"the reference group {group_label(chosen)}, chosen in the audit's "
            "configuration")
    others = [f for f in features if f not in chosen]
    if others:
        text += (f"; in an intersection, the largest group with "
                 f"{'that value' if len(chosen) == 1 else 'those values'}; for "
                 f"{', '.join(others)}, which {'has' if len(others) == 1 else 'have'} no "
                 f"chosen reference, the largest group of its slice")
    return text


def method_sentences(ctx: Context) -> list[str]:
    """Return the sentences that state how groups were compared and judged.

    A list, so that other statements of method (an adjustment for multiplicity, say)
    can be added as sentences of their own; the findings join them after the headline.
    """
    cfg = ctx.audit_config
    return [f"Each group is compared with "
            f"{reference_rule(cfg.get('reference'), ctx.sensitive_features)}.",
            f"Intervals are {ctx.level_pct}% bootstrap intervals."]


def more_sentence(n_more: int, kind: str, metric: str) -> str:
    """Return the line that stands for comparisons not stated one by one.

    It says how many there are and where each is listed, so no comparison is dropped
    silently.

    Examples
    --------
    >>> more_sentence(16, "failing", "selection_rate")  # doctest: +NORMALIZE_WHITESPACE
    'And 16 more failing comparisons: each is listed in the table "Disparities: selection
    rate ratio to the reference" (Model bias section).'
    """
    noun = "comparison" if n_more == 1 else "comparisons"
    return (f"And {n_more} more {kind} {noun}: each is listed in the table "
            f"\"{_disparity_caption(metric)}\" (Model bias section).")


def _disparity_caption(metric: str) -> str:
    return f"Disparities: {metric_label(metric).lower()} ratio to the reference"


def bias_section(ctx: Context) -> dict[str, Any]:
    """Return the model-bias section: per-group tables, forest charts, disparity tables."""
    blocks: list[dict[str, Any]] = [block(
        "paragraph", text=f"Per-group rates with {ctx.level_pct}% intervals, for each "
        "sensitive feature and each intersection; then each group's ratio to its "
        "reference group with the adjusted p-value and the verdict. The intervals shown "
        "are per comparison; verdicts read simultaneous intervals over every comparison "
        "the audit judges (see Method).")]
    for columns in ctx.audit_config.get("slices", []):
        blocks.append(_group_table(ctx, columns))
        if len(columns) == 1:
            blocks.append(_forest(ctx, columns[0]))
    disparities = ctx.results.get("disparities", [])
    for metric in TABLE_METRICS:
        rows = [{"group": group_label(d["attributes"]), "reference": group_label(d["reference"]),
                 "n": ctx.group_n(d["attributes"]), "ratio": d.get("ratio"),
                 "p_adjusted": d.get("p_adjusted"),
                 "verdict": (d.get("verdict") or "not tested").replace("_", " ")}
                for d in disparities if d["metric"] == metric]
        if rows:
            blocks.append(block(
                "table", id=f"disparities:{metric}",
                caption=_disparity_caption(metric),
                columns=[_col("group", "Group"), _col("n", "n", "int"),
                         _col("reference", "Reference"), _col("ratio", "Ratio [CI]", "ci"),
                         _col("p_adjusted", "Adjusted p", "p"), _col("verdict", "Verdict")],
                rows=rows))
    return {"key": "bias", "title": "Model bias", "blocks": blocks}


def _group_table(ctx: Context, columns: Sequence[str]) -> dict[str, Any]:
    rows = []
    for g in ctx.slice_groups(columns):
        row: dict[str, Any] = {"group": group_label(g["attributes"]), "n": int(g["n"])}
        for metric in TABLE_METRICS:
            row[metric] = g["metrics"].get(metric)
        rows.append(row)
    name = " x ".join(columns)
    return block("table", id=f"groups:{'+'.join(columns)}",
                 caption=f"{name}: rates per group [{ctx.level_pct}% CI]",
                 columns=[_col("group", "Group"), _col("n", "n", "int"),
                          *(_col(m, metric_label(m), "ci") for m in TABLE_METRICS)],
                 rows=rows)


def _forest(ctx: Context, column: str) -> dict[str, Any]:
    points = [{"group": group_label(d["attributes"]), "metric": metric_label(d["metric"]),
               **{k: (d.get("ratio") or {}).get(k) for k in ("value", "ci_low", "ci_high")},
               "verdict": d.get("verdict")}
              for d in ctx.results.get("disparities", [])
              if d["metric"] in TABLE_METRICS and list(d["attributes"]) == [column]]
    bounds = next(([r.get("low"), r.get("high")] for r in ctx.audit_config.get("rules", [])),
                  [ctx.tau, 1 / ctx.tau])
    reference = next((group_label(d["reference"]) for d in ctx.results.get("disparities", [])
                      if list(d["attributes"]) == [column]), "")
    return block("chart", id=f"forest:{column}", chart="forest", points=points, band=bounds,
                 caption=f"{column}: ratio to {reference} with {ctx.level_pct}% intervals; "
                 f"the shaded band is the rule {bounds}")


def impact_ratio_section(ctx: Context) -> dict[str, Any]:
    """Return the NYC Local Law 144 impact-ratio tables (single features, intersection)."""
    rate_kind = ("selection rate (share receiving the positive decision)" if ctx.favourable
                 else "rate of the favourable outcome, 1 - selection rate, since a positive "
                 "decision is adverse here")
    blocks = [block("paragraph", text=(
        f"Each category's {rate_kind}, and its impact ratio: that rate divided by the "
        "highest rate among the categories reported. Categories with under "
        f"{LL144_MIN_SHARE:.0%} of the audited rows are reported but excluded from the "
        "impact ratios, as Local Law 144 permits. An impact ratio below 0.8 is flagged "
        "(four-fifths rule). Rates are the stored point estimates."))]
    features = ctx.sensitive_features
    slices = [[f] for f in features] + ([features] if len(features) > 1 else [])
    for columns in slices:
        blocks.append(_ll144_table(ctx, columns))
    return {"key": "impact_ratios", "title": "Impact ratios (NYC Local Law 144 format)",
            "blocks": blocks}


def _ll144_table(ctx: Context, columns: Sequence[str]) -> dict[str, Any]:
    total = int(ctx.results.get("rows") or 0) or 1
    rows: list[dict[str, Any]] = []
    for g in ctx.slice_groups(columns):
        value = (g["metrics"].get("selection_rate") or {}).get("value")
        rate = None if value is None else (value if ctx.favourable else 1.0 - value)
        share = int(g["n"]) / total
        rows.append({"category": group_label(g["attributes"]), "n": int(g["n"]),
                     "share": share, "rate": rate, "included": share >= LL144_MIN_SHARE})
    top = max((r["rate"] for r in rows if r["included"] and r["rate"] is not None),
              default=None)
    for r in rows:
        r["impact_ratio"], r["note"] = None, ""
        if not r["included"]:
            r["note"] = (f"excluded from the impact ratios: under {LL144_MIN_SHARE:.0%} of "
                         "the audited rows")
        elif top and r["rate"] is not None:
            r["impact_ratio"] = r["rate"] / top
            r["note"] = ("highest rate (reference)" if r["rate"] == top else
                         "below four-fifths (impact ratio < 0.8)"
                         if r["impact_ratio"] < FOUR_FIFTHS else "")
        r["flag"] = r["impact_ratio"] is not None and r["impact_ratio"] < FOUR_FIFTHS
    return block("table", id=f"ll144:{'+'.join(columns)}",
                 caption=f"Impact ratios by {' x '.join(columns)}",
                 columns=[_col("category", "Category"), _col("n", "n", "int"),
                          _col("share", "Share of rows", "pct"), _col("rate", "Rate", "rate"),
                          _col("impact_ratio", "Impact ratio", "rate"),
                          _col("note", "Note")], rows=rows)


def explanation_section(ctx: Context) -> dict[str, Any]:
    """Return the explanation findings of a stored run of the same data and model."""
    title = {"key": "explanations", "title": "Explanation findings"}
    run = _explanation_run(ctx)
    if run is None:
        text = ("No explanation run stored for this dataset and model." if ctx.model else
                "No explanation run stored: the audited decisions are logged decisions, "
                "with no model of fairpanel's to explain.")
        return {**title, "blocks": [block("paragraph", text=text)]}
    results = run.results or {}
    explainer = (results.get("explainer") or {}).get("explainer_kind", "SHAP")
    blocks = [block("paragraph", text=(
        f"From explanation run #{run.id} ({explainer}, config sha256 "
        f"{run.config.get('config_sha256')}): the features that contribute most to the "
        "gap in mean model output between each group and the reference group (gap "
        "decomposition of mean SHAP values; negative contributions lower the group's "
        "output relative to the reference)."))]
    rows = []
    for feature, part in (results.get("per_feature") or {}).items():
        rows += _drivers(ctx, feature, part.get("gaps") or {})
    blocks.append(block("table", id="drivers", caption="Top drivers of each gap",
                        columns=[_col("group", "Group"), _col("reference", "Reference"),
                                 _col("output_gap", "Output gap", "rate"),
                                 _col("drivers", "Top drivers (contribution)")], rows=rows))
    proxies = results.get("proxies") or {}
    blocks.append(block("table", id="proxies", caption="Likely proxies",
                        columns=[_col("sensitive_feature", "Sensitive feature"),
                                 _col("feature", "Feature"),
                                 _col("association", "Association", "rate"),
                                 _col("measure", "Measure"),
                                 _col("gap_share", "Gap share", "rate")],
                        rows=[r for r in _records(proxies.get("likely") or {})
                              if r.get("likely")]))
    blocks.append(block("paragraph", text=f"Rule: {proxies.get('rule', 'not stored')}."))
    return {**title, "blocks": blocks}


def _explanation_run(ctx: Context) -> AuditRunRecord | None:
    if ctx.model is None:
        return None
    found = [r for r in ctx.store.list_audit_runs()
             if r.status == "completed" and r.config.get("kind") == EXPLAIN_KIND
             and r.config.get("dataset_sha256") == ctx.run.config.get("dataset_sha256")
             and r.config.get("model_sha256") == ctx.run.config.get("model_sha256")]
    return max(found, key=lambda r: r.id) if found else None


def _drivers(ctx: Context, feature: str, gaps: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    reference = next((str(d["reference"][feature]) for d in ctx.results.get("disparities", [])
                      if list(d["attributes"]) == [feature]), None)
    table = _records(gaps)
    groups = sorted({str(r["group"]) for r in table if str(r["reference_group"]) == reference})
    out = []
    for group in groups:
        parts = [r for r in table if r["group"] == group and r["reference_group"] == reference]
        parts.sort(key=lambda r: -abs(float(r["contribution"] or 0.0)))
        out.append({"group": f"{feature}={group}", "reference": f"{feature}={reference}",
                    "output_gap": parts[0]["output_gap"] if parts else None,
                    "drivers": ", ".join(f"{r['feature']} ({float(r['contribution']):+.3f})"
                                         for r in parts[:TOP_DRIVERS]
                                         if r["contribution"] is not None)})
    return out


def _records(columns: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    return [{name: columns[name][i] for name in names} for i in range(n)]


def _col(key: str, label: str, fmt: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "format": fmt}
