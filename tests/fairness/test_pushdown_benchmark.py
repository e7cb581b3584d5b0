"""``benchmarks/pushdown.py`` runs end to end at a tiny size (its timings are not
tested): the generated file, fairpanel's audit on DuckDB, the bare count, pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from db_support import HANG_TIMEOUT_S

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pushdown.py"


def test_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--rows", "20000", "--pandas-rows",
                           "10000", "--spark-rows", "0", "--n-boot", "20", "--repeats", "1",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert ("20,000 rows on DuckDB, with a score (AUC and calibration per group): "
            "fairpanel's audit (20 replicates)") in done.stdout
    assert "20,000 rows on DuckDB, decisions only (no score)" in done.stdout
    assert "10,000 rows: pandas read and audit" in done.stdout
    assert (tmp_path / "decisions-20000.parquet").exists()
