"""Explanations in a real headless Chromium against a running ``streamlit run`` server.

The data scientist computes explanations from the page and sees the per-group importance
charts, the gap decomposition, the likely proxies and the case explorer (screenshot
``artifacts/e2e_explanations.png``); the compliance officer then reads the same run with
no way to compute one. The store is prepared before the server starts (german_credit with
the logistic-regression default model, fast to train and explain). Skipped when
``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re

import pytest
from browser_support import ARTIFACTS, Server, browser_page, open_page_as, wait_until_drawn

pytestmark = pytest.mark.e2e


def test_data_scientist_computes_explanations(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1600, "height": 1000}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Data scientist", "Explanations")
        page.get_by_role("button", name="Compute explanations").click()
        expect(page.get_by_text("Explanations stored as run", exact=False)).to_be_visible()
        with Store(prepared_server.database_url) as store:
            run = store.latest_audit_run()
        assert run is not None and run.status == "completed"
        assert run.config["kind"] == "explanations"
        for heading in ("What the model relies on, per group",
                        "What drives the gap between two groups", "Likely proxies",
                        "Case explorer", "Provenance"):
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.get_by_text(run.config["config_sha256"]).first).to_be_visible()
        expect(page.get_by_text(run.results["cases"][0]["reason"])).to_be_visible()
        # Streamlit scrolls inside its main block: a tall viewport, not full_page=True.
        page.set_viewport_size({"width": 1600, "height": 3600})
        n_charts = len(run.config["sensitive_features"]) + 2
        expect(page.locator(".js-plotly-plot")).to_have_count(n_charts)
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_explanations.png"))
        page.set_viewport_size({"width": 1600, "height": 1000})
        page.get_by_test_id("stSidebar").get_by_role(
            "button", name="Switch persona").click()
        open_page_as(page, "Compliance officer", "Explanations")
        expect(page.get_by_text("only data scientists", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Compute explanations")).to_have_count(0)
        chosen = page.get_by_role("combobox", name="Stored explanation run")
        expect(chosen).to_have_value(re.compile(rf"^#{run.id} · german_credit · "))
    assert "Traceback" not in prepared_server.log.read_text()
