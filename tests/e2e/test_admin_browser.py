"""User administration in a real headless Chromium: an admin deactivates a user, whose
sign-in is then refused on screen; reactivating lets them in again.

Local accounts (``FAIRPANEL_AUTH=local``) on a store of the test's own; the admin and the
user take turns in one browser, signing out in between. Skipped when
``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import ARTIFACTS, Server, browser_page, running_server, wait_until_idle

from audits.roles import Actor, Role
from audits.store import Store

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
VIEWPORT = {"width": 1440, "height": 1000}
BAD_LOGIN = "Unknown user, wrong password, an inactive account"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The dashboard in local mode with an admin (ada) and a reviewer (rita)."""

    def prepare(settings: dict[str, str]) -> None:
        settings["FAIRPANEL_AUTH"] = "local"
        monkeypatch.setenv("FAIRPANEL_HOME", settings["FAIRPANEL_HOME"])  # the same key
        with Store(settings["FAIRPANEL_DATABASE_URL"]) as store:
            store.add_user(Actor.system(), "ada", Role.ADMIN, password=PASSWORD,
                           display_name="Ada Admin")
            store.add_user(Actor.system(), "rita", Role.REVIEWER, password=PASSWORD,
                           display_name="Rita Reviewer")

    with running_server(tmp_path, prepare=prepare) as running:
        yield running


def sign_in(page: Any, url: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("textbox", name="Username", exact=True)).to_be_visible()
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wait_until_idle(page)


def in_viewport(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return (box is not None and box["width"] > 0 and box["y"] >= 0
            and box["y"] + box["height"] <= size["height"])


def choose_user(page: Any, label: str) -> None:
    from playwright.sync_api import expect

    box = page.get_by_role("combobox", name="User", exact=True)
    box.click()
    page.get_by_role("option", name=label).click()
    wait_until_idle(page)
    expect(box).to_have_value(label)


def sign_out(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    wait_until_idle(page)
    expect(page.get_by_role("textbox", name="Password", exact=True)).to_be_visible()


def test_deactivated_user_is_refused_and_reactivation_restores_sign_in(
        server: Server) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport=VIEWPORT) as page:
        sign_in(page, server.url, "rita")  # rita can sign in before
        expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")
               ).to_be_visible()
        sign_out(page)

        sign_in(page, server.url, "ada")
        page.get_by_test_id("stSidebar").get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        wait_until_idle(page)
        choose_user(page, "Rita Reviewer (rita) · Reviewer")
        page.get_by_role("button", name="Deactivate").click()
        wait_until_idle(page)
        expect(page.get_by_text("Deactivate rita?")).to_be_visible()
        with Store(server.database_url) as store:
            assert store.get_user("rita").active  # nothing before the confirmation
        page.get_by_role("button", name="Confirm").click()
        wait_until_idle(page)
        done = page.get_by_text("rita is deactivated and can no longer sign in.")
        expect(done).to_be_visible()
        assert in_viewport(page, done)
        # The selector names the new state at once (it kept the old label before).
        expect(page.get_by_role("combobox", name="User", exact=True)).to_have_value(
            "Rita Reviewer (rita) · Reviewer · deactivated")
        expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "e2e_users_deactivated.png"))
        sign_out(page)

        sign_in(page, server.url, "rita")
        refusal = page.get_by_text(BAD_LOGIN)
        expect(refusal).to_be_visible()
        assert in_viewport(page, refusal)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
        with Store(server.database_url) as store:
            failed = [e for e in store.log_entries(limit=5) if e.action == "sign_in_failed"]
            assert failed and failed[0].payload == {"username": "rita", "reason": "inactive"}

        sign_in(page, server.url, "ada")
        page.get_by_test_id("stSidebar").get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        wait_until_idle(page)
        choose_user(page, "Rita Reviewer (rita) · Reviewer · deactivated")
        page.get_by_role("button", name="Reactivate").click()
        wait_until_idle(page)
        expect(page.get_by_text("rita can sign in again.")).to_be_visible()
        sign_out(page)

        sign_in(page, server.url, "rita")
        expect(page.get_by_text(BAD_LOGIN)).to_have_count(0)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible()
        expect(sidebar.get_by_text("Rita Reviewer", exact=False)).to_be_visible()
    assert "Traceback" not in server.log.read_text()
