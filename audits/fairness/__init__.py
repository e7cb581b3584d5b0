"""Fairness audits: per-group and intersectional metrics, intervals, tests and verdicts.

Owns the one pass over the decisions that counts them per group and intersection, in
pandas (:mod:`~audits.fairness.counts`) or as one SQL GROUP BY where the data lives
(DuckDB, a SQL database or Spark: :mod:`~audits.fairness.pushdown`), and everything
read from those counts: the metric registry (:mod:`~audits.fairness.metrics`), bootstrap
and Wilson intervals
(:mod:`~audits.fairness.intervals`), disparities to a reference group
(:mod:`~audits.fairness.disparities`), significance and power
(:mod:`~audits.fairness.significance`), verdicts judged as one family with simultaneous
intervals and the CI gate (:mod:`~audits.fairness.family`, :mod:`~audits.fairness.verdicts`,
:mod:`~audits.fairness.gate`), score metrics, per-group reliability tables
(:mod:`~audits.fairness.calibration`) and thresholds; the audit itself
(:func:`audit_fairness`, its tables, configuration and result), audit runs over the
store (:mod:`~audits.fairness.stored`) and their findings, most severe first
(:mod:`~audits.fairness.findings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.fairness.audit import DEFAULT_RULES, audit_counts, audit_fairness
    from audits.fairness.calibration import reliability_table, run_reliability
    from audits.fairness.config import AuditConfig
    from audits.fairness.counts import GroupCounts, count_groups, group_counts
    from audits.fairness.findings import ranked_disparities
    from audits.fairness.gate import gate_table, violates, violations
    from audits.fairness.intervals import wilson_interval
    from audits.fairness.metrics import METRIC_NAMES
    from audits.fairness.pushdown import (
        Aggregation,
        count_groups_duckdb,
        count_groups_spark,
        count_groups_sql,
    )
    from audits.fairness.result import FairnessAudit
    from audits.fairness.scores import expected_calibration_error, reliability_curve, roc_auc
    from audits.fairness.significance import (
        benjamini_hochberg,
        holm,
        min_detectable_difference,
        two_proportion_test,
    )
    from audits.fairness.stored import registered_data, registered_model, run_fairness_audit
    from audits.fairness.thresholds import threshold_curves, threshold_effects
    from audits.fairness.verdicts import (
        FAIL,
        INSUFFICIENT,
        PASS,
        Rule,
        difference_rule,
        parse_rule,
        ratio_rule,
    )

__all__ = [
    "Aggregation",
    "AuditConfig",
    "DEFAULT_RULES",
    "FAIL",
    "FairnessAudit",
    "GroupCounts",
    "INSUFFICIENT",
    "METRIC_NAMES",
    "PASS",
    "Rule",
    "audit_counts",
    "audit_fairness",
    "benjamini_hochberg",
    "count_groups",
    "count_groups_duckdb",
    "count_groups_spark",
    "count_groups_sql",
    "difference_rule",
    "expected_calibration_error",
    "gate_table",
    "group_counts",
    "holm",
    "min_detectable_difference",
    "parse_rule",
    "ranked_disparities",
    "ratio_rule",
    "registered_data",
    "registered_model",
    "reliability_curve",
    "reliability_table",
    "roc_auc",
    "run_fairness_audit",
    "run_reliability",
    "threshold_curves",
    "threshold_effects",
    "two_proportion_test",
    "violates",
    "violations",
    "wilson_interval",
]

__getattr__ = lazy_getattr(__name__, __file__)
