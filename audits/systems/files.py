"""The store's content-addressed Parquet files: written once, checked on every read.

A system version's decisions are copied once into ``data_dir()/data/<sha256>.parquet``,
and sensitive data given apart into ``data_dir()/sensitive/<sha256>.parquet``, where
``sha256`` is the hash of the file's bytes, so ``sha256sum`` on the file prints its
name. Folders are private to their owner (0700), files 0600. The Parquet settings are
fixed, so one pyarrow version writes the same table to the same bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from audits.models.files import file_sha256
from audits.store.db import DIR_MODE, FILE_MODE, data_dir, private

__all__ = ["KINDS", "file_sha256", "read_stored", "store_parquet", "stored_path"]

#: The folders of :func:`data_dir` that hold stored tables.
KINDS = ("data", "sensitive")

MSG_KIND = "kind must be one of {kinds}, not {kind!r}"
MSG_BAD_RELATIVE = (
    "stored path {path!r} must be 'data/<sha256>.parquet' or 'sensitive/<sha256>.parquet'"
)
MSG_STORED_MISSING = (
    "stored file {path} (sha256 {expected}) is missing: the store's data folder was "
    "moved or the file deleted"
)
MSG_STORED_CHANGED = (
    "stored file {path} has changed since it was registered: its sha256 is {actual}, "
    "expected {expected}; restore it from a backup or register the data again"
)

# Fixed writer settings: the same table always gives the same bytes (for one pyarrow
# version, whose name the file records).
_PARQUET_OPTIONS: dict[str, object] = {
    "compression": "zstd",
    "compression_level": 3,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 20,
    "store_schema": True,
}


def store_parquet(table: pa.Table, kind: str) -> tuple[str, str]:
    """Write ``table`` as Parquet into the store's ``kind`` folder, named by its hash.

    The bytes go to a private temporary file in the target folder, are hashed, and the
    file is renamed atomically to ``<sha256>.parquet``; when a file of that name (and
    content) exists already, it is kept and the temporary file dropped.

    Parameters
    ----------
    table : pyarrow.Table
        The rows to store.
    kind : {"data", "sensitive"}
        The folder of :func:`~audits.store.db.data_dir` to write into.

    Returns
    -------
    sha256 : str
        The hex sha256 of the file's bytes.
    relative_path : str
        ``"<kind>/<sha256>.parquet"``, relative to the data folder.

    Examples
    --------
    >>> sha, rel = store_parquet(pa.table({"x": [1, 2]}), "data")
    >>> rel == f"data/{sha}.parquet"
    True
    """
    if kind not in KINDS:
        raise ValueError(MSG_KIND.format(kinds=", ".join(KINDS), kind=kind))
    folder = data_dir() / kind
    folder.mkdir(mode=DIR_MODE, exist_ok=True)
    private(folder, DIR_MODE)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".parquet")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            pq.write_table(table, out, use_dictionary=_dictionary_columns(table.schema),
                           **_PARQUET_OPTIONS)
            out.flush()
            os.fsync(out.fileno())
        sha256 = file_sha256(temp)
        final = folder / f"{sha256}.parquet"
        if final.is_file() and file_sha256(final) == sha256:
            temp.unlink()
        else:
            os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    private(final, FILE_MODE)
    return sha256, f"{kind}/{sha256}.parquet"


def _dictionary_columns(schema: pa.Schema) -> list[str] | bool:
    """Dictionary-encode text columns only: trying it on millions of distinct numbers
    costs a fifth of the write and falls back to plain encoding anyway."""
    names = [f.name for f in schema
             if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
             or pa.types.is_dictionary(f.type) or pa.types.is_string_view(f.type)]
    return names or False


def stored_path(relative_path: str) -> Path:
    """Return the absolute path of a stored table from its path relative to the data folder.

    Raises
    ------
    ValueError
        Unless ``relative_path`` is ``data/<name>.parquet`` or ``sensitive/<name>.parquet``
        (so a stored path can never point outside the data folder).

    Examples
    --------
    >>> stored_path("data/abc.parquet").name
    'abc.parquet'
    """
    parts = PurePosixPath(relative_path).parts
    if len(parts) != 2 or parts[0] not in KINDS or not parts[1].endswith(".parquet") \
            or parts[1].startswith(".") or "\\" in relative_path:
        raise ValueError(MSG_BAD_RELATIVE.format(path=relative_path))
    return data_dir() / parts[0] / parts[1]


def read_stored(relative_path: str, sha256: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a stored table after checking that its bytes still hash to ``sha256``.

    Parameters
    ----------
    relative_path : str
        As returned by :func:`store_parquet`, e.g. ``"data/<sha256>.parquet"``.
    sha256 : str
        The hash recorded when the table was stored.
    columns : sequence of str or None, default None
        Read only these columns.

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    ValueError
        Naming the path, the expected and the actual hash, when the file is missing or
        its content changed.

    Examples
    --------
    >>> sha, rel = store_parquet(pa.table({"x": [1, 2]}), "data")
    >>> read_stored(rel, sha).column("x").to_pylist()
    [1, 2]
    """
    path = stored_path(relative_path)
    if not path.is_file():
        raise ValueError(MSG_STORED_MISSING.format(path=path, expected=sha256))
    actual = file_sha256(path)
    if actual != sha256:
        raise ValueError(MSG_STORED_CHANGED.format(path=path, actual=actual, expected=sha256))
    return pq.read_table(path, columns=list(columns) if columns is not None else None)
