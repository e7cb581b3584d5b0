"""Explanations: SHAP values, per subgroup, per case, counterfactuals and proxies.

Owns SHAP explanations in the original feature space with an additivity check
(:mod:`~audits.explain.shap_values`), per-group importances with intervals and what
drives a gap between two groups (:mod:`~audits.explain.groups`), one decision's waterfall
and plain-language reason (:mod:`~audits.explain.cases`), whether decisions flip when only
group membership changes (:mod:`~audits.explain.counterfactual`), which features stand in
for a sensitive one (:mod:`~audits.explain.proxies`), each row's SHAP values computed
once per run (:mod:`~audits.explain.rows`), and explanation runs computed once and
stored (:mod:`~audits.explain.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.explain.cases import CaseExplanation, explain_case
    from audits.explain.counterfactual import CounterfactualResult, counterfactual_flips
    from audits.explain.groups import (
        GapDecomposition,
        GroupExplanation,
        explain_groups,
        gap_decomposition,
    )
    from audits.explain.proxies import ProxyReport, correlation_ratio, cramers_v, find_proxies
    from audits.explain.shap_values import Explanation, explain_model
    from audits.explain.stored import run_explanations

__all__ = [
    "CaseExplanation",
    "CounterfactualResult",
    "Explanation",
    "GapDecomposition",
    "GroupExplanation",
    "ProxyReport",
    "correlation_ratio",
    "counterfactual_flips",
    "cramers_v",
    "explain_case",
    "explain_groups",
    "explain_model",
    "find_proxies",
    "gap_decomposition",
    "run_explanations",
]

__getattr__ = lazy_getattr(__name__, __file__)
