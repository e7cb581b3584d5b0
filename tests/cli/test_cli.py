"""The fairpanel command: help, datasets, users, demo and the log verification gate."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from audits.cli import command as cli
from audits.data.datasets import BUNDLED

SUBCOMMANDS = [
    [], ["demo"], ["serve"], ["users"], ["users", "add"], ["users", "list"], ["datasets"],
    ["datasets", "list"], ["datasets", "show"], ["log"], ["log", "verify"], ["log", "show"],
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=lambda a: " ".join(a) or "fairpanel")
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    assert "usage: fairpanel" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    result = subprocess.run([sys.executable, "-m", "audits.cli", "datasets", "list"],
                            capture_output=True, text=True, check=True)
    assert "adult" in result.stdout


def test_datasets_list_names_all_four_with_rows(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "datasets", "list")
    assert code == 0
    for name, rows in [("adult", 48842), ("compas", 6172), ("german_credit", 1000),
                       ("synthetic", 20000)]:
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert str(rows) in line


def test_datasets_list_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "datasets", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == list(BUNDLED)
    assert set(rows[0]) == {"name", "title", "rows", "target", "sensitive_features",
                            "prediction", "score"}
    compas = rows[1]
    assert (compas["rows"], compas["prediction"], compas["score"]) == (
        6172, "high_risk", "decile_score")


def test_datasets_show_prints_card_and_hash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "datasets", "show", "german_credit")
    assert code == 0
    assert "# German credit" in out and "Known issues" in out
    assert "content sha256:" in out


def test_unknown_dataset_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["datasets", "show", "iris"])
    assert exit_.value.code == 2
    assert "invalid choice: 'iris'" in capsys.readouterr().err


def test_users_add_list_and_bad_input(database_url: str, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    code, out, _ = run(capsys, "--database-url", database_url, "users", "add", "alice",
                       "--role", "compliance_officer", "--password-stdin")
    assert (code, out.strip()) == (0, "added alice (compliance_officer)")
    code, out, _ = run(capsys, "--database-url", database_url, "users", "list", "--json")
    assert json.loads(out) == [{"username": "alice", "display_name": "alice",
                                "role": "compliance_officer", "has_password": True,
                                "active": True, "demo": False, "locked_until": None}]
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "--database-url", database_url, "users", "add", "bob",
                       "--role", "reviewer", "--password-stdin")
    assert code == 2 and "password must be 8 to" in err
    code, _, err = run(capsys, "--database-url", database_url, "users", "add", "alice",
                       "--role", "reviewer", "--no-password")
    assert code == 2 and "'alice' is already taken" in err


def test_demo_prepares_once_and_log_verify_catches_any_edit(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    code, out, err = run(capsys, "--database-url", database_url, "demo", "--no-serve",
                         "--dataset", "german_credit")
    assert code == 0, err
    assert "dataset german_credit: 1000 rows" in out and "audit run 1: completed" in out
    assert "Demo panel ready" in err and "100% Conversation demo ready" in err
    assert "conversation system helpdesk-chat (simulated chatbot): audit run 4, 100 " \
           "conversations queued, 304 assignments, 300 rubric ratings" in out
    code, out, _ = run(capsys, "--database-url", database_url, "log", "verify", "--json")
    first = json.loads(out)
    assert code == 0 and first["ok"] and first["n_entries"] >= 8
    # Idempotent: a second demo appends nothing.
    run(capsys, "--database-url", database_url, "demo", "--no-serve", "--dataset",
        "german_credit")
    code, out, _ = run(capsys, "--database-url", database_url, "log", "verify", "--json")
    assert json.loads(out)["n_entries"] == first["n_entries"]

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET payload_json = :p WHERE id = 6"),
                         {"p": json.dumps({"name": "forged"})})
    finally:
        engine.dispose()
    code, out, _ = run(capsys, "--database-url", database_url, "log", "verify")
    assert code == 1
    assert "BROKEN at entry 6" in out
    code, out, _ = run(capsys, "--database-url", database_url, "log", "verify", "--json")
    assert code == 1 and json.loads(out)["first_bad_id"] == 6
