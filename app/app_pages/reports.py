"""Reports: draft an audit's report, submit it, approve or return it, export and verify it.

Data scientists (and admins) draft a report of a completed fairness audit with
:func:`audits.reports.stored.draft_report` and submit their own draft; compliance officers
(and admins) approve it, which signs its manifest, or return it with a comment. The
engine refuses everything else, including the person who ran the audit or drafted the
report approving it: the page shows its message. Anyone who opens the page reads the
reports, downloads them (HTML, PDF, JSON through :func:`audits.reports.stored.export_report`)
and checks a report file with :func:`audits.reports.stored.verify_report_file`. Panel leads
read only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from app import auth, loaders, report_tables, run_picker, state
from app.formatting import plain
from app.state import SignedInUser
from audits.reports import stored as report_runs
from audits.reports.compare import what_changed
from audits.roles import PERMISSIONS, Actor, PermissionDenied, Role, require_role
from audits.store import AuditRunRecord, ReportRecord, Store

PAGE = "app_pages/reports.py"
AREA = "reports"
#: Messages about a returned report's system, shown by its form.
AREA_SYSTEM = "reports.system"
#: Session key (and widget key) of the report on display.
KEY_REPORT = "reports.report_id"
#: Session key of the report to select on the next run (after a write on this page).
KEY_RESELECT = "reports.reselect"
FORMATS = {"html": ("HTML", "text/html"), "pdf": ("PDF", "application/pdf"),
           "json": ("JSON", "application/json")}
REPORT_HEIGHT = 900
MSG_NO_REPORTS = "No report has been drafted yet; a data scientist drafts one on this page."
MSG_NO_RUNS = "No completed fairness audit to report on: run one on the Fairness audit page."
MSG_READ_ONLY = "Read-only: data scientists draft reports and compliance officers approve them."
MSG_DRAFTED = "Report #{id} drafted from audit run #{run}. Submit it when it reads right."
MSG_FAILED = "Not done: {error}"


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Reports")
    st.caption("An audit's report from draft to sign-off: a data scientist drafts and "
               "submits it, a compliance officer who neither ran the audit nor drafted the "
               "report approves it (its manifest is then signed) or returns it with a comment.")
    _flash()
    runs = store.list_audit_runs()
    datasets = run_picker.dataset_labels(store)
    if user.role in PERMISSIONS["draft a report"]:
        _draft_section(store, user, runs, datasets)
    elif user.role not in PERMISSIONS["approve a report"]:
        st.info(MSG_READ_ONLY, icon=":material/visibility:")
    reports = store.list_reports()
    st.header("Stored reports", divider="gray")
    if not reports:
        st.info(MSG_NO_REPORTS)
    else:
        by_run = {r.id: datasets.get(r.dataset_id, "") for r in runs}
        st.dataframe(report_tables.reports_table(reports, by_run), hide_index=True,
                     width="stretch", key="reports.table")
        by_id = {r.id: r for r in sorted(reports, key=lambda r: r.id, reverse=True)}
        if state.recall(KEY_RESELECT) is not None:
            state.preselect(KEY_REPORT, state.recall(KEY_RESELECT))
            state.forget(KEY_RESELECT)
        state.keep_choice(KEY_REPORT, list(by_id), next(iter(by_id)))
        chosen = st.selectbox("Report", list(by_id), key=KEY_REPORT,
                              format_func=lambda i: report_tables.report_label(by_id[i]))
        _report(store, user, by_id[chosen])
    _verify_section(store)
    _compare_section(user, runs, datasets)


def _flash() -> None:
    kept = state.take_flash(AREA)
    if kept is not None:
        kind, message = kept
        (st.success if kind == "success" else st.error)(message)


# -- drafting ---------------------------------------------------------------------------


def _draft_section(store: Store, user: SignedInUser, runs: list[AuditRunRecord],
                   datasets: dict[int, str]) -> None:
    st.header("Draft a report", divider="gray")
    done = report_tables.fairness_runs(runs)
    if not done:
        st.info(MSG_NO_RUNS)
        return
    by_id = {r.id: r for r in done}
    with st.form("reports.draft"):
        chosen = st.selectbox("Completed fairness audit", list(by_id), key="reports.draft.run",
                              format_func=lambda i: report_tables.run_label(by_id[i], datasets))
        submitted = st.form_submit_button("Draft report", type="primary",
                                          icon=":material/edit_document:",
                                          key="reports.draft.submit")
    if not submitted:
        return
    bar = st.progress(0.0, text="Drafting the report")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    try:
        report = report_runs.draft_report(store, user.actor, int(chosen), progress=progress)
    except (PermissionDenied, ValueError, LookupError) as error:
        bar.empty()
        st.error(MSG_FAILED.format(error=plain(error)))
        return
    state.preselect(KEY_REPORT, report.id)
    state.flash(AREA, "success", MSG_DRAFTED.format(id=report.id, run=chosen))
    st.rerun()


# -- one report -------------------------------------------------------------------------


def _report(store: Store, user: SignedInUser, report: ReportRecord) -> None:
    banner = report_tables.status_banner(report)
    show: Callable[..., Any] = getattr(st, banner.kind)
    show(f"**{banner.title}.** {banner.text}", icon=_ICONS[report.status])
    _actions(store, user, report)
    if report.status == "returned":
        _fix_system(store, user, report)
    _downloads(store, report)
    version = (report.status, report.body_sha256, report.signature or "")
    html = loaders.report_html(loaders.database_url(), report.id, version)
    # The exported HTML itself (offline: inline CSS, charts as data URIs, every value
    # escaped by the renderer), in a frame so its styles stay out of the dashboard's.
    st.iframe(html, height=REPORT_HEIGHT)
    st.caption(f"Report #{report.id} of audit run #{report.audit_run_id} · generated "
               f"{report.generated_at} · body sha256 `{report.body_sha256}`.")


_ICONS = {"draft": ":material/edit_note:", "submitted": ":material/pending:",
          "approved": ":material/verified:", "returned": ":material/undo:"}


def _downloads(store: Store, report: ReportRecord) -> None:
    columns = st.columns(len(FORMATS) + 2)
    for column, (fmt, (label, mime)) in zip(columns, FORMATS.items(), strict=False):
        column.download_button(
            f"Download {label}", _exporter(store, report.id, fmt),
            file_name=f"fairpanel-report-{report.id}-{report.status}.{fmt}", mime=mime,
            key=f"reports.download.{fmt}", icon=":material/download:", on_click="ignore")


def _exporter(store: Store, report_id: int, fmt: str) -> Callable[[], bytes]:
    # Called when the button is clicked, on another thread: nothing is built until then.
    def export() -> bytes:
        return report_runs.export_report(store, report_id, fmt)

    return export


def _actions(store: Store, user: SignedInUser, report: ReportRecord) -> None:
    actor = user.actor
    may_submit = report_tables.can_submit(report, user.username, admin=user.role is Role.ADMIN)
    if may_submit and st.button("Submit for approval", type="primary", icon=":material/send:",
                                key="reports.submit"):
        _act(lambda: report_runs.submit(store, actor, report.id),
             f"Report #{report.id} submitted for approval.", report.id)
    if report.status != "submitted":
        return
    denied = _denied(actor, "approve a report")
    if denied:
        st.caption(f"Approval: {plain(denied)}")
        return
    _decision_form(store, user, report)


def _decision_form(store: Store, user: SignedInUser, report: ReportRecord) -> None:
    actor, how = user.actor, user.authentication
    with st.form(f"reports.decide.{report.id}"):
        st.markdown("**Decision**")
        note = st.text_input("Approval note (optional)", key=f"reports.decide.note.{report.id}")
        comment = st.text_area("Comment for returning (required to return)",
                               key=f"reports.decide.comment.{report.id}",
                               placeholder="What must change before this can be approved?")
        left, right = st.columns(2)
        approve = left.form_submit_button("Approve and sign", type="primary",
                                          icon=":material/verified:", key="reports.approve")
        send_back = right.form_submit_button("Return to the author", icon=":material/undo:",
                                             key="reports.return")
    if approve:
        _act(lambda: report_runs.approve(store, actor, report.id, note=note.strip(),
                                         authentication=how),
             f"Report #{report.id} approved and signed.", report.id)
    elif send_back:
        _act(lambda: report_runs.return_report(store, actor, report.id, comment.strip(),
                                               authentication=how),
             f"Report #{report.id} returned to its author.", report.id)


def _act(action: Callable[[], Any], message: str, report_id: int, *,
         area: str = AREA) -> None:
    """Run a workflow step: on success keep ``message`` and rerun, else show the engine's.

    The selector is set to the report again before the rerun: the browser keeps a
    selectbox's choice as its label ("... · Submitted"), which no longer names an option
    once the status changed, so without this the page could show the old label or fall
    back to another report.
    """
    try:
        action()
    except (PermissionDenied, ValueError, LookupError) as error:
        st.error(MSG_FAILED.format(error=plain(error)))
        return
    state.remember(KEY_RESELECT, report_id)  # the widget is drawn: set it on the rerun
    state.flash(area, "success", message)
    st.rerun()


def _fix_system(store: Store, user: SignedInUser, report: ReportRecord) -> None:
    """Let the author act on a return: edit the system's intended use and description."""
    if user.role not in PERMISSIONS["register a dataset"]:
        return
    run = store.get_audit_run(report.audit_run_id)
    system = store.system_of(run.dataset_id) if run is not None else None
    if system is None:
        return
    with st.expander(f"Edit what system {system.name} is for (intended use, description)",
                     icon=":material/edit:", expanded=True):
        kept = state.take_flash(AREA_SYSTEM)
        if kept is not None:  # shown here, where the author is, not at the page's top
            st.success(kept[1], icon=":material/check:")
        st.caption("Fix what the comment asks for, then draft the report again from the same "
                   "audit and submit it: a new draft carries the new text. The change is "
                   "logged with the old and the new text.")
        with st.form(f"reports.system.{report.id}", border=False):
            intended = st.text_area("Intended use", value=system.intended_use,
                                    key=f"reports.system.intended_use.{report.id}",
                                    placeholder="Who uses the decisions, for what, and what "
                                                "they must not be used for")
            description = st.text_area("Description", value=system.description,
                                       key=f"reports.system.description.{report.id}")
            saved = st.form_submit_button("Save the system's description",
                                          icon=":material/save:",
                                          key=f"reports.system.save.{report.id}")
    if saved:
        _act(lambda: store.describe_system(user.actor, system.name, intended_use=intended,
                                           description=description),
             f"System {system.name}: intended use and description saved. Draft the report "
             "again to carry them.", report.id, area=AREA_SYSTEM)


def _denied(actor: Actor, action: str) -> str | None:
    """Return the engine's refusal of ``action`` for ``actor``, or None when allowed."""
    try:
        require_role(actor, action)
    except PermissionDenied as error:
        return str(error)
    return None


# -- verifying a file and comparing runs ------------------------------------------------


def _verify_section(store: Store) -> None:
    st.header("Verify a report file", divider="gray")
    st.caption("Checks a downloaded report (HTML, PDF or JSON) against its signature and "
               "against the numbers stored behind it.")
    upload = st.file_uploader("Report file", type=list(FORMATS), key="reports.verify.file")
    if upload is None:
        return
    suffix = Path(upload.name).suffix or ".bin"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"uploaded{suffix}"
        path.write_bytes(upload.getvalue())
        try:
            result = report_runs.verify_report_file(store, path)
        except (ValueError, LookupError) as error:
            st.error(f"Could not verify {plain(upload.name)}: {plain(error)}")
            return
    if result.ok:
        st.success(f"**{plain(upload.name)} verified**: every check passed.",
                   icon=":material/verified:")
    else:
        st.error(f"**{plain(upload.name)} is NOT verified**: see the failed checks.",
                 icon=":material/gpp_bad:")
    st.dataframe(report_tables.checks_table(result.checks), hide_index=True,
                 width="stretch", key="reports.verify.checks",
                 column_config={"check": st.column_config.TextColumn(width="medium"),
                                "result": st.column_config.TextColumn(width="small"),
                                "detail": st.column_config.TextColumn(width="large")})


def _compare_section(user: SignedInUser, runs: list[AuditRunRecord],
                     datasets: dict[int, str]) -> None:
    done = report_tables.fairness_runs(runs)
    with st.expander("Compare two audit runs", icon=":material/compare_arrows:"):
        if len(done) < 2:
            st.info("Two completed fairness audits are needed for a comparison.")
            return
        by_id = {r.id: r for r in done}
        left, right = st.columns(2)
        first = left.selectbox("Earlier run", list(by_id), index=1, key="reports.compare.a",
                               format_func=lambda i: report_tables.run_label(by_id[i], datasets))
        second = right.selectbox("Later run", list(by_id), index=0, key="reports.compare.b",
                                 format_func=lambda i: report_tables.run_label(by_id[i],
                                                                                datasets))
        if first == second:
            st.info("Choose two different runs.")
            return
        try:
            table = loaders.run_comparison(loaders.database_url(), user.actor, first, second)
        except (PermissionDenied, ValueError, LookupError) as error:
            st.error(f"Cannot compare: {plain(error)}")
            return
        sentences = what_changed(table)
        for sentence in sentences or ["Nothing changed."]:
            st.text(f"• {sentence}")  # sentences name groups: data, so plain text
        numbers = {c: st.column_config.NumberColumn(format="%.3f") for c in table.columns
                   if c.startswith(("a_", "b_", "delta")) and not c.endswith("verdict")}
        st.dataframe(table, hide_index=True, width="stretch", key="reports.compare.table",
                     column_config=numbers)


render()
