"""Plotly figures for the Agreement and Reviewer bias pages (no statistics are computed here).

Each function takes a table of :class:`audits.raters.stored.PanelAnalysis` (or one
shaped by :mod:`app.panel_tables`) and returns a :class:`plotly.graph_objects.Figure`;
pages only display them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.panel_tables import ALL_CASES, ALPHA_RELIABLE, ALPHA_TENTATIVE, STAT_LABELS, interval

__all__ = [
    "agreement_figure",
    "automation_figure",
    "drf_heatmap_figure",
    "in_vs_cross_figure",
    "kappa_heatmap_figure",
    "reviewer_forest_figure",
]

#: One colour per agreement statistic (Okabe-Ito).
STAT_COLOURS = {"krippendorff_alpha": "#0072B2", "fleiss_kappa": "#56B4E9",
                "gwet_ac1": "#009E73", "percent_agreement": "#E69F00"}
_FLAGGED, _PLAIN, _ZERO = "#d62728", "#4c78a8", "#888888"
_SHOWN, _HIDDEN = "#D55E00", "#7f7f7f"
_MARGIN = {"l": 10, "r": 10, "t": 70, "b": 10}
_LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0.0}


def agreement_figure(table: pd.DataFrame, *, category: str, title: str) -> go.Figure:
    """Return agreement per group: one panel per statistic, a point and interval per group.

    Parameters
    ----------
    table : pandas.DataFrame
        ``<category>, statistic, value, ci_low, ci_high, n_items`` (long, one row per
        group and statistic), e.g. ``PanelAnalysis.by_subject`` with ``category="group"``.
    category : str
        The column naming the groups (drawn top to bottom in first-seen order).
    title : str

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "a"], "statistic": ["krippendorff_alpha",
    ...     "percent_agreement"], "value": [0.5, 0.8], "ci_low": [0.4, 0.7],
    ...     "ci_high": [0.6, 0.9], "n_items": [10, 10]})
    >>> fig = agreement_figure(t, category="group", title="By group")
    >>> [d.name for d in fig.data], list(fig.data[0].x)
    (["Krippendorff's alpha", 'Percent agreement'], [0.5])
    """
    statistics = [s for s in STAT_LABELS if s in set(table["statistic"])]
    groups = [str(g) for g in dict.fromkeys(table[category])]
    fig = make_subplots(rows=1, cols=max(1, len(statistics)), shared_yaxes=True,
                        horizontal_spacing=0.04,
                        subplot_titles=[STAT_LABELS[s] for s in statistics])
    for i, statistic in enumerate(statistics, start=1):
        rows = table[table["statistic"] == statistic]
        fig.add_trace(_interval_points(rows, rows[category].astype(str), name=STAT_LABELS[
            statistic], colour=STAT_COLOURS[statistic], extra="cases"), row=1, col=i)
        low = float(np.nanmin([0.0, *rows["ci_low"].astype(float)]))
        fig.update_xaxes(range=[low - 0.05, 1.05], row=1, col=i)
        if statistic == "krippendorff_alpha":
            for x, text, where in ((ALPHA_TENTATIVE, "0.667", "top left"),
                                   (ALPHA_RELIABLE, "0.8", "top right")):
                fig.add_vline(x=x, line={"color": _ZERO, "dash": "dot", "width": 1},
                              annotation_text=text, annotation_position=where,
                              annotation_font={"size": 10, "color": "#555555"}, row=1, col=i)
            fig.add_vrect(x0=ALPHA_RELIABLE, x1=1.05, fillcolor="#2ca02c", opacity=0.08,
                          line_width=0, row=1, col=i)
    fig.update_yaxes(categoryorder="array", categoryarray=groups[::-1], automargin=True)
    fig.update_layout(title=title, height=150 + 34 * len(groups), showlegend=False,
                      margin=_MARGIN)
    return fig


def in_vs_cross_figure(table: pd.DataFrame) -> go.Figure:
    """Return percent agreement of reviewer pairs of the same vs different backgrounds.

    ``table`` is ``PanelAnalysis.in_vs_cross`` (``comparison, value, ci_low, ci_high,
    n_items, n_pairs``); the difference gets its own panel with a line at zero.

    Examples
    --------
    >>> t = pd.DataFrame({"comparison": ["within_group", "cross_group", "difference"],
    ...     "value": [0.8, 0.7, 0.1], "ci_low": [0.75, 0.65, 0.02],
    ...     "ci_high": [0.85, 0.75, 0.18], "n_items": [9] * 3, "n_pairs": [20, 30, 50]})
    >>> list(in_vs_cross_figure(t).data[0].y)
    ['same background', 'different backgrounds']
    """
    names = {"within_group": "same background", "cross_group": "different backgrounds",
             "difference": "same minus different"}
    pairs = table[table["comparison"] != "difference"]
    diff = table[table["comparison"] == "difference"]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.2,
                        subplot_titles=["Percent agreement of two reviewers on a case",
                                        "Difference"])
    fig.add_trace(_interval_points(pairs, pairs["comparison"].map(names), name="pairs",
                                   colour=STAT_COLOURS["percent_agreement"],
                                   extra="pairs", n="n_pairs"), row=1, col=1)
    fig.add_trace(_interval_points(diff, diff["comparison"].map(names), name="difference",
                                   colour="#333333", extra="pairs", n="n_pairs",
                                   signed=True), row=1, col=2)
    fig.add_vline(x=0, line={"color": _ZERO, "dash": "dash", "width": 1}, row=1, col=2)
    fig.update_xaxes(range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(automargin=True)
    fig.update_layout(height=230, showlegend=False, margin={**_MARGIN, "t": 40})
    return fig


def kappa_heatmap_figure(kappa: pd.DataFrame, common: pd.DataFrame) -> go.Figure:
    """Return Cohen's kappa of every pair of reviewers (:func:`app.panel_tables.kappa_matrix`).

    Examples
    --------
    >>> k = pd.DataFrame([[np.nan, 0.4], [0.4, np.nan]], index=list("ab"), columns=list("ab"))
    >>> c = pd.DataFrame([[0, 3], [3, 0]], index=list("ab"), columns=list("ab"))
    >>> kappa_heatmap_figure(k, c).data[0].z[0]
    [None, 0.4]
    """
    z = [[None if math.isnan(v) else float(v) for v in row] for row in kappa.to_numpy()]
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in z]
    names = [str(n) for n in kappa.index]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", textfont={"size": 10},
        customdata=common.to_numpy(), colorscale="RdBu", zmin=-1, zmax=1, zmid=0,
        xgap=1, ygap=1, colorbar={"title": {"text": "kappa"}, "thickness": 12},
        hovertemplate=("%{y} and %{x}<br>kappa %{z:.2f} on %{customdata} common cases"
                       "<extra></extra>")))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(tickangle=-45, automargin=True)
    fig.update_layout(title="Cohen's kappa between pairs of reviewers (blank: fewer than "
                            "two cases in common, or undefined)",
                      height=220 + 26 * len(names), margin=_MARGIN)
    return fig


def reviewer_forest_figure(table: pd.DataFrame, *, value: str, title: str, axis: str,
                           flagged: str | None = None, left: str = "", right: str = "",
                           ) -> go.Figure:
    """Return one point and interval per reviewer, sorted, flagged reviewers in red.

    Parameters
    ----------
    table : pandas.DataFrame
        ``reviewer_id, <value>, ci_low, ci_high`` and optionally ``n``, ``p_adjusted``
        and the boolean column ``flagged``.
    value, title, axis : str
        The column drawn, the figure's title and the x axis title.
    flagged : str or None
        The legend entry of flagged reviewers (None: no flags drawn).
    left, right : str
        What a value left / right of zero means, written under the axis.

    Examples
    --------
    >>> t = pd.DataFrame({"reviewer_id": ["A", "B"], "severity": [0.3, -0.1],
    ...     "ci_low": [0.2, -0.2], "ci_high": [0.4, 0.0], "flagged": [True, False]})
    >>> fig = reviewer_forest_figure(t, value="severity", title="S", axis="x",
    ...                              flagged="flagged")
    >>> [(d.name, list(d.y)) for d in fig.data]
    [('not flagged', ['B']), ('flagged', ['A'])]
    """
    rows = table.sort_values(value).reset_index(drop=True)
    order = rows["reviewer_id"].astype(str).tolist()
    is_flagged = (rows["flagged"].astype(bool) if flagged and "flagged" in rows
                  else pd.Series(False, index=rows.index))
    fig = go.Figure()
    for hit, name, colour in ((False, "not flagged" if flagged else "reviewer", _PLAIN),
                              (True, flagged or "", _FLAGGED)):
        part = rows[is_flagged == hit]
        if part.empty:
            continue
        trace = _interval_points(part.rename(columns={value: "value"}),
                                 part["reviewer_id"].astype(str), name=name, colour=colour,
                                 extra="cases", n="n" if "n" in part else None, signed=True,
                                 p="p_adjusted" if "p_adjusted" in part else None)
        trace.marker.size = 12 if hit else 9
        trace.marker.symbol = "diamond" if hit else "circle"
        fig.add_trace(trace)
    fig.add_vline(x=0, line={"color": _ZERO, "dash": "dash", "width": 1})
    for x, text, anchor in ((0.0, left, "left"), (1.0, right, "right")):
        if text:
            fig.add_annotation(x=x, xref="paper", xanchor=anchor, y=1.0, yref="paper",
                               yanchor="bottom", showarrow=False, text=text,
                               font={"color": "#555555", "size": 12})
    fig.update_yaxes(categoryorder="array", categoryarray=order, automargin=True)
    fig.update_xaxes(title=axis)
    height = 190 + 30 * len(order)
    fig.update_layout(title=title, height=height, margin={**_MARGIN, "t": 80},
                      legend={**_LEGEND_BELOW, "y": -0.02 - 70 / height})
    return fig


def drf_heatmap_figure(drf: pd.DataFrame) -> go.Figure:
    """Return the differential-rater-functioning effects: subject group x reviewer group.

    ``drf`` is ``PanelAnalysis.drf`` (``rater_group, subject_group, effect, p_value,
    p_adjusted, flagged, n_cases``). Red cells: the reviewer group gives that subject
    group fewer positive decisions than the other reviewers do (blue: more). Flagged
    cells carry a black frame and the word "flagged".

    Examples
    --------
    >>> d = pd.DataFrame({"rater_group": ["m", "w"], "subject_group": ["s=F", "s=F"],
    ...     "effect": [-0.2, 0.2], "p_value": [0.02, 0.02], "p_adjusted": [0.03, 0.03],
    ...     "flagged": [True, True], "n_cases": [70, 70]})
    >>> fig = drf_heatmap_figure(d)
    >>> fig.data[0].z, [d.name for d in fig.data]
    (([-0.2, 0.2],), ['effect', 'flagged (adjusted p < 0.05)'])
    """
    subjects = [str(s) for s in dict.fromkeys(drf["subject_group"])]
    raters = [str(r) for r in dict.fromkeys(drf["rater_group"])]
    cells = drf.set_index(["subject_group", "rater_group"])
    z, text, hover = [], [], []
    for s in subjects:
        row_z, row_t, row_h = [], [], []
        for r in raters:
            cell = cells.loc[(s, r)] if (s, r) in cells.index else None
            effect = None if cell is None else float(cell["effect"])
            row_z.append(effect)
            mark = "<br><b>flagged</b>" if cell is not None and bool(cell["flagged"]) else ""
            row_t.append("" if effect is None else f"{effect:+.2f}{mark}")
            row_h.append("" if cell is None else (
                f"p = {cell['p_value']:.3f}, adjusted p = {cell['p_adjusted']:.3f}"
                f"<br>{int(cell['n_cases'])} cases"))
        z.append(row_z)
        text.append(row_t)
        hover.append(row_h)
    # At least +-0.3 so that small effects do not look saturated.
    top = max([abs(v) for row in z for v in row if v is not None] + [0.3])
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"reviewers: {r}" for r in raters], y=subjects, text=text, name="effect",
        texttemplate="%{text}", customdata=hover, colorscale="RdBu", zmid=0, zmin=-top,
        zmax=top, xgap=3, ygap=3, colorbar={"title": {"text": "effect"}, "thickness": 12},
        hovertemplate="%{x} on cases of %{y}<br>effect %{z:+.3f}<br>%{customdata}"
                      "<extra></extra>"))
    hit = drf[drf["flagged"].astype(bool)]
    fig.add_trace(go.Scatter(
        x=[f"reviewers: {r}" for r in hit["rater_group"]], y=hit["subject_group"].astype(str),
        mode="markers", name="flagged (adjusted p < 0.05)", hoverinfo="skip",
        marker={"symbol": "square-open", "size": 58, "color": "#000000",
                "line": {"width": 3}}))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    fig.update_xaxes(side="top", type="category")
    fig.update_layout(height=max(260, 130 + 60 * len(subjects)), legend=_LEGEND_BELOW,
                      margin={**_MARGIN, "t": 40}, plot_bgcolor="white")
    return fig


def automation_figure(rows: pd.DataFrame) -> go.Figure:
    """Return agreement with the model when shown vs hidden, and the effect, per group.

    ``rows`` is :func:`app.panel_tables.automation_rows`: the left panel joins each
    group's agreement when the model's decision was hidden (grey) and shown (orange);
    the right panel is their difference with its interval.

    Examples
    --------
    >>> r = pd.DataFrame({"group": ["All cases"], "value": [0.1], "ci_low": [0.0],
    ...     "ci_high": [0.2], "agree_shown": [0.8], "agree_hidden": [0.7],
    ...     "n_shown": [50], "n_hidden": [50]})
    >>> [d.name for d in automation_figure(r).data]
    ['', 'model hidden', 'model shown', 'effect']
    """
    groups = rows["group"].astype(str).tolist()
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.5, 0.5],
                        horizontal_spacing=0.05, subplot_titles=[
                            "Agreement with the model's decision",
                            "Effect of showing it (shown minus hidden)"])
    x_line = [v for a, b in zip(rows["agree_hidden"], rows["agree_shown"], strict=True)
              for v in (a, b, None)]
    y_line = [g for g in groups for _ in range(3)]
    fig.add_trace(go.Scatter(x=x_line, y=y_line, mode="lines", name="", showlegend=False,
                             line={"color": "#bbbbbb", "width": 3}, hoverinfo="skip"),
                  row=1, col=1)
    for column, name, colour, n in (("agree_hidden", "model hidden", _HIDDEN, "n_hidden"),
                                    ("agree_shown", "model shown", _SHOWN, "n_shown")):
        fig.add_trace(go.Scatter(
            x=rows[column], y=groups, mode="markers", name=name,
            marker={"color": colour, "size": 11}, customdata=rows[n],
            hovertemplate=f"%{{y}}<br>{name}: %{{x:.1%}} agree (%{{customdata}} ratings)"
                          "<extra></extra>"), row=1, col=1)
    effect = _interval_points(rows, rows["group"].astype(str), name="effect",
                              colour="#333333", signed=True)
    effect.showlegend = False
    fig.add_trace(effect, row=1, col=2)
    fig.add_vline(x=0, line={"color": _ZERO, "dash": "dash", "width": 1}, row=1, col=2)
    fig.update_xaxes(tickformat=".0%", row=1, col=1)
    fig.update_xaxes(tickformat="+.0%", row=1, col=2)
    fig.update_yaxes(categoryorder="array", categoryarray=groups[::-1], automargin=True)
    fig.update_yaxes(tickprefix="", ticktext=[f"<b>{g}</b>" if g == ALL_CASES else g
                                              for g in groups], tickvals=groups)
    height = 190 + 34 * len(groups)
    fig.update_layout(height=height, legend={**_LEGEND_BELOW, "y": -0.02 - 40 / height},
                      margin={**_MARGIN, "t": 50})
    return fig


def _interval_points(rows: pd.DataFrame, labels: pd.Series, *, name: str, colour: str,
                     extra: str = "", n: str | None = "n_items", signed: bool = False,
                     p: str | None = None) -> go.Scatter:
    """Points at ``value`` with error bars to ``ci_low`` / ``ci_high``, for a forest plot."""
    value = rows["value"].to_numpy(dtype=float)
    texts = [interval(v, lo, hi, signed=signed) for v, lo, hi in
             zip(value, rows["ci_low"].astype(float), rows["ci_high"].astype(float),
                 strict=True)]
    sizes = rows[n].astype(str).tolist() if n and n in rows else [""] * len(rows)
    notes = [f"{s} {extra}".strip() for s in sizes]
    if p:
        notes = [f"{t}<br>adjusted p = {q:.3f}" for t, q in zip(notes, rows[p], strict=True)]
    return go.Scatter(
        x=value.tolist(), y=labels.tolist(), mode="markers", name=name,
        marker={"color": colour, "size": 9},
        error_x={"type": "data", "array": np.nan_to_num(rows["ci_high"].astype(float) - value),
                 "arrayminus": np.nan_to_num(value - rows["ci_low"].astype(float)),
                 "color": colour, "thickness": 1.5, "width": 4},
        customdata=np.column_stack([texts, notes]) if len(rows) else None,
        hovertemplate="%{y}<br>%{customdata[0]}<br>%{customdata[1]}<extra></extra>")
