"""Rating cases in a real headless Chromium against a running ``streamlit run`` server.

The reviewer persona rates two cases on "My reviews" (the first submitted from the
keyboard with the form's shortcut, the second by clicking), reloads the page (a demo
sign-in lives in the browser session, so the persona signs in again) and finds the
progress kept; the store holds each rating exactly once. A link to another reviewer's
case shows the not-assigned message and nothing of the case. Screenshot
``artifacts/e2e_my_reviews.png``. Skipped when ``/usr/bin/chromium`` is missing, unless
``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re
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


def shown_case(page: Any) -> int:
    from playwright.sync_api import expect

    # The header names the case and its system: "Case 12 · german_credit".
    heading = page.get_by_role("heading", name=re.compile(r"^Case \d+ · german_credit$"))
    expect(heading).to_have_count(1)
    return int(heading.inner_text().removeprefix("Case ").split(" ")[0])


def rate(page: Any, *, keyboard: bool) -> int:
    """Rate the case on display (positive, confidence 4, a rationale); return its id."""
    from playwright.sync_api import expect

    case_id = shown_case(page)
    # Fill the form only once the run that drew this case is over: a click that lands
    # while that run is still building the form is lost (the form is drawn anew), and the
    # submit then rightly asks for a decision instead of saving.
    wait_until_idle(page)
    form = page.get_by_test_id("stForm").first
    form.get_by_text("Good credit risk (1)", exact=True).click()
    form.get_by_test_id("stRadio").nth(1).get_by_text("4", exact=True).click()
    rationale = form.get_by_role("textbox")
    rationale.fill(f"Browser rationale for case {case_id}.")
    expect(form.get_by_role("radio", name="Good credit risk (1)")).to_be_checked()
    expect(form.get_by_role("radio", name="4", exact=True)).to_be_checked()
    # Submit only once no script run is in flight: a submit that interrupts a run can be
    # replayed by Streamlit, and the replay is (rightly) stored once as a duplicate.
    wait_until_idle(page)
    if keyboard:
        rationale.press("Control+Enter")
    else:
        form.get_by_role("button", name=re.compile("Submit rating")).click()
    expect(page.get_by_text(f"Rating of case {case_id} saved.").first).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(rf"^Case {case_id} "))).to_have_count(0)
    return case_id


def sign_in_again(page: Any) -> None:
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Reviewer", exact=True)
    expect(button).to_be_visible()
    wait_until_idle(page)  # a "Page not found" dialog, if any, is up by the end of the run
    dialog = page.get_by_role("dialog")
    if dialog.count():  # "Page not found": a deep link's page exists only after sign-in
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
    button.click()
    expect(page.get_by_role("heading", name="My reviews", exact=True)).to_be_visible()


def test_reviewer_rates_two_cases_and_progress_survives_a_reload(
        prepared_server: Server) -> None:
    from playwright.sync_api import expect

    from audits.roles import Actor, Role
    from audits.store import Store

    reviewer = Actor("demo-reviewer", Role.REVIEWER)
    lead = Actor("demo-panel-lead", Role.PANEL_LEAD)
    with Store(prepared_server.database_url) as store:
        assigned = len(store.my_assignments(reviewer))
        me = next(r.id for r in store.list_reviewers(lead) if r.username == reviewer.username)
        table = store.assignment_table(lead, store.queued_audit_runs()[-1])
        mine = {a["case_id"] for a in table if a["reviewer_id"] == me}
        other = next(a["case_id"] for a in table if a["case_id"] not in mine)
        other_value = next(v for v in store.case_review(lead, other).snapshot["features"]
                           .values() if isinstance(v, str) and len(v) >= 8)
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Reviewer", "My reviews")
        expect(page.get_by_text(f"0 of {assigned} assigned cases rated")).to_be_visible()
        rated = [rate(page, keyboard=True), rate(page, keyboard=False)]
        expect(page.get_by_text(f"2 of {assigned} assigned cases rated")).to_be_visible()
        page.reload()
        sign_in_again(page)
        expect(page.get_by_text(f"2 of {assigned} assigned cases rated")).to_be_visible()
        assert shown_case(page) not in rated
        page.set_viewport_size({"width": 1400, "height": 2600})
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_my_reviews.png"))
        page.goto(f"{prepared_server.url}/my-reviews?case={other}")
        sign_in_again(page)
        expect(page.get_by_text(f"Case {other} is not assigned to you")).to_be_visible()
        expect(page.get_by_role("heading", name=re.compile(rf"^Case {other} "))
               ).to_have_count(0)
        expect(page.get_by_text(other_value, exact=False)).to_have_count(0)
    with Store(prepared_server.database_url) as store:
        run_id = store.queued_audit_runs()[-1]
        rows = [r for r in store.ratings_table(lead, run_id) if r["reviewer_id"] == me]
        assert sorted(r["case_id"] for r in rows) == sorted(rated)
        assert [r["version"] for r in rows] == [1, 1]
        created = [e.entity_id for e in store.log_entries()
                   if e.actor == reviewer.username and e.action.startswith("rating_")]
        assert sorted(created) == sorted(str(c) for c in rated)
    assert "Traceback" not in prepared_server.log.read_text()
