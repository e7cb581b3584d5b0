"""The main flow in a real headless Chromium against a running ``streamlit run`` server.

A fresh store (temporary ``FAIRPANEL_HOME``) makes the first page load prepare the
german_credit demo, so this also checks that a first ``streamlit run`` on an empty store
works. Skipped when ``/usr/bin/chromium`` is missing, unless
``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, Server, browser_page, running_server, wait_until_drawn

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The dashboard on an empty store: the first visit prepares the demo."""
    with running_server(tmp_path) as running:
        yield running


def test_data_scientist_sees_dataset_provenance(server: Server) -> None:
    from playwright.sync_api import expect

    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1600, "height": 1000}) as page:
        page.goto(server.url)
        persona = page.get_by_role("button", name="Data scientist", exact=True)
        expect(persona).to_be_visible()  # after the first visit prepared the demo
        expect(page.get_by_text("DEMO", exact=False).first).to_be_visible()
        persona.click()
        page.get_by_test_id("stSidebar").get_by_role("link", name="Dataset & model").click()
        with Store(server.database_url) as store:
            dataset = store.list_datasets()[0]
        expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible()
        expect(page.get_by_text(dataset.sha256).first).to_be_visible()
        expect(page.get_by_text("German credit (UCI Statlog)").first).to_be_visible()
        expect(page.get_by_text("Held-out rows", exact=True)).to_be_visible()
        # Streamlit scrolls inside its main block, so a full-page shot needs a tall
        # viewport rather than full_page=True.
        page.set_viewport_size({"width": 1600, "height": 2200})
        expect(page.locator(".js-plotly-plot")).to_have_count(2)
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_overview.png"))
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Dana (data scientist)")).to_be_visible()
        expect(sidebar.get_by_role("link", name="Users")).to_have_count(0)
        sidebar.get_by_role("button", name="Switch persona").click()
        expect(page.get_by_role("button", name="Admin", exact=True)).to_be_visible()
    assert "Traceback" not in server.log.read_text()
