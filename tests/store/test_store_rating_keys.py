"""Rating idempotency keys belong to one (reviewer, case): a key reused by another reviewer
or on another case is refused, never answered with someone else's rating."""

from __future__ import annotations

import re
import uuid

import pytest
from db_support import row_counts
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor

from audits.roles import Actor
from audits.store import Store
from audits.store.reviews import MSG_KEY_TAKEN

R0, R1 = reviewer_actor(0), reviewer_actor(1)


def submit(store: Store, actor: Actor, case_id: int, label: int, key: str) -> tuple[str, int]:
    result = store.submit_rating(actor, case_id, label=label, confidence=4, rationale="why",
                                 seconds_spent=3.0, idempotency_key=key)
    return result.outcome, result.rating.reviewer_id


@pytest.fixture
def two_reviewers(store: Store) -> tuple[Store, list[int], dict[str, int]]:
    ids = add_reviewers(store, 2)
    run_id, cases = queue_cases(store, 2)
    assign(store, run_id, [(c, ids[a.username]) for c in cases for a in (R0, R1)])
    return store, cases, ids


def test_another_reviewers_key_is_refused_and_reveals_nothing(
        two_reviewers: tuple[Store, list[int], dict[str, int]]) -> None:
    store, cases, ids = two_reviewers
    key = uuid.uuid4().hex
    assert submit(store, R0, cases[0], 1, key) == ("created", ids[R0.username])
    before, n_log = row_counts(store), len(store.log_entries())
    with pytest.raises(ValueError, match=re.escape(MSG_KEY_TAKEN.format(key=key))) as info:
        submit(store, R1, cases[0], 0, key)
    assert "label" not in str(info.value)
    assert row_counts(store) == before and len(store.log_entries()) == n_log
    assert store.open_case(R1, cases[0]).my_rating is None
    # The same reviewer's key on another of their cases is refused too.
    with pytest.raises(ValueError, match="already belongs to another rating"):
        submit(store, R0, cases[1], 1, key)
    # With a key of their own, R1's rating is stored as theirs.
    assert submit(store, R1, cases[0], 0, uuid.uuid4().hex) == ("created", ids[R1.username])
    review = store.case_review(LEAD, cases[0])
    assert {r["reviewer_id"]: r["label"] for r in review.ratings} == {
        ids[R0.username]: 1, ids[R1.username]: 0}


def test_a_key_of_an_earlier_version_stays_with_its_reviewer(
        two_reviewers: tuple[Store, list[int], dict[str, int]]) -> None:
    store, cases, ids = two_reviewers
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    assert submit(store, R0, cases[0], 1, first)[0] == "created"
    assert submit(store, R0, cases[0], 0, second)[0] == "updated"
    # R0 resending the first form: a duplicate, answered with R0's own current rating.
    outcome, reviewer = submit(store, R0, cases[0], 1, first)
    assert (outcome, reviewer) == ("duplicate", ids[R0.username])
    assert store.open_case(R0, cases[0]).my_rating.label == 0  # type: ignore[union-attr]
    # R1 sending R0's old key: refused, R0's history is not handed over.
    with pytest.raises(ValueError, match="already belongs to another rating"):
        submit(store, R1, cases[0], 1, first)
    assert store.open_case(R1, cases[0]).my_rating is None
