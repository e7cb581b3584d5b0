"""The plain-text summaries say what they count, show every label whole, drop nothing.

Each test runs the real command on a file built so that the old output was wrong: three-way
labels that agree in their first 42 characters, more than 20 failing disparities, a
flagged reviewer whose id is a number.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits.cli import command as cli
from audits.cli.common import SHOWN_FAILS
from audits.cli.panel import reviewers_text
from audits.panel.simulation import SimulatedReviewer, simulate_ratings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _label(attributes: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in attributes.items())


def test_three_way_labels_are_shown_whole_and_distinct(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame({
        "region": rng.choice(["north-eastern-metropolitan", "south-western-rural"], n),
        "employment": rng.choice(["self-employed-contractor", "salaried"], n),
        "education": rng.choice(["secondary", "tertiary"], n),
        "outcome": rng.integers(0, 2, n), "decision": rng.integers(0, 2, n)})
    data, result = tmp_path / "d.csv", tmp_path / "r.json"
    frame.to_csv(data, index=False)
    code, out, err = run(capsys, "audit", str(data), "--target", "outcome", "--prediction",
                         "decision", "--sensitive", "region", "--sensitive", "employment",
                         "--sensitive", "education", "--n-boot", "20", "--json", str(result))
    assert code == 0, err
    groups = json.loads(result.read_text())["groups"]
    labels = [_label(g["attributes"]) for g in groups]
    three_way = [lab for g, lab in zip(groups, labels, strict=True) if len(g["attributes"]) == 3]
    # the data really has labels that the old 42-character cut made identical
    assert len({lab[:42] for lab in three_way}) < len(three_way)
    rows = out.split("\n\n")[1].splitlines()[1:]  # the group table, after its header
    assert len(rows) == len(groups)
    for label, row, group in zip(labels, rows, groups, strict=True):
        first = row[:len(label)]
        assert first == label, f"row {row!r} does not start with the whole label {label!r}"
        assert row[len(label):].split()[0] == str(group["n"])
    assert len(set(rows)) == len(rows)


def test_more_than_twenty_failing_disparities_are_counted_not_dropped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 25 small groups selected 10% of the time against a reference group selected 90%:
    # every one fails the four-fifths rule on the selection rate, and more on other rates.
    groups = ["reference"] * 400 + [f"g{i:02d}" for i in range(25) for _ in range(100)]
    selected = [1] * 360 + [0] * 40 + [1, 0, 0, 0, 0, 0, 0, 0, 0, 0] * 250
    frame = pd.DataFrame({"group": groups, "decision": selected,
                          "outcome": [1, 0] * (len(groups) // 2)})
    data, result = tmp_path / "d.csv", tmp_path / "r.json"
    frame.to_csv(data, index=False)
    code, out, err = run(capsys, "audit", str(data), "--target", "outcome", "--prediction",
                         "decision", "--sensitive", "group", "--reference",
                         "group=reference", "--n-boot", "50", "--json", str(result))
    assert code == 0, err
    failing = [d for d in json.loads(result.read_text())["disparities"]
               if d["verdict"] == "fail"]
    assert len(failing) > SHOWN_FAILS + 5
    listed = [line for line in out.splitlines() if line.startswith("  ") and " ratio " in line]
    assert len(listed) == SHOWN_FAILS
    more = len(failing) - SHOWN_FAILS
    assert (f"  ... and {more} more failing disparities: every one is in the JSON result "
            "(--json PATH|-: \"disparities\" with verdict \"fail\")") in out.splitlines()
    assert f"disparities: {len(failing)} fail" in out


def test_few_failing_disparities_get_no_more_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"group": ["a"] * 100 + ["b"] * 100,
                          "decision": [1] * 90 + [0] * 10 + [1] * 10 + [0] * 90,
                          "outcome": [1, 0] * 100})
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    code, out, _ = run(capsys, "audit", str(data), "--target", "outcome", "--prediction",
                       "decision", "--sensitive", "group", "--n-boot", "50")
    assert code == 0 and "more failing" not in out


@pytest.fixture(scope="module")
def numbered_panel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 reviewers numbered 1..12; reviewer 4 is much harsher than the rest."""
    rng = np.random.default_rng(1)
    n_cases = 600
    cases = pd.DataFrame({"case_id": np.arange(n_cases),
                          "truth": rng.integers(0, 2, n_cases),
                          "model_decision": rng.integers(0, 2, n_cases),
                          "subject_group": np.where(rng.random(n_cases) < 0.5, "A", "B")})
    plan = pd.DataFrame({"case_id": np.repeat(np.arange(n_cases), 3),
                         "reviewer_id": [1 + (3 * c + k) % 12 for c in range(n_cases)
                                         for k in range(3)],
                         "model_shown": False})
    panel = {str(r): SimulatedReviewer(str(r), severity=3.0 if r == 4 else 0.0)
             for r in range(1, 13)}
    rated = simulate_ratings(cases, plan, panel, random_state=2)
    path = tmp_path_factory.mktemp("numbered") / "ratings.csv"
    rated[["case_id", "reviewer_id", "label"]].to_csv(path, index=False)
    return path


def test_reviewers_output_counts_flagged_reviewers_and_names_them(
        numbered_panel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = tmp_path / "r.json"
    code, out, err = run(capsys, "reviewers", str(numbered_panel), "--item", "case_id",
                         "--rater", "reviewer_id", "--label", "label", "--n-boot", "100",
                         "--json", str(result))
    assert code == 0, err
    reviewers = json.loads(result.read_text())["reviewers"]
    flagged = [r["reviewer_id"] for r in reviewers if r["flagged"]]
    assert "4" in flagged  # the harsh reviewer is found...
    who = f"reviewer {flagged[0]}" if len(flagged) == 1 else f"reviewers {', '.join(flagged)}"
    # ...and the line gives a count, then the ids, each said for what it is
    assert (f"reviewers flagged for severity: {len(flagged)} of {len(reviewers)} ({who})"
            in out.splitlines())
    assert "severity flagged" not in out


def test_reviewers_text_with_nobody_flagged_and_several_cells() -> None:
    text = reviewers_text({
        "reviewers": [{"reviewer_id": "4", "flagged": False}],
        "interactions": [{"rater_group": "north", "subject_group": "A", "flagged": True},
                         {"rater_group": "south", "subject_group": "A", "flagged": True},
                         {"rater_group": "south", "subject_group": "B", "flagged": False}],
        "automation_bias": {"value": 0.1, "ci_low": 0.05, "ci_high": 0.15}})
    assert text.splitlines() == [
        "1 reviewers", "reviewers flagged for severity: 0 of 1",
        "reviewer-group x subject-group cells flagged: 2 of 3 (north x A, south x A)",
        "automation bias: 0.100 [0.050, 0.150]"]
