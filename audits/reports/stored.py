"""The report workflow: draft from stored results, submit, approve (sign and freeze) or
return, export, and verify an exported file against the store.

An approval signs a manifest that ties the report's body to everything behind it: the
hashes of the dataset, the model, the run's configuration and its stored results, the
audit log's head and the code's versions. :func:`verify_report_file` re-derives each of
those from the store, so editing the file, the stored report or any stored number
behind it makes verification fail and names the check that failed (the checks are in
:mod:`audits.reports.verification`, re-exported here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.conversations.findings import record_conversation_findings
from audits.conversations.stored import CONVERSATIONS_ROLE
from audits.reports.report import Report, body_sha256, build_report, fairness_run
from audits.reports.signoff import (
    MSG_NO_RESULTS,
    MSG_UNKNOWN_REPORT,
    MSG_UNKNOWN_RUN,
    input_hashes,
    signoff_from_manifest,
)
from audits.reports.signoff import get_report as _report
from audits.reports.signoff import render_report as _render
from audits.reports.snapshot import record_report
from audits.reports.verification import (
    CHECK_ANCHOR,
    CHECK_APPROVED,
    CHECK_BODY,
    CHECK_FILE,
    CHECK_FROZEN,
    CHECK_INPUTS,
    CHECK_KEY,
    CHECK_LOG,
    CHECK_REBUILD,
    CHECK_RENDER,
    CHECK_RESULTS,
    CHECK_SIGNATURE,
    CHECK_STORED,
    MSG_NOT_APPROVED,
    Verification,
    verify_report_file,
)
from audits.roles import Actor, Authentication, require_role
from audits.slices.stored import latest_slice_run, run_slice_discovery
from audits.store import ReportRecord, Store
from audits.store.checkpoints import Checkpoint
from audits.store.signing import (
    public_key_hex,
    sign_manifest,
)
from audits.versions import __version__, library_versions

__all__ = ["CHECK_ANCHOR", "CHECK_APPROVED", "CHECK_BODY", "CHECK_FILE", "CHECK_FROZEN",
           "CHECK_INPUTS", "CHECK_KEY", "CHECK_LOG", "CHECK_REBUILD", "CHECK_RENDER",
           "CHECK_RESULTS", "CHECK_SIGNATURE", "CHECK_STORED", "FORMATS", "MSG_BAD_FORMAT",
           "MSG_NOT_APPROVED", "MSG_NO_RESULTS", "MSG_UNKNOWN_REPORT", "MSG_UNKNOWN_RUN",
           "Verification", "approve", "build_manifest", "draft_report", "export_audit_report",
           "export_report", "return_report", "signoff", "signoff_from_manifest", "submit",
           "verify_report_file"]

Progress = Callable[[float, str], None]
FORMATS = ("html", "pdf", "json")
MSG_BAD_FORMAT = "fmt must be one of {choices}; got {fmt!r}"


def draft_report(store: Store, actor: Actor, audit_run_id: int,
                 progress: Progress | None = None) -> ReportRecord:
    """Build the report of a completed audit run from the store and save it as a draft.

    Requires "draft a report" (checked before any work). Each call stores a new version.
    When no slice discovery is stored for the run, one is run with the defaults first
    and stored (:func:`audits.slices.stored.run_slice_discovery`), so the report lists
    the worst-off subgroups nobody declared (and, for a conversation system, its findings
    are kept for the current ratings:
    :func:`audits.conversations.findings.record_conversation_findings`); decisions it
    cannot run on (no recorded outcome, too few rows, sensitive data purged) leave the
    section saying so.

    Returns
    -------
    ReportRecord
        The stored draft.
    """
    report = progress or (lambda fraction, message: None)
    require_role(actor, "draft a report")
    run = fairness_run(store, audit_run_id)  # its own error for a run that is not an audit
    if latest_slice_run(store, audit_run_id) is None:
        # No outcome, too few rows or purged sensitive data: the section says none ran.
        with contextlib.suppress(ValueError):
            run_slice_discovery(store, actor, audit_run_id,
                                progress=lambda f, m: report(0.3 * f, m))
    dataset = store.get_dataset(run.dataset_id)
    if dataset is not None and CONVERSATIONS_ROLE in dict(dataset.roles):
        # The conversation section copies findings kept for the current ratings.
        record_conversation_findings(store, actor, dataset.name, audit_run_id=run.id,
                                     progress=lambda f, m: report(0.3 * f, m))
    built, inputs = record_report(store, actor, audit_run_id,
                                  progress=lambda f, m: report(0.3 + 0.6 * f, m))
    report(0.95, "Saving the draft and the inputs it was built from")
    record = store.create_report(actor, audit_run_id, body=built.body,
                                 body_sha256=body_sha256(built.body),
                                 generated_at=built.generated_at, inputs=inputs)
    report(1.0, f"Report #{record.id} drafted")
    return record


def submit(store: Store, actor: Actor, report_id: int) -> ReportRecord:
    """Submit a draft or returned report for approval (its author or an admin)."""
    return store.submit_report(actor, report_id)


def return_report(store: Store, actor: Actor, report_id: int, comment: str, *,
                  authentication: Authentication | None = None) -> ReportRecord:
    """Return a submitted report to its author with a (required) comment.

    ``authentication`` says how ``actor`` was authenticated; the log entry records it.
    """
    return store.return_report(actor, report_id, comment=comment,
                               authentication=authentication)


def approve(store: Store, actor: Actor, report_id: int, note: str = "", *,
            key: Ed25519PrivateKey | None = None,
            authentication: Authentication | None = None) -> ReportRecord:
    """Approve a submitted report: build its manifest, sign it, store it; then frozen.

    Parameters
    ----------
    key : Ed25519PrivateKey or None, default None
        The signing key; None uses the store's (the deployment key). Any other key than
        the deployment's pinned one is refused by the store.
    authentication : Authentication or None, default None
        How ``actor`` was authenticated; the log entry records it.

    Raises
    ------
    PermissionDenied
        Wrong role, not an active, named user of the store, or the approver ran the
        audit, drafted or submitted the report.
    """
    require_role(actor, "approve a report")
    record = _report(store, report_id)
    manifest = build_manifest(store, record, approved_by=actor.username,
                              approved_at=datetime.now(UTC).isoformat(), note=note)
    signing_key = key if key is not None else store.signing_key()
    return store.approve_report(actor, report_id, manifest=manifest,
                                signature=sign_manifest(manifest, signing_key),
                                public_key=public_key_hex(signing_key), note=note,
                                authentication=authentication)


def build_manifest(store: Store, record: ReportRecord, *, approved_by: str,
                   approved_at: str, note: str = "") -> dict[str, Any]:
    """Return the manifest an approval signs: the body's hash and everything behind it.

    Every sign-off field a reader sees (approver, time, note, when the body was
    generated) is inside it, and so is the sha256 of the inputs frozen with the draft.
    """
    inputs = input_hashes(store, record.audit_run_id)
    last_id, last_hash = store.log_head()
    frozen = store.report_inputs(record.id)
    return {"report_id": record.id, "audit_run_id": record.audit_run_id,
            "body_sha256": record.body_sha256, **inputs,
            "inputs_sha256": None if frozen is None else frozen[1],
            "log_head": {"id": last_id, "hash": last_hash},
            "code_version": {"fairpanel": __version__,
                             "library_versions": library_versions()},
            "approved_by": approved_by, "approved_at": approved_at, "note": note,
            "generated_at": record.generated_at}


def export_report(store: Store, report_id: int, fmt: str) -> bytes:
    """Render a stored report version as ``"html"``, ``"pdf"`` or ``"json"`` bytes.

    The stored body is rendered (never a rebuild), with the sign-off block (status,
    approver, time, manifest, signature, public key) when the report is approved.
    """
    if fmt not in FORMATS:
        raise ValueError(MSG_BAD_FORMAT.format(choices=FORMATS, fmt=fmt))
    record = _report(store, report_id)
    checkpoint = store.report_checkpoint(record.id) if record.approved else None
    return _render(_stored_report(record), fmt, signoff(record, checkpoint))


def export_audit_report(store: Store, actor: Actor, audit_run_id: int,
                        fmt: str) -> tuple[bytes, str]:
    """Export an audit run's latest approved report, else its latest version, else a
    fresh unsaved draft; return ``(bytes, status)``."""
    if fmt not in FORMATS:
        raise ValueError(MSG_BAD_FORMAT.format(choices=FORMATS, fmt=fmt))
    versions = store.list_reports(audit_run_id)
    approved = [r for r in versions if r.approved]
    if approved or versions:
        chosen = (approved or versions)[-1]
        return export_report(store, chosen.id, fmt), chosen.status
    return _render(build_report(store, actor, audit_run_id), fmt, None), "draft"


def signoff(record: ReportRecord,
            checkpoint: Checkpoint | None = None) -> dict[str, Any] | None:
    """Return the sign-off block of an approved report (None before approval).

    Every field shown is read from the signed manifest (the note from the row only for
    manifests signed before notes were signed), with the checkpoint that anchored the
    approval in the log when there is one.
    """
    if not record.approved or record.manifest is None:
        return None
    return signoff_from_manifest(record.manifest, record.signature or "",
                                 record.public_key or "", checkpoint,
                                 legacy_note=record.comment or "")


def _stored_report(record: ReportRecord) -> Report:
    return Report(audit_run_id=record.audit_run_id, generated_at=record.generated_at,
                  body=record.body)
