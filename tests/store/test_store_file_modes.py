"""The SQLite store holds password hashes and backgrounds: created 0600 in a 0700 data
folder whatever the umask, and an older store found open to others is tightened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from audits.roles import Actor, Role
from audits.store import Store
from audits.store.db import data_dir, default_database_url, private

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    before = os.umask(0o000)  # the worst case: everything created world-writable
    try:
        yield
    finally:
        os.umask(before)


def test_the_default_store_is_private_from_the_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, permissive_umask: None) -> None:
    home = tmp_path / "nested" / "home"
    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    monkeypatch.delenv("FAIRPANEL_DATABASE_URL", raising=False)
    with Store(default_database_url()) as store:
        store.add_user(Actor.system(), "ada", Role.ADMIN, password="correct horse battery")
        files = {p.name: mode(p) for p in home.iterdir()}
    assert mode(home) == 0o700
    assert files["fairpanel.db"] == 0o600
    # WAL mode's side files, while the store is open, take the database file's mode.
    side = {name: m for name, m in files.items() if name.endswith(("-wal", "-shm"))}
    assert side == {"fairpanel.db-wal": 0o600, "fairpanel.db-shm": 0o600}


def test_an_explicit_sqlite_file_is_created_0600(tmp_path: Path,
                                                  permissive_umask: None) -> None:
    path = tmp_path / "store.db"
    with Store(f"sqlite:///{path}"):
        pass
    assert mode(path) == 0o600


def test_a_loose_store_and_folder_are_tightened(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    path = home / "fairpanel.db"
    with Store(f"sqlite:///{path}"):
        pass
    path.chmod(0o644)  # as an older fairpanel left it
    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    assert data_dir() == home and mode(home) == 0o700
    with Store(f"sqlite:///{path}") as store:
        assert store.list_users() == []  # the data is intact
    assert mode(path) == 0o600


def test_a_loose_file_of_another_owner_is_reported(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o644)
    monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 1)  # not ours
    with pytest.warns(UserWarning, match=r"shared\.db is readable or writable by other "
                                         r"users \(mode 644\).*chmod 600"):
        private(path, 0o600)
    assert mode(path) == 0o644
