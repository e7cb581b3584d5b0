"""Searching the audit log: filters by actor, action, object and time, applied in the
query, paginated, and matching only what a reader may see (redacted entries stay so)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from db_support import ADMIN, SCIENTIST
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor

from audits.roles import MSG_DENIED, Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.log import MSG_FILTER_RANGE, MSG_FILTER_TEXT, MSG_FILTER_TIME, LogFilter
from audits.store.log_search import MSG_PAGE, log_facets, search_log
from audits.store.privacy import REDACTED

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)


@pytest.fixture
def logged(store: Store) -> tuple[Store, int]:
    """Users, a panel of two, a queue of two cases, and one rating by reviewer00."""
    store.add_user(ADMIN, "ada", "admin")
    ids = add_reviewers(store, 2)
    run_id, cases = queue_cases(store, 2)
    assign(store, run_id, [(cases[0], ids["reviewer00"])])
    store.submit_rating(reviewer_actor(0), cases[0], label=1, confidence=3,
                        seconds_spent=4.0, idempotency_key="k" * 32)
    return store, ids["reviewer00"]


def test_filters_match_the_entries_read_directly(logged: tuple[Store, int]) -> None:
    store, _ = logged
    every = store.log_entries()
    for log_filter, keep in [
        (LogFilter(actor=ADMIN.username), lambda e: e.actor == ADMIN.username),
        (LogFilter(action="add_user"), lambda e: e.action == "add_user"),
        (LogFilter(entity="user", entity_id="1"),
         lambda e: e.entity == "user" and e.entity_id == "1"),
        (LogFilter(actor=ADMIN.username, action="add_user"),
         lambda e: e.actor == ADMIN.username and e.action == "add_user"),
    ]:
        found = search_log(store.engine, ADMIN, log_filter, page_size=1000)
        expected = [e.id for e in every if keep(e)]
        assert [e.id for e in found.entries] == expected and found.total == len(expected)
        assert expected  # each filter matches something


def test_time_range_is_since_inclusive_until_exclusive(logged: tuple[Store, int]) -> None:
    store, _ = logged
    every = store.log_entries()
    middle = every[len(every) // 2]
    found = search_log(store.engine, ADMIN, LogFilter(since=middle.timestamp), page_size=1000)
    assert [e.id for e in found.entries] == [e.id for e in every if e.id >= middle.id]
    found = search_log(store.engine, ADMIN, LogFilter(until=middle.timestamp), page_size=1000)
    assert [e.id for e in found.entries] == [e.id for e in every if e.id < middle.id]
    later = datetime.now(UTC) + timedelta(days=1)
    assert search_log(store.engine, ADMIN, LogFilter(since=later)).total == 0
    # Another time zone means the same instant.
    east = middle.timestamp.astimezone(timezone(timedelta(hours=5)))
    assert search_log(store.engine, ADMIN, LogFilter(since=east)).total == len(
        [e for e in every if e.id >= middle.id])


def test_pages_are_newest_first_and_cover_every_match_once(logged: tuple[Store, int]) -> None:
    store, _ = logged
    total = len(store.log_entries())
    pages = [search_log(store.engine, ADMIN, page=p, page_size=3)
             for p in range(1, -(-total // 3) + 1)]
    ids = [e.id for page in pages for e in page.entries]
    assert ids == list(range(total, 0, -1))
    assert {p.total for p in pages} == {total} and pages[0].n_pages == len(pages)
    beyond = search_log(store.engine, ADMIN, page=len(pages) + 1, page_size=3)
    assert beyond.entries == () and beyond.total == total


def test_a_reader_without_every_rating_cannot_filter_past_the_redaction(
        logged: tuple[Store, int]) -> None:
    store, reviewer_id = logged
    rating = search_log(store.engine, LEAD, LogFilter(action="rating_created")).entries
    assert [e.actor for e in rating] == ["reviewer00"]  # a lead sees who rated
    assert search_log(store.engine, CASEY, LogFilter(actor="reviewer00",
                                                      action="rating_created")).total == 0
    seen = search_log(store.engine, CASEY, LogFilter(actor="reviewer",
                                                      action="rating_created")).entries
    assert len(seen) == 1 and seen[0].actor == "reviewer"
    assert seen[0].payload == {"redacted": REDACTED}
    # A reviewer's id names their add_reviewer entry for a lead, never for casey.
    by_id = LogFilter(entity="reviewer", entity_id=str(reviewer_id))
    assert search_log(store.engine, LEAD, by_id).total >= 1
    assert search_log(store.engine, CASEY, by_id).total == 0
    # Reviewer accounts' add_user entries hide their id too; others' do not.
    users = {e.entity_id: e for e in store.log_entries() if e.action == "add_user"}
    reviewer_user = next(k for k, e in users.items() if e.payload["role"] == "reviewer")
    admin_user = next(k for k, e in users.items() if e.payload["role"] == "admin")
    assert search_log(store.engine, CASEY, LogFilter(entity="user",
                                                      entity_id=reviewer_user)).total == 0
    assert search_log(store.engine, CASEY, LogFilter(entity="user",
                                                      entity_id=admin_user)).total >= 1


def test_facets_name_actors_as_the_reader_sees_them(logged: tuple[Store, int]) -> None:
    store, _ = logged
    lead, casey = log_facets(store.engine, LEAD), log_facets(store.engine, CASEY)
    assert "reviewer00" in lead.actors and "reviewer" not in lead.actors
    assert "reviewer00" not in casey.actors and "reviewer" in casey.actors
    assert {"add_user", "rating_created"} <= set(casey.actions)
    assert {"user", "case"} <= set(casey.entities)


@pytest.mark.parametrize("actor", [SCIENTIST, Actor("rita", Role.REVIEWER)])
def test_readers_need_the_permission(logged: tuple[Store, int], actor: Actor) -> None:
    store, _ = logged
    expected = MSG_DENIED.format(actor=actor.username, role=actor.role.value,
                                 action="read the audit log",
                                 allowed="admin, compliance_officer, panel_lead")
    for call in (lambda: search_log(store.engine, actor), lambda: log_facets(store.engine,
                                                                             actor)):
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert str(refused.value) == expected


def test_bad_filters_and_pages_are_named() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError) as empty:
        LogFilter(actor="")
    assert str(empty.value) == MSG_FILTER_TEXT.format(field="actor", value="")
    with pytest.raises(ValueError) as naive:
        LogFilter(since=datetime(2024, 1, 1))
    assert str(naive.value) == MSG_FILTER_TIME.format(field="since",
                                                      value=datetime(2024, 1, 1))
    with pytest.raises(ValueError) as backwards:
        LogFilter(since=now, until=now - timedelta(hours=1))
    assert str(backwards.value) == MSG_FILTER_RANGE.format(
        since=now.isoformat(), until=(now - timedelta(hours=1)).isoformat())


@pytest.mark.parametrize(("page", "size", "field", "most"), [
    (0, 50, "page", 10**9), (1, 0, "page_size", 1000), (1, 1001, "page_size", 1000),
    (True, 50, "page", 10**9)])
def test_bad_pages_are_named(store: Store, page: int, size: int, field: str,
                             most: int) -> None:
    with pytest.raises(ValueError) as refused:
        search_log(store.engine, ADMIN, page=page, page_size=size)
    value = page if field == "page" else size
    assert str(refused.value) == MSG_PAGE.format(field=field, max=most, value=value)
