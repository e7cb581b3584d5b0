"""The bot's fairness across its users, on the simulated conversations.

Oracles: the planted effects of :mod:`audits.conversations.simulated` (Spanish-writing
users escalated more at the same confidence; nothing planted by region), the rates
recounted directly with pandas, and a seed sweep for how often the escalation verdict
finds the planted effect and how often a region fails where nothing was planted.
"""

from __future__ import annotations

import numpy as np
import pytest

from audits.conversations.rates import RATES, bot_rates, score_means
from audits.conversations.records import conversations_from_records
from audits.conversations.simulated import simulate_conversations


@pytest.fixture(scope="module")
def conversations():  # type: ignore[no-untyped-def]
    return conversations_from_records(simulate_conversations(2_000, seed=0).records)


def test_rates_are_the_shares_of_conversations(conversations) -> None:  # type: ignore[no-untyped-def]
    table = bot_rates(conversations, by=["language"], n_boot=100).table()
    frame = conversations.frame
    for rate in RATES:
        for language, share in frame.groupby("language")[rate].mean().items():
            row = table[(table["rate"] == rate) & (table["group"] == language)].iloc[0]
            assert row["value"] == pytest.approx(share)
            assert row["n"] == (frame["language"] == language).sum()
            assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_the_planted_escalation_gap_fails_and_regions_do_not(conversations) -> None:  # type: ignore[no-untyped-def]
    table = bot_rates(conversations, by=["language", "region"], intersections=False,
                      n_boot=300).table()
    escalated = table[table["rate"] == "escalated"].set_index("group")
    assert escalated.loc["es", "verdict"] == "fail"
    assert escalated.loc["es", "ratio_ci_low"] > 1.25
    regions = escalated.loc[["north", "south", "east", "west"], "verdict"]
    assert not (regions == "fail").any()
    resolved = table[table["rate"] == "resolved"]
    assert not (resolved["verdict"] == "fail").any()  # nothing planted on resolution


def test_power_and_false_fails_over_seeds() -> None:
    # Ten simulated logs of 2,000 conversations: the planted gap is found in every one;
    # a region (nothing planted) fails in none.
    found = false = 0
    for seed in range(10):
        c = conversations_from_records(simulate_conversations(2_000, seed=seed).records)
        table = bot_rates(c, by=["language", "region"], intersections=False,
                          n_boot=200, random_state=seed).table()
        escalated = table[table["rate"] == "escalated"].set_index("group")
        found += escalated.loc["es", "verdict"] == "fail"
        false += (escalated.loc[["north", "south", "east", "west"], "verdict"]
                  == "fail").any()
    assert found == 10 and false == 0


def test_score_means_bootstrap_over_conversations(conversations) -> None:  # type: ignore[no-untyped-def]
    table = score_means(conversations, "judge_tone", by=["dialect"], n_boot=400)
    frame = conversations.frame
    regional = table.set_index("group").loc["regional"]
    assert regional["mean"] == pytest.approx(
        frame.loc[frame["dialect"] == "regional", "judge_tone"].mean())
    # The judge's planted harshness shows as a lower mean tone (the panel's comparison
    # tells the judge's bias from the answers' quality).
    assert regional["difference_ci_high"] < -0.5
    assert regional["ci_low"] <= regional["mean"] <= regional["ci_high"]
    assert np.isclose(table["n"].sum(), len(frame))


def test_bad_input_names_what_is_wrong(conversations) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="user attribute 'age' is not in the conversations"):
        bot_rates(conversations, by=["age"])
    with pytest.raises(ValueError, match="score column 'judge_empathy' is not in"):
        score_means(conversations, "judge_empathy", by=["language"])
