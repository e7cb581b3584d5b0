"""``fairpanel systems add --sql URL --table T --in-place`` and ``audit --system --save``
on it: the decisions stay in their database, each audit counts them there.

Oracle: the same decisions registered as a copy (``--data`` CSV): the stored audit's JSON
is the same to the last digit apart from ``aggregation`` and ``audit_run_id``, and a
``--fail-on`` gate exits with the same code and names the same failures. What bad input
gets: ``--in-place`` without ``--sql``, with ``--model`` or ``--sensitive-data``, and a
URL holding a password: each refused by name (exit 2), nothing registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from own_system_support import fairpanel, fairpanel_json, fairpanel_refused
from sqlalchemy import create_engine

ROLES = ("--id", "id", "--target", "repaid", "--prediction", "approved", "--score", "score",
         "--sensitive", "sex", "--sensitive", "race")
AUDIT = ("--save", "--n-boot", "80", "--json", "-")


def credit_frame(n: int, seed: int) -> pd.DataFrame:
    """Credit decisions with a logged score and decision, and two sensitive features."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    score = 1 / (1 + np.exp(-(rng.normal(0, 1.2, n) - 1.5 * (race == "c"))))
    return pd.DataFrame({"id": np.arange(n), "sex": sex, "race": race,
                         "repaid": (rng.random(n) < score).astype(int),
                         "score": score.round(6), "approved": (score >= 0.5).astype(int)})


@pytest.fixture
def warehouse(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> tuple[str, Path]:
    """A store (SQLite or PostgreSQL) and a SQLite warehouse with ``decisions``, and the
    same decisions as a CSV file."""
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    frame = credit_frame(n=1_500, seed=8)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    frame.to_sql("decisions", engine, index=False)
    engine.dispose()
    frame.to_csv(tmp_path / "decisions.csv", index=False)
    return url, tmp_path / "decisions.csv"


def without(result: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in keys}


def test_a_system_kept_in_place_is_audited_where_its_decisions_are(
        warehouse: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    url, csv = warehouse
    added = fairpanel_json(capsys, "systems", "add", "credit", "--sql", url, "--table",
                           "decisions", "--in-place", *ROLES, "--json", "-")
    assert added["rows"] == 1_500 and added["created"] is True
    assert added["in_place"].endswith("warehouse.db, table decisions")
    fairpanel_json(capsys, "systems", "add", "copy", "--data", str(csv), *ROLES, "--json", "-")
    kept = fairpanel_json(capsys, "audit", "--system", "credit", *AUDIT)
    copied = fairpanel_json(capsys, "audit", "--system", "copy", *AUDIT)
    assert kept["aggregation"]["backend"] == "sqlite"
    assert kept["aggregation"]["queries"][-1].startswith("SELECT ")
    assert copied["aggregation"] == {"backend": "pandas", "source": "logged decisions",
                                     "queries": []}
    assert without(kept, "aggregation", "audit_run_id") == without(
        copied, "aggregation", "audit_run_id")
    gate = ("--save", "--n-boot", "80", "--fail-on", "impact_ratio<0.8")
    in_place = fairpanel(capsys, "audit", "--system", "credit", *gate)
    copy = fairpanel(capsys, "audit", "--system", "copy", *gate)
    def verdict(err: str) -> list[str]:
        return [line for line in err.splitlines() if not line.startswith("[")]

    assert in_place[0] == copy[0] == 1  # race c's approvals fail the four-fifths rule
    assert verdict(in_place[2]) == verdict(copy[2]) and "gate 'impact_ratio<0.8' failed" in (
        in_place[2])


def test_what_does_not_go_with_in_place_is_refused_by_name(
        warehouse: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    url, csv = warehouse
    refusals = {
        "--in-place keeps decisions in a database": ("--data", str(csv), "--in-place"),
        "--model does not go with --in-place": ("--sql", url, "--table", "decisions",
                                                "--in-place", "--model", str(csv)),
        "--sensitive-data does not go with --in-place": (
            "--sql", url, "--table", "decisions", "--in-place", "--sensitive-data", str(csv)),
        "holds a password": ("--sql", "postgresql://dana:hunter2@127.0.0.1/w", "--table",
                             "decisions", "--in-place"),
    }
    for message, argv in refusals.items():
        code, err = fairpanel_refused(capsys, "systems", "add", "credit", *argv, *ROLES)
        assert code == 2 and message in err and "hunter2" not in err, err
    listed = fairpanel_json(capsys, "systems", "list", "--json")
    assert listed == [] or listed == {"systems": []}
