"""Counterfactual sensitivity: do decisions flip when only group membership changes?

Each row is re-scored with its sensitive feature set to every other group (where the
model takes it as input) and, optionally, its likely proxies set to that group's typical
value (the most frequent category, or the median of a numeric column). A model that does
not take the sensitive feature as input cannot flip on it alone; that is said, with
:data:`MSG_NOT_INPUT`, instead of reporting zero flips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.data.schema import check_columns_exist
from audits.models.training import DEFAULT_THRESHOLD, predict_decisions

__all__ = ["MSG_NOT_INPUT", "CounterfactualResult", "counterfactual_flips"]

MSG_NOT_INPUT = (
    "the model does not take {column!r} as input, so changing it alone cannot flip a "
    "decision; pass its likely proxies to test them"
)
MSG_NOT_INPUT_PROXIES = (
    "the model does not take {column!r} as input; only its proxies {proxies} were changed"
)
MSG_PROXY_IS_SENSITIVE = "proxy {column!r} is the sensitive feature itself"
MSG_PROXY_NOT_FEATURE = "proxy {column!r} is not a model feature"


@dataclass(frozen=True, eq=False)
class CounterfactualResult:
    """Decision flips under a counterfactual change of group.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (group, counterfactual group): ``sensitive_feature, group,
        counterfactual_group, changed`` (comma-separated columns changed), ``n_rows,
        n_flips, flip_rate, n_to_positive, n_to_negative``. Empty when nothing could be
        changed.
    sensitive_is_input : bool
        Whether the model takes the sensitive feature as input.
    message : str or None
        Why flips were not (or only partly) tested; None when the sensitive feature was
        changed.
    """

    table: pd.DataFrame
    sensitive_is_input: bool
    message: str | None


def counterfactual_flips(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive_feature: str,
    proxies: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> CounterfactualResult:
    """Count decisions that flip when a row's group (and its proxies) is changed.

    Parameters
    ----------
    pipeline : fitted estimator with ``predict_proba``
    frame : pandas.DataFrame
        Holds ``features`` and ``sensitive_feature``.
    features : sequence of str
        The model's input columns.
    sensitive_feature : str
    proxies : sequence of str, default ()
        Model features also set to the counterfactual group's typical value.
    threshold : float, default 0.5

    Returns
    -------
    CounterfactualResult

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> from audits.models.training import train_default_model
    >>> from audits.data.schema import ColumnRoles
    >>> df = make_synthetic_loans(400)
    >>> roles = ColumnRoles(target="approved", sensitive_features=("group",),
    ...                     features=("income", "zip_region"))
    >>> model = train_default_model(df, roles, kind="logistic_regression")
    >>> counterfactual_flips(model.pipeline, df, features=roles.features,
    ...                      sensitive_feature="group").sensitive_is_input
    False
    """
    features = tuple(features)
    check_columns_exist(frame, [*features, sensitive_feature], "feature")
    for proxy in proxies:
        if proxy == sensitive_feature:
            raise ValueError(MSG_PROXY_IS_SENSITIVE.format(column=proxy))
        if proxy not in features:
            raise ValueError(MSG_PROXY_NOT_FEATURE.format(column=proxy))
    is_input = sensitive_feature in features
    changed = ([sensitive_feature] if is_input else []) + list(proxies)
    message = None
    if not is_input:
        message = (MSG_NOT_INPUT.format(column=sensitive_feature) if not proxies else
                   MSG_NOT_INPUT_PROXIES.format(column=sensitive_feature,
                                                proxies=list(proxies)))
    if not changed:
        return CounterfactualResult(table=_empty(), sensitive_is_input=False, message=message)
    labels = frame[sensitive_feature].astype("string")
    groups = sorted(str(g) for g in labels.dropna().unique())
    typical = {g: {p: _typical(frame.loc[(labels == g).to_numpy(), p]) for p in proxies}
               for g in groups}
    original = predict_decisions(pipeline, frame, features=features, threshold=threshold)
    rows = []
    for group in groups:
        members = frame[(labels == group).to_numpy()]
        before = original.loc[(labels == group).to_numpy(), "y_pred"].to_numpy()
        for other in (g for g in groups if g != group):
            altered = members.copy()
            if is_input:
                altered[sensitive_feature] = _original_value(frame[sensitive_feature], other)
            for proxy, value in typical[other].items():
                altered[proxy] = value
            after = predict_decisions(pipeline, altered, features=features,
                                      threshold=threshold)["y_pred"].to_numpy()
            rows.append(_flip_row(sensitive_feature, group, other, changed, before, after))
    return CounterfactualResult(table=pd.DataFrame(rows), sensitive_is_input=is_input,
                                message=message)


def _original_value(column: pd.Series, label: str) -> Any:
    """The value of ``column`` whose text is ``label``, in the column's own type."""
    return column[(column.astype("string") == label).to_numpy()].iloc[0]


def _typical(values: pd.Series) -> Any:
    numeric = (pd.api.types.is_numeric_dtype(values.dtype)
               and not pd.api.types.is_bool_dtype(values.dtype))
    if numeric:
        return values.median()
    return values.mode(dropna=True).iloc[0]


def _flip_row(
    sensitive: str, group: str, other: str, changed: list[str],
    before: np.ndarray, after: np.ndarray,
) -> dict[str, object]:
    flips = before != after
    n = len(before)
    return {
        "sensitive_feature": sensitive, "group": group, "counterfactual_group": other,
        "changed": ", ".join(changed), "n_rows": n, "n_flips": int(flips.sum()),
        "flip_rate": float(flips.mean()) if n else np.nan,
        "n_to_positive": int((flips & (after == 1)).sum()),
        "n_to_negative": int((flips & (after == 0)).sum()),
    }


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["sensitive_feature", "group", "counterfactual_group",
                                 "changed", "n_rows", "n_flips", "flip_rate",
                                 "n_to_positive", "n_to_negative"])
