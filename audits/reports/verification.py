"""Verify an exported report file: its signature, what it shows, and the store behind it.

:func:`verify_report_file` runs one check after another and reports each (name, passed,
what was compared): the body against the signed manifest, the signature and the pinned
key, the stored approval, the file against a re-render of the signed body and sign-off
(every visible character, in HTML, JSON or PDF), the stored results, data, model and
configuration, the frozen inputs and a rebuild from them, the anchored log, and the
checkpoint signed at the approval.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audits.reports.render import read_embedded_json
from audits.reports.report import Report, body_sha256, build_report
from audits.reports.signoff import (
    MSG_UNKNOWN_RUN,
    get_report,
    input_hashes,
    json_sha256,
    key_fingerprint,
    render_report,
    signoff_from_manifest,
)
from audits.reports.snapshot import inputs_sha256, rebuild
from audits.roles import Actor
from audits.store import ReportRecord, Store
from audits.store.checkpoints import Checkpoint
from audits.store.signing import manifest_sha256, verify_signature

__all__ = ["CHECK_ANCHOR", "CHECK_APPROVED", "CHECK_BODY", "CHECK_FILE", "CHECK_FROZEN",
           "CHECK_INPUTS", "CHECK_KEY", "CHECK_LOG", "CHECK_REBUILD", "CHECK_RENDER",
           "CHECK_RESULTS", "CHECK_SIGNATURE", "CHECK_STORED", "MSG_DIFFERS",
           "MSG_NOT_APPROVED", "Verification", "verify_report_file"]

CHECK_FILE = "embedded data"
CHECK_APPROVED = "approved"
CHECK_BODY = "body hash"
CHECK_SIGNATURE = "signature"
CHECK_STORED = "stored report"
CHECK_RESULTS = "stored results"
CHECK_INPUTS = "dataset, model and configuration"
CHECK_REBUILD = "report rebuilt from the store"
CHECK_LOG = "audit log"
CHECK_KEY = "pinned key"
CHECK_RENDER = "visible content"
CHECK_FROZEN = "frozen inputs"
CHECK_ANCHOR = "approval checkpoint"
#: Characters shown either side of the first difference between a file and its re-render.
EXCERPT = 40

MSG_NOT_APPROVED = "not approved: the file carries no sign-off (status {status})"
MSG_DIFFERS = ("the {fmt} differs from the re-rendered signed report at {where}: "
               "the file shows {file!r}, the signed report {signed!r}")


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


def verify_report_file(store: Store, path: str | os.PathLike[str], *,
                       actor: Actor | None = None) -> Verification:
    """Check an exported report file against its signature, what it shows, and the store.

    Checks, in order: the file's body hashes to the manifest's ``body_sha256``; the
    signature verifies under the public key stored with the report and the file names
    that key; that key is the deployment's pinned key; the store holds the same approved
    manifest; the file is exactly what the signed body and sign-off render to (every
    visible character, in HTML, JSON or PDF; the first difference is quoted); the audit
    run's stored results, the dataset, model and configuration still hash as the
    manifest says; the inputs frozen with the draft still hash as signed, and
    rebuilding the report from them gives the same body; the audit log is intact
    against its signed checkpoints and still holds the head the manifest quotes; and the
    checkpoint signed at the approval anchors the approval's own log entry. A file
    without a sign-off fails with "not approved".

    Parameters
    ----------
    actor : Actor or None, default None
        Who rebuilds the report when it has no frozen inputs (reports approved before
        inputs were frozen); None acts as :meth:`Actor.system`.
    """
    try:
        data = Path(path).read_bytes()
        embedded = read_embedded_json(data)
    except Exception as error:  # a verifier reports an unreadable file, whatever the cause
        return Verification(False, [(CHECK_FILE, False, f"cannot read the report: {error}")])
    sign = embedded.get("signoff")
    if not isinstance(sign, dict) or sign.get("status") != "approved":
        status = sign.get("status") if isinstance(sign, dict) else "draft"
        return Verification(False, [(CHECK_APPROVED, False, MSG_NOT_APPROVED.format(
            status=status))])
    context = _Context(store, embedded, sign, actor or Actor.system(), data)
    checks = [_run(name, check, context) for name, check in _CHECKS]
    return Verification(all(passed for _, passed, _ in checks), checks)


@dataclass(frozen=True)
class _Context:
    store: Store
    embedded: dict[str, Any]
    signoff: dict[str, Any]
    actor: Actor
    data: bytes = b""

    @property
    def manifest(self) -> dict[str, Any]:
        manifest = self.signoff["manifest"]
        if not isinstance(manifest, dict):
            raise ValueError("the sign-off has no manifest")
        return manifest

    def stored(self) -> ReportRecord:
        return get_report(self.store, int(self.manifest["report_id"]))

    def checkpoint(self) -> Checkpoint | None:
        """The file's approval checkpoint, else the store's."""
        carried = self.signoff.get("checkpoint")
        if isinstance(carried, dict):
            return Checkpoint.from_dict(carried)
        return self.store.report_checkpoint(int(self.manifest["report_id"]))


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


def _check_key(c: _Context) -> tuple[bool, str]:
    pinned = c.store.pinned_key()
    used = str(c.signoff.get("public_key"))
    if pinned is None:
        return False, "the store has no pinned signing key, so no signature can be trusted"
    if used != pinned.public_key:
        return False, (f"signed under key {key_fingerprint(used)[:16]}..., not the deployment's "
                       f"pinned key {pinned.fingerprint[:16]}...")
    return True, f"signed under the deployment's pinned key, fingerprint {pinned.fingerprint}"


def _check_stored(c: _Context) -> tuple[bool, str]:
    record = c.stored()
    if not record.approved:
        return False, f"report {record.id} is {record.status} in the store, not approved"
    if record.manifest != c.manifest or record.signature != c.signoff.get("signature"):
        return False, f"the store's manifest or signature of report {record.id} differs"
    return True, f"report {record.id} is approved in the store with the same manifest"


def _check_render(c: _Context) -> tuple[bool, str]:
    manifest = c.manifest
    report = Report(audit_run_id=int(manifest["audit_run_id"]), body=c.embedded["body"],
                    generated_at=str(manifest.get("generated_at",
                                                  c.embedded.get("generated_at"))))
    sign = signoff_from_manifest(manifest, str(c.signoff.get("signature")),
                                 str(c.signoff.get("public_key")), c.checkpoint(),
                                 legacy_note=str(c.signoff.get("note", "")))
    fmt = _format(c.data)
    expected = render_report(report, fmt, sign)
    if expected == c.data:
        return True, f"the {fmt.upper()} is exactly what the signed body and sign-off render to"
    return False, _first_difference(fmt, c.data, expected)


def _check_results(c: _Context) -> tuple[bool, str]:
    run = c.store.get_audit_run(int(c.manifest["audit_run_id"]))
    if run is None or run.results is None:
        return False, MSG_UNKNOWN_RUN.format(id=c.manifest["audit_run_id"])
    actual, expected = json_sha256(run.results), c.manifest["results_sha256"]
    return actual == expected, f"stored results sha256 {actual}; manifest says {expected}"


def _check_inputs(c: _Context) -> tuple[bool, str]:
    actual = input_hashes(c.store, int(c.manifest["audit_run_id"]))
    changed = [k for k in ("dataset_sha256", "model_sha256", "config_sha256")
               if actual[k] != c.manifest.get(k)]
    if changed:
        return False, "changed since approval: " + ", ".join(changed)
    return True, "dataset, model and configuration hashes match the manifest"


def _check_frozen(c: _Context) -> tuple[bool, str]:
    signed = c.manifest.get("inputs_sha256")
    if signed is None:
        return True, "approved before inputs were frozen: the rebuild reads the live store"
    frozen = c.store.report_inputs(int(c.manifest["report_id"]))
    if frozen is None:
        return False, "the store no longer holds the inputs frozen with this report"
    actual = inputs_sha256(frozen[0])
    if actual != signed or frozen[1] != signed:
        return False, f"frozen inputs sha256 {actual}; manifest says {signed}"
    return True, f"frozen inputs sha256 {actual} as signed"


def _check_rebuild(c: _Context) -> tuple[bool, str]:
    frozen = (c.store.report_inputs(int(c.manifest["report_id"]))
              if c.manifest.get("inputs_sha256") else None)
    if frozen is not None:
        rebuilt, source = rebuild(c.store, frozen[0]), "its frozen inputs"
    else:
        rebuilt = build_report(c.store, c.actor, int(c.manifest["audit_run_id"]))
        source = "the live store"
    actual, expected = body_sha256(rebuilt.body), c.manifest["body_sha256"]
    return actual == expected, (f"rebuilt from {source}: body sha256 {actual}; manifest "
                                f"says {expected}")


def _check_log(c: _Context) -> tuple[bool, str]:
    anchors = c.store.verify_anchors()
    if not anchors.ok:
        return False, anchors.reason
    head = c.manifest["log_head"]
    entry = c.store.log_entry_at(int(head["id"])) if head["id"] else None
    quoted = entry.hash if entry is not None else "0" * 64
    if quoted != head["hash"]:
        return False, f"log entry {head['id']} no longer has the hash the manifest quotes"
    return True, f"{anchors.reason}; entry {head['id']} still has the quoted hash"


def _check_anchor(c: _Context) -> tuple[bool, str]:
    checkpoint, pinned = c.checkpoint(), c.store.pinned_key()
    report_id = int(c.manifest["report_id"])
    if checkpoint is None:
        return False, f"no signed checkpoint anchors the approval of report {report_id}"
    if checkpoint.report_id != report_id:
        return False, f"checkpoint #{checkpoint.id} anchors report {checkpoint.report_id}"
    if pinned is None or checkpoint.public_key != pinned.public_key:
        return False, f"checkpoint #{checkpoint.id} is not under the pinned key"
    if not checkpoint.verifies():
        return False, f"checkpoint #{checkpoint.id}: the signature does not verify"
    if checkpoint not in c.store.list_checkpoints():
        return False, f"the store no longer holds checkpoint #{checkpoint.id}"
    entry = c.store.log_entry_at(checkpoint.entry_id)
    if entry is None or entry.hash != checkpoint.entry_hash:
        return False, (f"log entry {checkpoint.entry_id} is gone or no longer has the hash "
                       f"checkpoint #{checkpoint.id} signed at the approval")
    if (entry.action, entry.entity_id, entry.payload.get("manifest_sha256")) != (
            "approve_report", str(report_id), manifest_sha256(c.manifest)):
        return False, (f"log entry {entry.id} anchored at the approval is not the approval "
                       f"of report {report_id} with this manifest")
    return True, (f"checkpoint #{checkpoint.id} (signed {checkpoint.ts}) anchors the "
                  f"approval's log entry {entry.id}")


_CHECKS: tuple[tuple[str, Callable[[_Context], tuple[bool, str]]], ...] = (
    (CHECK_BODY, _check_body), (CHECK_SIGNATURE, _check_signature),
    (CHECK_KEY, _check_key), (CHECK_STORED, _check_stored), (CHECK_RENDER, _check_render),
    (CHECK_RESULTS, _check_results), (CHECK_INPUTS, _check_inputs),
    (CHECK_FROZEN, _check_frozen), (CHECK_REBUILD, _check_rebuild),
    (CHECK_LOG, _check_log), (CHECK_ANCHOR, _check_anchor),
)


def _format(data: bytes) -> str:
    if data.startswith(b"%PDF"):
        return "pdf"
    return "json" if data.lstrip().startswith(b"{") else "html"


def _first_difference(fmt: str, data: bytes, expected: bytes) -> str:
    if fmt == "pdf":
        page, shown, signed = _first_pdf_difference(data, expected)
        if page is None:
            return ("the PDF's bytes differ from the re-rendered signed report although "
                    "its text is the same (a chart, drawing, font or metadata was changed"
                    + _versions_note() + ")")
        fmt = f"PDF (page {page})"
    else:
        shown = data.decode("utf-8", errors="replace")
        signed = expected.decode("utf-8", errors="replace")
    i = next((k for k, (a, b) in enumerate(zip(shown, signed, strict=False)) if a != b),
             min(len(shown), len(signed)))
    line = shown.count("\n", 0, i) + 1
    lo = max(0, i - EXCERPT)
    return MSG_DIFFERS.format(fmt=fmt if fmt.startswith("PDF") else fmt.upper(),
                              where=f"character {i + 1} (line {line})",
                              file=shown[lo:i + EXCERPT], signed=signed[lo:i + EXCERPT])


def _first_pdf_difference(data: bytes, expected: bytes) -> tuple[int | None, str, str]:
    from pypdf import PdfReader  # only verifiers need pypdf

    shown, signed = PdfReader(io.BytesIO(data)).pages, PdfReader(io.BytesIO(expected)).pages
    for number in range(max(len(shown), len(signed))):
        a = shown[number].extract_text() if number < len(shown) else ""
        b = signed[number].extract_text() if number < len(signed) else ""
        if a != b:
            return number + 1, a, b
    return None, "", ""


def _versions_note() -> str:
    return "; a different version of fpdf2 or matplotlib than at signing also changes them"


def _run(name: str, check: Callable[[_Context], tuple[bool, str]],
         context: _Context) -> tuple[str, bool, str]:
    try:
        passed, detail = check(context)
    except (LookupError, TypeError, ValueError) as error:
        return name, False, f"could not check: {error}"
    return name, passed, detail
