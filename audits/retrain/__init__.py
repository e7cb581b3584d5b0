"""The feedback loop: the panel's labels into training, retraining, before and after.

Owns correcting training labels with consensus labels, retraining (optionally under a
fairness constraint) and the paired before/after comparison on the same held-out rows
(:mod:`~audits.retrain.retraining`), and retraining from a stored panel into a candidate
model version with its lineage (:mod:`~audits.retrain.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.retrain.retraining import (
        BeforeAfter,
        LabelCorrection,
        RetrainedModel,
        apply_consensus,
        compare_models,
        predict_retrained,
        retrain,
    )
    from audits.retrain.stored import PanelLabels, Retraining, panel_labels, retrain_from_panel

__all__ = [
    "BeforeAfter",
    "LabelCorrection",
    "PanelLabels",
    "RetrainedModel",
    "Retraining",
    "apply_consensus",
    "compare_models",
    "panel_labels",
    "predict_retrained",
    "retrain",
    "retrain_from_panel",
]

__getattr__ = lazy_getattr(__name__, __file__)
