"""Concurrent writers from separate stores (own engines) on one database."""

from __future__ import annotations

import threading
from collections.abc import Callable

from db_support import HANG_TIMEOUT_S, SCIENTIST, SHA_A, Database, row_counts

from audits.roles import Actor, Role
from audits.store import Store

LEAD_FOR_TESTS = Actor("pat", Role.PANEL_LEAD)

N_THREADS, N_ACTIONS = 4, 25


def _run_threads(stores: list[Store], work: Callable[[Store, int], None]) -> list[BaseException]:
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def target(store: Store, index: int) -> None:
        try:
            barrier.wait()
            work(store, index)
        except BaseException as error:  # reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=target, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def test_concurrent_appends_keep_one_unbroken_chain(database: Database) -> None:
    stores = [database.open() for _ in range(N_THREADS)]

    def work(store: Store, index: int) -> None:
        for k in range(N_ACTIONS):
            sha = f"{index:02x}{k:02x}".ljust(64, "0")
            store.record_dataset(SCIENTIST, name=f"w{index}-{k}", source="thread", sha256=sha,
                                 n_rows=k, roles={}, card="")

    assert _run_threads(stores, work) == []
    result = stores[0].verify_log()
    every = stores[0].log_entries(newest_first=False)
    assert (result.ok, result.n_entries) == (True, len(every)), result.reason
    assert [e.id for e in every] == list(range(1, len(every) + 1))
    # Every write is checkpointed; the first signing logs the key's pin, exactly once.
    entries = [e for e in every if e.action != "pin_signing_key"]
    assert len(entries) == N_THREADS * N_ACTIONS and len(every) - len(entries) == 1
    assert len({e.hash for e in every}) == len({e.prev_hash for e in every}) == len(every)
    assert stores[0].verify_anchors().ok
    assert len(stores[0].list_datasets()) == N_THREADS * N_ACTIONS


def test_concurrent_identical_registrations_write_once(database: Database) -> None:
    stores = [database.open() for _ in range(N_THREADS)]

    def work(store: Store, index: int) -> None:
        for _ in range(5):
            store.record_dataset(SCIENTIST, name="adult", source="bundled", sha256=SHA_A,
                                 n_rows=1, roles={}, card="")

    assert _run_threads(stores, work) == []
    assert row_counts(stores[0])["datasets"] == 1
    # One registration and the key's pin (the first write is checkpointed).
    assert [e.action for e in stores[0].log_entries(newest_first=False)] == [
        "record_dataset", "pin_signing_key"]
    assert stores[0].verify_log().ok and stores[0].verify_anchors().ok


def test_concurrent_first_opens_migrate_once(database: Database) -> None:
    opened: list[Store] = []
    lock = threading.Lock()

    def work(_store: object, index: int) -> None:
        store = database.open()
        with lock:
            opened.append(store)

    assert _run_threads([None] * N_THREADS, work) == []  # type: ignore[list-item]
    assert len(opened) == N_THREADS and opened[0].verify_log().ok


N_REVIEWERS, N_PER_REVIEWER, N_CASES = 50, 20, 200


def test_fifty_reviewers_rating_at_once_lose_and_double_nothing(database: Database) -> None:
    """50 writers x 20 ratings, each resent 0-2 times with the same key (a double click
    or a retry after a dropped connection): exactly one row per (case, reviewer)."""
    import random

    from panel_support import add_reviewers, assign, queue_cases, reviewer_actor

    setup = database.open()
    ids = add_reviewers(setup, N_REVIEWERS)
    run_id, cases = queue_cases(setup, N_CASES)
    mine = {i: [cases[(4 * i + j) % N_CASES] for j in range(N_PER_REVIEWER)]
            for i in range(N_REVIEWERS)}
    assign(setup, run_id, [(c, ids[reviewer_actor(i).username])
                           for i, owned in mine.items() for c in owned])
    stores = [database.open() for _ in range(N_REVIEWERS)]
    sent: dict[tuple[int, int], str] = {}
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(store: Store, index: int) -> None:
        rng = random.Random(index)
        actor = reviewer_actor(index)
        for case_id in mine[index]:
            key = f"r{index:02d}-c{case_id:04d}-{rng.getrandbits(64):016x}"
            label = rng.randint(0, 1)
            for _ in range(1 + rng.choice([0, 0, 1, 2])):
                result = store.submit_rating(actor, case_id, label=label, confidence=3,
                                             rationale="checked the income and history",
                                             seconds_spent=5.0, idempotency_key=key)
                with lock:
                    outcomes.append(result.outcome)
            with lock:
                sent[(case_id, ids[actor.username])] = key

    assert _run_threads(stores, work) == []
    rows = setup.ratings_table(LEAD_FOR_TESTS, run_id)
    assert len(rows) == N_REVIEWERS * N_PER_REVIEWER == len(sent)
    assert {(r["case_id"], r["reviewer_id"]) for r in rows} == set(sent)
    assert outcomes.count("created") == len(sent)
    assert outcomes.count("updated") == 0
    assert outcomes.count("duplicate") == len(outcomes) - len(sent) > 0
    counts = row_counts(setup)
    assert counts["ratings"] == len(sent) and counts["rating_history"] == 0
    created = [e for e in setup.log_entries(newest_first=False) if e.action == "rating_created"]
    assert sorted(e.payload["idempotency_key"] for e in created) == sorted(sent.values())
    assert setup.verify_log().ok
    progress = setup.panel_progress(LEAD_FOR_TESTS, run_id)
    assert progress["assignments_open"] == 0
    assert progress["cases_closed"] + progress["cases_disputed"] == N_CASES
