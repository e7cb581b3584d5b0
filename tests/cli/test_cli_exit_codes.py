"""Exit codes are a contract: 0 ok, 1 a gate failed, 2 bad input, 3 a bug, 130 interrupted.

Each code is produced by a real command; the unexpected error by an engine function that
raises what no caller expects.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import audits.fairness.audit
from audits.cli import command as cli
from audits.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)

TRACEBACK = "Traceback (most recent call last)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def decisions(tmp_path: Path) -> Path:
    """100 decisions: group f selected 10 of 50 times, group m 40 of 50 (ratio 0.25)."""
    path = tmp_path / "decisions.csv"
    pd.DataFrame({
        "outcome": [1, 0] * 50,
        "decision": [1] * 10 + [0] * 40 + [1] * 40 + [0] * 10,
        "sex": ["f"] * 50 + ["m"] * 50,
    }).to_csv(path, index=False)
    return path


def audit_args(path: Path, *extra: str) -> list[str]:
    return ["audit", str(path), "--target", "outcome", "--prediction", "decision",
            "--sensitive", "sex", "--n-boot", "20", *extra]


@pytest.fixture
def engine_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the audit engine raise ``RuntimeError("counts went negative")``."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("counts went negative")

    monkeypatch.setattr(audits.fairness.audit, "audit_fairness", broken)


def test_the_codes_are_the_documented_numbers() -> None:
    assert (EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED) == (
        0, 1, 2, 3, 130)


def test_a_passing_gate_exits_0(decisions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *audit_args(decisions, "--fail-on", "impact_ratio<0.05"))
    assert code == EXIT_OK
    assert "100 decisions audited" in out and "failed" not in err


def test_a_violated_gate_exits_1(decisions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *audit_args(decisions, "--fail-on", "impact_ratio<0.8"))
    assert code == EXIT_CHECK_FAILED
    assert "fairpanel: gate 'impact_ratio<0.8' failed" in err


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.csv"
    code, _, err = run(capsys, *audit_args(missing))
    assert code == EXIT_USAGE
    assert f"fairpanel: error: data file {missing} does not exist" in err
    assert TRACEBACK not in err


def test_an_unwritable_output_path_exits_2(decisions: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-folder" / "audit.json"
    code, _, err = run(capsys, *audit_args(decisions, "--json", str(target)))
    assert code == EXIT_USAGE
    assert "fairpanel: error:" in err and "no-such-folder" in err


@pytest.mark.parametrize("argv", [["audit", "compas", "--n-boots", "5"],
                                  ["audit", "compas", "--n-boot", "many"],
                                  ["datasets", "show", "iris"], ["no-such-command"]],
                         ids=" ".join)
def test_a_bad_option_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == EXIT_USAGE
    assert "usage: fairpanel" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == EXIT_USAGE
    assert out.startswith("usage: fairpanel")


@pytest.mark.usefixtures("engine_raises")
def test_an_unexpected_error_exits_3_without_a_traceback(
    decisions: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FAIRPANEL_DEBUG", raising=False)
    code, _, err = run(capsys, *audit_args(decisions))
    assert code == EXIT_INTERNAL_ERROR
    lines = err.splitlines()
    assert lines[-2:] == ["fairpanel: internal error: RuntimeError: counts went negative",
                          cli.MSG_REPORT_BUG]
    assert TRACEBACK not in err


@pytest.mark.usefixtures("engine_raises")
def test_fairpanel_debug_prints_the_traceback(
    decisions: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAIRPANEL_DEBUG", "1")
    code, _, err = run(capsys, *audit_args(decisions))
    assert code == EXIT_INTERNAL_ERROR
    assert TRACEBACK in err and "in broken" in err
    assert err.splitlines()[-2] == (
        "fairpanel: internal error: RuntimeError: counts went negative")


def test_an_interrupt_exits_130(decisions: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(audits.fairness.audit, "audit_fairness", interrupted)
    code, _, err = run(capsys, *audit_args(decisions))
    assert code == EXIT_INTERRUPTED
    assert err.splitlines()[-1] == "fairpanel: interrupted" and TRACEBACK not in err


@pytest.mark.parametrize(("argv", "expected"), [
    (["datasets", "list"], EXIT_OK),
    (["datasets"], EXIT_USAGE),
    (["audit", "compas", "--n-boots", "5"], EXIT_USAGE),
    (["audit", "nowhere.csv", "--target", "y", "--sensitive", "s", "--prediction", "p"],
     EXIT_USAGE),
], ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_the_process_exits_with_the_code(argv: list[str], expected: int,
                                         tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "audits.cli", *argv], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert done.returncode == expected, done.stderr
