"""Each persona's landing page, and the disparities table at 1440 px, in headless Chromium.

Every demo persona signs in on a running ``streamlit run`` server (a copy of the
german_credit demo) and lands on the page that answers their first question: Findings
for the data scientist, panel lead, compliance officer and admin (no Plotly chart on
it), My reviews for the reviewer. Each landing page is photographed at 1440 x 900
(``artifacts/e2e_landing_<role>.png``). On the Fairness audit page at 1440 x 900 the
disparities table fits: its first column is the verdict, the grid lies inside the
viewport and scrolls no column out of view. Skipped when ``/usr/bin/chromium`` is
missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

from typing import Any

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

DESKTOP = {"width": 1440, "height": 900}
#: Persona button -> (landing page title, headings that answer the first question).
LANDINGS = {
    "Data scientist": ("Findings", ["Latest audit: worst disparities"]),
    "Reviewer": ("My reviews", []),
    "Panel lead": ("Findings", ["Reviews"]),
    "Compliance officer": ("Findings", ["Verdicts that fail", "Reports"]),
    "Admin": ("Findings", ["Latest audit: worst disparities", "Reviews", "Reports"]),
}
#: The grid of the first table on the page: its box, its scroller's widths, the page's
#: width, and its column headers in order (glide draws headers on a canvas; their
#: accessible copies give the order, the grid's box gives where they are drawn).
GRID = """() => {
  const grid = document.querySelectorAll('[data-testid=stDataFrame]')[0];
  const box = grid.getBoundingClientRect();
  const scroller = grid.querySelector('.dvn-scroller');
  return {left: box.left, right: box.right, top: box.top, bottom: box.bottom,
          scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
          pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
          headers: [...grid.querySelectorAll('[role=columnheader]')].map(h => h.textContent)};
}"""
#: The first table's grid is drawn (its column headers exist).
GRID_DRAWN = """() => {
  const grid = document.querySelectorAll('[data-testid=stDataFrame]')[0];
  return grid !== undefined && grid.querySelector('[role=columnheader]') !== null;
}"""


def test_each_persona_lands_on_its_first_question(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport=DESKTOP) as page:
        page.goto(prepared_server.url)
        for persona, (title, headings) in LANDINGS.items():
            page.get_by_role("button", name=persona, exact=True).click()
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
            wait_until_idle(page)
            for heading in headings:
                expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            if title == "Findings":
                expect(page.locator(".js-plotly-plot")).to_have_count(0)
            _check_answers(page, persona)
            wait_until_drawn(page)
            page.screenshot(path=str(ARTIFACTS / f"e2e_landing_{_slug(persona)}.png"))
            page.get_by_test_id("stSidebar").get_by_role("button",
                                                          name="Switch persona").click()
    assert "Traceback" not in prepared_server.log.read_text()


def test_disparities_table_fits_1440_px(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    with browser_page(viewport=DESKTOP) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Compliance officer", "Fairness audit")
        heading = page.get_by_role("heading", name="Disparities, most severe first")
        expect(heading).to_be_visible()
        grid = page.get_by_test_id("stDataFrame").first
        grid.scroll_into_view_if_needed()
        wait_until_drawn(page)
        page.wait_for_function(GRID_DRAWN)
        shown = page.evaluate(GRID)
        assert shown["headers"][:1] == ["verdict"], shown["headers"]
        assert {"adjusted p", "MDD", "ratio"} <= set(shown["headers"])
        # No horizontal scrolling: not of the grid, not of the page.
        assert shown["scrollWidth"] <= shown["clientWidth"], shown
        assert shown["pageWidth"] <= shown["viewport"], shown
        # The verdict header, the grid's first column, is drawn inside the viewport.
        assert 0 <= shown["left"] < shown["right"] <= shown["viewport"], shown
        assert 0 <= shown["top"] < 900, shown
        # The findings come before the run form on the page (a reader's first screen).
        results = page.get_by_role("heading", name="Results", exact=True).bounding_box()
        assert results is not None and results["y"] < 900
    assert "Traceback" not in prepared_server.log.read_text()


def _check_answers(page: Any, persona: str) -> None:
    from playwright.sync_api import expect

    if persona == "Panel lead":
        expect(page.get_by_text("Awaiting adjudication", exact=True).first).to_be_visible()
        expect(page.get_by_text("Flagged reviewers", exact=True).first).to_be_visible()
    if persona == "Compliance officer":
        expect(page.get_by_text("The evidence on Fairness audit")).to_be_visible()
    if persona == "Data scientist":
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible()
        page.wait_for_function(GRID_DRAWN)
        assert page.evaluate(GRID)["headers"][0] == "verdict"


def _slug(persona: str) -> str:
    return persona.lower().replace(" ", "_")
