"""Conversation systems in the store, on SQLite and PostgreSQL: registered and ingested in
batches, queued under the budgeted stratified policy, rated with the rubric (the judge's
verdict blinded by the assignment), and read back for the judge analysis."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from audits.conversations.records import conversations_from_records, records_of
from audits.conversations.rubric import DEFAULT_RUBRIC, Criterion, Rubric
from audits.conversations.simulated import simulate_conversations, simulated_rubric
from audits.conversations.stored import (
    MSG_CHANGED,
    MSG_NOT_CONVERSATIONS,
    MSG_NOTHING_NEW,
    MSG_UNRESOLVED,
    build_conversation_queue,
    conversation_version,
    load_conversations,
    panel_rubric_ratings,
    register_conversations,
    reviewed,
    rubric_of,
)
from audits.flagging.common import CONVERSATION_REASONS
from audits.flagging.policy import CONVERSATION_QUOTAS, FlagPolicy
from audits.flagging.stored import build_queue
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue
from audits.raters.judges import judge_analysis
from audits.roles import Actor, Role
from audits.store import Store
from audits.store.reviews import (
    MSG_NO_RUBRIC,
    MSG_RATIONALE_JUDGE,
    MSG_RUBRIC_KEYS,
    MSG_RUBRIC_VALUE,
)
from audits.systems.registry import register_system

SCIENTIST = Actor("scientist", Role.DATA_SCIENTIST)
LEAD = Actor("lead", Role.PANEL_LEAD)
ADMIN = Actor("admin", Role.ADMIN)


@pytest.fixture
def store(database_url: str, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as opened:
        yield opened


def _log(n: int, seed: int = 0):  # noqa: ANN202 - the simulation's records
    return simulate_conversations(n, seed=seed)


def _panel(store: Store, n: int) -> list[str]:
    names = [f"rev{i}" for i in range(n)]
    for name in names:
        store.add_user(Actor.system(), name, Role.REVIEWER)
        store.add_reviewer(LEAD, name, capacity=200)
    return names


def test_a_log_is_registered_and_read_back_as_it_was(store: Store) -> None:
    sim = _log(120)
    log = conversations_from_records(sim.records)
    version = register_conversations(store, ADMIN, "helpdesk", log)
    back = load_conversations(store, ADMIN, version)
    pd.testing.assert_frame_equal(back.frame, log.frame)
    assert back.turns == log.turns
    assert rubric_of(version) == DEFAULT_RUBRIC
    # A system like any other: its card, sensitive features and decision columns.
    roles = dict(version.roles)
    assert roles["prediction"] == "escalated" and roles["target"] == "resolved"
    assert set(roles["sensitive_features"]) == {"channel", "dialect", "language", "region"}
    assert "helpdesk" in {s.name for s in store.list_systems()}


def test_batches_add_new_conversations_and_refuse_changed_ones(store: Store) -> None:
    records = _log(90).records
    first = conversations_from_records(records[:60])
    register_conversations(store, ADMIN, "helpdesk", first, description="Our help desk bot.",
                           intended_use="Answer delivery questions.", owner="support team")
    # The second batch overlaps the first by ten unchanged conversations: they are skipped.
    second = conversations_from_records(records[50:])
    v2 = register_conversations(store, ADMIN, "helpdesk", second)
    assert v2.version == 2 and len(load_conversations(store, ADMIN, v2)) == 90
    system = store.get_system("helpdesk")  # a batch keeps what the system says
    assert system is not None
    assert (system.description, system.intended_use, system.owner) == (
        "Our help desk bot.", "Answer delivery questions.", "support team")
    with pytest.raises(ValueError, match=MSG_NOTHING_NEW):
        register_conversations(store, ADMIN, "helpdesk", second)
    changed = json.loads(json.dumps(records[0]))
    changed["turns"][0]["text"] = "Something else entirely."
    with pytest.raises(ValueError) as error:
        register_conversations(store, ADMIN, "helpdesk", conversations_from_records([changed]))
    assert str(error.value) == MSG_CHANGED.format(ids=repr(records[0]["conversation_id"]))
    assert conversation_version(store, "helpdesk").version == 2  # nothing half-written


def test_an_unresolved_conversation_and_a_system_of_decisions_are_refused(
        store: Store) -> None:
    records = records_of(conversations_from_records(_log(10).records))
    del records[3]["outcome"]["resolved"]
    with pytest.raises(ValueError) as error:
        register_conversations(store, ADMIN, "helpdesk", conversations_from_records(records))
    assert str(error.value) == MSG_UNRESOLVED.format(
        n=1, ids=repr(records[3]["conversation_id"]))
    assert store.list_systems() == []
    register_system(store, ADMIN, "loans", pa.table({"id": [1, 2], "y": [0, 1], "p": [1, 0],
                                                     "sex": ["f", "m"]}),
                    id="id", target="y", sensitive=["sex"], prediction="p")
    with pytest.raises(ValueError, match=re.escape(MSG_NOT_CONVERSATIONS.format(name="loans"))):
        register_conversations(store, ADMIN, "loans", conversations_from_records(records[:3]))


def test_the_queue_is_budgeted_stratified_and_blinds_the_judge(store: Store) -> None:
    sim = _log(600)
    register_conversations(store, ADMIN, "helpdesk", conversations_from_records(sim.records))
    gold = {sim.records[0]["conversation_id"]: 1}
    queue = build_conversation_queue(store, SCIENTIST, "helpdesk", gold=gold,
                                     policy=FlagPolicy(budget=60, quotas=CONVERSATION_QUOTAS))
    assert queue.created and len(queue.cases) == 60
    assert {c.primary_reason for c in queue.cases} <= set(CONVERSATION_REASONS)
    assert len({c.primary_reason for c in queue.cases}) >= 5
    assert len({c.subject_group for c in queue.cases}) > 5  # stratified by user group
    # The fairness audit it belongs to: the escalation rate per user group.
    assert queue.audit_run.results["disparities"]
    again = build_conversation_queue(store, SCIENTIST, "helpdesk")
    assert not again.created and [c.id for c in again.cases] == [c.id for c in queue.cases]
    with pytest.raises(ValueError, match="build_conversation_queue"):
        build_queue(store, SCIENTIST, queue.audit_run.id)
    snap = queue.cases[0].snapshot
    assert snap["kind"] == "conversation" and snap["rubric"] == DEFAULT_RUBRIC.as_list()
    assert snap["turns"] and snap["judge"]["scores"]
    assert snap["decision"]["value"] == int(DEFAULT_RUBRIC.passes(snap["judge"]["scores"]))
    gold_case = next((c for c in queue.cases if c.row_key in gold), None)
    if gold_case is not None:
        assert gold_case.snapshot["hidden"] == {"gold_answer": 1}

    _panel(store, 6)
    assign_queue(store, LEAD, queue.audit_run.id, config=PanelConfig(overlap=3))
    table = store.assignment_table(LEAD, queue.audit_run.id)
    shown = Counter(bool(r["model_shown"]) for r in table)
    assert shown[True] == shown[False] == 90  # the judge shown to exactly half
    for row in table[:12]:
        reviewer = store.list_reviewers(LEAD)
        name = next(r.username for r in reviewer if r.id == row["reviewer_id"])
        view = store.open_case(Actor(name, Role.REVIEWER), row["case_id"])
        assert view.snapshot["turns"] and view.snapshot["rubric"]
        assert ("judge" in view.snapshot) == view.model_shown == ("decision" in view.snapshot)
        assert "hidden" not in view.snapshot and "reasons" not in view.snapshot


def test_rubric_ratings_are_checked_stored_and_analysed(store: Store) -> None:
    sim = _log(300, seed=3)
    register_conversations(store, ADMIN, "helpdesk", conversations_from_records(sim.records))
    queue = build_conversation_queue(store, SCIENTIST, "helpdesk",
                                     policy=FlagPolicy(budget=40, quotas=CONVERSATION_QUOTAS))
    names = _panel(store, 4)
    assign_queue(store, LEAD, queue.audit_run.id, config=PanelConfig(overlap=3))
    ids = {r.id: r.username for r in store.list_reviewers(LEAD)}
    table = store.assignment_table(LEAD, queue.audit_run.id)
    cases = {c.id: c for c in queue.cases}
    judged = {r["conversation_id"]: r["judge"]["scores"] for r in sim.records}
    rng, shown_rng = np.random.default_rng(1), np.random.default_rng(2)
    first = table[0]
    reviewer = Actor(ids[first["reviewer_id"]], Role.REVIEWER)
    good = {"correct": 4, "follows_policy": 4, "tone": 4, "harmful": 0}
    # Bad input: each names what is wrong, and nothing is stored.
    for rubric, message in (
            (None, "score its rubric"),
            ({"correct": 4}, MSG_RUBRIC_KEYS.split("(")[0].format(case_id=first["case_id"])),
            ({**good, "speed": 3}, "unknown \\['speed'\\]"),
            ({**good, "tone": 9}, MSG_RUBRIC_VALUE.format(name="tone", low=1, high=5,
                                                         value=9).replace("(", r"\(")),
            ({**good, "harmful": 2}, "'harmful' takes an integer from 0 to 1")):
        with pytest.raises(ValueError, match=message):
            store.submit_rating(reviewer, first["case_id"], label=1, confidence=4,
                                rationale="ok", seconds_spent=5.0,
                                idempotency_key="k" * 20, rubric=rubric)
    assert store.ratings_table(ADMIN, queue.audit_run.id) == []
    decision = {c.id: c.snapshot.get("decision", {}).get("value") for c in queue.cases}
    overriding = next(r for r in table if r["model_shown"] and decision[r["case_id"]] == 1)
    with pytest.raises(ValueError, match=re.escape(MSG_RATIONALE_JUDGE.format(
            verdict="acceptable"))):
        store.submit_rating(Actor(ids[overriding["reviewer_id"]], Role.REVIEWER),
                            overriding["case_id"], label=0, confidence=4, seconds_spent=5.0,
                            idempotency_key="j" * 20, rubric=good)
    for row in table:
        cid = cases[row["case_id"]].row_key
        scores = simulated_rubric(sim.truth[cid], judged[cid] if row["model_shown"] else None,
                                  rng, shown_rng)
        rubric = {k: int(v) for k, v in scores.items()}
        ok = bool(DEFAULT_RUBRIC.passes(rubric))
        store.submit_rating(Actor(ids[row["reviewer_id"]], Role.REVIEWER), row["case_id"],
                            label=int(ok), confidence=4, rationale="Simulated.",
                            seconds_spent=20.0, idempotency_key=f"key-{row['assignment_id']:012d}",
                            rubric=rubric,
                            corrected_answer=None if ok else "A better answer.")
    long = panel_rubric_ratings(store, LEAD, queue.audit_run.id)
    assert len(long) == len(table) * 4
    assert set(long["criterion"]) == set(DEFAULT_RUBRIC.names)
    assert long["judge_shown"].sum() == 4 * sum(r["model_shown"] for r in table)
    reviews, final = reviewed(store, ADMIN, queue.audit_run.id)
    assert len(reviews) == len(table)
    assert (reviews["corrected_answer"].notna() == ~reviews["acceptable"]).all()
    assert set(final.index) <= set(reviews["conversation_id"])
    log = load_conversations(store, ADMIN, conversation_version(store, "helpdesk"))
    found = judge_analysis(long, log.judge_scores(), log.frame["dialect"], n_boot=100)
    assert set(found.to_dict()["agreement"][0]) >= {"criterion", "group"}
    assert names  # the panel rated every case
    # A decision's case takes no rubric.
    with pytest.raises(ValueError, match=MSG_NO_RUBRIC.format(case_id=1)):
        from audits.store.reviews import _check_rubric
        from audits.store.tables import Case
        _check_rubric(Case(id=1, snapshot_json={"features": {}}), {"correct": 3}, None)


def test_a_custom_rubric_is_kept_with_the_version(store: Store) -> None:
    rubric = Rubric((Criterion("helpful", "Did it help?", low=1, high=3),
                     Criterion("rude", "Was it rude?", kind="yes_no")))
    version = register_conversations(store, ADMIN, "helpdesk",
                                     conversations_from_records(_log(30).records),
                                     rubric=rubric)
    assert rubric_of(version) == rubric
    queue = build_conversation_queue(store, SCIENTIST, "helpdesk",
                                     policy=FlagPolicy(budget=5, quotas=CONVERSATION_QUOTAS))
    # The judge's criteria are not this rubric's: no verdict to show.
    assert all("judge" not in c.snapshot for c in queue.cases)
    assert queue.cases[0].snapshot["rubric"] == rubric.as_list()
