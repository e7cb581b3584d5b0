"""Which features stand in for a sensitive feature: association next to attribution gap.

A feature is a *likely proxy* for a sensitive feature when both hold:

1. it is associated with the sensitive feature: Cramér's V (categorical feature) or the
   correlation ratio eta (numeric feature) is at least ``min_association`` (default 0.3,
   a "moderate" association on either scale, both of which run from 0 to 1); and
2. the model uses it differently across the groups: its attribution gap (the largest
   minus the smallest mean signed SHAP over the groups) is at least ``min_gap_share``
   (default 0.25) of the largest attribution gap of any feature.

Association alone is not enough (a correlated feature the model ignores changes no
decision); a gap alone is not enough (a legitimate feature may differ between groups
without standing in for group membership). Likely proxies are ranked by association,
then by attribution gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats.contingency import association

from audits.data.schema import check_columns_exist
from audits.explain.groups import GroupExplanation

__all__ = ["ProxyReport", "correlation_ratio", "cramers_v", "find_proxies"]

MSG_THRESHOLD = "{name} must lie in [0, 1]; got {value!r}"
RULE = (
    "likely proxy: association >= {min_association} (Cramér's V or correlation ratio) "
    "and attribution gap >= {min_gap_share} x the largest attribution gap"
)


@dataclass(frozen=True, eq=False)
class ProxyReport:
    """Association of every feature with every sensitive feature, and the likely proxies.

    Attributes
    ----------
    associations : pandas.DataFrame
        One row per (sensitive feature, feature): ``sensitive_feature, feature,
        measure`` ("cramers_v" or "correlation_ratio"), ``association``,
        ``attribution_gap``, ``gap_share``, ``likely``. Gaps are NaN without an
        attribution for that sensitive feature, and ``likely`` then rests on
        association alone.
    likely : pandas.DataFrame
        The ``likely`` rows, ranked within each sensitive feature (``rank`` from 1).
    rule : str
        The rule that made a feature a likely proxy, with its thresholds.
    """

    associations: pd.DataFrame
    likely: pd.DataFrame
    rule: str


def find_proxies(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive_features: Sequence[str],
    attributions: Sequence[GroupExplanation] = (),
    min_association: float = 0.3,
    min_gap_share: float = 0.25,
) -> ProxyReport:
    """Measure each feature's association with each sensitive feature and flag proxies.

    Parameters
    ----------
    frame : pandas.DataFrame
        Holds ``features`` and ``sensitive_features``.
    features : sequence of str
        Candidate proxies (the model's inputs).
    sensitive_features : sequence of str
        Treated as categorical.
    attributions : sequence of GroupExplanation, default ()
        From :func:`audits.explain.groups.explain_groups`, at most one per sensitive
        feature; they supply the attribution gaps.
    min_association, min_gap_share : float, default 0.3 and 0.25
        Thresholds of the rule in the module docstring.

    Returns
    -------
    ProxyReport

    Examples
    --------
    >>> from audits.data.synthetic import make_synthetic_loans
    >>> df = make_synthetic_loans(2000)
    >>> report = find_proxies(df, features=["income", "zip_region"],
    ...                       sensitive_features=["group"])
    >>> report.likely["feature"].tolist()
    ['zip_region']
    """
    for name, value in (("min_association", min_association), ("min_gap_share", min_gap_share)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(MSG_THRESHOLD.format(name=name, value=value))
    check_columns_exist(frame, list(features), "feature")
    check_columns_exist(frame, list(sensitive_features), "sensitive feature")
    gaps = {a.sensitive_feature: _attribution_gaps(a) for a in attributions}
    rows = []
    for sensitive in sensitive_features:
        gap = gaps.get(sensitive)
        largest = float(gap.max()) if gap is not None and len(gap) else np.nan
        for feature in features:
            measure, value = _association(frame[feature], frame[sensitive])
            feature_gap = float(gap.get(feature, np.nan)) if gap is not None else np.nan
            share = feature_gap / largest if largest > 0 else np.nan
            likely = value >= min_association and (
                gap is None or (not np.isnan(share) and share >= min_gap_share))
            rows.append({"sensitive_feature": sensitive, "feature": feature,
                         "measure": measure, "association": value,
                         "attribution_gap": feature_gap, "gap_share": share,
                         "likely": bool(likely)})
    table = pd.DataFrame(rows)
    likely = table[table["likely"]].sort_values(
        ["sensitive_feature", "association", "attribution_gap"],
        ascending=[True, False, False], kind="stable").reset_index(drop=True)
    likely.insert(0, "rank", likely.groupby("sensitive_feature").cumcount() + 1)
    return ProxyReport(associations=table, likely=likely,
                       rule=RULE.format(min_association=min_association,
                                        min_gap_share=min_gap_share))


def cramers_v(x: pd.Series, y: pd.Series) -> float:
    """Cramér's V between two categorical series (missing values dropped), in [0, 1].

    Examples
    --------
    >>> cramers_v(pd.Series(list("aabb")), pd.Series(list("xxyy")))
    1.0
    """
    both = pd.DataFrame({"x": x.to_numpy(), "y": y.to_numpy()}).dropna()
    table = pd.crosstab(both["x"].astype(str), both["y"].astype(str)).to_numpy()
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def correlation_ratio(values: pd.Series, groups: pd.Series) -> float:
    """Correlation ratio eta of a numeric series on a categorical one, in [0, 1].

    ``eta**2`` is the share of the variance of ``values`` explained by the groups.

    Examples
    --------
    >>> correlation_ratio(pd.Series([1.0, 1.0, 3.0, 3.0]), pd.Series(list("aabb")))
    1.0
    """
    both = pd.DataFrame({"v": values.to_numpy(dtype=float, na_value=np.nan),
                         "g": groups.astype(str).to_numpy()})
    both = both[values.notna().to_numpy() & groups.notna().to_numpy()]
    total = float(((both["v"] - both["v"].mean()) ** 2).sum())
    if total == 0.0:
        return 0.0
    stats = both.groupby("g")["v"].agg(["mean", "size"])
    between = float((stats["size"] * (stats["mean"] - both["v"].mean()) ** 2).sum())
    return float(np.sqrt(between / total))


def _association(feature: pd.Series, sensitive: pd.Series) -> tuple[str, float]:
    dtype = feature.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if numeric:
        return "correlation_ratio", correlation_ratio(feature, sensitive)
    return "cramers_v", cramers_v(feature, sensitive)


def _attribution_gaps(attribution: GroupExplanation) -> pd.Series:
    by_feature = attribution.importances.groupby("feature")["mean_shap"]
    return by_feature.max() - by_feature.min()
