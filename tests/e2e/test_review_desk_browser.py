"""The reviewer desk in headless Chromium, at 1440 x 900 and at a phone's 390 x 844.

On My reviews the reviewer persona reads the instructions at the top of the case, chooses
with one-key shortcuts (which do nothing while typing in the rationale), submits, and the
next case's header is inside the viewport; "s" skips a case (it goes to the end of the
queue in the store) and "c" answers "cannot tell" (recorded in the store). At phone
width the form starts within about one screen of the case header and the choices are
touch-sized. On Adjudication the panel lead records a final label and the next disputed
case's header is in view. Screenshots go to ``artifacts/e2e_review_desk_*.png``. Skipped
when ``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
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

from audits.roles import Actor, Role
from audits.store import Store

pytestmark = pytest.mark.e2e

REVIEWER = Actor("demo-reviewer", Role.REVIEWER)
LEAD = Actor("demo-panel-lead", Role.PANEL_LEAD)
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
HEADER = re.compile(r"^Case (\d+) · german_credit$")


def case_header(page: Any) -> Any:
    from playwright.sync_api import expect

    heading = page.get_by_role("heading", name=HEADER)
    expect(heading).to_have_count(1)
    return heading


def shown_case(page: Any) -> int:
    found = HEADER.match(case_header(page).inner_text().strip())
    assert found is not None
    return int(found.group(1))


#: The case header (anchored ``case``) lies wholly inside the viewport, and stayed there
#: over two painted frames (the page has finished moving).
HEADER_IN_VIEW = """() => new Promise(done => {
  const inView = () => { const h = document.getElementById("case");
    if (!h) { return false; }
    const r = h.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight; };
  requestAnimationFrame(() => requestAnimationFrame(() => done(inView() && inView())));
})"""


def assert_in_viewport(page: Any, locator: Any) -> None:
    """The element's whole box lies inside the viewport (what a person sees)."""
    box = locator.bounding_box()
    size = page.viewport_size
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (box, size)
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (box, size)


def press_outside_a_field(page: Any, key: str) -> None:
    """Press ``key`` with the focus on the page, not in a field (as after reading)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def after_answer(page: Any, message: str, before: int) -> int:
    """Wait for ``message``, then return the new case (its header inside the viewport)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(message).first).to_be_visible()
    wait_until_idle(page)
    header = case_header(page)
    expect(header).not_to_have_text(re.compile(rf"^Case {before} "))
    # Waits for the scroll (a page that never scrolls the header into view hangs here
    # until the hang guard fails it), then checks the box itself.
    page.wait_for_function(HEADER_IN_VIEW)
    assert_in_viewport(page, header)
    return shown_case(page)


def rate_with_keys(page: Any) -> int:
    """Choose the first decision and confidence 4 with keys, type a rationale, submit."""
    from playwright.sync_api import expect

    case_id = shown_case(page)
    wait_until_idle(page)  # a key pressed while the case's run still builds the form is lost
    form = page.get_by_test_id("stForm").first
    press_outside_a_field(page, "y")
    press_outside_a_field(page, "4")
    expect(form.get_by_role("radio", name="Good credit risk (1)")).to_be_checked()
    expect(form.get_by_role("radio", name="4", exact=True)).to_be_checked()
    # Typing the shortcut letters in the rationale types them, and changes no choice.
    rationale = form.get_by_role("textbox").first
    rationale.click()
    rationale.type("n 2 s c: steady job")
    expect(rationale).to_have_value("n 2 s c: steady job")
    expect(form.get_by_role("radio", name="Good credit risk (1)")).to_be_checked()
    expect(form.get_by_role("radio", name="4", exact=True)).to_be_checked()
    assert shown_case(page) == case_id
    wait_until_idle(page)
    form.get_by_role("button", name=re.compile("Submit rating")).click()
    return after_answer(page, f"Rating of case {case_id} saved.", case_id)


def rate_with_taps(page: Any) -> int:
    """Tap the first decision and confidence 4, write a rationale, submit (a phone)."""
    from playwright.sync_api import expect

    case_id = shown_case(page)
    wait_until_idle(page)  # a tap while the case's run still builds the form is lost
    form = page.get_by_test_id("stForm").first
    form.get_by_text("Good credit risk (1)", exact=True).click()
    form.get_by_test_id("stRadio").nth(1).get_by_text("4", exact=True).click()
    form.get_by_role("textbox").first.fill("Steady job, small loan.")
    expect(form.get_by_role("radio", name="Good credit risk (1)")).to_be_checked()
    wait_until_idle(page)
    form.get_by_role("button", name=re.compile("Submit rating")).click()
    return after_answer(page, f"Rating of case {case_id} saved.", case_id)


def test_reviewer_desk_at_desktop_width(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport=DESKTOP) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Reviewer", "My reviews")
        wait_until_drawn(page)
        first = shown_case(page)
        # The instructions are open above the case on the first visit.
        instructions = page.get_by_text(re.compile(r"^Decide what the right outcome is"))
        expect(instructions).to_be_visible()
        assert_in_viewport(page, page.get_by_text(
            "the case supports good credit risk, the favourable outcome for the person."))
        expect(page.get_by_text("Credit amount (DM)", exact=True)).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "e2e_review_desk_desktop.png"))
        second = rate_with_keys(page)
        assert second != first
        page.screenshot(path=str(ARTIFACTS / "e2e_review_desk_desktop_next.png"))
        press_outside_a_field(page, "s")
        third = after_answer(page, f"Case {second} skipped", second)
        press_outside_a_field(page, "c")
        after_answer(page, f"Case {third} recorded as cannot tell.", third)
    with Store(prepared_server.database_url) as store:
        mine = store.my_assignments(REVIEWER)
        open_ones = [a for a in mine if not a.done]
        assert open_ones[-1].case_id == second and open_ones[-1].skipped_at is not None
        assert store.open_case(REVIEWER, third).cannot_tell
        assert store.open_case(REVIEWER, first).my_rating is not None
        rating = store.open_case(REVIEWER, first).my_rating
        assert rating is not None and (rating.label, rating.confidence) == (1, 4)
        assert rating.rationale == "n 2 s c: steady job"
        actions = [e.action for e in store.log_entries(limit=5)]
        assert {"case_skipped", "cannot_tell"} <= set(actions)
    assert "Traceback" not in prepared_server.log.read_text()


def test_reviewer_desk_at_phone_width(prepared_server: Server) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport=DESKTOP) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Reviewer", "My reviews")
        page.set_viewport_size(PHONE)
        wait_until_drawn(page)
        rate_with_taps(page)  # a phone has no keyboard for the shortcuts
        header = case_header(page)
        form = page.get_by_test_id("stForm").first
        expect(form).to_be_visible()
        # Touch-sized choices, and the form within about one screen of the case header.
        for option in form.get_by_test_id("stRadioOption").all():
            box = option.bounding_box()
            assert box is not None and box["height"] >= 40, box
        top, start = header.bounding_box(), form.bounding_box()
        assert top is not None and start is not None
        assert start["y"] - top["y"] < 1.5 * PHONE["height"], (top, start)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "e2e_review_desk_phone.png"))
    assert "Traceback" not in prepared_server.log.read_text()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_adjudication_brings_the_next_case_into_view(prepared_server: Server,
                                                     viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    with Store(prepared_server.database_url) as store:
        disputed = store.disputed_cases(LEAD)
    if len(disputed) < 2:
        pytest.fail(f"the demo should hold two disputed cases; it holds {len(disputed)}")
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport=DESKTOP) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Panel lead", "Adjudication")
        page.set_viewport_size(viewport)
        wait_until_drawn(page)
        case_id = shown_case(page)
        expect(page.get_by_text(re.compile(r"^Decide what the right outcome is"))
               ).to_be_visible()
        form = page.get_by_test_id("stForm").first
        form.get_by_text("Not good credit risk (0)", exact=True).click()
        form.get_by_role("textbox").fill("The thin history decides it.")
        wait_until_idle(page)
        form.get_by_role("button", name=re.compile("Record final label")).click()
        after_answer(page, f"Case {case_id} closed", case_id)
        name = "desktop" if viewport is DESKTOP else "phone"
        page.screenshot(path=str(ARTIFACTS / f"e2e_review_desk_adjudication_{name}.png"))
    with Store(prepared_server.database_url) as store:
        closed = store.case_review(LEAD, case_id)
        assert (closed.status, closed.final_label) == ("closed", 0)
    assert "Traceback" not in prepared_server.log.read_text()
