"""Comparing two audit runs: zero deltas for a run with itself, small for reruns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.reports.compare import COLUMNS, compare_runs, what_changed
from audits.roles import Actor, Role
from audits.store import AuditRunRecord, Store

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Store, AuditRunRecord, AuditRunRecord]]:
    home: Path = tmp_path_factory.mktemp("report-compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            state = ensure_demo(store, dataset="compas")
            a = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=200,
                                   sensitive_features=["race", "sex"])
            b = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=300,
                                   random_state=7, sensitive_features=["race", "sex"])
            yield store, a, b


def test_a_run_with_itself_has_zero_deltas(runs: tuple[Store, AuditRunRecord,
                                                       AuditRunRecord]) -> None:
    store, a, _ = runs
    table = compare_runs(store, COMPLIANCE, a.id, a.id)
    assert list(table.columns) == list(COLUMNS) and len(table) > 0
    assert np.allclose(table["delta"].dropna(), 0.0)
    assert not table["changed"].any()
    assert what_changed(table) == [
        "No verdict changed and no difference is distinguishable from zero."]


def test_reruns_give_small_deltas_with_the_stated_interval(
        runs: tuple[Store, AuditRunRecord, AuditRunRecord]) -> None:
    store, a, b = runs
    table = compare_runs(store, COMPLIANCE, a.id, b.id)
    fpr = table[(table["metric"] == "false_positive_rate") & (table["group"] == "race=Caucasian")]
    assert len(fpr) == 1
    row = fpr.iloc[0]
    assert row["delta"] == pytest.approx(0.0, abs=1e-12)  # same data, same point estimate
    half = np.hypot((row["a_ci_high"] - row["a_ci_low"]) / 2,
                    (row["b_ci_high"] - row["b_ci_low"]) / 2)
    assert row["delta_ci_high"] - row["delta"] == pytest.approx(half)
    ratios = table[table["metric"].str.endswith("_ratio")]
    assert (ratios["delta"].dropna().abs() < 1e-9).all()
    widths = (table["delta_ci_high"] - table["delta_ci_low"]).dropna()
    assert (widths >= 0).all()


def test_hand_built_pair_gives_the_expected_sentences() -> None:
    rows = [{"metric": "selection_rate_ratio", "group": "sex=F", "reference": "sex=M",
                 "a_value": 0.9, "a_ci_low": 0.85, "a_ci_high": 0.95,
                 "b_value": 0.7, "b_ci_low": 0.65,
                 "b_ci_high": 0.75, "delta": -0.2, "delta_ci_low": -0.2 - np.hypot(0.05, 0.05),
                 "delta_ci_high": -0.2 + np.hypot(0.05, 0.05), "a_verdict": "pass",
                 "b_verdict": "fail", "changed": True},
            {"metric": "precision", "group": "sex=F", "reference": None, "a_value": 0.5,
                 "a_ci_low": 0.4, "a_ci_high": 0.6, "b_value": 0.51,
                 "b_ci_low": 0.41, "b_ci_high": 0.61,
                 "delta": 0.01, "delta_ci_low": -0.13, "delta_ci_high": 0.15, "a_verdict": None,
                 "b_verdict": None, "changed": False}]
    sentences = what_changed(pd.DataFrame(rows, columns=list(COLUMNS)))
    assert sentences == [
        "Selection rate ratio of sex=F to sex=M: verdict changed from pass to fail "
        "(0.900 -> 0.700).",
        "Selection rate ratio of sex=F to sex=M moved by -0.200 [approximate 95% CI -0.271, "
        "-0.129] (0.900 -> 0.700)."]


def test_bad_inputs_are_named(runs: tuple[Store, AuditRunRecord, AuditRunRecord]) -> None:
    store, a, _ = runs
    with pytest.raises(LookupError, match="no audit run with id 999"):
        compare_runs(store, COMPLIANCE, a.id, 999)
    with pytest.raises(ValueError, match=r"table lacks column\(s\) group"):
        what_changed(pd.DataFrame({"metric": []}))
