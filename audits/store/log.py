"""The hash-chained audit log: append inside a write transaction, verify the chain.

Entry ``n`` stores ``hash = sha256(prev_hash + canonical_json(body))`` where ``body`` is
``{id, ts, actor, action, entity, entity_id, payload}`` and ``prev_hash`` is the hash of
entry ``n - 1`` (64 zeros for the first). The single-row ``log_head`` table names the
last entry; every append locks it, so appends are serialised and the chain cannot fork,
and deleting entries at the tail leaves a head that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, not_, or_, select
from sqlalchemy.orm import Session

from audits.store.db import SQLITE_BEGIN_OPTION
from audits.store.tables import AuditLog, LogHead, utcnow

__all__ = [
    "ENV_EVERY_ENTRIES",
    "ENV_EVERY_MINUTES",
    "GENESIS_HASH",
    "CheckpointPolicy",
    "LogFilter",
    "LogVerification",
    "append_entry",
    "canonical_json",
    "entry_hash",
    "lock_head",
    "filter_conditions",
    "snapshot_connection",
    "verify_log",
]

GENESIS_HASH = "0" * 64
#: Set in ``session.info`` by :func:`append_entry`: the transaction wrote to the log, so
#: the store checks, before it commits, whether a signed checkpoint is due.
APPENDED = "fairpanel.log_appended"

ENV_EVERY_ENTRIES = "FAIRPANEL_CHECKPOINT_ENTRIES"
ENV_EVERY_MINUTES = "FAIRPANEL_CHECKPOINT_MINUTES"
MSG_BAD_POLICY = "{name} must be a positive number; got {value!r}"
MSG_NOT_JSON = "log payload is not JSON-serialisable: {error}"
MSG_NO_HEAD = "log_head row is missing; the audit log cannot be verified"
MSG_OK = "{n} entries checked; the chain is intact"
MSG_FIRST_ID = "entry {id}: the log must start at entry 1"
MSG_MISSING = "entry {id} is missing (the next entry is {next})"
MSG_PREV_LINK = "entry {id}: prev_hash does not match the hash of entry {prev}"
MSG_HASH = "entry {id}: stored hash does not match its contents (edited after it was written)"
MSG_HEAD_MISSING_TAIL = (
    "entry {id} is missing: log_head records {last_id} entries but the log ends at {end}"
)
MSG_HEAD_HASH = "entry {id}: log_head records a different last hash"
MSG_FILTER_TEXT = "log filter {field} must be text of 1 to 128 characters or None; got {value!r}"
MSG_FILTER_TIME = "log filter {field} must be a datetime with a time zone or None; got {value!r}"
MSG_FILTER_RANGE = "log filter since ({since}) must be before until ({until})"
MSG_HEAD_BEHIND = "entry {id}: written after the last entry that log_head records ({last_id})"


@dataclass(frozen=True)
class LogVerification:
    """The outcome of :func:`verify_log`.

    Attributes
    ----------
    ok : bool
        True when every hash, link and the head agree.
    n_entries : int
        How many entries were found intact (before the first bad one, if any).
    first_bad_id : int or None
        The id of the first entry found edited, missing or out of place.
    reason : str
        What was found, naming the entry id; a summary when ``ok``.

    Examples
    --------
    >>> LogVerification(ok=True, n_entries=0, first_bad_id=None, reason="").ok
    True
    """

    ok: bool
    n_entries: int
    first_bad_id: int | None
    reason: str


@dataclass(frozen=True)
class CheckpointPolicy:
    """How often a signed checkpoint of the log is written, besides at approvals.

    See :mod:`audits.store.checkpoints`.

    Examples
    --------
    >>> CheckpointPolicy(every_entries=10, every_minutes=5).every_entries
    10
    """

    every_entries: int = 1
    every_minutes: float = 60.0

    def __post_init__(self) -> None:
        for name, value in (("every_entries", self.every_entries),
                            ("every_minutes", self.every_minutes)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(MSG_BAD_POLICY.format(name=name, value=value))

    @classmethod
    def from_env(cls) -> CheckpointPolicy:
        """Read ``FAIRPANEL_CHECKPOINT_ENTRIES`` and ``..._MINUTES`` (defaults otherwise)."""
        entries, minutes = os.environ.get(ENV_EVERY_ENTRIES), os.environ.get(ENV_EVERY_MINUTES)
        try:
            return cls(int(entries) if entries else cls.every_entries,
                       float(minutes) if minutes else cls.every_minutes)
        except ValueError:
            raise ValueError(MSG_BAD_POLICY.format(
                name=f"{ENV_EVERY_ENTRIES} / {ENV_EVERY_MINUTES}",
                value=(entries, minutes))) from None


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of ``value`` (sorted keys, no spaces, ASCII).

    Raises
    ------
    ValueError
        When ``value`` holds something JSON cannot represent (NaN, sets, objects).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(MSG_NOT_JSON.format(error=error)) from None


def entry_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest of ``prev_hash`` followed by ``canonical_json(body)``.

    Examples
    --------
    >>> len(entry_hash(GENESIS_HASH, {"id": 1}))
    64
    """
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


def lock_head(session: Session) -> LogHead:
    """Lock and return the ``log_head`` row; call first in every write transaction.

    On PostgreSQL ``SELECT ... FOR UPDATE`` makes concurrent writers wait here, so each
    sees the data committed by the one before; on SQLite ``BEGIN IMMEDIATE`` already
    holds the database's write lock.
    """
    head = session.scalars(select(LogHead).where(LogHead.id == 1).with_for_update()).one_or_none()
    if head is None:
        raise RuntimeError(MSG_NO_HEAD)
    return head


def append_entry(
    session: Session,
    head: LogHead,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int | None,
    payload: Mapping[str, Any],
) -> AuditLog:
    """Add the next log entry to ``session`` and advance the locked ``head``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The write transaction that makes the change being logged.
    head : LogHead
        The row returned by :func:`lock_head` in the same transaction.
    actor, action, entity : str
        Who did what to which kind of thing.
    entity_id : str, int or None
        Which thing (stored as text).
    payload : mapping
        What changed; must be JSON-serialisable.

    Examples
    --------
    >>> from sqlalchemy.orm import Session
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store, Session(store.engine) as session, session.begin():
    ...     head = lock_head(session)
    ...     entry = append_entry(session, head, actor="ada", action="note", entity="demo",
    ...                          entity_id=None, payload={"text": "hello"})
    ...     entry.id, entry.prev_hash == GENESIS_HASH
    (1, True)
    """
    body = {
        "id": head.last_id + 1,
        "ts": utcnow().isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "payload": json.loads(canonical_json(dict(payload))),
    }
    digest = entry_hash(head.last_hash, body)
    entry = AuditLog(
        id=body["id"],
        ts=body["ts"],
        actor=actor,
        action=action,
        entity=entity,
        entity_id=body["entity_id"],
        payload_json=body["payload"],
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(entry)
    head.last_id, head.last_hash = entry.id, digest
    session.info[APPENDED] = True
    session.flush()
    return entry


def verify_log(bind: Session | Connection | Engine) -> LogVerification:
    """Recompute the whole chain and report the first entry that does not fit.

    Checks that ids run 1, 2, 3... without gaps, that each ``prev_hash`` is the hash of
    the entry before, that each stored hash matches its contents, and that ``log_head``
    names the last entry (so deleting the tail is detected).

    Parameters
    ----------
    bind : Session, Connection or Engine
        Where to read. An engine is read in one consistent snapshot.

    Returns
    -------
    LogVerification

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store:
    ...     verify_log(store.engine).ok
    True
    """
    if isinstance(bind, Engine):
        with snapshot_connection(bind) as conn:
            return _verify(conn)
    if isinstance(bind, Session):
        return _verify(bind.connection())
    return _verify(bind)


def snapshot_connection(engine: Engine) -> Connection:
    """Return a connection that reads one consistent snapshot (use it as a context)."""
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="REPEATABLE READ")
    return engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})


def _verify(conn: Connection) -> LogVerification:
    head = conn.execute(select(LogHead.last_id, LogHead.last_hash).where(LogHead.id == 1)).first()
    if head is None:
        return LogVerification(False, 0, None, MSG_NO_HEAD)
    n, prev_id, prev_hash = 0, 0, GENESIS_HASH
    stmt = select(AuditLog.__table__).order_by(AuditLog.id).execution_options(yield_per=1000)
    with conn.execute(stmt) as rows:
        for row in rows:
            problem = _check_entry(row, prev_id, prev_hash, head.last_id)
            if problem is not None:
                return LogVerification(False, n, problem[0], problem[1])
            n, prev_id, prev_hash = n + 1, row.id, row.hash
    if head.last_id != prev_id:
        reason = MSG_HEAD_MISSING_TAIL.format(id=prev_id + 1, last_id=head.last_id, end=prev_id)
        return LogVerification(False, n, prev_id + 1, reason)
    if head.last_hash != prev_hash:
        return LogVerification(False, n, prev_id, MSG_HEAD_HASH.format(id=prev_id))
    return LogVerification(True, n, None, MSG_OK.format(n=n))


def _check_entry(row: Any, prev_id: int, prev_hash: str, last_id: int) -> tuple[int, str] | None:
    if row.id != prev_id + 1:
        if prev_id == 0 and row.id < 1:
            return row.id, MSG_FIRST_ID.format(id=row.id)
        return prev_id + 1, MSG_MISSING.format(id=prev_id + 1, next=row.id)
    if row.id > last_id:
        return row.id, MSG_HEAD_BEHIND.format(id=row.id, last_id=last_id)
    if row.prev_hash != prev_hash:
        return row.id, MSG_PREV_LINK.format(id=row.id, prev=prev_id)
    body = {
        "id": row.id,
        "ts": row.ts,
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "payload": row.payload_json,
    }
    if entry_hash(prev_hash, body) != row.hash:
        return row.id, MSG_HASH.format(id=row.id)
    return None


# -- searching the log ------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    """Which entries :func:`search_log` returns; None leaves a field unfiltered.

    Attributes
    ----------
    actor, action, entity : str or None
        Exact match (``actor`` as the reader sees it: ``"reviewer"`` for a redacted
        rating when the reader may not see who rated).
    entity_id : str or None
        Exact match on the object's id (as text), usually with ``entity``.
    since, until : datetime or None
        Entries written at or after ``since`` and before ``until`` (aware datetimes).

    Examples
    --------
    >>> LogFilter(action="set_role", entity="user").action
    'set_role'
    """

    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for field in ("actor", "action", "entity", "entity_id"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, str)
                                      or not 0 < len(value.strip()) <= 128):
                raise ValueError(MSG_FILTER_TEXT.format(field=field, value=value))
            if value is not None:
                object.__setattr__(self, field, value.strip())
        for field in ("since", "until"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise ValueError(MSG_FILTER_TIME.format(field=field, value=value))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(MSG_FILTER_RANGE.format(since=self.since.isoformat(),
                                                     until=self.until.isoformat()))


def filter_conditions(log_filter: LogFilter, *, redacted_actor: frozenset[str] = frozenset(),
                      redacted_ids: frozenset[str] = frozenset()
                      ) -> list[ColumnElement[bool]]:
    """Return the SQL conditions of ``log_filter`` over :class:`AuditLog`.

    For a reader who gets some entries redacted, the actor and object-id filters match
    what that reader sees: entries of ``redacted_actor`` actions read as actor
    ``"reviewer"``, and entries of ``redacted_ids`` actions (and the ``add_user`` of a
    reviewer account) have no object id unless the object is a case or an audit run.
    Empty sets (the default) match the stored values.

    Examples
    --------
    >>> len(filter_conditions(LogFilter(action="sign_in", entity="user")))
    2
    """
    out: list[ColumnElement[bool]] = []
    if log_filter.action is not None:
        out.append(AuditLog.action == log_filter.action)
    if log_filter.entity is not None:
        out.append(AuditLog.entity == log_filter.entity)
    if log_filter.since is not None:
        out.append(AuditLog.ts >= _ts(log_filter.since))
    if log_filter.until is not None:
        out.append(AuditLog.ts < _ts(log_filter.until))
    who, object_id = log_filter.actor, log_filter.entity_id
    if who is not None:
        shown = sorted(redacted_actor)
        as_stored = and_(AuditLog.action.not_in(shown), AuditLog.actor == who)
        out.append(or_(AuditLog.action.in_(shown), as_stored) if who == "reviewer" and shown
                   else as_stored)
    if object_id is not None:
        out.append(AuditLog.entity_id == object_id)
        if redacted_ids:
            reviewer_account = and_(AuditLog.action == "add_user",
                                    AuditLog.payload_json["role"].as_string() == "reviewer")
            hidden = and_(or_(AuditLog.action.in_(sorted(redacted_ids)), reviewer_account),
                          AuditLog.entity.not_in(["case", "audit_run"]))
            out.append(not_(hidden))
    return out


def _ts(value: datetime) -> str:
    # The log's ts is ISO text of UTC with microseconds, so text order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")
