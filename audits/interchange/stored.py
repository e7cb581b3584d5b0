"""Export a stored audit's queue to an annotation tool, and import the tool's reviews.

:func:`export_queue` writes the audit's open cases (every case not closed) as Label
Studio tasks, Argilla records or a CSV, each showing what a *blind* reviewer sees: the
features without the sensitive attributes, never the model's decision, score or
explanation, the reasons a case was flagged, its subject group or a gold answer. So
every imported rating is a blind one.

:func:`import_ratings` reads the tool's export back and stores it through
:meth:`audits.store.Store.import_ratings`: one transaction, idempotent, and all or
nothing unless ``skip_bad``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audits.interchange import argilla, csv_format, labelstudio
from audits.interchange.common import CaseLabels, ExportCase, RawRating, to_import_row
from audits.roles import PERMISSIONS, Actor, PermissionDenied, require_role
from audits.store import Store
from audits.store.imports import SkippedRow
from audits.store.reviews import blinded_snapshot

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "MSG_EXPORT_DENIED",
    "MSG_NO_QUEUE",
    "QueueExport",
    "RatingsImport",
    "case_labels",
    "export_queue",
    "import_ratings",
]

EXPORT_FORMATS = ("labelstudio", "argilla", "csv")
IMPORT_FORMATS = ("labelstudio", "argilla", "long")
EXPORT_ACTIONS = ("manage the panel", "run an audit")
MSG_FORMAT = "unknown {what} format {value!r}; choose one of: {choices}"
MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_NO_QUEUE = "audit run {id} has no review queue; build it first (fairpanel queue build)"
MSG_EXPORT_DENIED = (
    "{actor} ({role}) may not export a review queue: it needs a role that may "
    "\"manage the panel\" or \"run an audit\""
)
Reader = Callable[[Path], tuple[list[RawRating], list[SkippedRow]]]
READERS: dict[str, Reader] = {"labelstudio": labelstudio.read_export,
                              "argilla": argilla.read_export, "long": csv_format.read_long}


@dataclass(frozen=True)
class QueueExport:
    """What :func:`export_queue` wrote: the files (tasks first) and how many cases."""

    audit_run_id: int
    format: str
    files: tuple[Path, ...]
    n_cases: int

    def to_dict(self) -> dict[str, Any]:
        """The ``queue export --json`` contract."""
        return {"audit_run_id": self.audit_run_id, "format": self.format,
                "files": [str(f) for f in self.files], "n_cases": self.n_cases,
                "blind": True}


@dataclass(frozen=True)
class RatingsImport:
    """What :func:`import_ratings` stored, and every row it left out with the reason."""

    audit_run_id: int
    format: str
    file: str
    n_ratings_added: int
    n_already_present: int
    reviewers_created: tuple[str, ...]
    skipped: tuple[SkippedRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``ratings import --json`` contract."""
        return {"audit_run_id": self.audit_run_id, "format": self.format, "file": self.file,
                "n_ratings_added": self.n_ratings_added,
                "n_already_present": self.n_already_present,
                "reviewers_created": list(self.reviewers_created),
                "skipped": [s.as_dict() for s in self.skipped]}


def export_queue(store: Store, actor: Actor, audit_run_id: int, *, format: str,
                 out: Path | str) -> QueueExport:
    """Write an audit's open cases as tasks of an annotation tool, blind.

    Parameters
    ----------
    store : Store
    actor : Actor
        A role that may "manage the panel" or "run an audit".
    audit_run_id : int
        An audit with a review queue.
    format : {"labelstudio", "argilla", "csv"}
        ``labelstudio``: a JSON list of tasks at ``out`` and the labelling config beside
        it (``<stem>.label_config.xml``); ``argilla``: a JSON list of records at ``out``
        and the dataset settings beside it (``<stem>.settings.json``); ``csv``: one row
        per case at ``out``.
    out : path
        The file of tasks, records or rows.

    Returns
    -------
    QueueExport

    Raises
    ------
    PermissionDenied
        The actor may neither manage the panel nor run an audit.
    LookupError
        No such audit run, or it has no queue.
    ValueError
        An unknown format; a feature whose name the export needs for its own key.

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     export_queue(store, Actor.system(), 1, format="csv", out="q.csv")
    Traceback (most recent call last):
    ...
    LookupError: no audit run with id 1
    """
    _check_exporter(actor)
    _check_format(format, EXPORT_FORMATS, "export")
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_UNKNOWN_RUN.format(id=audit_run_id))
    if store.get_flag_policy(audit_run_id) is None:
        raise LookupError(MSG_NO_QUEUE.format(id=audit_run_id))
    cases = [ExportCase(c.id, c.audit_run_id, c.snapshot_sha256,
                        blinded_snapshot(c.snapshot, False, False)["features"])
             for c in store.list_cases(audit_run_id) if c.status != "closed"]
    labels = case_labels(store, audit_run_id)
    path = Path(out)
    files = [path]
    if format == "labelstudio":
        _write_json(path, labelstudio.tasks(cases))
        files.append(path.with_name(f"{path.stem}.label_config.xml"))
        files[1].write_text(labelstudio.label_config(labels), encoding="utf-8")
    elif format == "argilla":
        _write_json(path, argilla.records(cases))
        files.append(path.with_name(f"{path.stem}.settings.json"))
        _write_json(files[1], argilla.settings(labels))
    else:
        path.write_text(csv_format.write_cases(cases), encoding="utf-8")
    return QueueExport(audit_run_id, format, tuple(files), len(cases))


def import_ratings(store: Store, actor: Actor, audit_run_id: int, path: Path | str, *,
                   format: str, skip_bad: bool = False) -> RatingsImport:
    """Store the ratings of a tool's export against an audit's cases.

    Parameters
    ----------
    store : Store
    actor : Actor
        A role that may "manage the panel".
    audit_run_id : int
    path : path
        A Label Studio JSON export, exported Argilla records (JSON or JSON lines), or a
        long CSV ``case_id, reviewer, label[, confidence, rationale]``.
    format : {"labelstudio", "argilla", "long"}
    skip_bad : bool, default False
        Store the good rows when some cannot be placed (they are listed in ``skipped``);
        by default such an import stores nothing.

    Returns
    -------
    RatingsImport
        ``skipped`` lists the rows left out: cancelled or unsubmitted answers (never a
        reason to reject an import) and, with ``skip_bad``, the bad rows.

    Raises
    ------
    PermissionDenied
        The actor may not manage the panel.
    LookupError
        No such audit run.
    ValueError
        An unknown format or an unreadable file;
        :class:`~audits.store.imports.ImportRejected` (a ValueError) listing every bad
        row when some cannot be placed and ``skip_bad`` is False.
    """
    require_role(actor, "manage the panel")
    _check_format(format, IMPORT_FORMATS, "import")
    if store.get_audit_run(audit_run_id) is None:
        raise LookupError(MSG_UNKNOWN_RUN.format(id=audit_run_id))
    path = Path(path)
    raw, ignored = READERS[format](path)
    labels = case_labels(store, audit_run_id)
    result = store.import_ratings(actor, audit_run_id, [to_import_row(r, labels) for r in raw],
                                  source_format=format, file_name=path.name,
                                  skip_bad=skip_bad)
    return RatingsImport(audit_run_id, format, path.name, result.n_ratings_added,
                         result.n_already_present, result.reviewers_created,
                         (*ignored, *result.skipped))


def case_labels(store: Store, audit_run_id: int) -> CaseLabels:
    """Return the two labels of an audit's cases, named after its positive outcome.

    The word is the dataset's ``positive_label`` role (``"positive"`` when it has none),
    the same word the review queue's snapshots use.
    """
    run = store.get_audit_run(audit_run_id)
    dataset = None if run is None else store.get_dataset(run.dataset_id)
    word = None if dataset is None else dataset.roles.get("positive_label")
    return CaseLabels.for_word(str(word or "positive"))


def _check_exporter(actor: Actor) -> None:
    if not any(actor.role in PERMISSIONS[action] for action in EXPORT_ACTIONS):
        raise PermissionDenied(MSG_EXPORT_DENIED.format(actor=actor.username,
                                                        role=actor.role.value))


def _check_format(value: object, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(MSG_FORMAT.format(what=what, value=value, choices=", ".join(choices)))


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                    encoding="utf-8")
