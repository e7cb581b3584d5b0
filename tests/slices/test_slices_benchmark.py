"""``benchmarks/slices.py`` runs end to end at a tiny size (its timings are not tested):
fairpanel and sliceline in their own processes, recall over seeds, null datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from db_support import HANG_TIMEOUT_S

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "slices.py"


def test_benchmark_runs_at_a_tiny_size() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--rows", "30000", "--seeds", "1",
                           "--seed-rows", "30000", "--nulls", "1", "--sliceline-rows", "1000"],
                          capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "fairpanel, 30,000 rows x 20 columns, depth 3:" in out
    # 30,000 rows find the 2-way slice (5% of rows); the 3-way one (1%) needs more.
    assert "planted found: (True," in out.splitlines()[0]
    assert "null datasets with any slice reported: 0 of 1" in out
    assert "on 1,000 rows: sliceline" in out and "failed" not in out
