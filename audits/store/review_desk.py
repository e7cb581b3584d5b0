"""What frames a case on the reviewer desk: its system, the panel lead's instructions, and
what the system's card says about its columns.

A panel lead writes, per system, what is being decided and what each label means
(:meth:`InstructionOps.set_review_instructions`, requires "manage the panel", logged as
``set_review_instructions``). Where none are written, :func:`default_instructions` says
it in general words, naming the system's outcome. :func:`case_context` gathers, for one
case, the system's name, these instructions and the card's column entries (name, and a
readable ``label`` and ``unit`` where the card gives them), from which
:func:`audits.systems.card.column_labels` makes readable labels (the store imports no
analysis, so the labelling itself lives there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.systems import MSG_UNKNOWN_SYSTEM, system_row
from audits.store.tables import AuditRun, Case, Dataset, ReviewInstructionRow, System, utcnow
from audits.store.validation import check_actor, check_text

__all__ = ["MSG_UNKNOWN_SYSTEM", "CaseContext", "InstructionOps", "ReviewInstructions",
           "case_context", "default_instructions"]

#: The longest question, label meaning or note a panel lead may write.
MAX_QUESTION, MAX_MEANING, MAX_NOTES = 1000, 1000, 4000


@dataclass(frozen=True)
class ReviewInstructions:
    """What reviewers of a system's cases decide, and what each label means.

    ``updated_by`` and ``updated_at`` are None for the default text (none written yet).
    """

    system_name: str | None
    question: str
    positive_meaning: str
    negative_meaning: str
    notes: str
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def written(self) -> bool:
        """True when a panel lead wrote these (False for the default text)."""
        return self.updated_by is not None

    def meaning(self, label: int) -> str:
        """What ``label`` (1 or 0) means."""
        return self.positive_meaning if label == 1 else self.negative_meaning


@dataclass(frozen=True)
class CaseContext:
    """A case's frame: its system's name, the instructions and the card's column entries
    (``name`` with ``label`` and ``unit`` where given) for the columns the case shows."""

    system_name: str | None
    instructions: ReviewInstructions
    card_columns: tuple[dict[str, Any], ...] = ()


def default_instructions(system_name: str | None, outcome: str | None = None, *,
                         favourable: bool | None = None) -> ReviewInstructions:
    """The instructions shown until a panel lead writes a system's own.

    Examples
    --------
    >>> d = default_instructions("credit", "good credit risk", favourable=True)
    >>> d.positive_meaning
    'the case supports good credit risk, the favourable outcome for the person.'
    >>> default_instructions(None).question[:44]
    'Decide what the right outcome is for this ca'
    """
    word = (outcome or "").strip() or "positive"
    good = {True: "the favourable outcome for the person",
            False: "the adverse outcome for the person",
            None: "the outcome the system calls positive"}[favourable]
    return ReviewInstructions(
        system_name=system_name,
        question=("Decide what the right outcome is for this case, from what the case shows: "
                  "decide as you would if the decision were yours, not as you guess the "
                  "model would."),
        positive_meaning=f"the case supports {word}, {good}.",
        negative_meaning=f"the case does not support {word}.",
        notes=("If the case does not show enough to decide, answer Cannot tell and say what "
               "is missing. Skip puts a case at the end of your queue for later."))


def case_context(session: Session, case: Case, names: Iterable[str]) -> CaseContext:
    """Return ``case``'s system, instructions and labels for the columns ``names``."""
    found = session.execute(
        select(Dataset, System).select_from(AuditRun)
        .join(Dataset, Dataset.id == AuditRun.dataset_id)
        .outerjoin(System, System.id == Dataset.system_id)
        .where(AuditRun.id == case.audit_run_id)).first()
    dataset, system = (None, None) if found is None else found
    name = system.name if system is not None else (dataset.name if dataset else None)
    shown = set(names)
    card = {} if dataset is None else dict(dataset.card_json or {})
    columns = tuple({k: c[k] for k in ("name", "label", "unit") if k in c}
                    for c in card.get("columns") or []
                    if isinstance(c, dict) and c.get("name") in shown)
    return CaseContext(system_name=name,
                       instructions=_instructions(session, system, dataset, case),
                       card_columns=columns)


class InstructionOps(StoreBase):
    """The review-instruction methods of :class:`~audits.store.Store`."""

    def review_instructions(self, system: str) -> ReviewInstructions:
        """Return system ``system``'s review instructions (the default text if none).

        Raises
        ------
        LookupError
            No system has this name (the message lists the known ones).
        """
        with self._read() as session:
            row = system_row(session, system)
            dataset = session.scalar(select(Dataset).where(Dataset.system_id == row.id)
                                     .order_by(Dataset.id.desc()))
            return _instructions(session, row, dataset, None)

    def set_review_instructions(self, actor: Actor, system: str, *, question: str,
                                positive_meaning: str, negative_meaning: str,
                                notes: str = "") -> ReviewInstructions:
        """Write (or replace) system ``system``'s review instructions; logged.

        Requires "manage the panel" (panel leads and admins). The question and both
        label meanings must be non-empty; ``notes`` may be.

        Raises
        ------
        PermissionDenied
            The actor may not manage the panel.
        LookupError
            No system has this name.
        TypeError, ValueError
            A field that is not text, empty or too long (the message names it).
        """
        require_role(check_actor(actor), "manage the panel")
        values = {"question": check_text(question, "question", MAX_QUESTION),
                  "positive_meaning": check_text(positive_meaning, "positive_meaning",
                                                 MAX_MEANING),
                  "negative_meaning": check_text(negative_meaning, "negative_meaning",
                                                 MAX_MEANING),
                  "notes": check_text(notes, "notes", MAX_NOTES, empty=True)}
        with self._write() as (session, head):
            target = system_row(session, system)
            row = session.scalar(select(ReviewInstructionRow).where(
                ReviewInstructionRow.system_id == target.id))
            replaced = row is not None
            if row is None:
                row = ReviewInstructionRow(system_id=target.id, **values,
                                           updated_by=actor.username, updated_at=utcnow())
                session.add(row)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_by, row.updated_at = actor.username, utcnow()
            session.flush()
            append_entry(session, head, actor=actor.username, action="set_review_instructions",
                         entity="system", entity_id=target.id,
                         payload={"system": target.name, "replaced": replaced, **values})
            return _record(row, target.name)


def _instructions(session: Session, system: System | None, dataset: Dataset | None,
                  case: Case | None) -> ReviewInstructions:
    row = None if system is None else session.scalar(select(ReviewInstructionRow).where(
        ReviewInstructionRow.system_id == system.id))
    name = system.name if system is not None else (dataset.name if dataset else None)
    if row is not None:
        return _record(row, name)
    return default_instructions(name, _outcome(dataset, case),
                                favourable=None if system is None
                                else system.positive_is_favourable)


def _outcome(dataset: Dataset | None, case: Case | None) -> str | None:
    """The word for the positive outcome: the dataset's label, else the model's wording."""
    roles: dict[str, Any] = {} if dataset is None else dict(dataset.roles_json or {})
    positive = roles.get("positive_label")
    if positive is not None and str(positive) not in ("1", "1.0", "True", "true"):
        return str(positive)
    label = "" if case is None else str(
        (case.snapshot_json.get("decision") or {}).get("label") or "")
    word = label.removeprefix("Predicted ").removeprefix("not ") if label.startswith(
        "Predicted ") else ""
    return word or None


def _record(row: ReviewInstructionRow, system_name: str | None) -> ReviewInstructions:
    return ReviewInstructions(system_name=system_name, question=row.question,
                              positive_meaning=row.positive_meaning,
                              negative_meaning=row.negative_meaning, notes=row.notes,
                              updated_by=row.updated_by, updated_at=row.updated_at)
