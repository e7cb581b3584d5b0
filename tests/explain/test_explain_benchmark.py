"""The sampling benchmark runs end to end at a tiny size and prints its figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "explain_sampling.py"


def test_benchmark_runs_and_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("explain_sampling", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--quick", "--rows", "2000", "--train-rows", "2000",
                           "--exact-seconds", "0.01", "--exact-chunk", "500"])
    out = capsys.readouterr().out
    assert "time ratio exact / fairpanel" in out
    assert "EXTRAPOLATED" in out  # a budget this small cannot cover every row
    assert set(figures) == {"time_ratio", "tau_A", "tau_B", "max_rel_diff_A",
                            "max_rel_diff_B"}
    assert figures["time_ratio"] > 0
    assert -1.0 <= figures["tau_A"] <= 1.0
