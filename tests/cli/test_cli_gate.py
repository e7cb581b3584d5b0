"""``fairpanel audit --fail-on``: intervals by default, the point on request, named failures,
insufficient evidence, and no silent pass when nothing can be judged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from audits.cli import command as cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def decisions(tmp_path: Path, selected: dict[str, tuple[int, int]]) -> Path:
    """A CSV with ``selected[group] = (approved, n)``; outcomes alternate 1, 0."""
    rows = []
    for group, (approved, n) in selected.items():
        rows += [{"group": group, "repaid": i % 2, "approved": int(i < approved)}
                 for i in range(n)]
    path = tmp_path / "decisions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def gate(path: Path, *extra: str) -> list[str]:
    return ["audit", str(path), "--target", "repaid", "--prediction", "approved",
            "--sensitive", "group", "--n-boot", "50", *extra]


def test_a_fair_looking_system_passes_on_intervals_and_fails_on_the_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Five groups of 100 with 7-12 approvals: impact ratio 7/12 = 0.58 by the point
    # estimate, well within what chance makes of equal rates.
    path = decisions(tmp_path, {"a": (10, 100), "b": (7, 100), "c": (12, 100),
                                "d": (9, 100), "e": (11, 100)})
    code, _, err = run(capsys, *gate(path, "--fail-on", "impact_ratio<0.8"))
    assert code == 0
    assert "simultaneous 95% intervals over 10 comparison(s), Bonferroni" in err
    assert "1 insufficient evidence" in err and "lowest b, highest c" in err
    code, _, err = run(capsys, *gate(path, "--fail-on", "impact_ratio<0.8",
                                     "--gate-on", "point"))
    assert code == 1
    assert "failed (point estimates, no uncertainty)" in err
    assert "group: impact_ratio 0.583 (point); lowest b, highest c" in err
    code, _, err = run(capsys, *gate(path, "--fail-on", "impact_ratio<0.8",
                                     "--insufficient", "fail"))
    assert code == 1 and "counted as failing: --insufficient fail" in err


def test_a_clear_violation_fails_and_names_the_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = decisions(tmp_path, {"a": (500, 1000), "b": (250, 1000), "c": (480, 1000)})
    code, _, err = run(capsys, *gate(path, "--fail-on", "impact_ratio<0.8",
                                     "--fail-on", "selection_rate_ratio<0.8"))
    assert code == 1
    assert "gate 'impact_ratio<0.8' failed" in err
    assert "impact_ratio 0.500" in err and "lowest b, highest a" in err
    # The metric gate names the group and its reference (the largest group, a on ties).
    assert "selection_rate_ratio of b vs a: 0.500" in err
    # Both gates are one family: 3 pairs (the two disparities are among them).
    assert err.count("over 3 comparison(s)") == 2


@pytest.mark.parametrize(("groups", "extra"), [
    ({"a": (30, 300)}, []),  # one group: nothing to compare
    ({"a": (5, 20), "b": (2, 20)}, []),  # every group under --min-n 30
    ({"a": (30, 300), "b": (10, 300)}, ["--min-n", "500"]),
])
def test_a_gate_that_can_judge_nothing_does_not_pass_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], groups: dict[str, tuple[int, int]],
    extra: list[str],
) -> None:
    path = decisions(tmp_path, groups)
    code, _, err = run(capsys, *gate(path, "--fail-on", "impact_ratio<0.8", *extra))
    assert code == 1
    assert "gate 'impact_ratio<0.8' cannot judge" in err and "must not pass" in err
    code, _, err = run(capsys, *gate(path, "--fail-on", "selection_rate_ratio<0.8", *extra))
    assert code == 1 and "cannot judge: no comparison has enough data" in err
