"""What the browser tests share: Debian's Chromium, and a dashboard server on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = ROOT / "app" / "streamlit_app.py"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    """A running dashboard."""

    url: str
    log: Path
    database_url: str


def require_browser() -> None:
    """Skip without Debian's chromium, or fail when ``FAIRPANEL_REQUIRE_BROWSER=1``."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: the browser tests need Debian's chromium"
    if os.environ.get("FAIRPANEL_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (FAIRPANEL_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@contextmanager
def running_server(tmp_path: Path, *,
                   prepare: Callable[[dict[str, str]], None] | None = None) -> Iterator[Server]:
    """Start ``streamlit run`` on a free port with a fresh store; always stop it.

    ``prepare`` receives the server's settings (``FAIRPANEL_*`` variables) and may fill
    the store before the server starts.
    """
    require_browser()
    home = tmp_path / "home"
    home.mkdir()
    database_url = f"sqlite:///{home / 'fairpanel.db'}"
    settings = {"FAIRPANEL_HOME": str(home), "FAIRPANEL_DATABASE_URL": database_url,
                "FAIRPANEL_DEMO_DATASET": "german_credit", "FAIRPANEL_AUTH": "demo"}
    if prepare is not None:
        prepare(settings)
    env = {**os.environ, **settings,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")]))}
    port = _free_port()
    log = tmp_path / "streamlit.log"
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
           "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        yield Server(url=url, log=log, database_url=database_url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def prepare_logistic_demo(settings: dict[str, str]) -> None:
    """Fill the store with the german_credit demo and a logistic regression (fast)."""
    from audits.demo_panel import ensure_full_demo
    from audits.store import Store

    with pytest.MonkeyPatch.context() as mp:
        for key, value in settings.items():
            mp.setenv(key, value)  # the model file goes under FAIRPANEL_HOME
        with Store(settings["FAIRPANEL_DATABASE_URL"]) as store:
            ensure_full_demo(store, kind="logistic_regression")


def open_page_as(page: Any, persona: str, title: str, *, timeout_ms: int) -> None:
    """Pick ``persona`` in demo sign-in, then open the sidebar page titled ``title``."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name=persona, exact=True)
    expect(button).to_be_visible(timeout=timeout_ms)
    button.click()
    page.get_by_test_id("stSidebar").get_by_role("link", name=title).click(timeout=60_000)
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit did not answer /_stcore/health in {STARTUP_TIMEOUT_S:.0f} s:\n"
                f"{log.read_text()}")
