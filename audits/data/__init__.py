"""Data in, checked: column roles, validation, the bundled datasets and user files.

Owns :class:`ColumnRoles` (which column is the outcome, the decision, the score, the
sensitive features) and the validation every entry point runs first
(:mod:`~audits.data.schema`), the bundled datasets with their cards and user CSV/Parquet
files (:mod:`~audits.data.datasets`), the seeded synthetic loan generator with a known
injected bias (:mod:`~audits.data.synthetic`), and how raw values become the 0/1 outcomes
and group labels the counts are keyed by (:mod:`~audits.data.encoding`). It imports
nothing else of the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.data.datasets import (
        BUNDLED,
        DatasetInfo,
        LoadedDataset,
        datasets_dir,
        list_datasets,
        load_dataset,
        load_file,
        read_table,
    )
    from audits.data.schema import ColumnRoles, DataValidationError, validate_frame
    from audits.data.synthetic import SyntheticBias, inject_drift, make_synthetic_loans

__all__ = [
    "BUNDLED",
    "ColumnRoles",
    "DataValidationError",
    "DatasetInfo",
    "LoadedDataset",
    "SyntheticBias",
    "datasets_dir",
    "inject_drift",
    "list_datasets",
    "load_dataset",
    "load_file",
    "make_synthetic_loans",
    "read_table",
    "validate_frame",
]

__getattr__ = lazy_getattr(__name__, __file__)
