"""Model versions: a retrained candidate is deployed only when a person approves it.

A model registered with a ``parent_id`` (see
:meth:`~audits.store.provenance.ProvenanceOps.record_model`) is a ``candidate`` in its
parent's *family* (the root model and all its descendants). Approval retires the parent
and deploys the candidate in one transaction, so a family always has exactly one
``deployed`` member; rejection closes the candidate. Both are the separation-of-duties
step: the decider passes :func:`audits.store.approvals.check_approver` (an active, named
user of the store, not the command-line operator, holding "approve a model"), and for
approval is not the one who registered the retrained model. Every decision appends one
log entry in the same transaction, with how the decider was authenticated
(``authentication``), so a refused one stores nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, Authentication, require_role
from audits.store.approvals import authentication_log, check_approver
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.provenance import MSG_UNKNOWN_MODEL, _get
from audits.store.records import ModelRecord, model_record
from audits.store.tables import LogHead, Model, utcnow
from audits.store.validation import check_actor, check_id, check_text

__all__ = ["ModelVersionOps"]

PERMISSION = "approve a model"
MSG_SELF_APPROVAL = (
    "{actor} registered model {id} and cannot approve it: a person approves someone "
    "else's retraining"
)
MSG_NOT_CANDIDATE = "model {id} is {status}; only a candidate model can be {action}"
MSG_PARENT_NOT_DEPLOYED = (
    "model {id} cannot be deployed: its parent model {parent} is {status}, not deployed; "
    "model {deployed} is this lineage's deployed version (e.g. a sibling candidate was "
    "approved first)"
)
MSG_NO_PARENT = "model {id} is a candidate without a parent model; there is nothing to replace"
MSG_NOTE_REQUIRED = "a note is required to reject a model: say why it must not be deployed"
MSG_TWO_DEPLOYED = "models {ids} of one lineage are all deployed; the store is inconsistent"


class ModelVersionOps(StoreBase):
    """The model-version methods of :class:`~audits.store.Store`."""

    def approve_model(self, actor: Actor, model_id: int, note: str = "", *,
                      authentication: Authentication | None = None) -> ModelRecord:
        """Deploy a candidate model: its parent is retired, the candidate deployed.

        Requires "approve a model" and a decider who passes
        :func:`~audits.store.approvals.check_approver`: an active, named user of the store
        (not ``Actor.system()``) who did not register the candidate (names compared
        ignoring case). ``authentication`` says how the decider was authenticated; the
        log entry records it (None: ``authenticated_by: none, via: python``). Statuses
        are read inside the write transaction (after the log-head lock), so of two
        sibling candidates approved at once the second is refused.

        Raises
        ------
        LookupError
            No model with this id.
        PermissionDenied
            Wrong role, not an active, named user of the store (the messages of
            :mod:`audits.store.approvals`) or the candidate's own author
            (:data:`MSG_SELF_APPROVAL`).
        ValueError
            The model is not a candidate, or its parent is no longer deployed.

        Examples
        --------
        >>> from audits.roles import Role
        >>> from audits.store import Store
        >>> dana, casey = Actor("dana", Role.DATA_SCIENTIST), Actor("casey", Role.ADMIN)
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "casey", "admin")
        ...     ds = store.record_dataset(dana, name="adult", source="bundled",
        ...                               sha256="ab" * 32, n_rows=10, roles={}, card="")
        ...     common = dict(dataset_id=ds.id, kind="lr", path="m.skops", params={},
        ...                   metrics={}, feature_names=["age"], split={})
        ...     root = store.record_model(dana, sha256="cd" * 32, **common)
        ...     new = store.record_model(dana, sha256="ef" * 32, parent_id=root.id,
        ...                              lineage=[{"row": 3, "old_label": 0, "new_label": 1}],
        ...                              **common)
        ...     before = store.deployed_version(new.id).id
        ...     done = store.approve_model(casey, new.id, note="fairer, as accurate")
        ...     before, done.status, store.get_model(root.id).status
        (1, 'deployed', 'retired')
        """
        require_role(check_actor(actor), PERMISSION)
        key = check_id(model_id, "model_id")
        text = check_text(note, "note", None, empty=True)
        how = authentication_log(authentication)
        with self._write() as (session, head):
            row = _candidate(session, key, "approved")
            check_approver(session, actor, PERMISSION, authors=[
                (row.created_by, MSG_SELF_APPROVAL.format(actor=actor.username, id=key))])
            if row.parent_id is None:
                raise ValueError(MSG_NO_PARENT.format(id=key))
            parent = _locked(session, row.parent_id)
            if parent.status != "deployed":
                deployed = _deployed(session, parent).id
                raise ValueError(MSG_PARENT_NOT_DEPLOYED.format(
                    id=key, parent=parent.id, status=parent.status, deployed=deployed))
            parent.status = "retired"
            _decide(row, actor, "deployed", text)
            _log(session, head, actor, row, "approve_model",
                 {"previous_deployed_id": parent.id, "authentication": how})
            return model_record(row)

    def reject_model(self, actor: Actor, model_id: int, note: str, *,
                     authentication: Authentication | None = None) -> ModelRecord:
        """Close a candidate model without deploying it; ``note`` (why) is required.

        Requires "approve a model" and a decider who is an active, named user of the
        store (:func:`~audits.store.approvals.check_approver`; the candidate's author
        may withdraw it). ``authentication`` is recorded as in :meth:`approve_model`.

        Raises
        ------
        LookupError
            No model with this id.
        PermissionDenied
            Wrong role, or not a person (see :meth:`approve_model`).
        ValueError
            No note (:data:`MSG_NOTE_REQUIRED`), or the model is not a candidate.
        """
        require_role(check_actor(actor), PERMISSION)
        key = check_id(model_id, "model_id")
        if not isinstance(note, str) or not note.strip():
            raise ValueError(MSG_NOTE_REQUIRED)
        text = check_text(note, "note", None)
        how = authentication_log(authentication)
        with self._write() as (session, head):
            row = _candidate(session, key, "rejected")
            check_approver(session, actor, PERMISSION)
            _decide(row, actor, "rejected", text)
            _log(session, head, actor, row, "reject_model", {"authentication": how})
            return model_record(row)

    def deployed_version(self, model_id: int) -> ModelRecord:
        """Return the deployed model of ``model_id``'s lineage (the root until one is approved).

        Raises
        ------
        LookupError
            No model with this id.
        """
        key = check_id(model_id, "model_id")
        with self._read() as session:
            return model_record(_deployed(session, _get(session, Model, key, MSG_UNKNOWN_MODEL)))

    def model_lineage(self, model_id: int) -> list[ModelRecord]:
        """Return the chain from the root model to ``model_id``, oldest first.

        Raises
        ------
        LookupError
            No model with this id.
        """
        key = check_id(model_id, "model_id")
        with self._read() as session:
            chain = [_get(session, Model, key, MSG_UNKNOWN_MODEL)]
            while chain[-1].parent_id is not None:
                chain.append(session.get_one(Model, chain[-1].parent_id))
            return [model_record(row) for row in reversed(chain)]

    def model_versions(self, model_id: int) -> list[ModelRecord]:
        """Return every model of ``model_id``'s lineage (root and descendants), oldest first.

        Raises
        ------
        LookupError
            No model with this id.
        """
        key = check_id(model_id, "model_id")
        with self._read() as session:
            family = _family(session, _get(session, Model, key, MSG_UNKNOWN_MODEL))
            return [model_record(row) for row in family]


def _locked(session: Session, key: int) -> Model:
    query = select(Model).where(Model.id == key).with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if row is None:
        raise LookupError(MSG_UNKNOWN_MODEL.format(id=key))
    return row


def _candidate(session: Session, key: int, action: str) -> Model:
    row = _locked(session, key)
    if row.status != "candidate":
        raise ValueError(MSG_NOT_CANDIDATE.format(id=key, status=row.status, action=action))
    return row


def _decide(row: Model, actor: Actor, status: str, note: str) -> None:
    row.status, row.decided_by, row.decided_at = status, actor.username, utcnow()
    row.decision_note = note or None


def _root(session: Session, row: Model) -> Model:
    while row.parent_id is not None:
        row = session.get_one(Model, row.parent_id)
    return row


def _family(session: Session, row: Model) -> list[Model]:
    root = _root(session, row)
    # A family never leaves its data set (record_model checks it), so one query suffices.
    query = select(Model).where(Model.dataset_id == root.dataset_id).order_by(Model.id)
    members, family = {root.id}, [root]
    for other in session.scalars(query):
        # Ids grow with insertion and a parent always exists first: one pass in id order.
        if other.parent_id in members:
            members.add(other.id)
            family.append(other)
    return family


def _deployed(session: Session, row: Model) -> Model:
    family = _family(session, row)
    deployed = [m for m in family if m.status == "deployed"]
    if len(deployed) > 1:
        raise RuntimeError(MSG_TWO_DEPLOYED.format(ids=[m.id for m in deployed]))
    return deployed[0] if deployed else family[0]


def _log(session: Session, head: LogHead, actor: Actor, row: Model, action: str,
         extra: dict[str, Any]) -> None:
    payload = {"model_id": row.id, "parent_id": row.parent_id, "status": row.status,
               "previous_status": "candidate", "note": row.decision_note or "", **extra}
    append_entry(session, head, actor=actor.username, action=action, entity="model",
                 entity_id=row.id, payload=payload)
