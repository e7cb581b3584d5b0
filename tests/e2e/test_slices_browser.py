"""Worst-off subgroups in a real headless Chromium against a running ``streamlit run`` server.

The data scientist runs slice discovery on the demo's audit from the page (the smallest
subgroup lowered to 20: german_credit has 300 held-out decisions), watches it finish and
reads what was tested and found, as stored (screenshot ``artifacts/e2e_slices.png``);
the compliance officer then sees the same stored discovery without running anything.
Skipped when ``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import pytest
from browser_support import (
    ARTIFACTS,
    Server,
    browser_page,
    open_page_as,
    wait_until_drawn,
    wait_until_idle,
)

pytestmark = pytest.mark.e2e

TITLE = "Worst-off subgroups"


def test_data_scientist_finds_the_worst_off_subgroups(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    from audits.slices.stored import SLICES_KIND
    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1600, "height": 1400}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Data scientist", TITLE)
        expect(page.get_by_text("No slice discovery is stored for this audit yet",
                                exact=False)).to_be_visible()
        support = page.get_by_role("spinbutton", name="Smallest subgroup")
        support.fill("20")
        support.press("Enter")
        wait_until_idle(page)
        page.get_by_role("button", name="Find the worst-off subgroups").click()
        expect(page.get_by_text("Stored as slice discovery run", exact=False)).to_be_visible()
        with Store(prepared_server.database_url) as store:
            run = store.latest_audit_run()
        assert run is not None and run.config["kind"] == SLICES_KIND
        assert run.config["min_support"] == 20
        results = run.results
        expect(page.get_by_text(f"Stored as slice discovery run #{run.id}",
                                exact=False)).to_be_visible()
        tested = page.get_by_test_id("stMetric").filter(has_text="Subgroups tested")
        expect(tested).to_contain_text(f"{results['n_tested']:,}")
        expect(page.get_by_text("Every subgroup made of 1 to 3", exact=False)).to_be_visible()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_slices.png"))
        page.get_by_test_id("stSidebar").get_by_role(
            "button", name="Switch persona").click()
        open_page_as(page, "Compliance officer", TITLE)
        expect(page.get_by_text(f"Stored as slice discovery run #{run.id}",
                                exact=False)).to_be_visible()
        expect(tested).to_contain_text(f"{results['n_tested']:,}")
    with Store(prepared_server.database_url) as store:
        assert store.latest_audit_run() == run  # reading it stored nothing
    assert "Traceback" not in prepared_server.log.read_text()
