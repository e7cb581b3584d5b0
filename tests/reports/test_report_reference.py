"""A report states the reference group and rule the audit actually used.

The synthetic data's group B is the smaller group (5,849 of 20,000 rows): an audit with
``reference={"group": "B"}`` compares group A with B, and the report must say so, in the
findings (page 1 of the PDF) and in the method, never "the largest group".
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.reports.render import render_html, render_pdf
from audits.reports.report import (
    HEADLINE_METRICS,
    TOP_FAILS,
    TOP_INCONCLUSIVE,
    Report,
    build_report,
)
from audits.reports.sections import metric_label, more_sentence, reference_rule
from audits.roles import Actor, Role
from audits.store import Store

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Any]]:
    home: Path = tmp_path_factory.mktemp("report-reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            yield store, ensure_demo(store, dataset="synthetic").dataset


def _report(synthetic: tuple[Store, Any], **options: Any) -> Report:
    store, dataset = synthetic
    run = run_fairness_audit(store, SCIENTIST, dataset, None, n_boot=50, **options)
    return build_report(store, COMPLIANCE, run.id)


def _section_text(report: Report, key: str) -> str:
    section = next(s for s in report.body["sections"] if s["key"] == key)
    parts: list[str] = []
    for b in section["blocks"]:
        parts += [b.get("text", ""), *b.get("items", []),
                  *(" ".join(map(str, row)) for row in b.get("rows", [])
                    if isinstance(row, list))]
    return "\n".join(parts)


def test_chosen_smaller_reference_is_named_and_largest_never_claimed(
        synthetic: tuple[Store, Any]) -> None:
    report = _report(synthetic, sensitive_features=["group"], reference={"group": "B"})
    disparities = _stored_disparities(synthetic, report)
    assert {str(d["reference"]["group"]) for d in disparities} == {"B"}  # what the audit did
    findings, method = _section_text(report, "findings"), _section_text(report, "method")
    assert ("Each group is compared with the reference group group=B, chosen in the "
            "audit's configuration.") in findings
    assert "Reference group chosen group: the reference group group=B" in method
    html = render_html(report)
    pdf = PdfReader(io.BytesIO(render_pdf(report)))
    page_one = " ".join(pdf.pages[0].extract_text().split())
    for text in (findings, method, html, page_one):
        assert "largest group" not in text
    assert "compared with the reference group group=B, chosen" in page_one


def test_largest_and_best_off_references_are_stated_as_such(
        synthetic: tuple[Store, Any]) -> None:
    largest = _section_text(_report(synthetic, sensitive_features=["group"]), "findings")
    assert "Each group is compared with the largest group of its slice." in largest
    best = _section_text(_report(synthetic, sensitive_features=["group"], reference="best"),
                         "findings")
    assert "compared with the best-off group of its slice, chosen for each metric" in best
    assert "largest group" not in best


def test_a_reference_for_one_of_two_features_says_what_the_other_uses(
        synthetic: tuple[Store, Any]) -> None:
    report = _report(synthetic, reference={"group": "B"})  # group and age_band
    findings = _section_text(report, "findings")
    assert ("compared with the reference group group=B, chosen in the audit's configuration; "
            "in an intersection, the largest group with that value; for age_band, which has "
            "no chosen reference, the largest group of its slice.") in findings
    # and that is what the audit did: every age_band comparison is to its largest band
    for d in _stored_disparities(synthetic, report):
        if list(d["attributes"]) == ["age_band"]:
            assert d["reference"] == {"age_band": "30-49"}
        elif "group" in d["attributes"]:
            assert d["reference"]["group"] == "B"


@pytest.fixture(scope="module")
def compas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Any]]:
    """compas: six race groups and their intersections, 10 to 26 fails per rate."""
    home: Path = tmp_path_factory.mktemp("report-more")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            yield store, ensure_demo(store, dataset="compas").dataset


def test_findings_count_the_comparisons_they_do_not_state(
        compas: tuple[Store, Any]) -> None:
    report = _report(compas)
    findings = _section_text(report, "findings")
    counts: dict[tuple[str, str], int] = {}
    for d in _stored_disparities(compas, report):
        if d["metric"] in HEADLINE_METRICS and d.get("verdict") in ("fail",
                                                                    "insufficient_evidence"):
            key = (d["metric"], d["verdict"])
            counts[key] = counts.get(key, 0) + 1
    shown = {"fail": TOP_FAILS, "insufficient_evidence": TOP_INCONCLUSIVE}
    kind = {"fail": "failing", "insufficient_evidence": "inconclusive"}
    expected = {(kind[v], str(n - shown[v]), metric_label(m).lower())
                for (m, v), n in counts.items() if n > shown[v]}
    stated = set(re.findall(r"And (\d+) more (failing|inconclusive) comparisons?: each is "
                            r"listed in the table \"Disparities: ([a-z -]+) ratio to the "
                            r"reference\"", findings))
    assert {(k, n, m) for n, k, m in stated} == expected
    assert any(k == "failing" for k, _, _ in expected)  # the case is really exercised
    assert "further" not in findings and "mostly intersectional" not in findings
    assert more_sentence(1, "inconclusive", "precision") == (
        "And 1 more inconclusive comparison: each is listed in the table \"Disparities: "
        "precision ratio to the reference\" (Model bias section).")


def test_reference_rule_for_two_chosen_values() -> None:
    assert reference_rule({"sex": "F", "race": "B"}, ["sex", "race"]) == (
        "the reference group sex=F & race=B, chosen in the audit's configuration")


def _stored_disparities(stored: tuple[Store, Any], report: Report) -> list[dict[str, Any]]:
    store, _ = stored
    run = store.get_audit_run(report.audit_run_id)
    assert run is not None and run.results is not None
    return list(run.results["disparities"])
