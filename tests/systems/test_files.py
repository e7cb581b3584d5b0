"""The store's content-addressed Parquet files: names are hashes, modes are private."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audits.systems.files import read_stored, store_parquet, stored_path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("FAIRPANEL_HOME", str(folder))
    return folder


def _table(n: int = 5000) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table({
        "id": np.arange(n),
        "sex": pa.array(rng.choice(["f", "m", "x"], n)),
        "score": rng.random(n),
        "income": pa.array(np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
                           from_pandas=True),
    })


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("kind", ["data", "sensitive"])
def test_file_is_named_by_the_sha256_of_its_bytes(home: Path, kind: str) -> None:
    sha, rel = store_parquet(_table(), kind)
    path = home / kind / f"{sha}.parquet"
    assert rel == f"{kind}/{sha}.parquet"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert _mode(path) == 0o600 and _mode(home / kind) == 0o700
    assert pq.read_table(path).equals(_table())
    assert sorted(p.name for p in (home / kind).iterdir()) == [f"{sha}.parquet"]


def test_same_table_gives_the_same_bytes_whatever_its_chunks(home: Path) -> None:
    table = _table()
    chunked = pa.concat_tables([table.slice(0, 17), table.slice(17, 2000), table.slice(2017)])
    assert chunked.column("id").num_chunks == 3
    first = store_parquet(table, "data")
    assert store_parquet(table, "data") == first
    assert store_parquet(chunked, "data") == first
    assert store_parquet(_table(4999), "data")[0] != first[0]
    assert len(list((home / "data").iterdir())) == 2  # no temporary file left behind


def test_an_existing_corrupt_file_is_replaced(home: Path) -> None:
    sha, rel = store_parquet(_table(), "data")
    path = home / rel
    path.write_bytes(b"damaged")
    assert store_parquet(_table(), "data") == (sha, rel)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_a_loose_folder_is_tightened(home: Path) -> None:
    (home / "data").mkdir(parents=True)
    (home / "data").chmod(0o755)
    store_parquet(_table(10), "data")
    assert _mode(home / "data") == 0o700


def test_read_stored_checks_the_hash_first(home: Path) -> None:
    sha, rel = store_parquet(_table(), "sensitive")
    assert read_stored(rel, sha).equals(_table())
    assert read_stored(rel, sha, columns=["sex"]).column_names == ["sex"]
    path = home / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ValueError) as info:
        read_stored(rel, sha)
    message = str(info.value)
    assert str(path) in message and sha in message and actual in message
    path.unlink()
    with pytest.raises(ValueError, match=f"stored file {path} \\(sha256 {sha}\\) is missing"):
        read_stored(rel, sha)


@pytest.mark.parametrize("bad", ["../x.parquet", "/etc/x.parquet", "data/../../x.parquet",
                                 "models/x.parquet", "data/x.csv", "data/.incoming.parquet",
                                 "data/sub/x.parquet"])
def test_stored_paths_stay_in_the_data_folder(home: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="must be 'data/<sha256>.parquet'"):
        stored_path(bad)
    with pytest.raises(ValueError, match="must be 'data/<sha256>.parquet'"):
        read_stored(bad, "0" * 64)


def test_unknown_kind_is_refused(home: Path) -> None:
    with pytest.raises(ValueError, match="kind must be one of data, sensitive, not 'models'"):
        store_parquet(_table(3), "models")
