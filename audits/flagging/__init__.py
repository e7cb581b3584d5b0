"""Flagging: which decisions go to people, why, and how many a period's panel can see.

Owns the reasons (low confidence, disparity, counterfactual flip, attribution, random
control, gold, the worst-off slices nobody declared, active learning;
:mod:`~audits.flagging.flags`, :mod:`~audits.flagging.reasons`,
:mod:`~audits.flagging.subgroups`, :mod:`~audits.flagging.active_learning`) and the one
flags table they share (:mod:`~audits.flagging.common`), the budgeted, stratified policy
that picks the cases (:mod:`~audits.flagging.policy`), the reviewers' frozen snapshot of
each case (:mod:`~audits.flagging.cases`), the deferral curve
(:mod:`~audits.flagging.deferral`) and the review queue of a stored audit
(:mod:`~audits.flagging.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.flagging.active_learning import active_learning_flags
    from audits.flagging.deferral import (
        DeferralCurve,
        HumanAccuracy,
        deferral_curve,
        human_accuracy,
    )
    from audits.flagging.flags import (
        attribution_flags,
        combine_flags,
        counterfactual_flags,
        disparity_flags,
        gold_flags,
        low_confidence_flags,
        random_control_flags,
        slice_flags,
    )
    from audits.flagging.policy import FlagPolicy, Selection, select_cases
    from audits.flagging.stored import Queue, build_queue

__all__ = [
    "DeferralCurve",
    "FlagPolicy",
    "HumanAccuracy",
    "Queue",
    "Selection",
    "active_learning_flags",
    "attribution_flags",
    "build_queue",
    "combine_flags",
    "counterfactual_flags",
    "deferral_curve",
    "disparity_flags",
    "gold_flags",
    "human_accuracy",
    "low_confidence_flags",
    "random_control_flags",
    "select_cases",
    "slice_flags",
]

__getattr__ = lazy_getattr(__name__, __file__)
