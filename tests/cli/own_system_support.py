"""A system fairpanel has never seen, for the command-line tests (imported by basename).

:func:`write_system` writes what an organisation brings: ``decisions.csv`` (an id, the
model's features, the observed outcome and the logged decision), ``demographics.csv``
(the sensitive features, held apart, keyed by the same id) and ``model.skops`` (the
scikit-learn pipeline that made the decisions). Women's incomes are drawn lower, so the
model approves them less often: a disparity the audit must find.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audits.cli import command as cli

__all__ = ["OwnSystem", "add_user", "fairpanel", "fairpanel_json", "fairpanel_refused",
           "store_with_a_system", "write_system"]


@dataclass(frozen=True)
class OwnSystem:
    """Where the files are, and the frames they hold."""

    decisions: Path
    demographics: Path
    model: Path
    frame: pd.DataFrame
    sensitive: pd.DataFrame


def write_system(folder: Path, *, n: int = 1200, seed: int = 0) -> OwnSystem:
    """Write decisions.csv, demographics.csv and model.skops into ``folder``."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    income = (rng.gamma(4.0, 10.0, n) * np.where(sex == "male", 1.2, 1.0)).round(1)
    debt = rng.gamma(2.0, 8.0, n).round(1)
    region = rng.choice(["north", "south", "east", "west"], n)
    repaid = (rng.random(n) < 1 / (1 + np.exp(2.0 - 0.06 * income + 0.04 * debt))).astype(int)
    features = pd.DataFrame({"income": income, "debt": debt, "region": region})
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["region"]),
                                                  remainder=StandardScaler()),
                          LogisticRegression()).fit(features, repaid)
    frame = features.assign(applicant_id=np.arange(n), repaid=repaid,
                            approved=model.predict(features))
    sensitive = pd.DataFrame({"applicant_id": np.arange(n), "sex": sex,
                              "age_band": rng.choice(["18-29", "30-44", "45+"], n)})
    out = OwnSystem(folder / "decisions.csv", folder / "demographics.csv",
                    folder / "model.skops", frame, sensitive)
    frame.to_csv(out.decisions, index=False)
    sensitive.to_csv(out.demographics, index=False)
    sio.dump(model, out.model)
    return out


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
