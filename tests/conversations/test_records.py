"""Reading a conversation log: the contract, and what each kind of bad input gets.

A log (JSON Lines or Parquet) becomes one flat row per conversation, its turns kept in
order. Bad input is refused with the line (1-based) and field named, and nothing is
returned half-read: a line that is not JSON, a record that is not an object, a missing
id or turns, an unknown role, a confidence outside [0, 1], a signal that is not a
boolean, demographics without consent, a duplicate id, an attribute named like a
column, a file of another format; more than one problem lists the first five.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audits.conversations.records import (
    conversations_from_records,
    read_conversations,
)
from audits.conversations.simulated import simulate_conversations, write_jsonl

GOOD: dict[str, Any] = {
    "conversation_id": "c1",
    "turns": [{"role": "user", "text": "Where is my parcel?", "at": "2026-10-01T09:00:00Z"},
              {"role": "assistant", "text": "At the depot.", "at": "2026-10-01T09:00:04Z"}],
    "bot": {"confidence": 0.8, "intent": "delivery", "escalated": True},
    "outcome": {"resolved": False, "user_rating": 2},
    "user": {"language": "en", "region": "north",
             "demographics": {"consented": True, "age_band": "35-44"}},
    "judge": {"name": "judge-a", "scores": {"correct": 4, "tone": 5}},
}


def lines(path: Path, *records: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))
    return path


def test_a_log_becomes_one_row_per_conversation(tmp_path: Path) -> None:
    second = {"conversation_id": "c2", "turns": [{"role": "user", "text": "hi"}],
              "user": {"language": "es"}}
    found = read_conversations(lines(tmp_path / "log.jsonl", GOOD, "", second))
    frame = found.frame
    assert list(frame.index) == ["c1", "c2"]
    assert frame.loc["c1", "n_turns"] == 2 and frame.loc["c1", "n_user_turns"] == 1
    assert frame.loc["c1", "started_at"] == "2026-10-01T09:00:00Z"
    assert bool(frame.loc["c1", "escalated"]) and not bool(frame.loc["c2", "escalated"])
    assert not frame.loc["c1", "handed_over"]  # absent signals are False
    assert not frame.loc["c1", "resolved"] and pd.isna(frame.loc["c2", "resolved"])
    assert frame.loc["c1", "judge_tone"] == 5.0 and pd.isna(frame.loc["c2", "judge_tone"])
    assert frame.loc["c1", "demographic_age_band"] == "35-44"
    assert found.user_attributes == ("language", "region")
    assert found.judge_criteria == ("correct", "tone")
    assert [t.role for t in found.transcript("c1")] == ["user", "assistant"]


def test_parquet_holds_the_same_log(tmp_path: Path) -> None:
    records = simulate_conversations(40, seed=3).records
    from_json = read_conversations(write_jsonl(records, tmp_path / "log.jsonl"))
    path = tmp_path / "log.parquet"
    pd.DataFrame(records).to_parquet(path)
    from_parquet = read_conversations(path)
    pd.testing.assert_frame_equal(from_parquet.frame, from_json.frame)
    assert from_parquet.turns == from_json.turns


def broken(change: dict[str, Any]) -> dict[str, Any]:
    record = copy.deepcopy(GOOD)
    for dotted, value in change.items():
        *path, last = dotted.split(".")
        target = record
        for key in path:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return record


@pytest.mark.parametrize(("change", "message"), [
    ({"conversation_id": KeyError}, "line 1: conversation_id is missing"),
    ({"conversation_id": ""}, "line 1: conversation_id must be a non-empty string"),
    ({"turns": []}, "line 1: turns must be a non-empty list of turns"),
    ({"turns.0.role": "bot"}, "line 1: turns[0].role must be one of user, assistant, agent, "
                              "system; got 'bot'"),
    ({"turns.1.text": 3}, "line 1: turns[1].text must be a string; got 3"),
    ({"turns.1.at": "yesterday"}, "line 1: turns[1].at must be an ISO 8601 time"),
    ({"bot.confidence": 1.5}, "line 1: bot.confidence must be a number in [0, 1]"),
    ({"bot.escalated": "yes"}, "line 1: bot.escalated must be true, false or absent; "
                               "got 'yes'"),
    ({"outcome.user_rating": "good"}, "line 1: outcome.user_rating must be a number"),
    ({"user.demographics.consented": False}, "line 1: user.demographics are kept only "
                                             "with \"consented\": true"),
    ({"user.intent": "x"}, "line 1: user attribute 'intent' clashes with the column"),
    ({"judge.scores.tone": "nice"}, "line 1: judge.scores.tone must be a number"),
    ({"judge.name": KeyError}, "line 1: judge.name must be a string"),
])
def test_a_broken_record_is_named_by_line_and_field(tmp_path: Path, change: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        read_conversations(lines(tmp_path / "log.jsonl", broken(change)))
    assert message in str(raised.value)


def test_lines_that_are_not_records_and_duplicates_are_listed(tmp_path: Path) -> None:
    path = lines(tmp_path / "log.jsonl", GOOD, "{not json", "[1, 2]", GOOD)
    with pytest.raises(ValueError) as raised:
        read_conversations(path)
    text = str(raised.value)
    assert text.startswith("3 problems in ")
    assert "line 2: not a JSON object" in text
    assert "line 3: a conversation must be a JSON object; got list" in text
    assert "line 4: conversation_id 'c1' was already used on line 1" in text


def test_files_that_are_not_logs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_conversations(tmp_path / "missing.jsonl")
    (tmp_path / "log.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"read from \.jsonl \(JSON Lines\) or \.parquet"):
        read_conversations(tmp_path / "log.csv")
    with pytest.raises(ValueError, match="no conversations"):
        read_conversations(lines(tmp_path / "empty.jsonl", ""))
    with pytest.raises(ValueError, match="no conversations"):
        conversations_from_records([])
