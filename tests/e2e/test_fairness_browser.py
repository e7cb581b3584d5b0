"""The fairness audit in a real headless Chromium against a running ``streamlit run`` server.

The data scientist runs an audit from the page's form and sees the verdicts, tables and
charts (screenshot ``artifacts/e2e_fairness.png``); the compliance officer then reads
the same run with no way to start one. The store is prepared before the server starts
(german_credit with the logistic-regression default model, fast to train), so this test
is about the page, not the first-run demo preparation ``test_browser.py`` covers.
Skipped when ``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import re
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
UI_TIMEOUT_MS = 120_000
N_BOOT = 200

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Server:
    """A running dashboard on a prepared store."""

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
    """Prepare the demo store, start the dashboard on a free port; always stop it."""
    from audits.demo import ensure_demo
    from audits.store import Store

    _require_browser()
    home = tmp_path / "home"
    home.mkdir()
    database_url = f"sqlite:///{home / 'fairpanel.db'}"
    settings = {"FAIRPANEL_HOME": str(home), "FAIRPANEL_DATABASE_URL": database_url,
                "FAIRPANEL_DEMO_DATASET": "german_credit", "FAIRPANEL_AUTH": "demo"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in settings.items():
            mp.setenv(key, value)  # the model file goes under FAIRPANEL_HOME
        with Store(database_url) as store:
            ensure_demo(store, kind="logistic_regression")
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


def test_data_scientist_runs_a_fairness_audit(server: Server) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    from audits.store import Store

    def open_fairness_page(page: Page, persona: str) -> None:
        button = page.get_by_role("button", name=persona, exact=True)
        expect(button).to_be_visible(timeout=UI_TIMEOUT_MS)
        button.click()
        page.get_by_test_id("stSidebar").get_by_role("link", name="Fairness audit").click(
            timeout=60_000)
        expect(page.get_by_role("heading", name="Fairness audit")).to_be_visible(
            timeout=60_000)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(server.url)
            open_fairness_page(page, "Data scientist")
            replicates = page.get_by_role("spinbutton", name="Bootstrap replicates")
            replicates.fill(str(N_BOOT))
            replicates.press("Tab")  # Enter would submit the form itself
            page.get_by_role("button", name="Run audit").click()
            expect(page.get_by_text("Audit stored as run", exact=False)).to_be_visible(
                timeout=UI_TIMEOUT_MS)
            with Store(server.database_url) as store:
                run = store.latest_audit_run()
            assert run is not None and run.status == "completed"
            assert run.config["kind"] == "fairness" and run.config["n_boot"] == N_BOOT
            for heading in ("Per-group metrics", "Metrics by group", "Disparities",
                            "Decision threshold", "Provenance"):
                expect(page.get_by_role("heading", name=heading)).to_be_visible()
            expect(page.get_by_text(run.config["config_sha256"]).first).to_be_visible()
            expect(page.get_by_text("insufficient evidence", exact=False).first).to_be_visible()
            # Streamlit scrolls inside its main block, so a full-page shot needs a tall
            # viewport rather than full_page=True.
            page.set_viewport_size({"width": 1600, "height": 5200})
            expect(page.locator(".js-plotly-plot")).to_have_count(5, timeout=30_000)
            page.wait_for_timeout(1000)  # let the charts finish drawing
            page.screenshot(path=str(ARTIFACTS / "e2e_fairness.png"))
            page.set_viewport_size({"width": 1600, "height": 1000})
            page.get_by_test_id("stSidebar").get_by_role(
                "button", name="Switch persona").click()
            open_fairness_page(page, "Compliance officer")
            expect(page.get_by_text("only data scientists", exact=False)).to_be_visible()
            expect(page.get_by_role("button", name="Run audit")).to_have_count(0)
            chosen = page.get_by_role("combobox", name="Stored fairness run")
            expect(chosen).to_have_value(re.compile(rf"^#{run.id} · german_credit · "))
        finally:
            browser.close()
    assert "Traceback" not in server.log.read_text()
