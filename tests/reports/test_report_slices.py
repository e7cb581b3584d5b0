"""The report's section on the worst-off subgroups nobody declared.

A registered system whose logged decisions err at 35% in one planted slice
(``region=s & product=loan``) and at 10% elsewhere: drafting its report runs slice
discovery once and stores it, and the section lists that slice with its figures (pandas
masks are the oracle) in the body, the HTML and the PDF, states how it was found, and
rebuilds from the frozen inputs to the same body. On null decisions it says none was
found and how many slices were tested; a report built before any discovery says that
none was run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from audits.fairness.stored import run_fairness_audit
from audits.reports.render import render_html, render_pdf
from audits.reports.report import SECTION_TITLES, Report, body_sha256, build_report
from audits.reports.snapshot import rebuild
from audits.reports.stored import draft_report
from audits.reports.subgroups import SECTION_TITLE
from audits.roles import Actor, PermissionDenied, Role
from audits.slices.stored import SLICES_KIND, latest_slice_run, run_slice_discovery
from audits.store import Store
from audits.systems.registry import register_system

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
COMPLIANCE = Actor("casey", Role.COMPLIANCE_OFFICER)
N = 6000


def decisions(seed: int, *, effect: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"applicant_id": np.arange(N) + 1000,
                          "region": rng.choice(list("nsew"), N),
                          "product": rng.choice(["card", "loan", "lease"], N),
                          "channel": rng.choice(["web", "branch", "phone"], N),
                          "sex": rng.choice(["female", "male"], N),
                          "repaid": rng.integers(0, 2, N)})
    bad = in_slice(frame) if effect else np.zeros(N, dtype=bool)
    wrong = rng.random(N) < np.where(bad, 0.35, 0.10)
    frame["approved"] = np.where(wrong, 1 - frame["repaid"], frame["repaid"])
    return frame


def in_slice(frame: pd.DataFrame) -> np.ndarray:
    return ((frame["region"] == "s") & (frame["product"] == "loan")).to_numpy()


def _audit(store: Store, name: str, frame: pd.DataFrame) -> int:
    version = register_system(store, SCIENTIST, name, frame, id="applicant_id",
                              target="repaid", sensitive=["sex"], prediction="approved")
    return run_fairness_audit(store, SCIENTIST, version.dataset, None, n_boot=50).id


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, int, int]]:
    home: Path = tmp_path_factory.mktemp("report-slices")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            yield (store, _audit(store, "planted", decisions(0, effect=True)),
                   _audit(store, "null", decisions(1, effect=False)))


def _section(body: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in body["sections"] if s["key"] == "slices")


def _text(section: dict[str, Any]) -> str:
    return " ".join(b.get("text", "") for b in section["blocks"])


def test_without_a_stored_discovery_the_section_says_none_was_run(
        stored: tuple[Store, int, int]) -> None:
    store, planted, _ = stored
    if latest_slice_run(store, planted) is not None:
        pytest.skip("a discovery of this module's store was stored first")
    report = build_report(store, COMPLIANCE, planted)
    assert SECTION_TITLES.index(SECTION_TITLE) == SECTION_TITLES.index(
        "Impact ratios (NYC Local Law 144 format)") + 1
    section = _section(report.body)
    assert section["title"] == SECTION_TITLE
    assert "No slice discovery is stored" in _text(section)


def test_a_drafted_report_lists_the_planted_slice(stored: tuple[Store, int, int]) -> None:
    store, planted, _ = stored
    with pytest.raises(PermissionDenied):
        draft_report(store, COMPLIANCE, planted)
    assert latest_slice_run(store, planted) is None  # refused before any work
    record = draft_report(store, SCIENTIST, planted)
    run = latest_slice_run(store, planted)
    assert run is not None and run.config["kind"] == SLICES_KIND
    section = _section(record.body)
    table = next(b for b in section["blocks"] if b["type"] == "table")
    assert [r["slice"] for r in table["rows"]] == ["region=s & product=loan"]
    frame = decisions(0, effect=True)
    mask = in_slice(frame)
    wrong = (frame["repaid"] != frame["approved"]).to_numpy()
    row = table["rows"][0]
    assert row["n"] == int(mask.sum())
    assert row["value"]["value"] == pytest.approx(wrong[mask].mean())
    assert row["value"]["ci_low"] < wrong[mask].mean() < row["value"]["ci_high"]
    assert row["complement"] == pytest.approx(wrong[~mask].mean())
    assert row["p_adjusted"] < 0.05
    method = _text(section)
    for words in ("every 1- to 3-way slice", "Benjamini-Hochberg at 5%",
                  "held-out half confirmed", f"slice discovery run #{run.id}",
                  "of region, product, channel, sex",
                  "1 slice(s) confirmed"):
        assert words in method, words
    # Drafting again reuses the stored discovery; the frozen inputs rebuild the body.
    again = draft_report(store, SCIENTIST, planted)
    assert latest_slice_run(store, planted) == run
    inputs = store.report_inputs(again.id)
    assert inputs is not None
    assert body_sha256(rebuild(store, inputs[0]).body) == again.body_sha256


def test_the_slice_is_shown_in_html_and_pdf(stored: tuple[Store, int, int]) -> None:
    store, planted, _ = stored
    run_slice_discovery(store, SCIENTIST, planted)
    report = build_report(store, COMPLIANCE, planted)
    page = render_html(report)
    assert f"<h2>{SECTION_TITLE}</h2>" in page
    assert re.search(r'<table id="slices">.*region=s &amp; product=loan', page, re.DOTALL)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(report))).pages)
    flat = re.sub(r"\s+", " ", text)
    assert SECTION_TITLE in flat and "region=s & product=loan" in flat


def test_null_decisions_say_none_was_found_and_how_many_were_tested(
        stored: tuple[Store, int, int]) -> None:
    store, _, null = stored
    record = draft_report(store, SCIENTIST, null)
    run = latest_slice_run(store, null)
    assert run is not None and run.results["slices"] == []
    section = _section(record.body)
    assert not any(b["type"] == "table" for b in section["blocks"])
    tested = run.results["n_tested"]
    assert tested > 0
    assert f"None was found: of {tested:,} slices tested" in _text(section)
    report = Report(null, record.body, record.generated_at)
    assert "None was found" in render_html(report)
