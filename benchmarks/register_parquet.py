"""Benchmark: registering a system from a Parquet file against reading it bare.

A synthetic file of decisions (5,000,000 rows by default; 13 columns: an id, three
sensitive features, features with missing values that fall unevenly on the groups, a
score, a decision, an outcome and a timestamp) is written to a temporary folder. Then,
in one run, each measurement in a fresh subprocess, it times and measures the peak
memory of

* the reference: ``pyarrow.parquet.read_table(path)``, bare;
* fairpanel's registration: ``audits.systems.registry.register_system`` into a fresh
  SQLite store in a temporary FAIRPANEL_HOME (read once, validate, describe, copy into
  the store as content-addressed Parquet, record the version). Until the registry
  exists, the same steps by hand: ``read_source``, ``validate_table``, ``card_data``,
  ``store_parquet``.

Peak memory is the subprocess's ``ru_maxrss`` (Arrow allocates outside Python's heap,
so ``tracemalloc`` would not see it), reported above the process's own high-water mark
after its imports. Each figure is the median of ``--repeats`` subprocesses. It prints
the ratios of time and of peak memory, against the target: registration peaks under
2x the table's in-memory size.

Usage::

    python benchmarks/register_parquet.py                 # 5,000,000 rows, 3 repeats
    python benchmarks/register_parquet.py --rows 200000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MEMORY_RATIO = 2.0
KINDS = ("bare", "register")
MAPPING = {"id": "application_id", "target": "repaid", "sensitive": ("sex", "race", "age_band"),
           "prediction": "approved", "score": "score"}


def make_file(path: Path, rows: int, *, random_state: int = 0, chunk: int = 1_000_000) -> None:
    """Write ``rows`` synthetic decisions to ``path``, a chunk at a time."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(random_state)
    ids = rng.permutation(rows).astype("int64") + 10_000_000
    start_time = np.datetime64("2025-01-01T00:00:00", "s")
    writer = None
    try:
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            table = _chunk(rng, ids[lo:lo + n], start_time)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _chunk(rng: np.random.Generator, ids: np.ndarray, start: np.datetime64) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    n = len(ids)
    sex = rng.choice(np.array(["female", "male", "other"]), n, p=[0.49, 0.5, 0.01])
    race = rng.choice(np.array(["a", "b", "c", "d", "e"]), n, p=[0.6, 0.15, 0.12, 0.1, 0.03])
    age_band = rng.choice(np.array(["18-25", "26-40", "41-60", "60+"]), n)
    income = rng.lognormal(10.5, 0.5, n)
    income_missing = rng.random(n) < np.where(sex == "female", 0.08, 0.03)
    years = rng.gamma(2.0, 4.0, n)
    years_missing = rng.random(n) < np.where(race == "e", 0.2, 0.02)
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + (income - 36000) / 20000)))
    repaid = rng.random(n) < 0.3 + 0.5 * score
    return pa.table({
        "application_id": ids,
        "created_at": start + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]"),
        "sex": sex, "race": race, "age_band": age_band,
        "region": rng.choice(np.array([f"r{i:02d}" for i in range(12)]), n),
        "income": pa.array(income, mask=income_missing),
        "employment_years": pa.array(years, mask=years_missing),
        "debt_ratio": rng.beta(2, 5, n),
        "loan_amount": rng.integers(1_000, 50_000, n).astype("float64"),
        "score": score,
        "approved": (score >= 0.5).astype("int8"),
        "repaid": repaid.astype("int8"),
    })


# ---------------------------------------------------------------- one measurement


def _peak_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def measure(kind: str, path: Path) -> dict[str, Any]:
    """Run one measurement in this (fresh) process and return its figures."""
    if kind == "bare":
        import pyarrow.parquet as pq

        baseline = _peak_bytes()
        start = time.perf_counter()
        table = pq.read_table(path)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "baseline": baseline, "peak": _peak_bytes(),
                "table_nbytes": table.nbytes, "how": "pyarrow.parquet.read_table"}
    run, how = _registration()
    baseline = _peak_bytes()
    start = time.perf_counter()
    run(path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "baseline": baseline, "peak": _peak_bytes(), "how": how}


def _registration() -> tuple[Any, str]:
    """The registration to time, with every import done before the clock starts."""
    try:
        from audits.systems.registry import register_system
    except ImportError:
        return _by_hand(), "read_source + validate_table + card_data + store_parquet"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audits.roles import Actor, Role
    from audits.store import Store

    home = Path(os.environ["FAIRPANEL_HOME"])
    store = Store(f"sqlite:///{home / 'fairpanel.db'}", signing_key=Ed25519PrivateKey.generate())
    actor = Actor("dana", Role.DATA_SCIENTIST)

    def run(path: Path) -> None:
        register_system(store, actor, "bench", str(path), **MAPPING)  # type: ignore[arg-type]

    return run, "audits.systems.registry.register_system (SQLite store)"


def _by_hand() -> Any:
    from audits.systems.card import card_data, card_markdown
    from audits.systems.files import store_parquet
    from audits.systems.mapping import ColumnMapping, validate_table
    from audits.systems.sources import read_source

    mapping = ColumnMapping(**MAPPING)  # type: ignore[arg-type]

    def run(path: Path) -> None:
        table = read_source(str(path))
        validate_table(table, mapping)
        card = card_data(table, mapping)
        card_markdown("bench", "", "", True, card)
        store_parquet(table, "data")

    return run


# ---------------------------------------------------------------- the run
# The parent imports neither numpy nor pyarrow and builds the file in a subprocess:
# Linux carries a process's peak RSS across fork and exec into ru_maxrss of its
# children, so a parent holding the data would inflate every measurement.


def _in_subprocess(*args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="fairpanel-home-") as home:
        env = {**os.environ, "FAIRPANEL_HOME": home}
        done = subprocess.run([sys.executable, __file__, *args],
                              env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _measured(kind: str, path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_in_subprocess("--measure", kind, "--path", str(path)))
    return result


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the file, run every measurement in its own subprocess, print the ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000,
                        help="decisions to generate (default 5,000,000)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="subprocesses per measurement; the median is shown (default 3)")
    parser.add_argument("--measure", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.path)))
        return 0
    if args.make:
        make_file(args.path, args.rows)
        return 0
    with tempfile.TemporaryDirectory(prefix="fairpanel-bench-") as folder:
        path = Path(folder) / "decisions.parquet"
        start = time.perf_counter()
        _in_subprocess("--make", "--path", str(path), "--rows", str(args.rows))
        print(f"rows: {args.rows:,}; file: {path.stat().st_size / 2**20:,.0f} MiB on disk "
              f"(written in {time.perf_counter() - start:.1f} s)")
        runs = {kind: [_measured(kind, path) for _ in range(max(1, args.repeats))]
                for kind in KINDS}
    return _report(runs)


def _report(runs: dict[str, list[dict[str, Any]]]) -> int:
    table_nbytes = runs["bare"][0]["table_nbytes"]
    print(f"in-memory table (pyarrow Table.nbytes): {_mib(table_nbytes)}")
    figures = {}
    for kind, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        above = statistics.median(r["peak"] - r["baseline"] for r in results)
        peak = statistics.median(r["peak"] for r in results)
        figures[kind] = (seconds, above)
        print(f"{kind:>8}: {seconds:6.2f} s; peak RSS {_mib(peak)} "
              f"({_mib(above)} above the process after imports; "
              f"{above / table_nbytes:.2f}x the table)  [{results[0]['how']}]")
    (t_bare, m_bare), (t_reg, m_reg) = figures["bare"], figures["register"]
    ratio = m_reg / table_nbytes
    print(f"registration / bare read: time {t_reg / t_bare:.1f}x, "
          f"peak memory {m_reg / max(m_bare, 1):.2f}x")
    verdict = "met" if ratio < TARGET_MEMORY_RATIO else "NOT met"
    print(f"registration peak / in-memory table: {ratio:.2f}x "
          f"(target < {TARGET_MEMORY_RATIO:.0f}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
