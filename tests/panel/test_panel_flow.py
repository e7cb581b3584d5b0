"""The panel on a real queue: assignment from the store, reassignment, the demo panel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.demo.panel import N_SIMULATED, OVERLAP, PERSONA, ensure_demo_panel
from audits.fairness.stored import run_fairness_audit
from audits.flagging.policy import FlagPolicy
from audits.flagging.stored import build_queue
from audits.monitoring.stored import deferral_view, reviewed_decisions
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue, reassign_reviewer
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store

SCIENTIST = Actor(DEMO_PERSONAS[0].username, Role.DATA_SCIENTIST)
LEAD = Actor("demo-panel-lead", Role.PANEL_LEAD)


@pytest.fixture
def queued(database_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, int]]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as store:
        state = ensure_demo(store, dataset="synthetic")
        run = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=200)
        build_queue(store, SCIENTIST, run.id, policy=FlagPolicy(budget=40))
        yield store, run.id


def _panel(store: Store, n: int) -> None:
    genders = ["woman", "man", "non-binary"]
    for i in range(n):
        name = f"rev{i}"
        store.add_user(Actor.system(), name, Role.REVIEWER)
        store.add_reviewer(LEAD, name, capacity=30)
        store.report_background(Actor(name, Role.REVIEWER), name,
                                {"gender": genders[i % 3]}, consent=True)


def test_the_queue_is_assigned_with_overlap_and_stored_blinding(
        queued: tuple[Store, int]) -> None:
    store, run_id = queued
    _panel(store, 6)
    result = assign_queue(store, LEAD, run_id, config=PanelConfig(overlap=3))
    table = store.assignment_table(LEAD, run_id)
    assert len(table) == 40 * 3 == len(result.table)
    per_case = Counter(r["case_id"] for r in table)
    assert set(per_case.values()) == {3}
    assert sum(r["model_shown"] for r in table) == 60  # exactly half, recorded per row
    assert result.diversity["diversity"].mean() > 0.6  # three genders on most cases
    loads = Counter(r["reviewer_id"] for r in table)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert store.panel_config(run_id) == PanelConfig(overlap=3).as_dict()
    again = assign_queue(store, LEAD, run_id)  # nothing left to assign
    assert again.table.empty and len(store.assignment_table(LEAD, run_id)) == 120
    with pytest.raises(PermissionDenied):
        assign_queue(store, SCIENTIST, run_id)


def test_a_reviewer_who_leaves_keeps_their_ratings_and_loses_open_cases(
        queued: tuple[Store, int]) -> None:
    store, run_id = queued
    _panel(store, 6)
    assign_queue(store, LEAD, run_id, config=PanelConfig(overlap=2))
    leaving = Actor("rev0", Role.REVIEWER)
    mine = store.my_assignments(leaving)
    first = mine[0].case_id
    store.submit_rating(leaving, first, label=store.open_case(leaving, first).snapshot.get(
        "decision", {"value": 1})["value"], confidence=3, seconds_spent=3.0,
        idempotency_key="leaving-reviewer-first-rating")
    reassign_reviewer(store, LEAD, run_id, "rev0")
    table = store.assignment_table(LEAD, run_id)
    rev0 = next(r.id for r in store.list_reviewers(LEAD) if r.username == "rev0")
    statuses = Counter(r["status"] for r in table if r["reviewer_id"] == rev0)
    assert statuses == {"rated": 1, "withdrawn": len(mine) - 1}
    live = Counter(r["case_id"] for r in table if r["status"] != "withdrawn")
    assert set(live.values()) == {2}  # every withdrawn slot was refilled
    assert [a.case_id for a in store.my_assignments(leaving)] == [first]


def test_the_demo_panel_is_simulated_assigned_and_idempotent(
        queued: tuple[Store, int]) -> None:
    store, run_id = queued
    panel = ensure_demo_panel(store, run_id)
    assert panel.reviewers == N_SIMULATED + 1 and panel.assignments == 40 * OVERLAP
    reviewers = store.list_reviewers(LEAD)
    assert all(r.simulated == r.username.startswith("sim-") for r in reviewers)
    assert all(r.display_name.startswith("Simulated") for r in reviewers if r.simulated)
    persona = Actor(PERSONA.username, Role.REVIEWER)
    waiting = store.my_assignments(persona)
    assert waiting and not any(a.rated for a in waiting)
    ratings = store.ratings_table(LEAD, run_id)
    assert len(ratings) == panel.simulated_ratings == 40 * OVERLAP - len(waiting)
    progress = store.panel_progress(LEAD, run_id)
    assert progress["cases_disputed"] + progress["cases_closed"] + progress[
        "cases_in_review"] == 40
    log = len(store.log_entries())
    again = ensure_demo_panel(store, run_id)
    assert again.simulated_ratings == 0 and len(store.log_entries()) == log


def test_deferral_reads_human_accuracy_from_the_panels_gold_ratings(
        queued: tuple[Store, int]) -> None:
    store, run_id = queued
    assert deferral_view(store, run_id).human.statement.endswith("(no reviewed cases yet).")
    ensure_demo_panel(store, run_id)
    known = reviewed_decisions(store, run_id)
    gold = [c.id for c in store.list_cases(run_id) if "hidden" in c.snapshot]
    rated_gold = [r for r in store.ratings_table(LEAD, run_id) if r["case_id"] in gold]
    assert len(known) == len(rated_gold) > 0  # nothing adjudicated yet: gold only
    human = deferral_view(store, run_id).human
    expected = (f"only {len(known)} reviewed cases; 30 needed to estimate it"
                if len(known) < 30 else f"estimated from {len(known)} reviewed cases")
    assert expected in human.statement
