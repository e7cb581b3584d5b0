"""Argilla 2.x: queued cases as records with dataset settings, responses read back.

The shapes follow Argilla 2.x's Python SDK: a record is ``{"id", "fields", "metadata"}``
as ``rg.Record.from_dict`` reads it (and ``dataset.records.log`` stores); the settings
are ``rg.Settings.serialize()``'s ``{"guidelines", "questions", "fields", "vectors",
"metadata", "allow_extra_metadata"}``, which ``rg.Settings.from_json`` reads. Exported
records come back in either of the SDK's two layouts:

* nested (``dataset.records.to_json(path)``, ``to_list(flatten=False)``): each record
  has ``"responses": {"label": [{"value": "1", "user_id": "..."}], ...}``;
* flattened (``to_list(flatten=True)``, ``to_datasets()``): each record has the columns
  ``label.responses``, ``label.responses.users`` and ``label.responses.status``.

Either as a JSON list or JSON lines (one record per line). The label question's keys are
``"1"`` and ``"0"`` (shown as the two labels' texts), so responses hold those.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audits.interchange.common import (
    CASE_ID_KEY,
    CONFIDENCE,
    LABEL,
    RATIONALE,
    SNAPSHOT_KEY,
    CaseLabels,
    ExportCase,
    RawRating,
    case_text,
    read_json,
)
from audits.store.imports import SkippedRow

__all__ = ["MSG_NOT_EXPORT", "read_export", "records", "settings"]

MSG_NOT_EXPORT = (
    "{path} is not an Argilla records export: expected a JSON list (or JSON lines) of "
    "records, each an object; found {found}"
)
RECORD_PREFIX = "fairpanel-case-"
FIELD = "case"
NOT_SUBMITTED = "response {status} in Argilla, not submitted"
GUIDELINES = (
    "Decide each case as you would if it were yours to decide, from what the case shows. "
    "The model's decision and the applicant's sensitive attributes are hidden on purpose."
)


def records(cases: Sequence[ExportCase]) -> list[dict[str, Any]]:
    """Return one Argilla record per case: the blind features as Markdown, keys in metadata.

    Examples
    --------
    >>> record = records([ExportCase(4, 2, "ab" * 32, {"age": 40})])[0]
    >>> record["id"], record["fields"], record["metadata"]["fairpanel_case_id"]
    ('fairpanel-case-4', {'case': '**age**: 40'}, 4)
    """
    return [{"id": f"{RECORD_PREFIX}{case.case_id}",
             "fields": {FIELD: case_text(case.features)},
             "metadata": case.keys()} for case in cases]


def settings(labels: CaseLabels) -> dict[str, Any]:
    """Return the dataset settings: a Markdown field and the three questions.

    ``label`` (a LabelQuestion whose keys ``"1"``/``"0"`` show the two labels),
    ``confidence`` (a RatingQuestion, 1 to 5) and ``rationale`` (an optional
    TextQuestion); metadata beyond the settings (the fairpanel keys) is allowed.

    Examples
    --------
    >>> [q["name"] for q in settings(CaseLabels.for_word("approved"))["questions"]]
    ['label', 'confidence', 'rationale']
    """
    return {
        "guidelines": GUIDELINES,
        "fields": [{"name": FIELD, "title": "The case", "required": True,
                    "settings": {"type": "text", "use_markdown": True}}],
        "questions": [
            {"name": LABEL, "title": "Your decision", "required": True,
             "settings": {"type": "label_selection", "visible_options": None,
                          "options": [{"value": k, "text": v}
                                      for k, v in labels.values.items()]}},
            {"name": CONFIDENCE, "title": "How confident are you? (1 = not at all, "
                                          "5 = completely)", "required": True,
             "settings": {"type": "rating", "options": [{"value": v} for v in range(1, 6)]}},
            {"name": RATIONALE, "title": "Rationale: what in the case decided it for you?",
             "required": False, "settings": {"type": "text", "use_markdown": False}},
        ],
        "vectors": [],
        "metadata": [],
        "allow_extra_metadata": True,
    }


def read_export(path: Path) -> tuple[list[RawRating], list[SkippedRow]]:
    """Read exported Argilla records: one rating per user who answered the label question.

    Returns
    -------
    ratings : list of RawRating
    ignored : list of SkippedRow
        Responses whose status is not ``submitted`` (drafts, discarded).

    Raises
    ------
    ValueError
        The file is neither a JSON list nor JSON lines of record objects.
    """
    data = _records(path)
    ratings: list[RawRating] = []
    ignored: list[SkippedRow] = []
    for index, record in enumerate(data, start=1):
        where = f"record {record.get('id') or f'#{index}'}"
        case_id, sha = _keys(record)
        answers = _nested(record) if isinstance(record.get("responses"), dict) \
            else _flattened(record)
        for user, by_question in answers.items():
            row = f"{where}, user {user or '(none)'}"
            status = by_question.get("status")
            if status not in (None, "submitted"):
                ignored.append(SkippedRow(row, NOT_SUBMITTED.format(status=status)))
                continue
            ratings.append(RawRating(row=row, case_id=case_id, annotator=user or None,
                                     label=by_question.get(LABEL),
                                     confidence=by_question.get(CONFIDENCE),
                                     rationale=by_question.get(RATIONALE),
                                     snapshot_sha256=sha))
    return ratings, ignored


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        data = read_json(path)
    except ValueError:
        data = _json_lines(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        found = type(data).__name__ if not isinstance(data, list) else "a non-object record"
        raise ValueError(MSG_NOT_EXPORT.format(path=path, found=found))
    return data


def _json_lines(path: Path) -> list[Any]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(MSG_NOT_EXPORT.format(path=path, found=f"text ({error})")) from None


def _keys(record: dict[str, Any]) -> tuple[object, str | None]:
    """The case id and snapshot sha256: from the metadata, else the record id."""
    nested = record.get("metadata")
    metadata: dict[str, Any] = nested if isinstance(nested, dict) else record
    case_id = metadata.get(CASE_ID_KEY)
    record_id = record.get("id")
    if case_id is None and isinstance(record_id, str) and record_id.startswith(RECORD_PREFIX):
        case_id = record_id.removeprefix(RECORD_PREFIX)
    sha = metadata.get(SNAPSHOT_KEY)
    return case_id, sha if isinstance(sha, str) else None


def _nested(record: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    answers: dict[str | None, dict[str, Any]] = {}
    for question, responses in record["responses"].items():
        for response in responses if isinstance(responses, list) else []:
            if isinstance(response, dict):
                user = _user(response.get("user_id"))
                answers.setdefault(user, {})[question] = response.get("value")
                if response.get("status") is not None:
                    answers[user]["status"] = response.get("status")
    return answers


def _flattened(record: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    answers: dict[str | None, dict[str, Any]] = {}
    for question in (LABEL, CONFIDENCE, RATIONALE):
        values = record.get(f"{question}.responses")
        users = record.get(f"{question}.responses.users") or []
        statuses = record.get(f"{question}.responses.status") or []
        for i, value in enumerate(values if isinstance(values, list) else []):
            user = _user(users[i] if i < len(users) else None)
            answers.setdefault(user, {})[question] = value
            if i < len(statuses) and statuses[i] is not None:
                answers[user]["status"] = statuses[i]
    return answers


def _user(value: object) -> str | None:
    # The SDK writes str(user_id), so a response without a user reads "None".
    text = None if value is None else str(value).strip()
    return None if not text or text == "None" else text
