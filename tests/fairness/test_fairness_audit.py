"""The audit end to end: ProPublica's COMPAS finding, the JSON contract, thresholds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audits.data.datasets import load_dataset
from audits.fairness.audit import audit_fairness
from audits.fairness.gate import violates
from audits.fairness.thresholds import threshold_curves, threshold_effects

COMPAS = {"y_true": "two_year_recid", "y_pred": "high_risk", "y_score": "decile_score"}


@pytest.fixture(scope="module")
def compas() -> pd.DataFrame:
    return load_dataset("compas").frame


def test_propublica_false_positive_rates_with_intervals(compas: pd.DataFrame) -> None:
    # ProPublica (2016) published 44.9% vs 23.5% from their survival-analysis sample.
    # On the two-year file with their filter (6,172 rows, high risk = Medium or High)
    # the same rates are 641/1514 = 42.3% vs 282/1281 = 22.0%: the finding reproduces.
    audit = audit_fairness(compas, y_true=COMPAS["y_true"], y_pred=COMPAS["y_pred"],
                           sensitive_features="race", reference={"race": "Caucasian"})
    m = audit.metrics.set_index(["group_label", "metric"])
    aa = m.loc[("African-American", "false_positive_rate")]
    white = m.loc[("Caucasian", "false_positive_rate")]
    assert (aa["numerator"], aa["denominator"]) == (641, 1514)
    assert (white["numerator"], white["denominator"]) == (282, 1281)
    assert aa["value"] == pytest.approx(0.448, abs=0.03)
    assert white["value"] == pytest.approx(0.235, abs=0.02)
    assert aa["ci_low"] < aa["value"] < aa["ci_high"]
    d = audit.disparities.set_index(["group_label", "metric"]).loc[
        ("African-American", "false_positive_rate")]
    assert d["reference_label"] == "Caucasian"
    assert 0.15 < d["difference_ci_low"] < d["difference"] < d["difference_ci_high"] < 0.26
    assert d["p_adjusted"] < 1e-20 and d["verdict"] == "fail"
    assert violates(audit, "abs(false_positive_rate_difference)>0.1")


def test_json_contract(compas: pd.DataFrame) -> None:
    audit = audit_fairness(compas, **COMPAS, sensitive_features=["race", "sex"], n_boot=200)
    payload = json.loads(json.dumps(audit.to_dict(), allow_nan=False))
    assert {"rows", "groups", "disparities"} <= set(payload)
    assert payload["rows"] == len(compas)
    assert len(payload["groups"]) == len(audit.groups)
    for group in payload["groups"]:
        assert set(group) == {"attributes", "n", "metrics"}
        assert isinstance(group["n"], int) and group["attributes"]
        assert all(isinstance(v, str) for v in group["attributes"].values())
        for triple in group["metrics"].values():
            assert set(triple) == {"value", "ci_low", "ci_high"}
    assert {"roc_auc", "true_positive_rate", "precision"} <= set(payload["groups"][0]["metrics"])
    for item in payload["disparities"]:
        # The documented keys, and the simultaneous intervals the verdict reads (added).
        assert set(item) == {"metric", "attributes", "reference", "difference", "ratio",
                             "p_value", "p_adjusted", "verdict", "min_detectable_difference",
                             "difference_adjusted", "ratio_adjusted", "bh_family"}
        assert set(item["difference"]) == set(item["ratio"]) == {"value", "ci_low", "ci_high"}
        assert set(item["ratio_adjusted"]) == {"ci_low", "ci_high"}
        if item["verdict"] is not None and item["ratio_adjusted"]["ci_low"] is not None:
            # simultaneous intervals are wider than the per-comparison ones
            assert item["ratio_adjusted"]["ci_low"] <= item["ratio"]["value"] <= item[
                "ratio_adjusted"]["ci_high"]
        assert set(item["reference"]) == set(item["attributes"])
        assert item["verdict"] in ("pass", "fail", "insufficient_evidence", None)
    intersections = [g for g in payload["groups"] if len(g["attributes"]) == 2]
    assert len(intersections) == 12
    assert payload["config"]["n_boot"] == 200 and payload["config"]["slices"][-1] == [
        "race", "sex"]
    judged = sum(d["verdict"] is not None for d in payload["disparities"])
    assert payload["inference"]["family"] == "bonferroni"
    assert 1 <= payload["inference"]["family_size"] <= judged


def test_thresholds_from_histograms_match_recounting(compas: pd.DataFrame) -> None:
    audit = audit_fairness(compas, **COMPAS, sensitive_features="sex", n_boot=0)
    curves = threshold_curves(audit.counts, metrics=["selection_rate", "false_positive_rate"])
    assert sorted(curves["threshold"].unique()) == list(range(1, 11))
    for t in (1, 5, 8):
        decided = compas.assign(high_risk=(compas["decile_score"] >= t).astype(int))
        again = audit_fairness(decided, **COMPAS, sensitive_features="sex", n_boot=0)
        expected = again.metrics.set_index(["group_label", "metric"])["value"]
        got = curves[curves["threshold"] == t].set_index(["group_label", "metric"])["value"]
        for key, value in got.items():
            assert value == pytest.approx(expected[key], abs=1e-12)
    # Medium or High is decile >= 5: the threshold reproduces the logged decisions.
    effects = threshold_effects(audit.counts, 5)
    assert np.allclose(effects["change"].fillna(0), 0)
    moved = audit_fairness(compas, **COMPAS, threshold=7, sensitive_features="sex", n_boot=0)
    assert moved.threshold_effects is not None
    assert (moved.threshold_effects.query("metric == 'selection_rate'")["change"] < 0).all()
    diff = curves.query("metric == 'false_positive_rate'")
    assert np.allclose(diff.loc[diff["group_id"] == diff["reference_id"], "difference"], 0)


def test_progress_is_reported_and_seeds_reproduce(compas: pd.DataFrame) -> None:
    calls: list[tuple[float, str]] = []
    a = audit_fairness(compas, **COMPAS, sensitive_features="race", n_boot=300,
                       random_state=9, progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert any("Bootstrap" in message for _, message in calls)
    b = audit_fairness(compas, **COMPAS, sensitive_features="race", n_boot=300,
                       random_state=9)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.disparities, b.disparities)
    fresh = audit_fairness(compas, **COMPAS, sensitive_features="race", n_boot=50,
                           random_state=None)
    again = audit_fairness(compas, **COMPAS, sensitive_features="race", n_boot=50,
                           random_state=fresh.config.random_state)
    pd.testing.assert_frame_equal(fresh.metrics, again.metrics)


def test_option_errors_name_the_option(compas: pd.DataFrame) -> None:
    kwargs = {**COMPAS, "sensitive_features": "race"}
    with pytest.raises(ValueError, match="n_boot must be a non-negative integer"):
        audit_fairness(compas, **kwargs, n_boot=-1)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        audit_fairness(compas, **kwargs, level=95)
    with pytest.raises(ValueError, match="unknown metric 'recall'"):
        audit_fairness(compas, **kwargs, metrics=["recall"])
    with pytest.raises(ValueError, match="reference race='Martian' is not a group"):
        audit_fairness(compas, **kwargs, reference={"race": "Martian"})
    with pytest.raises(ValueError, match="reference names 'zip'"):
        audit_fairness(compas, **kwargs, reference={"zip": "1"})
    with pytest.raises(ValueError, match="reference must be 'largest', 'best'"):
        audit_fairness(compas, **kwargs, reference="smallest")
    with pytest.raises(TypeError, match="rules must be Rule objects"):
        audit_fairness(compas, **kwargs, rules=[0.8])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="metric 'roc_auc' needs y_score"):
        audit_fairness(compas, y_true="two_year_recid", y_pred="high_risk",
                       sensitive_features="race", metrics=["roc_auc"])
