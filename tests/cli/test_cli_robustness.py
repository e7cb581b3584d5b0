"""The command line fails clearly, early and without a traceback.

Limits (``--n-boot``), output paths (``--json``, ``--out``), database URLs that are
malformed or unreachable, a reader that closes the pipe, a command group without its
action: each gets one line naming what is wrong and the documented exit code. Checks of
bad input happen before any work, so a typo costs no computation: the tests show it by
the absence of any progress line on stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from db_support import ENV_POSTGRES, HANG_TIMEOUT_S
from sqlalchemy.engine import make_url

from audits.cli import command as cli
from audits.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_RUNTIME_ERROR,
    EXIT_USAGE,
    MAX_N_BOOT,
)
from audits.fairness.estimates import MAX_N_BOOT as ENGINE_MAX_N_BOOT
from audits.store.db import redact_url

TRACEBACK = "Traceback (most recent call last)"
PROGRESS = "["  # every progress line starts with the bar


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def decisions(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.csv"
    pd.DataFrame({"outcome": [1, 0] * 20, "decision": [1, 1, 0, 0] * 10,
                  "sex": ["f"] * 20 + ["m"] * 20}).to_csv(path, index=False)
    return path


@pytest.fixture
def ratings(tmp_path: Path) -> Path:
    path = tmp_path / "ratings.csv"
    pd.DataFrame({"item": [1, 1, 2, 2, 3, 3], "rater": ["a", "b"] * 3,
                  "label": [1, 1, 0, 1, 0, 0]}).to_csv(path, index=False)
    return path


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'fairpanel.db'}"
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", url)
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path))
    return url


def _commands(decisions: Path, ratings: Path) -> dict[str, list[str]]:
    panel = [str(ratings), "--item", "item", "--rater", "rater", "--label", "label"]
    return {"audit": ["audit", str(decisions), "--target", "outcome", "--prediction",
                      "decision", "--sensitive", "sex"],
            "agreement": ["agreement", *panel], "reviewers": ["reviewers", *panel],
            "retrain": ["retrain", "1"]}


# --- --n-boot --------------------------------------------------------------------------


def test_the_cli_limit_is_the_engine_limit() -> None:
    assert MAX_N_BOOT == ENGINE_MAX_N_BOOT == 10_000


@pytest.mark.parametrize("command", ["audit", "agreement", "reviewers", "retrain"])
@pytest.mark.parametrize("n_boot", [MAX_N_BOOT + 1, 1_000_000_000, -1])
def test_n_boot_out_of_range_exits_2_before_any_work(
        command: str, n_boot: int, decisions: Path, ratings: Path, store_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = _commands(decisions, ratings)[command] + ["--n-boot", str(n_boot)]
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert err.strip() == (f"fairpanel: error: --n-boot must be a whole number from 0 to "
                           f"10,000; got {n_boot:,}")
    assert out == "" and PROGRESS not in err
    assert not Path(make_url(store_url).database or "").exists()  # no store was opened


def test_n_boot_at_the_limit_is_accepted(ratings: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # 6 ratings, so the largest allowed bootstrap is quick; it must not be refused.
    code, out, err = run(capsys, "agreement", str(ratings), "--item", "item", "--rater",
                         "rater", "--label", "label", "--n-boot", str(MAX_N_BOOT))
    assert code == 0, err
    assert "3 cases, 2 reviewers" in out


# --- --json / --out ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["audit", "agreement", "reviewers"])
def test_json_into_a_missing_folder_exits_2_before_any_work(
        command: str, decisions: Path, ratings: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-folder" / "result.json"
    code, out, err = run(capsys, *_commands(decisions, ratings)[command], "--json",
                         str(target))
    assert code == EXIT_USAGE
    assert err.strip() == (f"fairpanel: error: --json {target}: folder {target.parent} "
                           "does not exist (create it first)")
    assert out == "" and not target.parent.exists()


def test_json_naming_a_folder_exits_2(decisions: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *_commands(decisions, decisions)["audit"], "--json",
                       str(tmp_path))
    assert code == EXIT_USAGE and f"--json {tmp_path} is a folder; give a file name" in err


@pytest.mark.parametrize("argv", [["queue", "build", "--audit", "1"],
                                  ["queue", "show", "--audit", "1"],
                                  ["monitor", "--audit", "1"]])
def test_queue_commands_check_json_before_opening_the_store(
        argv: list[str], tmp_path: Path, store_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "queue.json"
    code, _, err = run(capsys, *argv, "--json", str(target))
    assert code == EXIT_USAGE and f"folder {target.parent} does not exist" in err
    assert not Path(make_url(store_url).database or "").exists()


def test_report_out_into_a_missing_folder_exits_2(tmp_path: Path, store_url: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "reports" / "audit.html"
    code, _, err = run(capsys, "report", "1", "--format", "html", "--out", str(target))
    assert code == EXIT_USAGE
    assert f"--out {target}: folder {target.parent} does not exist" in err
    assert TRACEBACK not in err


def test_json_into_an_existing_folder_is_written(decisions: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "audit.json"
    code, _, err = run(capsys, *_commands(decisions, decisions)["audit"], "--n-boot", "20",
                       "--json", str(target))
    assert code == 0, err
    assert target.read_text().startswith("{")


# --- database URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), [
    ("postgresql://ada:hunter2@db.example:abc/fair", "the port 'abc' is not a number"),
    ("postgresql://ada:hunter2@db.example:70000/fair", "the port 70000 is out of range"),
    ("not a url at all", "it has no scheme://"),
])
def test_a_malformed_database_url_exits_2_naming_it_without_the_password(
        url: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--database-url", url, "log", "show")
    assert code == EXIT_USAGE
    assert err.startswith("fairpanel: error: malformed database URL ")
    assert reason in err and "hunter2" not in err and TRACEBACK not in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_a_sqlite_file_in_a_missing_folder_exits_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gone"
    code, _, err = run(capsys, "--database-url", f"sqlite:///{folder / 'f.db'}", "log", "show")
    assert code == EXIT_USAGE
    assert f"folder {folder} of the SQLite file does not exist" in err
    assert not folder.exists()


def _closed_port() -> int:
    """A local TCP port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_database_exits_3_in_one_line_naming_host_and_port(
        capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    url = f"postgresql://ada:hunter2@127.0.0.1:{port}/fair"
    code, out, err = run(capsys, "--database-url", url, "log", "show")
    assert code == EXIT_RUNTIME_ERROR == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"fairpanel: cannot reach the database at host 127.0.0.1 "
                               f"port {port} (postgresql+psycopg://ada:***@127.0.0.1:{port}"
                               f"/fair): ")
    assert "hunter2" not in err and "bug" not in err and out == ""


def test_a_database_that_refuses_us_exits_3_naming_it() -> None:
    base = os.environ.get(ENV_POSTGRES)
    if not base:
        pytest.skip(f"{ENV_POSTGRES} is not set")
    url = make_url(base).set(database="fairpanel_no_such_database")
    done = subprocess.run(
        [sys.executable, "-m", "audits.cli", "--database-url",
         url.render_as_string(hide_password=False), "log", "show"],
        capture_output=True, text=True, timeout=HANG_TIMEOUT_S, check=False)
    assert done.returncode == EXIT_RUNTIME_ERROR
    assert done.stderr.startswith(f"fairpanel: database error at host {url.host} port "
                                  f"{url.port or 5432} ")
    assert "fairpanel_no_such_database" in done.stderr
    assert TRACEBACK not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_passwords_are_hidden_in_urls_that_do_not_parse() -> None:
    assert redact_url("postgresql://ada:p@ss:w@host:x/db") == "postgresql://ada:***@host:x/db"
    assert redact_url("sqlite:///tmp/f.db") == "sqlite:///tmp/f.db"


# --- broken pipes and group help --------------------------------------------------------


@pytest.mark.parametrize(("argv", "codes"), [
    (["datasets", "list"], {EXIT_BROKEN_PIPE}), (["datasets", "list", "--json"],
                                                 {EXIT_BROKEN_PIPE}),
    (["datasets", "show", "german_credit"], {EXIT_BROKEN_PIPE}),
    (["--help"], {0, EXIT_BROKEN_PIPE}),  # argparse ignores write errors of its help itself
])
def test_a_reader_that_closed_the_pipe_ends_the_command_quietly(argv: list[str],
                                                                codes: set[int]) -> None:
    """``fairpanel ... | head``: the reader is gone before the first line is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader closed early: every write gets EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "audits.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=HANG_TIMEOUT_S,
                              check=False)
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no traceback, no "Exception ignored" at exit
    assert done.returncode in codes and EXIT_BROKEN_PIPE == 141


def test_a_reader_that_stops_after_one_line_gets_that_line() -> None:
    """A real ``| head -n 1``: the first line arrives; the command never shows an error."""
    head = subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert head.stdin is not None and head.stdout is not None
    done = subprocess.run([sys.executable, "-m", "audits.cli", "datasets", "list"],
                          stdout=head.stdin, stderr=subprocess.PIPE, text=True,
                          timeout=HANG_TIMEOUT_S, check=False)
    head.stdin.close()
    first = head.stdout.read()
    head.stdout.close()
    head.wait(timeout=HANG_TIMEOUT_S)
    assert first.split() == ["name", "rows", "target", "sensitive", "features"]
    assert done.stderr == "" and done.returncode in (0, EXIT_BROKEN_PIPE)


def test_queue_without_an_action_prints_its_own_help_and_exits_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queue")
    assert code == EXIT_USAGE
    assert out.startswith("usage: fairpanel queue ")
    assert "build" in out and "show" in out and "demo" not in out  # not the top-level help
