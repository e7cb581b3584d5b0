"""The audit log as each role reads it: panel leads and admins whole; compliance officers
without individual ratings or reviewer backgrounds, with rating counts of 5 or more only."""

from __future__ import annotations

import json
import uuid

import pytest
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor

from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.privacy import PRIVATE_ACTIONS, REDACTED

COMPLIANCE = Actor("casey", Role.COMPLIANCE_OFFICER)
SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
N_REVIEWERS = 6


@pytest.fixture
def rated(store: Store) -> tuple[Store, dict[str, int], list[int]]:
    """Six reviewers (five women, one man) who rated six cases: 1 by five, 0 by one."""
    ids = add_reviewers(store, N_REVIEWERS)
    for i in range(N_REVIEWERS):
        actor = reviewer_actor(i)
        store.report_background(actor, actor.username,
                                {"gender": "woman" if i < 5 else "man"}, consent=True)
    run_id, cases = queue_cases(store, 1)
    assign(store, run_id, [(cases[0], ids[reviewer_actor(i).username])
                           for i in range(N_REVIEWERS)])
    for i in range(N_REVIEWERS):
        label = 1 if i < 5 else 0
        store.submit_rating(reviewer_actor(i), cases[0], label=label, confidence=3,
                            rationale="because", seconds_spent=2.0,
                            idempotency_key=uuid.uuid4().hex)
    return store, ids, cases


def test_the_compliance_officer_reads_no_individual_rating(
        rated: tuple[Store, dict[str, int], list[int]]) -> None:
    store, ids, _ = rated
    whole = store.read_log(LEAD)
    seen = store.read_log(COMPLIANCE)
    assert [e.id for e in seen] == [e.id for e in whole]  # every entry, in order
    assert [e.hash for e in seen] == [e.hash for e in whole]  # the chain can be followed
    names = {reviewer_actor(i).username for i in range(N_REVIEWERS)}
    ratings = [e for e in seen if e.action.startswith("rating_")]
    assert len(ratings) == N_REVIEWERS
    for entry in seen:
        text = json.dumps([entry.actor, entry.entity_id, entry.payload])
        assert not any(name in text for name in names), entry  # no reviewer named
        assert "woman" not in text and '"man"' not in text
        if entry.action in PRIVATE_ACTIONS:
            assert entry.payload.get("redacted") == REDACTED
            assert "label" not in entry.payload and "reviewer_id" not in entry.payload
    # The panel lead reads each rating whole: who gave which label, under which id.
    assert {"reviewer_id"} <= set().union(*(_keys(e.payload) for e in whole))
    full = [e for e in whole if e.action == "rating_created"]
    assert sorted((e.actor, e.payload["label"]) for e in full) == sorted(
        (reviewer_actor(i).username, 1 if i < 5 else 0) for i in range(N_REVIEWERS))


def test_background_groups_cannot_be_joined_with_the_log(
        rated: tuple[Store, dict[str, int], list[int]]) -> None:
    store, ids, _ = rated
    groups = store.background_groups(SCIENTIST, "gender")
    assert set(groups.values()) == {"woman"}  # the lone man is left out (fewer than 5)
    for reader in (COMPLIANCE,):
        for entry in store.read_log(reader):
            # No entry carries a reviewer id, as entity or in its payload.
            if entry.entity == "reviewer":
                assert entry.entity_id is None
            assert not {"reviewer_id", "assignments", "reviewers"} & _keys(entry.payload)
    with pytest.raises(PermissionDenied, match="may not read the audit log"):
        store.read_log(SCIENTIST)
    with pytest.raises(PermissionDenied):
        store.read_log(reviewer_actor(0))


def test_rating_counts_are_shown_only_in_groups_of_five(
        rated: tuple[Store, dict[str, int], list[int]]) -> None:
    store, _, _ = rated
    activity = {a.action: a for a in store.log_activity(COMPLIANCE)}
    created = activity["rating_created"]
    assert created.entries == N_REVIEWERS
    assert created.labels == {0: None, 1: 5}  # one 0: suppressed; five 1s: shown
    assert activity["add_user"].labels == {}
    with pytest.raises(PermissionDenied):
        store.log_activity(SCIENTIST)


def test_a_bad_limit_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        store.read_log(COMPLIANCE, limit=0)


def _keys(value: object) -> set[str]:
    """Every key anywhere in a JSON-like value."""
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()
