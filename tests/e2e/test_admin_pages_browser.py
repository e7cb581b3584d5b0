"""Administration pages in a real headless Chromium, against the prepared demo: the Reports
selector shows a new status at once, a returned report's system is edited from the page,
the audit log filters, audit runs are compared, and the panel page guides a lead.

Each page is screenshotted into ``artifacts/`` (1440 px wide). Skipped when
``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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

from audits.demo.default import DEMO_PERSONAS
from audits.roles import Actor, Role
from audits.store import Store

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1440, "height": 1000}
PERSONAS = {p.role: Actor(p.username, p.role) for p in DEMO_PERSONAS}


@contextmanager
def server_store(server: Server) -> Iterator[Store]:
    """The server's store, opened with the server's home (the same signing key)."""
    home = str(Path(server.database_url.removeprefix("sqlite:///")).parent)
    before = os.environ.get("FAIRPANEL_HOME")
    os.environ["FAIRPANEL_HOME"] = home
    try:
        with Store(server.database_url) as store:
            yield store
    finally:
        if before is None:
            os.environ.pop("FAIRPANEL_HOME", None)
        else:
            os.environ["FAIRPANEL_HOME"] = before


def switch(page: Any, persona: str, title: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="Switch persona").click()
    open_page_as(page, persona, title)


def in_viewport(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return (box is not None and box["width"] > 0 and box["x"] >= 0
            and box["x"] + box["width"] <= size["width"]
            and box["y"] + box["height"] <= size["height"] and box["y"] >= 0)


def pick(page: Any, name: str, option: str) -> None:
    from playwright.sync_api import expect

    box = page.get_by_role("combobox", name=name, exact=True)
    box.click()
    page.get_by_role("option", name=option).click()
    wait_until_idle(page)
    expect(box).to_have_value(option)


def test_reports_selector_is_fresh_and_a_returned_report_can_be_fixed(
        prepared_server: Server) -> None:
    from playwright.sync_api import expect

    from audits.reports import stored as report_runs

    scientist, compliance = PERSONAS[Role.DATA_SCIENTIST], PERSONAS[Role.COMPLIANCE_OFFICER]
    with server_store(prepared_server) as store:
        run = max((r for r in store.list_audit_runs() if r.status == "completed"
                   and r.config.get("kind") == "fairness"), key=lambda r: r.id)
        first = report_runs.draft_report(store, scientist, run.id)
        report_runs.submit(store, scientist, first.id)
        second = report_runs.draft_report(store, scientist, run.id)
        report_runs.submit(store, scientist, second.id)
        report_runs.return_report(store, compliance, second.id,
                                  "Add the intended use of the system.")
        first = store.get_report(first.id)
        second = store.get_report(second.id)
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport=VIEWPORT) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Compliance officer", "Reports")
        label = f"Report #{first.id} · audit run #{run.id} · v{first.version} · "
        pick(page, "Report", label + f"Submitted · drafted by {scientist.username}")
        page.get_by_role("button", name="Approve and sign").click()
        wait_until_idle(page)
        expect(page.get_by_text(f"Report #{first.id} approved and signed.")).to_be_visible()
        # The selector names the new status at once (it kept "Submitted" before).
        expect(page.get_by_role("combobox", name="Report", exact=True)).to_have_value(
            label + f"Approved · drafted by {scientist.username}")

        switch(page, "Data scientist", "Reports")
        returned = (f"Report #{second.id} · audit run #{run.id} · v{second.version} · "
                    f"Returned · drafted by {scientist.username}")
        pick(page, "Report", returned)
        expect(page.get_by_text("Add the intended use of the system.").first).to_be_visible()
        field = page.get_by_role("textbox", name="Intended use")
        expect(field).to_be_visible()
        field.fill("Pre-screening of consumer credit applications; a credit officer decides.")
        page.get_by_role("button", name="Save the system's description").click()
        wait_until_idle(page)
        saved = page.get_by_text("intended use and description saved", exact=False)
        expect(saved).to_be_visible()
        assert in_viewport(page, saved)
        expect(page.get_by_role("combobox", name="Report", exact=True)).to_have_value(returned)
        page.get_by_role("textbox", name="Intended use").scroll_into_view_if_needed()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_report_returned.png"))
    with server_store(prepared_server) as store:
        system = store.system_of(run.dataset_id)
        assert system is not None and system.intended_use.startswith("Pre-screening")
    assert "Traceback" not in prepared_server.log.read_text()


def test_audit_log_filters_and_audit_runs_diff(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    with browser_page(viewport=VIEWPORT) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Admin", "Audit log")
        pick(page, "Action", "add_user")
        with server_store(prepared_server) as store:
            n_added = sum(e.action == "add_user" for e in store.log_entries())
        summary = page.get_by_text(f"of {n_added:,} matching, newest first", exact=False)
        expect(summary).to_be_visible()
        assert in_viewport(page, summary)
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_audit_log.png"))

        page.get_by_test_id("stSidebar").get_by_role("link", name="Audit runs").click()
        expect(page.get_by_role("heading", name="Audit runs", exact=True)).to_be_visible()
        wait_until_idle(page)
        compare = page.get_by_role("combobox", name="Compare with", exact=True)
        compare.click()
        page.get_by_role("option").nth(1).click()
        wait_until_idle(page)
        heading = page.get_by_role("heading", name="against run", exact=False)
        expect(heading).to_be_visible()
        expect(page.get_by_text("settings differ", exact=False)).to_be_visible()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_audit_runs.png"))
    assert "Traceback" not in prepared_server.log.read_text()


def test_users_and_panel_pages(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    with server_store(prepared_server) as store:
        store.add_user(PERSONAS[Role.ADMIN], "new-reviewer", Role.REVIEWER,
                       display_name="Nia New")
        lead = PERSONAS[Role.PANEL_LEAD]
        run_id = max(store.queued_audit_runs(),
                     key=lambda i: store.panel_progress(lead, i)["assignments_open"])
        riley = next(r for r in store.list_reviewers(lead) if not r.simulated)
        n_open = sum(a["status"] == "open" and a["reviewer_id"] == riley.id
                     for a in store.assignment_table(lead, run_id))
    with browser_page(viewport=VIEWPORT) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Admin", "Users")
        expect(page.get_by_role("heading", name="Manage a user")).to_be_visible()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_users.png"))
        switch(page, "Panel lead", "Reviewer panel")
        guidance = page.get_by_text("Why most counts read 'fewer than 5'.", exact=False)
        expect(guidance).to_be_visible()
        expect(page.get_by_role("heading", name="Put a reviewer on the panel")).to_be_visible()
        expect(page.get_by_role("combobox", name="Reviewer account", exact=True)).to_have_value(
            "Nia New (new-reviewer)")
        # Turning Riley off asks first and says how many cases move; nothing moves yet.
        page.get_by_test_id("stCheckbox").filter(has_text=riley.display_name).first.click()
        wait_until_idle(page)
        question = page.get_by_text(f"their {n_open:,} open case(s) of audit #{run_id} "
                                    "move to other reviewers", exact=False)
        expect(question).to_be_visible()
        question.scroll_into_view_if_needed()
        assert in_viewport(page, question)
        with server_store(prepared_server) as store:
            assert next(r for r in store.list_reviewers(lead) if r.id == riley.id).available
        page.set_viewport_size({"width": 1400, "height": 3700})
        page.get_by_role("heading", name="Reviewer panel", exact=True).scroll_into_view_if_needed()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_panel.png"))
        page.get_by_role("button", name="Cancel").click()
        wait_until_idle(page)
        expect(question).to_have_count(0)
    assert "Traceback" not in prepared_server.log.read_text()
