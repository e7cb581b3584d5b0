"""Reports in the store: transitions, separation of duties, frozen approvals, the log."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from db_support import ADMIN, REVIEWER, SCIENTIST, SIGNING_KEY, add_dataset, row_counts

from audits.roles import Actor, PermissionDenied, Role
from audits.store import ReportRecord, Store
from audits.store.reports import (
    MSG_BAD_SIGNATURE,
    MSG_BAD_STATUS,
    MSG_BODY_HASH,
    MSG_COMMENT_REQUIRED,
    MSG_FROZEN,
    MSG_NOT_AUTHOR,
    MSG_RUN_NOT_COMPLETED,
    MSG_UNKNOWN_REPORT,
    MSG_UNKNOWN_RUN,
)
from audits.store.signing import manifest_sha256, public_key_hex, sign_manifest

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
OTHER_SCIENTIST = Actor("dina", Role.DATA_SCIENTIST)
BODY = {"title": "Audit of adult", "metrics": [{"group": "Female", "fpr": 0.125}]}
KEY = SIGNING_KEY  # the stores' own key: any other is refused once one is pinned
GENERATED = "2026-11-26T03:00:00+00:00"


@pytest.fixture(autouse=True)
def _approvers(store: Store) -> None:
    """The approvers are users of the store: the engine refuses a name it does not hold."""
    for actor in (CASEY, ADMIN, Actor("olga", Role.COMPLIANCE_OFFICER)):
        store.add_user(Actor.system(), actor.username, actor.role)


def _sha(body: dict[str, Any]) -> str:
    # An oracle independent of canonical_json: the same rules spelt out with json.dumps.
    text_ = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text_.encode()).hexdigest()


def _run(store: Store, *, by: Actor = SCIENTIST, completed: bool = True) -> int:
    run = store.create_audit_run(by, dataset_id=add_dataset(store), model_id=None, config={})
    if completed:
        store.finish_audit_run(by, run.id, results={"rows": 10})
    return run.id


def _draft(store: Store, run_id: int, by: Actor = SCIENTIST) -> ReportRecord:
    return store.create_report(by, run_id, body=BODY, body_sha256=_sha(BODY),
                               generated_at=GENERATED)


def _manifest(report: ReportRecord, approver: Actor, **changes: Any) -> dict[str, Any]:
    manifest = {"report_id": report.id, "audit_run_id": report.audit_run_id,
                "body_sha256": report.body_sha256, "results_sha256": "0" * 64,
                "log_head": {"id": 1, "hash": "f" * 64}, "approved_by": approver.username,
                "approved_at": datetime.now(UTC).isoformat()}
    return {**manifest, **changes}


def _approve(store: Store, report: ReportRecord, approver: Actor = CASEY,
             **changes: Any) -> ReportRecord:
    manifest = _manifest(report, approver, **changes)
    return store.approve_report(approver, report.id, manifest=manifest,
                                signature=sign_manifest(manifest, KEY),
                                public_key=public_key_hex(KEY), note="looks right")


def _submitted(store: Store, **kwargs: Any) -> ReportRecord:
    report = _draft(store, _run(store, **kwargs))
    return store.submit_report(SCIENTIST, report.id)


def test_draft_submit_approve_round_trip_logs_every_transition(store: Store) -> None:
    run_id = _run(store)
    draft = _draft(store, run_id)
    assert (draft.status, draft.version, draft.body, draft.generated_at) == (
        "draft", 1, BODY, GENERATED)
    assert draft.manifest is None and draft.signature is None and draft.public_key is None
    submitted = store.submit_report(SCIENTIST, draft.id)
    assert submitted.status == "submitted" and submitted.submitted_at is not None
    manifest = _manifest(submitted, CASEY)
    signature = sign_manifest(manifest, KEY)
    approved = store.approve_report(CASEY, draft.id, manifest=manifest, signature=signature,
                                    public_key=public_key_hex(KEY), note="fine")
    assert approved.status == "approved" and approved.approved
    assert (approved.decided_by, approved.comment, approved.manifest) == ("casey", "fine",
                                                                         manifest)
    assert approved.decided_at == datetime.fromisoformat(manifest["approved_at"])
    assert (approved.signature, approved.public_key) == (signature, public_key_hex(KEY))
    assert store.get_report(draft.id) == approved
    entries = [e for e in store.log_entries(newest_first=False) if e.entity == "report"]
    assert [(e.action, e.actor, e.payload["status"], e.payload["previous_status"])
            for e in entries] == [("create_report", "dana", "draft", None),
                                  ("submit_report", "dana", "submitted", "draft"),
                                  ("approve_report", "casey", "approved", "submitted")]
    assert all(e.payload["body_sha256"] == _sha(BODY) for e in entries)
    assert entries[-1].payload["manifest_sha256"] == manifest_sha256(manifest)
    assert entries[-1].payload["manifest_sha256"] == _sha(manifest)
    assert store.verify_log().ok


def test_versions_count_per_audit_run_and_list_filters(store: Store) -> None:
    first, second = _run(store), _run(store)
    a, b, c = _draft(store, first), _draft(store, first), _draft(store, second)
    assert [r.version for r in (a, b, c)] == [1, 2, 1]
    assert [r.id for r in store.list_reports()] == [a.id, b.id, c.id]
    assert [r.id for r in store.list_reports(first)] == [a.id, b.id]
    assert store.list_reports(999) == [] and store.get_report(999) is None


def test_approver_who_ran_the_audit_is_refused_even_as_admin(store: Store) -> None:
    run_id = _run(store, by=ADMIN)
    report = _draft(store, run_id, by=SCIENTIST)
    store.submit_report(SCIENTIST, report.id)
    before = row_counts(store)
    with pytest.raises(PermissionDenied, match="the person who ran an audit cannot approve "
                                               "it: root_admin ran audit run"):
        _approve(store, report, ADMIN)
    assert row_counts(store) == before
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]


def test_approver_who_drafted_the_report_is_refused(store: Store) -> None:
    report = _draft(store, _run(store), by=ADMIN)
    store.submit_report(ADMIN, report.id)
    with pytest.raises(PermissionDenied, match="the person who ran an audit cannot approve "
                                               "it: root_admin drafted this report"):
        _approve(store, report, ADMIN)
    assert _approve(store, report, CASEY).status == "approved"


@pytest.mark.parametrize("actor", [SCIENTIST, REVIEWER, Actor("pat", Role.PANEL_LEAD)])
def test_only_compliance_and_admin_approve_or_return(store: Store, actor: Actor) -> None:
    report = _submitted(store)
    with pytest.raises(PermissionDenied, match="may not approve a report"):
        _approve(store, report, actor)
    with pytest.raises(PermissionDenied, match="may not approve a report"):
        store.return_report(actor, report.id, comment="no")


@pytest.mark.parametrize("actor", [CASEY, REVIEWER])
def test_only_scientists_and_admins_draft(store: Store, actor: Actor) -> None:
    with pytest.raises(PermissionDenied, match="may not draft a report"):
        _draft(store, _run(store), by=actor)


def test_only_the_author_or_an_admin_submits(store: Store) -> None:
    report = _draft(store, _run(store))
    with pytest.raises(PermissionDenied) as info:
        store.submit_report(OTHER_SCIENTIST, report.id)
    assert str(info.value) == MSG_NOT_AUTHOR.format(actor="dina", id=report.id, author="dana")
    assert store.submit_report(ADMIN, report.id).status == "submitted"


def test_return_needs_a_comment_and_the_author_can_resubmit(store: Store) -> None:
    report = _submitted(store)
    for empty in ("", "   "):
        with pytest.raises(ValueError, match=re.escape(MSG_COMMENT_REQUIRED)):
            store.return_report(CASEY, report.id, comment=empty)
    returned = store.return_report(CASEY, report.id, comment="  cite the data card  ")
    assert (returned.status, returned.comment, returned.decided_by) == (
        "returned", "cite the data card", "casey")
    entry = store.log_entries()[0]
    assert (entry.action, entry.payload["comment"], entry.payload["previous_status"]) == (
        "return_report", "cite the data card", "submitted")
    with pytest.raises(ValueError, match=re.escape(MSG_BAD_STATUS.format(
            id=report.id, status="returned", action="approval", needed="submitted"))):
        _approve(store, report)
    assert store.submit_report(SCIENTIST, report.id).status == "submitted"
    assert _approve(store, report).status == "approved"


def test_an_approved_report_is_frozen(store: Store) -> None:
    report = _approve(store, _submitted(store))
    frozen = re.escape(MSG_FROZEN.format(id=report.id))
    before = row_counts(store), store.get_report(report.id)
    with pytest.raises(ValueError, match=frozen):
        store.submit_report(SCIENTIST, report.id)
    with pytest.raises(ValueError, match=frozen):
        store.return_report(CASEY, report.id, comment="actually no")
    with pytest.raises(ValueError, match=frozen):
        _approve(store, report, Actor("olga", Role.COMPLIANCE_OFFICER))
    assert (row_counts(store), store.get_report(report.id)) == before


def test_draft_cannot_be_approved_or_returned_and_submitted_not_resubmitted(
        store: Store) -> None:
    report = _draft(store, _run(store))
    with pytest.raises(ValueError, match="is draft; approval needs a report that is submitted"):
        _approve(store, report)
    with pytest.raises(ValueError, match="is draft; returning needs"):
        store.return_report(CASEY, report.id, comment="x")
    store.submit_report(SCIENTIST, report.id)
    with pytest.raises(ValueError, match="is submitted; submitting needs a report that is "
                                         "draft or returned"):
        store.submit_report(SCIENTIST, report.id)


@pytest.mark.parametrize(("change", "field"), [
    ({"report_id": 99}, "report_id"), ({"audit_run_id": 99}, "audit_run_id"),
    ({"body_sha256": "e" * 64}, "body_sha256"), ({"approved_by": "someone"}, "approved_by"),
])
def test_a_manifest_that_does_not_describe_the_report_is_refused(
        store: Store, change: dict[str, Any], field: str) -> None:
    report = _submitted(store)
    before = row_counts(store)
    with pytest.raises(ValueError, match=rf"manifest\['{field}'\] must be"):
        _approve(store, report, **change)
    assert row_counts(store) == before


def test_a_bad_signature_is_refused_and_nothing_is_stored(store: Store) -> None:
    report = _submitted(store)
    manifest = _manifest(report, CASEY)
    signature = sign_manifest(manifest, KEY)
    other = public_key_hex(Ed25519PrivateKey.generate())
    before = row_counts(store), store.log_head()
    with pytest.raises(ValueError, match=MSG_BAD_SIGNATURE):
        store.approve_report(CASEY, report.id, manifest=manifest, signature=signature,
                             public_key=other)
    with pytest.raises(ValueError, match=MSG_BAD_SIGNATURE):
        store.approve_report(CASEY, report.id, manifest={**manifest, "x": 1},
                             signature=signature, public_key=public_key_hex(KEY))
    with pytest.raises(ValueError, match="signature must be 128 hexadecimal characters"):
        store.approve_report(CASEY, report.id, manifest=manifest, signature="zz",
                             public_key=public_key_hex(KEY))
    assert (row_counts(store), store.log_head()) == before


def test_draft_input_is_checked_before_anything_is_written(store: Store) -> None:
    run_id, unfinished = _run(store), _run(store, completed=False)
    before = row_counts(store)
    with pytest.raises(ValueError, match=re.escape(MSG_BODY_HASH.format(
            given="a" * 64, actual=_sha(BODY)))):
        store.create_report(SCIENTIST, run_id, body=BODY, body_sha256="a" * 64,
                            generated_at=GENERATED)
    with pytest.raises(ValueError, match="generated_at must be an ISO-8601 timestamp"):
        store.create_report(SCIENTIST, run_id, body=BODY, body_sha256=_sha(BODY),
                            generated_at="yesterday")
    with pytest.raises(ValueError, match="body must be a dict"):
        store.create_report(SCIENTIST, run_id, body=[1], body_sha256=_sha(BODY),  # type: ignore[arg-type]
                            generated_at=GENERATED)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_RUN.format(id=999)):
        _draft(store, 999)
    with pytest.raises(ValueError, match=re.escape(MSG_RUN_NOT_COMPLETED.format(
            id=unfinished, status="created"))):
        _draft(store, unfinished)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_REPORT.format(id=999)):
        store.submit_report(SCIENTIST, 999)
    assert row_counts(store) == before


def test_a_refusal_inside_the_transaction_rolls_back_row_and_log(store: Store) -> None:
    report = _submitted(store)
    before = row_counts(store), store.log_head()
    manifest = _manifest(report, CASEY, approved_at="2026-11-26T03:00:00")  # naive
    with pytest.raises(ValueError, match="ISO-8601"):
        store.approve_report(CASEY, report.id, manifest=manifest,
                             signature=sign_manifest(manifest, KEY),
                             public_key=public_key_hex(KEY))
    assert (row_counts(store), store.log_head()) == before
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]
