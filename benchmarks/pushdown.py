"""Pushdown benchmark: a full audit where the data lives, against the engine's bare count.

Data: ``--rows`` decisions in Parquet (generated once into ``--data-dir`` and reused:
three sensitive features, the outcome, the decision and a score), and a
``--spark-rows`` file for Spark.

Measured in one run, each in a child process of its own (peak memory is that process's
maximum resident set):

- **fairpanel on DuckDB**: ``count_groups_duckdb`` on the file (score binned, every
  intersection) and ``audit_counts`` with ``--n-boot`` replicates: the whole audit. Its
  pass over the data is timed on its own too.
- **the floor**: DuckDB's own bare ``GROUP BY`` count of the same keys of the same file
  (the three features, outcome, decision and the score's 1,000 bins; nothing else, no
  audit). Target: fairpanel within 1.5x of it; peak under 2 GB.
- the same two with the score in 100 bins (``fairpanel audit --score-bins 100``), and
  without the score (decisions only: no AUC or calibration).

Each pair runs ``--repeats`` times, alternately; the medians are printed.
- **pandas**: ``read_parquet`` and the pandas path of the same audit, on the first
  ``--pandas-rows`` rows (where it fits in memory), against fairpanel on DuckDB on a file
  of those rows.
- **Spark** ``local[2]`` on the ``--spark-rows`` file: ``count_groups_spark`` and the
  audit, against Spark's bare ``groupBy().count()`` of the same keys. Target: within
  1.5x.

    python benchmarks/pushdown.py                      # 100,000,000 rows: a few GB on disk
    python benchmarks/pushdown.py --rows 10000000 --spark-rows 2000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATIO_TARGET, MEMORY_TARGET_MB = 1.5, 2048.0
ROLES: dict[str, Any] = {"y_true": "y", "y_pred": "p", "y_score": "score",
                         "sensitive_features": ["sex", "race", "age_band"]}
CHUNK = 5_000_000
BINS = 1000  # the score histogram's bins (DEFAULT_SCORE_BINS)
COARSE = 100  # fairpanel audit --score-bins 100


def generate(path: Path, rows: int, seed: int = 0) -> Path:
    """Write ``rows`` decisions to ``path`` in row groups (kept if already there)."""
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    rng = np.random.default_rng(seed)
    schema = pa.schema([("sex", pa.string()), ("race", pa.string()),
                        ("age_band", pa.string()), ("y", pa.int8()), ("p", pa.int8()),
                        ("score", pa.float64())])
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            score = rng.random(n)
            table = pa.table({
                "sex": pa.array(rng.choice(["female", "male"], n)),
                "race": pa.array(rng.choice(["a", "b", "c", "d", "e"], n,
                                            p=[0.5, 0.2, 0.15, 0.1, 0.05])),
                "age_band": pa.array(rng.choice(["18-29", "30-44", "45-64", "65+"], n)),
                "y": pa.array((rng.random(n) < score).astype(np.int8)),
                "p": pa.array((score > 0.5).astype(np.int8)), "score": pa.array(score)},
                schema=schema)
            writer.write_table(table)
    partial.rename(path)
    return path


def run(task: str, path: str, n_boot: int) -> dict[str, Any]:
    """One measured task, in this (child) process (its imports before the clock)."""
    import duckdb
    import pandas as pd

    from audits.fairness.audit import audit_counts, audit_fairness
    from audits.fairness.pushdown import count_groups_duckdb, count_groups_spark

    start = time.perf_counter()
    phases: dict[str, float] = {}
    if task.startswith("duckdb"):
        roles = {**ROLES, "y_score": None} if task == "duckdb_no_score" else ROLES
        bins = COARSE if task == "duckdb_coarse" else BINS
        counts = count_groups_duckdb(path, **roles, score_bins=bins)
        phases["count_s"] = time.perf_counter() - start
        audit_counts(counts, y_true="y", y_pred="p", y_score=roles["y_score"], n_boot=n_boot,
                     score_bins=bins)
        rows = counts.rows
    elif task.startswith("floor"):
        bins = COARSE if task == "floor_coarse" else BINS
        keys = "sex, race, age_band, y, p" + (
            f", CAST(floor(score * {bins}) AS BIGINT)" if task != "floor_no_score" else "")
        result = duckdb.connect().execute(
            f"SELECT {keys}, count(*) FROM read_parquet('{path}') GROUP BY ALL").fetchall()
        rows = sum(r[-1] for r in result)
    elif task == "pandas":
        frame = pd.read_parquet(path)
        audit_fairness(frame, **ROLES, n_boot=n_boot)
        rows = len(frame)
    elif task in ("spark", "spark_floor"):
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F

        session = (SparkSession.builder.master("local[2]").appName("fairpanel-bench")
                   .config("spark.ui.enabled", "false")
                   .config("spark.driver.memory", "2g").getOrCreate())
        session.range(1).collect()  # the session is up before the clock starts
        start = time.perf_counter()
        try:
            if task == "spark":
                counts = count_groups_spark(session, path=path, **ROLES)
                phases["count_s"] = time.perf_counter() - start
                audit_counts(counts, y_true="y", y_pred="p", y_score="score", n_boot=n_boot)
                rows = counts.rows
            else:
                grouped = session.read.parquet(path).groupBy(
                    "sex", "race", "age_band", "y", "p",
                    F.floor(F.col("score") * BINS).alias("bin")).count().collect()
                rows = sum(r["count"] for r in grouped)
        finally:
            seconds = time.perf_counter() - start
            session.stop()
        return {"seconds": seconds, "rows": rows, "peak_mb": _peak(), **phases}
    else:
        raise ValueError(f"unknown task {task!r}")
    return {"seconds": time.perf_counter() - start, "rows": int(rows), "peak_mb": _peak(),
            **phases}


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(task: str, path: Path, n_boot: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", task, str(path),
                           "--n-boot", str(n_boot)], capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        return {"error": tail}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def pair(ours: str, other: str, path: Path, n_boot: int, repeats: int
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run two tasks alternately ``repeats`` times: each one's median times, peak memory."""
    runs: dict[str, list[dict[str, Any]]] = {ours: [], other: []}
    for _ in range(repeats):
        for task in (ours, other):
            result = child(task, path, n_boot)
            if "error" in result:
                return result, result
            runs[task].append(result)

    def median(results: list[dict[str, Any]]) -> dict[str, Any]:
        out = {k: float(np.median([r[k] for r in results]))
               for k in results[0] if k.endswith("_s") or k == "seconds"}
        return {**out, "peak_mb": max(r["peak_mb"] for r in results)}

    return median(runs[ours]), median(runs[other])


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = _parser().parse_args(argv)
    if args.child:
        print(json.dumps(run(args.child[0], args.child[1], args.n_boot)))
        return {}
    folder = Path(args.data_dir)
    big = generate(folder / f"decisions-{args.rows}.parquet", args.rows)
    figures: dict[str, float] = {}
    print(f"medians of {args.repeats} alternating runs each", flush=True)
    for label, ours_task, floor_task in (
            ("with a score (AUC and calibration per group)", "duckdb", "floor"),
            (f"with a score in {COARSE} bins (--score-bins {COARSE})", "duckdb_coarse",
             "floor_coarse"),
            ("decisions only (no score)", "duckdb_no_score", "floor_no_score")):
        ours, floor = pair(ours_task, floor_task, big, args.n_boot, args.repeats)
        if "error" in ours:
            print(f"{label}: failed ({ours['error']})")
            continue
        key = ours_task
        figures.update({f"{key}_s": ours["seconds"], f"{key}_count_s": ours["count_s"],
                        f"{floor_task}_s": floor["seconds"],
                        f"{key}_ratio": ours["seconds"] / floor["seconds"],
                        f"{key}_count_ratio": ours["count_s"] / floor["seconds"],
                        f"{key}_mb": ours["peak_mb"]})
        print(f"{args.rows:,} rows on DuckDB, {label}: fairpanel's audit ({args.n_boot} "
              f"replicates) {ours['seconds']:.1f} s (its pass over the data "
              f"{ours['count_s']:.1f} s), peak {ours['peak_mb']:.0f} MB; DuckDB's bare "
              f"GROUP BY count of the same keys {floor['seconds']:.1f} s; ratio "
              f"{figures[key + '_ratio']:.2f}x (the pass alone "
              f"{figures[key + '_count_ratio']:.2f}x; target <= {RATIO_TARGET:g}x, peak < "
              f"{MEMORY_TARGET_MB:g} MB)", flush=True)
    small = generate(folder / f"decisions-{args.pandas_rows}.parquet", args.pandas_rows)
    pandas, ours_small = pair("pandas", "duckdb", small, args.n_boot, args.repeats)
    if "error" in pandas:
        print(f"{args.pandas_rows:,} rows, pandas: failed ({pandas['error']})")
    else:
        figures.update(pandas_s=pandas["seconds"], pandas_mb=pandas["peak_mb"],
                       pandas_ratio=pandas["seconds"] / ours_small["seconds"])
        print(f"{args.pandas_rows:,} rows: pandas read and audit {pandas['seconds']:.1f} s, "
              f"peak {pandas['peak_mb']:.0f} MB; fairpanel on DuckDB "
              f"{ours_small['seconds']:.1f} s, peak {ours_small['peak_mb']:.0f} MB; pandas "
              f"/ DuckDB {figures['pandas_ratio']:.1f}x", flush=True)
    if args.spark_rows:
        lake = generate(folder / f"decisions-{args.spark_rows}.parquet", args.spark_rows)
        spark, spark_floor = pair("spark", "spark_floor", lake, args.n_boot, args.repeats)
        if "error" in spark or "error" in spark_floor:
            print(f"Spark: failed ({spark.get('error') or spark_floor.get('error')})")
        else:
            figures.update(spark_s=spark["seconds"], spark_floor_s=spark_floor["seconds"],
                           spark_ratio=spark["seconds"] / spark_floor["seconds"],
                           spark_count_ratio=spark["count_s"] / spark_floor["seconds"])
            print(f"{args.spark_rows:,} rows, Spark local[2]: fairpanel's audit "
                  f"{spark['seconds']:.1f} s (its pass {spark['count_s']:.1f} s); bare "
                  f"groupBy count of the same keys {spark_floor['seconds']:.1f} s; ratio "
                  f"{figures['spark_ratio']:.2f}x (the pass alone "
                  f"{figures['spark_count_ratio']:.2f}x; target <= {RATIO_TARGET:g}x)")
    return figures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--pandas-rows", type=int, default=10_000_000)
    parser.add_argument("--spark-rows", type=int, default=10_000_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating runs of each pair; medians are printed")
    parser.add_argument("--data-dir", default=str(Path.home() / ".cache" / "fairpanel-bench"),
                        help="where the generated files are kept between runs")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    main()
