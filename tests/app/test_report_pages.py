"""The Reports page for every role: draft, submit, approve or return, export and verify.

The page runs in-process with ``streamlit.testing.v1.AppTest`` against a private copy of
the german_credit demo store with one fairness run made by the data scientist persona.
Every step's effect is read back from the store, not only from what the page says; the
pure helpers of :mod:`app.report_tables` are checked by their docstring examples.
"""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator

import app_support
import pandas as pd
import pytest
from app_support import DATA_SCIENTIST, PERSONAS, RunEnv, prepared_store
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app import report_tables
from app.navigation import pages_for
from audits.demo.default import DemoState
from audits.fairness.stored import run_fairness_audit
from audits.reports import stored as report_runs
from audits.reports.compare import compare_runs, what_changed
from audits.reports.report import build_report
from audits.roles import MSG_DENIED, Actor, Role
from audits.store import AuditRunRecord, ReportRecord, Store
from audits.store.reports import MSG_COMMENT_REQUIRED, MSG_SELF_APPROVAL

PAGE = "app_pages/reports.py"
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)
ADMIN = Actor(PERSONAS[Role.ADMIN].username, Role.ADMIN)


def _prepare_run(store: Store, demo: DemoState) -> AuditRunRecord:
    return run_fairness_audit(store, DATA_SCIENTIST, demo.dataset, demo.model,
                              intersections=False, n_boot=50, random_state=11)


@pytest.fixture(scope="module")
def report_env(demo_templates: DemoTemplates,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunEnv]:
    """The german_credit demo and one fairness run by the data scientist persona."""
    with prepared_store(demo_templates, tmp_path_factory, "fairpanel-reports",
                        _prepare_run) as prepared:
        yield prepared


@pytest.fixture
def app_env(report_env: RunEnv, monkeypatch: pytest.MonkeyPatch) -> RunEnv:
    """Point the dashboard at the prepared store for one test."""
    for key, value in report_env.env.items():
        monkeypatch.setenv(key, value)
    return report_env


@pytest.fixture
def store(app_env: RunEnv) -> Iterator[Store]:
    """A store of the test's own on the prepared database."""
    with Store(app_env.url) as opened:
        yield opened


def open_page(role: Role) -> AppTest:
    """Return the dashboard on this page, signed in as the persona of ``role``."""
    return app_support.open_page(PAGE, "Reports", role)


def submitted_report(store: Store, run: AuditRunRecord,
                     author: Actor = DATA_SCIENTIST) -> ReportRecord:
    """Draft and submit a report of ``run`` through the engine."""
    report = report_runs.draft_report(store, author, run.id)
    report_runs.submit(store, author, report.id)
    got = store.get_report(report.id)
    assert got is not None and got.status == "submitted"
    return got


def show(at: AppTest, report_id: int) -> AppTest:
    """Pick ``report_id`` in the page's report picker."""
    at.selectbox(key="reports.report_id").select(report_id).run()
    assert not at.exception, at.exception
    return at


def texts(elements: object) -> list[str]:
    return [e.value for e in elements]  # type: ignore[attr-defined]


def frame(at: AppTest, columns: list[str]) -> pd.DataFrame:
    """Return the first dataframe on the page with all of ``columns``."""
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


# -- the workflow -----------------------------------------------------------------------


def test_data_scientist_drafts_and_submits(app_env: RunEnv, store: Store) -> None:
    at = open_page(Role.DATA_SCIENTIST)
    before = {r.id for r in store.list_reports()}
    run = app_env.stored
    at.selectbox(key="reports.draft.run").select(run.id)
    at.button(key="reports.draft.submit").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    new = [r for r in store.list_reports() if r.id not in before]
    assert len(new) == 1
    report = new[0]
    assert (report.audit_run_id, report.status) == (run.id, "draft")
    assert report.created_by == DATA_SCIENTIST.username
    assert any(f"Report #{report.id} drafted" in s for s in texts(at.success))
    assert at.selectbox(key="reports.report_id").value == report.id
    assert any(i.value.startswith("**Draft.**") for i in at.info)
    listed = frame(at, report_tables.REPORT_COLUMNS)
    assert listed.loc[listed["id"] == report.id, "status"].item() == "Draft"
    at.button(key="reports.submit").click().run()
    assert not at.exception, at.exception
    stored = store.get_report(report.id)
    assert stored is not None and stored.status == "submitted"
    assert any(w.value.startswith("**Submitted.**") for w in at.warning)
    assert "reports.submit" not in button_keys(at)  # submitted once


def test_data_scientist_cannot_approve(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    at = show(open_page(Role.DATA_SCIENTIST), report.id)
    assert not {"reports.approve", "reports.return"} & button_keys(at)
    refusal = MSG_DENIED.format(actor=DATA_SCIENTIST.username, role="data_scientist",
                                action="approve a report",
                                allowed="admin, compliance_officer")
    assert any(refusal in c.value for c in at.caption), texts(at.caption)
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]


def test_compliance_officer_approves(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    at = show(open_page(Role.COMPLIANCE_OFFICER), report.id)
    assert "reports.draft.submit" not in button_keys(at)  # drafting is not theirs
    at.text_input(key=f"reports.decide.note.{report.id}").input("Checked against the run.")
    at.button(key="reports.approve").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    approved = store.get_report(report.id)
    assert approved is not None and approved.status == "approved"
    assert approved.decided_by == COMPLIANCE.username
    assert approved.comment == "Checked against the run."
    entry = next(e for e in store.log_entries() if e.action == "approve_report")
    assert entry.payload["authentication"] == {  # a demo persona, picked on the page
        "authenticated_by": "demo", "via": "dashboard",
        "asserted_user": COMPLIANCE.username, "os_user": None}
    assert approved.manifest is not None and approved.signature
    body_hash = approved.manifest["body_sha256"]
    assert body_hash == approved.body_sha256
    banner = [s.value for s in at.success if s.value.startswith("**Approved.**")]
    assert len(banner) == 1
    assert COMPLIANCE.username in banner[0] and body_hash in banner[0]
    assert {"reports.approve", "reports.return", "reports.submit"}.isdisjoint(button_keys(at))
    downloads = {b.key: b for b in at.get("download_button")}
    assert set(downloads) == {"reports.download.html", "reports.download.pdf",
                              "reports.download.json"}
    assert len(at.get("iframe")) == 1  # the report itself, rendered inline


def test_returning_requires_a_comment(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    at = show(open_page(Role.COMPLIANCE_OFFICER), report.id)
    at.button(key="reports.return").click().run()
    assert not at.exception, at.exception
    assert any("comment is required" in e.value for e in at.error), texts(at.error)
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]
    at.text_area(key=f"reports.decide.comment.{report.id}").input("Add the age slice.")
    at.button(key="reports.return").click().run()
    returned = store.get_report(report.id)
    assert returned is not None and returned.status == "returned"
    assert returned.comment == "Add the age slice." and returned.decided_by == COMPLIANCE.username
    banner = [e.value for e in at.error if e.value.startswith("**Returned.**")]
    assert len(banner) == 1 and "Add the age slice." in banner[0]
    assert MSG_COMMENT_REQUIRED.startswith("a comment is required")  # the engine agrees


def test_admin_who_drafted_cannot_approve(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored, author=ADMIN)
    at = show(open_page(Role.ADMIN), report.id)
    at.button(key="reports.approve").click().run()
    assert not at.exception, at.exception
    refusal = MSG_SELF_APPROVAL.format(actor=ADMIN.username, did="drafted this report",
                                       id=report.id)
    assert any(refusal in e.value for e in at.error), texts(at.error)
    assert store.get_report(report.id).status == "submitted"  # type: ignore[union-attr]


# -- reading, verifying, comparing ------------------------------------------------------


def test_panel_lead_reads_only(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    at = show(open_page(Role.PANEL_LEAD), report.id)
    assert any("Read-only" in i.value for i in at.info)
    keys = button_keys(at)
    assert not {"reports.draft.submit", "reports.submit", "reports.approve",
                "reports.return"} & keys
    assert len(at.get("download_button")) == 3


def test_reviewer_cannot_open_the_page(app_env: RunEnv) -> None:
    assert "Reports" not in [p.title for p in pages_for(Role.REVIEWER)]
    at = app_support.new_app()
    at.run()
    at.button(key=f"sign_in.persona.{PERSONAS[Role.REVIEWER].username}").click().run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


def test_verify_an_approved_report_file(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    report_runs.approve(store, COMPLIANCE, report.id)
    data = report_runs.export_report(store, report.id, "json")
    at = open_page(Role.COMPLIANCE_OFFICER)
    at.file_uploader(key="reports.verify.file").set_value(
        (f"report-{report.id}.json", data, "application/json")).run()
    assert not at.exception, at.exception
    assert any("verified" in s.value and "NOT" not in s.value for s in at.success)
    checks = frame(at, ["check", "result", "detail"])
    assert len(checks) > 0 and set(checks["result"]) == {"PASS"}
    tampered = _tamper(data)
    at.file_uploader(key="reports.verify.file").set_value(
        (f"report-{report.id}.json", tampered, "application/json")).run()
    assert any("NOT verified" in e.value for e in at.error), texts(at.error)
    checks = frame(at, ["check", "result", "detail"])
    assert "FAIL" in set(checks["result"])


def _tamper(data: bytes) -> bytes:
    """Return the JSON report with one number of its body changed."""
    document = json.loads(data)
    body = document.get("body", document)
    body["tampered"] = True
    return json.dumps(document).encode("utf-8")


def test_compare_two_runs(app_env: RunEnv) -> None:
    at = open_page(Role.COMPLIANCE_OFFICER)
    assert not at.exception, at.exception
    table = frame(at, ["metric", "delta", "changed"])
    assert at.selectbox(key="reports.compare.b").value == app_env.stored.id
    earlier = at.selectbox(key="reports.compare.a").value
    with Store(app_env.url) as store:
        expected = compare_runs(store, COMPLIANCE, earlier, app_env.stored.id)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected)
    sentences = what_changed(expected)
    shown = "\n".join(t.value for t in at.text)  # sentences name groups: plain text
    assert sentences and all(s in shown for s in sentences)


def test_report_tables_docstring_examples() -> None:
    result = doctest.testmod(report_tables, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- fresh after writes, and acting on a returned report ---------------------------------


def chosen_label(at: AppTest) -> str:
    box = at.selectbox(key="reports.report_id")
    return box.options[box.index]


def test_the_selector_shows_the_new_status_at_once(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    at = show(open_page(Role.COMPLIANCE_OFFICER), report.id)
    assert "Submitted" in chosen_label(at)
    at.button(key="reports.approve").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.selectbox(key="reports.report_id").value == report.id
    assert "Approved" in chosen_label(at) and "Submitted" not in chosen_label(at)
    listed = frame(at, report_tables.REPORT_COLUMNS)
    assert listed.loc[listed["id"] == report.id, "status"].item() == "Approved"


def test_a_returned_report_lets_the_author_edit_the_intended_use(
        app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    report_runs.return_report(store, COMPLIANCE, report.id, "Add the intended use.")
    system = store.system_of(app_env.stored.dataset_id)
    assert system is not None
    at = show(open_page(Role.DATA_SCIENTIST), report.id)
    assert "Returned" in chosen_label(at)
    key = f"reports.system.intended_use.{report.id}"
    assert at.text_area(key=key).value == system.intended_use
    at.text_area(key=key).input("Pre-screening of consumer credit; never the sole reason "
                                "for a refusal.")
    at.button(key=f"reports.system.save.{report.id}").click().run()
    assert not at.exception, at.exception
    assert [e for e in texts(at.error) if not e.startswith("**Returned.**")] == []
    assert any(f"System {system.name}: intended use and description saved" in s
               for s in texts(at.success))
    saved = store.get_system(system.name)
    assert saved is not None and saved.intended_use.startswith("Pre-screening of consumer")
    assert at.text_area(key=key).value == saved.intended_use  # the form shows what is stored
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor) == ("update_system", DATA_SCIENTIST.username)
    assert entry.payload["changes"]["intended_use"]["new"] == saved.intended_use
    assert at.selectbox(key="reports.report_id").value == report.id
    # The next draft states the edited intended use (the report reads the system's record).
    body = build_report(store, DATA_SCIENTIST, app_env.stored.id).body
    identity = next(s for s in body["sections"] if s["key"] == "identity")
    facts = dict(next(b["rows"] for b in identity["blocks"] if b["type"] == "facts"))
    assert facts["Intended use"] == saved.intended_use


def test_only_those_who_register_systems_see_the_edit(app_env: RunEnv, store: Store) -> None:
    report = submitted_report(store, app_env.stored)
    report_runs.return_report(store, COMPLIANCE, report.id, "Add the intended use.")
    at = show(open_page(Role.COMPLIANCE_OFFICER), report.id)
    assert f"reports.system.save.{report.id}" not in button_keys(at)
