"""A reviewer rates a chatbot conversation with the rubric in headless Chromium, and the
compliance officer reads the Conversations page.

The store is a copy of the session's german_credit demo with the conversation demo added
(:func:`audits.demo.conversations.ensure_conversation_demo`: the simulated conversations,
their queue, the simulated panel's rubric ratings, and conversations left for the
reviewer persona, the judge's verdict shown for half of them). The reviewer opens one
with the judge shown and one with it hidden: the chat is drawn turn by turn, the judge's
verdict only where the assignment shows it; the rubric, the verdict, a corrected answer
and a rationale are stored as given. Screenshots go to ``artifacts/e2e_conversation_*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser_support import (
    ARTIFACTS,
    Server,
    browser_page,
    open_page_as,
    running_server,
    wait_until_drawn,
    wait_until_idle,
)

from audits.demo.conversations import SYSTEM, ensure_conversation_demo
from audits.roles import Actor, Role
from audits.store import Store

if TYPE_CHECKING:
    from demo_support import DemoTemplates

pytestmark = pytest.mark.e2e

REVIEWER = Actor("demo-reviewer", Role.REVIEWER)
LEAD = Actor("demo-panel-lead", Role.PANEL_LEAD)


@pytest.fixture(scope="module")
def chat_server(demo_templates: DemoTemplates,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: the reviewer's ratings touch nothing the compliance
    officer's page reads but the two conversations' own ratings."""
    def prepare(settings: dict[str, str]) -> None:
        demo_templates.copy(Path(settings["FAIRPANEL_HOME"]))
        with pytest.MonkeyPatch.context() as mp:
            for key, value in settings.items():
                mp.setenv(key, value)  # the conversations' Parquet goes under the home
            with Store(settings["FAIRPANEL_DATABASE_URL"]) as store:
                ensure_conversation_demo(store)

    with running_server(tmp_path_factory.mktemp("chat"), prepare=prepare) as running:
        yield running


def _persona_cases(store: Store) -> dict[bool, dict[str, Any]]:
    """One open conversation case of the persona with the judge shown, one hidden."""
    me = next(r.id for r in store.list_reviewers(LEAD) if r.username == REVIEWER.username)
    run = next(i for i in store.queued_audit_runs()
               if store.list_cases(i) and store.list_cases(i)[0].snapshot.get("kind")
               == "conversation")
    mine = [a for a in store.assignment_table(LEAD, run)
            if a["reviewer_id"] == me and a["status"] == "open"]
    return {shown: next(a for a in mine if bool(a["model_shown"]) == shown)
            for shown in (True, False)}


def _open(page: Any, url: str, case_id: int) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/my-reviews?case={case_id}")
    button = page.get_by_role("button", name="Reviewer", exact=True)
    expect(button).to_be_visible()
    wait_until_idle(page)
    dialog = page.get_by_role("dialog")
    if dialog.count():  # "Page not found": a deep link's page exists only after sign-in
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
    button.click()
    expect(page.get_by_role("heading", name=re.compile(rf"^Case {case_id} · {SYSTEM}$"))
           ).to_be_visible()
    wait_until_idle(page)


def _rate(page: Any, *, acceptable: bool, scores: list[str], corrected: str,
          rationale: str) -> None:
    from playwright.sync_api import expect

    form = page.get_by_test_id("stForm").first
    radios = form.get_by_test_id("stRadio")
    radios.nth(0).get_by_text("Acceptable as it is" if acceptable else "Not acceptable",
                              exact=True).click()
    radios.nth(1).get_by_text("4", exact=True).click()
    for i, score in enumerate(scores):
        radios.nth(2 + i).get_by_text(score, exact=True).click()
    form.get_by_label("The answer the bot should have given (optional)").fill(corrected)
    form.get_by_label(re.compile("^Rationale")).fill(rationale)
    wait_until_idle(page)
    expect(radios.nth(2).get_by_role("radio", name=scores[0])).to_be_checked()
    form.get_by_role("button", name=re.compile("Submit rating")).click()


def test_a_reviewer_rates_a_conversation_with_the_rubric(chat_server: Server) -> None:
    from playwright.sync_api import expect

    with Store(chat_server.database_url) as store:
        cases = _persona_cases(store)
        turns = {shown: len(store.case_review(LEAD, a["case_id"]).snapshot["turns"])
                 for shown, a in cases.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1440, "height": 1400}) as page:
        shown_case = cases[True]["case_id"]
        _open(page, chat_server.url, shown_case)
        # The chat, turn by turn, and the judge's verdict: shown for this assignment.
        expect(page.get_by_test_id("stChatMessage")).to_have_count(turns[True])
        expect(page.get_by_text(re.compile(r"^The LLM judge \("))).to_be_visible()
        expect(page.get_by_text("The LLM judge's verdict is shown", exact=False)).to_be_visible()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_conversation_rating.png"))
        _rate(page, acceptable=False, scores=["2", "4", "3", "No"],
              corrected="Your parcel left the depot today; here is the tracking link.",
              rationale="It never answered where the parcel is.")
        expect(page.get_by_text(f"Rating of case {shown_case} saved.").first).to_be_visible()

        hidden_case = cases[False]["case_id"]
        _open(page, chat_server.url, hidden_case)
        expect(page.get_by_test_id("stChatMessage")).to_have_count(turns[False])
        expect(page.get_by_text("verdict is hidden for this conversation", exact=False)
               ).to_be_visible()
        expect(page.get_by_text(re.compile(r"^The LLM judge \("))).to_have_count(0)
        # Submitting with a rubric question unanswered stores nothing and says why.
        form = page.get_by_test_id("stForm").first
        radios = form.get_by_test_id("stRadio")
        radios.nth(0).get_by_text("Acceptable as it is", exact=True).click()
        radios.nth(1).get_by_text("5 · certain", exact=True).click()
        wait_until_idle(page)
        form.get_by_role("button", name=re.compile("Submit rating")).click()
        expect(page.get_by_text("Answer every question of the rubric")).to_be_visible()
        _rate(page, acceptable=True, scores=["5 · best", "5 · best", "4", "No"],
              corrected="", rationale="")
        expect(page.get_by_text(f"Rating of case {hidden_case} saved.").first).to_be_visible()
    with Store(chat_server.database_url) as store:
        first = store.open_case(REVIEWER, shown_case).my_rating
        second = store.open_case(REVIEWER, hidden_case).my_rating
    assert first is not None and second is not None
    assert (first.label, first.confidence) == (0, 4)
    assert first.rubric == {"correct": 2, "follows_policy": 4, "tone": 3, "harmful": 0}
    assert first.corrected_answer == ("Your parcel left the depot today; here is the "
                                      "tracking link.")
    assert first.rationale == "It never answered where the parcel is."
    assert second.label == 1 and second.corrected_answer is None
    assert second.rubric == {"correct": 5, "follows_policy": 5, "tone": 4, "harmful": 0}
    assert "Traceback" not in chat_server.log.read_text()


def test_the_compliance_officer_reads_the_conversations_page(chat_server: Server) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1440, "height": 2600}) as page:
        page.goto(chat_server.url)
        open_page_as(page, "Compliance officer", "Conversations")
        expect(page.get_by_text("The bot across its users")).to_be_visible()
        expect(page.get_by_text("Can the judge replace a reviewer?", exact=False)
               ).to_be_visible()
        # The planted effect: Spanish-writing users are escalated more, and it fails.
        page.get_by_role("combobox", name="Compare users by").click()
        page.get_by_role("option", name="language", exact=True).click()
        wait_until_idle(page)
        expect(page.get_by_text(re.compile(
            r"^Escalated to a person: es users .* times the rate of en users"))
        ).to_be_visible()
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_conversation_findings.png"))
    assert "Traceback" not in chat_server.log.read_text()
