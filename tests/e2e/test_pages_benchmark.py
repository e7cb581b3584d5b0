"""``benchmarks/pages.py`` runs end to end at a tiny size (its timings are not tested).

One persona, one page, one repeat, one step, on a copy of the session's german_credit
demo store: the script starts the dashboard itself, drives Chromium, stops the server,
prints its table with each figure's ratio to its target and writes the JSON.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from browser_support import require_browser
from demo_support import GERMAN_CREDIT, DemoTemplates

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pages.py"


def test_pages_benchmark_runs_and_prints_every_ratio(
        demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    require_browser()
    home = tmp_path / "home"
    demo_templates.copy(home)
    spec = importlib.util.spec_from_file_location("pages_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    out_json = tmp_path / "figures.json"
    result = module.main(["--home", str(home), "--dataset", GERMAN_CREDIT,
                          "--personas", "Data scientist", "--pages", "Deferral",
                          "--repeats", "1", "--slider-steps", "1", "--json", str(out_json)])
    printed = capsys.readouterr().out
    rows = {(r["page"], r["role"]): r for r in result["rows"]}
    first = rows[("First page after sign-in", "Data scientist")]
    deferral = rows[("Deferral", "Data scientist")]
    step = rows[("Step: Deferral: Disparity (select box)", "Data scientist")]
    assert deferral["cold_p50_s"] > 0 and deferral["p50_s"] > 0
    for row, target in ((first, 3.0), (deferral, 1.0), (step, 0.3)):
        assert row["target_s"] == target and row["n"] == 1
        assert row["ratio"] == pytest.approx(row["p50_s"] / target, abs=0.006)
        assert row["met"] == (row["p50_s"] < target)
    # The demo's queue has measured human accuracy: its slider is disabled, and said so.
    assert any("'Assumed human accuracy' is disabled" in m for m in result["missing"]), (
        result["missing"], sorted(rows))
    header = printed.splitlines()[0].split()
    assert header[:4] == ["page", "/", "step", "role"] and "target" in header
    assert f"{deferral['ratio']:.2f}" in printed
    assert json.loads(out_json.read_text(encoding="utf-8"))["rows"] == result["rows"]
