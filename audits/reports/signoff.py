"""The sign-off block as printed, the rendering of a stored report, and the hashes an
approval signs: what the workflow (:mod:`audits.reports.stored`) and the verifier
(:mod:`audits.reports.verification`) share.
"""

from __future__ import annotations

import hashlib
from typing import Any

from audits.reports.render import render_html, render_json, render_pdf
from audits.reports.report import Report
from audits.store import ReportRecord, Store
from audits.store.checkpoints import Checkpoint, fingerprint
from audits.store.log import canonical_json
from audits.store.signing import manifest_sha256

__all__ = ["MSG_NO_RESULTS", "MSG_UNKNOWN_REPORT", "MSG_UNKNOWN_RUN", "get_report",
           "input_hashes", "json_sha256", "key_fingerprint", "render_report",
           "signoff_from_manifest"]

MSG_UNKNOWN_REPORT = "no report with id {id}"
MSG_UNKNOWN_RUN = "no audit run with id {id}"
MSG_NO_RESULTS = "audit run {id} has no stored results"


def signoff_from_manifest(manifest: dict[str, Any], signature: str, public_key: str,
                          checkpoint: Checkpoint | None, *,
                          legacy_note: str = "") -> dict[str, Any]:
    """Return the sign-off block as printed, derived from a signed manifest."""
    block: dict[str, Any] = {
        "status": "approved", "approved_by": manifest.get("approved_by"),
        "approved_at": manifest.get("approved_at"),
        "note": manifest.get("note", legacy_note) or "", "manifest": manifest,
        "manifest_sha256": manifest_sha256(manifest), "signature": signature,
        "public_key": public_key, "key_fingerprint": key_fingerprint(public_key)}
    if checkpoint is not None:
        block["checkpoint"] = checkpoint.to_dict()
    return block


def key_fingerprint(public_key: str) -> str:
    """Return a public key's sha256 fingerprint, or ``"not a key"`` for malformed hex."""
    try:
        return fingerprint(public_key)
    except ValueError:
        return "not a key"


def input_hashes(store: Store, audit_run_id: int) -> dict[str, str | None]:
    """Return the sha256 of an audit run's dataset, model, configuration and results."""
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_UNKNOWN_RUN.format(id=audit_run_id))
    if run.results is None:
        raise ValueError(MSG_NO_RESULTS.format(id=audit_run_id))
    dataset = store.get_dataset(run.dataset_id)
    model = None if run.model_id is None else store.get_model(run.model_id)
    return {"dataset_sha256": None if dataset is None else dataset.sha256,
            "model_sha256": None if model is None else model.sha256,
            "config_sha256": json_sha256(run.config),
            "results_sha256": json_sha256(run.results)}


def get_report(store: Store, report_id: int) -> ReportRecord:
    """Return a stored report version or raise LookupError naming its id."""
    record = store.get_report(report_id)
    if record is None:
        raise LookupError(MSG_UNKNOWN_REPORT.format(id=report_id))
    return record


def render_report(report: Report, fmt: str, sign: dict[str, Any] | None) -> bytes:
    """Render ``report`` (with its sign-off) as ``"html"``, ``"pdf"`` or ``"json"`` bytes."""
    if fmt == "pdf":
        return render_pdf(report, signoff=sign)
    render = render_html if fmt == "html" else render_json
    return render(report, signoff=sign).encode("utf-8")


def json_sha256(value: Any) -> str:
    """Return the sha256 of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
