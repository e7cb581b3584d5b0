"""What every interchange format shares: the exported case, the two labels, read rows.

An exported case is what a *blind* reviewer sees of it (the features without the
sensitive attributes; never the model's decision, score, explanation, flagging reasons,
subject group or a gold answer) with the two keys that bring a rating back: the case id
and the sha256 of its stored snapshot. A read rating (:class:`RawRating`) keeps the
tool's values as they were; :func:`to_import_row` turns it into the store's
:class:`~audits.store.imports.ImportRow`, naming what is wrong with a value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audits.store.imports import DEFAULT_CONFIDENCE, ImportRow

__all__ = [
    "CASE_ID_KEY",
    "CONFIDENCE",
    "CaseLabels",
    "ExportCase",
    "LABEL",
    "RATIONALE",
    "RESERVED_KEYS",
    "RUN_ID_KEY",
    "RawRating",
    "SNAPSHOT_KEY",
    "TEXT_KEY",
    "case_text",
    "read_json",
    "to_import_row",
]

#: The keys an exported task carries besides the case's features.
CASE_ID_KEY, RUN_ID_KEY, SNAPSHOT_KEY = ("fairpanel_case_id", "fairpanel_audit_run_id",
                                         "snapshot_sha256")
TEXT_KEY = "case_text"
RESERVED_KEYS = (CASE_ID_KEY, RUN_ID_KEY, SNAPSHOT_KEY, TEXT_KEY)
#: Names of the questions in every tool: the decision, the confidence, the rationale.
LABEL, CONFIDENCE, RATIONALE = "label", "confidence", "rationale"

MSG_RESERVED = (
    "case {case_id} has a feature named {name!r}, which the export uses for its own key; "
    "rename the column to export this audit"
)
MSG_CASE_ID = "case id {value!r} is not a whole number"
MSG_LABEL = "label {value!r} is not one of the two labels: {choices}"
MSG_CONFIDENCE = "confidence {value!r} is not a whole number from 1 to 5"
MSG_SECONDS = "time spent {value!r} is not a non-negative number of seconds"
MSG_NOT_JSON = "{path} is not JSON: {error}"
MSG_NOT_FILE = "{path} does not exist or is not a file"


@dataclass(frozen=True)
class CaseLabels:
    """The two labels of a case, as the tools show them; stored as 1 and 0.

    Examples
    --------
    >>> labels = CaseLabels.for_word("good credit risk")
    >>> labels.positive, labels.negative
    ('Good credit risk', 'Not good credit risk')
    >>> labels.parse("not GOOD credit risk"), labels.parse("1"), labels.parse("maybe")
    (0, 1, None)
    """

    positive: str
    negative: str

    @classmethod
    def for_word(cls, word: str) -> CaseLabels:
        """The labels of a dataset whose positive outcome is called ``word``."""
        word = word.strip() or "positive"
        return cls(word[:1].upper() + word[1:], f"Not {word}")

    @property
    def values(self) -> dict[str, str]:
        """Tool value -> text shown: ``{"1": positive, "0": negative}``."""
        return {"1": self.positive, "0": self.negative}

    def parse(self, value: object) -> int | None:
        """Return 1 or 0 for a tool's value (``1``/``0``, or a label's text), else None."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float) and value in (0, 1):
            return int(value)
        if not isinstance(value, str):
            return None
        text = value.strip().casefold()
        for number, shown in ((1, self.positive), (0, self.negative)):
            if text in (str(number), f"{number}.0", shown.casefold()):
                return number
        return None

    def describe(self) -> str:
        """The two labels as a message names them."""
        return ", ".join(f"{k!r} ({v})" for k, v in self.values.items())


@dataclass(frozen=True)
class ExportCase:
    """A queued case as a blind reviewer sees it, with the keys that bring ratings back."""

    case_id: int
    audit_run_id: int
    snapshot_sha256: str
    features: dict[str, Any]

    def __post_init__(self) -> None:
        for name in self.features:
            if name in RESERVED_KEYS:
                raise ValueError(MSG_RESERVED.format(case_id=self.case_id, name=name))

    def keys(self) -> dict[str, Any]:
        """The fairpanel keys of the case: case id, audit run id, snapshot sha256."""
        return {CASE_ID_KEY: self.case_id, RUN_ID_KEY: self.audit_run_id,
                SNAPSHOT_KEY: self.snapshot_sha256}


@dataclass(frozen=True)
class RawRating:
    """One rating as a tool's export holds it; values are checked later."""

    row: str
    case_id: object
    annotator: str | None
    label: object
    confidence: object = None
    rationale: object = None
    seconds_spent: object = None
    snapshot_sha256: str | None = None


def case_text(features: dict[str, Any], *, markdown: bool = True) -> str:
    """Return the features one per line: ``**name**: value`` (Markdown) or ``name: value``.

    Examples
    --------
    >>> print(case_text({"age": 40, "housing": "own"}))
    **age**: 40
    **housing**: own
    >>> case_text({"age": None}, markdown=False)
    'age: (missing)'
    """
    pattern = "**{}**: {}" if markdown else "{}: {}"
    return "\n".join(pattern.format(name, "(missing)" if value is None else value)
                     for name, value in features.items())


def to_import_row(raw: RawRating, labels: CaseLabels) -> ImportRow:
    """Check a read rating's values and return the store's row (with any problem named).

    Examples
    --------
    >>> labels = CaseLabels.for_word("approved")
    >>> to_import_row(RawRating("line 2", "7", "ana", "Approved", "4"), labels).label
    1
    >>> to_import_row(RawRating("line 3", "7", "ana", "perhaps"), labels).problem
    "label 'perhaps' is not one of the two labels: '1' (Approved), '0' (Not approved)"
    """
    problems: list[str] = []
    case_id = _whole(raw.case_id)
    if raw.case_id is not None and case_id is None:
        problems.append(MSG_CASE_ID.format(value=raw.case_id))
    label = labels.parse(raw.label)
    if label is None:
        problems.append(MSG_LABEL.format(value=raw.label, choices=labels.describe()))
    confidence = DEFAULT_CONFIDENCE if _blank(raw.confidence) else _whole(raw.confidence)
    if confidence is None or not 1 <= confidence <= 5:
        problems.append(MSG_CONFIDENCE.format(value=raw.confidence))
    seconds = 0.0 if _blank(raw.seconds_spent) else _number(raw.seconds_spent)
    if seconds is None or seconds < 0:
        problems.append(MSG_SECONDS.format(value=raw.seconds_spent))
    annotator = raw.annotator.strip() if isinstance(raw.annotator, str) else None
    return ImportRow(row=raw.row, case_id=case_id, annotator=annotator or None,
                     label=label, confidence=confidence or DEFAULT_CONFIDENCE,
                     rationale="" if _blank(raw.rationale) else str(raw.rationale).strip(),
                     seconds_spent=seconds if seconds is not None and seconds >= 0 else 0.0,
                     snapshot_sha256=raw.snapshot_sha256 or None,
                     problem="; ".join(problems) or None)


def read_json(path: Path) -> Any:
    """Return the JSON value of a file, or raise ValueError naming the file."""
    if not path.is_file():
        raise ValueError(MSG_NOT_FILE.format(path=path))
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(MSG_NOT_JSON.format(path=path, error=error)) from None


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _whole(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    number = _number(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
