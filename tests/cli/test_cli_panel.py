"""``fairpanel agreement`` and ``fairpanel reviewers`` on exported long CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits.cli import command as cli
from audits.panel.simulation import SimulatedReviewer, simulate_ratings
from audits.raters.agreement import agreement_summary

AGREEMENT_KEYS = {"krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement",
                  "n_items", "n_raters", "level", "fleiss_note"}
N_CASES, N_REVIEWERS = 900, 12


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A panel as another tool would export it: text labels, a severe reviewer 'r03'."""
    rng = np.random.default_rng(0)
    cases = pd.DataFrame({"case_id": np.arange(N_CASES), "truth": rng.integers(0, 2, N_CASES),
                          "model_decision": rng.integers(0, 2, N_CASES),
                          "subject_group": np.where(rng.random(N_CASES) < 0.5, "A", "B")})
    names = [f"r{i:02d}" for i in range(N_REVIEWERS)]
    plan = pd.DataFrame({"case_id": np.repeat(np.arange(N_CASES), 3),
                         "reviewer_id": [names[(3 * c + k) % N_REVIEWERS]
                                         for c in range(N_CASES) for k in range(3)],
                         "model_shown": rng.random(3 * N_CASES) < 0.5})
    panel = {n: SimulatedReviewer(n, severity=2.0 if n == "r03" else 0.0,
                                  automation_bias=0.4) for n in names}
    rated = simulate_ratings(cases, plan, panel, random_state=3).merge(cases, on="case_id")
    rated = rated.merge(plan, on=["case_id", "reviewer_id"])
    out = pd.DataFrame({
        "item": rated["case_id"], "rater": rated["reviewer_id"],
        "decision": np.where(rated["label"] == 1, "approve", "deny"),
        "model": np.where(rated["model_decision"] == 1, "approve", "deny"),
        "shown": rated["model_shown"].astype(int), "group": rated["subject_group"],
        "team": rated["reviewer_id"].map(lambda r: "north" if int(r[1:]) % 2 else "south"),
    })
    path = tmp_path_factory.mktemp("ratings") / "ratings.csv"
    out.to_csv(path, index=False)
    return path


def test_agreement_json_matches_the_engine(export: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "agreement", str(export), "--item", "item", "--rater",
                         "rater", "--label", "decision", "--n-boot", "200", "--json", "-")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == AGREEMENT_KEYS
    assert result["n_items"] == N_CASES and result["n_raters"] == N_REVIEWERS
    for name in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement"):
        assert set(result[name]) == {"value", "ci_low", "ci_high"}
        assert result[name]["ci_low"] <= result[name]["value"] <= result[name]["ci_high"]
    direct = agreement_summary(pd.read_csv(export), n_boot=200, item="item", rater="rater",
                               label="decision").to_dict()
    assert result == direct
    code, out, _ = run(capsys, "agreement", str(export), "--item", "item", "--rater", "rater",
                       "--label", "decision", "--n-boot", "50")
    assert code == 0 and "krippendorff_alpha" in out and "900 cases, 12 reviewers" in out


def test_reviewers_finds_the_severe_reviewer_and_automation_bias(
        export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "reviewers", str(export), "--item", "item", "--rater",
                         "rater", "--label", "decision", "--positive-label", "approve",
                         "--subject-group", "group", "--rater-group", "team",
                         "--model-shown", "shown", "--model-decision", "model",
                         "--n-boot", "200", "--json", "-")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"reviewers", "interactions", "automation_bias"}
    by_id = {r["reviewer_id"]: r for r in result["reviewers"]}
    assert set(by_id) == {f"r{i:02d}" for i in range(N_REVIEWERS)}
    assert by_id["r03"]["flagged"] and by_id["r03"]["severity"]["value"] > 0.2
    assert set(by_id["r03"]) == {"reviewer_id", "n", "severity", "flagged"}
    assert {(i["rater_group"], i["subject_group"]) for i in result["interactions"]} == {
        ("north", "A"), ("north", "B"), ("south", "A"), ("south", "B")}
    assert set(result["interactions"][0]) == {"rater_group", "subject_group", "effect",
                                              "p_value", "p_adjusted", "flagged"}
    bias = result["automation_bias"]
    assert bias is not None and bias["ci_low"] > 0


@pytest.mark.parametrize(("extra", "message"), [
    (["--label", "nope"], "column 'nope' (--label) is not in"),
    (["--label", "decision"], "labels of 'decision' are not 0/1"),
    (["--label", "decision", "--positive-label", "maybe"],
     "--positive-label 'maybe' never occurs in column 'decision'"),
    (["--label", "decision", "--positive-label", "approve", "--rater-group", "group"],
     "has more than one value in 'group'"),
    (["--label", "decision", "--positive-label", "approve", "--model-shown", "shown"],
     "--model-shown and --model-decision go together"),
])
def test_bad_input_exits_2_naming_it(export: Path, capsys: pytest.CaptureFixture[str],
                                     extra: list[str], message: str) -> None:
    code, _, err = run(capsys, "reviewers", str(export), "--item", "item", "--rater", "rater",
                       "--n-boot", "20", *extra)
    assert code == 2 and message in err
