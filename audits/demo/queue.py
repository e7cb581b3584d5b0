"""The demo's review queue and monitoring example, so those pages have data on first run.

:func:`ensure_demo_queue` (idempotent) stores, next to :func:`audits.demo.default.ensure_demo`:

* the fairness audit of the demo dataset and its review queue (budget 200);
* a monitoring example on the synthetic loans dataset: its audit, its queue, and
  :data:`N_WEEKS` simulated weekly batches of new decisions, with injected drift against
  applicants aged 50+ (their approval log-odds lowered by :data:`DRIFT_SHIFT`) from week
  :data:`DRIFT_FROM` on, labelled as simulated wherever they show. Alerts follow the
  rolling window of 4 batches and must hold for 2 of them, so the drift raises its alert
  once the window has failed twice in a row (in the last week), not on one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from audits.data.datasets import load_dataset
from audits.data.synthetic import inject_drift, make_synthetic_loans
from audits.demo.default import DEMO_PERSONAS, ensure_demo, register_bundled
from audits.fairness.stored import run_fairness_audit
from audits.flagging.policy import FlagPolicy
from audits.flagging.stored import Queue, build_queue
from audits.monitoring.ingest import ingest_batch
from audits.roles import Actor
from audits.store import Store

__all__ = ["DRIFT_FROM", "DRIFT_GROUP", "DRIFT_SHIFT", "N_WEEKS", "DemoQueues",
           "ensure_demo_queue", "weekly_batches"]

Progress = Callable[[float, str], None]

MONITORING_DATASET = "synthetic"
#: The group whose decisions drift from week :data:`DRIFT_FROM` on.
DRIFT_GROUP = ("age_band", "50+")
#: Log-odds added to that group's approval scores in the drifting weeks.
DRIFT_SHIFT = -1.0
#: Simulated weeks, and the first week that drifts (the drift persists).
N_WEEKS, DRIFT_FROM = 4, 2
BATCH_ROWS = 4000
FIRST_WEEK = date(2026, 11, 2)


@dataclass(frozen=True)
class DemoQueues:
    """The demo dataset's queue and the monitoring example's audit run id."""

    queue: Queue
    monitoring_run_id: int


def ensure_demo_queue(store: Store, *, dataset: str | None = None, budget: int = 200,
                      progress: Progress | None = None) -> DemoQueues:
    """Store the demo's queue and the simulated monitoring example unless present.

    ``dataset`` is as for :func:`audits.demo.default.ensure_demo` (None: the configured demo
    dataset).
    """
    report = progress or (lambda fraction, message: None)
    actor = Actor(DEMO_PERSONAS[0].username, DEMO_PERSONAS[0].role)
    state = ensure_demo(store, dataset=dataset)
    policy = FlagPolicy(budget=budget)
    # The monitoring example first, so the demo dataset's audit stays the newest run.
    report(0.05, "Monitoring example (simulated weekly batches)")
    loaded = load_dataset(MONITORING_DATASET)
    synthetic = register_bundled(store, actor, loaded).dataset
    monitored = run_fairness_audit(store, actor, synthetic, None)
    build_queue(store, actor, monitored.id, policy=policy)
    for i, (label, start, end, frame) in enumerate(weekly_batches()):
        report(0.1 + 0.08 * i, f"Ingesting {label}")
        ingest_batch(store, actor, monitored.id, frame, label=label, period_start=start,
                     period_end=end)
    report(0.35, "Fairness audit of the demo dataset")
    run = run_fairness_audit(store, actor, state.dataset, state.model)
    queue = build_queue(store, actor, run.id, policy=policy,
                        progress=lambda f, m: report(0.4 + 0.6 * f, f"Review queue: {m}"))
    report(1.0, "Review queue and monitoring example ready")
    return DemoQueues(queue=queue, monitoring_run_id=monitored.id)


def weekly_batches(n_weeks: int = N_WEEKS, *, rows: int = BATCH_ROWS,
                   drift_from: int = DRIFT_FROM) -> list[tuple[str, str, str, object]]:
    """Return simulated weekly batches ``(label, start, end, frame)``; drift from a week on.

    Examples
    --------
    >>> [b[:3] for b in weekly_batches(2, rows=50)]
    [('simulated week 1', '2026-11-02', '2026-11-08'), \
('simulated week 2', '2026-11-09', '2026-11-15')]
    """
    batches = []
    column, value = DRIFT_GROUP
    for week in range(1, n_weeks + 1):
        frame = make_synthetic_loans(rows, random_state=100 + week)
        if week >= drift_from:
            frame = inject_drift(frame, column=column, value=value, shift=DRIFT_SHIFT)
        start = FIRST_WEEK + timedelta(days=7 * (week - 1))
        batches.append((f"simulated week {week}", start.isoformat(),
                        (start + timedelta(days=6)).isoformat(), frame))
    return batches
