"""``fairpanel judges``: the JSON contract, a log with the panel's ratings, bad input.

Oracle: :func:`audits.raters.judges.judge_analysis` in-process on the same inputs gives
the same JSON as the command; on the simulated conversations the planted harsher judge
(tone, regional dialect) is what the command reports. What bad input gets: neither or
both of LOG and --simulated, LOG without --ratings, an attribute the log does not have,
a log without judge scores: each refused by name with exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from own_system_support import fairpanel, fairpanel_json, fairpanel_refused

from audits.cli.judges import MSG_SOURCE
from audits.conversations.records import read_conversations
from audits.conversations.simulated import (
    simulate_conversations,
    simulated_panel_ratings,
    write_jsonl,
)
from audits.raters.judges import judge_analysis

CONTRACT = {"by", "judges", "conversations", "rated", "agreement", "alt_test", "bias",
            "automation", "config"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("judges")
    sim = simulate_conversations(600, seed=4)
    log = write_jsonl(sim.records, folder / "log.jsonl")
    ratings = folder / "ratings.csv"
    simulated_panel_ratings(sim, n_conversations=300, seed=4).to_csv(ratings, index=False)
    return log, ratings


def test_a_log_and_its_ratings_keep_the_contract(files: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    log, ratings = files
    result: dict[str, Any] = fairpanel_json(capsys, "judges", str(log), "--ratings",
                                            str(ratings), "--by", "dialect", "--n-boot",
                                            "100", "--json", "-")
    assert set(result) == CONTRACT
    assert result["judges"] == ["judge-sim-1"] and result["conversations"] == 600
    conversations = read_conversations(log)
    oracle = judge_analysis(pd.read_csv(ratings), conversations.judge_scores(),
                            conversations.frame["dialect"], n_boot=100).to_dict()
    for key in ("agreement", "alt_test", "bias", "automation", "config"):
        assert result[key] == json.loads(json.dumps(oracle[key]))
    tone = {r["group"]: r for r in result["bias"] if r["criterion"] == "tone"}
    assert tone["regional"]["offset_ci_high"] < 0 < tone["standard"]["offset_ci_low"] + 0.2


def test_the_simulated_conversations_show_the_planted_judge(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = fairpanel(capsys, "judges", "--simulated", "--by", "dialect",
                             "--n-boot", "100")
    assert code == 0
    assert "tone, regional: not shown to replace a reviewer" in out
    assert "tone, standard: can replace a reviewer" in out
    assert "the judge's tone scores for regional are -0." in out
    assert "reviewers shown the judge's correct verdict agree with it" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--by", "dialect"], MSG_SOURCE),
    (["LOG", "--simulated", "--by", "dialect"], MSG_SOURCE),
    (["LOG", "--by", "dialect"], "LOG needs --ratings CSV"),
    (["LOG", "--ratings", "RATINGS", "--by", "age"], "user attribute 'age' is not in"),
    (["PLAIN", "--ratings", "RATINGS", "--by", "language"], "holds no judge scores"),
])
def test_bad_input_is_refused_by_name(files: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], argv: list[str],
                                      message: str) -> None:
    log, ratings = files
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"conversation_id": "a", "turns": [
        {"role": "user", "text": "hi"}], "user": {"language": "en"}}) + "\n")
    swap = {"LOG": str(log), "RATINGS": str(ratings), "PLAIN": str(plain)}
    code, err = fairpanel_refused(capsys, "judges", *[swap.get(a, a) for a in argv])
    assert code == 2 and message in err, err
