"""``fairpanel serve`` and ``fairpanel demo``: demo mode only when asked for, only on a
store of demo accounts and a loopback address; the server stops with the command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from server_support import free_port

from audits.cli import command as cli
from audits.roles import Actor, Role
from audits.store import Store

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from browser_support import HANG_TIMEOUT_S, _wait_healthy  # noqa: E402


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` exports ``--database-url``; give it back after each test."""
    monkeypatch.delenv("FAIRPANEL_DATABASE_URL", raising=False)
    monkeypatch.delenv("FAIRPANEL_AUTH", raising=False)


@pytest.fixture
def real_store(tmp_path: Path) -> str:
    """A store with one local user (a password-holding admin), and its URL."""
    url = f"sqlite:///{tmp_path / 'real.db'}"
    with Store(url) as store:
        store.add_user(Actor.system(), "ada", Role.ADMIN, password="correct horse battery")
    return url


@pytest.mark.parametrize("argv", [["demo"], ["serve", "--auth", "demo"]])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org", ""])
def test_demo_on_a_non_loopback_host_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], host: str) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out, err = run(capsys, "--database-url", url, *argv, "--host", host)
    assert code == 2
    assert "demo mode (personas without passwords) is served only on a loopback" in err
    assert not (tmp_path / "fresh.db").exists()  # refused before anything was written


@pytest.mark.parametrize("argv", [["demo", "--no-serve"], ["demo"],
                                  ["serve", "--auth", "demo"]])
def test_demo_on_a_store_with_a_local_user_is_refused_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], real_store: str, argv: list[str]) -> None:
    with Store(real_store) as store:
        n_log = len(store.log_entries())
    code, _, err = run(capsys, "--database-url", real_store, *argv)
    assert code == 2
    assert "1 user(s) who are not demo accounts (e.g. 'ada')" in err
    with Store(real_store) as store:
        assert [u.username for u in store.list_users()] == ["ada"]  # no persona written
        assert len(store.log_entries()) == n_log
        assert store.list_audit_runs() == []


def test_demo_asked_for_through_the_environment_is_checked_too(
        capsys: pytest.CaptureFixture[str], real_store: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_AUTH", "demo")
    code, _, err = run(capsys, "--database-url", real_store, "serve")
    assert code == 2 and "not demo accounts" in err


def test_serve_stops_its_server_on_sigterm(real_store: str, tmp_path: Path) -> None:
    if not Path("/proc/self/task").is_dir():
        pytest.skip("finds the server process through /proc")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("FAIRPANEL_AUTH", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        fairpanel = subprocess.Popen(
            [sys.executable, "-m", "audits.cli", "--database-url", real_store, "serve",
             "--port", str(port), "--host", "127.0.0.1"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", fairpanel, log)
        children = _children(fairpanel.pid)
        assert len(children) == 1, children  # the streamlit server
        fairpanel.send_signal(signal.SIGTERM)
        assert fairpanel.wait(timeout=HANG_TIMEOUT_S) == 0
    finally:
        if fairpanel.poll() is None:
            fairpanel.kill()
            fairpanel.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(children[0], 0)  # the server is gone (and was reaped), not orphaned
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port),
                                                          timeout=HANG_TIMEOUT_S):
        pass  # nothing listens on the port any more


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]
