"""What the browser tests share: Debian's Chromium, and a dashboard server on a free port.

No browser test depends on how fast the machine is. Every wait is on what the page shows
when it is ready (an element, Streamlit's script run finished, the charts drawn) or on
the server's health endpoint answering; the one bound, :data:`HANG_TIMEOUT_S`, is set
here for every wait and only stops a test that hangs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from server_support import free_port, wait_until_answers

ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = ROOT / "app" / "streamlit_app.py"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
#: A guard against a hang, not a speed requirement: the longest wait, the first visit to
#: an empty store, prepares the whole demo (about 25 s on an idle machine).
HANG_TIMEOUT_S = 300.0
HANG_TIMEOUT_MS = HANG_TIMEOUT_S * 1000
#: Every Plotly chart on the page has been laid out and drawn.
CHARTS_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .every(chart => chart._fullLayout !== undefined && chart.querySelector('.main-svg'))"""
#: Two animation frames: what the last change drew has been painted.
NEXT_PAINT = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


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
    port = free_port()
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


@contextmanager
def browser_page(**options: Any) -> Iterator[Any]:
    """Yield a new page in Debian's headless Chromium (``options`` go to ``new_page``).

    Every action, navigation and ``expect`` on it waits until the page shows what it
    waits for, up to :data:`HANG_TIMEOUT_MS`; Playwright's own defaults (5 s for an
    ``expect``, 30 s for an action) failed on a busy machine.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=HANG_TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    timeout=HANG_TIMEOUT_MS)
        try:
            page = browser.new_page(**options)
            page.set_default_timeout(HANG_TIMEOUT_MS)
            page.set_default_navigation_timeout(HANG_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def wait_until_idle(page: Any) -> None:
    """Wait until the app's script run has finished (Streamlit marks it on ``stApp``)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state",
                                                           "notRunning")


def wait_until_drawn(page: Any) -> None:
    """Wait until the page is finished and painted: the script run over, every frame
    loaded, every Plotly chart drawn, the fonts in; then screenshots show the page."""
    wait_until_idle(page)
    for frame in page.frames:
        frame.wait_for_load_state("load")
    page.wait_for_function(CHARTS_DRAWN)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.evaluate(NEXT_PAINT)


def open_page_as(page: Any, persona: str, title: str) -> None:
    """Pick ``persona`` in demo sign-in, open the sidebar page titled ``title`` and wait
    until its script run has finished."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name=persona, exact=True)
    expect(button).to_be_visible()
    button.click()
    page.get_by_test_id("stSidebar").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    wait_until_idle(page)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Return once ``/_stcore/health`` answers ``ok``; fail if the server exits first."""
    wait_until_answers(f"{url}/_stcore/health", proc, name="streamlit", log=log,
                       ok=lambda status, body: body.strip() == "ok")
