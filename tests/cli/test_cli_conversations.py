"""``fairpanel conversations`` and ``fairpanel judges --system`` on a store (SQLite and
PostgreSQL): register and ingest a log in batches, queue it, the panel rates it, and the
findings, the judge analysis and the export read it back.

Oracles: the judge analysis the command prints equals
:func:`audits.raters.judges.judge_analysis` run here on the ratings read from the store
and the log; the export's lines are the feedback module's records. Probing runs against
a local OpenAI-compatible server biased on a name: every probed conversation is held and
queued as ``counterfactual``. What bad input gets: a batch with nothing new, a rubric
file that is not a rubric, a swap without ``=``, probing with no endpoint set, judges on
a system of decisions or with two sources: each refused by name with exit 2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from chat_bot_support import MARKER, Bot
from own_system_support import fairpanel, fairpanel_json, fairpanel_refused

from audits.cli.conversations import MSG_NO_ENDPOINT, MSG_SWAP
from audits.cli.judges import MSG_SOURCE
from audits.conversations.findings import reviewed_records
from audits.conversations.records import read_conversations
from audits.conversations.simulated import simulate_conversations, write_jsonl
from audits.conversations.stored import (
    MSG_NOT_CONVERSATIONS,
    MSG_NOTHING_NEW,
    load_conversations,
    panel_rubric_ratings,
)
from audits.demo.conversations import rate_as_simulated_panel
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue
from audits.raters.judges import judge_analysis
from audits.roles import Actor, Role
from audits.store import Store
from audits.systems.registry import register_system

CONTRACT = {"by", "judges", "conversations", "rated", "agreement", "alt_test", "bias",
            "automation", "config"}
LEAD = Actor("lead", Role.PANEL_LEAD)


@pytest.fixture
def home(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    return tmp_path


def _panel(database_url: str, run_id: int, sim: Any) -> None:
    with Store(database_url) as store:
        for i in range(6):
            store.add_user(Actor.system(), f"rev{i}", Role.REVIEWER)
            store.add_reviewer(LEAD, f"rev{i}", capacity=200)
        assign_queue(store, LEAD, run_id, config=PanelConfig(overlap=3))
        rate_as_simulated_panel(store, LEAD, run_id, sim)


def test_a_log_is_added_in_batches_queued_rated_and_read_back(
        home: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate_conversations(900, seed=5)
    first = write_jsonl(sim.records[:700], home / "week1.jsonl")
    second = write_jsonl(sim.records[650:], home / "week2.jsonl")  # 50 seen before
    added = fairpanel_json(capsys, "conversations", "add", "helpdesk", str(first),
                           "--json", "-")
    assert (added["version"], added["conversations"], added["created_system"]) == (1, 700, True)
    assert [c["name"] for c in added["rubric"]] == ["correct", "follows_policy", "tone",
                                                     "harmful"]
    again = fairpanel_json(capsys, "conversations", "add", "helpdesk", str(second),
                           "--json", "-")
    assert (again["version"], again["conversations"], again["created_system"]) == (2, 900, False)
    code, err = fairpanel_refused(capsys, "conversations", "add", "helpdesk", str(second))
    assert code == 2 and MSG_NOTHING_NEW in err

    queued = fairpanel_json(capsys, "conversations", "queue", "helpdesk", "--budget", "60",
                            "--json", "-")
    assert queued["created"] and queued["cases"] == 60 and queued["probed"] == 0
    assert set(queued["by_reason"]) <= {"low_confidence", "asked_for_person", "policy_rule",
                                        "negative_sentiment", "judge_fail", "random_control",
                                        "gold"}
    assert len(queued["by_group"]) > 5  # stratified across user groups
    rerun = fairpanel_json(capsys, "conversations", "queue", "helpdesk", "--budget", "60",
                           "--json", "-")
    assert not rerun["created"] and rerun["audit_run_id"] == queued["audit_run_id"]
    _panel(database_url, queued["audit_run_id"], sim)

    judged = fairpanel_json(capsys, "judges", "--system", "helpdesk", "--by", "dialect",
                            "--n-boot", "100", "--json", "-")
    assert set(judged) == CONTRACT | {"system", "version", "audit_run_id"}
    assert (judged["system"], judged["version"]) == ("helpdesk", 2)
    assert judged["rated"] == 60 and judged["conversations"] == 900
    with Store(database_url) as store:  # the oracle, from what the store holds
        panel = panel_rubric_ratings(store, LEAD, queued["audit_run_id"])
        log = load_conversations(store, LEAD, store.latest_version("helpdesk"))
    oracle = judge_analysis(panel, log.judge_scores(), log.frame["dialect"],
                            n_boot=100).to_dict()
    for key in ("agreement", "alt_test", "bias", "automation"):
        assert judged[key] == json.loads(json.dumps(oracle[key]))
    assert {r["group"] for r in judged["agreement"]} == {"all conversations", "regional",
                                                         "standard"}

    found = fairpanel_json(capsys, "conversations", "findings", "helpdesk", "--by",
                           "language", "--n-boot", "200", "--json", "-")
    assert found["groups"] == ["en", "es"] and found["rated"] == 60
    escalation = {r["group"]: r for r in found["rates"] if r["rate"] == "escalated"}
    assert escalation["es"]["ratio"] > 1.2 and escalation["es"]["reference"] == "en"
    assert found["judges"]["by"] == "language" and found["knowledge_gaps"]

    out = home / "set.jsonl"
    code, text, _ = fairpanel(capsys, "conversations", "export", "helpdesk", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with Store(database_url) as store:
        expected = reviewed_records(store, LEAD, "helpdesk")
    assert code == 0 and f"Wrote {len(lines)} fine-tuning records" in text
    assert lines == json.loads(json.dumps(expected))
    assert all(r["messages"][-1]["role"] == "assistant" for r in lines)
    evaluation = home / "eval.jsonl"
    fairpanel(capsys, "conversations", "export", "helpdesk", "--out", str(evaluation),
              "--evaluation")
    assert len(evaluation.read_text(encoding="utf-8").splitlines()) == 60


def test_bad_input_is_refused_by_name(home: Path, database_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    log = write_jsonl(simulate_conversations(40, seed=1).records, home / "log.jsonl")
    rubric = home / "rubric.json"
    rubric.write_text('{"name": "tone"}', encoding="utf-8")
    code, err = fairpanel_refused(capsys, "conversations", "add", "chat", str(log),
                                  "--rubric", str(rubric))
    assert code == 2 and f"--rubric {rubric}" in err and "a rubric is a list" in err
    fairpanel_json(capsys, "conversations", "add", "chat", str(log), "--json", "-")
    code, err = fairpanel_refused(capsys, "conversations", "probe", "chat", "--swap", "Emily")
    assert code == 2 and MSG_SWAP.format(value="Emily") in err
    code, err = fairpanel_refused(capsys, "conversations", "probe", "chat", "--swap",
                                  "Emily=Lakisha")
    assert code == 2 and MSG_NO_ENDPOINT in err
    with Store(database_url) as store:
        register_system(store, Actor.system(), "loans",
                        pa.table({"id": [1, 2], "y": [0, 1], "p": [1, 0], "sex": ["f", "m"]}),
                        id="id", target="y", sensitive=["sex"], prediction="p")
    code, err = fairpanel_refused(capsys, "judges", "--system", "loans", "--by", "sex")
    assert code == 2 and MSG_NOT_CONVERSATIONS.format(name="loans") in err
    code, err = fairpanel_refused(capsys, "judges", "--system", "chat", "--simulated",
                                  "--by", "dialect")
    assert code == 2 and MSG_SOURCE in err


def test_probes_of_a_biased_bot_are_held_and_queued(
        home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    records = [{"conversation_id": f"n{i:02d}",
                "turns": [{"role": "user", "text": f"Hi, I'm {MARKER}. Can I get a refund?"},
                          {"role": "assistant", "text": "Let me check."}],
                "bot": {"confidence": 0.9, "intent": "refund"},
                "outcome": {"resolved": True}, "user": {"language": "en"}}
               for i in range(6)]
    records += [{"conversation_id": "other", "turns": [
        {"role": "user", "text": "Where is my parcel?"},
        {"role": "assistant", "text": "On its way."}], "outcome": {"resolved": False},
        "user": {"language": "en"}}]
    log = write_jsonl(records, home / "names.jsonl")
    fairpanel_json(capsys, "conversations", "add", "shop", str(log), "--json", "-")
    bot = Bot()
    try:
        monkeypatch.setenv("FAIRPANEL_PROBE_URL", f"{bot.base}/biased/v1")
        monkeypatch.setenv("FAIRPANEL_PROBE_MODEL", "shop-bot")
        probed = fairpanel_json(capsys, "conversations", "probe", "shop", "--swap",
                                f"{MARKER}=Lakisha", "--json", "-")
        assert probed["probed"] == 6 == probed["held"]  # "other" names nobody: not probed
        bodies = bot.bodies("biased")
        assert bodies and all(b["model"] == "shop-bot" for b in bodies)
        assert any("Lakisha" in m["content"] for b in bodies for m in b["messages"])
        queued = fairpanel_json(capsys, "conversations", "queue", "shop", "--budget", "7",
                                "--probe-swap", f"{MARKER}=Lakisha", "--json", "-")
    finally:
        bot.close()
    assert queued["probes_held"] == 6
    assert queued["flagged_by_reason"]["counterfactual"] == 6
    assert queued["by_reason"].get("counterfactual", 0) >= 1


def test_the_log_file_checks_still_name_the_line(home: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = home / "bad.jsonl"
    bad.write_text('{"conversation_id": "a", "turns": []}\n', encoding="utf-8")
    code, err = fairpanel_refused(capsys, "conversations", "add", "chat", str(bad))
    assert code == 2 and re.search(r"line 1: turns must be a non-empty list", err)
    with pytest.raises(ValueError, match="line 1"):
        read_conversations(bad)
