"""Assign an audit's queued cases to the stored panel, and reassign when someone leaves.

:func:`assign_queue` reads the panel (capacity, availability, consented backgrounds),
the audit's cases, their kinds (gold, control, flagged), conflicts of interest and the
assignments already made, runs :func:`audits.panel.assignment.assign_cases`, and stores the new
assignments with their randomized blinding in one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Hashable

import pandas as pd

from audits.panel.assignment import Assignment, PanelConfig, Reviewer, assign_cases
from audits.roles import Actor, require_role
from audits.store import AssignmentInput, Store

__all__ = ["assign_queue", "case_kind", "reassign_reviewer"]

Progress = Callable[[float, str], None]
KIND_OF_REASON = {"gold": "gold", "random_control": "control"}


def case_kind(primary_reason: str) -> str:
    """Return the assignment kind of a case from the reason it was queued for.

    Examples
    --------
    >>> case_kind("random_control"), case_kind("disparity")
    ('control', 'flagged')
    """
    return KIND_OF_REASON.get(primary_reason, "flagged")


def assign_queue(store: Store, actor: Actor, audit_run_id: int, *,
                 config: PanelConfig | None = None,
                 progress: Progress | None = None,
                 only: Collection[int] | None = None) -> Assignment:
    """Assign every open case of an audit that lacks reviewers; store the result.

    Requires "manage the panel". ``config`` None reuses the audit's stored panel
    configuration (else the defaults); a given one is stored. A reviewer's capacity is
    reduced by their open assignments in other audits; their assignments in this audit
    are passed as ``existing`` (rated ones as ``done``), so a case only gets its
    missing slots. ``only`` limits the assignment to those case ids (e.g. the live
    decisions just held), leaving the rest of the queue as it is.
    """
    require_role(actor, "manage the panel")
    report = progress or (lambda fraction, message: None)
    stored = store.panel_config(audit_run_id)
    chosen = config or (PanelConfig.from_dict(stored) if stored else PanelConfig())
    store.set_panel_config(actor, audit_run_id, chosen.as_dict())
    report(0.1, "Reading the panel and the queue")
    table = pd.DataFrame(store.assignment_table(actor, audit_run_id),
                         columns=["assignment_id", "case_id", "reviewer_id", "slot", "kind",
                                  "model_shown", "sensitive_shown", "status"])
    live = table[table["status"] != "withdrawn"]
    open_here = Counter(live.loc[live["status"] == "open", "reviewer_id"])
    backgrounds = store.backgrounds_for_assignment(actor)
    reviewers = [Reviewer(str(r.id), max(0, r.capacity - (r.open_assignments
                                                          - open_here.get(r.id, 0))),
                          backgrounds.get(r.id, {}), r.available)
                 for r in store.list_reviewers(actor)]
    wanted = None if only is None else set(only)
    cases = [c for c in store.list_cases(audit_run_id) if c.status != "closed"
             and (wanted is None or c.id in wanted)]
    existing = pd.DataFrame({"case_id": live["case_id"].tolist(),
                             "reviewer_id": [str(r) for r in live["reviewer_id"]],
                             "slot": live["slot"].tolist()})
    done = [(c, str(r)) for c, r in zip(live.loc[live["status"] == "rated", "case_id"],
                                        live.loc[live["status"] == "rated", "reviewer_id"],
                                        strict=True)]
    excluded: dict[Hashable, set[str]] = {
        k: {str(r) for r in v} for k, v in store.exclusions(actor, audit_run_id).items()}
    withdrawn = table[table["status"] == "withdrawn"]
    for case_id, reviewer_id in zip(withdrawn["case_id"], withdrawn["reviewer_id"], strict=True):
        excluded.setdefault(case_id, set()).add(str(reviewer_id))  # one row per pair, ever
    report(0.3, f"Assigning {len(cases)} cases to {len(reviewers)} reviewers")
    result = assign_cases([c.id for c in cases], reviewers, config=chosen,
                          kinds={c.id: case_kind(c.primary_reason) for c in cases},
                          exclusions=excluded,
                          existing=existing, done=done)
    report(0.8, f"Storing {len(result.table)} assignments")
    items = [AssignmentInput(case_id=int(r.case_id), reviewer_id=int(r.reviewer_id),
                             slot=int(r.slot), kind=str(r.kind), model_shown=bool(r.model_shown),
                             sensitive_shown=bool(r.sensitive_shown))
             for r in result.table.itertuples(index=False)]
    summary = {**chosen.as_dict(), "n_new": len(items),
               "mean_diversity": float(result.diversity["diversity"].mean())
               if len(result.diversity) else None,
               "unfilled_cases": int(len(result.unfilled))}
    if items:
        store.record_assignments(actor, audit_run_id, items, config=summary)
    report(1.0, f"{len(items)} assignments stored")
    return result


def reassign_reviewer(store: Store, actor: Actor, audit_run_id: int, username: str, *,
                      config: PanelConfig | None = None) -> Assignment:
    """Mark a reviewer unavailable, withdraw their unrated cases and refill the slots."""
    require_role(actor, "manage the panel")
    store.set_reviewer_available(actor, username, False)
    store.withdraw_open_assignments(actor, audit_run_id, username)
    return assign_queue(store, actor, audit_run_id, config=config)
