"""Display tables and labels for the rating, adjudication and panel pages (no statistics).

Each function reshapes what the engine returned (a reviewer's assignments, a case's
ratings, the panel, the suppressed background aggregates, panel progress) into a small
:class:`pandas.DataFrame` or a label; pages only show them, so the shaping is tested
without Streamlit. A suppressed aggregate (None from the engine) is shown as
:data:`SUPPRESSED`, never as a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from app.formatting import when
from audits.store import CaseView, MyAssignment, ReviewerRecord

__all__ = [
    "CONFIDENCE",
    "NOT_SAID",
    "PROGRESS_LABELS",
    "SUPPRESSED",
    "aggregate_table",
    "assignment_counts",
    "decision_options",
    "my_ratings_table",
    "outcome_word",
    "progress_counts",
    "ratings_table",
    "reviewer_table",
]

#: How a value held by fewer reviewers than the engine's minimum is shown.
SUPPRESSED = "fewer than 5"
#: The background answer that stores nothing for an attribute.
NOT_SAID = "prefer not to say"
#: Confidence levels as the form offers them.
CONFIDENCE = {1: "1 · guessing", 2: "2", 3: "3 · fairly sure", 4: "4", 5: "5 · certain"}
#: Case statuses of :meth:`~audits.store.Store.panel_progress`, in display order.
PROGRESS_LABELS = {"cases_queued": "Queued (no reviewer yet)", "cases_in_review": "In review",
                   "cases_disputed": "Disputed (needs adjudication)", "cases_closed": "Closed"}


def outcome_word(snapshot: Mapping[str, Any], positive_label: str | None = None) -> str | None:
    """Return the word for the positive outcome: the dataset's, else the snapshot's.

    The snapshot's decision label reads ``"Predicted <word>"`` or ``"Predicted not <word>"``
    (only present when the model is shown); the dataset's ``positive_label`` is the same
    in every blind condition, so it is preferred.

    Examples
    --------
    >>> outcome_word({"decision": {"value": 0, "label": "Predicted not good credit risk"}})
    'good credit risk'
    >>> outcome_word({}, "income >50K"), outcome_word({})
    ('income >50K', None)
    """
    if positive_label and positive_label != "1":
        return positive_label
    label = str((snapshot.get("decision") or {}).get("label") or "")
    if not label.startswith("Predicted "):
        return None
    word = label.removeprefix("Predicted ")
    return word.removeprefix("not ") or None


def decision_options(word: str | None) -> dict[int, str]:
    """Return the two decisions a reviewer chooses from, positive first.

    Examples
    --------
    >>> decision_options("good credit risk")
    {1: 'Good credit risk (1)', 0: 'Not good credit risk (0)'}
    >>> decision_options(None)
    {1: 'Positive (1)', 0: 'Negative (0)'}
    """
    if not word:
        return {1: "Positive (1)", 0: "Negative (0)"}
    return {1: f"{word[:1].upper()}{word[1:]} (1)", 0: f"Not {word} (0)"}


def ratings_table(ratings: Sequence[Mapping[str, Any]], options: Mapping[int, str],
                  ) -> pd.DataFrame:
    """Return one row per rating: reviewer, decision, confidence, model shown, rationale, tags.

    Examples
    --------
    >>> r = [{"reviewer": "Ann", "label": 1, "confidence": 4, "model_shown": False,
    ...       "rationale": "", "tags": ["a", "b"], "version": 2}]
    >>> ratings_table(r, decision_options(None)).to_dict("records")[0]["model's suggestion"]
    'hidden'
    """
    rows = [{"reviewer": str(r.get("reviewer", "")),
             "decision": options.get(int(r["label"]), str(r["label"])),
             "confidence": int(r["confidence"]),
             "model's suggestion": "shown" if r.get("model_shown") else "hidden",
             "rationale": str(r.get("rationale") or "-"),
             "tags": ", ".join(str(t) for t in r.get("tags") or []) or "-",
             "version": int(r.get("version", 1)),
             "rubric": " · ".join(f"{k.replace('_', ' ')} {v}"
                                  for k, v in (r.get("rubric") or {}).items()) or "-",
             "corrected answer": str(r.get("corrected_answer") or "-")}
            for r in ratings]
    columns = ["reviewer", "decision", "confidence", "model's suggestion", "rationale",
               "tags", "version"]
    if any(r.get("rubric") for r in ratings):  # a conversation: its rubric, no tags
        columns = ["reviewer", "decision", "confidence", "model's suggestion", "rubric",
                   "corrected answer", "rationale", "version"]
    return pd.DataFrame(rows, columns=columns).rename(
        columns={"model's suggestion": "judge's verdict"} if "rubric" in columns else {})


def aggregate_table(aggregates: Mapping[str, Mapping[str, int | None]]) -> pd.DataFrame:
    """Return the panel's composition as ``attribute, value, reviewers`` (text).

    Suppressed cells (None) read :data:`SUPPRESSED`.

    Examples
    --------
    >>> aggregate_table({"gender": {"woman": 6, "man": None}}).values.tolist()
    [['gender', 'woman', '6'], ['gender', 'man', 'fewer than 5']]
    """
    rows = [(str(name), str(value), SUPPRESSED if n is None else str(int(n)))
            for name, values in aggregates.items() for value, n in values.items()]
    return pd.DataFrame(rows, columns=["attribute", "value", "reviewers"])


def progress_counts(progress: Mapping[str, int]) -> list[tuple[str, int]]:
    """Return (label, cases) for each case status, in display order.

    Examples
    --------
    >>> progress_counts({"cases_closed": 3, "cases_queued": 1})[0]
    ('Queued (no reviewer yet)', 1)
    """
    return [(label, int(progress.get(key, 0))) for key, label in PROGRESS_LABELS.items()]


def reviewer_table(reviewers: Sequence[ReviewerRecord]) -> pd.DataFrame:
    """Return one row per panel member; simulated reviewers are labelled as such."""
    rows = [{"reviewer": r.display_name, "username": r.username,
             "kind": "simulated" if r.simulated else "person",
             "available": "yes" if r.available else "no",
             "open cases": r.open_assignments, "capacity": r.capacity,
             "background reported": "yes" if r.has_background else "no",
             "expertise": ", ".join(r.expertise) or "-"}
            for r in reviewers]
    return pd.DataFrame(rows, columns=["reviewer", "username", "kind", "available",
                                       "open cases", "capacity", "background reported",
                                       "expertise"])


def my_ratings_table(views: Iterable[CaseView], options: Mapping[int, str]) -> pd.DataFrame:
    """Return a reviewer's own answered cases: case, your decision ("cannot tell" for that
    answer), confidence, rated, version, status."""
    rows = [{"case": v.case_id,
             "your decision": "cannot tell" if v.cannot_tell else "-" if v.my_rating is None
             else options.get(v.my_rating.label, str(v.my_rating.label)),
             # None (not "-") where there is no rating: the column stays numeric.
             "confidence": None if v.my_rating is None else int(v.my_rating.confidence),
             "rated": "-" if v.my_rating is None else when(v.my_rating.updated_at),
             "version": 0 if v.my_rating is None else v.my_rating.version,
             "case status": v.case_status.replace("_", " ")}
            for v in views]
    return pd.DataFrame(rows, columns=["case", "your decision", "confidence", "rated",
                                       "version", "case status"])


def assignment_counts(assignments: Sequence[MyAssignment]) -> tuple[int, int]:
    """Return (rated, assigned) of a reviewer's own assignments.

    Examples
    --------
    >>> assignment_counts([])
    (0, 0)
    """
    return sum(1 for a in assignments if a.rated), len(assignments)


def cannot_tell_table(answers: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Return one row per "cannot tell" answer: reviewer, reason, when.

    Examples
    --------
    >>> cannot_tell_table([{"reviewer": "Ann", "reason": "", "created_at": "2026-01-02"}]
    ...                   ).values.tolist()
    [['Ann', '-', '2026-01-02']]
    """
    rows = [{"reviewer": str(a.get("reviewer", "")), "reason": str(a.get("reason") or "-"),
             "answered": when(a.get("created_at"))} for a in answers]
    return pd.DataFrame(rows, columns=["reviewer", "reason", "answered"])
