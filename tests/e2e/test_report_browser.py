"""The report sign-off in a real headless Chromium against a running ``streamlit run`` server.

The data scientist drafts a report of the demo's fairness audit and submits it; the
compliance officer approves it, downloads the signed PDF through the page's download
button and uploads it back to "Verify a report file". The store is prepared before the
server starts (german_credit with the logistic-regression default model). A screenshot
of the approved report goes to ``artifacts/e2e_report.png`` (1400 px wide).
Skipped when ``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, Server, browser_page, open_page_as, wait_until_drawn

pytestmark = pytest.mark.e2e


def test_report_is_drafted_approved_and_downloaded(prepared_server: Server,
                                                   tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from audits.store import Store

    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1400, "height": 1000},
                      accept_downloads=True) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Data scientist", "Reports")
        page.get_by_role("button", name="Draft report").click()
        expect(page.get_by_text("drafted from audit run", exact=False)).to_be_visible()
        page.get_by_role("button", name="Submit for approval").click()
        expect(page.get_by_text(re.compile(r"^Report #\d+ submitted for approval\.$"))
               ).to_be_visible()
        with Store(prepared_server.database_url) as store:
            report = store.list_reports()[-1]
        assert report.status == "submitted"
        page.get_by_test_id("stSidebar").get_by_role(
            "button", name="Switch persona").click()
        open_page_as(page, "Compliance officer", "Reports")
        expect(page.get_by_role("button", name="Draft report")).to_have_count(0)
        page.get_by_role("button", name="Approve and sign").click()
        expect(page.get_by_text("approved and signed", exact=False)).to_be_visible()
        with Store(prepared_server.database_url) as store:
            approved = store.get_report(report.id)
        assert approved is not None and approved.status == "approved"
        assert approved.manifest is not None
        expect(page.get_by_text(approved.manifest["body_sha256"]).first).to_be_visible()
        with page.expect_download() as caught:
            page.get_by_role("button", name="Download PDF").click()
        download = caught.value
        pdf = tmp_path / download.suggested_filename
        download.save_as(pdf)
        assert download.suggested_filename.endswith(".pdf")
        assert pdf.read_bytes().startswith(b"%PDF")
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(pdf))
        expect(page.get_by_text("every check passed", exact=False)).to_be_visible()
        page.set_viewport_size({"width": 1400, "height": 2600})
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_report.png"))
    assert "Traceback" not in prepared_server.log.read_text()
