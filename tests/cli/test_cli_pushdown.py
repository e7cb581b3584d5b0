"""``fairpanel audit`` where the data lives: Parquet files and globs through DuckDB, a SQL
database (``--sql URL --table|--query``) and Spark (``--spark MASTER --path|--table``).

Oracle: the same decisions as one CSV file, audited by the pandas path with the same
seed: the JSON is the same to the last digit, apart from ``aggregation`` (the backend
and the exact queries), which only the pushed-down audits carry. What bad input gets:
DATA with --sql, --sql with --spark, --table without an engine, --query with Spark,
--path with SQL, any of them with --system: each refused by name (exit 2), nothing run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from db_support import postgres_schema, postgres_url_or_skip
from own_system_support import fairpanel_refused
from spark_support import require_spark
from sqlalchemy import create_engine

from audits.cli import command as cli

ROLES = ("--target", "y", "--prediction", "p", "--score", "score", "--sensitive", "race",
         "--sensitive", "flag", "--n-boot", "60", "--seed", "3")


def decisions(n: int = 3_000, seed: int = 5) -> pd.DataFrame:
    """Decisions with a missing group, a boolean group and a score finer than its bins."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]).astype(object)
    race[rng.random(n) < 0.02] = None
    score = rng.random(n)
    return pd.DataFrame({"y": rng.integers(0, 2, n),
                         "p": (score + rng.normal(0, 0.2, n) > 0.5).astype(int),
                         "race": race, "flag": rng.random(n) < 0.4, "score": score})


def audit_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = cli.main(["audit", *argv, *ROLES, "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return dict(json.loads(out))


def rounded(value: Any) -> Any:
    """Every float of a JSON value to 12 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("where")
    df = decisions()
    df.to_csv(folder / "all.csv", index=False)
    for i, part in enumerate((df.iloc[:1000], df.iloc[1000:])):
        part.to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder, df


def test_a_parquet_glob_is_counted_by_duckdb_as_pandas_counts_the_csv(
        files: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = files
    oracle = audit_json(capsys, str(folder / "all.csv"))
    pushed = audit_json(capsys, str(folder / "part-*.parquet"))
    aggregation = pushed.pop("aggregation")
    assert pushed == oracle and "aggregation" not in oracle
    assert aggregation["backend"] == "duckdb"
    assert aggregation["queries"][-1].startswith('SELECT "race", "flag", "y", "p", CASE')
    assert "part-*.parquet" in aggregation["source"]


def test_score_bins_coarsen_the_histogram_the_same_way_on_every_path(
        files: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    """--score-bins 100: the same JSON from the CSV (pandas) and the Parquet (DuckDB), to
    12 significant digits (with 30 rows a bin, the calibration error's score sums are
    added in another order by each engine), and an AUC within a hundredth of the
    1,000-bin one (ties inside a coarser bin count half)."""
    folder, _ = files
    coarse = audit_json(capsys, str(folder / "all.csv"), "--score-bins", "100")
    pushed = audit_json(capsys, str(folder / "part-*.parquet"), "--score-bins", "100")
    assert "* 100" in pushed.pop("aggregation")["queries"][-1]
    assert rounded(pushed) == rounded(coarse)
    fine = audit_json(capsys, str(folder / "all.csv"))

    def auc(result: dict[str, Any]) -> list[float]:
        return [g["metrics"]["roc_auc"]["value"] for g in result["groups"]]

    assert auc(coarse) != auc(fine)
    assert np.allclose(auc(coarse), auc(fine), atol=0.01)


def test_a_sql_table_or_query_is_counted_in_the_database(
        files: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    folder, df = files
    oracle = audit_json(capsys, str(folder / "all.csv"))
    with postgres_schema(postgres_url_or_skip()) as url:
        engine = create_engine(url)
        try:
            df.to_sql("decisions", engine, index=False)
        finally:
            engine.dispose()
        by_table = audit_json(capsys, "--sql", url, "--table", "decisions")
        # A plain postgresql:// URL gets the driver fairpanel installs (psycopg 3).
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        by_query = audit_json(capsys, "--sql", plain, "--query", "SELECT * FROM decisions")
    for pushed in (by_table, by_query):
        aggregation = pushed.pop("aggregation")
        assert pushed == oracle
        assert aggregation["backend"] == "postgresql"
    assert "password" not in json.dumps(by_table)


def test_spark_counts_parquet_files_where_they_are(
        files: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    require_spark()
    folder, _ = files
    oracle = audit_json(capsys, str(folder / "all.csv"))
    pushed = audit_json(capsys, "--spark", "local[2]", "--path",
                        str(folder / "part-*.parquet"))
    aggregation = pushed.pop("aggregation")
    assert pushed == oracle
    assert aggregation["backend"] == "spark"
    assert aggregation["queries"][-1].startswith("SELECT `race`, `flag`, `y`, `p`, CASE")


@pytest.mark.parametrize(("extra", "message"), [
    (("DATA", "--sql", "sqlite://", "--table", "t"), "give DATA"),
    (("--sql", "sqlite://", "--spark", "local[2]", "--table", "t"), "one of --sql and --spark"),
    (("DATA", "--table", "t"), "--table goes with --sql URL or --spark MASTER"),
    (("--spark", "local[2]", "--query", "SELECT 1"), "--query goes with --sql"),
    (("--sql", "sqlite://", "--path", "x.parquet"), "--path goes with --spark"),
    (("--sql", "sqlite://"), "exactly one of table and query"),
    (("--system", "credit", "--save", "--sql", "sqlite://"), "--sql names data where it lives"),
    (("DATA", "--score-bins", "1"), "--score-bins must be an integer of at least 2; got 1"),
    (("--system", "credit", "--save", "--score-bins", "100"),
     "--score-bins applies to an audit of DATA"),
])
def test_bad_combinations_are_refused_by_name(
        files: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str],
        extra: tuple[str, ...], message: str) -> None:
    folder, _ = files
    argv = [str(folder / "all.csv") if a == "DATA" else a for a in extra]
    roles = [] if "--system" in extra else list(ROLES)
    code, err = fairpanel_refused(capsys, "audit", *argv, *roles)
    assert code == 2 and message in err, err
