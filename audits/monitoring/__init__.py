"""Monitoring: new batches of decisions, fairness over time, and alerts.

Owns ingesting a batch of new decisions into an audit (scored, audited, flagged and
queued, all or nothing; :mod:`~audits.monitoring.ingest`), disparities batch by batch and
the alerts raised when a verdict changes (:mod:`~audits.monitoring.history`), and what
the monitoring pages read from the store (:mod:`~audits.monitoring.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.monitoring.history import (
        BatchResult,
        disparity_history,
        pooled_window,
        verdict_alerts,
    )
    from audits.monitoring.ingest import Ingested, ingest_batch
    from audits.monitoring.stored import MonitoringView, monitoring_view

__all__ = [
    "BatchResult",
    "Ingested",
    "MonitoringView",
    "disparity_history",
    "ingest_batch",
    "monitoring_view",
    "pooled_window",
    "verdict_alerts",
]

__getattr__ = lazy_getattr(__name__, __file__)
