"""Why a conversation needs a person: each signal on records made to have it, the
sentiment scorer against VADER itself, the coverage table, and the simulated log.

What bad input gets: thresholds outside their range are refused by name.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from audits.conversations.records import conversations_from_records
from audits.conversations.signals import (
    PolicyRule,
    SignalPolicy,
    conversation_signals,
    sentiment,
    signal_coverage,
)
from audits.conversations.simulated import bundled_conversations


def record(cid: str, *user: str, assistant: str = "Happy to help.", **extra: Any
           ) -> dict[str, Any]:
    turns = [{"role": "user", "text": text} for text in user]
    turns.insert(1, {"role": "assistant", "text": assistant})
    return {"conversation_id": cid, "turns": turns, **extra}


def reasons(table: pd.DataFrame, cid: str) -> list[str]:
    return table.loc[table["row"] == cid, "reason"].tolist()


def test_each_signal_on_a_conversation_made_to_have_it() -> None:
    conversations = conversations_from_records([
        record("calm", "Where is my parcel?", bot={"confidence": 0.9},
               user={"language": "en"}),
        record("unsure", "Where is my parcel?", bot={"confidence": 0.2}),
        record("person", "Where is my parcel?", "Let me talk to a human please"),
        record("persona", "¿Dónde está?", "Quiero hablar con una persona",
               user={"language": "es"}),
        record("medical", "Can I double the dose of my pills?"),
        record("refund", "Broken kettle", assistant="I have approved a refund of $250."),
        record("angry", "This is useless and I am really angry.", user={"language": "en"}),
        record("enfadado", "Esto es terrible.", user={"language": "es"}),
        record("judged", "Hi", judge={"name": "j", "scores": {"tone": 2, "harmful": 0}}),
        record("harmful", "Hi", judge={"name": "j", "scores": {"tone": 5, "harmful": 1}}),
    ])
    table = conversation_signals(conversations, SignalPolicy(random_share=0.0),
                                 gold=["calm", "not-there"])
    assert reasons(table, "calm") == ["gold"]
    assert reasons(table, "unsure") == ["low_confidence"]
    score = table.loc[table["row"] == "unsure", "score"].iloc[0]
    assert score == pytest.approx((0.5 - 0.2) / 0.5)
    assert reasons(table, "person") == ["asked_for_person"]
    assert reasons(table, "persona") == ["asked_for_person"]
    assert reasons(table, "medical") == ["policy_rule"]
    assert "medical_advice" in table.loc[table["row"] == "medical", "explanation"].iloc[0]
    assert reasons(table, "refund") == ["policy_rule"]
    assert reasons(table, "angry") == ["negative_sentiment"]
    assert reasons(table, "enfadado") == []  # VADER reads English only: not measured
    assert reasons(table, "judged") == ["judge_fail"]
    assert "tone (2)" in table.loc[table["row"] == "judged", "explanation"].iloc[0]
    assert reasons(table, "harmful") == ["judge_fail"]
    assert set(table["score"].between(0, 1)) == {True}


def test_sentiment_is_vaders_compound_score() -> None:
    vader = SentimentIntensityAnalyzer()
    for text in ("Terrible service, again.", "Thanks, that sorted it!", "Where is it?"):
        assert sentiment(text) == vader.polarity_scores(text)["compound"]


def test_a_rule_of_ones_own_and_the_random_control() -> None:
    conversations = conversations_from_records(
        [record(f"c{i}", "Please cancel my contract") for i in range(200)])
    rule = PolicyRule("cancellation", "Cancellations go to a person.", r"\bcancel\b",
                      who="user")
    table = conversation_signals(conversations, SignalPolicy(rules=(rule,),
                                                             random_share=0.1))
    assert (table["reason"] == "policy_rule").sum() == 200
    sampled = (table["reason"] == "random_control").sum()
    assert 5 <= sampled <= 40  # a seeded tenth of 200
    again = conversation_signals(conversations, SignalPolicy(rules=(rule,),
                                                             random_share=0.1))
    pd.testing.assert_frame_equal(table, again)


def test_coverage_shows_what_each_group_can_be_flagged_for() -> None:
    conversations = bundled_conversations()
    coverage = signal_coverage(conversations, by="language").set_index("group")
    assert coverage.loc["en", "negative_sentiment"] == 1.0
    assert coverage.loc["es", "negative_sentiment"] == 0.0
    assert coverage.loc["es", "asked_for_person"] == 1.0
    assert coverage["n"].sum() == len(conversations)
    table = conversation_signals(conversations)
    flagged = table[table["reason"] == "negative_sentiment"]["row"]
    assert set(conversations.frame.loc[flagged, "language"]) == {"en"}
    asked = table[table["reason"] == "asked_for_person"]["row"]
    assert set(conversations.frame.loc[asked, "language"]) == {"en", "es"}


@pytest.mark.parametrize(("options", "message"), [
    ({"low_confidence": 1.5}, r"low_confidence must lie in \[0.0, 1.0\]; got 1.5"),
    ({"negative_sentiment": -2}, r"negative_sentiment must lie in \[-1.0, 1.0\]"),
    ({"random_share": True}, "random_share must lie in"),
])
def test_bad_thresholds_are_refused_by_name(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SignalPolicy(**options)
