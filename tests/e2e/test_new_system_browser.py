"""The New system page in a real headless Chromium: upload a CSV, map, register, audit.

A data scientist uploads decisions fairpanel has never seen through the browser's file
chooser, keeps the suggested column roles, names the system and runs the first audit;
the store then holds the system's first version and a completed fairness run of it.
Screenshot: ``artifacts/e2e_new_system.png``. Skipped when ``/usr/bin/chromium`` is
missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_support import ARTIFACTS, Server, browser_page, open_page_as, wait_until_idle

pytestmark = pytest.mark.e2e


def _decisions(path: Path, n: int = 500) -> Path:
    rng = np.random.default_rng(11)
    race = rng.choice(["a", "b", "c"], n)
    score = rng.random(n).round(3)
    pd.DataFrame({"applicant_id": np.arange(n), "race": race, "tenure": rng.integers(0, 30, n),
                  "risk_score": score, "defaulted": (rng.random(n) < score).astype(int)}
                 ).to_csv(path, index=False)
    return path


def test_data_scientist_uploads_and_audits_a_new_system(prepared_server: Server,
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from audits.store import Store

    csv = _decisions(tmp_path / "applicants.csv")
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(viewport={"width": 1440, "height": 1000}) as page:
        page.goto(prepared_server.url)
        open_page_as(page, "Data scientist", "New system")
        page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(csv))
        expect(page.get_by_text("500 rows, 5 columns.")).to_be_visible()
        wait_until_idle(page)
        page.get_by_label("Name", exact=True).fill("applicants")
        page.get_by_label("Name", exact=True).press("Tab")
        page.set_viewport_size({"width": 1440, "height": 2600})
        page.screenshot(path=str(ARTIFACTS / "e2e_new_system.png"))
        page.get_by_role("button", name="Register and run the first audit").click()
        expect(page.get_by_text("First audit stored as run", exact=False)).to_be_visible()
        expect(page.get_by_role("link", name="Open it on the Fairness audit page")
               ).to_be_visible()
    with Store(prepared_server.database_url) as store:
        version = store.latest_version("applicants")
        assert (version.version, version.n_rows) == (1, 500)
        assert version.roles["score"] == "risk_score"
        runs = [r for r in store.list_audit_runs() if r.dataset_id == version.id]
        assert [r.status for r in runs] == ["completed"]
    assert "Traceback" not in prepared_server.log.read_text()
