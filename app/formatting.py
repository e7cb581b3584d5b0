"""Small display helpers shared by the pages (pages never import each other)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = [
    "LOWER_IS_BETTER",
    "count",
    "metric_items",
    "metric_label",
    "metric_value",
    "numeric",
    "plain",
    "plain_table",
    "short_hash",
    "when",
]

#: Held-out metrics in display order; others follow alphabetically.
METRIC_ORDER = ("accuracy", "balanced_accuracy", "roc_auc", "positive_rate", "brier",
                "log_loss")
#: Metrics where a smaller value is better (losses), flagged in their labels.
LOWER_IS_BETTER = frozenset({"brier", "log_loss"})
#: Sizes that the split already shows; not repeated among the metrics.
_SIZES = frozenset({"n_train", "n_test"})
_LABELS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "f1": "F1", "brier": "Brier score"}
_BACKTICKS = re.compile(r"`+")
# Characters that cannot start a link, an image, an icon, an emoji, math or emphasis.
_SAFE = re.compile(r"[\w .,;()'\"%+=&<>!?/\u2264\u2265\u2013\u2014-]*")


def when(ts: datetime | str | None) -> str:
    """Return a timestamp as ``YYYY-MM-DD HH:MM UTC`` (text passes through).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> when(datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    '2024-05-01 09:30 UTC'
    """
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d %H:%M UTC")
    return "-" if ts is None else str(ts)


def count(value: Any) -> str:
    """Return an integer with thousands separators, or ``"-"``.

    Examples
    --------
    >>> count(48842)
    '48,842'
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return "-"
    return f"{value:,}"


def numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """Return the entries of ``values`` that are numbers (booleans left out).

    Examples
    --------
    >>> numeric({"accuracy": 0.8, "note": "x", "ok": True})
    {'accuracy': 0.8}
    """
    return {str(k): float(v) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def short_hash(value: str | None, n: int = 12) -> str:
    """Return the first ``n`` characters of a hex digest.

    Examples
    --------
    >>> short_hash("ab" * 32, 6)
    'ababab'
    """
    return "-" if not value else value[:n]


def metric_label(key: str, *, hint: bool = True) -> str:
    """Return how a metric's key is shown; ``hint`` flags losses as lower-is-better.

    Examples
    --------
    >>> metric_label("roc_auc"), metric_label("log_loss")
    ('ROC AUC', 'Log loss (lower is better)')
    """
    label = _LABELS.get(key, key.replace("_", " ").capitalize())
    return f"{label} (lower is better)" if hint and key in LOWER_IS_BETTER else label


def metric_value(value: float) -> str:
    """Return a metric with three decimals, or ``"n/a"`` when undefined (NaN).

    Examples
    --------
    >>> metric_value(0.85714), metric_value(float("nan"))
    ('0.857', 'n/a')
    """
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def metric_items(metrics: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Return the numeric metrics in display order, leaving out the split's sizes.

    Examples
    --------
    >>> metric_items({"n_test": 300, "roc_auc": 0.8, "accuracy": 0.7})
    [('accuracy', 0.7), ('roc_auc', 0.8)]
    """
    values = {k: v for k, v in numeric(metrics).items() if k not in _SIZES}
    known = [k for k in METRIC_ORDER if k in values]
    return [(k, values[k]) for k in known + sorted(set(values) - set(known))]


def plain(value: Any) -> str:
    """Return ``value`` as a Markdown code span: shown as its text, never interpreted.

    For every value that comes from data or from a person (a group value, a username, a
    note, an error naming either) placed in a Streamlit element that renders Markdown
    (``st.markdown``, ``st.caption``, ``st.info``/``success``/``warning``/``error``,
    titles and headers, and the labels of expanders, buttons, checkboxes, toggles, radio
    options and metrics, and ``st.table`` cells). Backslash escapes are not enough: the
    Markdown renderer turns a URL or an address in plain text into a link, and a label
    shows a Markdown image (loading it from its host) however it is escaped; inside a
    code span nothing is a link or an image. Text made only of letters, digits, spaces and
    harmless punctuation (no ``[`` ``:`` ``@`` ``www.`` ``*`` ``$`` and the like) cannot
    form any of those and is returned as it is. Whitespace runs (newlines too) become one
    space.

    Examples
    --------
    >>> plain("![x](http://host/pixel.png)")
    '`![x](http://host/pixel.png)`'
    >>> plain("a `tick`"), plain("ada@example.org")
    ('`` a `tick` ``', '`ada@example.org`')
    >>> plain("sex=Female & race=White"), plain("income >50K (1)")
    ('sex=Female & race=White', 'income >50K (1)')
    >>> plain("")
    '-'
    """
    text = " ".join(str(value).split()) or "-"
    if _SAFE.fullmatch(text) and "www." not in text.lower():
        return text
    runs = [len(m) for m in _BACKTICKS.findall(text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every text cell passed through :func:`plain`, for ``st.table``.

    ``st.table`` renders Markdown in its cells (``st.dataframe`` does not).

    Examples
    --------
    >>> plain_table(pd.DataFrame({"g": ["[a](http://h)"], "n": [1]}))["g"].item()
    '`[a](http://h)`'
    """
    out = frame.copy()
    for column in out.columns:
        if any(isinstance(v, str) for v in out[column]):
            out[column] = pd.Series([plain(v) if isinstance(v, str) else v
                                     for v in out[column]], index=out.index, dtype=object)
    return out
