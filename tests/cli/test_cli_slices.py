"""``fairpanel slices``: the JSON contract, a file and a registered system, bad input.

Oracle: the same call of :func:`audits.slices.find_slices` in-process gives the same
JSON as the command, for a CSV file read by pandas, a Parquet file or glob counted by
DuckDB, a database table (``--sql``) and a system kept in its database. On a registered
system (decisions, demographics held apart, a skops model), the system's own decisions
are sliced and its id column is not. What bad input gets: DATA with --system or --sql,
none of them, a file without its roles, a role option with --system, --table without
--sql, --sql without a table or query, an unknown metric or depth: each refused by name
with exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from db_support import write_table
from own_system_support import fairpanel, fairpanel_json, fairpanel_refused
from system_files import write_system

from audits.slices import find_slices

CONTRACT = {"rows", "metric", "n_tested", "slices"}
SLICE = {"attributes", "n", "value", "ci_low", "ci_high", "complement_value", "p_adjusted"}


@pytest.fixture(scope="module")
def decisions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(4)
    n = 30_000
    df = pd.DataFrame({"applicant_id": np.arange(n), "region": rng.choice(list("nsew"), n),
                       "product": rng.choice(["card", "loan", "lease"], n),
                       "age": rng.integers(18, 90, n), "y": rng.integers(0, 2, n)})
    bad = (df["region"] == "e") & (df["product"] == "lease")
    df["p"] = np.where(rng.random(n) < np.where(bad, 0.3, 0.1), 1 - df["y"], df["y"])
    path = tmp_path_factory.mktemp("slices") / "decisions.csv"
    df.to_csv(path, index=False)
    return path, df


def test_a_file_is_sliced_and_the_json_keeps_its_contract(
        decisions: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    path, df = decisions
    result: dict[str, Any] = fairpanel_json(capsys, "slices", str(path), "--target", "y",
                                            "--prediction", "p", "--seed", "2",
                                            "--json", "-")
    assert set(result) >= CONTRACT
    assert all(set(s) >= SLICE for s in result["slices"])
    assert [s["attributes"] for s in result["slices"]] == [{"region": "e",
                                                            "product": "lease"}]
    assert "applicant_id" not in result["columns"]  # an id is not a slice
    oracle = find_slices(df, y_true="y", y_pred="p", random_state=2).to_dict()
    assert json.loads(json.dumps(oracle)) == result
    # Looking at single columns only, the region holding the bad slice is what stands out.
    code, out, _ = fairpanel(capsys, "slices", str(path), "--target", "y", "--prediction",
                             "p", "--max-depth", "1")
    assert code == 0 and "region=e:" in out and "product=" not in out
    code, out, _ = fairpanel(capsys, "slices", str(path), "--target", "y", "--prediction",
                             "p", "--columns", "age")
    assert code == 0 and "no slice is significantly worse than the rest" in out


def test_a_registered_system_is_sliced_from_its_own_decisions(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    system = write_system(tmp_path, n=3000)
    fairpanel_json(capsys, "systems", "add", "credit", "--data", str(system.decisions),
                   "--id", "applicant_id", "--target", "repaid", "--prediction", "approved",
                   "--sensitive", "sex", "--sensitive", "age_band", "--sensitive-data",
                   str(system.demographics), "--join", "applicant_id", "--model",
                   str(system.model), "--json", "-")
    result = fairpanel_json(capsys, "slices", "--system", "credit", "--metric",
                            "false_negative_rate", "--min-support", "50", "--json", "-")
    assert result["rows"] == 3000 and result["metric"] == "false_negative_rate"
    assert set(result["columns"]) == {"income", "debt", "region", "sex", "age_band"}
    assert result["n_tested"] > 0


def test_parquet_and_a_database_are_counted_where_they_are(
        decisions: tuple[Path, pd.DataFrame], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, df = decisions
    oracle = json.loads(json.dumps(find_slices(df, y_true="y", y_pred="p").to_dict()))
    df.iloc[:10_000].to_parquet(tmp_path / "part-1.parquet")
    df.iloc[10_000:].to_parquet(tmp_path / "part-2.parquet")
    roles = ["--target", "y", "--prediction", "p", "--json", "-"]
    assert fairpanel_json(capsys, "slices", str(tmp_path / "part-*.parquet"), *roles) == oracle
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_table(url, df)
    assert fairpanel_json(capsys, "slices", "--sql", url, "--table", "decisions",
                          *roles) == oracle


def test_a_system_kept_in_place_is_sliced_where_it_lives(
        decisions: tuple[Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    _, df = decisions
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_table(url, df)
    fairpanel_json(capsys, "systems", "add", "loans", "--sql", url, "--table", "decisions",
                   "--in-place", "--id", "applicant_id", "--target", "y", "--prediction",
                   "p", "--sensitive", "region", "--json", "-")
    result = fairpanel_json(capsys, "slices", "--system", "loans", "--json", "-")
    oracle = find_slices(df, y_true="y", y_pred="p",
                         columns=["product", "age", "region"]).to_dict()
    assert result == json.loads(json.dumps(oracle))
    assert [s["attributes"] for s in result["slices"]] == [{"region": "e",
                                                            "product": "lease"}]


@pytest.mark.parametrize(("argv", "message"), [
    (["DATA", "--system", "credit"], "give one of DATA (a CSV or Parquet file, or a Parquet "
                                     "glob), --sql URL or --system NAME"),
    (["DATA", "--sql", "sqlite://"], "give one of DATA"),
    ([], "give one of DATA"),
    (["DATA", "--table", "t", "--target", "y", "--prediction", "p"],
     "--table goes with --sql URL"),
    (["--sql", "sqlite://", "--target", "y", "--prediction", "p"],
     "--sql needs --table T or --query Q"),
    (["DATA", "--target", "y"], "give --target and --prediction"),
    (["--system", "credit", "--target", "y"], "--target is fixed by the system"),
    (["DATA", "--target", "y", "--prediction", "p", "--metric", "recall"], "invalid choice"),
    (["DATA", "--target", "y", "--prediction", "p", "--max-depth", "4"], "invalid choice"),
    (["DATA", "--target", "y", "--prediction", "p", "--columns", "nope"],
     "column 'nope' is not in the data"),
])
def test_bad_input_is_refused_by_name(decisions: tuple[Path, pd.DataFrame],
                                      capsys: pytest.CaptureFixture[str], argv: list[str],
                                      message: str) -> None:
    path, _ = decisions
    code, err = fairpanel_refused(capsys, "slices",
                                  *[str(path) if a == "DATA" else a for a in argv])
    assert code == 2 and message in err, err
