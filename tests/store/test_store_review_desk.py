"""The reviewer desk in the store: per-system instructions, skips and "cannot tell".

Every test runs on SQLite and PostgreSQL (the ``store`` fixture). Instructions are
written by a panel lead (others are refused), logged, and framed into each case a
reviewer or the lead opens, with the card's column entries; a skip moves the case to the
end of the reviewer's queue and is stored each time; "cannot tell" is stored once with
its reason, ends the assignment, is left out of the ratings the statistics read and is
counted as its own outcome.
"""

from __future__ import annotations

import uuid

import pytest
from db_support import SCIENTIST
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor

from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store, SystemInput, VersionInput
from audits.store.review_desk import MSG_UNKNOWN_SYSTEM, default_instructions
from audits.store.reviews import MSG_ANSWERED_CANNOT_TELL, MSG_NOT_OPEN

R0, R1, R2 = reviewer_actor(0), reviewer_actor(1), reviewer_actor(2)
CARD = {"columns": [{"name": "age", "type": "int64", "role": "feature", "label": "Age",
                     "unit": "years"},
                    {"name": "hours", "type": "int64", "role": "feature"},
                    {"name": "secret_col", "type": "int64", "role": "feature"}]}


def system_queue(store: Store, n: int, *, name: str = "credit") -> tuple[int, list[int]]:
    """A system ``name`` whose version has a card, an audit of it and ``n`` queued cases."""
    made = store.register_system_version(
        SCIENTIST, SystemInput(name, description="Loans", intended_use="Screening"),
        VersionInput(source="loans.csv", sha256=uuid.uuid4().hex * 2, n_rows=n,
                     roles={"target": "y", "positive_label": "approved"}, card="# card",
                     card_data=CARD, data_path="data/" + "ab" * 32))
    return queue_cases(store, n, dataset_id=made.dataset.id)


@pytest.fixture
def desk(store: Store) -> tuple[Store, int, list[int], dict[str, int]]:
    ids = add_reviewers(store, 3)
    run_id, cases = system_queue(store, 4)
    assign(store, run_id, [(c, ids[a.username]) for c in cases for a in (R0, R1, R2)])
    return store, run_id, cases, ids


def rate(store: Store, actor: Actor, case_id: int, label: int = 1) -> str:
    return store.submit_rating(actor, case_id, label=label, confidence=4, rationale="why",
                               seconds_spent=3.0, idempotency_key=uuid.uuid4().hex).outcome


# -- instructions ------------------------------------------------------------------------


def test_default_instructions_name_the_outcome_until_a_lead_writes_them(desk: tuple) -> None:
    store, _, cases, _ = desk
    view = store.open_case(R0, cases[0])
    assert view.system_name == "credit"
    assert view.instructions is not None and not view.instructions.written
    assert view.instructions == default_instructions("credit", "approved", favourable=True)
    assert view.instructions.positive_meaning == (
        "the case supports approved, the favourable outcome for the person.")
    assert store.review_instructions("credit") == view.instructions


def test_a_lead_writes_instructions_and_every_case_shows_them(desk: tuple) -> None:
    store, _, cases, _ = desk
    written = store.set_review_instructions(
        LEAD, "credit", question="  Should this loan be approved?  ",
        positive_meaning="Approve: the applicant can repay.",
        negative_meaning="Decline: the applicant likely cannot repay.", notes="")
    assert written.written and written.updated_by == LEAD.username
    assert written.question == "Should this loan be approved?"
    for case_id in cases:
        assert store.open_case(R1, case_id).instructions == written
    assert store.case_review(LEAD, cases[0]).instructions == written
    entry = store.log_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.entity) == (LEAD.username,
                                                         "set_review_instructions", "system")
    assert entry.payload["question"] == "Should this loan be approved?"
    assert entry.payload["replaced"] is False
    again = store.set_review_instructions(LEAD, "credit", question="Approve?",
                                          positive_meaning="Yes", negative_meaning="No",
                                          notes="Ask if unsure.")
    assert store.review_instructions("credit") == again
    assert store.log_entries(limit=1)[0].payload["replaced"] is True


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.DATA_SCIENTIST,
                                  Role.COMPLIANCE_OFFICER])
def test_only_panel_leads_and_admins_write_instructions(desk: tuple, role: Role) -> None:
    store = desk[0]
    before = len(store.log_entries())
    with pytest.raises(PermissionDenied, match="may not manage the panel"):
        store.set_review_instructions(Actor("someone", role), "credit", question="Q?",
                                      positive_meaning="y", negative_meaning="n")
    assert len(store.log_entries()) == before
    assert not store.review_instructions("credit").written


def test_bad_instructions_are_refused_naming_the_field(desk: tuple) -> None:
    store = desk[0]
    with pytest.raises(ValueError, match="positive_meaning"):
        store.set_review_instructions(LEAD, "credit", question="Q?", positive_meaning="  ",
                                      negative_meaning="n")
    with pytest.raises(LookupError, match=MSG_UNKNOWN_SYSTEM.split("{")[0]):
        store.set_review_instructions(LEAD, "nope", question="Q?", positive_meaning="y",
                                      negative_meaning="n")
    assert not store.review_instructions("credit").written


def test_the_case_carries_the_card_columns_it_shows(desk: tuple) -> None:
    store, _, cases, _ = desk
    view = store.open_case(R0, cases[0])
    assert {c["name"]: c.get("unit") for c in view.card_columns} == {"age": "years",
                                                                      "hours": None}


# -- skip ------------------------------------------------------------------------------


def test_a_skipped_case_goes_to_the_end_of_the_queue(desk: tuple) -> None:
    store, _, cases, ids = desk
    order = [a.case_id for a in store.my_assignments(R0)]
    assert order == cases
    assert store.skip_case(R0, cases[0]) == 1
    assert [a.case_id for a in store.my_assignments(R0)] == [*cases[1:], cases[0]]
    store.skip_case(R0, cases[1])
    assert [a.case_id for a in store.my_assignments(R0)] == [*cases[2:], cases[0], cases[1]]
    # Skipping again moves it behind the others skipped earlier.
    assert store.skip_case(R0, cases[0]) == 2
    assert [a.case_id for a in store.my_assignments(R0)] == [*cases[2:], cases[1], cases[0]]
    # Another reviewer's queue is untouched.
    assert [a.case_id for a in store.my_assignments(R1)] == cases
    mine = store.my_assignments(R0)
    assert all(not a.done for a in mine)
    entries = [e for e in store.log_entries() if e.action == "case_skipped"]
    assert [(e.actor, e.entity_id) for e in entries][-1] == (R0.username, str(cases[0]))
    outcomes = {(o["case_id"], o["reviewer_id"]): o for o in store.review_outcomes(LEAD,
                                                                                   desk[1])}
    assert outcomes[(cases[0], ids[R0.username])]["skips"] == 2
    assert outcomes[(cases[0], ids[R0.username])]["outcome"] == "open"


def test_only_an_open_case_of_ones_own_can_be_skipped(desk: tuple, store: Store) -> None:
    store, _, cases, _ = desk
    rate(store, R0, cases[0])
    with pytest.raises(ValueError, match=MSG_NOT_OPEN.split("{")[0]):
        store.skip_case(R0, cases[0])
    outsider = Actor("outsider", Role.REVIEWER)
    with pytest.raises(PermissionDenied):
        store.skip_case(outsider, cases[1])
    with pytest.raises(PermissionDenied):
        store.skip_case(LEAD, cases[1])


# -- cannot tell -------------------------------------------------------------------------


def test_cannot_tell_is_stored_once_and_ends_the_assignment(desk: tuple) -> None:
    store, run_id, cases, ids = desk
    result = store.cannot_tell(R0, cases[0], reason="  Income is missing. ", seconds_spent=8)
    assert (result.outcome, result.reason) == ("created", "Income is missing.")
    again = store.cannot_tell(R0, cases[0], reason="other")
    assert (again.outcome, again.reason) == ("duplicate", "Income is missing.")
    view = store.open_case(R0, cases[0])
    assert view.cannot_tell and view.my_rating is None
    mine = {a.case_id: a for a in store.my_assignments(R0)}
    assert mine[cases[0]].done and mine[cases[0]].cannot_tell and not mine[cases[0]].rated
    assert [a.case_id for a in store.my_assignments(R0)][-1] == cases[0]
    with pytest.raises(ValueError, match=MSG_ANSWERED_CANNOT_TELL.split("{")[0]):
        rate(store, R0, cases[0])
    entries = [e for e in store.log_entries() if e.action == "cannot_tell"]
    assert len(entries) == 1 and entries[0].entity_id == str(cases[0])
    assert "Income" not in str(entries[0].payload)  # the reason is logged as its hash
    assert store.panel_progress(LEAD, run_id)["assignments_cannot_tell"] == 1
    unsure = store.case_review(LEAD, cases[0]).cannot_tell
    assert [(u["reviewer_id"], u["reason"]) for u in unsure] == [(ids[R0.username],
                                                                  "Income is missing.")]


def test_cannot_tell_is_left_out_of_the_ratings_and_counted_apart(desk: tuple) -> None:
    store, run_id, cases, ids = desk
    store.cannot_tell(R0, cases[0])
    rate(store, R1, cases[0], 1)
    rate(store, R2, cases[0], 1)
    analysed = store.ratings_for_analysis(LEAD, run_id)
    assert sorted(r["reviewer_id"] for r in analysed) == sorted([ids[R1.username],
                                                                 ids[R2.username]])
    assert all(r["label"] in (0, 1) for r in analysed)
    # Every reviewer is done: the case settles on the two labels it has.
    review = store.case_review(LEAD, cases[0])
    assert (review.status, review.final_label) == ("closed", 1)
    outcomes = store.review_outcomes(LEAD, run_id)
    assert sorted(o["outcome"] for o in outcomes if o["case_id"] == cases[0]) == [
        "cannot_tell", "rated", "rated"]


def test_a_case_no_reviewer_could_tell_goes_to_adjudication(desk: tuple) -> None:
    store, _, cases, _ = desk
    for actor in (R0, R1):
        store.cannot_tell(actor, cases[1])
    assert store.case_review(LEAD, cases[1]).status == "in_review"
    store.cannot_tell(R2, cases[1], reason="Too little shown.")
    review = store.case_review(LEAD, cases[1])
    assert review.status == "disputed" and review.ratings == []
    assert cases[1] in [c.case_id for c in store.disputed_cases(LEAD)]
    store.add_user(Actor.system(), LEAD.username, LEAD.role)  # adjudicators are users
    store.adjudicate(LEAD, cases[1], label=0, reason="The lead decides.")
    assert store.case_review(LEAD, cases[1]).final_label == 0


def test_cannot_tell_is_refused_after_a_rating_or_for_bad_input(desk: tuple) -> None:
    store, _, cases, _ = desk
    rate(store, R0, cases[2])
    with pytest.raises(ValueError, match="only an open case can be answered"):
        store.cannot_tell(R0, cases[2])
    with pytest.raises(ValueError, match="seconds_spent"):
        store.cannot_tell(R0, cases[3], seconds_spent=-1)
    with pytest.raises(TypeError, match="reason"):
        store.cannot_tell(R0, cases[3], reason=None)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        store.cannot_tell(LEAD, cases[3])
    assert not store.open_case(R0, cases[3]).cannot_tell


def test_review_outcomes_need_panel_aggregates(desk: tuple) -> None:
    store, run_id, _, _ = desk
    with pytest.raises(PermissionDenied):
        store.review_outcomes(R0, run_id)
    rows = store.review_outcomes(Actor("cleo", Role.COMPLIANCE_OFFICER), run_id)
    assert len(rows) == 12 and {r["outcome"] for r in rows} == {"open"}


# -- the summary the panel lead reads ---------------------------------------------------


def test_cannot_tell_summary_per_reviewer_only_for_the_lead(desk: tuple) -> None:
    from audits.raters.stored import cannot_tell_summary

    store, run_id, cases, _ = desk
    store.add_user(Actor.system(), LEAD.username, LEAD.role)
    store.cannot_tell(R0, cases[0])
    rate(store, R0, cases[1])
    rate(store, R1, cases[0])
    summary = cannot_tell_summary(store, LEAD, run_id)
    assert (summary.n_answered, summary.n_cannot_tell) == (3, 1)
    assert summary.rate == pytest.approx(1 / 3)
    assert summary.by_reviewer is not None
    assert summary.by_reviewer.iloc[0]["reviewer_id"] == R0.username  # display name
    assert summary.by_reviewer.iloc[0]["cannot_tell_rate"] == pytest.approx(0.5)
    by_subject = summary.by_subject.set_index("subject_group")
    assert by_subject.loc["sex=M", "n_cannot_tell"] == 1  # case 0 is sex=M
    compliance = cannot_tell_summary(store, Actor("cleo", Role.COMPLIANCE_OFFICER), run_id)
    assert compliance.by_reviewer is None and compliance.n_cannot_tell == 1
