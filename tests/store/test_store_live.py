"""Live decisions in the store: each idempotency key recorded once, held decisions queued
as cases in the same transaction, the review budget spent one token per held decision,
one log entry per call.

Every test runs on SQLite and PostgreSQL (the ``store`` fixture). What bad input gets: a
used key with another request, a key twice in a call, too many decisions, a run of
another system or a malformed decision: ``ValueError`` naming it, nothing written; an
unknown system or decision: ``LookupError``; a reviewer: ``PermissionDenied``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from db_support import ADMIN, REVIEWER, SCIENTIST, SHA_A, SHA_B, row_counts
from live_support import T0, decision, system_run, taker
from panel_support import LEAD, add_reviewers, assign, reviewer_actor

from audits.roles import PermissionDenied
from audits.store import Store
from audits.store.live import (
    MAX_BATCH,
    MSG_KEY_REUSED,
    MSG_RUN_OF_ANOTHER_SYSTEM,
    LiveDecisionInput,
)


@pytest.fixture
def credit(store: Store) -> tuple[Store, int]:
    return store, system_run(store, "credit", SHA_A)


def test_auto_and_held_decisions_are_recorded_and_held_ones_queued(
        credit: tuple[Store, int]) -> None:
    store, run = credit
    out = store.record_live_decisions(SCIENTIST, "credit", run,
                                      [decision(1, hold=False), decision(2, hold=True),
                                       decision(3, hold=False, score=0.2)],
                                      take_budget=taker(200, 200), now=T0)
    assert [(d.outcome, d.status, d.final_decision) for d in out] == [
        ("auto", "decided", 1), ("held", "pending", None), ("auto", "decided", 0)]
    assert out[0].case_id is None and out[1].case_id is not None
    case = next(c for c in store.list_cases(run) if c.id == out[1].case_id)
    assert case.row_key == "live:2" and case.status == "queued"
    assert out[0].decided_how == "model" and out[0].decided_at == T0
    entry = store.log_entries(limit=1)[0]
    assert entry.action == "record_live_decisions"
    assert [d["id"] for d in entry.payload["decisions"]] == [d.id for d in out]
    assert store.verify_log().ok
    assert store.live_decision(out[1].id) == out[1]
    assert [d.id for d in store.live_decisions("credit", status="pending")] == [out[1].id]


def test_a_resent_key_returns_the_first_answer_and_writes_nothing(
        credit: tuple[Store, int]) -> None:
    store, run = credit
    first = store.record_live_decisions(SCIENTIST, "credit", run, [decision(1, hold=True)],
                                        take_budget=taker(200, 200), now=T0)
    before = row_counts(store)
    again = store.record_live_decisions(SCIENTIST, "credit", run, [decision(1, hold=True)],
                                        take_budget=taker(200, 200), now=T0 + timedelta(1))
    assert again == first and again[0].replayed and not first[0].replayed
    assert row_counts(store) == before  # no row, no case, no log entry
    # Mixed: the old key replays, the new one is recorded, in the order sent.
    mixed = store.record_live_decisions(SCIENTIST, "credit", run,
                                        [decision(5, hold=False), decision(1, hold=True)],
                                        take_budget=taker(200, 200), now=T0)
    assert [(d.external_id, d.replayed) for d in mixed] == [("app-5", False), ("app-1", True)]


def test_a_used_key_with_another_request_is_refused(credit: tuple[Store, int]) -> None:
    store, run = credit
    store.record_live_decisions(SCIENTIST, "credit", run, [decision(1, hold=False)],
                                take_budget=taker(200, 200), now=T0)
    before = row_counts(store)
    other = decision(1, hold=False, body={"id": "app-1", "features": {"income": 99}})
    with pytest.raises(ValueError) as refused:
        store.record_live_decisions(SCIENTIST, "credit", run, [decision(2, hold=False), other],
                                    take_budget=taker(200, 200), now=T0)
    assert str(refused.value) == MSG_KEY_REUSED.format(key="k-1", system="credit")
    assert row_counts(store) == before  # decision 2 was not written either


def test_the_budget_holds_only_what_it_has_then_decides_or_holds_as_configured(
        credit: tuple[Store, int]) -> None:
    store, run = credit
    budget = taker(24, 2)  # one an hour, at most two saved
    out = store.record_live_decisions(SCIENTIST, "credit", run,
                                      [decision(i, hold=True) for i in range(4)],
                                      take_budget=budget, now=T0)
    assert [d.outcome for d in out] == ["held", "held", "auto", "auto"]
    assert [d.unreviewed for d in out] == [None, None, "budget", "budget"]
    assert out[2].final_decision == out[2].model_decision and out[2].case_id is None
    # Half an hour later: still nothing; an hour later: one more.
    later = store.record_live_decisions(SCIENTIST, "credit", run, [decision(10, hold=True)],
                                        take_budget=budget, now=T0 + timedelta(minutes=30))
    assert later[0].outcome == "auto"
    later = store.record_live_decisions(SCIENTIST, "credit", run, [decision(11, hold=True)],
                                        take_budget=budget, now=T0 + timedelta(minutes=61))
    assert later[0].outcome == "held"
    # Configured to hold anyway: held, and the budget does not go below empty.
    anyway = store.record_live_decisions(SCIENTIST, "credit", run, [decision(12, hold=True)],
                                         take_budget=budget, when_spent="hold",
                                         now=T0 + timedelta(minutes=62))
    assert anyway[0].outcome == "held" and anyway[0].unreviewed is None
    # Decisions the policy does not hold never touch the budget.
    free = store.record_live_decisions(SCIENTIST, "credit", run,
                                       [decision(i, hold=False) for i in range(20, 40)],
                                       take_budget=budget, now=T0 + timedelta(minutes=63))
    assert {d.outcome for d in free} == {"auto"}


def test_bad_calls_are_named_and_write_nothing(credit: tuple[Store, int]) -> None:
    store, run = credit
    hiring = system_run(store, "hiring", SHA_B)
    before = row_counts(store)
    budget = taker(200, 200)
    with pytest.raises(ValueError, match="appears twice in one call"):
        store.record_live_decisions(SCIENTIST, "credit", run,
                                    [decision(1, hold=False), decision(2, hold=False, key="k-1")],
                                    take_budget=budget)
    with pytest.raises(ValueError, match=f"at most {MAX_BATCH} decisions per call"):
        store.record_live_decisions(SCIENTIST, "credit", run,
                                    [decision(i, hold=False) for i in range(MAX_BATCH + 1)],
                                    take_budget=budget)
    with pytest.raises(ValueError) as wrong_run:
        store.record_live_decisions(SCIENTIST, "credit", hiring, [decision(1, hold=False)],
                                    take_budget=budget)
    assert str(wrong_run.value) == MSG_RUN_OF_ANOTHER_SYSTEM.format(id=hiring, system="credit")
    with pytest.raises(LookupError, match="no system named 'loans'"):
        store.record_live_decisions(SCIENTIST, "loans", run, [decision(1, hold=False)],
                                    take_budget=budget)
    with pytest.raises(ValueError, match="a decision to hold needs its case"):
        bad = decision(1, hold=True)
        store.record_live_decisions(SCIENTIST, "credit", run,
                                    [LiveDecisionInput(**{**bad.__dict__, "case": None})],
                                    take_budget=budget)
    with pytest.raises(ValueError, match="model_decision must be 0 or 1"):
        bad = decision(1, hold=False)
        store.record_live_decisions(SCIENTIST, "credit", run,
                                    [LiveDecisionInput(**{**bad.__dict__, "model_decision": 2})],
                                    take_budget=budget)
    with pytest.raises(PermissionDenied):
        store.record_live_decisions(REVIEWER, "credit", run, [decision(1, hold=False)],
                                    take_budget=budget)
    assert row_counts(store) == before
    with pytest.raises(LookupError, match="no live decision with id 99"):
        store.live_decision(99)
    assert ADMIN.role.value == "admin"


def test_a_held_decision_is_decided_when_its_case_closes(credit: tuple[Store, int]) -> None:
    store, run = credit
    ids = add_reviewers(store, 2)
    out = store.record_live_decisions(SCIENTIST, "credit", run,
                                      [decision(1, hold=True, score=0.55),
                                       decision(2, hold=True, score=0.9)],
                                      take_budget=taker(200, 200), now=T0)
    agreed, split = out
    assert agreed.changed is None and agreed.status == "pending"
    assign(store, run, [(d.case_id, r) for d in out for r in ids.values()])
    for i, label in ((0, 0), (1, 0)):  # both reviewers overturn the model's approval
        store.submit_rating(reviewer_actor(i), agreed.case_id, label=label, confidence=4,
                            rationale="income does not cover the debt", seconds_spent=20,
                            idempotency_key=f"agreed-rating-{i:08d}")
    done = store.live_decision(agreed.id)
    assert (done.status, done.final_decision, done.changed) == ("decided", 0, True)
    assert (done.decided_how, done.decided_role) == ("reviewers", "reviewer")
    assert done.decided_at is not None
    for i, label in ((0, 1), (1, 0)):  # a split panel: the case goes to the lead
        store.submit_rating(reviewer_actor(i), split.case_id, label=label, confidence=3,
                            rationale="unsure", seconds_spent=20,
                            idempotency_key=f"split-rating-{i:08d}")
    assert store.live_decision(split.id).status == "pending"
    store.add_user(ADMIN, LEAD.username, LEAD.role)
    store.adjudicate(LEAD, split.case_id, label=1, reason="stable income")
    settled = store.live_decision(split.id)
    assert (settled.status, settled.final_decision, settled.changed) == ("decided", 1, False)
    assert (settled.decided_how, settled.decided_role) == ("adjudication", "panel_lead")
