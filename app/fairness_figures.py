"""Figures of the Fairness audit page, cached by content.

The threshold slider redraws its figure on every step; caching the figure by the
content of its inputs (Streamlit hashes a DataFrame by its values) means a step back
to a threshold already seen costs no Plotly work. The reliability (calibration) figure
draws :func:`audits.fairness.calibration.reliability_table` as it is: no statistics here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import charts

__all__ = ["build_reliability_figure", "metric_figure", "reliability_figure",
           "threshold_figure"]

_GROUP_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                  "#F0E442", "#000000")


@st.cache_data(show_spinner=False, max_entries=64)
def threshold_figure(curves: pd.DataFrame, metric: str, slices: Sequence[str],
                     threshold: float) -> go.Figure:
    """:func:`charts.threshold_figure`, cached by the curves' content and the arguments."""
    return charts.threshold_figure(curves, metric, slices=list(slices), threshold=threshold)


@st.cache_data(show_spinner=False, max_entries=256)
def metric_figure(run_key: tuple[str, int, str, str], metric: str, slices: tuple[str, ...],
                  _results: Mapping[str, Any]) -> go.Figure:
    """One metric's per-group figure of a stored run, cached by the run.

    A completed run's results never change, so the key is the run (``run_key``: the
    database, the run's id, its configuration hash and when it was made, so a reset
    demo reusing an id is a new key) and the view, and the large results mapping is
    never hashed (the leading underscore). Four of these were about half the page's
    time on every visit.
    """
    return charts.fairness_metric_figure(dict(_results), metric, slices=list(slices),
                                         title=False)


@st.cache_data(show_spinner=False, max_entries=64)
def reliability_figure(table: pd.DataFrame, slice_label: str) -> go.Figure:
    """:func:`build_reliability_figure`, cached by the table's content and the slice."""
    return build_reliability_figure(table, slice_label)


def build_reliability_figure(table: pd.DataFrame, slice_label: str) -> go.Figure:
    """Return observed positive rate against mean score, one line per group of a slice.

    ``table`` is a :func:`audits.fairness.calibration.reliability_table`; each point is
    a non-empty bin, its vertical bar the bin's interval, its size growing with the
    bin's count (in the hover text). The dotted diagonal is perfect calibration.
    """
    part = table[table["slice"] == slice_label]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"color": "#888888", "dash": "dot", "width": 1},
                             hoverinfo="skip"))
    largest = float(part["n"].max()) if len(part) else 1.0
    for i, (group, rows) in enumerate(part.groupby("group", sort=False)):
        colour = _GROUP_COLOURS[i % len(_GROUP_COLOURS)]
        fig.add_trace(go.Scatter(
            x=rows["mean_score"], y=rows["observed_rate"], mode="lines+markers",
            name=str(group), line={"color": colour, "width": 1.5},
            marker={"color": colour, "size": 6 + 10 * (rows["n"] / largest) ** 0.5},
            error_y={"type": "data", "symmetric": False,
                     "array": rows["ci_high"] - rows["observed_rate"],
                     "arrayminus": rows["observed_rate"] - rows["ci_low"],
                     "thickness": 1, "width": 3, "color": colour},
            customdata=rows[["n", "positives", "ci_low", "ci_high", "bin_low", "bin_high"]],
            hovertemplate=(f"{group}<br>scores %{{customdata[4]:.1f}}-%{{customdata[5]:.1f}}"
                           "<br>mean score %{x:.3f}<br>observed %{y:.3f} "
                           "[%{customdata[2]:.3f}, %{customdata[3]:.3f}]<br>"
                           "%{customdata[1]} of %{customdata[0]} positive<extra></extra>")))
    fig.update_xaxes(title="mean predicted score in the bin", range=[-0.02, 1.02])
    fig.update_yaxes(title="observed share of positives", range=[-0.02, 1.02])
    fig.update_layout(title=f"Reliability by {slice_label}", height=440,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.15})
    return fig
