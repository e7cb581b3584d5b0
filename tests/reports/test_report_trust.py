"""What a signed report's verification covers: every visible character in HTML, PDF and
JSON, every sign-off field, the pinned key, the approval's own anchored log entry; and
what it must not break on: ordinary work on the panel after approval."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader, PdfWriter
from sqlalchemy import delete, update

from audits.demo.default import DEMO_PERSONAS, ensure_demo
from audits.fairness.stored import run_fairness_audit
from audits.reports.render import read_embedded_json
from audits.reports.report import body_sha256, build_report
from audits.reports.stored import (
    CHECK_ANCHOR,
    CHECK_BODY,
    CHECK_FROZEN,
    CHECK_KEY,
    CHECK_LOG,
    CHECK_REBUILD,
    CHECK_RENDER,
    CHECK_SIGNATURE,
    approve,
    draft_report,
    export_report,
    submit,
    verify_report_file,
)
from audits.roles import Actor, Role
from audits.store import Store
from audits.store.signing import public_key_hex, sign_manifest
from audits.store.tables import AuditLog, LogHead, ReportRow, ReportSnapshot

if TYPE_CHECKING:
    from demo_support import DemoTemplates

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)
FORMATS = ("html", "pdf", "json")


@dataclass(frozen=True)
class Signed:
    store: Store
    report_id: int
    files: dict[str, Path]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COMPAS store with one approved report and its three exports."""
    home = tmp_path_factory.mktemp("trust-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            state = ensure_demo(store, dataset="compas")
            run = run_fairness_audit(store, SCIENTIST, state.dataset, None, n_boot=100)
            report = submit(store, SCIENTIST, draft_report(store, SCIENTIST, run.id).id)
            approve(store, COMPLIANCE, report.id, note="checked against the card")
            for fmt in FORMATS:
                (home / f"report.{fmt}").write_bytes(export_report(store, report.id, fmt))
            (home / "report_id").write_text(str(report.id))
    return home


@pytest.fixture
def signed(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Signed]:
    """A private copy of the template (store, key and exports)."""
    home = tmp_path / "home"
    shutil.copytree(template, home)
    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
        yield Signed(store, int((home / "report_id").read_text()),
                     {fmt: home / f"report.{fmt}" for fmt in FORMATS})


def _verify(s: Signed, path: Path) -> tuple[bool, dict[str, tuple[bool, str]]]:
    result = verify_report_file(s.store, path)
    return result.ok, {name: (passed, detail) for name, passed, detail in result.checks}


def _write(path: Path, name: str, data: bytes) -> Path:
    out = path.with_name(name)
    out.write_bytes(data)
    return out


def test_every_format_verifies_and_names_the_pinned_key(signed: Signed) -> None:
    pinned = signed.store.pinned_key()
    assert pinned is not None
    for fmt, path in signed.files.items():
        ok, checks = _verify(signed, path)
        assert ok, (fmt, checks)
        assert pinned.fingerprint in checks[CHECK_KEY][1]
        embedded = read_embedded_json(path)["signoff"]
        assert embedded["key_fingerprint"] == pinned.fingerprint
        assert embedded["checkpoint"]["report_id"] == signed.report_id
        assert embedded["manifest"]["note"] == "checked against the card"


def test_editing_one_visible_character_of_the_html_fails(signed: Signed) -> None:
    html = signed.files["html"].read_text(encoding="utf-8")
    visible, script = html.split('<script type="application/json"', 1)
    assert "adjusted p &lt; 0.001" in visible, "the findings quote a strong p-value"
    edited = visible.replace("adjusted p &lt; 0.001", "adjusted p &lt; 0.002", 1)
    path = _write(signed.files["html"], "edited.html",
                  (edited + '<script type="application/json"' + script).encode())
    ok, checks = _verify(signed, path)
    assert not ok and not checks[CHECK_RENDER][0]
    assert checks[CHECK_BODY][0] and checks[CHECK_SIGNATURE][0]  # the JSON is untouched
    assert "the HTML differs from the re-rendered signed report" in checks[CHECK_RENDER][1]
    assert "adjusted p" in checks[CHECK_RENDER][1]


def test_editing_fails_to_passes_in_the_html_fails(signed: Signed) -> None:
    html = signed.files["html"].read_text(encoding="utf-8")
    visible, script = html.split('<script type="application/json"', 1)
    assert ": fails the rule" in visible
    edited = visible.replace(": fails the rule", ": passes the rule", 1)
    path = _write(signed.files["html"], "edited.html",
                  (edited + '<script type="application/json"' + script).encode())
    ok, checks = _verify(signed, path)
    assert not ok and "passes the rule" in checks[CHECK_RENDER][1]


def _swap_two_glyphs(pdf: bytes) -> bytes:
    """Change one visible character of page 1: swap two glyphs of a text string."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    page = writer.pages[0]
    contents = page.get_contents()
    assert contents is not None
    data = contents.get_data()
    for match in re.finditer(rb"\(((?:\x00[^\\()]){4,})\) Tj", data):
        glyphs = match.group(1)
        if glyphs[0:2] != glyphs[2:4]:
            swapped = glyphs[2:4] + glyphs[0:2] + glyphs[4:]
            contents.set_data(data[:match.start(1)] + swapped + data[match.end(1):])
            page.replace_contents(contents)
            out = io.BytesIO()
            writer.write(out)
            return out.getvalue()
    raise AssertionError("no plain text string on page 1")


def test_editing_one_visible_character_of_the_pdf_fails(signed: Signed) -> None:
    original = signed.files["pdf"].read_bytes()
    edited = _swap_two_glyphs(original)
    first = PdfReader(io.BytesIO(original)).pages[0].extract_text()
    assert PdfReader(io.BytesIO(edited)).pages[0].extract_text() != first  # visibly edited
    assert read_embedded_json(edited) == read_embedded_json(original)  # JSON untouched
    ok, checks = _verify(signed, _write(signed.files["pdf"], "edited.pdf", edited))
    assert not ok and not checks[CHECK_RENDER][0]
    assert checks[CHECK_BODY][0] and checks[CHECK_SIGNATURE][0]
    assert "the PDF (page 1) differs from the re-rendered signed report" in checks[
        CHECK_RENDER][1]


def test_editing_one_character_of_the_json_body_fails(signed: Signed) -> None:
    text = signed.files["json"].read_text(encoding="utf-8")
    assert ": fails the rule" in text
    path = _write(signed.files["json"], "edited.json",
                  text.replace(": fails the rule", ": failz the rule", 1).encode())
    ok, checks = _verify(signed, path)
    assert not ok and not checks[CHECK_BODY][0]


@pytest.mark.parametrize(("fmt", "field", "value"), [
    ("json", "approved_by", "demo-admin"), ("json", "note", "all clear"),
    ("json", "approved_at", "2020-01-01T00:00:00+00:00"), ("html", "note", "all clear")])
def test_editing_a_signoff_field_fails(signed: Signed, fmt: str, field: str,
                                       value: str) -> None:
    path = signed.files[fmt]
    text = path.read_text(encoding="utf-8")
    data = read_embedded_json(path)
    data["signoff"][field] = value
    if fmt == "json":
        edited = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    else:  # the embedded JSON and the visible sign-off line, edited consistently
        old = read_embedded_json(path)["signoff"][field]
        label = {"approved_by": "Approved by", "note": "Approval note",
                 "approved_at": "Approved at"}[field]
        edited = text.replace(f"{label}: {old}", f"{label}: {value}", 1)
        assert edited != text
    ok, checks = _verify(signed, _write(path, f"signoff.{fmt}", edited.encode()))
    assert not ok and not checks[CHECK_RENDER][0]
    assert checks[CHECK_SIGNATURE][0]  # the manifest itself was left alone
    assert value in checks[CHECK_RENDER][1]


def test_a_report_resigned_with_another_key_fails(signed: Signed, tmp_path: Path) -> None:
    record = signed.store.get_report(signed.report_id)
    assert record is not None and record.manifest is not None
    other = Ed25519PrivateKey.generate()
    signature = sign_manifest(record.manifest, other)
    with signed.store.engine.begin() as conn:  # the stored row updated to match
        conn.execute(update(ReportRow).where(ReportRow.id == record.id).values(
            signature=signature, public_key=public_key_hex(other)))
    data = read_embedded_json(signed.files["json"])
    data["signoff"].update(signature=signature, public_key=public_key_hex(other))
    path = _write(signed.files["json"], "resigned.json", json.dumps(data).encode())
    ok, checks = _verify(signed, path)
    assert not ok and checks[CHECK_SIGNATURE][0]  # a valid signature, of the wrong key
    assert not checks[CHECK_KEY][0] and "not the deployment's pinned key" in checks[CHECK_KEY][1]
    with pytest.raises(ValueError, match="not the deployment's pinned key"):
        approve(signed.store, COMPLIANCE, _second_submitted(signed), key=other)


def _second_submitted(s: Signed) -> int:
    record = s.store.get_report(s.report_id)
    assert record is not None
    return submit(s.store, SCIENTIST, draft_report(s.store, SCIENTIST,
                                                   record.audit_run_id).id).id


def test_deleting_the_approvals_log_entry_fails_report_and_log_verify(signed: Signed) -> None:
    checkpoint = signed.store.report_checkpoint(signed.report_id)
    assert checkpoint is not None
    entry = signed.store.log_entry_at(checkpoint.entry_id)
    assert entry is not None and entry.action == "approve_report"
    with signed.store.engine.begin() as conn:  # delete it and set the head back one
        conn.execute(delete(AuditLog).where(AuditLog.id >= entry.id))
        conn.execute(update(LogHead).values(last_id=entry.id - 1, last_hash=entry.prev_hash))
    assert signed.store.verify_log().ok  # the bare chain is fooled
    assert signed.store.verify_anchors().status == "truncated"
    ok, checks = _verify(signed, signed.files["html"])
    assert not ok and not checks[CHECK_LOG][0] and not checks[CHECK_ANCHOR][0]


def test_a_forged_approval_fails(signed: Signed) -> None:
    """Approve a second version by hand (its row, a manifest under one's own key): no
    checkpoint under the pinned key vouches for it."""
    report_id = _second_submitted(signed)
    record = signed.store.get_report(report_id)
    first = signed.store.get_report(signed.report_id)
    assert record is not None and first is not None and first.manifest is not None
    manifest = {**first.manifest, "report_id": report_id, "body_sha256": record.body_sha256}
    mallory = Ed25519PrivateKey.generate()
    with signed.store.engine.begin() as conn:
        conn.execute(update(ReportRow).where(ReportRow.id == report_id).values(
            status="approved", decided_by=COMPLIANCE.username, manifest_json=manifest,
            signature=sign_manifest(manifest, mallory), public_key=public_key_hex(mallory)))
    path = _write(signed.files["json"], "forged.json",
                  export_report(signed.store, report_id, "json"))
    ok, checks = _verify(signed, path)
    assert not ok and not checks[CHECK_KEY][0] and not checks[CHECK_ANCHOR][0]
    assert "no signed checkpoint anchors the approval" in checks[CHECK_ANCHOR][1]


def test_work_after_approval_keeps_the_report_verified_and_its_inputs_frozen(
        demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = demo_templates.copy(tmp_path / "home")
    for name, value in copy.env.items():
        monkeypatch.setenv(name, value)
    lead = Actor(PERSONAS[Role.PANEL_LEAD].username, Role.PANEL_LEAD)
    with Store(copy.url) as store:
        run_id = copy.demo.queues.queue.audit_run.id
        report = submit(store, SCIENTIST, draft_report(store, SCIENTIST, run_id).id)
        approve(store, COMPLIANCE, report.id, note="panel checked")
        path = tmp_path / "report.html"
        path.write_bytes(export_report(store, report.id, "html"))

        names = {r.id: r.username for r in store.list_reviewers(lead)}
        open_ = [a for a in store.assignment_table(lead, run_id) if a["status"] == "open"]
        assert len(open_) >= 3, "the demo leaves open cases for its reviewers"
        for a in open_[:3]:  # a reviewer works through three more cases
            store.submit_rating(Actor(names[a["reviewer_id"]], Role.REVIEWER), a["case_id"],
                                label=1, confidence=3, seconds_spent=20.0,
                                rationale="the file supports the other outcome",
                                idempotency_key=f"after-approval-{a['assignment_id']}")
        live = build_report(store, COMPLIANCE, run_id)
        record = store.get_report(report.id)
        assert record is not None and record.manifest is not None
        assert body_sha256(live.body) != record.manifest["body_sha256"]  # the panel moved on
        result = verify_report_file(store, path)
        assert result.ok, result.checks

        with store.engine.begin() as conn:  # now tamper with the frozen inputs
            frozen = store.report_inputs(report.id)
            assert frozen is not None
            snapshot = frozen[0]
            snapshot["calls"] = {k: v for k, v in snapshot["calls"].items()
                                 if "panel_progress" not in k}
            conn.execute(update(ReportSnapshot).where(ReportSnapshot.report_id == report.id)
                         .values(snapshot_json=snapshot))
        result = verify_report_file(store, path)
        assert not result.ok and CHECK_FROZEN in result.failed and CHECK_REBUILD in result.failed
