"""The New system page in a real headless Chromium: upload a CSV, map, register, audit.

A data scientist uploads decisions fairpanel has never seen through the browser's file
chooser, keeps the suggested column roles, names the system and runs the first audit;
the store then holds the system's first version and a completed fairness run of it.
Screenshots: ``artifacts/e2e_new_system.png`` (the mapping) and
``artifacts/e2e_new_system_results.png`` (the first audit's results). Skipped when
``/usr/bin/chromium`` is missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
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
        expect(page.get_by_text("Decisions audited")).to_be_visible()
        stored = page.get_by_text("First audit stored as run", exact=False).inner_text()
        run_id = int(re.search(r"run #(\d+)", stored).group(1))  # type: ignore[union-attr]
        page.set_viewport_size({"width": 1440, "height": 2700})
        wait_until_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "e2e_new_system_results.png"))
        # The link opens the Fairness page on the new run, named by system and version.
        page.get_by_role("link", name="Open it on the Fairness audit page").click()
        expect(page.get_by_role("heading", name="Fairness audit", exact=True)).to_be_visible()
        wait_until_idle(page)
        expect(page.get_by_text(f"Run #{run_id} by", exact=False)).to_be_visible()
    with Store(prepared_server.database_url) as store:
        version = store.latest_version("applicants")
        assert (version.version, version.n_rows) == (1, 500)
        assert version.roles["score"] == "risk_score"
        assert version.source == "uploaded file applicants.csv"
        runs = [r for r in store.list_audit_runs() if r.dataset_id == version.id]
        assert [(r.id, r.status) for r in runs] == [(run_id, "completed")]
    assert "Traceback" not in prepared_server.log.read_text()
