"""The report workflow: draft from stored results, submit, approve (sign and freeze) or
return, export, and verify an exported file against the store.

An approval signs a manifest that ties the report's body to everything behind it: the
hashes of the dataset, the model, the run's configuration and its stored results, the
audit log's head and the code's versions. :func:`verify_report_file` re-derives each of
those from the store, so editing the file, the stored report or any stored number
behind it makes verification fail and names the check that failed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.reports.render import read_embedded_json, render_html, render_json, render_pdf
from audits.reports.report import Report, body_sha256, build_report
from audits.roles import Actor, require_role
from audits.store import ReportRecord, Store
from audits.store.log import canonical_json
from audits.store.signing import (
    deployment_key,
    manifest_sha256,
    public_key_hex,
    sign_manifest,
    verify_signature,
)
from audits.versions import __version__, library_versions

__all__ = ["FORMATS", "Verification", "approve", "build_manifest", "draft_report",
           "export_audit_report", "export_report", "return_report", "signoff", "submit",
           "verify_report_file"]

Progress = Callable[[float, str], None]
FORMATS = ("html", "pdf", "json")
CHECK_FILE = "embedded data"
CHECK_APPROVED = "approved"
CHECK_BODY = "body hash"
CHECK_SIGNATURE = "signature"
CHECK_STORED = "stored report"
CHECK_RESULTS = "stored results"
CHECK_INPUTS = "dataset, model and configuration"
CHECK_REBUILD = "report rebuilt from the store"
CHECK_LOG = "audit log"

MSG_UNKNOWN_REPORT = "no report with id {id}"
MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_NO_RESULTS = "audit run {id} has no stored results"
MSG_BAD_FORMAT = "fmt must be one of {choices}; got {fmt!r}"
MSG_NOT_APPROVED = "not approved: the file carries no sign-off (status {status})"


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_report_file`.

    Attributes
    ----------
    ok : bool
        True when every check passed.
    checks : list of (name, passed, detail)
        Each check in the order run; ``detail`` says what was compared or found.

    Examples
    --------
    >>> v = Verification(ok=False, checks=[("signature", False, "does not verify")])
    >>> v.failed
    ['signature']
    """

    ok: bool
    checks: list[tuple[str, bool, str]]

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed."""
        return [name for name, passed, _ in self.checks if not passed]


def draft_report(store: Store, actor: Actor, audit_run_id: int,
                 progress: Progress | None = None) -> ReportRecord:
    """Build the report of a completed audit run from the store and save it as a draft.

    Requires "draft a report" (checked before any work). Each call stores a new version.

    Returns
    -------
    ReportRecord
        The stored draft.
    """
    report = progress or (lambda fraction, message: None)
    require_role(actor, "draft a report")
    built = build_report(store, actor, audit_run_id,
                         progress=lambda f, m: report(0.9 * f, m))
    report(0.95, "Saving the draft")
    record = store.create_report(actor, audit_run_id, body=built.body,
                                 body_sha256=body_sha256(built.body),
                                 generated_at=built.generated_at)
    report(1.0, f"Report #{record.id} drafted")
    return record


def submit(store: Store, actor: Actor, report_id: int) -> ReportRecord:
    """Submit a draft or returned report for approval (its author or an admin)."""
    return store.submit_report(actor, report_id)


def return_report(store: Store, actor: Actor, report_id: int, comment: str) -> ReportRecord:
    """Return a submitted report to its author with a (required) comment."""
    return store.return_report(actor, report_id, comment=comment)


def approve(store: Store, actor: Actor, report_id: int, note: str = "", *,
            key: Ed25519PrivateKey | None = None) -> ReportRecord:
    """Approve a submitted report: build its manifest, sign it, store it; then frozen.

    Parameters
    ----------
    key : Ed25519PrivateKey or None, default None
        The signing key; None uses :func:`audits.store.signing.deployment_key`.

    Raises
    ------
    PermissionDenied
        Wrong role, or the approver ran the audit or drafted the report.
    """
    require_role(actor, "approve a report")
    record = _report(store, report_id)
    manifest = build_manifest(store, record, approved_by=actor.username,
                              approved_at=datetime.now(UTC).isoformat())
    signing_key = key if key is not None else deployment_key()
    return store.approve_report(actor, report_id, manifest=manifest,
                                signature=sign_manifest(manifest, signing_key),
                                public_key=public_key_hex(signing_key), note=note)


def build_manifest(store: Store, record: ReportRecord, *, approved_by: str,
                   approved_at: str) -> dict[str, Any]:
    """Return the manifest an approval signs: the body's hash and everything behind it."""
    inputs = _input_hashes(store, record.audit_run_id)
    last_id, last_hash = store.log_head()
    return {"report_id": record.id, "audit_run_id": record.audit_run_id,
            "body_sha256": record.body_sha256, **inputs,
            "log_head": {"id": last_id, "hash": last_hash},
            "code_version": {"fairpanel": __version__,
                             "library_versions": library_versions()},
            "approved_by": approved_by, "approved_at": approved_at}


def export_report(store: Store, report_id: int, fmt: str) -> bytes:
    """Render a stored report version as ``"html"``, ``"pdf"`` or ``"json"`` bytes.

    The stored body is rendered (never a rebuild), with the sign-off block (status,
    approver, time, manifest, signature, public key) when the report is approved.
    """
    if fmt not in FORMATS:
        raise ValueError(MSG_BAD_FORMAT.format(choices=FORMATS, fmt=fmt))
    record = _report(store, report_id)
    return _render(_stored_report(record), fmt, signoff(record))


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


def signoff(record: ReportRecord) -> dict[str, Any] | None:
    """Return the sign-off block of an approved report (None before approval)."""
    if not record.approved:
        return None
    return {"status": record.status, "approved_by": record.decided_by,
            "approved_at": None if record.manifest is None else record.manifest["approved_at"],
            "note": record.comment or "", "manifest": record.manifest,
            "manifest_sha256": None if record.manifest is None
            else manifest_sha256(record.manifest),
            "signature": record.signature, "public_key": record.public_key}


def verify_report_file(store: Store, path: str | os.PathLike[str], *,
                       actor: Actor | None = None) -> Verification:
    """Check an exported report file against its signature and the store.

    Checks, in order: the file's body hashes to the manifest's ``body_sha256``; the
    signature verifies under the public key stored with the report and the file names
    that key; the store holds the same approved manifest; the audit run's stored
    results, the dataset, model and configuration still hash as the manifest says, and
    rebuilding the report from the store gives the same body; the audit log's chain is
    intact and still holds the head the manifest quotes. A file without a sign-off fails
    with "not approved".

    Parameters
    ----------
    actor : Actor or None, default None
        Who rebuilds the report; None acts as :meth:`Actor.system`.
    """
    try:
        embedded = read_embedded_json(Path(path))
    except Exception as error:  # a verifier reports an unreadable file, whatever the cause
        return Verification(False, [(CHECK_FILE, False, f"cannot read the report: {error}")])
    sign = embedded.get("signoff")
    if not isinstance(sign, dict) or sign.get("status") != "approved":
        status = sign.get("status") if isinstance(sign, dict) else "draft"
        return Verification(False, [(CHECK_APPROVED, False, MSG_NOT_APPROVED.format(
            status=status))])
    context = _Context(store, embedded, sign, actor or Actor.system())
    checks = [_run(name, check, context) for name, check in _CHECKS]
    return Verification(all(passed for _, passed, _ in checks), checks)


@dataclass(frozen=True)
class _Context:
    store: Store
    embedded: dict[str, Any]
    signoff: dict[str, Any]
    actor: Actor

    @property
    def manifest(self) -> dict[str, Any]:
        manifest = self.signoff["manifest"]
        if not isinstance(manifest, dict):
            raise ValueError("the sign-off has no manifest")
        return manifest

    def stored(self) -> ReportRecord:
        return _report(self.store, int(self.manifest["report_id"]))


def _check_body(c: _Context) -> tuple[bool, str]:
    actual = body_sha256(c.embedded["body"])
    expected = c.manifest["body_sha256"]
    return actual == expected, f"file body sha256 {actual}; manifest says {expected}"


def _check_signature(c: _Context) -> tuple[bool, str]:
    stored_key = c.stored().public_key or ""
    if c.signoff.get("public_key") != stored_key:
        return False, f"the file names public key {c.signoff.get('public_key')}, " \
                      f"the store holds {stored_key}"
    if not verify_signature(c.manifest, str(c.signoff.get("signature")), stored_key):
        return False, "the signature does not verify against the manifest"
    return True, f"Ed25519 signature verifies under public key {stored_key}"


def _check_stored(c: _Context) -> tuple[bool, str]:
    record = c.stored()
    if not record.approved:
        return False, f"report {record.id} is {record.status} in the store, not approved"
    if record.manifest != c.manifest or record.signature != c.signoff.get("signature"):
        return False, f"the store's manifest or signature of report {record.id} differs"
    return True, f"report {record.id} is approved in the store with the same manifest"


def _check_results(c: _Context) -> tuple[bool, str]:
    run = c.store.get_audit_run(int(c.manifest["audit_run_id"]))
    if run is None or run.results is None:
        return False, MSG_UNKNOWN_RUN.format(id=c.manifest["audit_run_id"])
    actual, expected = _sha(run.results), c.manifest["results_sha256"]
    return actual == expected, f"stored results sha256 {actual}; manifest says {expected}"


def _check_inputs(c: _Context) -> tuple[bool, str]:
    actual = _input_hashes(c.store, int(c.manifest["audit_run_id"]))
    changed = [k for k in ("dataset_sha256", "model_sha256", "config_sha256")
               if actual[k] != c.manifest.get(k)]
    if changed:
        return False, "changed since approval: " + ", ".join(changed)
    return True, "dataset, model and configuration hashes match the manifest"


def _check_rebuild(c: _Context) -> tuple[bool, str]:
    rebuilt = build_report(c.store, c.actor, int(c.manifest["audit_run_id"]))
    actual, expected = body_sha256(rebuilt.body), c.manifest["body_sha256"]
    return actual == expected, f"rebuilt body sha256 {actual}; manifest says {expected}"


def _check_log(c: _Context) -> tuple[bool, str]:
    chain = c.store.verify_log()
    if not chain.ok:
        return False, chain.reason
    head = c.manifest["log_head"]
    entry = c.store.log_entry_at(int(head["id"])) if head["id"] else None
    quoted = entry.hash if entry is not None else "0" * 64
    if quoted != head["hash"]:
        return False, f"log entry {head['id']} no longer has the hash the manifest quotes"
    return True, f"{chain.reason}; entry {head['id']} still has the quoted hash"


_CHECKS: tuple[tuple[str, Callable[[_Context], tuple[bool, str]]], ...] = (
    (CHECK_BODY, _check_body), (CHECK_SIGNATURE, _check_signature),
    (CHECK_STORED, _check_stored), (CHECK_RESULTS, _check_results),
    (CHECK_INPUTS, _check_inputs), (CHECK_REBUILD, _check_rebuild), (CHECK_LOG, _check_log),
)


def _run(name: str, check: Callable[[_Context], tuple[bool, str]],
         context: _Context) -> tuple[str, bool, str]:
    try:
        passed, detail = check(context)
    except (LookupError, TypeError, ValueError) as error:
        return name, False, f"could not check: {error}"
    return name, passed, detail


def _input_hashes(store: Store, audit_run_id: int) -> dict[str, str | None]:
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_UNKNOWN_RUN.format(id=audit_run_id))
    if run.results is None:
        raise ValueError(MSG_NO_RESULTS.format(id=audit_run_id))
    dataset = store.get_dataset(run.dataset_id)
    model = None if run.model_id is None else store.get_model(run.model_id)
    return {"dataset_sha256": None if dataset is None else dataset.sha256,
            "model_sha256": None if model is None else model.sha256,
            "config_sha256": _sha(run.config), "results_sha256": _sha(run.results)}


def _report(store: Store, report_id: int) -> ReportRecord:
    record = store.get_report(report_id)
    if record is None:
        raise LookupError(MSG_UNKNOWN_REPORT.format(id=report_id))
    return record


def _stored_report(record: ReportRecord) -> Report:
    return Report(audit_run_id=record.audit_run_id, generated_at=record.generated_at,
                  body=record.body)


def _render(report: Report, fmt: str, sign: dict[str, Any] | None) -> bytes:
    if fmt == "pdf":
        return render_pdf(report, signoff=sign)
    render = render_html if fmt == "html" else render_json
    return render(report, signoff=sign).encode("utf-8")


def _sha(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
