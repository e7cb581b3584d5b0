"""Models: the default model fairpanel trains, model files, and group thresholds.

Owns training the default scikit-learn pipeline and scoring decisions with it
(:mod:`~audits.models.training`), saving and safely loading model files with skops and an
allow-list of types, never pickle (:mod:`~audits.models.files`), and the group-specific
randomised thresholds of a fairness-constrained model, stored as JSON
(:mod:`~audits.models.group_thresholds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.models.files import (
        TRUSTED_TYPES,
        UnsafeModelError,
        file_sha256,
        load_model,
        save_model,
    )
    from audits.models.group_thresholds import apply_thresholds, thresholds_spec
    from audits.models.training import (
        TrainedModel,
        build_pipeline,
        held_out_decisions,
        predict_decisions,
        split_rows,
        train_default_model,
    )

__all__ = [
    "TRUSTED_TYPES",
    "TrainedModel",
    "UnsafeModelError",
    "apply_thresholds",
    "build_pipeline",
    "file_sha256",
    "held_out_decisions",
    "load_model",
    "predict_decisions",
    "save_model",
    "split_rows",
    "thresholds_spec",
    "train_default_model",
]

__getattr__ = lazy_getattr(__name__, __file__)
