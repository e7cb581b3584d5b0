"""Model versions: a retrained candidate is deployed only when a person approves it.

A model registered with a ``parent_id`` (see
:meth:`~audits.store.provenance.ProvenanceOps.record_model`) is a ``candidate`` in its
parent's *family* (the root model and all its descendants). Approval retires the parent
and deploys the candidate in one transaction, so a family always has exactly one
``deployed`` member; rejection closes the candidate. Both are the separation-of-duties
step: the decider is a signed-in person (not the command-line operator), holds "approve
a model", and for approval is not the one who registered the retrained model. Every
decision appends one log entry in the same transaction, so a refused one stores nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audits.roles import Actor, PermissionDenied, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.provenance import MSG_UNKNOWN_MODEL, _get
from audits.store.records import ModelRecord, model_record, user_record
from audits.store.tables import LogHead, Model, User, utcnow
from audits.store.validation import check_actor, check_id, check_text

__all__ = ["ModelVersionOps"]

PERMISSION = "approve a model"
MSG_NOT_A_PERSON = (
    "{actor} is the command-line operator, not a person; a model is deployed or rejected "
    "only by a signed-in user"
)
MSG_NOT_ACTIVE_USER = (
    "{actor} is not an active user of this store; a model is deployed or rejected only by "
    "a signed-in user"
)
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

    def approve_model(self, actor: Actor, model_id: int, note: str = "") -> ModelRecord:
        """Deploy a candidate model: its parent is retired, the candidate deployed.

        Requires "approve a model", a decider who is an active user of the store (not
        ``Actor.system()``) and not the one who registered the candidate. Statuses are
        read inside the write transaction (after the log-head lock), so of two sibling
        candidates approved at once the second is refused.

        Raises
        ------
        LookupError
            No model with this id.
        PermissionDenied
            Wrong role, not a person (:data:`MSG_NOT_A_PERSON`,
            :data:`MSG_NOT_ACTIVE_USER`) or the candidate's own author
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
        _check_not_system(actor)
        with self._write() as (session, head):
            _check_person(session, actor)
            row = _candidate(session, key, "approved")
            if actor.username == row.created_by:
                raise PermissionDenied(MSG_SELF_APPROVAL.format(actor=actor.username, id=key))
            if row.parent_id is None:
                raise ValueError(MSG_NO_PARENT.format(id=key))
            parent = _locked(session, row.parent_id)
            if parent.status != "deployed":
                deployed = _deployed(session, parent).id
                raise ValueError(MSG_PARENT_NOT_DEPLOYED.format(
                    id=key, parent=parent.id, status=parent.status, deployed=deployed))
            parent.status = "retired"
            _decide(row, actor, "deployed", text)
            _log(session, head, actor, row, "approve_model", {"previous_deployed_id": parent.id})
            return model_record(row)

    def reject_model(self, actor: Actor, model_id: int, note: str) -> ModelRecord:
        """Close a candidate model without deploying it; ``note`` (why) is required.

        Requires "approve a model" and a decider who is an active user of the store.

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
        _check_not_system(actor)
        with self._write() as (session, head):
            _check_person(session, actor)
            row = _candidate(session, key, "rejected")
            _decide(row, actor, "rejected", text)
            _log(session, head, actor, row, "reject_model", {})
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


def _check_not_system(actor: Actor) -> None:
    if actor.username == Actor.system().username:
        raise PermissionDenied(MSG_NOT_A_PERSON.format(actor=actor.username))


def _check_person(session: Session, actor: Actor) -> None:
    user = session.scalar(select(User).where(User.username == actor.username))
    if user is None or not user.active:
        raise PermissionDenied(MSG_NOT_ACTIVE_USER.format(actor=actor.username))
    # The role the store holds now, not only the one the caller's Actor claims.
    require_role(user_record(user).actor, PERMISSION)


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
