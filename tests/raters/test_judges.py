"""LLM judges held to the panel's standard, on the simulated conversations.

Oracles: the planted harsher judge (tone, one point lower for the regional dialect) must
show as a negative offset for that group only, fail the alternative annotator test there
and nowhere else on tone, and lower the judge-panel agreement there; the ordinal alpha
is the `krippendorff` package's; the alternative annotator test is recomputed by hand
(win indicators, one-sided t-tests, Benjamini-Yekutieli) on a small panel. Bad input:
missing columns, a rated conversation without a user group, epsilon out of range.
"""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audits.conversations.records import conversations_from_records
from audits.conversations.simulated import simulate_conversations, simulated_panel_ratings
from audits.raters.judges import (
    ALL,
    alternative_annotator_test,
    judge_analysis,
)


@pytest.fixture(scope="module")
def analysis():  # type: ignore[no-untyped-def]
    sim = simulate_conversations(2_000, seed=0)
    c = conversations_from_records(sim.records)
    panel = simulated_panel_ratings(sim, seed=0)
    judged = c.judge_scores()
    return panel, judged, c.frame["dialect"], judge_analysis(
        panel, judged, c.frame["dialect"], n_boot=300)


def test_the_harsher_judge_is_found_where_it_was_planted(analysis) -> None:  # type: ignore[no-untyped-def]
    _, _, _, found = analysis
    bias = found.bias.set_index(["criterion", "group"])
    tone = bias.loc[("tone", "regional")]
    assert tone["offset_ci_high"] < -0.5 and tone["p_adjusted"] < 0.05
    assert -1.2 < tone["offset"] < -0.6  # planted: -1 on the 1-5 scale, before rounding
    others = bias.drop(index=[("tone", "regional"), ("tone", "standard")])
    assert (others["p_adjusted"] > 0.05).all()
    alt = found.alt_test.set_index(["criterion", "group"])
    assert not alt.loc[("tone", "regional"), "passes"]
    assert alt.loc[("tone", "standard"), "passes"]
    assert alt.loc[("tone", ALL), "reviewers"] == 6
    agreement = found.agreement.set_index(["criterion", "raters", "group"])
    assert (agreement.loc[("tone", "judge_vs_panel", "regional"), "ci_high"]
            < agreement.loc[("tone", "judge_vs_panel", "standard"), "ci_low"])


def test_panel_alpha_is_the_krippendorff_packages(analysis) -> None:  # type: ignore[no-untyped-def]
    panel, _, _, found = analysis
    tone = panel[panel["criterion"] == "tone"]
    wide = tone.pivot(index="reviewer_id", columns="conversation_id", values="score")
    expected = krippendorff.alpha(reliability_data=wide.to_numpy(dtype=float),
                                  level_of_measurement="ordinal")
    row = found.agreement.set_index(["criterion", "raters", "group"]).loc[
        ("tone", "panel", ALL)]
    assert row["value"] == pytest.approx(expected, abs=1e-12)
    assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_the_alternative_annotator_test_by_hand() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(1, 6, 150).astype(float)
    rows = [{"conversation_id": i, "reviewer_id": r,
             "score": float(np.clip(truth[i] + rng.normal(0, 0.8), 1, 5).round())}
            for i in range(150) for r in ("a", "b", "c")]
    panel = pd.DataFrame(rows)
    judge = pd.Series(np.clip(truth + rng.normal(0, 0.3, 150), 1, 5), index=range(150))
    found = alternative_annotator_test(panel, judge, epsilon=0.1, q=0.05)
    wide = panel.pivot(index="conversation_id", columns="reviewer_id", values="score")
    p_values, rho = [], []
    for j in wide.columns:
        rest = wide.drop(columns=j).mean(axis=1)
        judge_gap = (judge - rest).abs()
        own_gap = (wide[j] - rest).abs()
        d = (judge_gap <= own_gap).astype(float) - (own_gap <= judge_gap).astype(float)
        p_values.append(stats.ttest_1samp(d + 0.1, 0, alternative="greater").pvalue)
        rho.append((judge_gap <= own_gap).mean())
    rejected = stats.false_discovery_control(p_values, method="by") <= 0.05
    assert found["omega"] == pytest.approx(rejected.mean())
    assert found["rho"] == pytest.approx(np.mean(rho))
    assert found["passes"] is True and found["reviewers"] == 3
    # A judge that answers at random cannot replace anyone.
    noise = pd.Series(rng.integers(1, 6, 150).astype(float), index=range(150))
    assert alternative_annotator_test(panel, noise)["passes"] is False


def test_bad_input_names_what_is_wrong(analysis) -> None:  # type: ignore[no-untyped-def]
    panel, judged, groups, _ = analysis
    with pytest.raises(ValueError, match="panel needs the columns conversation_id, "
                                         "reviewer_id, criterion, score"):
        judge_analysis(panel.drop(columns="reviewer_id"), judged, groups)
    with pytest.raises(ValueError, match="judge needs the columns"):
        judge_analysis(panel, judged.rename(columns={"score": "value"}), groups)
    with pytest.raises(ValueError, match="has ratings but no user group"):
        judge_analysis(panel, judged, groups.iloc[:10])
    with pytest.raises(ValueError, match=r"epsilon must lie in \[0, 1\)"):
        judge_analysis(panel, judged, groups, epsilon=1.5)


def test_automation_bias_is_found_when_planted_and_not_otherwise() -> None:
    sim = simulate_conversations(2_000, seed=0)
    c = conversations_from_records(sim.records)
    copied = simulated_panel_ratings(sim, automation_bias=0.4, seed=0)
    found = judge_analysis(copied, c.judge_scores(), c.frame["dialect"], n_boot=100)
    effect = found.automation.set_index(["criterion", "group"])
    for criterion in ("correct", "tone"):  # judged often enough to disagree with
        row = effect.loc[(criterion, ALL)]
        assert row["ci_low"] > 0 and row["copy_rate_ci_low"] < 0.4 < row["copy_rate_ci_high"]
    assert set(effect.index.get_level_values("group")) == {ALL, "regional", "standard"}
    unbiased = judge_analysis(simulated_panel_ratings(sim, seed=0), c.judge_scores(),
                              c.frame["dialect"], n_boot=100).automation
    overall = unbiased[unbiased["group"] == ALL].set_index("criterion")
    assert (overall.loc[["correct", "tone"], "ci_low"] < 0).all()
    assert (overall.loc[["correct", "tone"], "ci_high"] > 0).all()


def test_the_json_has_every_table(analysis) -> None:  # type: ignore[no-untyped-def]
    _, _, _, found = analysis
    data = found.to_dict()
    assert set(data) == {"agreement", "alt_test", "bias", "automation", "config"}
    assert data["automation"]  # the simulated ratings say whether the judge was shown
    assert {"criterion", "group", "omega", "rho", "passes"} <= set(data["alt_test"][0])
    assert data["config"]["epsilon"] == 0.2


@pytest.mark.slow
def test_power_over_ten_seeds() -> None:
    # The README's figures: over ten simulated logs (2,000 conversations, 400 rated by
    # three of six reviewers), the harsher judge is found in every one (offset flagged
    # after Benjamini-Yekutieli, the alternative annotator test not passed for the
    # regional dialect's tone), and nothing else is flagged nor fails outside that group.
    found = not_passed = false_bias = false_alt = 0
    for seed in range(10):
        sim = simulate_conversations(2_000, seed=seed)
        c = conversations_from_records(sim.records)
        result = judge_analysis(simulated_panel_ratings(sim, seed=seed),
                                c.judge_scores(), c.frame["dialect"],
                                n_boot=300, random_state=seed)
        bias = result.bias.set_index(["criterion", "group"])
        alt = result.alt_test.set_index(["criterion", "group"])
        tone = bias.loc[("tone", "regional")]
        found += bool(tone["p_adjusted"] < 0.05 and tone["offset"] < 0)
        not_passed += not alt.loc[("tone", "regional"), "passes"]
        others = bias.drop(index=[("tone", "regional"), ("tone", "standard")])
        false_bias += bool((others["p_adjusted"] < 0.05).any())
        false_alt += bool((~alt.query("group != 'regional'")["passes"].astype(bool)).any())
    assert (found, not_passed, false_bias, false_alt) == (10, 10, 0, 0)
