"""Plotly figures built from what the engine stored (no statistics are computed here).

Each function takes plain records (a metrics mapping, the tidy ``group_counts`` rows an
audit run stores, a fairness run's ``results``) and returns a
:class:`plotly.graph_objects.Figure`, or a display table; pages only display them, so
figures and tables can be tested without Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.fairness_tables import (
    NOT_JUDGED,
    REFERENCE_COLOUR,
    VERDICT_COLOURS,
    VERDICT_LABELS,
    fairness_groups,
    fairness_slices,
    interval_text,
    nearest_threshold,
    none_if_nan,
)
from app.formatting import LOWER_IS_BETTER, metric_items, metric_label

__all__ = [
    "CELL_LABELS",
    "case_waterfall_figure",
    "fairness_metric_figure",
    "gap_decomposition_figure",
    "group_importance_figure",
    "group_counts_figure",
    "metrics_figure",
    "threshold_figure",
]

#: The confusion cells of ``group_counts`` and how the legend names them.
CELL_LABELS: dict[str, str] = {
    "tp": "true positive",
    "fp": "false positive",
    "fn": "false negative",
    "tn": "true negative",
}
# Correct decisions in cool colours, errors in warm ones.
_CELL_COLOURS = {"tp": "#1a9850", "fp": "#d73027", "fn": "#fc8d59", "tn": "#4575b4"}
_HEIGHT = 340


def metrics_figure(metrics: Mapping[str, Any], *, title: str = "Held-out metrics") -> go.Figure:
    """Return a horizontal bar chart of the metrics in ``metrics`` that lie in [0, 1].

    Parameters
    ----------
    metrics : mapping of str to number
        E.g. a model's held-out metrics (``{"accuracy": 0.86, ...}``). Counts (integers),
        undefined values (NaN) and values outside [0, 1] (log loss can be) are left
        out, so every bar shares one 0-1 axis; losses are drawn in a second colour.
    title : str, default "Held-out metrics"

    Examples
    --------
    >>> metrics_figure({"accuracy": 0.8, "roc_auc": 0.9}).data[0].x
    (0.8, 0.9)
    """
    items = [(k, v) for k, v in metric_items(metrics)
             if not isinstance(metrics[k], int) and 0.0 <= v <= 1.0]
    names = [metric_label(k) for k, _ in items]
    values = [v for _, v in items]
    colours = ["#b2182b" if k in LOWER_IS_BETTER else "#3b6ea5" for k, _ in items]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", text=[f"{v:.3f}" for v in values],
                           textposition="auto", marker_color=colours,
                           hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=max(_HEIGHT // 2, 60 + 40 * len(items)),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def group_counts_figure(
    records: Sequence[Mapping[str, Any]],
    *,
    title: str = "Audited decisions per group (confusion counts)",
) -> go.Figure:
    """Return stacked horizontal bars of confusion counts per group, a panel per feature.

    Parameters
    ----------
    records : sequence of mappings
        Rows with ``feature``, ``group``, ``n``, ``tp``, ``fp``, ``fn``, ``tn`` (the
        ``group_counts`` table an audit run stores). A bar's length is the group's size;
        every feature partitions the same decisions, so the panels share one axis.
    title : str, default "Audited decisions per group (confusion counts)"

    Examples
    --------
    >>> rows = [{"feature": "sex", "group": "f", "n": 3, "tp": 1, "fp": 0, "fn": 1, "tn": 1}]
    >>> len(group_counts_figure(rows).data)
    4
    """
    features = list(dict.fromkeys(str(r["feature"]) for r in records))
    sizes = [sum(1 for r in records if str(r["feature"]) == f) for f in features] or [1]
    fig = make_subplots(rows=len(sizes), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[n / sum(sizes) for n in sizes],
                        subplot_titles=features or None)
    for row, feature in enumerate(features, start=1):
        rows = [r for r in records if str(r["feature"]) == feature]
        groups = [str(r["group"]) for r in rows]
        for cell, label in CELL_LABELS.items():
            fig.add_trace(
                go.Bar(y=groups, x=[int(r[cell]) for r in rows], name=label, orientation="h",
                       marker_color=_CELL_COLOURS[cell], legendgroup=cell,
                       showlegend=row == 1, customdata=[int(r["n"]) for r in rows],
                       hovertemplate=(f"{feature}=%{{y}}<br>{label}: %{{x}}"
                                      "<br>group size: %{customdata}<extra></extra>")),
                row=row, col=1,
            )
        fig.update_yaxes(autorange="reversed", row=row, col=1)
    fig.update_layout(barmode="stack", title=title,
                      height=max(_HEIGHT, 110 + 34 * sum(sizes) + 40 * len(sizes)),
                      legend={"orientation": "h", "yanchor": "top", "y": -0.1,
                              "xanchor": "left", "x": 0.0},
                      margin={"l": 10, "r": 10, "t": 70, "b": 60})
    return fig


def fairness_metric_figure(
    results: Mapping[str, Any],
    metric: str,
    *,
    slices: Sequence[str] | None = None,
    title: bool = True,
) -> go.Figure:
    """Return one metric per group with its interval, a panel per slice.

    Points are coloured by the verdict of the group's disparity (pass green, fail red,
    insufficient evidence grey); the reference group is a blue diamond with a dotted
    line at its value. Groups keep the audit's order within each panel.

    Parameters
    ----------
    results : mapping
        A fairness run's results.
    metric : str
        A metric name of the run (``"selection_rate"`` ...).
    slices : sequence of str or None, default None
        Slice labels to draw (default: every slice).
    title : bool, default True
        Whether the figure names the metric (a page may name it itself).

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"], "slices": [["s"]], "min_n": 1},
    ...     "groups": [{"attributes": {"s": v}, "n": 10, "metrics": {"selection_rate":
    ...         {"value": x, "ci_low": x - 0.1, "ci_high": x + 0.1}}}
    ...         for v, x in (("a", 0.5), ("b", 0.3))],
    ...     "disparities": [{"metric": "selection_rate", "attributes": {"s": "b"},
    ...                      "reference": {"s": "a"}, "verdict": "fail"}]}
    >>> [t.name for t in fairness_metric_figure(results, "selection_rate").data]
    ['reference', 'fail']
    """
    frame = fairness_groups(results)
    frame = frame[frame["metric"] == metric]
    order = [s for s in fairness_slices(results) if slices is None or s in slices]
    order = [s for s in order if (frame["slice"] == s).any()] or order[:1]
    sizes = [max(int((frame["slice"] == s).sum()), 1) for s in order]
    fig = make_subplots(rows=len(order), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[n / sum(sizes) for n in sizes], subplot_titles=order)
    legend: set[str] = set()
    for row, label in enumerate(order, start=1):
        part = frame[frame["slice"] == label]
        for category, rows in _by_category(part):
            fig.add_trace(_interval_trace(rows, category, show=category not in legend),
                          row=row, col=1)
            legend.add(category)
        reference = part[part["reference"]]
        if len(reference) and not math.isnan(reference["value"].iloc[0]):
            fig.add_vline(x=float(reference["value"].iloc[0]), row=row, col=1,
                          line={"color": REFERENCE_COLOUR, "dash": "dot", "width": 1})
        fig.update_yaxes(type="category", categoryorder="array",
                         categoryarray=part["group"].tolist(), autorange="reversed",
                         row=row, col=1)
    # Slice names above each panel, left-aligned over the group labels.
    fig.update_annotations(x=0.0, xanchor="left", font={"size": 13, "color": "#444444"})
    finite = frame[["ci_low", "ci_high", "value"]].stack().dropna()
    if len(finite) and finite.between(0.0, 1.0).all():
        fig.update_xaxes(range=[-0.02, 1.02])
    top, bottom = (60 if title else 30), 60
    plot = 30 * sum(sizes) + 40 * len(order)
    fig.update_layout(title=metric_label(metric) if title else None,
                      height=top + plot + bottom,
                      # Below the x-axis tick labels, whatever the figure's height.
                      legend={"orientation": "h", "yanchor": "top", "y": -28 / plot,
                              "xanchor": "left", "x": 0.0},
                      margin={"l": 10, "r": 10, "t": top, "b": bottom})
    return fig


def threshold_figure(
    curves: pd.DataFrame,
    metric: str,
    *,
    slices: Sequence[str] | None = None,
    threshold: float | None = None,
) -> go.Figure:
    """Return ``metric`` against the decision threshold, a line per group.

    A dashed vertical line marks ``threshold`` (moved to the nearest tabulated one).

    Examples
    --------
    >>> curves = pd.DataFrame({"group_id": [0, 0], "slice": ["s", "s"],
    ...     "name": ["s=a", "s=a"], "threshold": [0.2, 0.6], "metric": ["precision"] * 2,
    ...     "value": [0.5, 0.7], "difference": [0.0, 0.0]})
    >>> threshold_figure(curves, "precision", threshold=0.5).data[0].name
    's=a'
    """
    part = curves[(curves["metric"] == metric) & np.isfinite(curves["threshold"])]
    if slices is not None:
        part = part[part["slice"].isin(list(slices))]
    fig = go.Figure()
    for name, rows in part.groupby("name", sort=False):
        fig.add_trace(go.Scatter(
            x=rows["threshold"], y=rows["value"], mode="lines", name=str(name),
            hovertemplate=(f"{name}<br>threshold %{{x:.3f}}<br>{metric_label(metric)} "
                           "%{y:.3f}<extra></extra>")))
    if threshold is not None and len(part):
        fig.add_vline(x=nearest_threshold(part, threshold),
                      line={"color": "#444444", "dash": "dash", "width": 1})
    fig.update_xaxes(title="decision threshold (score >= threshold is positive)")
    fig.update_yaxes(title=metric_label(metric))
    fig.update_layout(title=f"{metric_label(metric)} against the threshold", height=_HEIGHT + 80,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def _by_category(part: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    category = np.where(part["reference"], "reference", part["verdict"].fillna(NOT_JUDGED))
    order = ["reference", *VERDICT_LABELS, NOT_JUDGED]
    return [(c, part[category == c]) for c in order if (category == c).any()]


def _interval_trace(rows: pd.DataFrame, category: str, *, show: bool) -> go.Scatter:
    value = rows["value"].to_numpy()
    plus = np.nan_to_num(rows["ci_high"].to_numpy() - value)
    minus = np.nan_to_num(value - rows["ci_low"].to_numpy())
    is_ref = category == "reference"
    colour = REFERENCE_COLOUR if is_ref else VERDICT_COLOURS.get(category, "#bdbdbd")
    texts = [interval_text({"value": none_if_nan(v), "ci_low": none_if_nan(lo),
                            "ci_high": none_if_nan(hi)})
             for v, lo, hi in zip(value, rows["ci_low"], rows["ci_high"], strict=True)]
    return go.Scatter(
        x=value, y=rows["group"].to_numpy(), mode="markers", name=VERDICT_LABELS.get(
            category, category), legendgroup=category, showlegend=show,
        marker={"color": colour, "size": 11 if is_ref else 9,
                "symbol": "diamond" if is_ref else "circle"},
        error_x={"type": "data", "array": plus, "arrayminus": minus, "color": colour,
                 "thickness": 1.5, "width": 4},
        customdata=np.column_stack([rows["n"].to_numpy(), texts]),
        hovertemplate=("%{y}: %{customdata[1]}<br>n = %{customdata[0]}"
                       f"<br>{VERDICT_LABELS.get(category, category)}<extra></extra>"))


# -- explanations -----------------------------------------------------------------------

#: Colours of groups side by side (colour-blind safe, Okabe-Ito).
_GROUP_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                  "#F0E442", "#000000")
_UP, _DOWN, _TOTAL = "#d73027", "#4575b4", "#636363"


def group_importance_figure(
    importances: pd.DataFrame,
    *,
    features: Sequence[str],
    groups: Sequence[str] | None = None,
    scale: str = "log-odds",
) -> go.Figure:
    """Return mean |SHAP| per feature with its interval, the groups side by side.

    Parameters
    ----------
    importances : pandas.DataFrame
        A stored explanation run's per-group importances: ``group, feature,
        mean_abs_shap, ci_low, ci_high, n_rows``.
    features : sequence of str
        The features drawn, top to bottom.
    groups : sequence of str or None, default None
        The groups drawn, in legend order (default: the table's order).
    scale : str, default "log-odds"
        The scale of the contributions, for the axis title.

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "b"], "feature": ["x", "x"],
    ...     "mean_abs_shap": [0.2, 0.4], "ci_low": [0.1, 0.3], "ci_high": [0.3, 0.5],
    ...     "n_rows": [10, 12]})
    >>> [d.name for d in group_importance_figure(t, features=["x"]).data]
    ['a (n=10)', 'b (n=12)']
    """
    order = list(groups) if groups is not None else list(dict.fromkeys(importances["group"]))
    fig = go.Figure()
    for i, group in enumerate(order):
        part = importances[importances["group"] == group].set_index("feature")
        part = part.reindex([f for f in features if f in part.index])
        value = part["mean_abs_shap"].to_numpy(dtype=float)
        n = int(part["n_rows"].iloc[0]) if len(part) else 0
        fig.add_trace(go.Bar(
            x=value, y=part.index.tolist(), orientation="h", name=f"{group} (n={n})",
            marker_color=_GROUP_COLOURS[i % len(_GROUP_COLOURS)],
            error_x={"type": "data", "array": part["ci_high"].to_numpy(dtype=float) - value,
                     "arrayminus": value - part["ci_low"].to_numpy(dtype=float),
                     "color": "#333333", "thickness": 1.2, "width": 3},
            customdata=part[["ci_low", "ci_high"]].to_numpy(dtype=float),
            hovertemplate=(f"{group}<br>%{{y}}: %{{x:.3f}} "
                           "[%{customdata[0]:.3f}, %{customdata[1]:.3f}]<extra></extra>")))
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(features),
                     autorange="reversed")
    fig.update_xaxes(title=f"mean |SHAP| ({scale}), with interval", rangemode="tozero")
    height = 60 + len(features) * max(len(order), 1) * 14 + 20 * len(features)
    fig.update_layout(barmode="group", height=max(height, 260), bargap=0.25,
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0,
                              "xanchor": "left", "x": 0.0},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def gap_decomposition_figure(
    table: pd.DataFrame,
    output_gap: float,
    *,
    group: str,
    reference_group: str,
    top_n: int = 8,
    scale: str = "log-odds",
) -> go.Figure:
    """Return a waterfall of feature contributions that sums to the gap in mean output.

    The ``top_n`` largest contributions are drawn one by one (``table`` comes largest
    first); the rest are one ``(other features)`` step; the last bar is the output gap.

    Examples
    --------
    >>> t = pd.DataFrame({"feature": ["x", "y", "z"], "contribution": [0.5, -0.2, 0.1]})
    >>> fig = gap_decomposition_figure(t, 0.4, group="b", reference_group="a", top_n=2)
    >>> list(fig.data[0].x)
    ['x', 'y', '(other features)', 'output gap']
    """
    shown = table.head(top_n)
    labels = shown["feature"].astype(str).tolist()
    values = shown["contribution"].astype(float).tolist()
    if len(table) > top_n:
        labels.append("(other features)")
        values.append(float(table["contribution"].iloc[top_n:].astype(float).sum()))
    fig = go.Figure(go.Waterfall(
        x=[*labels, "output gap"], y=[*values, output_gap],
        measure=["relative"] * len(values) + ["total"],
        text=[f"{v:+.3f}" for v in [*values, output_gap]], textposition="outside",
        cliponaxis=False,
        increasing={"marker": {"color": _UP}}, decreasing={"marker": {"color": _DOWN}},
        totals={"marker": {"color": _TOTAL}}, connector={"line": {"color": "#bdbdbd"}},
        hovertemplate="%{x}: %{y:+.3f}<extra></extra>"))
    fig.add_hline(y=0.0, line={"color": "#444444", "width": 1})
    fig.update_yaxes(title=f"{group} minus {reference_group} ({scale})")
    fig.update_layout(height=_HEIGHT + 60, showlegend=False,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def case_waterfall_figure(
    waterfall: pd.DataFrame, base_value: float, output: float, *, scale: str = "log-odds"
) -> go.Figure:
    """Return one decision's waterfall: base value, top contributions, output.

    Examples
    --------
    >>> w = pd.DataFrame({"feature": ["x", "(other features)"], "value": ["3", ""],
    ...                   "contribution": [0.4, -0.1]})
    >>> list(case_waterfall_figure(w, -1.0, -0.7).data[0].measure)
    ['absolute', 'relative', 'relative', 'total']
    """
    labels = [f if v in ("", None) else f"{f} = {v}"
              for f, v in zip(waterfall["feature"], waterfall["value"], strict=True)]
    values = waterfall["contribution"].astype(float).tolist()
    fig = go.Figure(go.Waterfall(
        orientation="h", y=["base value", *labels, "output"],
        x=[base_value, *values, output],
        measure=["absolute", *["relative"] * len(values), "total"],
        text=[f"{v:+.3f}" for v in [base_value, *values, output]], textposition="outside",
        cliponaxis=False,
        increasing={"marker": {"color": _UP}}, decreasing={"marker": {"color": _DOWN}},
        totals={"marker": {"color": _TOTAL}}, connector={"line": {"color": "#bdbdbd"}},
        hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    ends = np.cumsum([base_value, *values])
    low, high = min(0.0, float(ends.min())), max(0.0, float(ends.max()))
    pad = 0.15 * (high - low or 1.0)  # room for the labels outside the bars
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title=f"model output ({scale})", range=[low - pad, high + pad])
    fig.update_layout(height=120 + 32 * (len(values) + 2), showlegend=False,
                      margin={"l": 10, "r": 40, "t": 20, "b": 10})
    return fig
