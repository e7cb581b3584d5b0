"""Verdicts judged with intervals, rules and the --fail-on gate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audits.fairness.audit import DEFAULT_RULES, audit_fairness
from audits.fairness.gate import violates, violations
from audits.fairness.verdicts import (
    FAIL,
    INSUFFICIENT,
    MSG_ABS_RATIO,
    PASS,
    combine,
    difference_rule,
    judge,
    parse_rule,
    ratio_rule,
)


def two_groups(n_a: int, rate_a: float, n_b: int, rate_b: float, seed: int = 0) -> pd.DataFrame:
    """Two groups with exact selection rates; outcomes balanced within each decision."""
    rows = []
    for name, n, rate in (("a", n_a, rate_a), ("b", n_b, rate_b)):
        chosen = round(n * rate)
        p = np.r_[np.ones(chosen), np.zeros(n - chosen)].astype(int)
        y = np.r_[np.arange(chosen) % 2, np.arange(n - chosen) % 2].astype(int)
        rows.append(pd.DataFrame({"g": name, "y": y, "p": p}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.85, 1.2, PASS),          # whole interval inside [0.8, 1.25]
    (0.8, 1.25, PASS),          # bounds are allowed
    (0.5, 0.79, FAIL),          # wholly below
    (1.3, 2.0, FAIL),           # wholly above
    (0.7, 0.9, INSUFFICIENT),   # straddles 0.8
    (0.5, 1.5, INSUFFICIENT),   # straddles both
    (math.nan, 1.0, INSUFFICIENT),
])
def test_judge_reads_the_whole_interval(low: float, high: float, expected: str) -> None:
    assert judge(np.array([low]), np.array([high]), ratio_rule(0.8))[0] == expected


def test_rules_and_their_parsing() -> None:
    assert len(DEFAULT_RULES) == 1 and DEFAULT_RULES[0] == ratio_rule(0.8)
    assert (difference_rule(0.1).low, difference_rule(0.1).high) == (-0.1, 0.1)
    gate = parse_rule("impact_ratio<0.8")
    assert (gate.summary, gate.statistic, gate.low, gate.high) == (
        "impact_ratio", "ratio", 0.8, math.inf)
    eo = parse_rule(" equalized_odds_difference >= 0.1 ")
    assert (eo.summary, eo.low, eo.high) == ("equalized_odds_difference", -math.inf, 0.1)
    per_group = parse_rule("abs(false_positive_rate_difference)>0.05")
    assert per_group.applies_to("false_positive_rate") and not per_group.applies_to("accuracy")
    assert (per_group.low, per_group.high) == (-0.05, 0.05)
    assert parse_rule("selection_rate_ratio<=1e-1").low == 0.1
    for bad in ("impact_ratio", "impact_ratio < x", "fairness<0.8", "true_positive_rate<0.8",
                "accuracy_ratio=0.8"):
        with pytest.raises(ValueError, match="rule"):
            parse_rule(bad)
    with pytest.raises(ValueError, match=MSG_ABS_RATIO.split("{")[0][:10]):
        parse_rule("abs(precision_ratio)>0.8")
    with pytest.raises(ValueError, match="tau"):
        ratio_rule(1.5)
    assert combine([PASS, PASS]) == PASS and combine([PASS, FAIL]) == FAIL


def test_clear_disparity_fails_clear_parity_passes_and_borderline_is_insufficient() -> None:
    rule = ratio_rule(0.8, metrics=["selection_rate"])
    cases = [((2000, 0.5, 2000, 0.2), FAIL), ((2000, 0.5, 2000, 0.5), PASS),
             ((300, 0.5, 300, 0.41), INSUFFICIENT)]
    for args, expected in cases:
        audit = audit_fairness(two_groups(*args), y_true="y", y_pred="p",
                               sensitive_features="g", rules=[rule], n_boot=500)
        row = audit.disparities.set_index("metric").loc["selection_rate"]
        assert row["verdict"] == expected, (args, row)
        assert pd.isna(audit.disparities.set_index("metric").loc["accuracy", "verdict"])
        assert audit.to_dict()["disparities"][-1]["verdict"] is None  # no rule for it


def test_small_groups_never_pass_or_fail() -> None:
    df = two_groups(2000, 0.5, 20, 0.0)  # b: 20 rows, nobody selected
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g",
                           rules=[ratio_rule(0.8), difference_rule(0.05)], n_boot=300)
    judged = audit.disparities[audit.disparities["metric"] != "prevalence"]
    assert set(judged["verdict"]) == {INSUFFICIENT}
    assert audit.disparities.loc[audit.disparities["metric"] == "prevalence",
                                 "verdict"].isna().all()  # the data's, never judged
    assert set(audit.verdicts["reason"]) <= {
        "group or reference too small or metric undefined", "no interval"}
    big_enough = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g",
                                rules=[ratio_rule(0.8)], n_boot=300, min_n=10)
    sel = big_enough.disparities.set_index("metric").loc["selection_rate"]
    assert sel["verdict"] == FAIL
    # TPR 0 of 10 vs 0.5: the bootstrap collapses to [0, 0]; widened by Wilson bounds the
    # per-comparison interval is about [0, 0.59], wholly below 0.8. But the verdict reads
    # the simultaneous interval of the 11 judged comparisons, which reaches above 0.8:
    # 0 of 10 is not enough evidence among 11 claims. Judged alone, it is a failure.
    tpr = big_enough.disparities.set_index("metric").loc["true_positive_rate"]
    assert 0.5 < tpr["ratio_ci_high"] < 0.7
    assert tpr["ratio_adjusted_ci_high"] > 0.8 and tpr["verdict"] == INSUFFICIENT
    alone = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g", n_boot=300,
                           rules=[ratio_rule(0.8, metrics=["true_positive_rate"])], min_n=10)
    assert alone.family_size == 1
    tpr = alone.disparities.set_index("metric").loc["true_positive_rate"]
    assert tpr["ratio_adjusted_ci_high"] < 0.8 and tpr["verdict"] == FAIL
    none = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g", n_boot=0)
    judged_none = none.disparities[none.disparities["metric"] != "prevalence"]
    assert set(judged_none["verdict"]) == {INSUFFICIENT}


def test_a_rate_of_zero_in_a_small_group_is_not_a_confident_failure() -> None:
    # 0 of 40 selected against 2% of 3,000: the percentile bootstrap says [0, 0] (a
    # "certain" ratio of 0); the Wilson-widened interval reaches far above 0.8.
    df = two_groups(3000, 0.02, 40, 0.0)
    audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g", n_boot=300,
                           rules=[ratio_rule(0.8, metrics=["selection_rate"])])
    row = audit.disparities.set_index("metric").loc["selection_rate"]
    assert row["ratio"] == 0.0 and row["ratio_ci_high"] > 1.0
    assert row["verdict"] == INSUFFICIENT
    m = audit.metrics.set_index(["group_label", "metric"]).loc[("b", "selection_rate")]
    assert m["ci_low"] == 0.0 and m["ci_high"] == pytest.approx(m["wilson_high"])


def test_gate_on_summaries_and_on_disparities() -> None:
    audit = audit_fairness(two_groups(3000, 0.5, 3000, 0.3), y_true="y", y_pred="p",
                           sensitive_features="g", n_boot=400)
    assert violates(audit, "impact_ratio<0.8")
    assert not violates(audit, "impact_ratio<0.5")
    found = violations(audit, "selection_rate_ratio<0.8")
    assert found["group_label"].tolist() == ["b"] and found["gate_verdict"].tolist() == [FAIL]
    assert not violates(audit, "abs(selection_rate_difference)>0.3")
    assert violates(audit, parse_rule("demographic_parity_difference>0.1"))
    with_rules = audit_fairness(two_groups(3000, 0.5, 3000, 0.3), y_true="y", y_pred="p",
                                sensitive_features="g", n_boot=400,
                                rules=["impact_ratio<0.8"])
    s = with_rules.summaries.set_index("summary")
    assert s.loc["impact_ratio", "verdict"] == FAIL
    assert with_rules.disparities["verdict"].isna().all()


def test_adverse_positive_decisions_flip_the_impact_ratio() -> None:
    df = two_groups(3000, 0.6, 3000, 0.3)  # b labelled "high risk" half as often
    kind = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g", n_boot=0)
    harsh = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="g", n_boot=0,
                           positive_is_favourable=False, reference="best")
    s1 = kind.summaries.set_index("summary")["value"]
    s2 = harsh.summaries.set_index("summary")["value"]
    assert s1["impact_ratio"] == pytest.approx(0.5)
    assert s2["impact_ratio"] == pytest.approx(0.4 / 0.7)
    sel = harsh.disparities.set_index("metric").loc["selection_rate"]
    assert sel["reference_label"] == "b" and sel["group_label"] == "a"  # best off: fewer flagged
