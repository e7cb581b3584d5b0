"""Service levels of held decisions, on a clock the test controls: waiting with the
panel, then sent to the lead's adjudication queue, then decided by the policy's
fallback; each step logged once, the fallback posted to the webhook, the lead's later
adjudication no longer changing a decision that took effect.

Every test runs on SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from db_support import SCIENTIST, SHA_A
from live_support import T0, decision, system_run, taker
from panel_support import LEAD, add_reviewers, assign

from audits.live.policy import LivePolicy
from audits.live.stored import configure_live, sweep_service_levels
from audits.roles import Actor
from audits.store import Store

SERVICE = SCIENTIST


@pytest.mark.parametrize(("fallback", "expected"), [("model", None), ("negative", 0),
                                                    ("positive", 1)])
def test_held_decisions_wait_then_go_to_the_lead_then_fall_back(
        store: Store, fallback: str, expected: int | None) -> None:
    run = system_run(store, "credit", SHA_A)
    configure_live(store, SCIENTIST, "credit",
                   LivePolicy(sla_hours=4, lead_hours=2, fallback=fallback),
                   webhook_url="http://127.0.0.1:9/hook")
    held = store.record_live_decisions(SCIENTIST, "credit", run,
                                       [decision(i, hold=True, score=0.7) for i in range(2)],
                                       take_budget=taker(200, 200), now=T0)
    ids = add_reviewers(store, 1)
    assign(store, run, [(held[0].case_id, next(iter(ids.values())))])
    # Within the service level: nothing happens.
    quiet = sweep_service_levels(store, SERVICE, T0 + timedelta(hours=3, minutes=59))
    assert quiet.escalated == () and quiet.fell_back == ()
    # Past it: both go to the lead, once; the reviewer's open assignment is withdrawn.
    sent = sweep_service_levels(store, SERVICE, T0 + timedelta(hours=4))
    assert sent.escalated == tuple(d.id for d in held) and sent.fell_back == ()
    assert sweep_service_levels(store, SERVICE, T0 + timedelta(hours=5)).escalated == ()
    disputed = {c.case_id for c in store.disputed_cases(LEAD, audit_run_id=run)}
    assert {d.case_id for d in held} <= disputed
    statuses = {a["status"] for a in store.assignment_table(LEAD, run)
                if a["case_id"] == held[0].case_id}
    assert statuses == {"withdrawn"}
    assert [e.action for e in store.log_entries(limit=1)] == ["escalate_live_decisions"]
    assert store.live_decision(held[0].id).escalated_at == T0 + timedelta(hours=4)
    # Past the lead's window: the fallback takes effect and is posted to the webhook.
    done = sweep_service_levels(store, SERVICE, T0 + timedelta(hours=6))
    assert done.fell_back == tuple(d.id for d in held)
    for d in held:
        final = store.live_decision(d.id)
        assert final.status == "decided" and final.decided_how == "fallback"
        assert final.decided_role == "policy"
        assert final.final_decision == (d.model_decision if expected is None else expected)
    assert {w["live_decision_id"] for w in store.webhook_deliveries("credit")} == {
        d.id for d in held}
    assert store.log_entries(limit=1)[0].action == "fall_back_live_decisions"
    # The lead adjudicating later closes the case but no longer changes the decision.
    store.add_user(Actor.system(), LEAD.username, LEAD.role)
    store.adjudicate(LEAD, held[0].case_id, label=0, reason="late review")
    after = store.live_decision(held[0].id)
    assert after.decided_how == "fallback"
    assert sweep_service_levels(store, SERVICE, T0 + timedelta(days=3)).fell_back == ()
    assert store.verify_log().ok


def test_a_decision_the_panel_decides_in_time_is_left_alone(store: Store) -> None:
    run = system_run(store, "credit", SHA_A)
    [held] = store.record_live_decisions(SCIENTIST, "credit", run, [decision(1, hold=True)],
                                         take_budget=taker(200, 200), now=T0)
    store.add_user(Actor.system(), LEAD.username, LEAD.role)
    sweep_service_levels(store, SERVICE, T0 + timedelta(hours=4))  # default policy: 4 h
    store.adjudicate(LEAD, held.case_id, label=1, reason="fine")
    decided = store.live_decision(held.id)
    assert (decided.decided_how, decided.decided_role) == ("adjudication", "panel_lead")
    assert sweep_service_levels(store, SERVICE, T0 + timedelta(days=1)).fell_back == ()
