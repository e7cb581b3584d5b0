"""The fairness audit in a real headless Chromium against a running ``streamlit run`` server.

The data scientist runs an audit from the page's form and sees the verdicts, tables and
charts (screenshot ``artifacts/e2e_fairness.png``); the compliance officer then reads
the same run with no way to start one. The store is prepared before the server starts
(german_credit with the logistic-regression default model, fast to train), so this test
is about the page, not the first-run demo preparation ``test_browser.py`` covers.
Skipped when ``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re

import pytest
from browser_support import ARTIFACTS, Server, browser_page, open_page_as, wait_until_drawn

N_BOOT = 200

pytestmark = pytest.mark.e2e


def test_data_scientist_runs_a_fairness_audit(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1600, "height": 1000}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Data scientist", "Fairness audit")
        replicates = page.get_by_role("spinbutton", name="Bootstrap replicates")
        replicates.fill(str(N_BOOT))
        replicates.press("Tab")  # Enter would submit the form itself
        page.get_by_role("button", name="Run audit").click()
        expect(page.get_by_text("Audit stored as run", exact=False)).to_be_visible()
        with Store(prepared_server.database_url) as store:
            run = store.latest_audit_run()
        assert run is not None and run.status == "completed"
        assert run.config["kind"] == "fairness" and run.config["n_boot"] == N_BOOT
        for heading in ("Per-group metrics", "Metrics by group",
                        "Disparities, most severe first", "Calibration by group",
                        "Decision threshold", "Provenance"):
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.get_by_text(run.config["config_sha256"]).first).to_be_visible()
        expect(page.get_by_text("insufficient evidence", exact=False).first).to_be_visible()
        # Streamlit scrolls inside its main block, so a full-page shot needs a tall
        # viewport rather than full_page=True.
        page.set_viewport_size({"width": 1600, "height": 5800})
        # Four metrics, the calibration plot and the threshold chart.
        expect(page.locator(".js-plotly-plot")).to_have_count(6)
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_fairness.png"))
        page.set_viewport_size({"width": 1600, "height": 1000})
        page.get_by_test_id("stSidebar").get_by_role(
            "button", name="Switch persona").click()
        open_page_as(page, "Compliance officer", "Fairness audit")
        expect(page.get_by_text("only data scientists", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Run audit")).to_have_count(0)
        chosen = page.get_by_role("combobox", name="Stored fairness run")
        expect(chosen).to_have_value(re.compile(rf"^#{run.id} · german_credit · "))
    assert "Traceback" not in prepared_server.log.read_text()
