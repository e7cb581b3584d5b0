"""Calls decided together (:func:`decide_calls`, :class:`DecisionBatcher`) are answered as
each would be alone, over a real store (the prepared German credit demo).

Oracle: the same requests decided one call at a time in a second copy of the demo give
the same score, model decision, outcome and reasons. A refused call (a bad field, a key
reused for another request) gets its own error and the others are recorded; a resend of
a key sent at the same moment is answered with the first answer; every decision is
stored once and the log's chain verifies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from demo_support import DemoTemplates
from test_live_decide import SCIENTIST, requests_from

from audits.live.batching import DecisionBatcher
from audits.live.policy import LivePolicy
from audits.live.stored import (
    LiveSystem,
    RequestRejected,
    decide,
    decide_calls,
    live_system,
)
from audits.store import Store
from audits.store.live import MSG_KEY_REUSED, LiveDecisionRecord

POLICY = LivePolicy(random_rate=0.3, random_state=5)


@pytest.fixture(scope="module")
def two(demo_templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[tuple[Store, LiveSystem], tuple[Store, LiveSystem]]]:
    stores = []
    with pytest.MonkeyPatch.context() as mp:
        for name in ("together", "alone"):
            copy = demo_templates.copy(tmp_path_factory.mktemp(name) / "home")
            for key, value in copy.env.items():
                mp.setenv(key, value)
            stores.append(Store(copy.url))
        try:
            yield tuple((s, live_system(s, "german_credit")) for s in stores)  # type: ignore[misc]
        finally:
            for store in stores:
                store.close()


def _seen(record: LiveDecisionRecord) -> tuple[object, ...]:
    return (record.external_id, record.score, record.model_decision, record.outcome,
            [r["reason"] for r in record.reasons])


def test_calls_together_are_answered_as_alone_and_a_refused_call_stands_alone(
        two: tuple[tuple[Store, LiveSystem], tuple[Store, LiveSystem]]) -> None:
    (store, live), (alone_store, alone_live) = two
    rows = live.reference.sample(24, random_state=4)
    requests = requests_from(live, rows, "t")
    calls = [requests[i:i + 4] for i in range(0, 20, 4)]
    first = decide(store, SCIENTIST, live, [requests[20]], policy=POLICY)[0]
    bad = replace(requests[21], features={**requests[21].features, "duration": "long"})
    reused = replace(requests[22], idempotency_key=requests[20].idempotency_key)
    entries = len(store.log_entries())
    answers = decide_calls(store, live, [(SCIENTIST, c) for c in calls[:2]]
                           + [(SCIENTIST, [bad]), (SCIENTIST, [reused])]
                           + [(SCIENTIST, c) for c in calls[2:]], policy=POLICY)
    assert isinstance(answers[2], RequestRejected)
    assert "features.duration" in str(answers[2])
    assert isinstance(answers[3], ValueError)
    assert str(answers[3]) == MSG_KEY_REUSED.format(key=first.idempotency_key,
                                                     system="german_credit")
    together = [r for a in answers if isinstance(a, list) for r in a]
    alone = [decide(alone_store, SCIENTIST, alone_live, c, policy=POLICY) for c in calls]
    assert [_seen(r) for r in together] == [_seen(r) for a in alone for r in a]
    assert {r.outcome for r in together} == {"auto", "held"}  # both kinds are compared
    # One log entry per recorded call, in the order the calls came.
    new = [e for e in reversed(store.log_entries(limit=len(store.log_entries()) - entries))
           if e.action == "record_live_decisions"]
    assert len(new) == 5
    assert [[d["id"] for d in e.payload["decisions"]] for e in new] == [
        [r.id for r in a] for a in answers if isinstance(a, list)]
    assert store.verify_log().ok


def test_many_threads_at_once_are_each_answered_once_and_resends_get_the_first_answer(
        two: tuple[tuple[Store, LiveSystem], tuple[Store, LiveSystem]]) -> None:
    (store, live), _ = two
    requests = requests_from(live, live.reference.sample(30, random_state=8), "m")
    # 30 calls of one decision, and 10 of them sent a second time by another thread.
    sends = [[r] for r in requests] + [[r] for r in requests[:10]]
    batcher = DecisionBatcher(store)
    start = threading.Barrier(len(sends))
    answers: list[list[LiveDecisionRecord] | BaseException] = [[] for _ in sends]

    def send(i: int) -> None:
        start.wait()
        try:
            answers[i] = batcher.decide(SCIENTIST, live, sends[i], policy=POLICY)
        except BaseException as error:  # noqa: BLE001 - checked below
            answers[i] = error

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    records = [a[0] for a in answers if isinstance(a, list)]
    assert len(records) == len(sends), [a for a in answers if not isinstance(a, list)]
    first = {r.idempotency_key: r.id for r in records[:30]}
    again = {r.idempotency_key: r.id for r in records[30:]}
    assert all(first[k] == again[k] for k in again)  # a resend gets the first decision
    stored = [d for d in store.live_decisions("german_credit")
              if d.idempotency_key in first]
    assert sorted(d.id for d in stored) == sorted(first.values())  # each stored once
    assert 1 <= batcher.rounds <= len(sends) and batcher.calls == len(sends)
    assert store.verify_log().ok
    with pytest.raises(RuntimeError, match="shutting down"):
        batcher.decide(SCIENTIST, live, [requests[0]], policy=POLICY)
