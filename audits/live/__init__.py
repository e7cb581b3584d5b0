"""Live decisions: held for a person before they take effect.

The online counterpart of :mod:`audits.flagging`. Owns which incoming decisions a
person should see and why (:mod:`~audits.live.policy`: the batch reasons, with the
system's data as the reference for counterfactuals, and a per-decision random control)
and the review budget as a rate with each held decision's service level
(:mod:`~audits.live.budget`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.live.budget import SLA_STAGES, Bucket, sla_stage, take
    from audits.live.policy import (
        FALLBACKS,
        LIVE_COLUMNS,
        WHEN_SPENT,
        LivePolicy,
        evaluate_live,
        random_control_drawn,
    )

__all__ = [
    "Bucket",
    "FALLBACKS",
    "LIVE_COLUMNS",
    "LivePolicy",
    "SLA_STAGES",
    "WHEN_SPENT",
    "evaluate_live",
    "random_control_drawn",
    "sla_stage",
    "take",
]

__getattr__ = lazy_getattr(__name__, __file__)
