"""Builders for the interchange tests: a small stored audit with a review queue.

The cases' snapshots are fixed, so their sha256 (written into the fixture files under
tests/fixtures/interchange/) is the same in every fresh store; case ids start at 1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from audits.roles import Actor, Role
from audits.store import CaseInput, Store
from audits.store.imports import ImportOps
from audits.store.log import canonical_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "interchange"
SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
LEAD = Actor("pat", Role.PANEL_LEAD)
REVIEWER = Actor("rita", Role.REVIEWER)
COMPLIANCE = Actor("casey", Role.COMPLIANCE_OFFICER)
WORD = "approved"
#: (age, income, housing, sex, model decision) of the first cases; more are generated.
ROWS = [(34, 2100, "own", "female", 0), (51, 3400, "rent", "male", 1),
        (27, 1800, "free", "female", 0), (45, 2900, "own", "male", 1),
        (38, 2500, "rent", "female", 1), (62, 3100, "own", "male", 0),
        (29, 1500, "rent", "male", 0), (41, 4000, "own", "female", 1)]

#: The Store with the import methods, whether or not repository.py joins ImportOps yet.
ImportingStore: type[Store] = Store if hasattr(Store, "import_ratings") else type(
    "ImportingStore", (Store, ImportOps), {})


def snapshot(i: int) -> dict[str, Any]:
    """The frozen snapshot of the i-th case: features, sensitive, decision, explanation."""
    age, income, housing, sex, decision = ROWS[i % len(ROWS)]
    snap: dict[str, Any] = {
        "schema": 1, "row": i,
        "features": {"age": age + i // len(ROWS), "income": income, "housing": housing,
                     "sex": sex},
        "sensitive": {"sex": sex},
        "decision": {"value": decision,
                     "label": f"Predicted {WORD}" if decision else f"Predicted not {WORD}"},
        "score": 0.4 + 0.2 * decision, "threshold": 0.5,
        "reasons": [{"reason": "disparity", "score": 0.5, "explanation": "group gap"}],
        "explanation": {"available": False, "note": "Logged decisions without a model."},
        "provenance": {"dataset_sha256": "d" * 64},
    }
    if i == 2:
        snap["hidden"] = {"gold_answer": 1}
    return snap


def snapshot_sha256(i: int) -> str:
    """The sha256 the store gives the i-th case's snapshot."""
    return hashlib.sha256(canonical_json(snapshot(i)).encode()).hexdigest()


def queued_audit(store: Store, n: int = 3, *, name: str = "loans") -> tuple[int, list[int]]:
    """Store a completed audit with ``n`` queued cases; return its id and the case ids."""
    dataset = store.record_dataset(SCIENTIST, name=name, source="test",
                                   sha256=hashlib.sha256(name.encode()).hexdigest(),
                                   n_rows=100, roles={"target": "y", "positive_label": WORD},
                                   card="# loans")
    run = store.create_audit_run(SCIENTIST, dataset_id=dataset.id, model_id=None,
                                 config={"kind": "fairness"})
    store.finish_audit_run(SCIENTIST, run.id, results={"rows": 100})
    cases = [CaseInput(row_key=str(i), subject_group=f"sex={snapshot(i)['sensitive']['sex']}",
                       primary_reason="gold" if i == 2 else "disparity",
                       reasons=snapshot(i)["reasons"], priority=1.0 - i / 100, rank=i + 1,
                       snapshot=snapshot(i)) for i in range(n)]
    stored = store.record_queue(SCIENTIST, run.id, policy={"budget": n}, cases=cases)
    return run.id, [c.id for c in stored]
