"""Label Studio: queued cases as tasks with a labelling config, annotations read back.

The shapes follow Label Studio's documentation ("Label Studio JSON format of annotated
tasks", and the ``Choices``, ``Rating`` and ``TextArea`` tags): an export is a JSON list
of tasks ``{"id", "data", "annotations": [{"id", "completed_by", "result": [...],
"was_cancelled", "lead_time", ...}]}``; ``completed_by`` is a user id, or an object
``{"id", "email", "first_name", "last_name"}`` when annotator details are included.
Each result item names its control (``from_name``) and holds its answer in ``value``:
``{"choices": [...]}``, ``{"rating": n}`` or ``{"text": [...]}``.

The config's two choices carry the aliases ``"1"`` and ``"0"``, so the result holds
those whatever text the annotators saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from audits.interchange.common import (
    CASE_ID_KEY,
    CONFIDENCE,
    LABEL,
    RATIONALE,
    SNAPSHOT_KEY,
    TEXT_KEY,
    CaseLabels,
    ExportCase,
    RawRating,
    case_text,
    read_json,
)
from audits.store.imports import SkippedRow

__all__ = ["MSG_NOT_EXPORT", "label_config", "read_export", "tasks"]

MSG_NOT_EXPORT = (
    "{path} is not a Label Studio JSON export: expected a list of tasks, each an object "
    "with \"data\" and \"annotations\"; found {found}"
)
CANCELLED = "cancelled (skipped) in Label Studio"
USER_PREFIX = "labelstudio-user-"


def tasks(cases: Sequence[ExportCase]) -> list[dict[str, Any]]:
    """Return one Label Studio task per case: its blind features and fairpanel keys.

    ``data`` holds each feature under its own name (for Label Studio's filters),
    ``case_text`` (the features as lines, shown by the config) and the keys
    ``fairpanel_case_id``, ``fairpanel_audit_run_id`` and ``snapshot_sha256``.

    Examples
    --------
    >>> case = ExportCase(4, 2, "ab" * 32, {"age": 40})
    >>> tasks([case])[0]["data"]["fairpanel_case_id"]
    4
    """
    return [{"data": {**case.features, TEXT_KEY: case_text(case.features, markdown=False),
                      **case.keys()}} for case in cases]


def label_config(labels: CaseLabels) -> str:
    """Return the labelling config (XML) of the exported tasks.

    Examples
    --------
    >>> "alias=\\"1\\"" in label_config(CaseLabels.for_word("approved"))
    True
    """
    choices = "\n".join(f"    <Choice value={quoteattr(text)} alias={quoteattr(value)}/>"
                        for value, text in labels.values.items())
    return f"""<View>
  <Header value="Case $fairpanel_case_id"/>
  <Text name="case" value="${TEXT_KEY}"/>
  <Header value="Your decision"/>
  <Choices name="{LABEL}" toName="case" choice="single-radio" required="true" \
showInline="true">
{choices}
  </Choices>
  <Header value="How confident are you? (1 = not at all, 5 = completely)"/>
  <Rating name="{CONFIDENCE}" toName="case" maxRating="5"/>
  <Header value="Rationale (optional): what in the case decided it for you?"/>
  <TextArea name="{RATIONALE}" toName="case" rows="3" maxSubmissions="1"/>
</View>
"""


def read_export(path: Path) -> tuple[list[RawRating], list[SkippedRow]]:
    """Read a Label Studio JSON export: one rating per annotation, cancelled ones aside.

    Returns
    -------
    ratings : list of RawRating
        One per annotation that was not cancelled.
    ignored : list of SkippedRow
        The cancelled (skipped) annotations, which are not ratings.

    Raises
    ------
    ValueError
        The file is not JSON, or not a list of task objects.
    """
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        found = type(data).__name__ if not isinstance(data, list) else "a non-object task"
        raise ValueError(MSG_NOT_EXPORT.format(path=path, found=found))
    ratings: list[RawRating] = []
    ignored: list[SkippedRow] = []
    for index, task in enumerate(data, start=1):
        data_ = task.get("data") if isinstance(task.get("data"), dict) else {}
        where = f"task {task.get('id', f'#{index}')}"
        annotations = task.get("annotations") or []
        for number, annotation in enumerate(annotations, start=1):
            if not isinstance(annotation, dict):
                continue
            row = f"{where}, annotation {annotation.get('id', f'#{number}')}"
            if annotation.get("was_cancelled"):
                ignored.append(SkippedRow(row, CANCELLED))
                continue
            ratings.append(_rating(row, data_, annotation))
    return ratings, ignored


def _rating(row: str, data: dict[str, Any], annotation: dict[str, Any]) -> RawRating:
    results = [r for r in annotation.get("result") or [] if isinstance(r, dict)]
    by_name = {r.get("from_name"): r.get("value") or {} for r in results}
    choices = [r for r in results if r.get("type") == "choices"]
    label_value = by_name.get(LABEL)
    if label_value is None and len(choices) == 1:  # a config whose control was renamed
        label_value = choices[0].get("value") or {}
    picked = (label_value or {}).get("choices")
    label = picked[0] if isinstance(picked, list) and len(picked) == 1 else picked
    text = (by_name.get(RATIONALE) or {}).get("text")
    rationale = "\n".join(str(t) for t in text) if isinstance(text, list) else text
    sha = data.get(SNAPSHOT_KEY)
    return RawRating(row=row, case_id=data.get(CASE_ID_KEY),
                     annotator=_annotator(annotation.get("completed_by")), label=label,
                     confidence=(by_name.get(CONFIDENCE) or {}).get("rating"),
                     rationale=rationale, seconds_spent=annotation.get("lead_time"),
                     snapshot_sha256=sha if isinstance(sha, str) else None)


def _annotator(completed_by: object) -> str | None:
    """The annotator's email when the export has it, else ``labelstudio-user-<id>``."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        completed_by = completed_by.get("id")
    if isinstance(completed_by, bool) or completed_by is None:
        return None
    if isinstance(completed_by, int):
        return f"{USER_PREFIX}{completed_by}"
    if isinstance(completed_by, str) and completed_by.strip():
        return completed_by.strip()
    return None
