"""Where a system's decisions come from, read once into an Arrow table.

A :class:`DataSource` is a file (CSV, gzipped CSV, Parquet), a glob or folder of Parquet
files, or a table or query on any database SQLAlchemy can reach. :func:`read_source`
reads it once into a :class:`pyarrow.Table`, never through pandas for files, and refuses
what it cannot use with a :class:`~audits.data.schema.DataValidationError` that names the
file or the URL (its password hidden) and what is wrong.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
from sqlalchemy import Connection, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from audits.data.schema import DataValidationError
from audits.store.db import redact_url

__all__ = ["DataSource", "Progress", "as_source", "read_source"]

#: ``progress(fraction, message)``: fraction in [0, 1] of the read done.
Progress = Callable[[float, str], None]

MSG_PATH_OR_URL = "a data source needs exactly one of path or url, got {given}"
MSG_TABLE_OR_QUERY = "a SQL source ({url}) needs exactly one of table or query, got {given}"
MSG_TABLE_WITHOUT_URL = "table and query apply to a SQL url only, not to the file {path}"
MSG_BAD_URL = "not a database URL: {url!r}"
MSG_NO_DRIVER = "no database driver for {url}: {reason}"
MSG_NO_FILE = "data file {path} does not exist"
MSG_EMPTY_FILE = "data file {path} is empty"
MSG_BAD_SUFFIX = "data file {path} must be .csv, .csv.gz or .parquet, not {suffix!r}"
MSG_GLOB_SUFFIX = "every file of {pattern} must be .parquet; {path} is not"
MSG_NO_MATCH = "no file matches {pattern}"
MSG_SCHEMA_DIFFERS = (
    "{path} does not have the schema of {first} (every file of {pattern} must have the "
    "same columns and types): {difference}"
)
MSG_UNREADABLE = "data file {path} could not be read as {kind}: {error}"
MSG_TOO_LARGE = (
    "{what} takes {size:,} bytes on disk, more than the limit of {limit:,} bytes"
)
MSG_SQL_TOO_LARGE = (
    "the rows read from {source} take more than the limit of {limit:,} bytes in memory"
)
MSG_NO_CONNECT = "could not connect to {url}: {reason}"
MSG_NO_SQLITE_FILE = "could not connect to {url}: the database file {path} does not exist"
MSG_UNKNOWN_TABLE = "no table {table!r} in {url}; tables there: {tables}"
MSG_QUERY_FAILED = "the query on {url} failed: {reason}"
MSG_MIXED_TYPES = (
    "column {column!r} read from {url} holds values of more than one type ({error}); "
    "cast it to one type in a query"
)
MSG_NO_ROWS = "{source} has no rows"

_SQL_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class DataSource:
    """A file, a glob of Parquet files, or a SQL table or query holding decisions.

    Parameters
    ----------
    path : str or None, default None
        A ``.csv``, ``.csv.gz`` or ``.parquet`` file, a glob of Parquet files
        (``"data/*.parquet"``), or a folder of Parquet files.
    url : str or None, default None
        A SQLAlchemy database URL (``postgresql://user:pw@host/db``, ``sqlite:///f.db``).
    table : str or None, default None
        With ``url``: the table to read (``"schema.table"`` for another schema).
    query : str or None, default None
        With ``url``: a SELECT run as given (see :func:`read_source`).

    Raises
    ------
    DataValidationError
        Unless exactly one of ``path`` and ``url`` is given, and a ``url`` comes with
        exactly one of ``table`` and ``query``.

    Examples
    --------
    >>> DataSource(url="postgresql://ada:secret@db/credit", table="decisions").describe()
    "table 'decisions' at postgresql://ada:***@db/credit"
    """

    path: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        if self.path is not None and not isinstance(self.path, str):
            object.__setattr__(self, "path", os.fspath(self.path))
        if (self.path is None) == (self.url is None):
            given = "both" if self.path is not None else "neither"
            raise DataValidationError(MSG_PATH_OR_URL.format(given=given))
        if self.path is not None:
            if self.table is not None or self.query is not None:
                raise DataValidationError(MSG_TABLE_WITHOUT_URL.format(path=self.path))
            return
        if (self.table is None) == (self.query is None):
            given = "both" if self.table is not None else "neither"
            raise DataValidationError(
                MSG_TABLE_OR_QUERY.format(url=redact_url(str(self.url)), given=given)
            )

    def describe(self) -> str:
        """Return what this source is, in words, with any password hidden.

        Examples
        --------
        >>> DataSource(path="decisions.csv").describe()
        'file decisions.csv'
        """
        if self.path is not None:
            kind = "files" if _is_many(self.path) else "file"
            return f"{kind} {self.path}"
        url = redact_url(str(self.url))
        if self.table is not None:
            return f"table {self.table!r} at {url}"
        query = " ".join(str(self.query).split())
        shown = query if len(query) <= 200 else query[:197] + "..."
        return f"query at {url}: {shown}"


def as_source(data: DataSource | str | os.PathLike[str]) -> DataSource:
    """Return ``data`` as a :class:`DataSource`; a str or path is a file, glob or folder.

    Examples
    --------
    >>> as_source("data/*.parquet").path
    'data/*.parquet'
    """
    if isinstance(data, DataSource):
        return data
    if isinstance(data, str | os.PathLike):
        return DataSource(path=os.fspath(data))
    raise TypeError(f"data must be a DataSource, a str or a path, not {type(data).__name__}")


def read_source(
    source: DataSource | str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> pa.Table:
    """Read a file, a glob of Parquet files or a SQL table or query into one Arrow table.

    The data are read once: CSV with :mod:`pyarrow.csv` (gzip by the ``.gz`` suffix),
    Parquet with :mod:`pyarrow.parquet`, a glob or folder with :mod:`pyarrow.dataset`
    after checking that every file has the first file's schema. A SQL source is read
    through SQLAlchemy in batches of rows, in a transaction that is never committed and
    marked read-only where the database supports it (PostgreSQL ``SET TRANSACTION READ
    ONLY``, SQLite ``PRAGMA query_only``); a query is run as given, so it should be a
    SELECT by someone allowed to read those rows. A table name is reflected, so it is
    quoted by SQLAlchemy, never pasted into SQL.

    Parameters
    ----------
    source : DataSource, str or path
        What to read; a str or path is a file, a glob or a folder.
    max_bytes : int or None, default None
        Refuse files whose total size on disk exceeds this, before reading; for SQL,
        stop once the rows read take more than this in memory.
    progress : callable or None, default None
        Called as ``progress(fraction, message)``, at least at the start and the end.

    Returns
    -------
    pyarrow.Table
        Every row and column, as typed by the reader.

    Raises
    ------
    DataValidationError
        Naming the file or URL (password hidden) for a missing or empty file, a glob
        that matches nothing, an unknown suffix, unreadable content, a file of a glob
        with another schema, a size over ``max_bytes``, an unreachable database, an
        unknown table, a failing query, or no rows.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = path.write_text("id,y\\n1,0\\n2,1\\n")
    >>> read_source(str(path)).num_rows
    2
    """
    src = as_source(source)
    report = progress or _no_progress
    report(0.0, f"reading {src.describe()}")
    if src.path is not None:
        table = _read_path(src.path, max_bytes, report)
    else:
        table = _read_sql(src, max_bytes, report)
    if table.num_rows == 0:
        raise DataValidationError(MSG_NO_ROWS.format(source=src.describe()))
    report(1.0, f"read {table.num_rows:,} rows and {table.num_columns} columns")
    return table


def _no_progress(fraction: float, message: str) -> None:
    """Ignore progress reports."""


def _is_many(path: str) -> bool:
    return glob.has_magic(path) or Path(path).is_dir()


# ---------------------------------------------------------------- files


def _read_path(path: str, max_bytes: int | None, report: Progress) -> pa.Table:
    if _is_many(path):
        return _read_glob(path, max_bytes, report)
    file = Path(path)
    if not file.is_file():
        raise DataValidationError(MSG_NO_FILE.format(path=file))
    size = file.stat().st_size
    if size == 0:
        raise DataValidationError(MSG_EMPTY_FILE.format(path=file))
    _check_size(str(file), size, max_bytes)
    name = file.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return _read_csv(file)
    if name.endswith(".parquet"):
        return _read_parquet(file, report)
    suffix = "".join(file.suffixes[-2:]) if name.endswith(".gz") else file.suffix
    raise DataValidationError(MSG_BAD_SUFFIX.format(path=file, suffix=suffix))


def _check_size(what: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise DataValidationError(MSG_TOO_LARGE.format(what=what, size=size, limit=max_bytes))


def _read_csv(file: Path) -> pa.Table:
    try:
        return pa_csv.read_csv(file)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        if "Empty CSV file" in str(exc):
            raise DataValidationError(MSG_EMPTY_FILE.format(path=file)) from None
        raise DataValidationError(
            MSG_UNREADABLE.format(path=file, kind="CSV", error=exc)
        ) from None


def _read_parquet(file: Path, report: Progress) -> pa.Table:
    # One row group at a time and without pre-buffering whole column chunks: the peak
    # stays near the table's own size (``read_table`` peaks near twice it).
    try:
        reader = pq.ParquetFile(file, pre_buffer=False)
        n_groups = reader.num_row_groups
        parts = []
        for i in range(n_groups):
            parts.append(reader.read_row_group(i))
            report(0.95 * (i + 1) / n_groups, f"read {i + 1} of {n_groups} row groups")
        schema = reader.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(
            MSG_UNREADABLE.format(path=file, kind="Parquet", error=exc)
        ) from None
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _read_glob(pattern: str, max_bytes: int | None, report: Progress) -> pa.Table:
    files = _glob_files(pattern)
    _check_size(f"{pattern} ({len(files)} files)", sum(f.stat().st_size for f in files),
                max_bytes)
    schema = _common_schema(pattern, files)
    options = pa_ds.ParquetFragmentScanOptions(pre_buffer=False)
    file_format = pa_ds.ParquetFileFormat(default_fragment_scan_options=options)
    dataset = pa_ds.dataset([str(f) for f in files], schema=schema, format=file_format)
    parts = []
    for i, fragment in enumerate(dataset.get_fragments(), start=1):
        try:
            # Row group by row group, as for one file, to keep the peak low.
            parts += [group.to_table(schema=schema) for group in fragment.split_by_row_group()]
        except (pa.ArrowException, OSError) as exc:
            raise DataValidationError(MSG_UNREADABLE.format(
                path=fragment.path, kind="Parquet", error=exc)) from None
        report(0.95 * i / len(files), f"read {i} of {len(files)} files")
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _glob_files(pattern: str) -> list[Path]:
    folder = Path(pattern)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    else:
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise DataValidationError(MSG_NO_MATCH.format(pattern=pattern))
    for file in files:
        if not file.name.lower().endswith(".parquet"):
            raise DataValidationError(MSG_GLOB_SUFFIX.format(pattern=pattern, path=file))
        if file.stat().st_size == 0:
            raise DataValidationError(MSG_EMPTY_FILE.format(path=file))
    return files


def _common_schema(pattern: str, files: list[Path]) -> pa.Schema:
    schemas = []
    for file in files:
        try:
            schemas.append(pq.read_schema(file))
        except (pa.ArrowException, OSError) as exc:
            raise DataValidationError(
                MSG_UNREADABLE.format(path=file, kind="Parquet", error=exc)
            ) from None
    first = schemas[0]
    for file, schema in zip(files[1:], schemas[1:], strict=True):
        if not schema.equals(first, check_metadata=False):
            raise DataValidationError(MSG_SCHEMA_DIFFERS.format(
                path=file, first=files[0], pattern=pattern,
                difference=_schema_difference(first, schema)))
    return first


def _schema_difference(first: pa.Schema, other: pa.Schema) -> str:
    expected = {f.name: str(f.type) for f in first}
    found = {f.name: str(f.type) for f in other}
    parts = []
    if missing := [n for n in expected if n not in found]:
        parts.append(f"missing {', '.join(missing)}")
    if extra := [n for n in found if n not in expected]:
        parts.append(f"extra {', '.join(extra)}")
    parts += [f"{n} is {found[n]} not {t}" for n, t in expected.items()
              if n in found and found[n] != t]
    return "; ".join(parts) or "the columns are in another order"


# ---------------------------------------------------------------- SQL


def _read_sql(src: DataSource, max_bytes: int | None, report: Progress) -> pa.Table:
    url = _parse_url(str(src.url))
    shown = redact_url(url)
    try:
        engine = create_engine(url)
    except (NoSuchModuleError, ImportError) as exc:
        raise DataValidationError(MSG_NO_DRIVER.format(url=shown, reason=exc)) from None
    try:
        with _connect(engine, url, shown) as conn:
            _read_only(conn)
            if src.table is not None:
                stmt: Any = select(_reflect(conn, src.table, shown))
            else:
                stmt = text(str(src.query))
            return _fetch(conn, stmt, src, shown, max_bytes, report)
    finally:
        engine.dispose()


def _parse_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise DataValidationError(MSG_BAD_URL.format(url=redact_url(raw))) from None
    if url.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the PostgreSQL driver fairpanel installs.
        url = url.set(drivername="postgresql+psycopg")
    return url


def _connect(engine: Any, url: URL, shown: str) -> Connection:
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        memory = database in ("", ":memory:") or database.startswith("file:")
        # Connecting would create an empty database file where a mistyped path points.
        if not memory and not Path(database).is_file():
            raise DataValidationError(MSG_NO_SQLITE_FILE.format(url=shown, path=database))
    try:
        conn: Connection = engine.connect()
    except (DBAPIError, SQLAlchemyError) as exc:
        raise DataValidationError(MSG_NO_CONNECT.format(url=shown, reason=_reason(exc))) \
            from None
    return conn


def _read_only(conn: Connection) -> None:
    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")


def _reflect(conn: Connection, name: str, shown: str) -> Table:
    inspector = inspect(conn)
    schema, table = None, name
    if not inspector.has_table(name) and "." in name:
        schema, table = name.split(".", 1)
    if not inspector.has_table(table, schema=schema):
        known = inspector.get_table_names()
        listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise DataValidationError(MSG_UNKNOWN_TABLE.format(
            table=name, url=shown, tables=listed or "none"))
    return Table(table, MetaData(), autoload_with=conn, schema=schema)


def _fetch(conn: Connection, stmt: Any, src: DataSource, shown: str,
           max_bytes: int | None, report: Progress) -> pa.Table:
    try:
        result = conn.execution_options(yield_per=_SQL_BATCH_ROWS).execute(stmt)
        names = list(result.keys())
        parts: list[pa.Table] = []
        size = n_rows = 0
        for rows in result.partitions():
            part = pa.table(_columns(rows, names, shown), names=names)
            parts.append(part)
            size, n_rows = size + part.nbytes, n_rows + part.num_rows
            if max_bytes is not None and size > max_bytes:
                raise DataValidationError(
                    MSG_SQL_TOO_LARGE.format(source=src.describe(), limit=max_bytes))
            report(0.5, f"read {n_rows:,} rows")
    except DBAPIError as exc:
        raise DataValidationError(MSG_QUERY_FAILED.format(url=shown, reason=_reason(exc))) \
            from None
    except (pa.ArrowException, SQLAlchemyError) as exc:
        raise DataValidationError(MSG_QUERY_FAILED.format(url=shown, reason=exc)) from None
    if not parts:
        return pa.table([pa.array([], pa.null()) for _ in names], names=names)
    # A column that is all NULL in one batch is typed null there; permissive promotion
    # gives it the type of the other batches.
    return pa.concat_tables(parts, promote_options="permissive")


def _columns(rows: Sequence[Any], names: list[str], shown: str) -> list[pa.Array]:
    arrays = []
    for i, name in enumerate(names):
        try:
            arrays.append(pa.array([row[i] for row in rows]))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataValidationError(MSG_MIXED_TYPES.format(column=name, url=shown,
                                                             error=exc)) from None
    return arrays


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
