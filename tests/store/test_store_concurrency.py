"""Concurrent writers from separate stores (own engines) on one database."""

from __future__ import annotations

import threading
from collections.abc import Callable

from db_support import SCIENTIST, SHA_A, Database, row_counts

from audits.store import Store

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
        thread.join(timeout=120)
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
    assert (result.ok, result.n_entries) == (True, N_THREADS * N_ACTIONS), result.reason
    entries = stores[0].log_entries(newest_first=False)
    assert [e.id for e in entries] == list(range(1, N_THREADS * N_ACTIONS + 1))
    assert len({e.hash for e in entries}) == len({e.prev_hash for e in entries}) == 100
    assert len(stores[0].list_datasets()) == N_THREADS * N_ACTIONS


def test_concurrent_identical_registrations_write_once(database: Database) -> None:
    stores = [database.open() for _ in range(N_THREADS)]

    def work(store: Store, index: int) -> None:
        for _ in range(5):
            store.record_dataset(SCIENTIST, name="adult", source="bundled", sha256=SHA_A,
                                 n_rows=1, roles={}, card="")

    assert _run_threads(stores, work) == []
    assert row_counts(stores[0])["datasets"] == 1
    assert row_counts(stores[0])["audit_log"] == 1 and stores[0].verify_log().ok


def test_concurrent_first_opens_migrate_once(database: Database) -> None:
    opened: list[Store] = []
    lock = threading.Lock()

    def work(_store: object, index: int) -> None:
        store = database.open()
        with lock:
            opened.append(store)

    assert _run_threads([None] * N_THREADS, work) == []  # type: ignore[list-item]
    assert len(opened) == N_THREADS and opened[0].verify_log().ok
