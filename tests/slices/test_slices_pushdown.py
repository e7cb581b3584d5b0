"""Slice discovery counted where the data lives gives the frame's report, to the last digit.

Oracle: :func:`audits.find_slices` on the same rows in pandas. DuckDB (a Parquet file, a
glob of two files, a frame), SQLite and PostgreSQL return counted patterns from one
GROUP BY, binned at edges computed with NumPy's quantile rule from value counts; the
report (slices, figures, p-values, the held-out split) must be the same JSON. The
quantile rule itself is checked against :func:`numpy.nanquantile` on random data with
ties.

What bad input gets: an outcome that is not 0/1 (or a missing one), a column that is not
there, no column to slice on, too few rows: a ValueError naming it, as on a frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from db_support import database_holding, write_table
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.slices.discovery import find_slices
from audits.slices.pushdown import (
    count_slices_duckdb,
    count_slices_sql,
    find_slices_duckdb,
    find_slices_sql,
    weighted_quantiles,
)


def planted(n: int = 12_000, seed: int = 3) -> pd.DataFrame:
    """Decisions with errors planted in region=c & age over 60; missing values, a float
    score, an id, a numeric column with few values and one with many."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": np.arange(n), "region": rng.choice(list("abcd"), n),
        "age": rng.integers(18, 80, n), "income": rng.normal(50, 10, n).round(2),
        "product": rng.choice(["loan", "card", None], n),
        "children": rng.integers(0, 3, n).astype(float),
        "y": rng.integers(0, 2, n)})
    df.loc[rng.random(n) < 0.05, "income"] = np.nan
    bad = (df["region"] == "c") & (df["age"] > 60)
    flip = np.where(bad, rng.random(n) < 0.4, rng.random(n) < 0.1)
    df["p"] = np.where(flip, 1 - df["y"], df["y"])
    df["score"] = np.clip(np.where(df["p"] == 1, 0.6, 0.3) + rng.normal(0, 0.1, n), 0, 1)
    return df


def as_json(report: Any) -> str:
    return json.dumps(report.to_dict(), sort_keys=True)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return planted()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path, frame: pd.DataFrame
            ) -> Iterator[str]:
    with database_holding(request.param, tmp_path, frame) as url:
        yield url


@pytest.mark.parametrize("metric", ["error_rate", "false_positive_rate"])
def test_duckdb_on_files_finds_what_pandas_finds(frame: pd.DataFrame, tmp_path: Path,
                                                 metric: str) -> None:
    frame = frame.drop(columns="score")  # every other column but the roles is sliced on
    expected = find_slices(frame, y_true="y", y_pred="p", metric=metric)
    assert {"region": "c", "age": "[64, 79]"} in [s.attributes for s in expected.slices]
    frame.to_parquet(tmp_path / "all.parquet")
    half = len(frame) // 2
    (tmp_path / "parts").mkdir()
    frame.iloc[:half].to_parquet(tmp_path / "parts" / "a.parquet")
    frame.iloc[half:].to_parquet(tmp_path / "parts" / "b.parquet")
    for source in (tmp_path / "all.parquet", str(tmp_path / "parts" / "*.parquet"), frame):
        found = find_slices_duckdb(source, y_true="y", y_pred="p", metric=metric)
        assert as_json(found) == as_json(expected)


def test_a_sql_database_finds_what_pandas_finds(frame: pd.DataFrame, sql_url: str) -> None:
    expected = find_slices(frame, y_true="y", y_pred="p")
    found = find_slices_sql(sql_url, table="decisions", y_true="y", y_pred="p")
    assert as_json(found) == as_json(expected)
    # A decision made from a score, and a query as the source, on chosen columns.
    expected = find_slices(frame, y_true="y", y_score="score", threshold=0.45,
                           columns=["region", "age", "income"], max_depth=2)
    found = find_slices_sql(sql_url, query="SELECT * FROM decisions WHERE id >= 0",
                            y_true="y", y_score="score", threshold=0.45,
                            columns=["region", "age", "income"], max_depth=2)
    assert as_json(found) == as_json(expected)


def test_the_counts_name_their_queries_and_only_counts_come_back(frame: pd.DataFrame,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    counted = count_slices_duckdb(path, y_true="y", y_pred="p")
    assert counted.aggregation.backend == "duckdb"
    # The id is a row id (a value per row) and is not sliced on; every row is counted.
    assert "id" not in counted.columns and counted.patterns.rows == len(frame)
    # The kept query runs again, on its own, to the same counts.
    con = duckdb.connect()
    try:
        rows = con.execute(counted.aggregation.group_by).fetchall()
    finally:
        con.close()
    assert sum(r[-1] for r in rows) == len(frame) == int(counted.patterns.count.sum())
    assert len(rows) == len(counted.patterns.count)
    assert counted.sha256() == count_slices_duckdb(path, y_true="y", y_pred="p").sha256()
    changed = frame.assign(p=1 - frame["p"])
    changed.to_parquet(path)
    assert counted.sha256() != count_slices_duckdb(path, y_true="y", y_pred="p").sha256()


def test_labels_name_the_positive_outcome(frame: pd.DataFrame, tmp_path: Path) -> None:
    words = frame.assign(y=np.where(frame["y"] == 1, "repaid", "default"),
                         p=np.where(frame["p"] == 1, "repaid", "default"))
    url = f"sqlite:///{tmp_path / 'words.db'}"
    write_table(url, words)
    found = count_slices_sql(url, table="decisions", y_true="y", y_pred="p",
                             pos_label="repaid").find()
    assert as_json(found) == as_json(find_slices(frame, y_true="y", y_pred="p"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6, allow_nan=False)
                          | st.sampled_from([0.0, -0.0, 1e-300, -1e-300]),
                          st.integers(1, 6)), min_size=1, max_size=40),
       st.integers(1, 12))
def test_weighted_quantiles_are_numpys_to_the_bit(pairs: list[tuple[float, int]],
                                                  bins: int) -> None:
    values = np.array([v for v, _ in pairs])
    counts = np.array([c for _, c in pairs])
    q = np.linspace(0, 1, bins + 1)
    # Signed zeros are one value (a sort may leave -0.0 and 0.0 in either order).
    expected = np.nanquantile(np.repeat(values, counts) + 0.0, q)
    assert weighted_quantiles(values, counts, q).tobytes() == expected.tobytes()


def test_bad_input_is_named_as_on_a_frame(frame: pd.DataFrame, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    write_table(url, frame.assign(y=np.where(frame["y"] == 1, 2, 0)))
    with pytest.raises(ValueError, match="y_true column 'y' must hold 0 and 1 only; got 2"):
        find_slices_sql(url, table="decisions", y_true="y", y_pred="p")
    with pytest.raises(ValueError, match="column 'nope' is not in the data"):
        find_slices_sql(url, table="decisions", y_true="y", y_pred="nope")
    with pytest.raises(ValueError, match="column 'nope' is not in the data"):
        find_slices_sql(url, table="decisions", y_true="y", y_pred="p", columns=["nope"])
    with pytest.raises(ValueError, match="no columns to slice on"):
        find_slices_duckdb(frame[["id", "y", "p"]], y_true="y", y_pred="p")
    with pytest.raises(ValueError, match="slice discovery needs at least 200"):
        find_slices_duckdb(frame.head(150), y_true="y", y_pred="p")
    with pytest.raises(ValueError, match="metric must be one of"):
        find_slices_duckdb(frame, y_true="y", y_pred="p", metric="accuracy")
    missing = frame.assign(y=frame["y"].astype(float))
    missing.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="y_true column 'y' must hold 0 and 1 only"):
        find_slices_duckdb(missing, y_true="y", y_pred="p")
