"""The demo's conversation system: the bundled simulated chatbot log, queued and reviewed.

:func:`ensure_conversation_demo` (idempotent) registers the bundled simulated
conversations (``datasets/conversations.md``: Spanish-writing users escalated more at
the same confidence, a judge one point harsher on the tone of regional-dialect writers)
as the system :data:`SYSTEM`, builds its queue (a budget of :data:`BUDGET`), assigns it
to the demo panel's simulated reviewers (3 per conversation, the judge's verdict hidden
for half the assignments at random) and lets them rate it with the rubric through the
same store calls as a person, copying the judge's score :data:`AUTOMATION_BIAS` of the
time when it was shown to them. The reviewer persona gets :data:`PERSONA_CASES`
conversations of its own to rate (the judge shown for half), which wait for a visitor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audits.conversations.records import conversations_from_records
from audits.conversations.rubric import DEFAULT_RUBRIC
from audits.conversations.simulated import (
    SimulatedConversations,
    simulate_conversations,
    simulated_rubric,
)
from audits.conversations.stored import build_conversation_queue, register_conversations
from audits.demo.default import DEMO_PERSONAS
from audits.flagging.policy import CONVERSATION_QUOTAS, FlagPolicy
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue, case_kind
from audits.roles import Actor, Role
from audits.store import AssignmentInput, Store

__all__ = ["AUTOMATION_BIAS", "BUDGET", "ConversationDemo", "PERSONA_CASES", "SYSTEM",
           "ensure_conversation_demo", "rate_as_simulated_panel"]

Progress = Callable[[float, str], None]
PERSONA = next(p for p in DEMO_PERSONAS if p.role == Role.REVIEWER)
LEAD = next(p for p in DEMO_PERSONAS if p.role == Role.PANEL_LEAD)
SYSTEM = "helpdesk-chat"
BUDGET = 100
#: How often a simulated reviewer shown the judge's score copies it (per criterion).
AUTOMATION_BIAS = 0.3
#: Conversations left for the reviewer persona to rate.
PERSONA_CASES = 4
#: Simulated reviewers per conversation.
OVERLAP = 3
SIMULATED_CORRECTION = ("[Simulated correction] I am sorry for the trouble. Let me put you "
                        "in touch with a colleague who can sort this out today.")


@dataclass(frozen=True)
class ConversationDemo:
    """What the conversation demo holds: its audit run, queue and ratings."""

    audit_run_id: int
    cases: int
    ratings: int
    assignments: int = 0


def ensure_conversation_demo(store: Store, *, random_state: int = 0,
                             progress: Progress | None = None) -> ConversationDemo:
    """Prepare the conversation demo unless it is there (see the module)."""
    report = progress or (lambda fraction, message: None)
    admin = Actor.system()
    sim = simulate_conversations(2_000, seed=0)  # the bundled conversations
    if SYSTEM not in {s.name for s in store.list_systems()}:
        report(0.05, "Registering the simulated conversations")
        register_conversations(store, admin, SYSTEM, conversations_from_records(sim.records),
                               description="A customer-service chatbot (simulated "
                                           "conversations, with planted effects).",
                               intended_use="Answer customers' questions and hand them to "
                                            "a person when needed.",
                               source="the bundled simulated conversations (seed 0)")
    queue = build_conversation_queue(
        store, admin, SYSTEM, policy=FlagPolicy(budget=BUDGET, quotas=CONVERSATION_QUOTAS),
        progress=lambda f, m: report(0.1 + 0.4 * f, m))
    run_id = queue.audit_run.id
    lead = Actor(LEAD.username, LEAD.role)
    persona = next((r for r in store.list_reviewers(lead) if r.username == PERSONA.username),
                   None)
    if not store.assignment_table(lead, run_id):
        report(0.55, "Assigning the conversations to the simulated reviewers")
        if persona is not None:  # its cases come below; the simulated panel takes the queue
            store.set_reviewer_available(lead, PERSONA.username, False)
        try:
            assign_queue(store, lead, run_id, config=PanelConfig(overlap=OVERLAP,
                                                                  random_state=random_state))
        finally:
            if persona is not None:
                store.set_reviewer_available(lead, PERSONA.username, True)
        if persona is not None:  # before the ratings, so its cases stay open for it
            _persona_cases(store, lead, run_id, persona.id, random_state)
    # Resumes an interrupted preparation: only open assignments are rated, each once.
    report(0.7, "Simulated reviewers rating the conversations")
    rate_as_simulated_panel(store, lead, run_id, sim, random_state,
                            skip=None if persona is None else persona.id)
    rated = len(store.ratings_table(admin, run_id))
    report(1.0, "Conversation demo ready")
    return ConversationDemo(run_id, len(queue.cases), rated,
                            len(store.assignment_table(lead, run_id)))


def rate_as_simulated_panel(store: Store, lead: Actor, run_id: int,
                            sim: SimulatedConversations, random_state: int = 0, *,
                            skip: int | None = None) -> int:
    """Rate every open assignment of a conversation queue (but reviewer ``skip``'s) as the
    simulated panel does (:func:`~audits.conversations.simulated.simulated_rubric` with
    :data:`AUTOMATION_BIAS`), through the store's own rating call; returns how many."""
    truth = sim.truth
    judged = {r["conversation_id"]: r["judge"]["scores"] for r in sim.records}
    names = {r.id: r.username for r in store.list_reviewers(lead)}
    cases = {c.id: c for c in store.list_cases(run_id)}
    rated = 0
    for row in store.assignment_table(lead, run_id):
        if row["status"] != "open" or row["reviewer_id"] == skip:
            continue
        # Streams of each assignment's own: a resumed preparation rates as an unbroken one.
        rng = np.random.default_rng([random_state, 7, row["assignment_id"]])
        shown_rng = np.random.default_rng([random_state, 8, row["assignment_id"]])
        cid = cases[row["case_id"]].row_key
        scores = simulated_rubric(truth[cid], judged[cid] if row["model_shown"] else None,
                                  rng, shown_rng, automation_bias=AUTOMATION_BIAS)
        rubric = {k: int(v) for k, v in scores.items()}
        ok = bool(DEFAULT_RUBRIC.passes(rubric))
        store.submit_rating(
            Actor(names[row["reviewer_id"]], Role.REVIEWER), row["case_id"], label=int(ok),
            confidence=int(rng.integers(3, 6)), seconds_spent=float(rng.uniform(40, 240)),
            rationale="Simulated rationale: the answers meet the rubric." if ok
            else "Simulated rationale: the answer falls short.",
            tags=["simulated"], idempotency_key=f"simulated-chat-{row['assignment_id']:08d}",
            rubric=rubric, corrected_answer=None if ok else SIMULATED_CORRECTION)
        rated += 1
    return rated


def _persona_cases(store: Store, lead: Actor, run_id: int, persona_id: int,
                   random_state: int) -> None:
    """Give the persona the first conversations of the queue as an extra reviewer, the
    judge shown for exactly half of them (in a seeded order)."""
    cases = sorted(store.list_cases(run_id), key=lambda c: c.rank)[:PERSONA_CASES]
    shown = np.random.default_rng([random_state, 9]).permutation(
        [i < PERSONA_CASES // 2 for i in range(PERSONA_CASES)])
    store.record_assignments(lead, run_id, [
        AssignmentInput(case_id=c.id, reviewer_id=persona_id, slot=OVERLAP + 1,
                        kind=case_kind(c.primary_reason), model_shown=bool(s),
                        sensitive_shown=True)
        for c, s in zip(cases, shown, strict=True)], config={"persona_cases": PERSONA_CASES})
