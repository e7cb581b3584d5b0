"""``benchmarks/api_load.py`` runs end to end at a tiny size on PostgreSQL (its timings
are not tested): both phases, both services, and its exactly-once and log checks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from db_support import postgres_url_or_skip

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "api_load.py"


def test_benchmark_runs_and_checks_exactly_once(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_url_or_skip()
    spec = importlib.util.spec_from_file_location("api_load", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "api_load", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    figures = module.main(["--url", url, "--clients", "3", "--decisions", "30",
                           "--batch", "5", "--batch-decisions", "40", "--resend", "0.3",
                           "--rows", "400"])
    out = capsys.readouterr().out
    assert "stored exactly once: True (70 stored, 70 keys, 70 sent" in out
    assert "resends answered with the first decision: True; log chain intact: True" in out
    assert "| one decision per request | floor |" in out
    for phase in ("one", "batch"):
        assert figures[f"{phase}_throughput"] > 0
        assert figures[f"{phase}_p95_ms"] >= figures[f"{phase}_p50_ms"] > 0
