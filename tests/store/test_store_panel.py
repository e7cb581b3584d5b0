"""The reviewer panel in the store: registry, consented backgrounds, blind review,
idempotent ratings with history, adjudication, and access enforced in the queries."""

from __future__ import annotations

import re
import uuid

import pytest
from db_support import ADMIN, SCIENTIST, row_counts
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor

from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.panel import (
    MIN_AGGREGATE,
    MSG_EXCLUDED,
    MSG_NO_CONSENT,
    MSG_NOT_REVIEWER_USER,
    MSG_UNKNOWN_VALUE,
)
from audits.store.reviews import (
    MSG_CLOSED,
    MSG_CONFIDENCE,
    MSG_KEY,
    MSG_NOT_DISPUTED,
    MSG_NOT_YOURS,
    MSG_RATIONALE,
)

R0, R1, R2 = reviewer_actor(0), reviewer_actor(1), reviewer_actor(2)


def key() -> str:
    return uuid.uuid4().hex


def rate(store: Store, actor: Actor, case_id: int, label: int = 1, *, k: str | None = None,
         rationale: str = "") -> str:
    return store.submit_rating(actor, case_id, label=label, confidence=4, rationale=rationale,
                               seconds_spent=12.5, idempotency_key=k or key()).outcome


@pytest.fixture
def panel(store: Store) -> tuple[Store, int, list[int], dict[str, int]]:
    ids = add_reviewers(store, 3)
    run_id, cases = queue_cases(store, 4)
    assign(store, run_id, [(c, ids[a.username]) for c in cases[:2] for a in (R0, R1, R2)])
    return store, run_id, cases, ids


def test_only_reviewer_users_join_the_panel(store: Store) -> None:
    store.add_user(ADMIN, "dana2", Role.DATA_SCIENTIST)
    with pytest.raises(ValueError, match=re.escape(MSG_NOT_REVIEWER_USER.format(
            username="dana2", role="data_scientist"))):
        store.add_reviewer(LEAD, "dana2")
    with pytest.raises(PermissionDenied):
        store.add_reviewer(SCIENTIST, "dana2")


def test_backgrounds_need_consent_and_show_only_in_groups_of_five(store: Store) -> None:
    add_reviewers(store, 7)
    with pytest.raises(ValueError, match=MSG_NO_CONSENT):
        store.report_background(R0, R0.username, {"gender": "woman"}, consent=False)
    with pytest.raises(ValueError, match=re.escape(MSG_UNKNOWN_VALUE.format(
            name="gender", value="robot", choices=", ".join(store.background_schema()["gender"])))):
        store.report_background(R0, R0.username, {"gender": "robot"}, consent=True)
    with pytest.raises(PermissionDenied):  # one reviewer cannot report another's
        store.report_background(R1, R0.username, {"gender": "woman"}, consent=True)
    for i in range(6):
        store.report_background(reviewer_actor(i), reviewer_actor(i).username,
                                {"gender": "woman" if i < 5 else "man"}, consent=True)
    aggregates = store.background_aggregates(Actor("casey", Role.COMPLIANCE_OFFICER))
    assert aggregates["gender"]["woman"] == 5 >= MIN_AGGREGATE
    assert aggregates["gender"]["man"] is None  # one man: suppressed
    assert aggregates["gender"]["not disclosed"] is None  # one reviewer did not disclose
    entry = next(e for e in store.log_entries() if e.action == "report_background")
    assert "woman" not in str(entry.payload) and "man" not in str(entry.payload)
    store.withdraw_background(R0, R0.username)
    assert store.background_aggregates(LEAD)["gender"]["woman"] is None  # now 4
    with pytest.raises(PermissionDenied):
        store.background_aggregates(R0)


def test_a_reviewer_sees_only_their_own_cases(
        panel: tuple[Store, int, list[int], dict[str, int]]) -> None:
    store, _, cases, _ = panel
    assert [a.case_id for a in store.my_assignments(R0)] == cases[:2]
    outsider = reviewer_actor(9)
    store.add_user(ADMIN, outsider.username, Role.REVIEWER)
    store.add_reviewer(LEAD, outsider.username)
    assert store.my_assignments(outsider) == []
    for case_id in (cases[0], cases[3], 10_000):  # assigned to others, unassigned, absent
        with pytest.raises(PermissionDenied, match=MSG_NOT_YOURS.format(
                case_id=case_id, actor=outsider.username)):
            store.open_case(outsider, case_id)
    # A session claiming another reviewer's name with another role gets nothing either.
    with pytest.raises(PermissionDenied):
        store.open_case(Actor(R0.username, Role.PANEL_LEAD), cases[0])
    with pytest.raises(PermissionDenied):
        rate(store, outsider, cases[0])


def test_blinding_follows_the_assignment(store: Store) -> None:
    ids = add_reviewers(store, 2)
    run_id, cases = queue_cases(store, 1)
    assign(store, run_id, [(cases[0], ids[R0.username])], model_shown=True)
    assign(store, run_id, [(cases[0], ids[R1.username])], model_shown=False,
           sensitive_shown=False)
    shown, hidden = store.open_case(R0, cases[0]), store.open_case(R1, cases[0])
    assert shown.snapshot["decision"]["value"] == 1 and shown.snapshot["score"] == 0.55
    assert set(hidden.snapshot) == {"features"} and "sex" not in hidden.snapshot["features"]
    for view in (shown, hidden):
        assert "hidden" not in view.snapshot and "reasons" not in view.snapshot
        assert "gold_answer" not in str(view.snapshot)
    rate(store, R0, cases[0], 1)
    assert store.open_case(R1, cases[0]).my_rating is None  # never another's rating


def test_a_resubmitted_key_changes_nothing_and_a_change_keeps_history(
        panel: tuple[Store, int, list[int], dict[str, int]]) -> None:
    store, _, cases, _ = panel
    first = key()
    assert rate(store, R0, cases[0], 1, k=first) == "created"
    before, log = row_counts(store), len(store.log_entries())
    assert rate(store, R0, cases[0], 1, k=first) == "duplicate"
    assert rate(store, R0, cases[0], 0, k=first) == "duplicate"  # same form, resent
    assert row_counts(store) == before and len(store.log_entries()) == log
    assert rate(store, R0, cases[0], 0, rationale="income was misread") == "updated"
    view = store.open_case(R0, cases[0])
    assert view.my_rating is not None and view.my_rating.version == 2
    assert view.my_rating.label == 0
    assert rate(store, R0, cases[0], 1, k=first) == "duplicate"  # a stale key stays stale
    assert store.open_case(R0, cases[0]).my_rating.label == 0  # type: ignore[union-attr]
    assert store.verify_log().ok


def test_overriding_a_shown_model_needs_a_rationale(
        panel: tuple[Store, int, list[int], dict[str, int]]) -> None:
    store, _, cases, _ = panel
    with pytest.raises(ValueError, match=re.escape(MSG_RATIONALE.format(model=1))):
        rate(store, R0, cases[0], 0)
    for bad, message in [({"confidence": 6}, MSG_CONFIDENCE.format(value=6)),
                         ({"idempotency_key": "short"}, MSG_KEY.format(value="short"))]:
        kwargs = {"label": 1, "confidence": 3, "seconds_spent": 1.0,
                  "idempotency_key": key(), **bad}
        with pytest.raises(ValueError, match=re.escape(message)):
            store.submit_rating(R0, cases[0], **kwargs)  # type: ignore[arg-type]


def test_agreement_closes_and_disagreement_goes_to_the_lead(
        panel: tuple[Store, int, list[int], dict[str, int]]) -> None:
    store, run_id, cases, _ = panel
    for actor in (R0, R1, R2):
        rate(store, actor, cases[0], 1)
    review = store.case_review(LEAD, cases[0])
    assert review.status == "closed" and review.final_label == 1
    with pytest.raises(ValueError, match=MSG_CLOSED.format(case_id=cases[0])):
        rate(store, R0, cases[0], 1)
    rate(store, R0, cases[1], 1)
    rate(store, R1, cases[1], 1)
    assert store.case_review(LEAD, cases[1]).status == "in_review"
    rate(store, R2, cases[1], 0, rationale="the applicant's history is thin")
    [disputed] = store.disputed_cases(LEAD, audit_run_id=run_id)
    assert disputed.case_id == cases[1] and len(disputed.ratings) == 3
    assert disputed.disagreement == pytest.approx(1 / 3)
    with pytest.raises(PermissionDenied):
        store.adjudicate(R0, cases[1], label=1, reason="I say so")
    with pytest.raises(PermissionDenied):
        store.case_review(R0, cases[1])
    with pytest.raises(PermissionDenied, match="pat is not a user of this store"):
        store.adjudicate(LEAD, cases[1], label=0, reason="thin credit history")
    with pytest.raises(PermissionDenied, match="system:cli is a system actor"):
        store.adjudicate(Actor.system(), cases[1], label=0, reason="thin credit history")
    store.add_user(Actor.system(), LEAD.username, LEAD.role)  # adjudicators are users
    done = store.adjudicate(LEAD, cases[1], label=0, reason="thin credit history")
    assert done.status == "closed" and done.final_label == 0
    assert done.adjudication is not None and done.adjudication["adjudicator"] == "pat"
    with pytest.raises(ValueError, match=MSG_NOT_DISPUTED.format(case_id=cases[1],
                                                                  status="closed")):
        store.adjudicate(LEAD, cases[1], label=1, reason="again")
    progress = store.panel_progress(LEAD, run_id)
    assert progress["cases_closed"] == 2 and progress["assignments_rated"] == 6
    assert {r["case_id"] for r in store.ratings_table(LEAD, run_id)} == set(cases[:2])


def test_a_conflict_of_interest_blocks_the_assignment(store: Store) -> None:
    ids = add_reviewers(store, 2)
    run_id, cases = queue_cases(store, 2)
    store.add_exclusion(LEAD, cases[0], R0.username, reason="knows the applicant")
    store.add_exclusion(LEAD, cases[0], R0.username, reason="said twice")  # no-op
    assert store.exclusions(LEAD, run_id) == {cases[0]: {ids[R0.username]}}
    before = row_counts(store)
    with pytest.raises(ValueError, match=re.escape(MSG_EXCLUDED.format(
            case_id=cases[0], reviewer_id=ids[R0.username]))):
        assign(store, run_id, [(cases[1], ids[R1.username]), (cases[0], ids[R0.username])])
    assert row_counts(store) == before  # the valid pair was not stored either
    assign(store, run_id, [(cases[1], ids[R0.username])])
    with pytest.raises(ValueError, match="withdraw the assignment first"):
        store.add_exclusion(LEAD, cases[1], R0.username, reason="late conflict")
    with pytest.raises(PermissionDenied):
        store.add_exclusion(R1, cases[1], R0.username, reason="not mine to say")
