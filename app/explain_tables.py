"""Display tables from a stored explanation run's ``results`` (no statistics computed here).

An explanation run (:func:`audits.explain.stored.run_explanations`) stores its tables as
column-wise lists; these helpers turn them back into DataFrames, pick the rows a page
shows and order them for reading. Everything here is pure: no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = [
    "OTHER_FEATURES",
    "case_label",
    "case_waterfall",
    "counterfactual_table",
    "gap_table",
    "group_table",
    "groups",
    "importance_table",
    "proxy_table",
    "sensitive_features",
    "top_features",
]

OTHER_FEATURES = "(other features)"
SCALE_LABELS = {"log_odds": "log-odds", "probability": "probability"}


def sensitive_features(results: Mapping[str, Any]) -> list[str]:
    """Return the sensitive features of a run, in the order they were asked for.

    The stored JSON has its keys sorted, so the order comes from ``sensitive_features``.

    Examples
    --------
    >>> sensitive_features({"sensitive_features": ["sex", "race"],
    ...                     "per_feature": {"race": {}, "sex": {}}})
    ['sex', 'race']
    """
    per_feature = results.get("per_feature") or {}
    ordered = [f for f in results.get("sensitive_features") or [] if f in per_feature]
    return ordered + [f for f in per_feature if f not in ordered]


def frame(columns: Mapping[str, list[Any]] | None) -> pd.DataFrame:
    """Return a DataFrame from column-wise lists (None: an empty frame).

    Examples
    --------
    >>> frame({"a": [1, 2]}).shape
    (2, 1)
    """
    return pd.DataFrame(dict(columns or {}))


def importance_table(results: Mapping[str, Any], feature: str) -> pd.DataFrame:
    """Return the per-group importances of ``feature`` (one row per group and feature).

    Examples
    --------
    >>> r = {"per_feature": {"s": {"importances": {"group": ["a"], "feature": ["x"],
    ...      "mean_abs_shap": [0.2], "ci_low": [0.1], "ci_high": [0.3],
    ...      "mean_shap": [0.1], "n_rows": [5]}}}}
    >>> importance_table(r, "s")["mean_abs_shap"].tolist()
    [0.2]
    """
    table = frame(results["per_feature"][feature].get("importances"))
    return table.astype({c: float for c in ("mean_abs_shap", "ci_low", "ci_high", "mean_shap")
                         if c in table.columns})


def top_features(importances: pd.DataFrame, top_n: int) -> list[str]:
    """Return the ``top_n`` features with the largest mean |SHAP| in any group.

    Examples
    --------
    >>> t = pd.DataFrame({"feature": ["x", "y", "x", "y"], "mean_abs_shap": [1, 2, 3, 0]})
    >>> top_features(t, 1)
    ['x']
    """
    if importances.empty:
        return []
    largest = importances.groupby("feature", sort=False)["mean_abs_shap"].max()
    return [str(f) for f in largest.sort_values(ascending=False, kind="stable").index[:top_n]]


def groups(results: Mapping[str, Any], feature: str) -> list[str]:
    """Return the groups of ``feature``, largest first.

    Examples
    --------
    >>> groups({"per_feature": {"s": {"groups": {"group": ["a", "b"],
    ...         "n_group": [3, 9]}}}}, "s")
    ['b', 'a']
    """
    table = frame(results["per_feature"][feature].get("groups"))
    if table.empty:
        return []
    ordered = table.sort_values("n_group", ascending=False, kind="stable")
    return [str(g) for g in ordered["group"]]


def group_table(results: Mapping[str, Any], feature: str) -> pd.DataFrame:
    """Return the groups of ``feature`` for display: sizes, mean output, half-width."""
    table = frame(results["per_feature"][feature].get("groups"))
    if table.empty:
        return table
    table = table.sort_values("n_group", ascending=False, kind="stable")
    return table.rename(columns={"n_rows": "rows explained", "n_group": "held-out rows",
                                 "mean_output": "mean output",
                                 "half_width": "widest half-width"})[
        ["group", "held-out rows", "rows explained", "mean output", "widest half-width"]]


def gap_table(results: Mapping[str, Any], feature: str, group: str,
              reference_group: str) -> tuple[pd.DataFrame, float | None]:
    """Return the stored decomposition of one pair's output gap, and that gap.

    The table keeps the stored order (largest absolute contribution first).

    Examples
    --------
    >>> r = {"per_feature": {"s": {"gaps": {"group": ["b", "a"],
    ...      "reference_group": ["a", "b"], "feature": ["x", "x"],
    ...      "mean_shap_group": [1.0, 0.5], "mean_shap_reference": [0.5, 1.0],
    ...      "contribution": [0.5, -0.5], "output_gap": [0.5, -0.5]}}}}
    >>> table, gap = gap_table(r, "s", "b", "a")
    >>> table["contribution"].tolist(), gap
    ([0.5], 0.5)
    """
    table = frame(results["per_feature"][feature].get("gaps"))
    if table.empty:
        return table, None
    pair = table[(table["group"] == group) & (table["reference_group"] == reference_group)]
    if pair.empty:
        return pair, None
    gap = pair["output_gap"].iloc[0]
    return (pair[["feature", "mean_shap_group", "mean_shap_reference", "contribution"]]
            .reset_index(drop=True), None if gap is None else float(gap))


def proxy_table(results: Mapping[str, Any], *, likely_only: bool = True) -> pd.DataFrame:
    """Return the likely proxies (or every association) with their evidence.

    Examples
    --------
    >>> r = {"proxies": {"likely": {"rank": [1], "sensitive_feature": ["s"],
    ...      "feature": ["x"], "measure": ["cramers_v"], "association": [0.5],
    ...      "attribution_gap": [0.2], "gap_share": [1.0], "likely": [True]}}}
    >>> proxy_table(r)["measure"].tolist()
    ["Cramér's V"]
    """
    proxies = results.get("proxies") or {}
    table = frame(proxies.get("likely" if likely_only else "associations"))
    if table.empty:
        return table
    table = table.assign(measure=table["measure"].map(
        {"cramers_v": "Cramér's V", "correlation_ratio": "correlation ratio"})
        .fillna(table["measure"]))
    if not likely_only:
        table = table.sort_values(["sensitive_feature", "association"],
                                  ascending=[True, False], kind="stable")
    columns = [c for c in ("rank", "sensitive_feature", "feature", "measure", "association",
                           "attribution_gap", "gap_share", "likely") if c in table.columns]
    return table[columns].rename(columns={"sensitive_feature": "sensitive feature",
                                          "attribution_gap": "attribution gap",
                                          "gap_share": "share of largest gap"})


def counterfactual_table(block: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return a stored counterfactual table for display (empty when none)."""
    if not block:
        return pd.DataFrame()
    table = frame(block.get("table"))
    if table.empty:
        return table
    order = [c for c in ("group", "counterfactual_group", "changed", "n_rows", "n_flips",
                         "flip_rate", "n_to_positive", "n_to_negative") if c in table]
    return table[order].rename(columns={
        "counterfactual_group": "changed to", "n_rows": "rows", "n_flips": "flips",
        "flip_rate": "flip rate", "n_to_positive": "to positive",
        "n_to_negative": "to negative"})


def case_label(case: Mapping[str, Any]) -> str:
    """Return how a case is listed: row, score, decision and groups.

    Examples
    --------
    >>> case_label({"row": 3, "y_score": 0.51, "decision": 1, "sensitive": {"sex": "f"}})
    'row 3 · score 0.510 · positive · sex=f'
    """
    score = case.get("y_score")
    shown = "n/a" if score is None else f"{float(score):.3f}"
    decision = "positive" if case.get("decision") else "negative"
    groups_text = ", ".join(f"{k}={v}" for k, v in (case.get("sensitive") or {}).items())
    return f"row {case['row']} · score {shown} · {decision} · {groups_text}"


def case_waterfall(case: Mapping[str, Any]) -> pd.DataFrame:
    """Return a case's stored waterfall: ``feature, value, contribution, cumulative``."""
    table = frame(case.get("waterfall"))
    if "value" in table.columns:
        table["value"] = table["value"].fillna("")
    # Stored JSON sorts keys; show the columns in reading order.
    order = [c for c in ("feature", "value", "contribution", "cumulative") if c in table]
    return table[order + [c for c in table.columns if c not in order]]


def scale_label(results: Mapping[str, Any]) -> str:
    """Return the name of the scale the contributions are on.

    Examples
    --------
    >>> scale_label({"explainer": {"output_scale": "log_odds"}})
    'log-odds'
    """
    scale = str((results.get("explainer") or {}).get("output_scale", "log_odds"))
    return SCALE_LABELS.get(scale, scale)
