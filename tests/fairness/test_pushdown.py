"""The one GROUP BY where the data lives: DuckDB, PostgreSQL, SQLite and Spark count
exactly as pandas does, and the audit made from their counts is the same JSON.

A generated dataset (three sensitive features with missing values, a boolean and an
integer among them; a score with more distinct values than bins, so it is binned, and
one with few, kept exact; a decision column, or a threshold on the score) is counted
by pandas (the oracle, itself checked against scikit-learn in ``test_counts.py``) and by
each backend: every group's confusion cells and every score histogram agree to the
integer, and ``audit_counts`` over each backend's counts (same seed) gives the same JSON
to the last digit. Spark runs in ``local[2]`` (skipped without pyspark or Java);
PostgreSQL in a scratch schema (skipped without the test database; ``.ci/run``
requires both). Bad input: a column
that is not there, a missing decision and a non-finite score are each named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from db_support import postgres_schema, postgres_url_or_skip
from spark_support import spark_session
from sqlalchemy import create_engine

from audits.data.schema import DataValidationError
from audits.fairness.audit import audit_counts
from audits.fairness.counts import count_groups
from audits.fairness.pushdown import (
    aggregation_queries,
    count_groups_duckdb,
    count_groups_spark,
    count_groups_sql,
)

ROLES: dict[str, Any] = {"y_true": "y", "sensitive_features": ["race", "flag", "age"]}
#: (decision column, score column, threshold): a logged decision with a binned score, a
#: logged decision with an exact score, and decisions made by a threshold on the score.
CASES = {"binned": ("p", "score", None), "exact": ("p", "grade", None),
         "threshold": (None, "score", 0.5)}


def frame(n: int = 4_000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]).astype(object)
    race[rng.random(n) < 0.02] = None
    score = rng.random(n)
    return pd.DataFrame({
        "y": rng.integers(0, 2, n), "p": (score + rng.normal(0, 0.2, n) > 0.5).astype(int),
        "race": race, "flag": rng.random(n) < 0.4, "age": rng.choice([18, 30, 65], n),
        "score": score, "grade": rng.integers(1, 11, n) / 10})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    df = frame()
    path = tmp_path_factory.mktemp("pushdown") / "decisions.parquet"
    df.to_parquet(path, index=False)
    return df, path


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    with spark_session() as session:
        yield session


def kwargs(case: str) -> dict[str, Any]:
    y_pred, y_score, threshold = CASES[case]
    return {**ROLES, "y_pred": y_pred, "y_score": y_score, "threshold": threshold}


def audit_json(counts: Any, case: str) -> str:
    args = kwargs(case)
    result = audit_counts(counts, y_true="y", y_pred=args["y_pred"], y_score=args["y_score"],
                          threshold=args["threshold"], n_boot=200, random_state=7)
    return json.dumps(result.to_dict(), sort_keys=True, default=str)


def same_counts(oracle: Any, other: Any) -> None:
    pd.testing.assert_frame_equal(oracle.groups, other.groups)
    assert (oracle.scores is None) == (other.scores is None)
    if oracle.scores is not None:
        assert oracle.scores.exact == other.scores.exact
        assert np.array_equal(oracle.scores.counts, other.scores.counts)
        assert np.allclose(oracle.scores.sums, other.scores.sums, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_duckdb_and_sql_databases_count_as_pandas_and_audit_the_same(
        data: tuple[pd.DataFrame, Path], case: str, tmp_path: Path) -> None:
    df, path = data
    oracle = count_groups(df, **kwargs(case))
    expected = audit_json(oracle, case)
    duck, query = count_groups_duckdb(path, **kwargs(case), with_query=True)
    same_counts(oracle, duck)
    assert audit_json(duck, case) == expected
    # SQLite has no boolean type: it stores the flag as 0 and 1, and counts those.
    ints = df.assign(flag=df["flag"].astype(int))
    engine = create_engine(f"sqlite:///{tmp_path / 'decisions.db'}")
    ints.to_sql("decisions", engine, index=False)
    lite, lite_query = count_groups_sql(engine, table="decisions", **kwargs(case),
                                        with_query=True)
    engine.dispose()
    same_counts(count_groups(ints, **kwargs(case)), lite)
    assert audit_json(lite, case) == audit_json(count_groups(ints, **kwargs(case)), case)
    assert query.backend == "duckdb" and "read_parquet(" in query.group_by
    assert lite_query.backend == "sqlite" and lite_query.group_by.startswith("SELECT ")
    assert ("GROUP BY 1, 2, 3, 4, 5" + (", 6" if case != "threshold" else "")
            in query.group_by) or case == "threshold"


@pytest.mark.parametrize("case", list(CASES))
def test_postgresql_counts_in_the_database_as_pandas(data: tuple[pd.DataFrame, Path],
                                                     case: str) -> None:
    df, _ = data
    with postgres_schema(postgres_url_or_skip()) as url:
        engine = create_engine(url)
        try:
            df.to_sql("decisions", engine, index=False)
            by_table, aggregation = count_groups_sql(engine, table="decisions",
                                                     **kwargs(case), with_query=True)
            by_query = count_groups_sql(engine, query="SELECT * FROM decisions WHERE y >= 0",
                                        **kwargs(case))
        finally:
            engine.dispose()
    oracle = count_groups(df, **kwargs(case))
    for counts in (by_table, by_query):
        same_counts(oracle, counts)
        assert audit_json(counts, case) == audit_json(oracle, case)
    assert aggregation.backend == "postgresql" and '"decisions"' in aggregation.group_by


@pytest.mark.parametrize("case", list(CASES))
def test_spark_counts_as_pandas(data: tuple[pd.DataFrame, Path], spark: Any,
                                case: str) -> None:
    df, path = data
    by_path, aggregation = count_groups_spark(spark, path=str(path), **kwargs(case),
                                              with_query=True)
    spark.read.parquet(str(path)).createOrReplaceTempView("decisions")
    by_table = count_groups_spark(spark, table="decisions", **kwargs(case))
    oracle = count_groups(df, **kwargs(case))
    for counts in (by_path, by_table):
        same_counts(oracle, counts)
        assert audit_json(counts, case) == audit_json(oracle, case)
    assert aggregation.backend == "spark" and aggregation.source.startswith("parquet.`")


def test_the_embedded_query_reruns_to_the_same_rows(data: tuple[pd.DataFrame, Path]) -> None:
    """An auditor who runs the report's query again gets the rows the counts came from."""
    import duckdb

    _, path = data
    counts, aggregation = count_groups_duckdb(path, **kwargs("binned"), with_query=True)
    with duckdb.connect() as con:
        rows = con.execute(aggregation.group_by).fetchall()
    # Keys: three features, the outcome, the decision, the score's bin; then count(*).
    assert sum(r[6] for r in rows) == counts.rows == 4_000
    assert aggregation.queries == (aggregation.group_by,)  # one pass


SCORES = {
    # name: (scores, queries the pass needs)
    "continuous in [0, 1]": (lambda rng, n: rng.random(n), 1),
    "deciles kept exact, read off their bins": (lambda rng, n: rng.integers(1, 11, n) / 10, 1),
    "outside [0, 1]: binned again over its own range": (
        lambda rng, n: rng.normal(0, 3, n), 2),
    "one value outside [0, 1]": (lambda rng, n: np.full(n, 7.5), 1),
    "values closer than a bin: the distinct count decides, then exact": (
        lambda rng, n: rng.choice([0.5, 0.5001, 0.5002, 0.9], n), 3),
    "integers 1-100 outside [0, 1], one per bin": (lambda rng, n: rng.integers(1, 101, n) * 1.0,
                                                  2),
}


@pytest.mark.parametrize("name", list(SCORES))
def test_every_kind_of_score_counts_as_pandas_in_as_few_passes_as_it_can(
        name: str, tmp_path: Path) -> None:
    """Whether a score is exact (at most 1,000 distinct values) and its bins' range are
    found in the pass itself; only a score outside [0, 1] or values the bins cannot tell
    apart cost another query, and the counts are pandas' either way."""
    make, n_queries = SCORES[name]
    df = frame(n=3_000, seed=11)
    df["score"] = make(np.random.default_rng(5), len(df))
    df.to_parquet(tmp_path / "d.parquet", index=False)
    oracle = count_groups(df, **kwargs("binned"))
    duck, aggregation = count_groups_duckdb(tmp_path / "d.parquet", **kwargs("binned"),
                                            with_query=True)
    same_counts(oracle, duck)
    assert audit_json(duck, "binned") == audit_json(oracle, "binned")
    assert len(aggregation.queries) == n_queries, aggregation.queries
    engine = create_engine("sqlite://")
    df.assign(flag=df["flag"].astype(int)).to_sql("decisions", engine, index=False)
    lite = count_groups_sql(engine, table="decisions", **kwargs("binned"))
    engine.dispose()
    same_counts(count_groups(df.assign(flag=df["flag"].astype(int)), **kwargs("binned")), lite)


def test_bad_input_is_named(data: tuple[pd.DataFrame, Path], tmp_path: Path) -> None:
    df, path = data
    with pytest.raises(DataValidationError, match="'nope'"):
        count_groups_duckdb(path, **{**kwargs("binned"), "sensitive_features": ["nope"]})
    holes = df.astype({"p": "float"})
    holes.loc[[5, 9], "p"] = np.nan
    holes.to_parquet(tmp_path / "holes.parquet")
    with pytest.raises(DataValidationError, match=r"'p' \(y_pred\) has 2 missing"):
        count_groups_duckdb(tmp_path / "holes.parquet", **kwargs("binned"))
    # A NaN and an infinity stored as such (pandas would write the NaN as missing).
    scores = df["score"].to_numpy().copy()
    scores[[4, 8]] = [np.nan, -np.inf]
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("score"), "score",
                             pa.array(scores, from_pandas=False))
    pq.write_table(table, tmp_path / "nan.parquet")
    with pytest.raises(DataValidationError, match=r"'score' \(y_score\) has 2 value"):
        count_groups_duckdb(tmp_path / "nan.parquet", **kwargs("binned"))
    inf = df.assign(score=df["score"].where(df.index != 3, np.inf))
    engine = create_engine("sqlite://")
    inf.to_sql("decisions", engine, index=False)
    with pytest.raises(DataValidationError, match=r"'score' \(y_score\) has 1 value"):
        count_groups_sql(engine, table="decisions", **kwargs("binned"))
    with pytest.raises(ValueError, match="exactly one of table and query"):
        count_groups_sql(engine, table="decisions", query="SELECT 1", **kwargs("binned"))
    # A name is quoted, never run as SQL: this one is a table that does not exist.
    with pytest.raises(DataValidationError, match='cannot read "decisions; DROP TABLE x"'):
        count_groups_sql(engine, table="decisions; DROP TABLE x", **kwargs("binned"))
    with pytest.raises(ValueError, match="table must be a name"):
        count_groups_sql(engine, table="a..b", **kwargs("binned"))
    assert count_groups_sql(engine, table="decisions", **kwargs("exact")).rows == len(df)
    engine.dispose()


def test_the_query_is_one_group_by_in_each_dialect() -> None:
    for dialect, quote in (("duckdb", '"'), ("postgresql", '"'), ("spark", "`"),
                           ("sqlite", '"')):
        group_by, distinct = aggregation_queries(
            "t", dialect=dialect, y_true="y", y_pred=None, features=["sex"],
            y_score="s", threshold=0.5)
        assert group_by.count("GROUP BY") == 1 and group_by.count("SELECT") == 1
        assert f"{quote}sex{quote}" in group_by and "THEN 999 ELSE" in group_by
        assert distinct is not None and distinct.startswith("SELECT count(DISTINCT")
