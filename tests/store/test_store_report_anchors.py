"""Reports in the store, anchored: frozen inputs stored with a draft and signed at
approval, the note inside the manifest, the pinned key, and the approval's checkpoint,
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from db_support import SCIENTIST, SIGNING_KEY, add_dataset, row_counts

from audits.roles import Actor, Role
from audits.store import ReportRecord, Store
from audits.store.checkpoints import KeyNotPinned
from audits.store.signing import public_key_hex, sign_manifest

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
BODY = {"title": "Audit of adult", "metrics": [{"group": "Female", "fpr": 0.125}]}
INPUTS = {"schema": 1, "calls": {"ratings": [[1, 2, 1]], "progress": {"$dict": []}}}


def _sha(value: dict[str, Any]) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _submitted(store: Store) -> ReportRecord:
    store.add_user(Actor.system(), SCIENTIST.username, SCIENTIST.role)
    store.add_user(Actor.system(), CASEY.username, CASEY.role)
    run = store.create_audit_run(SCIENTIST, dataset_id=add_dataset(store), model_id=None,
                                 config={})
    store.finish_audit_run(SCIENTIST, run.id, results={"rows": 10})
    draft = store.create_report(SCIENTIST, run.id, body=BODY, body_sha256=_sha(BODY),
                                generated_at="2026-11-26T03:00:00+00:00", inputs=INPUTS)
    return store.submit_report(SCIENTIST, draft.id)


def _manifest(report: ReportRecord, **changes: Any) -> dict[str, Any]:
    return {"report_id": report.id, "audit_run_id": report.audit_run_id,
            "body_sha256": report.body_sha256, "inputs_sha256": _sha(INPUTS),
            "approved_by": CASEY.username, "approved_at": datetime.now(UTC).isoformat(),
            "note": "fine", **changes}


def _approve(store: Store, report: ReportRecord, key: Ed25519PrivateKey = SIGNING_KEY,
             note: str = "fine", **changes: Any) -> ReportRecord:
    manifest = _manifest(report, **changes)
    return store.approve_report(CASEY, report.id, manifest=manifest,
                                signature=sign_manifest(manifest, key),
                                public_key=public_key_hex(key), note=note)


def test_the_draft_keeps_its_inputs_and_the_approval_is_anchored(store: Store) -> None:
    report = _submitted(store)
    frozen = store.report_inputs(report.id)
    assert frozen == (INPUTS, _sha(INPUTS))
    approved = _approve(store, report)
    checkpoint = store.report_checkpoint(report.id)
    assert checkpoint is not None and checkpoint.reason == "approval"
    entry = store.log_entry_at(checkpoint.entry_id)
    assert entry is not None and entry.action == "approve_report"
    assert (entry.entity_id, entry.hash) == (str(approved.id), checkpoint.entry_hash)
    assert checkpoint.verifies() and store.verify_anchors().ok
    pinned = store.pinned_key()
    assert pinned is not None and pinned.public_key == public_key_hex(SIGNING_KEY)


@pytest.mark.parametrize(("changes", "note", "match"), [
    ({"inputs_sha256": "e" * 64}, "fine", "frozen inputs hash to"),
    ({"inputs_sha256": None}, "fine", "frozen inputs hash to"),
    ({}, "another note", "must be the approval note"),
])
def test_an_approval_must_sign_the_frozen_inputs_and_the_note(
        store: Store, changes: dict[str, Any], note: str, match: str) -> None:
    report = _submitted(store)
    before, checkpoints = row_counts(store), store.list_checkpoints()
    with pytest.raises(ValueError, match=match):
        _approve(store, report, note=note, **changes)
    assert row_counts(store) == before and store.list_checkpoints() == checkpoints
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]


def test_an_approval_under_another_key_is_refused_once_a_key_is_pinned(store: Store) -> None:
    report = _submitted(store)
    store.write_checkpoint(Actor.system())  # pins the store's key
    before = row_counts(store)
    with pytest.raises(KeyNotPinned, match="not the deployment's pinned key"):
        _approve(store, report, key=Ed25519PrivateKey.generate())
    assert row_counts(store) == before
    assert _approve(store, report).approved
