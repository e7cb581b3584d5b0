"""The report workflow on COMPAS: draft, submit, separation of duties, sign-off, export in
three formats, verification, and tampering with the file or the numbers behind it."""

from __future__ import annotations

import hashlib
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import update

from audits.demo.default import ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.reports.render import read_embedded_json
from audits.reports.report import body_sha256, build_report
from audits.reports.stored import (
    CHECK_APPROVED,
    CHECK_BODY,
    CHECK_LOG,
    CHECK_REBUILD,
    CHECK_RESULTS,
    CHECK_SIGNATURE,
    CHECK_STORED,
    MSG_BAD_FORMAT,
    approve,
    draft_report,
    export_audit_report,
    export_report,
    return_report,
    submit,
    verify_report_file,
)
from audits.roles import Actor, PermissionDenied, Role
from audits.store import AuditRunRecord, Store
from audits.store.log import canonical_json
from audits.store.signing import KEY_FILE, deployment_key, public_key_hex
from audits.store.tables import AuditLog, AuditRun
from audits.versions import library_versions

DANA = Actor("dana", Role.DATA_SCIENTIST)
CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
ROOT = Actor("root", Role.ADMIN)
FORMATS = ("html", "json", "pdf")


@pytest.fixture
def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, int]]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(f"sqlite:///{tmp_path / 'fairpanel.db'}") as store:
        state = ensure_demo(store, dataset="compas")
        for person in (CASEY, ROOT):  # approvers are users of the store
            store.add_user(Actor.system(), person.username, person.role)
        run = run_fairness_audit(store, DANA, state.dataset, None, n_boot=200)
        assert run.status == "completed" and run.created_by == "dana"
        yield store, run.id


def _sha(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _export_all(store: Store, report_id: int, folder: Path) -> dict[str, Path]:
    paths = {}
    for fmt in FORMATS:
        paths[fmt] = folder / f"report.{fmt}"
        paths[fmt].write_bytes(export_report(store, report_id, fmt))
    return paths


def _edit_one_fpr(store: Store, run_id: int) -> None:
    run = store.get_audit_run(run_id)
    assert isinstance(run, AuditRunRecord) and run.results is not None
    results = run.results
    group = next(g for g in results["groups"] if "false_positive_rate" in g["metrics"])
    group["metrics"]["false_positive_rate"]["value"] += 0.01
    with store.engine.begin() as conn:
        conn.execute(update(AuditRun).where(AuditRun.id == run_id).values(results_json=results))


def test_draft_submit_approve_export_verify_then_tamper(
        audited: tuple[Store, int], tmp_path: Path) -> None:
    store, run_id = audited
    steps: list[str] = []
    draft = draft_report(store, DANA, run_id, progress=lambda f, m: steps.append(m))
    assert draft.status == "draft" and steps
    assert draft.body_sha256 == _sha(draft.body) == body_sha256(draft.body)
    submitted = submit(store, DANA, draft.id)
    assert submitted.status == "submitted"

    with pytest.raises(PermissionDenied):  # the data scientist who ran and drafted it
        approve(store, DANA, draft.id)
    unsigned = tmp_path / "draft.json"
    unsigned.write_bytes(export_report(store, draft.id, "json"))
    result = verify_report_file(store, unsigned)
    assert not result.ok and result.failed == [CHECK_APPROVED]
    assert "not approved" in result.checks[0][2]

    approved = approve(store, CASEY, draft.id, note="checked against the card")
    _check_manifest(store, approved.manifest or {}, run_id, draft.id)
    assert approved.public_key == public_key_hex(deployment_key())
    key_path = tmp_path / "home" / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(approved.public_key or "")).verify(
        bytes.fromhex(approved.signature or ""),
        canonical_json(approved.manifest).encode())  # independent oracle: raises if bad
    entry = store.log_entries()[0]
    assert (entry.action, entry.actor, entry.payload["manifest_sha256"]) == (
        "approve_report", "casey", _sha(approved.manifest))

    paths = _export_all(store, draft.id, tmp_path)
    for fmt, path in paths.items():
        result = verify_report_file(store, path)
        assert result.ok, (fmt, result.checks)
        assert len(result.checks) == 11
        embedded = read_embedded_json(path)
        assert embedded["body"] == approved.body
        assert {k: embedded["signoff"][k] for k in ("status", "approved_by", "signature",
                                                    "public_key", "manifest")} == {
            "status": "approved", "approved_by": "casey", "signature": approved.signature,
            "public_key": approved.public_key, "manifest": approved.manifest}
    assert export_audit_report(store, ROOT, run_id, "json")[1] == "approved"

    body = json.loads(paths["json"].read_text())
    body["body"]["title"] = body["body"]["title"] + " (edited)"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(body))
    result = verify_report_file(store, edited)
    assert not result.ok and CHECK_BODY in result.failed
    assert CHECK_SIGNATURE not in result.failed  # the manifest itself is intact

    forged = json.loads(paths["json"].read_text())
    forged["signoff"]["manifest"]["approved_by"] = "mallory"
    edited.write_text(json.dumps(forged))
    result = verify_report_file(store, edited)
    assert {CHECK_SIGNATURE, CHECK_STORED} <= set(result.failed)

    _edit_one_fpr(store, run_id)
    for path in paths.values():
        result = verify_report_file(store, path)
        assert not result.ok
        assert {CHECK_RESULTS, CHECK_REBUILD} <= set(result.failed)
        assert CHECK_BODY not in result.failed and CHECK_STORED not in result.failed
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == 1).values(actor="mallory"))
    assert CHECK_LOG in verify_report_file(store, paths["html"]).failed


def _check_manifest(store: Store, manifest: dict[str, Any], run_id: int, report_id: int) -> None:
    run = store.get_audit_run(run_id)
    assert run is not None
    dataset = store.get_dataset(run.dataset_id)
    assert dataset is not None
    assert manifest["report_id"] == report_id and manifest["audit_run_id"] == run_id
    assert manifest["results_sha256"] == _sha(run.results)
    assert manifest["config_sha256"] == _sha(run.config)
    assert manifest["dataset_sha256"] == dataset.sha256 and manifest["model_sha256"] is None
    assert manifest["approved_by"] == "casey"
    assert manifest["code_version"]["library_versions"] == library_versions()
    head_id = manifest["log_head"]["id"]
    entry = store.log_entry_at(head_id)
    assert entry is not None and entry.hash == manifest["log_head"]["hash"]
    # The approval came right after (the key was pinned at the store's first write).
    assert [e.action for e in store.log_entries(limit=2)] == ["approve_report",
                                                              "submit_report"]
    assert store.log_entries()[0].id == head_id + 1
    assert sum(e.action == "pin_signing_key" for e in store.log_entries()) == 1
    rebuilt = build_report(store, CASEY, run_id)
    assert body_sha256(rebuilt.body) == manifest["body_sha256"]


def test_return_with_comment_is_logged_and_a_revision_is_a_new_version(
        audited: tuple[Store, int]) -> None:
    store, run_id = audited
    data, status = export_audit_report(store, ROOT, run_id, "json")  # nothing stored yet
    assert status == "draft" and read_embedded_json(data)["signoff"] is None
    assert store.list_reports(run_id) == []
    first = submit(store, DANA, draft_report(store, DANA, run_id).id)
    returned = return_report(store, CASEY, first.id, "Name the data period in the scope.")
    assert (returned.status, returned.comment) == ("returned",
                                                   "Name the data period in the scope.")
    entry = store.log_entries()[0]
    assert (entry.action, entry.entity, entry.entity_id, entry.payload["comment"]) == (
        "return_report", "report", str(first.id), "Name the data period in the scope.")
    second = draft_report(store, DANA, run_id)
    assert (second.version, second.body_sha256) == (2, first.body_sha256)
    assert [r.status for r in store.list_reports(run_id)] == ["returned", "draft"]


def test_an_admin_who_drafted_cannot_approve_and_exports_refuse_bad_formats(
        audited: tuple[Store, int]) -> None:
    store, run_id = audited
    report = submit(store, ROOT, draft_report(store, ROOT, run_id).id)
    with pytest.raises(PermissionDenied, match="the person who ran an audit cannot approve it"):
        approve(store, ROOT, report.id)
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=re.escape(MSG_BAD_FORMAT.format(
            choices=("html", "pdf", "json"), fmt="docx"))):
        export_report(store, report.id, "docx")
