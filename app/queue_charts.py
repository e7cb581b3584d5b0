"""Plotly figures for the review-queue, deferral and monitoring pages (no statistics).

Each function takes a table the engine computed (a deferral curve, a monitoring
history) or one of :mod:`app.queue_tables`' shaped tables, and returns a
:class:`plotly.graph_objects.Figure`; pages only display them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.formatting import metric_label
from app.queue_tables import reason_label

__all__ = [
    "count_bar_figure",
    "deferral_accuracy_figure",
    "deferral_ratio_figure",
    "monitoring_figure",
    "reason_group_figure",
]

#: Colours of groups side by side (colour-blind safe, Okabe-Ito, then greys).
GROUP_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                 "#F0E442", "#000000", "#999999", "#666666")
_MODEL, _HUMAN, _BOUND, _ALERT = "#3b6ea5", "#009E73", "#444444", "#d62728"
_LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0.0}


def reason_group_figure(counts: pd.DataFrame) -> go.Figure:
    """Return a heatmap of queued cases: a row per subject group, a column per reason.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``reason, group, n`` in display order (:func:`app.queue_tables.reason_group_counts`).

    Examples
    --------
    >>> c = pd.DataFrame({"reason": ["gold", "gold"], "group": ["a", "b"], "n": [2, 1]})
    >>> reason_group_figure(c).data[0].z
    ([2.0], [1.0])
    """
    reasons = _categories(counts["reason"])
    groups = _categories(counts["group"])
    grid = counts.pivot_table(index="group", columns="reason", values="n", aggfunc="sum",
                              observed=True)
    grid = grid.reindex(index=groups, columns=reasons).astype(float)
    # Plain lists (not arrays): empty cells stay None and the figure's JSON stays readable.
    z = [[None if np.isnan(v) else float(v) for v in row] for row in grid.to_numpy()]
    text = [["" if v is None else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[reason_label(r) for r in reasons], y=groups, text=text,
        texttemplate="%{text}", colorscale="Blues", xgap=2, ygap=2,
        colorbar={"title": {"text": "cases"}, "thickness": 12},
        hovertemplate="%{y}<br>%{x}: %{z} cases<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(side="top")
    fig.update_layout(height=max(260, 110 + 30 * len(groups)),
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def count_bar_figure(table: pd.DataFrame, *, category: str, value: str, title: str,
                     colour: str = _MODEL) -> go.Figure:
    """Return vertical bars of ``value`` per ``category``, with the counts written on them.

    Examples
    --------
    >>> t = pd.DataFrame({"age": ["< 1 day", "1-7 days"], "cases": [3, 0]})
    >>> list(count_bar_figure(t, category="age", value="cases", title="Age").data[0].y)
    [3, 0]
    """
    fig = go.Figure(go.Bar(x=table[category].astype(str).tolist(), y=table[value].tolist(),
                           text=table[value].tolist(), textposition="auto",
                           marker_color=colour,
                           hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(title=value, rangemode="tozero")
    fig.update_layout(title=title, height=280, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def deferral_accuracy_figure(table: pd.DataFrame, *, human_value: float, human_low: float,
                             human_high: float, statement: str) -> go.Figure:
    """Return overall accuracy against the share of decisions deferred to people.

    The line is the expected accuracy, its shaded band the same curve with human
    accuracy at both ends of its range; the green band is human accuracy itself.
    ``statement`` (where human accuracy comes from) is the figure's subtitle.

    Examples
    --------
    >>> t = pd.DataFrame({"share_deferred": [0.0, 0.5], "quantity": ["accuracy"] * 2,
    ...     "value": [0.7, 0.8], "value_low": [0.7, 0.75], "value_high": [0.7, 0.85]})
    >>> fig = deferral_accuracy_figure(t, human_value=0.9, human_low=0.8, human_high=0.98,
    ...                                statement="Assumed.")
    >>> "Assumed." in fig.layout.title.text
    True
    """
    part = table[table["quantity"] == "accuracy"].sort_values("share_deferred")
    fig = go.Figure()
    _band(fig, part, colour=_MODEL, name="accuracy (human accuracy range)", group="model")
    fig.add_trace(go.Scatter(
        x=part["share_deferred"], y=part["value"], mode="lines+markers", name="accuracy",
        line={"color": _MODEL, "width": 2.5}, marker={"size": 5}, legendgroup="model",
        hovertemplate="%{x:.0%} deferred: accuracy %{y:.3f}<extra></extra>"))
    fig.add_hrect(y0=human_low, y1=human_high, fillcolor=_HUMAN, opacity=0.12, line_width=0)
    fig.add_hline(y=human_value, line={"color": _HUMAN, "dash": "dash", "width": 1.5},
                  annotation_text=f"human accuracy {human_value:.2f} "
                                  f"(range {human_low:.2f}-{human_high:.2f})",
                  annotation_position="top left", annotation_font_color=_HUMAN)
    fig.update_xaxes(title="share of decisions deferred to a person (least confident first)",
                     tickformat=".0%")
    fig.update_yaxes(title="expected accuracy")
    fig.update_layout(title=_titled("Overall accuracy as decisions are deferred", statement),
                      height=430, legend=_LEGEND_BELOW,
                      margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


def deferral_ratio_figure(table: pd.DataFrame, metric: str, *, tau: float,
                          statement: str) -> go.Figure:
    """Return each group's ratio of ``metric`` to its reference against the share deferred.

    One line per group (reference groups, whose ratio is 1 by definition, are left out),
    with the sensitivity band to human accuracy; dashed lines at the parity bounds
    ``tau`` and ``1/tau``. ``statement`` is the figure's subtitle.

    Examples
    --------
    >>> t = pd.DataFrame({"share_deferred": [0.0, 0.5] * 2, "quantity": ["selection_rate"] * 4,
    ...     "group": ["s=a", "s=a", "s=b", "s=b"], "reference": ["s=b"] * 4,
    ...     "ratio": [0.7, 0.9, np.nan, np.nan], "ratio_low": [0.7, 0.85, np.nan, np.nan],
    ...     "ratio_high": [0.7, 0.95, np.nan, np.nan]})
    >>> fig = deferral_ratio_figure(t, "selection_rate", tau=0.8, statement="Assumed.")
    >>> [d.name for d in fig.data if d.showlegend is not False]
    ['s=a vs s=b']
    """
    part = table[(table["quantity"] == metric) & table["ratio"].notna()]
    fig = go.Figure()
    for i, (group, rows) in enumerate(part.groupby("group", sort=False)):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        rows = rows.sort_values("share_deferred")
        name = f"{group} vs {rows['reference'].iloc[0]}"
        _band(fig, rows, colour=colour, name=name, group=str(group), low="ratio_low",
              high="ratio_high")
        fig.add_trace(go.Scatter(
            x=rows["share_deferred"], y=rows["ratio"], mode="lines", name=name,
            line={"color": colour, "width": 2}, legendgroup=str(group),
            hovertemplate=f"{name}<br>%{{x:.0%}} deferred: ratio %{{y:.3f}}<extra></extra>"))
    _parity_bounds(fig, tau)
    fig.update_xaxes(title="share of decisions deferred to a person (least confident first)",
                     tickformat=".0%")
    fig.update_yaxes(title=f"{metric_label(metric)} ratio to the reference group")
    fig.update_layout(title=_titled(f"{metric_label(metric)}: ratio to the reference group "
                                    "as decisions are deferred", statement),
                      height=480, legend=_LEGEND_BELOW,
                      margin={"l": 10, "r": 60, "t": 80, "b": 10})
    return fig


def monitoring_figure(history: pd.DataFrame, metric: str, *, tau: float,
                      labels: Sequence[str], alerts: pd.DataFrame | None = None,
                      groups: Sequence[str] | None = None, title: str | None = None,
                      ) -> go.Figure:
    """Return ``metric``'s ratio per group across the baseline and each batch.

    Parameters
    ----------
    history : pandas.DataFrame
        A monitoring history (:func:`audits.monitoring.history.disparity_history` columns).
    metric : str
    tau : float
        The parity rule: dashed lines at ``tau`` and ``1/tau``.
    labels : sequence of str
        One x label per position, in order (:func:`app.queue_tables.position_labels`).
    alerts : pandas.DataFrame or None
        History rows where a disparity moved into fail, marked with red crosses.
    groups : sequence of str or None
        The groups drawn (default: every group of ``metric``).
    title : str or None

    Examples
    --------
    >>> h = pd.DataFrame({"position": [0, 1], "metric": ["selection_rate"] * 2,
    ...     "group": ["s=a"] * 2, "reference": ["s=b"] * 2, "ratio": [0.9, 0.7],
    ...     "ratio_low": [0.85, 0.6], "ratio_high": [0.95, 0.75],
    ...     "verdict": ["pass", "fail"], "batch_id": [None, 1]})
    >>> fig = monitoring_figure(h, "selection_rate", tau=0.8, labels=["baseline", "w1"],
    ...                         alerts=h.iloc[[1]])
    >>> [d.name for d in fig.data], list(fig.data[1].x)
    (['s=a vs s=b', 'new failure'], ['w1'])
    """
    part = history[history["metric"] == metric]
    if groups is not None:
        part = part[part["group"].isin(list(groups))]
    fig = go.Figure()
    for i, (group, rows) in enumerate(part.groupby("group", sort=False)):
        rows = rows.sort_values("position")
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        x = [labels[int(p)] for p in rows["position"]]
        ratio = rows["ratio"].to_numpy(dtype=float)
        fig.add_trace(go.Scatter(
            x=x, y=ratio, mode="lines+markers", name=f"{group} vs {rows['reference'].iloc[-1]}",
            line={"color": colour, "width": 2}, marker={"size": 7},
            error_y={"type": "data", "array": np.nan_to_num(rows["ratio_high"] - ratio),
                     "arrayminus": np.nan_to_num(ratio - rows["ratio_low"]), "width": 4,
                     "thickness": 1.2, "color": colour},
            customdata=np.column_stack([rows["reference"].astype(str),
                                        rows["verdict"].astype(str).str.replace("_", " ")]),
            hovertemplate=(f"{group} vs %{{customdata[0]}}<br>%{{x}}: ratio %{{y:.3f}}"
                           "<br>%{customdata[1]}<extra></extra>")))
    if alerts is not None:
        hit = alerts[(alerts["metric"] == metric) & alerts["group"].isin(part["group"])]
        if len(hit):
            fig.add_trace(go.Scatter(
                x=[labels[int(p)] for p in hit["position"]], y=hit["ratio"], mode="markers",
                name="new failure", marker={"symbol": "x", "size": 15, "color": _ALERT,
                                            "line": {"width": 1, "color": "white"}},
                customdata=hit["group"].astype(str),
                hovertemplate="%{customdata} now fails at %{x}<extra></extra>"))
    _parity_bounds(fig, tau)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(labels))
    fig.update_yaxes(title=f"{metric_label(metric)} ratio to the reference group")
    fig.update_layout(title=title or f"{metric_label(metric)}: ratio to the reference group",
                      height=480, legend=_LEGEND_BELOW,
                      margin={"l": 10, "r": 60, "t": 60, "b": 10})
    return fig


def _categories(column: pd.Series) -> list[str]:
    """The display order of a column: its categories if categorical, else first seen."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [str(c) for c in column.cat.categories]
    return [str(c) for c in dict.fromkeys(column)]


def _band(fig: go.Figure, rows: pd.DataFrame, *, colour: str, name: str, group: str,
          low: str = "value_low", high: str = "value_high") -> None:
    """A shaded band between the columns ``low`` and ``high`` (no legend entry)."""
    x = rows["share_deferred"].tolist()
    fig.add_trace(go.Scatter(
        x=[*x, *x[::-1]], y=[*rows[high].tolist(), *rows[low].tolist()[::-1]],
        fill="toself", fillcolor=colour, opacity=0.15, line={"width": 0}, name=name,
        legendgroup=group, showlegend=False, hoverinfo="skip"))


def _parity_bounds(fig: go.Figure, tau: float) -> None:
    """Dashed lines at ``tau`` and ``1/tau``, labelled in the right margin (clear of data)."""
    for y, text in ((tau, f"tau<br>{tau:g}"), (1.0 / tau, f"1/tau<br>{1.0 / tau:.3g}")):
        fig.add_hline(y=y, line={"color": _BOUND, "dash": "dash", "width": 1.2})
        fig.add_annotation(x=1.0, xref="paper", xanchor="left", y=y, yref="y",
                           text=text, showarrow=False, align="left",
                           font={"color": _BOUND, "size": 11})
    fig.add_hline(y=1.0, line={"color": "#bdbdbd", "dash": "dot", "width": 1})


def _titled(title: str, statement: str) -> dict[str, object]:
    """A title with ``statement`` as its subtitle line (kept in the figure itself)."""
    return {"text": f"{title}<br><span style='font-size:13px;color:#555555'>"
                    f"{statement}</span>", "x": 0.0, "xanchor": "left"}
