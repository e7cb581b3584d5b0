"""Reviewed conversations into a fine-tuning set, an evaluation set and knowledge gaps.

Oracles: hand-built conversations whose expected messages are written out (the panel's
correction replaces the bot's last answer and nothing else; a person's turns after a
hand-over never become the bot's), the bundled simulated conversations reviewed by the
simulated panel with one intent planted to need correction (it must come out first),
shares recounted with pandas and Wilson intervals from statsmodels, and JSON Lines read
back line by line. Each kind of bad input raises its message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from audits.conversations.feedback import (
    GAP_COLUMNS,
    MSG_COLUMNS,
    MSG_CONVERSATIONS,
    MSG_DUPLICATE,
    MSG_FINAL_TYPE,
    MSG_FINAL_UNKNOWN,
    MSG_OPTION,
    MSG_REVIEWS,
    MSG_UNKNOWN,
    NO_INTENT,
    REVIEW_COLUMNS,
    evaluation_records,
    knowledge_gaps,
    training_records,
    write_jsonl,
)
from audits.conversations.records import Conversations, conversations_from_records
from audits.conversations.rubric import Criterion, Rubric
from audits.conversations.simulated import (
    bundled_conversations,
    simulate_conversations,
    simulated_panel_ratings,
)

SYSTEM = "You are the shop's support assistant."
PLANTED = "delivery"


def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "text": text} for role, text in pairs]


@pytest.fixture(scope="module")
def small() -> Conversations:
    return conversations_from_records([
        {"conversation_id": "c1", "bot": {"intent": "billing"},
         "turns": turns(("user", "Why two charges?"), ("assistant", "One is a hold."),
                        ("user", "When does it go?"), ("assistant", "Never.")),
         "judge": {"name": "judge-a", "scores": {"correct": 2, "harmful": 0}}},
        {"conversation_id": "c2", "bot": {"intent": "refund", "handed_over": True},
         "turns": turns(("user", "Refund my kettle."), ("assistant", "Refunds take a week."),
                        ("user", "Can I talk to a person?"),
                        ("agent", "Hello, I'm Sam; refunded now."), ("user", "Thanks Sam!"))},
        {"conversation_id": "c3", "bot": {"intent": "refund"},
         "turns": turns(("user", "Refund to a new card?"), ("assistant", "Yes, any card."))},
        {"conversation_id": "c4",
         "turns": turns(("user", "Opening hours?"), ("assistant", "9 to 5."))},
        {"conversation_id": "c5", "bot": {"intent": "billing"},
         "turns": turns(("system", "session started"), ("assistant", "Hi! How can I help?"),
                        ("user", "My bill."), ("user", "It is wrong."),
                        ("assistant", "Let me look."), ("assistant", "It is correct."))},
    ])


def review(cid: str, reviewer: str, acceptable: Any, corrected: str | None = None, *,
           rubric: dict[str, int] | None = None, at: str = "2026-10-02T10:00:00Z",
           case_id: int = 1) -> dict[str, Any]:
    return {"conversation_id": cid, "reviewer_id": reviewer, "acceptable": acceptable,
            "corrected_answer": corrected, "rubric": rubric or {"correct": 3},
            "rationale": f"{reviewer} on {cid}", "rated_at": at, "case_id": case_id,
            "snapshot_sha256": f"sha-{cid}-{case_id}", "judge_shown": reviewer == "r1"}


@pytest.fixture(scope="module")
def small_reviews() -> pd.DataFrame:
    return pd.DataFrame([
        review("c1", "r1", False, "It is released in 3 days.",
               rubric={"correct": 1, "harmful": 0}, at="2026-10-02T10:00:00Z"),
        review("c1", "r2", False, rubric={"correct": 2, "harmful": 0},
               at="2026-10-02T11:00:00+02:00", case_id=2),  # 09:00 UTC: the first
        review("c1", "r3", True, rubric={"correct": 4}, at="2026-10-02T12:00:00Z"),
        review("c2", "r1", False, "A refund takes 3-5 working days; I have started it."),
        review("c2", "r2", False),
        review("c3", "r1", False), review("c3", "r2", False),
        review("c4", "r1", True), review("c4", "r2", True),
        review("c5", "r1", True), review("c5", "r2", False),
    ])


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["conversation_id"]: r for r in records}


def test_the_correction_replaces_the_last_answer_and_nothing_else(
        small: Conversations, small_reviews: pd.DataFrame) -> None:
    record = by_id(training_records(small, small_reviews, system=SYSTEM))["c1"]
    assert record["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Why two charges?"},
        {"role": "assistant", "content": "One is a hold.", "weight": 0},
        {"role": "user", "content": "When does it go?"},
        {"role": "assistant", "content": "It is released in 3 days.", "weight": 1}]
    original = small.transcript("c1")
    assert [m["content"] for m in record["messages"][1:-1]] == [t.text for t in original[:-1]]
    meta = record["metadata"]
    assert meta["corrected"] and meta["correction_by"] == "r1"
    assert meta["bot_answer"] == "Never."


def test_a_person_s_words_after_the_hand_over_are_not_the_bot_s(
        small: Conversations, small_reviews: pd.DataFrame) -> None:
    record = by_id(training_records(small, small_reviews, system=SYSTEM))["c2"]
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    assert "Sam" not in json.dumps(record["messages"])
    assert record["messages"][-1]["content"].startswith("A refund takes 3-5 working days")
    assert record["metadata"]["handed_over"] is True
    assert record["metadata"]["turns_left_out"] == 3  # the request, the agent, the thanks


def test_system_turns_greetings_and_runs_of_one_speaker(
        small: Conversations, small_reviews: pd.DataFrame) -> None:
    final = {"c5": True}  # the panel tied; adjudicated acceptable
    record = by_id(training_records(small, small_reviews, system="", final=final))["c5"]
    assert record["messages"] == [
        {"role": "user", "content": "My bill.\n\nIt is wrong."},
        {"role": "assistant", "content": "Let me look.\n\nIt is correct.", "weight": 1}]
    assert record["metadata"]["turns_left_out"] == 2
    assert record["metadata"]["panel"]["verdict_from"] == "final"


def test_unacceptable_without_correction_is_evaluated_not_trained(
        small: Conversations, small_reviews: pd.DataFrame) -> None:
    trained = by_id(training_records(small, small_reviews, system=SYSTEM))
    evaluated = by_id(evaluation_records(small, small_reviews, system=SYSTEM))
    # c3: both said unacceptable, no one corrected; c5: a tie counts as unacceptable.
    assert sorted(trained) == ["c1", "c2", "c4"]
    assert sorted(evaluated) == ["c1", "c2", "c3", "c4", "c5"]
    c3 = evaluated["c3"]
    assert (c3["bot_answer"], c3["reference"], c3["acceptable"]) == ("Yes, any card.", None,
                                                                     False)
    assert c3["messages"] == [{"role": "system", "content": SYSTEM},
                              {"role": "user", "content": "Refund to a new card?"}]
    assert evaluated["c5"]["metadata"]["panel"]["verdict_from"] == "tie"
    assert evaluated["c4"]["reference"] == "9 to 5."
    assert evaluated["c1"]["reference"] == "It is released in 3 days."
    only_corrected = by_id(training_records(small, small_reviews, system=SYSTEM,
                                            include_accepted=False))
    assert sorted(only_corrected) == ["c1", "c2"]


def test_which_correction_is_used(small: Conversations) -> None:
    reviews = pd.DataFrame([
        review("c3", "r9", True, "Any card works.", at="2026-10-02T08:00:00Z"),
        review("c3", "r2", False, "Only the card you paid with.", at="2026-10-02T10:00:00Z"),
        review("c3", "r1", False, "Only the paying card.", at="2026-10-02T10:00:00Z")])
    # Unacceptable (2 to 1): an agreeing reviewer's correction, the earliest, then by id.
    [record] = training_records(small, reviews, system="")
    assert record["messages"][-1]["content"] == "Only the paying card."
    assert len(record["metadata"]["corrections"]) == 3
    # Adjudicated acceptable: only the reviewer who accepted it may replace the answer.
    [record] = training_records(small, reviews, system="", final=pd.Series({"c3": True}))
    assert record["messages"][-1]["content"] == "Any card works."
    # A dissenter's rewrite never replaces an answer the panel accepted.
    reviews.loc[reviews["reviewer_id"] == "r9", "corrected_answer"] = None
    [record] = training_records(small, reviews, system="", final={"c3": True})
    assert record["messages"][-1]["content"] == "Yes, any card."
    assert not record["metadata"]["corrected"]
    # Missing in final: the majority decides.
    assert not training_records(small, reviews.assign(corrected_answer=None), system="",
                                final={"c3": None})


def test_metadata_panel_judge_and_lineage(small: Conversations,
                                          small_reviews: pd.DataFrame) -> None:
    meta = by_id(training_records(small, small_reviews, system=SYSTEM))["c1"]["metadata"]
    assert meta["system"] == SYSTEM and meta["intent"] == "billing"
    panel = meta["panel"]
    assert (panel["reviewers"], panel["acceptable_votes"], panel["unacceptable_votes"],
            panel["acceptable"], panel["verdict_from"]) == (3, 1, 2, False, "majority")
    assert panel["rubric"] == {"correct": {"median": 2.0, "n": 3},
                               "harmful": {"median": 0.0, "n": 2}}
    assert meta["judge"] == {"name": "judge-a", "scores": {"correct": 2.0, "harmful": 0.0}}
    assert meta["lineage"] == {
        "case_ids": [1, 2], "snapshot_sha256": ["sha-c1-1", "sha-c1-2"],
        "reviewer_ids": ["r1", "r2", "r3"],
        "rated_at": {"first": "2026-10-02T11:00:00+02:00", "last": "2026-10-02T12:00:00Z"},
        "judge_shown": 1}
    no_intent = by_id(evaluation_records(small, small_reviews, system=""))["c4"]["metadata"]
    assert no_intent["intent"] is None and no_intent["judge"] is None


def test_records_do_not_depend_on_the_order_of_the_reviews(
        small: Conversations, small_reviews: pd.DataFrame) -> None:
    shuffled = small_reviews.sample(frac=1, random_state=3)
    assert (training_records(small, shuffled, system=SYSTEM)
            == training_records(small, small_reviews, system=SYSTEM))


@pytest.fixture(scope="module")
def simulated() -> tuple[Conversations, pd.DataFrame]:
    """The bundled conversations, 400 reviewed by three of six simulated reviewers; on
    the planted intent every reviewer scores ``correct`` two points lower."""
    conversations = bundled_conversations()
    long = simulated_panel_ratings(simulate_conversations(2_000, seed=0),
                                   n_conversations=400, seed=0)
    intent = conversations.frame["intent"]
    rng = np.random.default_rng(5)
    rows = []
    for (cid, reviewer), its in long.groupby(["conversation_id", "reviewer_id"]):
        rubric = {str(c): int(s) for c, s in zip(its["criterion"], its["score"], strict=True)}
        if intent[cid] == PLANTED:
            rubric["correct"] = max(1, rubric["correct"] - 2)
        ok = rubric["correct"] >= 3 and rubric["harmful"] == 0
        corrected = None if ok or rng.random() < 0.4 else f"A better answer to {cid}."
        rows.append({"conversation_id": cid, "reviewer_id": reviewer, "acceptable": ok,
                     "corrected_answer": corrected, "rubric": rubric, "rationale": "",
                     "rated_at": f"2026-10-05T{10 + int(reviewer[-1]):02d}:00:00Z",
                     "case_id": int(cid[5:]), "snapshot_sha256": f"sha-{cid}",
                     "judge_shown": bool(its["judge_shown"].iloc[0])})
    return conversations, pd.DataFrame(rows)


def test_jsonl_round_trips_with_alternating_messages_and_lineage(
        simulated: tuple[Conversations, pd.DataFrame], tmp_path: Path) -> None:
    conversations, reviews = simulated
    records = training_records(conversations, reviews, system=SYSTEM)
    path = tmp_path / "train.jsonl"
    assert write_jsonl(records, path) == len(records) > 300
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    reviewers = reviews.groupby("conversation_id")["reviewer_id"].apply(sorted)
    for record in map(json.loads, lines):
        roles = [m["role"] for m in record["messages"]]
        assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles[1:], roles[2:], strict=False))
        assert "agent" not in roles
        assert [m.get("weight") for m in record["messages"] if m["role"] == "assistant"][-1] == 1
        meta = record["metadata"]
        lineage = meta["lineage"]
        cid = meta["conversation_id"]
        assert lineage["reviewer_ids"] == reviewers[cid]
        assert lineage["snapshot_sha256"] == [f"sha-{cid}"]
        assert lineage["case_ids"] == [int(cid[5:])]
        assert lineage["rated_at"]["first"] <= lineage["rated_at"]["last"]
        assert meta["judge"]["name"] == "judge-sim-1"


def test_every_reviewed_conversation_is_evaluated_and_only_answers_trained(
        simulated: tuple[Conversations, pd.DataFrame]) -> None:
    conversations, reviews = simulated
    trained = by_id(training_records(conversations, reviews, system=SYSTEM))
    evaluated = by_id(evaluation_records(conversations, reviews, system=SYSTEM))
    assert sorted(evaluated) == sorted(reviews["conversation_id"].unique())
    left_out = {cid for cid, r in evaluated.items() if r["reference"] is None}
    assert left_out and left_out == set(evaluated) - set(trained)
    assert all(not evaluated[cid]["acceptable"] for cid in left_out)
    assert all(not evaluated[cid]["metadata"]["corrections"] for cid in left_out)


def recounted(conversations: Conversations, reviews: pd.DataFrame) -> pd.DataFrame:
    """Needs correction, with pandas: a majority that is not acceptable (a tie counts as
    not acceptable), or a correction from a reviewer on the verdict's side."""
    r = reviews.assign(corrects=reviews["corrected_answer"].fillna("").str.strip() != "")
    per = r.groupby("conversation_id").agg(votes=("acceptable", "sum"),
                                           n=("acceptable", "size"))
    per["ok"] = 2 * per["votes"] > per["n"]
    side = r.merge(per["ok"], left_on="conversation_id", right_index=True)
    usable = side[side["corrects"] & (side["acceptable"] | ~side["ok"])]
    per["corrected"] = per.index.isin(usable["conversation_id"])
    per["needs"] = ~per["ok"] | per["corrected"]
    per["intent"] = conversations.frame["intent"].reindex(per.index).fillna(NO_INTENT)
    return per.groupby("intent").agg(reviewed=("needs", "size"), needs=("needs", "sum"))


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_knowledge_gaps_count_rank_and_match_statsmodels_wilson(
        simulated: tuple[Conversations, pd.DataFrame], confidence: float) -> None:
    conversations, reviews = simulated
    gaps = knowledge_gaps(conversations, reviews, confidence=confidence)
    assert tuple(gaps.columns) == GAP_COLUMNS
    expected = recounted(conversations, reviews)
    table = gaps.set_index("intent")
    assert table["reviewed"].to_dict() == expected["reviewed"].to_dict()
    assert table["needs_correction"].to_dict() == expected["needs"].to_dict()
    low, high = proportion_confint(gaps["needs_correction"], gaps["reviewed"],
                                   alpha=1 - confidence, method="wilson")
    np.testing.assert_allclose(gaps["ci_low"], low, rtol=1e-9)
    np.testing.assert_allclose(gaps["ci_high"], high, rtol=1e-9)
    np.testing.assert_allclose(gaps["share"], gaps["needs_correction"] / gaps["reviewed"])
    keys = list(zip(-gaps["needs_correction"], -gaps["share"], gaps["intent"], strict=True))
    assert keys == sorted(keys)


def test_the_planted_intent_comes_out_first(
        simulated: tuple[Conversations, pd.DataFrame]) -> None:
    conversations, reviews = simulated
    gaps = knowledge_gaps(conversations, reviews)
    first = gaps.iloc[0]
    assert first["intent"] == PLANTED
    assert first["ci_low"] > gaps.iloc[1:]["ci_high"].max()  # clearly apart
    assert first["weakest_criterion"] == "correct"
    intent = conversations.frame["intent"]
    assert 0 < len(first["examples"]) <= 3
    assert all(intent[cid] == PLANTED for cid in first["examples"])


def test_knowledge_gaps_no_intent_min_reviewed_and_the_weakest_criterion(
        small: Conversations, small_reviews: pd.DataFrame) -> None:
    gaps = knowledge_gaps(small, small_reviews)
    assert gaps["intent"].tolist() == ["billing", "refund", NO_INTENT]
    assert gaps["needs_correction"].tolist() == [2, 2, 0]
    assert gaps.iloc[0]["examples"] == ("c1", "c5")  # 1 of 3 accepted, then 1 of 2
    assert knowledge_gaps(small, small_reviews, min_reviewed=2)["intent"].tolist() == [
        "billing", "refund"]
    harmful = pd.DataFrame([
        review("c3", "r1", False, rubric={"correct": 4, "harmful": 1}),
        review("c3", "r2", False, rubric={"correct": 3, "harmful": 1}),
        review("c4", "r1", True, rubric={"correct": 5, "harmful": 0})])
    gaps = knowledge_gaps(small, harmful).set_index("intent")  # harmful: 1 is the failure
    assert gaps.loc["refund", "weakest_criterion"] == "harmful"
    assert gaps.loc["refund", "weakest_n"] == 1
    assert pd.isna(gaps.loc[NO_INTENT, "weakest_criterion"])
    assert gaps.loc[NO_INTENT, "weakest_n"] == 0


def test_the_weakest_criterion_reads_the_rubric_s_scales(small: Conversations) -> None:
    # clarity on 1-10; rude a yes/no whose failure is 1 (yes).
    rubric = Rubric((Criterion("clarity", "Clear?", low=1, high=10),
                     Criterion("rude", "Rude?", kind="yes_no", bad_answer=1)))
    scores = [{"clarity": 7, "rude": 1},   # c1: clarity 0.67, rude 0 (failed)
              {"clarity": 10, "rude": 0},  # c5: both at their best: neither counts
              {"clarity": 4, "rude": 0}]   # c2: clarity 0.33
    reviews = pd.DataFrame([review(cid, "r1", False, rubric=its)
                            for cid, its in zip(["c1", "c5", "c2"], scores, strict=True)])
    gaps = knowledge_gaps(small, reviews, rubric=rubric).set_index("intent")
    assert gaps.loc["billing", ["weakest_criterion", "weakest_n"]].tolist() == ["rude", 1]
    assert gaps.loc["refund", ["weakest_criterion", "weakest_n"]].tolist() == ["clarity", 1]
    # Criteria the rubric does not know are placed by their scores' range, higher better:
    # rude 1 reads as best, so c1's weakest becomes clarity (7 of 4-10) and c5's rude.
    blind = knowledge_gaps(small, reviews).set_index("intent")
    assert blind.loc["billing", ["weakest_criterion", "weakest_n"]].tolist() == ["clarity", 1]


def test_no_reviews_give_empty_results(small: Conversations) -> None:
    empty = pd.DataFrame(columns=list(REVIEW_COLUMNS))
    assert training_records(small, empty, system=SYSTEM) == []
    assert evaluation_records(small, empty, system=SYSTEM) == []
    gaps = knowledge_gaps(small, empty)
    assert gaps.empty and tuple(gaps.columns) == GAP_COLUMNS


def bad_type(column: str) -> str:
    return re.escape(f"reviews column {column!r} must hold")


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.drop(columns=["rubric", "case_id"]),
     re.escape(MSG_COLUMNS.format(missing="rubric, case_id",
                                  expected=", ".join(REVIEW_COLUMNS)))),
    (lambda r: r.assign(conversation_id=r["conversation_id"].replace({"c3": "nope"})),
     re.escape(MSG_UNKNOWN.format(n=1, ids="nope"))),
    (lambda r: pd.concat([r, r.iloc[[0, 3]]]),
     re.escape(MSG_DUPLICATE.format(n=2, pairs="c1/r1, c2/r1"))),
    (lambda r: r.assign(acceptable=["yes", *r["acceptable"][1:]]),
     bad_type("acceptable") + ".*1 row.*row 0.*'yes'"),
    (lambda r: r.assign(acceptable=[np.nan, *r["acceptable"][1:]]), bad_type("acceptable")),
    (lambda r: r.assign(reviewer_id=""), bad_type("reviewer_id") + ".*11 row"),
    (lambda r: r.assign(rated_at="yesterday"), bad_type("rated_at")),
    (lambda r: r.assign(rubric=[{"correct": True}] * len(r)), bad_type("rubric")),
    (lambda r: r.assign(rubric=[{"correct": float("nan")}] * len(r)), bad_type("rubric")),
    (lambda r: r.assign(case_id="7"), bad_type("case_id")),
    (lambda r: r.assign(corrected_answer=3), bad_type("corrected_answer")),
    (lambda r: r.assign(judge_shown="no"), bad_type("judge_shown")),
    (lambda r: r.assign(snapshot_sha256=None), bad_type("snapshot_sha256")),
])
def test_bad_reviews_are_refused(small: Conversations, small_reviews: pd.DataFrame,
                                 change: Any, message: str) -> None:
    bad = change(small_reviews.copy())
    for call in (lambda: training_records(small, bad, system=SYSTEM),
                 lambda: evaluation_records(small, bad, system=SYSTEM),
                 lambda: knowledge_gaps(small, bad)):
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_arguments_are_refused(small: Conversations, small_reviews: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match=re.escape(MSG_CONVERSATIONS.format(kind="DataFrame"))):
        training_records(small.frame, small_reviews, system=SYSTEM)
    with pytest.raises(TypeError, match=re.escape(MSG_REVIEWS.format(kind="list"))):
        knowledge_gaps(small, [])
    with pytest.raises(TypeError, match="system must be a string"):
        training_records(small, small_reviews, system=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(MSG_FINAL_UNKNOWN.format(n=1, ids="zz"))):
        training_records(small, small_reviews, system="", final={"zz": True})
    with pytest.raises(ValueError, match=re.escape(MSG_FINAL_TYPE.format(cid="c1",
                                                                         value="yes"))):
        evaluation_records(small, small_reviews, system="", final={"c1": "yes"})
    options: list[dict[str, Any]] = [
        {"min_reviewed": 0}, {"min_reviewed": 1.5}, {"min_reviewed": True},
        {"confidence": 1.0}, {"confidence": "high"}]
    for option in options:
        [(name, value)] = option.items()
        with pytest.raises(ValueError, match=f"^{name} must be .*; got {re.escape(repr(value))}$"):
            knowledge_gaps(small, small_reviews, **option)
    with pytest.raises(TypeError, match="^rubric must be a Rubric; got 'harmful'$"):
        knowledge_gaps(small, small_reviews, rubric="harmful")  # type: ignore[arg-type]
    assert MSG_OPTION.startswith("{name} must be {expected}; got {value!r}")


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}])
def test_write_jsonl_writes_nothing_when_a_record_cannot_be_written(
        tmp_path: Path, bad: dict[str, Any]) -> None:
    path = tmp_path / "set.jsonl"
    with pytest.raises(ValueError, match="record 1 cannot be written as JSON"):
        write_jsonl([{"ok": 1}, bad, {"ok": 2}], path)
    assert list(tmp_path.iterdir()) == []
    path.write_text("kept\n", encoding="utf-8")
    with pytest.raises(ValueError, match="nothing was written"):
        write_jsonl(iter([{"ok": 1}, bad]), path)
    assert path.read_text(encoding="utf-8") == "kept\n"
    assert list(tmp_path.iterdir()) == [path]


def test_write_jsonl_keeps_unicode_and_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("old\n", encoding="utf-8")
    assert write_jsonl([{"text": "¿Dónde está mi paquete?"}], path) == 1
    assert path.read_text(encoding="utf-8") == '{"text": "¿Dónde está mi paquete?"}\n'
    assert write_jsonl([], path) == 0 and path.read_text(encoding="utf-8") == ""
