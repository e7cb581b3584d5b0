"""Plotly figures built from what the engine stored (no statistics are computed here).

Each function takes plain records (a metrics mapping, the tidy ``group_counts`` rows an
audit run stores) and returns a :class:`plotly.graph_objects.Figure`; pages only
display them, so the figures can be tested without Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.formatting import LOWER_IS_BETTER, metric_items, metric_label

__all__ = ["CELL_LABELS", "group_counts_figure", "metrics_figure"]

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
