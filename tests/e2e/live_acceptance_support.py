"""What the live acceptance walk-through needs (imported by basename): the ``fairpanel``
command run as a subprocess in a fresh home, and servers started as subprocesses that are
always stopped. The system itself comes from :mod:`system_files`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from server_support import HANG_TIMEOUT_S, wait_until_answers

__all__ = ["FEATURES", "SENSITIVE", "Deployment", "running"]

ROOT = Path(__file__).resolve().parents[2]
#: The model's inputs, and the sensitive features held apart from them.
FEATURES = ("income", "debt", "region")
SENSITIVE = ("sex", "age_band")


@dataclass(frozen=True)
class Deployment:
    """A fresh fairpanel home, the environment of its commands, and its store's URL."""

    folder: Path
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return Path(self.env["FAIRPANEL_HOME"])

    @property
    def url(self) -> str:
        """The default store of the home (no ``FAIRPANEL_DATABASE_URL`` is set)."""
        return f"sqlite:///{self.home / 'fairpanel.db'}"

    @classmethod
    def fresh(cls, folder: Path) -> Deployment:
        """A home in ``folder``; no other ``FAIRPANEL_*`` setting of this process leaks in."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FAIRPANEL_") or k == "FAIRPANEL_DEBUG"}
        env.update(FAIRPANEL_HOME=str(folder / "fairpanel-home"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        return cls(folder, env)

    def fairpanel(self, *argv: str, stdin: str | None = None) -> str:
        """Run ``fairpanel ARGV`` in the folder; fail the test unless it exits 0; return
        its standard output."""
        done = subprocess.run([sys.executable, "-m", "audits.cli", *argv], cwd=self.folder,
                              env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=HANG_TIMEOUT_S, check=False)
        assert done.returncode == 0, (f"fairpanel {' '.join(argv)} exited "
                                      f"{done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout


@contextmanager
def running(argv: list[str], deployment: Deployment, *, name: str, health: str,
            log: Path, stop: signal.Signals = signal.SIGINT,
            ok: Callable[[int, str], bool] = lambda status, body: status == 200,
            ) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``fairpanel ARGV`` as a server, wait until ``health`` answers ``ok``, and
    stop it with ``stop`` on the way out (killed if it outlives the hang guard)."""
    with log.open("wb") as out:  # the server's output, shown if it fails to start
        proc = subprocess.Popen([sys.executable, "-m", "audits.cli", *argv],
                                cwd=deployment.folder, env=deployment.env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until_answers(health, proc, ok=ok, name=name, log=log)
        yield proc
    finally:
        proc.send_signal(stop)
        try:
            proc.wait(timeout=HANG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=HANG_TIMEOUT_S)
            pytest.fail(f"{name} did not stop within {HANG_TIMEOUT_S:.0f} s of {stop.name}")
