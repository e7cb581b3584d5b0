"""The raters audited: agreement, consensus labels and human bias in reviews.

Owns the ratings table contract (``case_id, reviewer_id, label``;
:mod:`~audits.raters.ratings`, :mod:`~audits.raters.agreement_stats`), agreement
statistics with intervals, overall and per group (:mod:`~audits.raters.agreement`,
:mod:`~audits.raters.agreement_groups`), consensus labels by majority and Dawid-Skene
(:mod:`~audits.raters.consensus`), reviewer severity and differential rater functioning
(:mod:`~audits.raters.human_bias`), automation bias (:mod:`~audits.raters.automation`),
drift and fatigue (:mod:`~audits.raters.drift`), reviewers audited like a model
(:mod:`~audits.raters.fairness`), LLM judges held to the panel's standard per user group
(:mod:`~audits.raters.judges`), and all of it on stored ratings
(:mod:`~audits.raters.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.raters.agreement import (
        AgreementSummary,
        Estimate,
        agreement_summary,
        case_disagreement,
        cohen_kappa_pairs,
        fleiss_kappa,
        gwet_ac1,
        krippendorff_alpha,
        percent_agreement,
    )
    from audits.raters.agreement_groups import (
        agreement_by_group,
        agreement_by_rater_group,
        in_group_vs_cross_group,
    )
    from audits.raters.automation import automation_bias, over_reliance
    from audits.raters.consensus import DawidSkene, consensus_labels, majority_vote
    from audits.raters.drift import drift_and_fatigue
    from audits.raters.fairness import reviewer_fairness
    from audits.raters.flagged import FlaggedReviewers, flagged_reviewers
    from audits.raters.human_bias import (
        differential_rater_functioning,
        reviewer_report,
        reviewer_severity,
    )
    from audits.raters.judges import JudgeAnalysis, alternative_annotator_test, judge_analysis
    from audits.raters.stored import PanelAnalysis, analyse_panel

__all__ = [
    "AgreementSummary",
    "DawidSkene",
    "Estimate",
    "FlaggedReviewers",
    "JudgeAnalysis",
    "PanelAnalysis",
    "agreement_by_group",
    "agreement_by_rater_group",
    "agreement_summary",
    "alternative_annotator_test",
    "analyse_panel",
    "automation_bias",
    "case_disagreement",
    "cohen_kappa_pairs",
    "consensus_labels",
    "differential_rater_functioning",
    "drift_and_fatigue",
    "flagged_reviewers",
    "fleiss_kappa",
    "gwet_ac1",
    "in_group_vs_cross_group",
    "judge_analysis",
    "krippendorff_alpha",
    "majority_vote",
    "over_reliance",
    "percent_agreement",
    "reviewer_fairness",
    "reviewer_report",
    "reviewer_severity",
]

__getattr__ = lazy_getattr(__name__, __file__)
