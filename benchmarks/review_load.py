"""Load benchmark: concurrent reviewer sessions submitting ratings through the store.

``--sessions`` reviewers, each with its own store (own connection pool, as separate
dashboard processes would have), submit ``--ratings`` ratings each at the same time;
``--duplicates`` of the submissions are sent again with the same idempotency key (a
double click or a retry after a dropped connection). Prints throughput (stored ratings
per second), median and p95 submit latency, and checks that exactly one rating per
(case, reviewer) was stored.

The reference on the same work is the floor a database gives with no guarantees: the
same number of sessions inserting the same rows into a bare table with
``INSERT ... ON CONFLICT DO NOTHING``, one transaction each (no idempotency history,
no permission check, no hash-chained log). The ratio says what the guarantees cost.

    python benchmarks/review_load.py --url postgresql+psycopg://root@127.0.0.1:5432/test
    python benchmarks/review_load.py --sessions 50 --ratings 40

The URL defaults to ``$FAIRPANEL_TEST_POSTGRES_URL``. Everything happens in a fresh
schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import postgres_schema  # noqa: E402

from audits.roles import Actor, Role  # noqa: E402
from audits.store import AssignmentInput, CaseInput, Store  # noqa: E402

LEAD = Actor("bench-lead", Role.PANEL_LEAD)
SCIENTIST = Actor("bench-scientist", Role.DATA_SCIENTIST)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark; return the headline figures (also printed)."""
    args = _parser().parse_args(argv)
    if not args.url:
        raise SystemExit("give --url or set FAIRPANEL_TEST_POSTGRES_URL (a PostgreSQL URL)")
    with postgres_schema(args.url) as url:
        store = Store(url)
        try:
            plan = _prepare(store, args.sessions, args.ratings)
        finally:
            store.close()
        fair = _run(args.sessions, plan, args.duplicates, _fairpanel_session(url))
        with Store(url) as check:
            stored = len(check.ratings_table(LEAD, plan.run_id))
            verified = check.verify_log().ok
        floor = _run(args.sessions, plan, args.duplicates, _bare_session(url))
    expected = args.sessions * args.ratings
    figures = {"sessions": float(args.sessions), "ratings": float(expected),
               "throughput": expected / fair.seconds, "p50_ms": fair.p50 * 1e3,
               "p95_ms": fair.p95 * 1e3, "floor_throughput": expected / floor.seconds,
               "floor_p95_ms": floor.p95 * 1e3,
               "throughput_ratio": (expected / floor.seconds) / (expected / fair.seconds)}
    print(f"sessions {args.sessions}, ratings {expected} "
          f"(+{fair.submissions - expected} resent with the same key)")
    print(f"fairpanel store : {figures['throughput']:8.1f} ratings/s, "
          f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms")
    print(f"bare INSERT     : {figures['floor_throughput']:8.1f} ratings/s, "
          f"p95 {figures['floor_p95_ms']:.1f} ms")
    print(f"throughput ratio bare / fairpanel: {figures['throughput_ratio']:.1f}x")
    print(f"stored exactly once: {stored == expected} ({stored} of {expected}); "
          f"log chain intact: {verified}")
    if stored != expected or not verified:
        raise SystemExit("ratings were lost or doubled")
    return figures


class _Plan:
    def __init__(self, run_id: int, work: dict[int, list[int]]) -> None:
        self.run_id, self.work = run_id, work


class _Result:
    def __init__(self, seconds: float, latencies: list[float], submissions: int) -> None:
        ordered = sorted(latencies)
        self.seconds, self.submissions = seconds, submissions
        self.p50 = statistics.median(ordered)
        self.p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


Submit = Callable[[int, int, str], None]
#: Opens one session: returns its submit function and the function that closes it.
Session = Callable[[int], tuple[Submit, Callable[[], None]]]


def _prepare(store: Store, sessions: int, ratings: int) -> _Plan:
    system = Actor.system()
    store.add_user(system, LEAD.username, Role.PANEL_LEAD)
    dataset = store.record_dataset(system, name="bench", source="benchmark",
                                   sha256="ab" * 32, n_rows=1, roles={}, card="")
    run = store.create_audit_run(system, dataset_id=dataset.id, model_id=None, config={})
    store.finish_audit_run(system, run.id, results={"rows": 0})
    n_cases = max(ratings, sessions * ratings // 3)
    cases = store.record_queue(system, run.id, policy={"budget": n_cases}, cases=[
        CaseInput(row_key=str(i), subject_group="all", primary_reason="random_control",
                  reasons=[{"reason": "random_control", "score": 0.5, "explanation": "x"}],
                  priority=0.5, rank=i + 1,
                  snapshot={"features": {"x": i}, "decision": {"value": 1}})
        for i in range(n_cases)])
    work, items = {}, []
    for s in range(sessions):
        name = f"bench-reviewer-{s:03d}"
        store.add_user(system, name, Role.REVIEWER)
        reviewer = store.add_reviewer(LEAD, name, capacity=ratings)
        mine = [cases[(s * ratings // 3 + j) % n_cases].id for j in range(ratings)]
        work[s] = mine
        items += [AssignmentInput(case_id=c, reviewer_id=reviewer.id, slot=1, kind="flagged",
                                  model_shown=True, sensitive_shown=True) for c in mine]
    store.record_assignments(LEAD, run.id, items, config={"benchmark": True})
    return _Plan(run.id, work)


def _fairpanel_session(url: str) -> Session:
    def opener(index: int) -> tuple[Submit, Callable[[], None]]:
        store = Store(url)
        actor = Actor(f"bench-reviewer-{index:03d}", Role.REVIEWER)

        def submit(case_id: int, label: int, key: str) -> None:
            store.submit_rating(actor, case_id, label=label, confidence=3,
                                rationale="benchmark", seconds_spent=1.0, idempotency_key=key)
        return submit, store.close
    return opener


def _bare_session(url: str) -> Session:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bare_ratings (case_id int, reviewer int, "
                              "label int, key text UNIQUE, PRIMARY KEY (case_id, reviewer))"))
    finally:
        engine.dispose()

    def opener(index: int) -> tuple[Submit, Callable[[], None]]:
        own = create_engine(url)

        def submit(case_id: int, label: int, key: str) -> None:
            with own.begin() as conn:
                conn.execute(text("INSERT INTO bare_ratings VALUES (:c, :r, :l, :k) "
                                  "ON CONFLICT DO NOTHING"),
                             {"c": case_id, "r": index, "l": label, "k": key})
        return submit, own.dispose
    return opener


def _run(sessions: int, plan: _Plan, duplicates: float, session: Session) -> _Result:
    opened = [session(i) for i in range(sessions)]
    submitters = [submit for submit, _ in opened]
    barrier = threading.Barrier(sessions + 1)
    latencies: list[float] = []
    counts: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng, mine, sent = random.Random(index), [], 0
        barrier.wait()
        try:
            for case_id in plan.work[index]:
                key = f"b{index:03d}c{case_id:06d}{uuid.uuid4().hex[:12]}"
                for _ in range(2 if rng.random() < duplicates else 1):
                    start = time.perf_counter()
                    submitters[index](case_id, 1, key)
                    mine.append(time.perf_counter() - start)
                    sent += 1
        except BaseException as error:  # reported after the join
            errors.append(error)
        with lock:
            latencies.extend(mine)
            counts.append(sent)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for _, close in opened:
        close()
    if errors:
        raise errors[0]
    return _Result(elapsed, latencies, sum(counts))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("FAIRPANEL_TEST_POSTGRES_URL"))
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--ratings", type=int, default=25, help="ratings per session")
    parser.add_argument("--duplicates", type=float, default=0.3,
                        help="share of submissions sent twice with the same key")
    return parser


if __name__ == "__main__":
    main()
