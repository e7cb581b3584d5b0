"""The alpha benchmark runs end to end at a tiny size and prints its figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "agreement_vs_reference.py"


def test_benchmark_runs_and_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("agreement_vs_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--quick"])
    out = capsys.readouterr().out
    for line in ("(a) nominal alpha", "(a) time:", "time ratio reference / fairpanel",
                 "(b) ordinal alpha", "(b) peak memory (tracemalloc)",
                 "memory ratio reference / fairpanel"):
        assert line in out
    assert "EXTRAPOLATED" not in out  # the quick size always fits in memory
    assert "(c) Dawid-Skene against crowd-kit" in out
    assert figures["consensus_agreement"] >= 0.999
    figures = {k: v for k, v in figures.items() if not k.startswith("consensus_")}
    assert set(figures) == {"nominal_abs_diff", "nominal_time_ratio", "ordinal_abs_diff",
                            "ordinal_time_ratio", "ordinal_memory_ratio",
                            "fairpanel_peak_mb", "reference_peak_mb",
                            "reference_extrapolated"}
    assert figures["nominal_abs_diff"] < 1e-9 and figures["ordinal_abs_diff"] < 1e-9
    assert figures["ordinal_memory_ratio"] > 1 and figures["reference_extrapolated"] == 1.0
