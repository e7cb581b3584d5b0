"""Evidence for auditors: what each rule asks, and where fairpanel evidences it.

Owns the per-decision human-oversight record (:mod:`~audits.evidence.oversight`), the
requirement catalogue of NYC Local Law 144, the EU AI Act, ISO/IEC 42001 and the NIST
AI RMF with the sources it cites (:mod:`~audits.evidence.requirements`), the crosswalk
that says for each requirement which artifacts evidence it and whether fairpanel found
it met (:mod:`~audits.evidence.crosswalk`), the signed evidence pack of a system's
release and its verification (:mod:`~audits.evidence.pack`), the Local Law 144 public
summary of an approved report (:mod:`~audits.evidence.ll144`) and the retention
schedule of logs, oversight records and special-category data
(:mod:`~audits.evidence.retention`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.evidence.archive import ArchiveVerification
    from audits.evidence.crosswalk import Facts, Finding, assess
    from audits.evidence.ll144 import (
        LL144Row,
        LL144Summary,
        LL144Table,
        ll144_summary,
    )
    from audits.evidence.ll144_render import render_ll144_html, render_ll144_pdf
    from audits.evidence.oversight import OversightRecord, oversight_record
    from audits.evidence.pack import EvidencePack, build_evidence_pack, verify_evidence_pack
    from audits.evidence.requirements import REQUIREMENTS, Requirement
    from audits.evidence.retention import retention_summary

__all__ = [
    "ArchiveVerification",
    "EvidencePack",
    "Facts",
    "Finding",
    "LL144Row",
    "LL144Summary",
    "LL144Table",
    "OversightRecord",
    "REQUIREMENTS",
    "Requirement",
    "assess",
    "build_evidence_pack",
    "ll144_summary",
    "oversight_record",
    "render_ll144_html",
    "render_ll144_pdf",
    "retention_summary",
    "verify_evidence_pack",
]

__getattr__ = lazy_getattr(__name__, __file__)
