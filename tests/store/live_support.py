"""Live decisions for the store tests (imported by basename): a system with a queued
audit, decisions as the live policy judges them, and the policy's budget as the store
calls it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from db_support import SCIENTIST
from panel_support import snapshot

from audits.live.budget import Bucket, take
from audits.store import CaseInput, Store, SystemInput, VersionInput
from audits.store.live import BudgetTaker, LiveDecisionInput

__all__ = ["T0", "decision", "system_run", "taker"]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def taker(rate: float, capacity: float) -> BudgetTaker:
    """The live policy's token bucket, as the store calls it."""
    def take_one(tokens: float | None, updated: datetime | None, now: datetime
                 ) -> tuple[bool, float, datetime]:
        bucket = (Bucket.full(capacity, now) if tokens is None or updated is None
                  else Bucket(tokens, updated))
        ok, after = take(bucket, now, rate_per_day=rate, capacity=capacity)
        return ok, after.tokens, after.updated_at
    return take_one


def system_run(store: Store, name: str, sha: str) -> int:
    made = store.register_system_version(SCIENTIST, SystemInput(name), VersionInput(
        source=f"{name}.csv", sha256=sha, n_rows=10, roles={}, card="", card_data={},
        data_path=f"data/{sha}.parquet"))
    run = store.create_audit_run(SCIENTIST, dataset_id=made.dataset.id, model_id=None,
                                 config={"kind": "fairness"})
    store.finish_audit_run(SCIENTIST, run.id, results={"rows": 10})
    store.record_queue(SCIENTIST, run.id, policy={"budget": 0}, cases=[])
    return run.id


def decision(i: int, *, hold: bool, score: float = 0.8, key: str | None = None,
             body: dict[str, Any] | None = None) -> LiveDecisionInput:
    request = body or {"id": f"app-{i}", "features": {"income": 40 + i}}
    sha = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    reasons = [{"reason": "low_confidence", "score": 0.5, "explanation": "Near."}] if hold else []
    case = (CaseInput(row_key=f"live:{key or i}", subject_group="sex=F",
                      primary_reason="low_confidence", reasons=reasons, priority=0.5, rank=1,
                      snapshot=snapshot(i)) if hold else None)
    return LiveDecisionInput(external_id=f"app-{i}", idempotency_key=key or f"k-{i}",
                             request_sha256=sha, threshold=0.5, score=score,
                             model_decision=int(score >= 0.5), would_hold=hold,
                             reasons=reasons, features={"income": 40 + i},
                             sensitive={"sex": "F"}, case=case)
