"""The reviewer panel: who rates which flagged case, under which blind condition.

Owns assignment with overlap, workload, exclusions and diversity
(:mod:`~audits.panel.assignment`, :mod:`~audits.panel.diversity`), simulated reviewers
with known biases for the demo and for tests (:mod:`~audits.panel.simulation`), and
assigning a stored audit's queue to the stored panel (:mod:`~audits.panel.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.panel.assignment import (
        Assignment,
        PanelConfig,
        Reviewer,
        assign_cases,
        diversity_score,
        reassign,
    )
    from audits.panel.simulation import SimulatedReviewer, simulate_ratings
    from audits.panel.stored import assign_queue, reassign_reviewer

__all__ = [
    "Assignment",
    "PanelConfig",
    "Reviewer",
    "SimulatedReviewer",
    "assign_cases",
    "assign_queue",
    "diversity_score",
    "reassign",
    "reassign_reviewer",
    "simulate_ratings",
]

__getattr__ = lazy_getattr(__name__, __file__)
