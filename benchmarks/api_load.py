"""Load benchmark: concurrent clients sending live decisions to ``fairpanel api``.

A system fairpanel has never seen (decisions, demographics held apart, a scikit-learn
model) is registered, audited and given a review queue from the command line in a fresh
PostgreSQL schema; its live policy holds about 5% of decisions (low confidence and a
random control; the budget is not the limit). Then the real service (``fairpanel api``,
a separate process on 127.0.0.1) takes ``--clients`` concurrent clients in two phases:
``--decisions`` decisions sent one per request (what a service deciding as requests
come does; the latency target is read here), then ``--batch-decisions`` in requests of
``--batch`` (a service that gathers its decisions; the throughput target is read here).
Each phase is bounded by ``--seconds``; ``--resend`` of the requests are sent again with
the same idempotency key, as a client retrying after a dropped answer does, and must get
the first answer back.

The floor is a bare FastAPI endpoint (same layout: uvicorn, one process) that only runs
the same model's ``predict_proba`` on the same rows: no token, no checks, no policy, no
store, no log. Both take the same requests. Prints throughput and p50/p95/p99 latency of
both, the ratio of fairpanel's auto-decision p95 to the floor's, the held share, and
checks that every decision is stored exactly once (no loss, no duplicate, resends
answered from the store) and that ``fairpanel log verify`` passes.

    python benchmarks/api_load.py --url postgresql+psycopg://root@127.0.0.1:5432/test
    python benchmarks/api_load.py --clients 16 --batch 20

The URL defaults to ``$FAIRPANEL_TEST_POSTGRES_URL``. Everything happens in a fresh
schema that is dropped afterwards. Targets on a 2-core machine: auto-decision p95 within
3x of the floor's, at least 200 decisions/s sustained, nothing lost or doubled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import postgres_schema  # noqa: E402

SYSTEM = "bench_credit"
#: How long a server may take to answer its first request before the run gives up.
START_TIMEOUT_S = 120.0
#: Targets of the issue on a 2-core machine.
P95_RATIO_TARGET, THROUGHPUT_TARGET = 3.0, 200.0


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark; return the headline figures (also printed)."""
    args = _parser().parse_args(argv)
    if args.floor_server:
        _serve_floor(Path(args.floor_server[0]), int(args.floor_server[1]))
        return {}
    if not args.url:
        raise SystemExit("give --url or set FAIRPANEL_TEST_POSTGRES_URL (a PostgreSQL URL)")
    with postgres_schema(args.url) as url, tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "FAIRPANEL_HOME": str(Path(work) / "home"),
               "FAIRPANEL_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        env.pop("FAIRPANEL_AUTH", None)
        started = time.perf_counter()
        bodies, token, model = _prepare(Path(work), env, args.rows, args.held)
        print(f"prepared {SYSTEM} ({args.rows} rows, model, audit, queue) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        phases = [("one decision per request", 1, args.decisions),
                  (f"batches of {args.batch}", args.batch, args.batch_decisions)]
        plans = [_plan(bodies, n, args.clients, size, args.resend, tag=str(i))
                 for i, (_, size, n) in enumerate(phases)]
        with _server([sys.executable, "-m", "audits.cli", "api", "--port", "{port}",
                      "--rate", "100000", "--burst", "100000"], env, "fairpanel api") as base:
            fair = [_load(base, f"/v1/systems/{SYSTEM}/decisions", token, plan, args.seconds)
                    for plan in plans]
        with _server([sys.executable, str(Path(__file__).resolve()), "--floor-server",
                      str(model), "{port}"], env, "floor") as base:
            floor = [_load(base, "/predict", None, plan, args.seconds) for plan in plans]
        stored, keys, verified = _check(url, env)
    figures: dict[str, float] = {"clients": float(args.clients)}
    answers = {k: v for result in fair for k, v in result.answers.items()}
    print(f"{args.clients} concurrent clients on loopback; fairpanel api on PostgreSQL vs a "
          "bare FastAPI predict_proba endpoint (the floor)")
    print("| requests | service | decisions/s | p50 ms | p95 ms | p99 ms | auto p95 ms | "
          "held |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, _, _), key, ours, bare in zip(phases, ("one", "batch"), fair, floor,
                                              strict=True):
        held = sum(1 for a in ours.answers.values() if a["outcome"] == "held")
        row = {"throughput": ours.decisions / ours.seconds, "p50_ms": ours.p(50),
               "p95_ms": ours.p(95), "p99_ms": ours.p(99),
               "auto_p95_ms": ours.p(95, outcome="auto"),
               "held_share": held / max(1, len(ours.answers)),
               "floor_throughput": bare.decisions / bare.seconds, "floor_p50_ms": bare.p(50),
               "floor_p95_ms": bare.p(95), "floor_p99_ms": bare.p(99)}
        row["p95_ratio"] = row["auto_p95_ms"] / row["floor_p95_ms"]
        figures.update({f"{key}_{k}": v for k, v in row.items()})
        print(f"| {name} | fairpanel | {row['throughput']:.0f} | {row['p50_ms']:.0f} | "
              f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} | {row['auto_p95_ms']:.0f} | "
              f"{row['held_share']:.1%} |")
        print(f"| {name} | floor | {row['floor_throughput']:.0f} | {row['floor_p50_ms']:.0f} "
              f"| {row['floor_p95_ms']:.0f} | {row['floor_p99_ms']:.0f} | | |")
    print(f"auto-decision p95 / floor p95, one decision per request: "
          f"{figures['one_p95_ratio']:.2f}x (target <= {P95_RATIO_TARGET:g}x); in batches: "
          f"{figures['batch_p95_ratio']:.2f}x")
    print(f"sustained throughput in batches of {args.batch}: "
          f"{figures['batch_throughput']:.0f} decisions/s (target >= {THROUGHPUT_TARGET:g}/s); "
          f"one per request: {figures['one_throughput']:.0f}/s (the floor's "
          f"{figures['one_floor_throughput']:.0f}/s)")
    resent = {k: d for result in fair for k, d in result.resent.items()}
    resent_same = all(answers[k]["decision_id"] == d for k, d in resent.items())
    once = stored == len(answers) and keys == len(answers)
    print(f"stored exactly once: {once} ({stored} stored, {keys} keys, {len(answers)} sent, "
          f"{len(resent)} requests resent with the same key); resends answered with the "
          f"first decision: {resent_same}; log chain intact: {verified}")
    if not (once and resent_same and verified):
        raise SystemExit("decisions were lost or doubled, or the log does not verify")
    return figures


@dataclass
class _Request:
    """One request of a client: its decisions' bodies, and whether it is a resend."""

    bodies: list[dict[str, Any]]
    resend: bool = False


@dataclass
class _Result:
    seconds: float
    latencies: list[tuple[float, str]]  # (seconds, "auto" | "held" | "floor")
    decisions: int
    answers: dict[str, dict[str, Any]]  # idempotency key -> first answer
    resent: dict[str, int]  # idempotency key -> decision id of the resend's answer

    def p(self, q: float, *, outcome: str | None = None) -> float:
        """The q-th percentile latency in ms (of requests with ``outcome`` if given)."""
        values = sorted(s for s, o in self.latencies if outcome is None or o == outcome
                        or o == "floor")
        if not values:
            return float("nan")
        if len(values) == 1:
            return values[0] * 1e3
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1e3


def _prepare(work: Path, env: dict[str, str], rows: int, held: float
             ) -> tuple[list[dict[str, Any]], str, Path]:
    """The system made, registered, audited and queued; its live policy; a token.
    Returns the decisions' bodies (one per row), the token and the model's path."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    sex = rng.choice(["female", "male"], rows)
    income = (rng.gamma(4.0, 10.0, rows) * np.where(sex == "male", 1.2, 1.0)).round(1)
    debt = rng.gamma(2.0, 8.0, rows).round(1)
    region = rng.choice(["north", "south", "east", "west"], rows)
    age = rng.choice(["18-29", "30-44", "45+"], rows)
    repaid = (rng.random(rows) < 1 / (1 + np.exp(2.0 - 0.06 * income + 0.04 * debt))
              ).astype(int)
    features = pd.DataFrame({"income": income, "debt": debt, "region": region})
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["region"]),
                                                  remainder=StandardScaler()),
                          LogisticRegression()).fit(features, repaid)
    features.assign(applicant_id=range(rows), repaid=repaid, approved=model.predict(features)
                    ).to_csv(work / "decisions.csv", index=False)
    pd.DataFrame({"applicant_id": range(rows), "sex": sex, "age_band": age}
                 ).to_csv(work / "demographics.csv", index=False)
    sio.dump(model, work / "model.skops")
    # About `held` of decisions held: a random control of a fifth of it, the rest the
    # scores closest to the threshold (the margin is read off the data's own scores).
    scores = model.predict_proba(features)[:, 1]
    margin = float(np.quantile(np.abs(scores - 0.5), 0.8 * held))
    for argv in (["systems", "add", SYSTEM, "--data", "decisions.csv", "--id", "applicant_id",
                  "--target", "repaid", "--prediction", "approved", "--sensitive", "sex",
                  "--sensitive", "age_band", "--sensitive-data", "demographics.csv",
                  "--join", "applicant_id", "--model", "model.skops"],
                 ["audit", "--system", SYSTEM, "--save"],
                 ["queue", "build", "--audit", "1", "--budget", "10"],
                 ["live", "set", SYSTEM, "--low-confidence-margin", f"{margin:.6f}",
                  "--random-rate", f"{0.2 * held:.6f}", "--no-counterfactual",
                  "--reviews-per-day", "1000000"]):
        subprocess.run([sys.executable, "-m", "audits.cli", *argv], cwd=work, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    made = subprocess.run([sys.executable, "-m", "audits.cli", "tokens", "create", "--system",
                           SYSTEM, "--scope", "decide", "--json", "-"], cwd=work, env=env,
                          check=True, capture_output=True, text=True)
    bodies = [{"features": {"income": float(income[i]), "debt": float(debt[i]),
                            "region": str(region[i])},
               "sensitive": {"sex": str(sex[i]), "age_band": str(age[i])}}
              for i in range(rows)]
    return bodies, json.loads(made.stdout)["token"], work / "model.skops"


def _plan(bodies: list[dict[str, Any]], decisions: int, clients: int, batch: int,
          resend: float, *, tag: str) -> list[list[_Request]]:
    """Each client's requests: its share of the decisions, ``resend`` of them again."""
    rng = random.Random(7)
    run = f"{tag}-{uuid.uuid4().hex[:8]}"
    plans: list[list[_Request]] = [[] for _ in range(clients)]
    for n in range(0, decisions, batch):
        client = (n // batch) % clients
        chunk = [{"id": f"{run}-d{i}", "idempotency_key": f"{run}-{i}",
                  **bodies[i % len(bodies)]} for i in range(n, min(decisions, n + batch))]
        plans[client].append(_Request(chunk))
        if rng.random() < resend:
            plans[client].append(_Request(chunk, resend=True))
    return plans


def _load(base: str, path: str, token: str | None, plans: list[list[_Request]],
          seconds: float) -> _Result:
    """Every client sends its requests in turn; all start together; each stops at the
    time bound."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    barrier = threading.Barrier(len(plans) + 1)
    lock = threading.Lock()
    latencies: list[tuple[float, str]] = []
    answers: dict[str, dict[str, Any]] = {}
    resent: dict[str, int] = {}
    counted: list[int] = []
    errors: list[BaseException] = []
    deadline: list[float] = []

    def client(requests: list[_Request]) -> None:
        mine: list[tuple[float, str]] = []
        got: dict[str, dict[str, Any]] = {}
        again: dict[str, int] = {}
        sent = 0
        with httpx.Client(base_url=base, headers=headers, timeout=START_TIMEOUT_S) as http:
            barrier.wait()
            try:
                for request in requests:
                    if time.perf_counter() > deadline[0]:
                        break
                    body: Any = (request.bodies[0] if len(request.bodies) == 1
                                 else {"decisions": request.bodies})
                    start = time.perf_counter()
                    answer = http.post(path, json=body)
                    elapsed = time.perf_counter() - start
                    if answer.status_code != 200:
                        raise RuntimeError(f"{path} answered {answer.status_code}: "
                                           f"{answer.text[:300]}")
                    data = answer.json()
                    out = data["decisions"] if isinstance(data, dict) and "decisions" in data \
                        else [data]
                    kind = ("floor" if token is None else
                            "held" if any(o["outcome"] == "held" for o in out) else "auto")
                    mine.append((elapsed, kind))
                    if token is None:
                        sent += len(request.bodies)
                        continue
                    for sent_body, o in zip(request.bodies, out, strict=True):
                        key = sent_body["idempotency_key"]
                        if request.resend:
                            again[key] = o["decision_id"]
                        else:
                            got[key] = o
                            sent += 1
            except BaseException as error:  # reported after the join
                errors.append(error)
        with lock:
            latencies.extend(mine)
            answers.update(got)
            resent.update(again)
            counted.append(sent)

    threads = [threading.Thread(target=client, args=(p,)) for p in plans]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline.append(start + seconds)
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return _Result(elapsed, latencies, sum(counted), answers, resent)


def _check(url: str, env: dict[str, str]) -> tuple[int, int, bool]:
    """Decisions stored for the system, distinct idempotency keys among them, and
    whether the log verifies (through ``fairpanel log verify``)."""
    from sqlalchemy import func, select

    from audits.store import Store
    from audits.store.tables import LiveDecision

    with Store(url) as store, store.engine.connect() as conn:
        stored, keys = conn.execute(select(func.count(), func.count(
            LiveDecision.idempotency_key.distinct()))).one()
    verify = subprocess.run([sys.executable, "-m", "audits.cli", "log", "verify"], env=env,
                            capture_output=True, text=True)
    return int(stored), int(keys), verify.returncode == 0


@contextlib.contextmanager
def _server(argv: list[str], env: dict[str, str], name: str) -> Iterator[str]:
    """Start a server on a free loopback port; yield its base URL; stop it (Ctrl-C)."""
    import httpx

    port = _free_port()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([a.replace("{port}", str(port)) for a in argv], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            limit = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    if httpx.get(f"{base}/openapi.json", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > limit:
                    log.seek(0)
                    raise SystemExit(f"{name} did not start:\n{log.read()[-2000:]}")
                time.sleep(0.2)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _serve_floor(model_path: Path, port: int) -> None:
    """The floor: one endpoint that scores the body's features with the model, nothing
    else (the same JSON in, one score per decision out)."""
    import pandas as pd
    import uvicorn
    from fastapi import Body, FastAPI

    from audits.models.files import load_model

    model = load_model(model_path)
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        items = body.get("decisions", [body])
        frame = pd.DataFrame([item["features"] for item in items])
        scores = model.predict_proba(frame)[:, 1]
        out = [{"decision_id": i, "outcome": "auto", "score": float(s)}
               for i, s in enumerate(scores)]
        return {"decisions": out} if "decisions" in body else out[0]

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("FAIRPANEL_TEST_POSTGRES_URL"))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=3000,
                        help="decisions sent one per request")
    parser.add_argument("--batch", type=int, default=10,
                        help="decisions per request in the batched phase")
    parser.add_argument("--batch-decisions", type=int, default=10000,
                        help="decisions sent in batches")
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="each run stops sending after this long")
    parser.add_argument("--resend", type=float, default=0.05,
                        help="share of requests sent again with the same keys")
    parser.add_argument("--held", type=float, default=0.05,
                        help="share of decisions the policy holds (about)")
    parser.add_argument("--rows", type=int, default=2000, help="rows of the system's data")
    parser.add_argument("--floor-server", nargs=2, metavar=("MODEL", "PORT"),
                        help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    main()
