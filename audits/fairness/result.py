"""The result of a fairness audit: :class:`FairnessAudit` and its JSON contract.

A module of its own so that :mod:`audits.fairness.verdicts` (which reads a result) and
:mod:`audits.fairness.audit` (which makes one) both import it without importing each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from audits.fairness.config import AuditConfig
from audits.fairness.counts import GroupCounts
from audits.fairness.family import METHOD, Inference

__all__ = ["EXPLORATORY_WITH_BEST", "FairnessAudit"]

#: With ``reference="best"`` the reference is the best-off group of the same data.
#: Verdicts account for that choice (every pair of the slice is in the judged family);
#: these per-comparison figures do not, and are exploratory.
EXPLORATORY_WITH_BEST = ("p_value", "p_adjusted", "difference", "ratio",
                         "min_detectable_difference")


@dataclass(frozen=True, eq=False)
class FairnessAudit:
    """The result of :func:`audit_fairness`: tidy tables keyed by ``group_id``.

    Attributes
    ----------
    rows : int
        Decisions audited.
    config : AuditConfig
    counts : GroupCounts
        The counts everything was computed from.
    groups : pandas.DataFrame
        One row per group (see :class:`~audits.fairness.counts.GroupCounts`) plus ``small``
        (fewer than ``min_n`` rows) and, with scores, ``roc_auc_binning_bound``.
    metrics : pandas.DataFrame
        One row per (group, metric): ``value, ci_low, ci_high`` (percentile bootstrap;
        for a proportion observed at 0 or 1, widened to its Wilson bounds),
        ``wilson_low, wilson_high`` (fractions), ``numerator, denominator``,
        ``eligible`` (enough data for a verdict), ``reference_id`` and
        ``min_detectable_difference`` (vs the reference, 80% power, alpha 0.05).
    disparities : pandas.DataFrame
        One row per (non-reference group, metric): difference and ratio to the
        reference with intervals, ``p_value`` and ``test`` (proportion metrics only;
        NaN for balanced accuracy, ROC AUC and calibration error), ``p_adjusted``
        (Benjamini-Hochberg over the tested disparities a verdict can judge, marked
        ``bh_family``: eligible rows of metrics some rule reads, so never prevalence
        under the default rules nor groups too small to judge, whose ``p_adjusted`` is
        NaN; complementary metrics such as TPR and FNR test the same hypothesis and both
        count, which makes the adjustment slightly conservative) and the ``verdict`` combined over
        the rules for that metric (any fail, else all pass, else insufficient), judged
        with the simultaneous intervals ``ratio_adjusted_ci_low``, ... of the audit's
        judged family (the per-comparison ``ratio_ci_low``, ... are shown alongside).
    verdicts : pandas.DataFrame
        One row per (disparity, rule): ``rule, statistic, verdict, reason``.
    summaries : pandas.DataFrame
        Per slice: spreads, min/max ratios and named summaries with intervals valid for
        extremes (bounded by simultaneous pairwise intervals), the simultaneous intervals
        of the judged family (``adjusted_ci_low``, ``adjusted_ci_high``), the groups at
        the extremes, and the ``verdict`` of summary rules. ``value`` is over the groups
        large enough to judge (``groups == "eligible"``); ``value_all_groups`` over every
        group with a defined value, as fairlearn computes it.
    reliability : pandas.DataFrame or None
        Reliability curve per group (scores in [0, 1] only).
    threshold_effects : pandas.DataFrame or None
        With scores, ``y_pred`` and a ``threshold``: what that threshold would change.
    inference : Inference or None
        What the simultaneous intervals were computed from; gates
        (:mod:`audits.fairness.gate`) compute their own family's intervals from it.
    family_size : int
        Number of comparisons the audit's verdicts judge together (the Bonferroni
        family of :mod:`audits.fairness.family`).
    """

    rows: int
    config: AuditConfig
    counts: GroupCounts
    groups: pd.DataFrame
    metrics: pd.DataFrame
    disparities: pd.DataFrame
    verdicts: pd.DataFrame
    summaries: pd.DataFrame
    reliability: pd.DataFrame | None = None
    threshold_effects: pd.DataFrame | None = None
    inference: Inference | None = None
    family_size: int = 1

    def attributes(self, group_id: int) -> dict[str, str]:
        """Return the mapping feature -> value of a group."""
        return self.counts.attributes(group_id)

    def to_dict(self) -> dict[str, Any]:
        """Return the audit as the documented JSON contract (NaN becomes null).

        ``{"rows", "groups": [{"attributes", "n", "metrics": {name: {"value", "ci_low",
        "ci_high"}}}], "disparities": [{"metric", "attributes", "reference",
        "difference", "ratio", "p_value", "p_adjusted", "bh_family", "verdict",
        "min_detectable_difference", "difference_adjusted", "ratio_adjusted"}],
        "summaries", "verdicts", "config", "inference"}``.

        Examples
        --------
        >>> from audits.fairness.audit import audit_fairness
        >>> df = pd.DataFrame({"y": [1, 0] * 50, "p": [1, 1, 0, 0] * 25,
        ...                    "s": ["a"] * 50 + ["b"] * 50})
        >>> out = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
        ...                      n_boot=100).to_dict()
        >>> out["rows"], out["groups"][0]["attributes"], out["disparities"][0]["reference"]
        (100, {'s': 'a'}, {'s': 'a'})
        """
        attrs = [self.attributes(i) for i in range(len(self.groups))]
        per_group: list[dict[str, Any]] = [{} for _ in attrs]
        m = self.metrics
        for gid, name, v, lo, hi in zip(m["group_id"], m["metric"], m["value"], m["ci_low"],
                                        m["ci_high"], strict=True):
            per_group[gid][name] = _triple(v, lo, hi)
        groups = [{"attributes": attrs[i], "n": int(n), "metrics": per_group[i]}
                  for i, n in enumerate(self.groups["n"])]
        mdd = dict(zip(zip(m["group_id"], m["metric"], strict=True),
                       m["min_detectable_difference"], strict=True))
        d = self.disparities
        disparities = [
            {"metric": r.metric, "attributes": attrs[r.group_id],
             "reference": attrs[r.reference_id],
             "difference": _triple(r.difference, r.difference_ci_low, r.difference_ci_high),
             "ratio": _triple(r.ratio, r.ratio_ci_low, r.ratio_ci_high),
             "p_value": _num(r.p_value), "p_adjusted": _num(r.p_adjusted),
             "bh_family": bool(r.bh_family), "verdict": _text(r.verdict),
             "min_detectable_difference": _num(mdd.get((r.group_id, r.metric))),
             "difference_adjusted": _pair(r.difference_adjusted_ci_low,
                                          r.difference_adjusted_ci_high),
             "ratio_adjusted": _pair(r.ratio_adjusted_ci_low, r.ratio_adjusted_ci_high)}
            for r in d.itertuples(index=False)
        ]
        return {"rows": self.rows, "groups": groups, "disparities": disparities,
                "summaries": self._summaries_json(), "verdicts": self._verdicts_json(attrs),
                "config": self.config.as_dict(), "inference": self.inference_json()}

    def inference_json(self) -> dict[str, Any]:
        """How the verdicts were judged: the family, its size and per-comparison level.

        Examples
        --------
        >>> from audits.fairness.audit import audit_fairness
        >>> df = pd.DataFrame({"y": [1, 0] * 50, "p": [1, 1, 0, 0] * 25,
        ...                    "s": ["a"] * 50 + ["b"] * 50})
        >>> audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
        ...                        n_boot=50)
        >>> info = audit.inference_json()
        >>> info["family"], info["family_size"], info["per_comparison_level"]
        ('bonferroni', 11, 0.9954545454545455)
        >>> info["reference_chosen_by_data"], info["exploratory"]
        (False, [])
        """
        level = self.config.level
        chosen = self.config.reference == "best"
        return {"family": "bonferroni", "family_size": self.family_size, "level": level,
                "per_comparison_level": 1.0 - (1.0 - level) / self.family_size,
                "method": METHOD, "reference_chosen_by_data": chosen,
                "exploratory": list(EXPLORATORY_WITH_BEST) if chosen else []}

    def _summaries_json(self) -> list[dict[str, Any]]:
        slices = {" & ".join(s): list(s) for s in self.config.slices}
        return [{"features": slices[r.slice], "summary": r.summary, "metric": r.metric,
                 "value": _num(r.value), "ci_low": _num(r.ci_low), "ci_high": _num(r.ci_high),
                 "n_groups": int(r.n_groups), "verdict": _text(r.verdict),
                 "adjusted_ci_low": _num(r.adjusted_ci_low),
                 "adjusted_ci_high": _num(r.adjusted_ci_high), "n_pairs": int(r.n_pairs),
                 "lowest_group": _text(r.lowest_group),
                 "highest_group": _text(r.highest_group), "groups": r.groups,
                 "value_all_groups": _num(r.value_all_groups),
                 "n_groups_all": int(r.n_groups_all)}
                for r in self.summaries.itertuples(index=False)]

    def _verdicts_json(self, attrs: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{"metric": r.metric, "attributes": attrs[r.group_id], "rule": r.rule,
                 "verdict": r.verdict, "reason": r.reason}
                for r in self.verdicts.itertuples(index=False)]


def _num(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    x = float(value)
    return None if math.isnan(x) or math.isinf(x) else x


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(
        value)


def _pair(low: Any, high: Any) -> dict[str, float | None]:
    return {"ci_low": _num(low), "ci_high": _num(high)}


def _triple(value: Any, low: Any, high: Any) -> dict[str, float | None]:
    return {"value": _num(value), "ci_low": _num(low), "ci_high": _num(high)}
