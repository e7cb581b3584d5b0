"""fairpanel's engine: fairness audits, explanations, the reviewer panel and reports.

This package never imports Streamlit; the dashboard in ``app/`` is a thin layer over it.
Each concept has a subpackage (``data``, ``models``, ``fairness``, ``explain``,
``flagging``, ``live``, ``monitoring``, ``panel``, ``raters``, ``reports``, ``retrain``,
``store``, ``cli``, ``demo``, ``systems``); the names below are what a notebook user calls,
imported on first use so that ``import audits`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr
from audits.roles import Actor, PermissionDenied, Role
from audits.versions import __version__

if TYPE_CHECKING:
    from audits.data.datasets import list_datasets, load_dataset, load_file
    from audits.data.schema import ColumnRoles, DataValidationError
    from audits.data.synthetic import make_synthetic_loans
    from audits.explain.cases import explain_case
    from audits.explain.counterfactual import counterfactual_flips
    from audits.explain.groups import explain_groups, gap_decomposition
    from audits.explain.proxies import find_proxies
    from audits.explain.shap_values import explain_model
    from audits.explain.stored import run_explanations
    from audits.fairness.audit import audit_counts, audit_fairness
    from audits.fairness.counts import count_groups
    from audits.fairness.gate import violates, violations
    from audits.fairness.pushdown import count_groups_duckdb, count_groups_spark, count_groups_sql
    from audits.fairness.result import FairnessAudit
    from audits.fairness.stored import run_fairness_audit
    from audits.fairness.verdicts import parse_rule, ratio_rule
    from audits.flagging.flags import combine_flags
    from audits.flagging.policy import FlagPolicy, select_cases
    from audits.flagging.stored import build_queue
    from audits.models.files import load_model, save_model
    from audits.models.training import train_default_model
    from audits.panel.assignment import PanelConfig, assign_cases
    from audits.panel.simulation import SimulatedReviewer, simulate_ratings
    from audits.panel.stored import assign_queue
    from audits.raters.agreement import (
        agreement_summary,
        fleiss_kappa,
        gwet_ac1,
        krippendorff_alpha,
    )
    from audits.raters.agreement_groups import agreement_by_group
    from audits.raters.automation import automation_bias
    from audits.raters.consensus import DawidSkene, majority_vote
    from audits.raters.human_bias import (
        differential_rater_functioning,
        reviewer_report,
        reviewer_severity,
    )
    from audits.raters.stored import analyse_panel
    from audits.reports.stored import draft_report
    from audits.retrain.retraining import apply_consensus
    from audits.retrain.stored import retrain_from_panel
    from audits.slices.discovery import find_slices
    from audits.slices.pushdown import find_slices_duckdb, find_slices_sql
    from audits.store.repository import Store
    from audits.systems.in_place import register_in_place
    from audits.systems.registry import load_version, purge_sensitive, register_system
    from audits.systems.sources import DataSource

__all__ = [
    "Actor",
    "ColumnRoles",
    "DataSource",
    "DataValidationError",
    "DawidSkene",
    "FairnessAudit",
    "FlagPolicy",
    "PanelConfig",
    "PermissionDenied",
    "Role",
    "SimulatedReviewer",
    "Store",
    "__version__",
    "agreement_by_group",
    "agreement_summary",
    "analyse_panel",
    "apply_consensus",
    "assign_cases",
    "assign_queue",
    "audit_counts",
    "audit_fairness",
    "automation_bias",
    "build_queue",
    "combine_flags",
    "count_groups",
    "count_groups_duckdb",
    "count_groups_spark",
    "count_groups_sql",
    "counterfactual_flips",
    "differential_rater_functioning",
    "draft_report",
    "explain_case",
    "explain_groups",
    "explain_model",
    "find_proxies",
    "find_slices",
    "find_slices_duckdb",
    "find_slices_sql",
    "fleiss_kappa",
    "gap_decomposition",
    "gwet_ac1",
    "krippendorff_alpha",
    "list_datasets",
    "load_dataset",
    "load_file",
    "load_model",
    "load_version",
    "majority_vote",
    "make_synthetic_loans",
    "parse_rule",
    "purge_sensitive",
    "ratio_rule",
    "register_in_place",
    "register_system",
    "retrain_from_panel",
    "reviewer_report",
    "reviewer_severity",
    "run_explanations",
    "run_fairness_audit",
    "save_model",
    "select_cases",
    "simulate_ratings",
    "train_default_model",
    "violates",
    "violations",
]

__getattr__ = lazy_getattr(__name__, __file__)
