"""One decision explained: a waterfall table and a plain-language reason built from it.

The reason names only what the model actually used for that decision: the features whose
contributions pushed the output towards the decision taken, largest first.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.explain.shap_values import Explanation

__all__ = ["CaseExplanation", "MSG_UNKNOWN_ROW", "explain_case"]

MSG_UNKNOWN_ROW = "row {row!r} is not among the explained rows"
MSG_TOP_K = "top_k must be a positive integer; got {value!r}"
OTHER_FEATURES = "(other features)"


@dataclass(frozen=True)
class CaseExplanation:
    """The local explanation of one decision.

    Attributes
    ----------
    row : hashable
        The row's label in the explained frame.
    table : pandas.DataFrame
        Waterfall, largest absolute contribution first: ``feature, value,
        contribution, cumulative`` (base value plus the contributions so far); a last
        ``(other features)`` row holds the rest, so the last ``cumulative`` is the output.
    base_value, output : float
        On the explanation's scale (log-odds for the default models).
    decision : int
        1 where the output reaches the threshold.
    reason : str
        The plain-language reason.
    """

    row: Hashable
    table: pd.DataFrame
    base_value: float
    output: float
    decision: int
    reason: str


def explain_case(
    explanation: Explanation,
    frame: pd.DataFrame,
    row: Hashable,
    *,
    top_k: int = 3,
    threshold: float = 0.5,
    positive_word: str = "Approved",
    negative_word: str = "Declined",
) -> CaseExplanation:
    """Build the waterfall and the reason sentence of one explained row.

    Parameters
    ----------
    explanation : Explanation
        From :func:`audits.explain.shap_values.explain_model`; must hold ``row``.
    frame : pandas.DataFrame
        The explained rows' feature values (and others, which set what is "high" or
        "low": a numeric value is high when above the column's median in ``frame``).
    row : hashable
        The row's index label.
    top_k : int, default 3
        Features shown before ``(other features)``; at most two are named in the reason.
    threshold : float, default 0.5
        Probability threshold of the decision.
    positive_word, negative_word : str, default "Approved" and "Declined"

    Returns
    -------
    CaseExplanation

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> from audits.models.training import train_default_model
    >>> from audits.explain.shap_values import explain_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = make_synthetic_loans(400)
    >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
    ...                     features=("income", "zip_region"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> result = explain_model(model.pipeline, df.head(3), features=roles.features)
    >>> explain_case(result, df, 0).reason.split()[:2]
    ['Approved', 'mainly']
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(MSG_TOP_K.format(value=top_k))
    if row not in explanation.contributions.index:
        raise ValueError(MSG_UNKNOWN_ROW.format(row=row))
    contributions = explanation.contributions.loc[row]
    if isinstance(contributions, pd.DataFrame):  # duplicate labels: take the first
        contributions = contributions.iloc[0]
    output = float(explanation.base_value + contributions.sum())
    cut = threshold if explanation.output_scale == "probability" else _logit(threshold)
    decision = int(output >= cut)
    table = _waterfall(contributions, frame, row, explanation.base_value, top_k)
    reason = _reason(table, frame, decision, positive_word, negative_word)
    return CaseExplanation(row=row, table=table, base_value=explanation.base_value,
                           output=output, decision=decision, reason=reason)


def _logit(p: float) -> float:
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


def _waterfall(
    contributions: pd.Series, frame: pd.DataFrame, row: Hashable, base: float, top_k: int
) -> pd.DataFrame:
    order = contributions.abs().sort_values(ascending=False, kind="stable").index
    top = [str(f) for f in order[:top_k]]
    values: list[Any] = [frame.at[row, f] if row in frame.index else None for f in top]
    table = pd.DataFrame({"feature": top, "value": pd.Series(values, dtype=object),
                          "contribution": contributions.loc[top].to_numpy(dtype=float)})
    rest = float(contributions.drop(index=top).sum())
    if len(order) > top_k:
        other = pd.DataFrame({"feature": [OTHER_FEATURES],
                              "value": pd.Series([None], dtype=object),
                              "contribution": [rest]})
        table = pd.concat([table, other], ignore_index=True)
    table["cumulative"] = base + table["contribution"].cumsum()
    return table


def _reason(
    table: pd.DataFrame, frame: pd.DataFrame, decision: int, yes: str, no: str
) -> str:
    sign = 1.0 if decision else -1.0
    named = table[(table["feature"] != OTHER_FEATURES) & (sign * table["contribution"] > 0)]
    word = yes if decision else no
    if named.empty:
        return (f"{word}: the typical case already gets this decision; no feature pushed "
                "it further that way.")
    parts = [_phrase(str(r.feature), r.value, float(r.contribution), frame)
             for r in named.head(2).itertuples()]
    return f"{word} mainly because " + " and ".join(parts) + "."


def _phrase(feature: str, value: Any, contribution: float, frame: pd.DataFrame) -> str:
    shown = f"{contribution:+.2f}"
    column = frame[feature] if feature in frame.columns else None
    numeric = (column is not None and pd.api.types.is_numeric_dtype(column.dtype)
               and not pd.api.types.is_bool_dtype(column.dtype))
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{feature} is missing ({shown})"
    if numeric and column is not None:
        level = "high" if float(value) > float(column.median()) else "low"
        return f"{feature} is {level} ({_number(float(value))}; {shown})"
    return f"{feature} is {value} ({shown})"


def _number(value: float) -> str:
    if value.is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
