"""The feedback loop in a real headless Chromium against a running ``streamlit run`` server.

The data scientist retrains the demo model on the simulated panel's consensus labels and
reads the before-and-after comparison; the compliance officer approves the candidate,
which then is the deployed version. The store is prepared before the server starts
(german_credit with the logistic-regression default model). A screenshot of the
comparison goes to ``artifacts/e2e_retraining.png`` (1400 px wide).
Skipped when ``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, Server, browser_page, open_page_as, wait_until_drawn

pytestmark = pytest.mark.e2e


def test_retrain_compare_and_approve(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Data scientist", "Retraining")
        page.get_by_role("button", name="Retrain and re-audit").click()
        expect(page.get_by_text("It is not used until a person approves it",
                                exact=False)).to_be_visible()
        expect(page.get_by_text("Accuracy ", exact=False).first).to_be_visible()
        expect(page.get_by_text("Waiting for a compliance officer", exact=False)
               ).to_be_visible()
        with Store(prepared_server.database_url) as store:
            candidate = store.list_models()[-1]
        assert candidate.status == "candidate" and candidate.parent_id is not None
        page.set_viewport_size({"width": 1400, "height": 2200})
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_retraining.png"))
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.get_by_test_id("stSidebar").get_by_role(
            "button", name="Switch persona").click()
        open_page_as(page, "Compliance officer", "Retraining")
        expect(page.get_by_role("button", name="Retrain and re-audit")).to_have_count(0)
        page.get_by_role("button", name="Approve and deploy").click()
        expect(page.get_by_text(f"Model #{candidate.id} is now deployed.")).to_be_visible()
        with Store(prepared_server.database_url) as store:
            assert store.deployed_version(candidate.parent_id).id == candidate.id
    assert "Traceback" not in prepared_server.log.read_text()
