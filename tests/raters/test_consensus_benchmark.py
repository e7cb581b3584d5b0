"""The Dawid-Skene benchmark against crowd-kit runs end to end and prints its figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "consensus_vs_crowdkit.py"


def test_benchmark_runs_and_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("crowdkit.aggregation", reason="the benchmark's reference is crowd-kit")
    spec = importlib.util.spec_from_file_location("consensus_vs_crowdkit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--quick"])
    out = capsys.readouterr().out
    for line in ("cases: 5,000; ratings: 25,000 from 200 reviewers", "fairpanel:",
                 "crowd-kit:", "label agreement:", "accuracy vs truth:",
                 "time ratio crowd-kit / fairpanel:"):
        assert line in out
    assert set(figures) == {"agreement", "max_posterior_diff", "accuracy_fairpanel",
                            "accuracy_crowdkit", "accuracy_majority", "time_ratio",
                            "time_ratio_per_iteration"}
    assert figures["agreement"] >= 0.999
    assert figures["accuracy_fairpanel"] >= figures["accuracy_majority"]
    assert figures["time_ratio"] > 0
