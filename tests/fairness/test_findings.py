"""Disparities of a stored fairness run ranked by severity, on hand-computable results."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from audits.fairness import ranked_disparities
from audits.fairness.findings import NOT_JUDGED, disparity_size


def _d(group: str, verdict: str | None, ratio: float | None, *,
       adjusted: tuple[float | None, float | None] = (None, None),
       difference: float | None = None, metric: str = "selection_rate") -> dict[str, Any]:
    return {"metric": metric, "attributes": {"s": group}, "reference": {"s": "ref"},
            "ratio": {"value": ratio, "ci_low": None, "ci_high": None},
            "ratio_adjusted": {"ci_low": adjusted[0], "ci_high": adjusted[1]},
            "difference": {"value": difference, "ci_low": None, "ci_high": None},
            "p_value": 0.01, "p_adjusted": 0.02, "min_detectable_difference": 0.1,
            "verdict": verdict}


RESULTS: dict[str, Any] = {"config": {"sensitive_features": ["s"]}, "disparities": [
    _d("pass-near", "pass", 0.95, adjusted=(0.9, 1.02)),
    _d("unjudged", None, 0.2),
    _d("fail-small", "fail", 0.7, adjusted=(0.6, 0.78)),
    # A tiny group: the estimate is furthest from parity, the evidence assures nothing.
    _d("ie-tiny", "insufficient_evidence", 0.0, adjusted=(0.0, 3.0)),
    _d("fail-large", "fail", 2.5, adjusted=(1.6, None)),  # null upper bound: infinite
    _d("ie-sure", "insufficient_evidence", 0.7, adjusted=(0.6, 0.85)),
    _d("pass-far", "pass", 1.2, adjusted=(1.1, 1.24)),
    _d("ie-no-ratio", "insufficient_evidence", None, difference=-0.3),
]}


def test_fails_first_then_evidence_then_estimate_unjudged_last() -> None:
    ranked = ranked_disparities(RESULTS)
    assert ranked["group"].tolist() == [
        "s=fail-large", "s=fail-small", "s=ie-sure", "s=ie-tiny", "s=ie-no-ratio",
        "s=pass-far", "s=pass-near", "s=unjudged"]
    assert ranked["verdict"].iloc[-1] == NOT_JUDGED
    assert ranked["position"].tolist() == [4, 2, 5, 3, 7, 6, 0, 1]


def test_sizes_are_log_ratios_and_assured_sizes_the_nearest_bound() -> None:
    ranked = ranked_disparities(RESULTS).set_index("group")
    assert ranked.loc["s=fail-large", "size"] == pytest.approx(math.log(2.5))
    assert ranked.loc["s=fail-large", "assured_size"] == pytest.approx(math.log(1.6))
    assert ranked.loc["s=fail-small", "assured_size"] == pytest.approx(-math.log(0.78))
    assert ranked.loc["s=ie-tiny", "size"] == math.inf
    assert ranked.loc["s=ie-tiny", "assured_size"] == 0.0  # the interval holds parity
    assert ranked.loc["s=ie-no-ratio", "size"] == pytest.approx(0.3)
    assert ranked.loc["s=fail-large", "min_detectable_difference"] == 0.1


def test_a_ratio_and_its_inverse_are_equally_severe() -> None:
    assert disparity_size(0.5, None) == pytest.approx(disparity_size(2.0, None))
    assert disparity_size(0.0, 0.2) == math.inf
    assert math.isnan(disparity_size(None, None))
    assert disparity_size(float("nan"), -0.4) == pytest.approx(0.4)


def test_ranking_ignores_the_audit_order() -> None:
    expected = ranked_disparities(RESULTS)["group"].tolist()
    for seed in range(5):
        shuffled = list(RESULTS["disparities"])
        random.Random(seed).shuffle(shuffled)
        ranked = ranked_disparities({**RESULTS, "disparities": shuffled})
        assert ranked["group"].tolist() == expected


def test_group_names_follow_the_feature_order() -> None:
    results = {"config": {"sensitive_features": ["sex", "age"]}, "disparities": [
        {"metric": "m", "attributes": {"age": "old", "sex": "f"},
         "reference": {"age": "young", "sex": "m"}, "verdict": "pass"}]}
    row = ranked_disparities(results).iloc[0]
    assert (row["slice"], row["group"], row["reference"]) == (
        "sex & age", "sex=f & age=old", "sex=m & age=young")
    assert math.isnan(row["ratio"]) and math.isnan(row["size"])


def test_results_without_disparities_are_refused() -> None:
    with pytest.raises(ValueError, match="'disparities'"):
        ranked_disparities({"config": {}})
    assert ranked_disparities({"config": {}, "disparities": []}).empty
