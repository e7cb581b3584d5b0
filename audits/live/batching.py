"""Calls that arrive together are decided together: one scoring, one transaction.

A busy decision service gets many small calls at once. Deciding each on its own pays
the model's fixed cost (a pandas frame, a pipeline's transform) and the log's write lock
once per call, so calls queue behind one another. :class:`DecisionBatcher` runs one
worker that takes every call waiting when it is free (up to
:data:`~audits.store.live.MAX_BATCH` decisions) and decides them with
:func:`audits.live.stored.decide_calls`: one scoring of all their rows, one judgement, one
transaction with one hash-chained log entry per call, in arrival order. A call alone is
decided at once (no waiting for company), so an idle service answers as fast as before.
(Judging one round while the store records the one before was tried: the judge, free
sooner, took smaller rounds, and throughput halved.)

Each call is answered exactly as it would be alone: the policy judges each decision by
itself (its score, its own counterfactual, a random control drawn from its own id), a
refused call gets its own error and does not hold up the others, and a call resending a
key that another call of the same round carries waits for the next round, where the
store answers it with the first answer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from audits.live.policy import LivePolicy
from audits.live.stored import DecisionRequest, LiveSystem, decide_calls
from audits.roles import Actor
from audits.store import Store
from audits.store.live import MAX_BATCH, LiveDecisionRecord

__all__ = ["MSG_CLOSED", "DecisionBatcher"]

MSG_CLOSED = "the decision service is shutting down; send the call again"


@dataclass(eq=False)
class _Call:
    actor: Actor
    live: LiveSystem
    requests: Sequence[DecisionRequest]
    policy: LivePolicy
    now: datetime | None
    future: Future[list[LiveDecisionRecord]] = field(default_factory=Future)

    @property
    def keys(self) -> set[str]:
        return {r.idempotency_key for r in self.requests}


class DecisionBatcher:
    """Decide the calls of many threads together (see the module docstring).

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     batcher = DecisionBatcher(store)
    ...     batcher.close()
    ...     batcher.rounds
    0
    """

    def __init__(self, store: Store, *, max_decisions: int = MAX_BATCH) -> None:
        self.store = store
        self.max_decisions = max_decisions
        #: Rounds decided so far, and the calls they held (what batching achieved).
        self.rounds = 0
        self.calls = 0
        self._pending: list[_Call] = []
        self._changed = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="fairpanel-decisions",
                                        daemon=True)
        self._worker.start()

    def decide(self, actor: Actor, live: LiveSystem, requests: Sequence[DecisionRequest],
               *, policy: LivePolicy, now: datetime | None = None
               ) -> list[LiveDecisionRecord]:
        """Decide one call (with whatever else is waiting); answer it in order.

        Raises what :func:`audits.live.stored.decide` raises for this call alone.
        """
        call = _Call(actor, live, requests, policy, now)
        with self._changed:
            if self._closed:
                raise RuntimeError(MSG_CLOSED)
            self._pending.append(call)
            self._changed.notify()
        return call.future.result()

    def close(self) -> None:
        """Decide what is waiting, then stop the worker."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._worker.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if not self._pending:
                    return
                taken = self._take()
            self._decide(taken)

    def _take(self) -> list[_Call]:
        """The round: waiting calls of the first call's system, model and policy, in
        arrival order, while their keys are new to the round and the decisions fit."""
        first = self._pending[0]
        taken: list[_Call] = []
        keys: set[str] = set()
        size = 0
        for call in self._pending:
            if call is not first and (
                    call.live is not first.live or call.policy != first.policy
                    or call.keys & keys or size + len(call.requests) > self.max_decisions):
                continue
            taken.append(call)
            keys |= call.keys
            size += len(call.requests)
        self._pending = [c for c in self._pending if c not in taken]
        return taken

    def _decide(self, taken: list[_Call]) -> None:
        times = [c.now for c in taken if c.now is not None]
        try:
            answers = decide_calls(self.store, taken[0].live,
                                   [(c.actor, c.requests) for c in taken],
                                   policy=taken[0].policy, now=max(times) if times else None)
        except Exception as error:  # noqa: BLE001 - every waiting caller hears of it
            for call in taken:
                call.future.set_exception(error)
            return
        self.rounds += 1
        self.calls += len(taken)
        for call, answer in zip(taken, answers, strict=True):
            if isinstance(answer, Exception):
                call.future.set_exception(answer)
            else:
                call.future.set_result(answer)
