"""Bring your own reviews: the review queue in the annotation tools people already use.

Owns the interchange formats: Label Studio tasks, labelling config and JSON exports
(:mod:`~audits.interchange.labelstudio`), Argilla 2.x records, settings and exported
records (:mod:`~audits.interchange.argilla`), a CSV of cases and the long ratings table
(:mod:`~audits.interchange.csv_format`), what they share (:mod:`~audits.interchange.common`),
and the workflow over the store (:mod:`~audits.interchange.stored`): exporting an audit's
open cases as a blind reviewer sees them, and importing the tool's ratings, with its
annotators as imported reviewers, idempotently and all or nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.interchange.common import CaseLabels, ExportCase
    from audits.interchange.stored import (
        QueueExport,
        RatingsImport,
        export_queue,
        import_ratings,
    )

__all__ = [
    "CaseLabels",
    "ExportCase",
    "QueueExport",
    "RatingsImport",
    "export_queue",
    "import_ratings",
]

__getattr__ = lazy_getattr(__name__, __file__)
