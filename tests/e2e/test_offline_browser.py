"""In a real headless Chromium: the dashboard loads nothing from outside this machine
(offline installs keep their icons), and Markdown in the data is shown as text, so an
image in a group value is never fetched.

The store holds one local admin and an audit whose queued case carries hostile values;
the server runs in the default sign-in mode (local accounts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_support import Server, browser_page, running_server, wait_until_drawn

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
IMAGE = "![x](http://203.0.113.9/pixel.png)"
HOSTILE = f"{IMAGE} [click](http://203.0.113.9/a)"
LOOPBACK = {"127.0.0.1", "localhost"}


def _prepare(settings: dict[str, str]) -> None:
    from audits.roles import Actor, Role
    from audits.store import CaseInput, Store

    settings.pop("FAIRPANEL_AUTH")  # the default: local accounts
    scientist = Actor("dana", Role.DATA_SCIENTIST)
    from audits.store.signing import KEY_FILE, deployment_key

    # Signed with the server's key (its FAIRPANEL_HOME), which pins the store at the first write.
    key = deployment_key(Path(settings["FAIRPANEL_HOME"]) / KEY_FILE)
    with Store(settings["FAIRPANEL_DATABASE_URL"], signing_key=key) as store:
        store.add_user(Actor.system(), "ada", Role.ADMIN, password=PASSWORD)
        store.add_user(Actor.system(), "dana", Role.DATA_SCIENTIST)
        dataset = store.record_dataset(scientist, name="loans", source="upload",
                                       sha256="a" * 64, n_rows=1, roles={"target": "y"},
                                       card=f"# {IMAGE}")
        run = store.create_audit_run(scientist, dataset_id=dataset.id, model_id=None,
                                     config={"kind": "fairness", "decisions": HOSTILE})
        store.finish_audit_run(scientist, run.id, results={"rows": 1})
        snapshot = {"features": {"group": HOSTILE},
                    "decision": {"value": 1, "label": HOSTILE}, "score": 0.5,
                    "threshold": 0.5, "explanation": {"available": False, "note": HOSTILE}}
        case = CaseInput(row_key="0", subject_group=HOSTILE, primary_reason="random",
                         reasons=[{"reason": "random", "score": 0.1, "explanation": HOSTILE}],
                         priority=0.1, rank=1, snapshot=snapshot)
        store.record_queue(scientist, run.id, policy={"budget": 1}, cases=[case])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path, prepare=_prepare) as running:
        yield running


def test_no_request_leaves_the_machine_and_data_stays_text(server: Server) -> None:
    from playwright.sync_api import expect

    requested: list[str] = []
    with browser_page(viewport={"width": 1400, "height": 1000}) as page:
        page.on("request", lambda request: requested.append(request.url))
        page.goto(server.url)
        page.get_by_role("textbox", name="Username").fill("ada")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("heading", name="Findings")).to_be_visible()
        wait_until_drawn(page)
        page.get_by_test_id("stSidebar").get_by_role("link", name="Review queue").click()
        expect(page.get_by_role("heading", name="Case detail")).to_be_visible()
        wait_until_drawn(page)
        # The hostile subject group is on the page as its own characters...
        expect(page.locator("code", has_text=IMAGE).first).to_be_visible()
        # ...and nothing of it became an image or a link.
        assert page.locator("img[src*='203.0.113.9']").count() == 0
        assert page.locator("a[href*='203.0.113.9']").count() == 0
        page.get_by_test_id("stSidebar").get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
        wait_until_drawn(page)
    hosts = {urlsplit(url).hostname for url in requested if urlsplit(url).scheme != "data"}
    assert hosts <= LOOPBACK, sorted(u for u in requested
                                     if urlsplit(u).hostname not in LOOPBACK)
    assert requested  # the listener saw the page's own requests
