"""The demo's reviewer panel: the reviewer persona plus simulated reviewers and ratings.

:func:`ensure_demo_panel` (idempotent) puts the demo reviewer persona and
:data:`N_SIMULATED` simulated reviewers (named "Simulated reviewer NN", flagged
``simulated`` in the store, every rating tagged ``simulated``) on the panel, records
consented backgrounds for them, assigns the demo queue (4 reviewers per case, the
model's suggestion hidden for half the assignments at random), and lets the simulated
reviewers rate their cases through the same store calls as a person, with the biases
of :mod:`audits.panel.simulation` injected: a severe reviewer, a group of reviewers harsher on
women applicants and more lenient on men, and automation bias. The persona's own cases
wait for a visitor. How often the analysis finds each: :mod:`audits.demo.power`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from audits.demo.conversations import ConversationDemo, ensure_conversation_demo
from audits.demo.default import DEMO_PERSONAS, DemoState, ensure_demo
from audits.demo.queue import DemoQueues, ensure_demo_queue
from audits.flagging.stored import flag_context
from audits.panel.assignment import PanelConfig
from audits.panel.simulation import SimulatedReviewer, simulate_ratings
from audits.panel.stored import assign_queue
from audits.roles import Actor, Role
from audits.store import CaseRecord, Store

__all__ = ["N_SIMULATED", "DemoPanel", "FullDemo", "ensure_demo_panel", "ensure_full_demo",
           "full_demo_prepared", "simulated_panel"]

Progress = Callable[[float, str], None]
N_SIMULATED = 14
PERSONA = next(p for p in DEMO_PERSONAS if p.role == Role.REVIEWER)
LEAD = next(p for p in DEMO_PERSONAS if p.role == Role.PANEL_LEAD)
#: Reviewers with this background value favour men applicants over women (harsher on
#: women by :data:`LENIENCY`, more lenient on men by :data:`FAVOUR`); the other half of the
#: simulated panel reports :data:`OTHER_GROUP`.
HARSH_GROUP = ("gender", "man")
OTHER_GROUP = ("gender", "woman")
HARSH_ON = "sex=Female"
FAVOURED = "sex=Male"
SEVERE_REVIEWER = "sim-reviewer-03"
#: The injected biases in log-odds. A bias against women alone hardly shows on Adult,
#: where 94% of the queued women applicants earn under 50K (a harsher reviewer can only
#: turn the few positives down): over 20 simulated panels a -3 bias on women alone was
#: found in 3. A gap of 3 log-odds between men and women applicants (-1.5 and +1.5) is
#: found reliably; see ``python -m audits.demo.power`` and docs/agreement-and-human-bias.md.
SEVERITY, LENIENCY, FAVOUR, AUTOMATION_BIAS = 3.0, -1.5, 1.5, 0.5
#: Reviewers per case in the demo (more than the default 3, so the biases show).
OVERLAP = 4
#: The demo's reviewer training; the last UNTRAINED simulated reviewers have none on
#: record, a gap the Evidence page and the evidence pack name.
TRAINING = "Reviewer onboarding: fair decisions and automation bias (simulated)"
UNTRAINED = 2


@dataclass(frozen=True)
class DemoPanel:
    """What the demo panel holds for its audit."""

    audit_run_id: int
    reviewers: int
    assignments: int
    simulated_ratings: int


def simulated_panel(schema: dict[str, list[str]], subject_groups: list[str], *,
                    random_state: int = 0) -> list[tuple[str, dict[str, str], SimulatedReviewer]]:
    """Return (username, background, simulator) for each simulated reviewer.

    Backgrounds are drawn from the schema (about one attribute in eight left
    undisclosed) except gender, half "man" (harsher on women applicants by
    :data:`LENIENCY` log-odds, more lenient on men by :data:`FAVOUR`) and half "woman",
    the severe reviewer among them; :data:`SEVERE_REVIEWER` is harsher on
    everyone by :data:`SEVERITY` and ignores the model; every other simulated reviewer
    copies a shown model decision with probability :data:`AUTOMATION_BIAS`. Tests and the
    demo know what to find.
    """
    rng = np.random.default_rng(random_state)
    out = []
    for i in range(1, N_SIMULATED + 1):
        username = f"sim-reviewer-{i:02d}"
        background = {name: str(values[int(rng.integers(len(values)))])
                      for name, values in schema.items() if rng.random() > 0.125}
        # The severe reviewer (03) is in the other group, so the two biases stay apart.
        harsh = i % 2 == 0
        background[HARSH_GROUP[0]] = (HARSH_GROUP if harsh else OTHER_GROUP)[1]
        out.append((username, background, SimulatedReviewer(
            username, accuracy=float(np.round(rng.uniform(0.78, 0.92), 2)),
            severity=SEVERITY if username == SEVERE_REVIEWER else 0.0,
            leniency=_group_bias(subject_groups) if harsh else {},
            automation_bias=0.0 if username == SEVERE_REVIEWER else AUTOMATION_BIAS)))
    return out


def _group_bias(subject_groups: list[str]) -> dict[str, float]:
    """The harsh group's log-odds per subject group: the sex part of the label decides
    (compared ignoring case: Adult writes "Female", German credit "female")."""
    bias = {}
    for group in subject_groups:
        sex = next((p.lower() for p in group.split(" & ") if p.startswith("sex=")), None)
        if sex == HARSH_ON.lower():
            bias[group] = LENIENCY
        elif sex == FAVOURED.lower():
            bias[group] = FAVOUR
    return bias


def ensure_demo_panel(store: Store, audit_run_id: int, *, random_state: int = 0,
                      progress: Progress | None = None) -> DemoPanel:
    """Prepare the demo panel on an audit's queue unless it is already there.

    ``random_state`` seeds the simulated panel (backgrounds, accuracies), the assignment
    and the ratings; the demo uses 0, and the power study of the demo varies it.
    """
    report = progress or (lambda fraction, message: None)
    lead = Actor(LEAD.username, LEAD.role)
    cases = store.list_cases(audit_run_id)
    groups = sorted({c.subject_group for c in cases})
    members = {r.username for r in store.list_reviewers(lead)}
    plan = simulated_panel(store.background_schema(), groups, random_state=random_state)
    report(0.05, "Registering the demo panel")
    if PERSONA.username not in members:
        store.add_reviewer(lead, PERSONA.username, expertise=["lending"], capacity=40)
    for username, background, _ in plan:
        if username in members:
            continue
        if store.get_user(username) is None:
            store.add_user(Actor.system(), username, Role.REVIEWER,
                           display_name=f"Simulated reviewer {username[-2:]}", demo=True)
        store.add_reviewer(lead, username, capacity=60, simulated=True)
        store.report_background(lead, username, background, consent=True)
    _record_training(store, lead, [PERSONA.username] + [name for name, _, _ in plan])
    report(0.2, f"Assigning the queue ({OVERLAP} reviewers per case)")
    assign_queue(store, lead, audit_run_id, config=PanelConfig(overlap=OVERLAP,
                                                                random_state=random_state))
    report(0.4, "Simulated reviewers rating their cases")
    rated = _simulate(store, lead, audit_run_id, cases, plan, report,
                      random_state=random_state + 1)
    table = store.assignment_table(lead, audit_run_id)
    report(1.0, "Demo panel ready")
    return DemoPanel(audit_run_id, len(store.list_reviewers(lead)), len(table), rated)


def _record_training(store: Store, lead: Actor, usernames: list[str]) -> None:
    """Record the demo's reviewer training for all but the last ``UNTRAINED`` reviewers,
    so the evidence pages show both a met record and a gap to close (once per store)."""
    if store.qualifications(lead):
        return
    completed = datetime.now(UTC) - timedelta(days=90)
    for username in usernames[:-UNTRAINED]:
        store.record_qualification(
            lead, username, kind="training", title=TRAINING, completed_at=completed,
            expires_at=completed + timedelta(days=730),
            evidence="demo record (simulated panel)")


def _simulate(store: Store, lead: Actor, audit_run_id: int, cases: list[CaseRecord],
              plan: list[tuple[str, dict[str, str], SimulatedReviewer]],
              report: Progress, *, random_state: int) -> int:
    ids = {r.id: r.username for r in store.list_reviewers(lead)}
    simulators = {name: sim for name, _, sim in plan}
    table = pd.DataFrame(store.assignment_table(lead, audit_run_id))
    table["reviewer_id"] = table["reviewer_id"].map(ids)
    table = table[table["reviewer_id"].isin(simulators) & (table["status"] == "open")]
    if table.empty:
        return 0
    run = store.get_audit_run(audit_run_id)
    assert run is not None  # the queue exists, so the run does
    frame, context = flag_context(store, run)
    truth = [int(frame.at[c.snapshot["row"], str(context.y_true)]) for c in cases]
    facts = pd.DataFrame({"case_id": [c.id for c in cases], "truth": truth,
                          "model_decision": [c.snapshot["decision"]["value"] for c in cases],
                          "subject_group": [c.subject_group for c in cases]})
    ratings = simulate_ratings(facts, table, simulators, random_state=random_state)
    decisions = facts.set_index("case_id")["model_decision"]
    for i, r in enumerate(ratings.itertuples(index=False)):
        if i % 50 == 0:
            report(0.4 + 0.6 * i / len(ratings), f"Simulated rating {i + 1} of {len(ratings)}")
        overrides = int(r.label) != int(decisions[r.case_id])
        store.submit_rating(
            Actor(str(r.reviewer_id), Role.REVIEWER), int(r.case_id), label=int(r.label),
            confidence=int(r.confidence), seconds_spent=float(r.seconds_spent),
            rationale="Simulated rationale: the evidence points the other way."
            if overrides else "", tags=["simulated"],
            idempotency_key=f"simulated-{r.case_id:06d}-{r.reviewer_id}")
    return len(ratings)


@dataclass(frozen=True)
class FullDemo:
    """Everything ``fairpanel demo`` prepares."""

    state: DemoState
    queues: DemoQueues
    panel: DemoPanel
    conversations: ConversationDemo | None = None


def ensure_full_demo(store: Store, *, dataset: str | None = None,
                     kind: str = "gradient_boosting", conversations: bool = True,
                     progress: Progress | None = None) -> FullDemo:
    """Prepare the whole demo (idempotent): dataset, model, audit, queue, monitoring, panel,
    and with ``conversations`` the chatbot's conversation system
    (:func:`audits.demo.conversations.ensure_conversation_demo`).

    Progress: the dataset and model take the first 40%, the queue and the monitoring
    example the next 35%, the panel 15%, the conversations the rest.
    """
    report = progress or (lambda fraction, message: None)
    state = ensure_demo(store, dataset=dataset, kind=kind,
                        progress=lambda f, m: report(0.4 * f, m))
    queues = ensure_demo_queue(store, dataset=dataset,
                               progress=lambda f, m: report(0.4 + 0.35 * f, m))
    panel = ensure_demo_panel(store, queues.queue.audit_run.id,
                              progress=lambda f, m: report(0.75 + 0.15 * f, m))
    chat = ensure_conversation_demo(store, progress=lambda f, m: report(0.9 + 0.1 * f, m)) \
        if conversations else None
    return FullDemo(state, queues, panel, chat)


def full_demo_prepared(store: Store) -> bool:
    """Return True when the newest review queue already has its panel (a cheap check)."""
    queued = store.queued_audit_runs()
    return bool(queued) and store.panel_config(queued[-1]) is not None
