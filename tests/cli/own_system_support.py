"""The command-line tests' helpers (imported by basename): the ``fairpanel`` command run
in-process, a store with a bare system, users; and (from :mod:`system_files`) a system
fairpanel has never seen."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from system_files import OwnSystem, write_system

from audits.cli import command as cli

__all__ = ["OwnSystem", "add_user", "fairpanel", "fairpanel_json", "fairpanel_refused",
           "store_with_a_system", "write_system"]


def fairpanel(capsys: pytest.CaptureFixture[str], *argv: str,
              stdin: str | None = None) -> tuple[int, str, str]:
    """Run the command in-process; return (exit code, stdout, stderr)."""
    with contextlib.ExitStack() as stack:
        if stdin is not None:
            stack.enter_context(_stdin(stdin))
        code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def store_with_a_system(database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch,
                        name: str = "credit") -> str:
    """Point the command at a fresh store in ``home`` holding one bare system ``name``
    (a version with no columns: enough for commands about the system itself)."""
    from audits.roles import Actor, Role
    from audits.store import Store, SystemInput, VersionInput

    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    with Store(database_url) as store:
        store.register_system_version(
            Actor("dana", Role.DATA_SCIENTIST), SystemInput(name),
            VersionInput(source="s.csv", sha256="a" * 64, n_rows=1, roles={}, card="",
                         card_data={}, data_path="data/" + "a" * 64 + ".parquet"))
    return database_url


def fairpanel_refused(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run a command expected to fail; return (exit code, stderr), also when argparse
    refuses the arguments itself (it exits from the parser)."""
    try:
        code, _, err = fairpanel(capsys, *argv)
    except SystemExit as refused:
        return int(str(refused.code)), capsys.readouterr().err
    return code, err


def fairpanel_json(capsys: pytest.CaptureFixture[str], *argv: str,
                   stdin: str | None = None) -> Any:
    """Run the command, check it succeeded, and return its JSON on stdout."""
    code, out, err = fairpanel(capsys, *argv, stdin=stdin)
    assert code == 0, err
    return json.loads(out)


def add_user(capsys: pytest.CaptureFixture[str], name: str, role: str,
             password: str | None = None) -> None:
    """``fairpanel users add`` with a password on stdin, or none."""
    if password is None:
        code, _, err = fairpanel(capsys, "users", "add", name, "--role", role,
                                 "--no-password")
    else:
        code, _, err = fairpanel(capsys, "users", "add", name, "--role", role,
                                 "--password-stdin", stdin=password + "\n")
    assert code == 0, err


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved
