"""Builders for the panel tests: reviewers, a queue of cases and their assignments."""

from __future__ import annotations

from collections.abc import Sequence

from db_support import ADMIN, SCIENTIST, add_dataset

from audits.roles import Actor, Role
from audits.store import AssignmentInput, CaseInput, Store

LEAD = Actor("pat", Role.PANEL_LEAD)


def reviewer_actor(i: int) -> Actor:
    """The i-th reviewer's actor."""
    return Actor(f"reviewer{i:02d}", Role.REVIEWER)


def add_reviewers(store: Store, n: int) -> dict[str, int]:
    """Create ``n`` reviewer users on the panel; return username -> reviewer id."""
    ids = {}
    for i in range(n):
        actor = reviewer_actor(i)
        store.add_user(ADMIN, actor.username, Role.REVIEWER)
        ids[actor.username] = store.add_reviewer(LEAD, actor.username, capacity=100).id
    return ids


def snapshot(i: int, decision: int = 1) -> dict[str, object]:
    """A case snapshot with a model decision, explanation, reasons and a gold answer."""
    return {"features": {"age": 30 + i, "sex": "F" if i % 2 else "M", "hours": 40},
            "sensitive": {"sex": "F" if i % 2 else "M"},
            "decision": {"value": decision, "label": "Predicted approved"},
            "score": 0.55, "threshold": 0.5,
            "explanation": {"available": True, "reason": "age raised the score",
                            "waterfall": {"feature": ["age", "sex"], "value": ["31", "F"],
                                          "contribution": [0.2, -0.1]}},
            "reasons": [{"reason": "gold", "score": 0.5, "explanation": "known"}],
            "provenance": {"model_sha256": "ab" * 32},
            "hidden": {"gold_answer": 1}}


def queue_cases(store: Store, n: int, dataset_id: int | None = None) -> tuple[int, list[int]]:
    """Store an audit run with ``n`` queued cases; return the run id and case ids.

    The run audits ``dataset_id`` (default: a new bare dataset).
    """
    dataset_id = add_dataset(store) if dataset_id is None else dataset_id
    run = store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=None,
                                 config={"kind": "fairness"})
    store.finish_audit_run(SCIENTIST, run.id, results={"rows": n})
    cases = [CaseInput(row_key=str(i), subject_group="sex=F" if i % 2 else "sex=M",
                       primary_reason="gold", reasons=[{"reason": "gold", "score": 0.5,
                                                        "explanation": "known"}],
                       priority=0.5, rank=i + 1, snapshot=snapshot(i)) for i in range(n)]
    stored = store.record_queue(SCIENTIST, run.id, policy={"budget": n}, cases=cases)
    return run.id, [c.id for c in stored]


def assign(store: Store, run_id: int, pairs: Sequence[tuple[int, int]], *,
           model_shown: bool = True, sensitive_shown: bool = True) -> None:
    """Assign each (case id, reviewer id) pair."""
    items = [AssignmentInput(case_id=c, reviewer_id=r, slot=1, kind="flagged",
                             model_shown=model_shown, sensitive_shown=sensitive_shown)
             for c, r in pairs]
    store.record_assignments(LEAD, run_id, items, config={"overlap": 3})
