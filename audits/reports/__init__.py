"""Audit reports: assembled from stored results, rendered, signed off, compared.

Owns the report model, findings first and every number copied from a stored run
(:mod:`~audits.reports.report`, built from :mod:`~audits.reports.context`,
:mod:`~audits.reports.sections` and :mod:`~audits.reports.oversight`), its rendering as
canonical JSON, one HTML file or a PDF with charts (:mod:`~audits.reports.render`,
:mod:`~audits.reports.pdf`, :mod:`~audits.reports.charts`), the draft, submit, approve
and return workflow with signed manifests and file verification
(:mod:`~audits.reports.stored`), and the comparison of two runs
(:mod:`~audits.reports.compare`). The signing key and signatures themselves live in
:mod:`audits.store.signing`, since the store checks every signature it keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.reports.compare import compare_runs, what_changed
    from audits.reports.render import read_embedded_json, render_html, render_json, render_pdf
    from audits.reports.report import Report, body_sha256, build_report
    from audits.reports.stored import (
        Verification,
        approve,
        draft_report,
        export_audit_report,
        export_report,
        return_report,
        submit,
        verify_report_file,
    )

__all__ = [
    "Report",
    "Verification",
    "approve",
    "body_sha256",
    "build_report",
    "compare_runs",
    "draft_report",
    "export_audit_report",
    "export_report",
    "read_embedded_json",
    "render_html",
    "render_json",
    "render_pdf",
    "return_report",
    "submit",
    "verify_report_file",
    "what_changed",
]

__getattr__ = lazy_getattr(__name__, __file__)
