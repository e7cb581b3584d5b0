"""Slice discovery: the worst-off subgroups nobody declared, found and tested.

Owns finding every 1-, 2- and 3-way slice of a system's columns that is significantly
worse than the rest on a metric (:mod:`~audits.slices.discovery`: numeric columns binned
at quantiles, every slice of a set of columns counted at once, tested against its
complement with Benjamini-Hochberg, kept only when worse than each of its parents, and
confirmed on a held-out half), the same discovery counted where the data lives (DuckDB on
files, a SQL database: :mod:`~audits.slices.pushdown`), and that discovery on a stored
fairness audit's decisions, kept as an audit run of its own for the audit's report
(:mod:`~audits.slices.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.slices.discovery import (
        DEFAULT_BINS,
        METRICS,
        Slice,
        SliceReport,
        feature_columns,
        find_slices,
        slice_columns,
        slice_label,
        slice_mask,
    )
    from audits.slices.pushdown import (
        CountedSlices,
        count_slices_duckdb,
        count_slices_sql,
        find_slices_duckdb,
        find_slices_sql,
    )
    from audits.slices.stored import (
        SLICES_KIND,
        find_audit_slices,
        latest_slice_run,
        run_slice_discovery,
    )

__all__ = [
    "CountedSlices",
    "DEFAULT_BINS",
    "METRICS",
    "SLICES_KIND",
    "Slice",
    "SliceReport",
    "count_slices_duckdb",
    "count_slices_sql",
    "feature_columns",
    "find_audit_slices",
    "find_slices",
    "find_slices_duckdb",
    "find_slices_sql",
    "latest_slice_run",
    "run_slice_discovery",
    "slice_columns",
    "slice_label",
    "slice_mask",
]

__getattr__ = lazy_getattr(__name__, __file__)
