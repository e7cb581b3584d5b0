"""Live decisions: held for a person before they take effect.

The online counterpart of :mod:`audits.flagging`. Owns which incoming decisions a
person should see and why (:mod:`~audits.live.policy`: the batch reasons, with the
system's data as the reference for counterfactuals, and a per-decision random control)
and the review budget as a rate with each held decision's service level
(:mod:`~audits.live.budget`), and deciding a call's decisions over the store: scored by
the deployed model, judged, the held ones explained and queued as cases
(:mod:`~audits.live.stored`; calls that arrive together decided together,
:mod:`~audits.live.batching`), and posting final decisions to the system's webhook,
signed and retried (:mod:`~audits.live.webhooks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.live.batching import DecisionBatcher
    from audits.live.budget import SLA_STAGES, Bucket, sla_stage, take
    from audits.live.monitor import LiveOverview, live_overview
    from audits.live.policy import (
        FALLBACKS,
        LIVE_COLUMNS,
        WHEN_SPENT,
        LivePolicy,
        evaluate_live,
        random_control_drawn,
    )
    from audits.live.stored import (
        DecisionProblem,
        DecisionRequest,
        LiveSystem,
        RequestRejected,
        Sweep,
        assign_held,
        configure_live,
        decide,
        decide_calls,
        live_policy,
        live_system,
        request_problems,
        sweep_service_levels,
    )
    from audits.live.webhooks import deliver_due, sign, verify

__all__ = [
    "Bucket",
    "DecisionBatcher",
    "DecisionProblem",
    "DecisionRequest",
    "FALLBACKS",
    "LIVE_COLUMNS",
    "LiveOverview",
    "LivePolicy",
    "LiveSystem",
    "RequestRejected",
    "SLA_STAGES",
    "Sweep",
    "WHEN_SPENT",
    "assign_held",
    "configure_live",
    "decide",
    "decide_calls",
    "deliver_due",
    "evaluate_live",
    "live_overview",
    "live_policy",
    "live_system",
    "random_control_drawn",
    "request_problems",
    "sign",
    "sla_stage",
    "sweep_service_levels",
    "take",
    "verify",
]

__getattr__ = lazy_getattr(__name__, __file__)
