"""The main flow in a real headless Chromium against a running ``streamlit run`` server.

A fresh store (temporary ``FAIRPANEL_HOME``) makes the first page load prepare the
german_credit demo, so this also checks that a first ``streamlit run`` on an empty store
works. Skipped when ``/usr/bin/chromium`` is missing, unless
``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
#: The first page load trains the demo model; allow for a slow machine.
UI_TIMEOUT_MS = 180_000

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Server:
    """A running dashboard."""

    url: str
    log: Path
    database_url: str


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: the browser tests need Debian's chromium"
    if os.environ.get("FAIRPANEL_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (FAIRPANEL_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Start the dashboard on a free port with an empty store; always stop it."""
    _require_browser()
    home = tmp_path / "home"
    home.mkdir()
    database_url = f"sqlite:///{home / 'fairpanel.db'}"
    env = {**os.environ, "FAIRPANEL_HOME": str(home), "FAIRPANEL_DATABASE_URL": database_url,
           "FAIRPANEL_DEMO_DATASET": "german_credit", "FAIRPANEL_AUTH": "demo",
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


def test_data_scientist_sees_dataset_provenance(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(server.url)
            persona = page.get_by_role("button", name="Data scientist", exact=True)
            expect(persona).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("DEMO", exact=False).first).to_be_visible()
            persona.click()
            expect(page.get_by_role("heading", name="Dataset & model")).to_be_visible(
                timeout=60_000)
            with Store(server.database_url) as store:
                dataset = store.list_datasets()[0]
            expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible()
            expect(page.get_by_text(dataset.sha256).first).to_be_visible()
            expect(page.get_by_text("German credit (UCI Statlog)").first).to_be_visible()
            expect(page.get_by_text("Held-out rows", exact=True)).to_be_visible()
            # Streamlit scrolls inside its main block, so a full-page shot needs a tall
            # viewport rather than full_page=True.
            page.set_viewport_size({"width": 1600, "height": 2200})
            expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=30_000)
            page.wait_for_timeout(1000)  # let the charts finish drawing
            page.screenshot(path=str(ARTIFACTS / "e2e_overview.png"))
            sidebar = page.get_by_test_id("stSidebar")
            expect(sidebar.get_by_text("Dana (data scientist)")).to_be_visible()
            expect(sidebar.get_by_role("link", name="Users")).to_have_count(0)
            sidebar.get_by_role("button", name="Switch persona").click()
            expect(page.get_by_role("button", name="Admin", exact=True)).to_be_visible(
                timeout=60_000)
        finally:
            browser.close()
    assert "Traceback" not in server.log.read_text()
