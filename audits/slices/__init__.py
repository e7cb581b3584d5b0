"""Slice discovery: the worst-off subgroups nobody declared, found and tested.

Owns finding every 1-, 2- and 3-way slice of a system's columns that is significantly
worse than the rest on a metric (:mod:`~audits.slices.discovery`: numeric columns binned
at quantiles, every slice of a set of columns counted at once, tested against its
complement with Benjamini-Hochberg, kept only when worse than each of its parents, and
confirmed on a held-out half).
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
        find_slices,
        slice_columns,
    )

__all__ = [
    "DEFAULT_BINS",
    "METRICS",
    "Slice",
    "SliceReport",
    "find_slices",
    "slice_columns",
]

__getattr__ = lazy_getattr(__name__, __file__)
