"""Signed checkpoints of the audit log's head, and the deployment's pinned public key.

A hash chain alone proves nothing to someone who can write the database: they can edit
an entry and re-chain every later hash. So the store anchors the chain: a *checkpoint*
says "entry ``entry_id`` had hash ``entry_hash`` at ``ts``", signed with the
deployment's Ed25519 key (:func:`audits.store.signing.deployment_key`, a file outside
the database). Checkpoints are written in the same transaction as the entries they
anchor: at every report approval, and at the end of any write once
:attr:`CheckpointPolicy.every_entries` entries or :attr:`CheckpointPolicy.every_minutes`
minutes have gone unanchored (``FAIRPANEL_CHECKPOINT_ENTRIES``, default 1: every write
is anchored, so any entry after the last checkpoint is a forgery; and
``FAIRPANEL_CHECKPOINT_MINUTES``, default 60).

The first signature pins the key: its public half is stored (``signing_keys``) and
logged (a ``pin_signing_key`` entry), and every later signature, of a checkpoint or a
report, must be under it. :func:`verify_anchors` checks the chain against every
checkpoint and tells a *rewritten* log (a checkpointed entry has another hash) from a
*truncated* one (a checkpointed entry is gone) and from one merely *extended*
(entries after the last checkpoint: unanchored, not a failure, unless there are more of
them, or they span longer, than the store would ever have left unanchored).

What remains possible: someone who holds both the database and the key file can add
entries after the last checkpoint and sign new checkpoints; someone who replaces the
key *and* the database together is caught only by a fingerprint or checkpoints recorded
elsewhere (:func:`export_lines`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from audits.roles import Actor
from audits.store.base import StoreBase
from audits.store.log import (
    APPENDED,
    ENV_EVERY_ENTRIES,
    ENV_EVERY_MINUTES,
    CheckpointPolicy,
    append_entry,
    canonical_json,
    snapshot_connection,
    verify_log,
)
from audits.store.signing import public_key_hex, verify_signature
from audits.store.tables import AuditLog, LogCheckpoint, LogHead, SigningKey, utcnow

__all__ = ["ENV_EVERY_ENTRIES", "ENV_EVERY_MINUTES", "AnchorVerification", "Checkpoint",
           "CheckpointOps", "CheckpointPolicy", "KeyNotPinned", "PinnedKey", "fingerprint",
           "export_lines", "read_checkpoint_lines", "verify_anchors"]

PIN_ACTION = "pin_signing_key"
PIN_ACTOR = "system:signing"
CHECKPOINT_KIND = "fairpanel-log-checkpoint"

MSG_NOT_PINNED = (
    "the signing key (fingerprint {given}) is not the deployment's pinned key "
    "(fingerprint {pinned}); signatures under another key are refused"
)
MSG_BAD_LINE = "checkpoint file line {n}: {error}"
MSG_CHAIN = "the hash chain is broken: {reason}"
MSG_NO_PIN = "{n} checkpoint(s) but no pinned signing key in the store"
MSG_PIN_ENTRY = ("the pinned key does not match its log entry {id} "
                 "(the key row or the entry was replaced)")
MSG_PIN_MISSING = "log entry {id} pinned a signing key but the store holds none"
MSG_OTHER_KEY = "checkpoint #{id} is under key {fp}, not the pinned key {pinned}"
MSG_BAD_SIG = "checkpoint #{id} (entry {entry}): the signature does not verify"
MSG_TRUNCATED = ("truncated: checkpoint #{id} anchors entry {entry} but the log now ends at "
                 "entry {end}")
MSG_REWRITTEN = ("rewritten: entry {entry} no longer has the hash checkpoint #{id} signed "
                 "({signed}...; now {now}...)")
MSG_LOST = "checkpoint #{id} of the exported file is missing or different in the store"
MSG_POLICY = ("extended: {n} entries after the last checkpoint (entry {entry}) span "
              "{minutes:.1f} minutes, more than the store leaves unanchored (every "
              "{every_entries} entries or {every_minutes:g} minutes); they were not "
              "written by fairpanel")
MSG_OK = ("{n} entries, chain intact; {k} signed checkpoint(s) up to entry {entry}, under "
          "the pinned key {fp}")
MSG_NONE = "{n} entries, chain intact; no checkpoint yet, so nothing anchors the log"
MSG_UNANCHORED = "{n} entr{ies} after the last checkpoint (entry {entry}) unanchored"


class KeyNotPinned(ValueError):
    """A signature under a key other than the deployment's pinned key."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint; :meth:`message` is what the signature covers."""

    id: int
    entry_id: int
    entry_hash: str
    ts: str
    reason: str
    report_id: int | None
    every_entries: int
    every_minutes: float
    public_key: str
    signature: str

    def message(self) -> dict[str, Any]:
        """The signed content: every field but the signature, plus a kind tag."""
        body = asdict(self)
        del body["signature"]
        return {"kind": CHECKPOINT_KIND, **body}

    def verifies(self) -> bool:
        """True when the signature is valid under :attr:`public_key`."""
        return verify_signature(self.message(), self.signature, self.public_key)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as a JSON object (one line of an export)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """Read a checkpoint from :meth:`to_dict` output; raise ValueError if malformed."""
        try:
            return cls(id=int(data["id"]), entry_id=int(data["entry_id"]),
                       entry_hash=str(data["entry_hash"]), ts=str(data["ts"]),
                       reason=str(data["reason"]),
                       report_id=None if data["report_id"] is None else int(data["report_id"]),
                       every_entries=int(data["every_entries"]),
                       every_minutes=float(data["every_minutes"]),
                       public_key=str(data["public_key"]), signature=str(data["signature"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a checkpoint: {error!r}") from None


@dataclass(frozen=True)
class PinnedKey:
    """The deployment's pinned public key and when (which log entry) it was pinned."""

    public_key: str
    fingerprint: str
    pinned_at: datetime
    log_entry_id: int


@dataclass(frozen=True)
class AnchorVerification:
    """The outcome of :func:`verify_anchors`.

    ``status`` is ``"intact"``, ``"broken"`` (the chain itself does not hold),
    ``"rewritten"``, ``"truncated"``, ``"extended"`` (unanchored entries beyond the
    policy), ``"key"`` (a checkpoint or the pin is not under the pinned key) or
    ``"forged"`` (a checkpoint's signature does not verify). ``unanchored`` counts the
    entries after the last checkpoint (reported, not a failure while within the policy).
    """

    ok: bool
    status: str
    n_entries: int
    n_checkpoints: int
    last_anchored_id: int
    unanchored: int
    fingerprint: str | None
    reason: str


def fingerprint(public_key: str) -> str:
    """Return the sha256 hex digest of a raw public key given in hex (its fingerprint).

    Examples
    --------
    >>> fingerprint("00" * 32)[:16]
    '66687aadf862bd77'
    """
    return hashlib.sha256(bytes.fromhex(public_key)).hexdigest()


def format_fingerprint(value: str) -> str:
    """Group a fingerprint in fours for reading aloud or writing down.

    Examples
    --------
    >>> format_fingerprint("66687aadf862bd77")
    '6668 7aad f862 bd77'
    """
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def export_lines(checkpoints: Iterable[Checkpoint]) -> str:
    """Return checkpoints as JSON lines (one canonical object per line)."""
    return "".join(canonical_json(c.to_dict()) + "\n" for c in checkpoints)


def read_checkpoint_lines(text: str) -> list[Checkpoint]:
    """Parse :func:`export_lines` output; raise ValueError naming the bad line."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Checkpoint.from_dict(dict(json.loads(line))))
        except (ValueError, TypeError) as error:
            raise ValueError(MSG_BAD_LINE.format(n=n, error=error)) from None
    return out


def pin_key(session: Session, head: LogHead, public_key: str) -> None:
    """Pin ``public_key`` in this transaction if none is pinned; else require it."""
    row = session.get(SigningKey, 1)
    if row is None:
        entry = append_entry(session, head, actor=PIN_ACTOR, action=PIN_ACTION,
                             entity="signing_key", entity_id=1,
                             payload={"public_key": public_key,
                                      "fingerprint": fingerprint(public_key)})
        session.add(SigningKey(id=1, public_key=public_key, fingerprint=fingerprint(public_key),
                               pinned_at=utcnow(), log_entry_id=entry.id))
        session.flush()
    elif row.public_key != public_key:
        raise KeyNotPinned(MSG_NOT_PINNED.format(given=fingerprint(public_key),
                                                 pinned=row.fingerprint))


def write_checkpoint(session: Session, head: LogHead, key: Ed25519PrivateKey, *,
                     reason: str, policy: CheckpointPolicy,
                     report_id: int | None = None) -> Checkpoint:
    """Sign the current head (after pinning the key) and store the checkpoint."""
    public = public_key_hex(key)
    pin_key(session, head, public)
    next_id = 1 + (session.scalar(select(func.max(LogCheckpoint.id))) or 0)
    unsigned = Checkpoint(id=next_id, entry_id=head.last_id, entry_hash=head.last_hash,
                          ts=utcnow().isoformat(timespec="microseconds"), reason=reason,
                          report_id=report_id, every_entries=policy.every_entries,
                          every_minutes=float(policy.every_minutes), public_key=public,
                          signature="")
    signature = key.sign(canonical_json(unsigned.message()).encode("utf-8")).hex()
    row = LogCheckpoint(**{**unsigned.to_dict(), "signature": signature})
    session.add(row)
    session.flush()
    return _checkpoint(row)


def checkpoint_if_due(session: Session, head: LogHead, key: Callable[[], Ed25519PrivateKey],
                      policy: CheckpointPolicy) -> Checkpoint | None:
    """Write a checkpoint when the policy says the unanchored tail is too long."""
    anchored = session.scalar(select(func.max(LogCheckpoint.entry_id))) or 0
    n = head.last_id - anchored
    if n <= 0:
        return None
    if n < policy.every_entries:
        first = session.get(AuditLog, anchored + 1)
        if first is None:
            return None
        age = utcnow() - datetime.fromisoformat(first.ts)
        if age < timedelta(minutes=policy.every_minutes):
            return None
        reason = "minutes"
    else:
        reason = "entries"
    return write_checkpoint(session, head, key(), reason=reason, policy=policy)


def verify_anchors(conn: Connection,
                   extra: Sequence[Checkpoint] | None = None) -> AnchorVerification:
    """Check the log's chain against every stored checkpoint (and ``extra`` ones, e.g.
    from an exported file, which must also still be in the store).

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store, store.engine.connect() as conn:
    ...     verify_anchors(conn).status
    'intact'
    """
    chain = verify_log(conn)
    head_id = conn.execute(select(LogHead.last_id).where(LogHead.id == 1)).scalar() or 0
    table = LogCheckpoint.__table__
    stored = [_checkpoint(r) for r in conn.execute(select(table).order_by(table.c.id)).all()]
    pinned = conn.execute(select(SigningKey.__table__)).first()
    fp = None if pinned is None else pinned.fingerprint
    result = _Result(chain.n_entries, len(stored), fp)
    if not chain.ok:
        return result.fail("broken", MSG_CHAIN.format(reason=chain.reason))
    if pinned is None and (stored or extra):
        return result.fail("key", MSG_NO_PIN.format(n=len(stored) + len(extra or ())))
    for c in sorted([*stored, *(extra or ())], key=lambda c: (c.entry_id, c.id)):
        found = _check_checkpoint(conn, c, pinned, head_id)
        if found is not None:
            return result.fail(*found)
    in_store = {c.id: c for c in stored}
    for c in extra or ():
        if in_store.get(c.id) != c:
            return result.fail("truncated", MSG_LOST.format(id=c.id))
    problem = _check_pin(conn, pinned)
    if problem is not None:
        return result.fail("key", problem)
    return _tail(conn, result, stored, head_id)


class CheckpointOps(StoreBase):
    """The checkpoint and pinned-key methods of :class:`~audits.store.Store`."""

    def signing_key(self) -> Ed25519PrivateKey:
        """The key this store signs with (given to the store, else the deployment's)."""
        return self._log_signing_key()

    def checkpoint_policy(self) -> CheckpointPolicy:
        """The policy this store writes checkpoints by."""
        return self._log_checkpoint_policy()

    def check_signing_key(self) -> None:
        """Refuse, before any write, a process whose key is not the pinned one.

        Every write is anchored by a checkpoint signed with :meth:`signing_key`, so a
        process holding another key (another ``FAIRPANEL_HOME``, a lost ``keys/`` folder)
        could write nothing; this says so at start-up instead of at the first write.

        Raises
        ------
        KeyNotPinned
            A key is pinned and this store's key is another.
        """
        pinned = self.pinned_key()
        if pinned is None:
            return
        public = public_key_hex(self.signing_key())
        if public != pinned.public_key:
            raise KeyNotPinned(MSG_NOT_PINNED.format(given=fingerprint(public),
                                                     pinned=pinned.fingerprint))

    def pinned_key(self) -> PinnedKey | None:
        """Return the deployment's pinned public key, or None before the first signing."""
        with self._read() as session:
            row = session.get(SigningKey, 1)
            return None if row is None else PinnedKey(row.public_key, row.fingerprint,
                                                      row.pinned_at, row.log_entry_id)

    def list_checkpoints(self) -> list[Checkpoint]:
        """Return every stored checkpoint, oldest first."""
        with self._read() as session:
            rows = session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.id))
            return [_checkpoint(r) for r in rows]

    def report_checkpoint(self, report_id: int) -> Checkpoint | None:
        """Return the checkpoint written at a report's approval, or None."""
        with self._read() as session:
            row = session.scalars(select(LogCheckpoint).where(
                LogCheckpoint.report_id == report_id).order_by(LogCheckpoint.id)).first()
            return None if row is None else _checkpoint(row)

    def write_checkpoint(self, actor: Actor) -> Checkpoint:
        """Sign and store a checkpoint of the current head now (e.g. from a scheduler).

        Logs nothing itself (a checkpoint is not a change); the first one pins the key.
        """
        with self._write() as (session, head):
            return write_checkpoint(session, head, self.signing_key(), reason="manual",
                                    policy=self.checkpoint_policy())

    def verify_anchors(self, extra: Sequence[Checkpoint] | None = None) -> AnchorVerification:
        """Check the log against its signed checkpoints; see :func:`verify_anchors`."""
        with snapshot_connection(self._engine) as conn:
            return verify_anchors(conn, extra)

    def _after_write(self, session: Session, head: LogHead) -> None:
        if session.info.pop(APPENDED, False):
            checkpoint_if_due(session, head, self._log_signing_key,
                              self._log_checkpoint_policy())


@dataclass
class _Result:
    n_entries: int
    n_checkpoints: int
    fingerprint: str | None

    def fail(self, status: str, reason: str) -> AnchorVerification:
        return AnchorVerification(False, status, self.n_entries, self.n_checkpoints, 0, 0,
                                  self.fingerprint, reason)


def _check_pin(conn: Connection, pinned: Any) -> str | None:
    pin_entry = conn.execute(select(AuditLog.id, AuditLog.payload_json).where(
        AuditLog.action == PIN_ACTION).order_by(AuditLog.id)).first()
    if pinned is None:
        return None if pin_entry is None else MSG_PIN_MISSING.format(id=pin_entry.id)
    if (pin_entry is None or pin_entry.id != pinned.log_entry_id
            or pin_entry.payload_json.get("public_key") != pinned.public_key
            or fingerprint(pinned.public_key) != pinned.fingerprint):
        return MSG_PIN_ENTRY.format(id=pinned.log_entry_id)
    return None


def _check_checkpoint(conn: Connection, c: Checkpoint, pinned: Any,
                      head_id: int) -> tuple[str, str] | None:
    if c.public_key != pinned.public_key:
        return "key", MSG_OTHER_KEY.format(id=c.id, fp=fingerprint(c.public_key)[:16],
                                           pinned=pinned.fingerprint[:16])
    if not c.verifies():
        return "forged", MSG_BAD_SIG.format(id=c.id, entry=c.entry_id)
    now = conn.execute(select(AuditLog.hash).where(AuditLog.id == c.entry_id)).scalar()
    if now is None:
        return "truncated", MSG_TRUNCATED.format(id=c.id, entry=c.entry_id, end=head_id)
    if now != c.entry_hash:
        return "rewritten", MSG_REWRITTEN.format(entry=c.entry_id, id=c.id,
                                                 signed=c.entry_hash[:12], now=now[:12])
    return None


def _tail(conn: Connection, result: _Result, stored: list[Checkpoint],
          head_id: int) -> AnchorVerification:
    if not stored:
        return AnchorVerification(True, "intact", result.n_entries, 0, 0, head_id, None,
                                  MSG_NONE.format(n=result.n_entries))
    latest = max(stored, key=lambda c: c.entry_id)
    unanchored = head_id - latest.entry_id
    reason = MSG_OK.format(n=result.n_entries, k=len(stored), entry=latest.entry_id,
                           fp=format_fingerprint((result.fingerprint or "")[:16]))
    if unanchored > 0:
        span = _span_minutes(conn, latest.entry_id + 1, head_id)
        if unanchored >= latest.every_entries or span >= latest.every_minutes:
            return result.fail("extended", MSG_POLICY.format(
                n=unanchored, entry=latest.entry_id, minutes=span,
                every_entries=latest.every_entries, every_minutes=latest.every_minutes))
        reason += "; " + MSG_UNANCHORED.format(n=unanchored, entry=latest.entry_id,
                                               ies="y" if unanchored == 1 else "ies")
    return AnchorVerification(True, "intact", result.n_entries, len(stored), latest.entry_id,
                              unanchored, result.fingerprint, reason)


def _span_minutes(conn: Connection, first_id: int, last_id: int) -> float:
    first = conn.execute(select(AuditLog.ts).where(AuditLog.id == first_id)).scalar()
    last = conn.execute(select(AuditLog.ts).where(AuditLog.id == last_id)).scalar()
    if first is None or last is None:
        return 0.0
    delta = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    return delta.total_seconds() / 60.0


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(id=row.id, entry_id=row.entry_id, entry_hash=row.entry_hash, ts=row.ts,
                      reason=row.reason, report_id=row.report_id,
                      every_entries=row.every_entries, every_minutes=float(row.every_minutes),
                      public_key=row.public_key, signature=row.signature)
