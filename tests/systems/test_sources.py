"""Reading a system's data: real files in tmp_path, SQLite and PostgreSQL databases."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from db_support import postgres_url_or_skip
from sqlalchemy import create_engine, text

from audits.data.schema import DataValidationError
from audits.systems.sources import DataSource, as_source, read_source

FRAME = pd.DataFrame({
    "id": [1, 2, 3, 4],
    "sex": ["f", "m", "f", "m"],
    "income": [1.5, 2.0, None, 4.25],
    "approved": [1, 0, 1, 1],
    "repaid": [1, 0, 0, 1],
})
CSV_TEXT = "id,sex,income,approved,repaid\n1,f,1.5,1,1\n2,m,2.0,0,0\n3,f,,1,0\n4,m,4.25,1,1\n"


def _same_as_frame(table: pa.Table) -> None:
    pd.testing.assert_frame_equal(table.to_pandas(), FRAME, check_dtype=False)


def _calls() -> tuple[list[tuple[float, str]], Callable[[float, str], None]]:
    seen: list[tuple[float, str]] = []
    return seen, lambda fraction, message: seen.append((fraction, message))


# ---------------------------------------------------------------- DataSource


def test_source_needs_exactly_one_of_path_and_url() -> None:
    with pytest.raises(DataValidationError, match="exactly one of path or url, got neither"):
        DataSource()
    with pytest.raises(DataValidationError, match="got both"):
        DataSource(path="a.csv", url="sqlite:///a.db", table="t")


def test_sql_source_needs_exactly_one_of_table_and_query_and_hides_the_password() -> None:
    with pytest.raises(DataValidationError) as info:
        DataSource(url="postgresql://ada:s3cret@db/credit")
    assert "exactly one of table or query, got neither" in str(info.value)
    assert "s3cret" not in str(info.value) and "ada:***@db/credit" in str(info.value)
    with pytest.raises(DataValidationError, match="got both"):
        DataSource(url="sqlite:///a.db", table="t", query="select 1")
    with pytest.raises(DataValidationError, match="SQL url only, not to the file a.csv"):
        DataSource(path="a.csv", table="t")


def test_describe_hides_the_password() -> None:
    source = DataSource(url="postgresql+psycopg://ada:s3cret@db:5432/credit", query="SELECT 1")
    assert source.describe() == "query at postgresql+psycopg://ada:***@db:5432/credit: SELECT 1"
    assert "s3cret" not in DataSource(url="postgresql://ada:s3cret@db/c", table="t").describe()
    assert DataSource(path=Path("x.parquet")).path == "x.parquet"
    assert as_source(Path("d/*.parquet")).describe() == "files d/*.parquet"
    with pytest.raises(TypeError, match="not int"):
        as_source(3)


# ---------------------------------------------------------------- files


def test_reads_csv_and_reports_progress(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(CSV_TEXT)
    seen, progress = _calls()
    table = read_source(str(path), progress=progress)
    _same_as_frame(table)
    assert seen[0][0] == 0.0 and "d.csv" in seen[0][1]
    assert seen[-1] == (1.0, "read 4 rows and 5 columns")


def test_reads_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode()))
    _same_as_frame(read_source(DataSource(path=str(path))))


def test_reads_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    FRAME.to_parquet(path)
    _same_as_frame(read_source(path))


def test_reads_parquet_row_group_by_row_group(tmp_path: Path) -> None:
    path = tmp_path / "groups.parquet"
    big = pd.concat([FRAME] * 250, ignore_index=True).assign(sex=lambda d: d["sex"].astype(
        "category"))
    pq.write_table(pa.Table.from_pandas(big, preserve_index=False), path, row_group_size=300)
    seen, progress = _calls()
    table = read_source(path, progress=progress)
    pd.testing.assert_frame_equal(table.to_pandas(), big)
    assert [m for _, m in seen if "row groups" in m] == [
        f"read {i} of 4 row groups" for i in range(1, 5)]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def _write_parts(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir()
    paths = []
    for i, part in enumerate(range(0, len(FRAME), 2)):
        path = folder / f"part-{i}.parquet"
        pq.write_table(pa.Table.from_pandas(FRAME.iloc[part:part + 2], preserve_index=False),
                       path)
        paths.append(path)
    empty_rows = pa.Table.from_pandas(FRAME.iloc[:0], preserve_index=False)
    for i in range(len(paths), n):
        path = folder / f"part-{i}.parquet"
        pq.write_table(empty_rows, path)
        paths.append(path)
    return paths


def test_reads_a_glob_of_three_parquet_files_and_a_folder(tmp_path: Path) -> None:
    _write_parts(tmp_path / "parts")
    seen, progress = _calls()
    table = read_source(str(tmp_path / "parts" / "*.parquet"), progress=progress)
    _same_as_frame(table)
    assert [m for _, m in seen if m.endswith("of 3 files")] == [
        "read 1 of 3 files", "read 2 of 3 files", "read 3 of 3 files"]
    _same_as_frame(read_source(tmp_path / "parts"))


def test_glob_names_the_file_with_another_schema(tmp_path: Path) -> None:
    _write_parts(tmp_path / "parts")
    odd = FRAME.assign(income=FRAME["income"].astype(str)).drop(columns="sex")
    odd.to_parquet(tmp_path / "parts" / "part-9.parquet")
    with pytest.raises(DataValidationError) as info:
        read_source(str(tmp_path / "parts" / "*.parquet"))
    message = str(info.value)
    assert "part-9.parquet does not have the schema of" in message
    assert "part-0.parquet" in message and "missing sex" in message
    assert "income is large_string not double" in message


def test_glob_refuses_other_files_and_matching_nothing(tmp_path: Path) -> None:
    _write_parts(tmp_path / "parts")
    (tmp_path / "parts" / "notes.csv").write_text("a\n1\n")
    with pytest.raises(DataValidationError, match=r"must be \.parquet; .*notes\.csv is not"):
        read_source(tmp_path / "parts")
    with pytest.raises(DataValidationError, match=r"no file matches .*nothing-\*\.parquet"):
        read_source(str(tmp_path / "nothing-*.parquet"))


def test_max_bytes_refuses_before_reading_naming_size_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(CSV_TEXT)
    size = path.stat().st_size
    assert read_source(path, max_bytes=size).num_rows == 4
    with pytest.raises(DataValidationError) as info:
        read_source(path, max_bytes=10)
    assert f"{size:,} bytes on disk" in str(info.value) and "limit of 10 bytes" in str(info.value)
    paths = _write_parts(tmp_path / "parts")
    total = sum(p.stat().st_size for p in paths)
    with pytest.raises(DataValidationError, match=f"3 files\\) takes {total:,} bytes"):
        read_source(tmp_path / "parts", max_bytes=total - 1)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("missing.csv", None, "data file {path} does not exist"),
    ("empty.csv", b"", "data file {path} is empty"),
    ("empty.parquet", b"", "data file {path} is empty"),
    ("gz-of-nothing.csv.gz", gzip.compress(b"", mtime=0), "data file {path} is empty"),
    ("d.xlsx", b"PK\x03\x04", "data file {path} must be .csv, .csv.gz or .parquet, not '.xlsx'"),
    ("d.json.gz", b"x", "not '.json.gz'"),
    ("broken.parquet", b"not parquet at all", "data file {path} could not be read as Parquet"),
    ("broken.csv.gz", b"not gzip", "data file {path} could not be read as CSV"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "data file {path} could not be read as CSV"),
    ("header-only.csv", b"id,sex\n", "file {path} has no rows"),
])
def test_bad_files_are_named(tmp_path: Path, name: str, content: bytes | None,
                             expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataValidationError) as info:
        read_source(path)
    assert expected.format(path=path) in str(info.value)


def test_a_parquet_file_with_no_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    FRAME.iloc[:0].to_parquet(path)
    with pytest.raises(DataValidationError, match=f"file {path} has no rows"):
        read_source(path)


# ---------------------------------------------------------------- SQL


def _fill(url: str, table: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            FRAME.to_sql(table, conn, index=False)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    _fill(url, "decisions")
    return url


@pytest.fixture
def postgres_table() -> Iterator[tuple[str, str]]:
    url = postgres_url_or_skip().replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"decisions_{uuid.uuid4().hex[:12]}"
    _fill(url, name)
    try:
        yield url, name
    finally:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'DROP TABLE "{name}"'))
        finally:
            engine.dispose()


def test_reads_a_sqlite_table_and_a_query(sqlite_url: str) -> None:
    seen, progress = _calls()
    _same_as_frame(read_source(DataSource(url=sqlite_url, table="decisions"),
                               progress=progress))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    query = "SELECT id, sex FROM decisions WHERE approved = 1 ORDER BY id"
    table = read_source(DataSource(url=sqlite_url, query=query))
    assert table.to_pydict() == {"id": [1, 3, 4], "sex": ["f", "f", "m"]}


def test_a_sqlite_query_cannot_write(sqlite_url: str) -> None:
    readonly = "the query on sqlite:///.* failed: attempt to write a readonly database"
    with pytest.raises(DataValidationError, match=readonly):
        read_source(DataSource(url=sqlite_url, query="DELETE FROM decisions RETURNING id"))
    assert read_source(DataSource(url=sqlite_url, table="decisions")).num_rows == 4


def test_sqlite_errors_name_the_url_and_the_problem(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        read_source(DataSource(url=sqlite_url, table="decisons"))
    assert str(info.value) == f"no table 'decisons' in {sqlite_url}; tables there: decisions"
    with pytest.raises(DataValidationError, match="failed: no such column: nope"):
        read_source(DataSource(url=sqlite_url, query="SELECT nope FROM decisions"))
    with pytest.raises(DataValidationError, match="query at sqlite:///.* has no rows"):
        read_source(DataSource(url=sqlite_url, query="SELECT * FROM decisions WHERE id > 9"))
    missing = tmp_path / "nowhere.db"
    with pytest.raises(DataValidationError, match="could not connect to sqlite:///.*nowhere.db"):
        read_source(DataSource(url=f"sqlite:///{missing}", table="decisions"))
    assert not missing.exists()
    with pytest.raises(DataValidationError, match="not a database URL"):
        read_source(DataSource(url="::not a url::", table="t"))
    with pytest.raises(DataValidationError, match="no database driver for nosuchdb://"):
        read_source(DataSource(url="nosuchdb://h/db", table="t"))


def test_sql_max_bytes_stops_reading(sqlite_url: str) -> None:
    with pytest.raises(DataValidationError, match="take more than the limit of 8 bytes"):
        read_source(DataSource(url=sqlite_url, table="decisions"), max_bytes=8)


def test_reads_a_postgresql_table_and_query(postgres_table: tuple[str, str]) -> None:
    url, name = postgres_table
    _same_as_frame(read_source(DataSource(url=url, table=name)))
    _same_as_frame(read_source(DataSource(url=url, table=f"public.{name}")))
    table = read_source(DataSource(url=url, query=f'SELECT count(*) AS n FROM "{name}"'))
    assert table.to_pydict() == {"n": [4]}


def test_postgresql_is_read_only_and_names_problems(postgres_table: tuple[str, str]) -> None:
    url, name = postgres_table
    flag = read_source(DataSource(
        url=url, query="SELECT current_setting('transaction_read_only') AS ro"))
    assert flag.to_pydict() == {"ro": ["on"]}
    with pytest.raises(DataValidationError, match="the query on .* failed: "):
        read_source(DataSource(url=url, query=f'DELETE FROM "{name}" RETURNING id'))
    assert read_source(DataSource(url=url, table=name)).num_rows == 4
    with pytest.raises(DataValidationError, match=f"no table '{name}_x' in "):
        read_source(DataSource(url=url, table=f"{name}_x"))
    with pytest.raises(DataValidationError, match="the query on .* failed: .*syntax error"):
        read_source(DataSource(url=url, query="SELEC 1"))


def test_unreachable_postgresql_names_the_url_without_its_password() -> None:
    url = "postgresql://ada:s3cret@127.0.0.1:1/nowhere?connect_timeout=300"
    with pytest.raises(DataValidationError) as info:
        read_source(DataSource(url=url, table="t"))
    message = str(info.value)
    assert message.startswith("could not connect to postgresql+psycopg://ada:***@127.0.0.1:1/")
    assert "s3cret" not in message
