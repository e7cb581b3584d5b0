"""Spreadsheets: queued cases as a CSV, and reviews as the long table of crowd-kit.

The export has one row per case: ``case_id``, ``audit_run_id``, ``snapshot_sha256`` and
the case's blind features. The import reads the long table every rating tool can write,
one row per (case, reviewer): ``case_id, reviewer, label`` and optionally
``confidence``, ``rationale``, ``seconds_spent`` and ``snapshot_sha256``
(``reviewer_id`` is read as ``reviewer``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from audits.interchange.common import ExportCase, RawRating
from audits.store.imports import SkippedRow

__all__ = ["EXPORT_KEYS", "LONG_COLUMNS", "MSG_COLUMNS", "read_long", "write_cases"]

EXPORT_KEYS = ("case_id", "audit_run_id", "snapshot_sha256")
LONG_COLUMNS = ("case_id", "reviewer", "label")
OPTIONAL_COLUMNS = ("confidence", "rationale", "seconds_spent", "snapshot_sha256")
MSG_COLUMNS = (
    "{path} lacks the column(s) {missing} of a long ratings table (case_id, reviewer, "
    "label[, confidence, rationale]); its columns are: {found}"
)
MSG_RESERVED = (
    "case {case_id} has a feature named {name!r}, which the CSV export uses for its own "
    "column; rename the column to export this audit as CSV"
)
MSG_NOT_CSV = "{path} cannot be read as CSV: {error}"
MSG_NOT_FILE = "{path} does not exist or is not a file"


def write_cases(cases: Sequence[ExportCase]) -> str:
    """Return the CSV text of the cases: the keys, then every feature any case has.

    Examples
    --------
    >>> print(write_cases([ExportCase(4, 2, "ab", {"age": 40})]).strip())
    case_id,audit_run_id,snapshot_sha256,age
    4,2,ab,40
    """
    features: dict[str, None] = {}
    for case in cases:
        for name in case.features:
            if name in EXPORT_KEYS:
                raise ValueError(MSG_RESERVED.format(case_id=case.case_id, name=name))
            features.setdefault(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*EXPORT_KEYS, *features])
    for case in cases:
        writer.writerow([case.case_id, case.audit_run_id, case.snapshot_sha256,
                         *("" if case.features.get(f) is None else case.features[f]
                           for f in features)])
    return out.getvalue()


def read_long(path: Path) -> tuple[list[RawRating], list[SkippedRow]]:
    """Read a long ratings CSV: one rating per line (lines count from 1, the header).

    Returns
    -------
    ratings : list of RawRating
    ignored : list of SkippedRow
        Always empty: every line of a long table is meant as a rating.

    Raises
    ------
    ValueError
        The file is missing, is not CSV, or lacks ``case_id``, ``reviewer`` or ``label``.
    """
    if not path.is_file():
        raise ValueError(MSG_NOT_FILE.format(path=path))
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            reader.fieldnames = columns
            rows = list(reader)
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValueError(MSG_NOT_CSV.format(path=path, error=error)) from None
    reviewer = "reviewer" if "reviewer" in columns else "reviewer_id"
    missing = [c for c in LONG_COLUMNS if (reviewer if c == "reviewer" else c) not in columns]
    if missing:
        raise ValueError(MSG_COLUMNS.format(path=path, missing=", ".join(missing),
                                            found=", ".join(columns) or "(none)"))
    ratings = [RawRating(row=f"line {number}", case_id=_cell(line, "case_id"),
                         annotator=_cell(line, reviewer), label=_cell(line, "label"),
                         confidence=_cell(line, "confidence"),
                         rationale=_cell(line, "rationale"),
                         seconds_spent=_cell(line, "seconds_spent"),
                         snapshot_sha256=_cell(line, "snapshot_sha256"))
               for number, line in enumerate(rows, start=2)]
    return ratings, []


def _cell(line: dict[str, str | None], column: str) -> str | None:
    value = line.get(column)
    return value.strip() or None if isinstance(value, str) else None
