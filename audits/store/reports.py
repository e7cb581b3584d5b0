"""Audit reports: one row per version, drafted, submitted, then approved or returned.

A report's body is stored as drafted and never edited; a revision is a new version.
Approval is the separation-of-duties step: the person who ran the audit (or drafted the
report) may not approve it, whatever their role. An approved report carries its signed
manifest and never changes again. Every transition appends one log entry in the same
transaction, so a refused or failed transition stores nothing.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, Authentication, PermissionDenied, Role, require_role
from audits.store.approvals import authentication_log, check_approver
from audits.store.base import StoreBase
from audits.store.checkpoints import pin_key, write_checkpoint
from audits.store.log import append_entry, canonical_json
from audits.store.records import LogEntryRecord, log_entry_record
from audits.store.tables import AuditLog, AuditRun, LogHead, ReportRow, ReportSnapshot, utcnow
from audits.store.validation import (
    check_actor,
    check_id,
    check_json_object,
    check_sha256,
    check_text,
)

__all__ = ["ReportOps", "ReportRecord"]

MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_RUN_NOT_COMPLETED = "audit run {id} is {status}; only a completed run can be reported"
MSG_UNKNOWN_REPORT = "no report with id {id}"
MSG_BODY_HASH = "body_sha256 {given} does not match the body (its sha256 is {actual})"
MSG_GENERATED_AT = "generated_at must be an ISO-8601 timestamp; got {value!r}"
MSG_FROZEN = "report {id} is approved and frozen; it can no longer change"
MSG_BAD_STATUS = "report {id} is {status}; {action} needs a report that is {needed}"
MSG_NOT_AUTHOR = "{actor} may not submit report {id}: only its author ({author}) or an admin"
MSG_SELF_APPROVAL = (
    "the person who ran an audit cannot approve it: {actor} {did} (report {id})"
)
MSG_MANIFEST_FIELD = "manifest[{field!r}] must be {expected!r}; got {actual!r}"
MSG_BAD_HEX = "{field} must be {n} hexadecimal characters; got {value!r}"
MSG_BAD_SIGNATURE = "the signature does not verify against the manifest and public key"
MSG_COMMENT_REQUIRED = "a comment is required to return a report: say what must change"
MSG_SNAPSHOT_HASH = (
    "manifest['inputs_sha256'] is {given!r} but report {id}'s frozen inputs hash to {actual!r}"
)
MSG_NOTE = "manifest['note'] must be the approval note {note!r}; got {actual!r}"

SIGNATURE_HEX = 128
PUBLIC_KEY_HEX = 64


@dataclass(frozen=True)
class ReportRecord:
    """One stored report version; ``manifest``, ``signature`` and ``public_key`` are None
    until it is approved.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> now = datetime.now(UTC)
    >>> r = ReportRecord(1, 1, 1, "draft", {}, "0" * 64, now.isoformat(), "dana", now,
    ...                  None, None, None, None, None, None, None)
    >>> r.approved
    False
    """

    id: int
    audit_run_id: int
    version: int
    status: str
    body: dict[str, Any]
    body_sha256: str
    generated_at: str
    created_by: str
    created_at: datetime
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    manifest: dict[str, Any] | None
    signature: str | None
    public_key: str | None

    @property
    def approved(self) -> bool:
        """True once the report is signed off (and therefore frozen)."""
        return self.status == "approved"


class ReportOps(StoreBase):
    """The report methods of :class:`~audits.store.Store`."""

    def create_report(self, actor: Actor, audit_run_id: int, *, body: dict[str, Any],
                      body_sha256: str, generated_at: str | datetime,
                      inputs: dict[str, Any] | None = None) -> ReportRecord:
        """Store a new draft version of a completed audit run's report.

        Requires "draft a report". ``body_sha256`` must be the sha256 of the body's
        canonical JSON (checked here, so a stored hash always describes its body).
        ``inputs`` is the frozen snapshot the body was built from (see
        :mod:`audits.reports.snapshot`), stored with this version; an approval signs its
        sha256, so later work on the panel never changes what the report rests on.

        Raises
        ------
        LookupError
            No audit run with this id.
        ValueError
            The run is not completed, or the body and its hash disagree.
        """
        require_role(check_actor(actor), "draft a report")
        run_id = check_id(audit_run_id, "audit_run_id")
        body_json = check_json_object(body, "body")
        sha = check_sha256(body_sha256, "body_sha256")
        if _digest(body_json) != sha:
            raise ValueError(MSG_BODY_HASH.format(given=sha, actual=_digest(body_json)))
        stamp = _check_timestamp(generated_at)
        frozen = None if inputs is None else check_json_object(inputs, "inputs")
        with self._write() as (session, head):
            run = session.get(AuditRun, run_id)
            if run is None:
                raise LookupError(MSG_UNKNOWN_RUN.format(id=run_id))
            if run.status != "completed":
                raise ValueError(MSG_RUN_NOT_COMPLETED.format(id=run_id, status=run.status))
            version = 1 + (session.scalar(select(func.max(ReportRow.version)).where(
                ReportRow.audit_run_id == run_id)) or 0)
            row = ReportRow(audit_run_id=run_id, version=version, status="draft",
                            body_json=body_json, body_sha256=sha, generated_at=stamp,
                            created_by=actor.username, created_at=utcnow())
            session.add(row)
            session.flush()
            extra: dict[str, Any] = {"version": version}
            if frozen is not None:
                session.add(ReportSnapshot(report_id=row.id, snapshot_json=frozen,
                                           sha256=_digest(frozen), created_at=utcnow()))
                extra["inputs_sha256"] = _digest(frozen)
            _log(session, head, actor, row, None, extra)
            return report_record(row)

    def submit_report(self, actor: Actor, report_id: int) -> ReportRecord:
        """Submit a draft (or a returned report) for approval; its author or an admin only.

        Raises
        ------
        PermissionDenied
            The actor is neither the report's author nor an admin.
        ValueError
            The report is approved (frozen) or already submitted.
        """
        check_actor(actor)
        key = check_id(report_id, "report_id")
        with self._write() as (session, head):
            row = _report(session, key, "submitting", ("draft", "returned"))
            if actor.role is not Role.ADMIN and actor.username != row.created_by:
                raise PermissionDenied(MSG_NOT_AUTHOR.format(
                    actor=actor.username, id=key, author=row.created_by))
            previous = row.status
            row.status, row.submitted_at = "submitted", utcnow()
            _log(session, head, actor, row, previous, {})
            return report_record(row)

    def approve_report(self, actor: Actor, report_id: int, *, manifest: dict[str, Any],
                       signature: str, public_key: str, note: str = "",
                       authentication: Authentication | None = None) -> ReportRecord:
        """Approve a submitted report with its signed manifest; the row is then frozen.

        Requires "approve a report", and an approver who passes
        :func:`~audits.store.approvals.check_approver`: an active, named user of the
        store who neither ran the audit nor drafted or submitted the report (names
        compared ignoring case). The manifest must name this report, its audit run, its
        body hash and the approver, and the signature must verify under ``public_key``.
        ``authentication`` (how the approver was authenticated) goes into the log entry.
        The manifest must also carry the note and (when the version has frozen inputs)
        their sha256; ``public_key`` must be the deployment's pinned key (pinned here at
        the first signing), and a signed log checkpoint anchors the approval's own entry
        in the same transaction.

        Raises
        ------
        PermissionDenied
            Wrong role, not an active, named user of the store, or the approver ran the
            audit, drafted or submitted the report (:data:`MSG_SELF_APPROVAL`).
        ValueError
            The report is not submitted, or the manifest or signature does not fit it;
            :class:`~audits.store.checkpoints.KeyNotPinned` when the key is not the
            pinned one.
        """
        require_role(check_actor(actor), "approve a report")
        key = check_id(report_id, "report_id")
        manifest_json = check_json_object(manifest, "manifest")
        signature = _check_hex(signature, "signature", SIGNATURE_HEX)
        public_key = _check_hex(public_key, "public_key", PUBLIC_KEY_HEX)
        note = check_text(note, "note", None, empty=True)
        how = authentication_log(authentication)
        _check_signature(manifest_json, signature, public_key)
        with self._write() as (session, head):
            row = _report(session, key, "approval", ("submitted",))
            _check_independent(session, actor, row)
            decided_at = _check_manifest(manifest_json, row, actor)
            _check_frozen(session, manifest_json, row, note)
            pin_key(session, head, public_key)
            row.status, row.decided_by, row.decided_at = "approved", actor.username, decided_at
            row.comment = note or None
            row.manifest_json, row.signature, row.public_key = manifest_json, signature, public_key
            extra = {"manifest_sha256": _digest(manifest_json), "note": note,
                     "authentication": how}
            _log(session, head, actor, row, "submitted", extra)
            # The signed checkpoint anchors the approval's own entry (same transaction).
            write_checkpoint(session, head, self._log_signing_key(), reason="approval",
                             policy=self._log_checkpoint_policy(), report_id=row.id)
            return report_record(row)

    def return_report(self, actor: Actor, report_id: int, *, comment: str,
                      authentication: Authentication | None = None) -> ReportRecord:
        """Send a submitted report back to its author with a comment (required).

        Requires "approve a report" from an active, named user of the store
        (:func:`~audits.store.approvals.check_approver`; an author may take their own
        report back). ``authentication`` is recorded as in :meth:`approve_report`.

        Raises
        ------
        PermissionDenied
            Wrong role, or not an active, named user of the store.
        ValueError
            No comment (:data:`MSG_COMMENT_REQUIRED`), or the report is not submitted.
        """
        require_role(check_actor(actor), "approve a report")
        key = check_id(report_id, "report_id")
        if not isinstance(comment, str) or not comment.strip():
            raise ValueError(MSG_COMMENT_REQUIRED)
        text = check_text(comment, "comment", None)
        how = authentication_log(authentication)
        with self._write() as (session, head):
            row = _report(session, key, "returning", ("submitted",))
            check_approver(session, actor, "approve a report")
            row.status, row.decided_by, row.decided_at = "returned", actor.username, utcnow()
            row.comment = text
            _log(session, head, actor, row, "submitted", {"comment": text, "authentication": how})
            return report_record(row)

    def get_report(self, report_id: int) -> ReportRecord | None:
        """Return the report version with this id, or None."""
        with self._read() as session:
            row = session.get(ReportRow, report_id)
            return None if row is None else report_record(row)

    def list_reports(self, audit_run_id: int | None = None) -> list[ReportRecord]:
        """Return every report version (of one audit run when given), oldest first."""
        query = select(ReportRow).order_by(ReportRow.id)
        if audit_run_id is not None:
            query = query.where(ReportRow.audit_run_id == audit_run_id)
        with self._read() as session:
            return [report_record(r) for r in session.scalars(query)]

    def report_inputs(self, report_id: int) -> tuple[dict[str, Any], str] | None:
        """Return a report version's frozen inputs and their stored sha256, or None."""
        with self._read() as session:
            row = session.get(ReportSnapshot, report_id)
            return None if row is None else (copy.deepcopy(row.snapshot_json), row.sha256)

    def log_entry_at(self, entry_id: int) -> LogEntryRecord | None:
        """Return the audit-log entry with this id, or None (e.g. to check a quoted head)."""
        with self._read() as session:
            row = session.get(AuditLog, entry_id)
            return None if row is None else log_entry_record(row)


def report_record(row: ReportRow) -> ReportRecord:
    """Convert an ORM report row."""
    return ReportRecord(
        id=row.id, audit_run_id=row.audit_run_id, version=row.version, status=row.status,
        body=copy.deepcopy(row.body_json), body_sha256=row.body_sha256,
        generated_at=row.generated_at, created_by=row.created_by, created_at=row.created_at,
        submitted_at=row.submitted_at, decided_by=row.decided_by, decided_at=row.decided_at,
        comment=row.comment, manifest=copy.deepcopy(row.manifest_json),
        signature=row.signature, public_key=row.public_key,
    )


def _report(session: Session, key: int, action: str, needed: tuple[str, ...]) -> ReportRow:
    row = session.get(ReportRow, key)
    if row is None:
        raise LookupError(MSG_UNKNOWN_REPORT.format(id=key))
    if row.status == "approved":
        raise ValueError(MSG_FROZEN.format(id=key))
    if row.status not in needed:
        raise ValueError(MSG_BAD_STATUS.format(id=key, status=row.status, action=action,
                                               needed=" or ".join(needed)))
    return row


def _check_independent(session: Session, actor: Actor, row: ReportRow) -> None:
    """The approver check (:func:`~audits.store.approvals.check_approver`) with this
    report's authors: who ran its audit, drafted it, or submitted any of its rounds."""
    run = session.get_one(AuditRun, row.audit_run_id)
    submitted = select(AuditLog.actor).where(
        AuditLog.entity == "report", AuditLog.entity_id == str(row.id),
        AuditLog.action == "submit_report").distinct()
    did = [(run.created_by, f"ran audit run {run.id}"), (row.created_by, "drafted this report")]
    did += [(name, "submitted this report") for name in session.scalars(submitted)]
    check_approver(session, actor, "approve a report", authors=[
        (name, MSG_SELF_APPROVAL.format(actor=actor.username, did=what, id=row.id))
        for name, what in did])


def _check_manifest(manifest: dict[str, Any], row: ReportRow, actor: Actor) -> datetime:
    expected = {"report_id": row.id, "audit_run_id": row.audit_run_id,
                "body_sha256": row.body_sha256, "approved_by": actor.username}
    for field, value in expected.items():
        if manifest.get(field) != value:
            raise ValueError(MSG_MANIFEST_FIELD.format(field=field, expected=value,
                                                       actual=manifest.get(field)))
    approved_at = manifest.get("approved_at")
    stamp = datetime.fromisoformat(_check_timestamp(approved_at))
    if stamp.tzinfo is None:
        raise ValueError(MSG_GENERATED_AT.format(value=approved_at))
    return stamp


def _check_frozen(session: Session, manifest: dict[str, Any], row: ReportRow,
                  note: str) -> None:
    if "note" in manifest and manifest["note"] != note:
        raise ValueError(MSG_NOTE.format(note=note, actual=manifest["note"]))
    frozen = session.get(ReportSnapshot, row.id)
    if frozen is not None and manifest.get("inputs_sha256") != frozen.sha256:
        raise ValueError(MSG_SNAPSHOT_HASH.format(given=manifest.get("inputs_sha256"),
                                                  id=row.id, actual=frozen.sha256))


def _check_signature(manifest: dict[str, Any], signature: str, public_key: str) -> None:
    # Imported here: audits.store.signing imports audits.store (for canonical_json).
    from audits.store.signing import verify_signature

    if not verify_signature(manifest, signature, public_key):
        raise ValueError(MSG_BAD_SIGNATURE)


def _check_timestamp(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(MSG_GENERATED_AT.format(value=value))
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(MSG_GENERATED_AT.format(value=value)) from None
    if len(value) > 40:
        raise ValueError(MSG_GENERATED_AT.format(value=value))
    return value


def _check_hex(value: object, field: str, n: int) -> str:
    if (not isinstance(value, str) or len(value) != n
            or any(c not in "0123456789abcdefABCDEF" for c in value)):
        raise ValueError(MSG_BAD_HEX.format(field=field, n=n, value=value))
    return value.lower()


def _log(session: Session, head: LogHead, actor: Actor, row: ReportRow,
         previous: str | None, extra: dict[str, Any]) -> None:
    action = {"draft": "create_report", "submitted": "submit_report",
              "approved": "approve_report", "returned": "return_report"}[row.status]
    payload = {"audit_run_id": row.audit_run_id, "status": row.status,
               "previous_status": previous, "body_sha256": row.body_sha256, **extra}
    append_entry(session, head, actor=actor.username, action=action, entity="report",
                 entity_id=row.id, payload=payload)


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
