"""Report rendering: self-contained HTML, readable PDF, embedded JSON that round-trips."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.reports.render import (
    MSG_NO_EMBEDDED,
    read_embedded_json,
    render_html,
    render_json,
    render_pdf,
)
from audits.reports.report import SECTION_TITLES, Report, body_sha256, build_report
from audits.roles import Actor, Role
from audits.store import Store

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)
SIGNOFF = {"status": "approved", "approved_by": "demo-compliance", "approved_at": "2026-01-01",
           "manifest": "ab" * 32, "signature": "sig", "public_key": "pk"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    home: Path = tmp_path_factory.mktemp("report-render")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            state = ensure_demo(store, dataset="compas")
            run = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=200)
            yield build_report(store, COMPLIANCE, run.id)


@pytest.fixture(scope="module")
def pdf(report: Report) -> bytes:
    return render_pdf(report)


def test_html_is_self_contained_with_sections_in_order(report: Report) -> None:
    page = render_html(report)
    assert not re.search(r'(src|href)\s*=\s*"https?://', page)
    assert "<link" not in page and "@import" not in page
    positions = [page.index(f"<h2>{title}</h2>".replace("&", "&amp;")) for title in
                 SECTION_TITLES]
    assert positions == sorted(positions)
    assert 'src="data:image/png;base64,' in page
    assert "Draft — not approved" in page


def test_embedded_json_round_trips(report: Report, pdf: bytes, tmp_path: Path) -> None:
    for name, data in (("r.html", render_html(report, signoff=SIGNOFF).encode()),
                       ("r.json", render_json(report, signoff=SIGNOFF).encode()),
                       ("r.pdf", render_pdf(report, signoff=SIGNOFF))):
        path = tmp_path / name
        path.write_bytes(data)
        embedded = read_embedded_json(path)
        assert embedded == report.to_dict(SIGNOFF)
        assert body_sha256(embedded["body"]) == body_sha256(report.body)
    assert read_embedded_json(pdf)["signoff"] is None


def test_json_is_canonical(report: Report) -> None:
    text = render_json(report)
    assert text.startswith('{\n  "audit_run_id"')
    assert render_json(report) == text


def test_pdf_text_has_every_heading_and_the_fpr_header(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for title in SECTION_TITLES:
        assert title in text
    assert "False-positive rate" in text and "race: rates per group" in text
    assert text.index("Findings") < text.index("System identity")
    assert "Page 1 of" in text and "FP-AUDIT-" in reader.pages[-1].extract_text()


def test_long_intersectional_table_continues_across_pages(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    pages = [p.extract_text() for p in reader.pages]
    start = next(i for i, t in enumerate(pages) if "race x sex x age_cat: rates" in t)
    assert len(pages) > start + 1
    # the header row is repeated on the next page, and no row is lost
    assert "Selection rate" in pages[start + 1] and "Group" in pages[start + 1]


def test_reading_a_file_without_a_report_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.html"
    path.write_text("<html></html>")
    with pytest.raises(ValueError, match="holds no embedded fairpanel report"):
        read_embedded_json(path)
    assert "{source}" in MSG_NO_EMBEDDED
