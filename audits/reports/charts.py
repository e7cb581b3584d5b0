"""Charts of a report, drawn with matplotlib (Agg backend) as PNG bytes.

A chart block of the report body holds its data; this module only draws it, so the body
(and its hash) never depends on the plotting library.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["chart_png"]

MSG_CHART = "unknown chart kind {kind!r}; the report draws: forest"
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.25, 2.0, 3.0, 5.0, 10.0, 20.0)
COLOURS = {"fail": "#b2182b", "pass": "#2166ac", "insufficient_evidence": "#777777"}


def chart_png(chart: Mapping[str, Any], *, dpi: int = 150) -> bytes:
    """Return a chart block drawn as PNG bytes.

    Parameters
    ----------
    chart : mapping
        A body block with ``type == "chart"``; ``chart == "forest"`` draws each point's
        ratio and interval on a log axis, with the rule's band shaded.
    dpi : int, default 150

    Raises
    ------
    ValueError
        An unknown chart kind (:data:`MSG_CHART`).

    Examples
    --------
    >>> png = chart_png({"chart": "forest", "band": [0.8, 1.25], "points": [
    ...     {"group": "g=a", "metric": "Selection rate", "value": 0.5, "ci_low": 0.4,
    ...      "ci_high": 0.6, "verdict": "fail"}]})
    >>> png[:4] == b"\\x89PNG"
    True
    """
    if chart.get("chart") != "forest":
        raise ValueError(MSG_CHART.format(kind=chart.get("chart")))
    points = [p for p in chart.get("points", []) if _positive(p.get("value"))]
    height = 0.9 + 0.24 * max(len(points), 1)
    fig, ax = plt.subplots(figsize=(7.0, height))
    try:
        low, high = (float(b) for b in chart.get("band", [0.8, 1.25]))
        ax.axvspan(low, high, color="#d9f0d3", zorder=0, label=f"rule [{low:g}, {high:g}]")
        ax.axvline(1.0, color="#444444", linewidth=0.8)
        for i, p in enumerate(points):
            y = len(points) - 1 - i
            lo = p.get("ci_low") if _positive(p.get("ci_low")) else p["value"]
            hi = p.get("ci_high") if _positive(p.get("ci_high")) else p["value"]
            colour = COLOURS.get(str(p.get("verdict")), "#777777")
            ax.plot([lo, hi], [y, y], color=colour, linewidth=1.6)
            ax.plot([p["value"]], [y], "o", color=colour, markersize=4)
        ax.set_yticks(range(len(points)))
        ax.set_yticklabels([f"{p['metric']}: {p['group']}" for p in reversed(points)],
                           fontsize=7)
        ax.set_xscale("log")
        ticks = [t for t in TICKS if _in_view(t, points, low, high)]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("ratio to the reference group (log scale)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _in_view(tick: float, points: list[Mapping[str, Any]], low: float, high: float) -> bool:
    values = [low, high, *(float(p[k]) for p in points for k in ("value", "ci_low", "ci_high")
                           if _positive(p.get(k)))]
    return min(values) / 1.2 <= tick <= max(values) * 1.2


def _positive(value: Any) -> bool:
    return value is not None and math.isfinite(float(value)) and float(value) > 0
