"""The bundled default: what ``fairpanel demo`` prepares so every page has data.

Owns the demo's dataset, default model and first audit run with its personas
(:mod:`~audits.demo.default`), its review queue and simulated monitoring batches
(:mod:`~audits.demo.queue`), and its reviewer panel with simulated ratings
(:mod:`~audits.demo.panel`). It goes through the same engine calls as any other user of
the store; nothing else in the engine imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.demo.default import DEMO_PERSONAS, DemoState, ensure_demo
    from audits.demo.panel import FullDemo, ensure_full_demo
    from audits.demo.queue import DemoQueues, ensure_demo_queue

__all__ = [
    "DEMO_PERSONAS",
    "DemoQueues",
    "DemoState",
    "FullDemo",
    "ensure_demo",
    "ensure_demo_queue",
    "ensure_full_demo",
]

__getattr__ = lazy_getattr(__name__, __file__)
