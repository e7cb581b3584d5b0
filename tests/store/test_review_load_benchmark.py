"""The review load benchmark runs end to end at a tiny size on PostgreSQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from db_support import postgres_url_or_skip

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "review_load.py"


def test_benchmark_runs_and_checks_exactly_once(capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres_url_or_skip()
    spec = importlib.util.spec_from_file_location("review_load", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--url", url, "--sessions", "4", "--ratings", "5"])
    out = capsys.readouterr().out
    assert "stored exactly once: True (20 of 20); log chain intact: True" in out
    assert "throughput ratio bare / fairpanel" in out
    assert figures["throughput"] > 0 and figures["p95_ms"] >= figures["p50_ms"]
