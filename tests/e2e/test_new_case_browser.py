"""A reviewer with nothing to review sees a newly assigned case appear on My reviews
without reloading the page (a live decision held for a person reaches the desk at
once). In headless Chromium against a private copy of the demo. Skipped when
``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, Server, browser_page, open_page_as

from audits.roles import Actor, Role
from audits.store import AssignmentInput, Store

pytestmark = pytest.mark.e2e

REVIEWER = Actor("demo-reviewer", Role.REVIEWER)
LEAD = Actor("demo-panel-lead", Role.PANEL_LEAD)


def test_a_new_case_appears_without_a_reload(prepared_server: Server,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    # The server's store is written here with the server's home (the same signing key).
    home = Path(prepared_server.database_url.removeprefix("sqlite:///")).parent
    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    with Store(prepared_server.database_url) as store:
        [run_id] = [a.audit_run_id for a in store.my_assignments(REVIEWER)][:1]
        store.withdraw_open_assignments(LEAD, run_id, REVIEWER.username)
        reviewer = next(r for r in store.list_reviewers(LEAD)
                        if r.username == REVIEWER.username)
        ever = {a["case_id"] for a in store.assignment_table(LEAD, run_id)
                if a["reviewer_id"] == reviewer.id}
        case_id = next(c.id for c in store.list_cases(run_id)  # never this reviewer's
                       if c.status != "closed" and c.id not in ever)
    with browser_page(viewport={"width": 1440, "height": 900}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Reviewer", "My reviews")
        header = page.get_by_role("heading", name=re.compile(r"^Case \d+ · "))
        expect(header).to_have_count(0)
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url)
                if frame == page.main_frame else None)  # components' iframes aside
        with Store(prepared_server.database_url) as store:
            store.record_assignments(LEAD, run_id, [AssignmentInput(
                case_id=case_id, reviewer_id=reviewer.id, slot=9, kind="flagged",
                model_shown=False, sensitive_shown=True)], config={"overlap": 1})
        expect(header).to_have_count(1)  # waits: the page looks every few seconds
        assert header.inner_text().startswith(f"Case {case_id} · ")
        assert navigations == []  # the page was not reloaded or left
        page.screenshot(path=str(ARTIFACTS / "e2e_new_case_arrives.png"))
