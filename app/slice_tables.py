"""Display tables for the Worst-off subgroups page (no statistics).

Each function reshapes a slice discovery's results (the ``fairpanel slices`` JSON,
:meth:`audits.slices.SliceReport.to_dict`, as computed or as stored with a run) into a
small :class:`pandas.DataFrame` or sentence; every number is the engine's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["METRIC_LABELS", "SLICE_COLUMNS", "attributes_label", "slice_table",
           "what_was_tested"]

#: The metrics a slice can be worse at, as the page names them.
METRIC_LABELS = {"error_rate": "Error rate", "false_positive_rate": "False-positive rate",
                 "false_negative_rate": "False-negative rate",
                 "selection_rate": "Selection rate"}
SLICE_COLUMNS = ["slice", "attributes", "n", "rate", "ci_low", "ci_high", "rest",
                 "p_adjusted", "p_holdout"]


def attributes_label(attributes: Mapping[str, Any], columns: Sequence[str] = ()) -> str:
    """A slice as people read it, its attributes in the order of ``columns``.

    Examples
    --------
    >>> attributes_label({"product": "loan", "region": "s"}, ["region", "product"])
    'region=s & product=loan'
    """
    order = list(columns)
    items = sorted(attributes.items(),
                   key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    return " & ".join(f"{k}={v}" for k, v in items)


def slice_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per confirmed slice, worst first (the engine's order).

    Examples
    --------
    >>> r = {"columns": ["region"], "slices": [{"attributes": {"region": "s"}, "n": 40,
    ...      "value": 0.3, "ci_low": 0.2, "ci_high": 0.4, "complement_value": 0.1,
    ...      "p_adjusted": 0.001, "p_holdout": 0.002}]}
    >>> slice_table(r)[["slice", "n", "rate", "rest"]].values.tolist()
    [['region=s', 40, 0.3, 0.1]]
    """
    columns = list(results.get("columns") or [])
    rows = [{"slice": attributes_label(s.get("attributes") or {}, columns),
             "attributes": len(s.get("attributes") or {}), "n": s.get("n"),
             "rate": s.get("value"), "ci_low": s.get("ci_low"), "ci_high": s.get("ci_high"),
             "rest": s.get("complement_value"), "p_adjusted": s.get("p_adjusted"),
             "p_holdout": s.get("p_holdout")}
            for s in results.get("slices") or []]
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


def what_was_tested(results: Mapping[str, Any]) -> str:
    """What a discovery tested and found, in plain English.

    Examples
    --------
    >>> print(what_was_tested({"rows": 1000, "metric": "error_rate", "n_tested": 40,
    ...     "n_discovered": 1, "columns": ["a", "b"], "slices": [],
    ...     "config": {"max_depth": 2, "min_support": 100, "alpha": 0.05}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    Every subgroup made of 1 to 2 of the 2 columns (a, b; numbers cut at their quartiles)
    with at least 100 decisions in each half of the 1,000 decisions was compared with the
    rest on its error rate: 40 subgroups tested on a random half, with Benjamini-Hochberg at 5%
    over all of them; 1 looked worse there, and 0 were confirmed on the other half.
    """
    config = dict(results.get("config") or {})
    columns = list(results.get("columns") or [])
    metric = METRIC_LABELS.get(str(results.get("metric")), str(results.get("metric")))
    confirmed = len(results.get("slices") or [])
    return (f"Every subgroup made of 1 to {config.get('max_depth')} of the {len(columns)} "
            f"columns ({', '.join(columns)}; numbers cut at their quartiles) with at least "
            f"{config.get('min_support')} decisions in each half of the "
            f"{int(results.get('rows') or 0):,} decisions was compared with the rest on its "
            f"{metric.lower()}: {int(results.get('n_tested') or 0):,} subgroups tested on a "
            f"random half, with Benjamini-Hochberg at "
            f"{float(config.get('alpha', 0.05)):.0%} over all of them; "
            f"{int(results.get('n_discovered') or 0):,} looked worse there, and {confirmed} "
            f"{'was' if confirmed == 1 else 'were'} confirmed on the other half.")
