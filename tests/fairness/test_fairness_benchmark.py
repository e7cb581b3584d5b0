"""The benchmark script runs end to end at a tiny size (its timings are not tested)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fairness_vs_fairlearn.py"


def test_benchmark_script_runs_and_prints_every_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("fairness_vs_fairlearn", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--rows", "1500", "--n-boot-reference", "2"]) == 0
    out = capsys.readouterr().out
    for label in ("pandas group-by count (floor)", "fairlearn MetricFrame x3, no bootstrap",
                  "fairpanel audit, n_boot=1000", "MetricFrame / fairpanel, no bootstrap",
                  "MetricFrame / fairpanel, n_boot=2", "fairpanel n_boot=1000 / group-by floor"):
        assert label in out
    assert "largest |fairlearn - fairpanel| over all metric values: 0.0e+00" in out
