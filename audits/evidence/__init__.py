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
    pass

__all__: list[str] = []

__getattr__ = lazy_getattr(__name__, __file__)
