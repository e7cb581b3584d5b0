"""Findings: each role's first question answered on the first page after sign-in.

- compliance officers: which verdicts fail (with the simultaneous intervals the verdicts
  read), and where each report stands (submitted, approved, returned);
- panel leads: how far the review queues are, the disputes awaiting adjudication, and
  the reviewers flagged as harsher or more lenient than the panel;
- data scientists: the worst disparities of the latest audit;
- admins: all of it.

Everything is read from the store through the engine
(:func:`audits.fairness.findings.ranked_disparities`,
:func:`audits.raters.flagged.flagged_reviewers`, the store's progress and reports); no
chart is drawn here, so the page shows quickly. Reviewers land on "My reviews".
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, fairness_tables, findings, loaders, run_picker
from app.formatting import count, plain, when
from app.state import SignedInUser
from audits.roles import PERMISSIONS, Role
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/home.py"
FAIRNESS_PAGE = "app_pages/fairness.py"
REPORTS_PAGE = "app_pages/reports.py"
ADJUDICATION_PAGE = "app_pages/adjudication.py"
BIAS_PAGE = "app_pages/reviewer_bias.py"
QUEUE_PAGE = "app_pages/review_queue.py"
MSG_NO_AUDIT = ("No fairness audit is stored yet: a data scientist runs one on the Fairness "
                "audit page (or run `fairpanel demo`).")
MSG_NO_QUEUE = "No review queue yet: a data scientist builds one on the Review queue page."
#: Report statuses in the order a compliance officer acts on them, with their labels.
REPORT_STATUSES = {"submitted": "Awaiting decision", "returned": "Returned",
                   "approved": "Approved", "draft": "Drafts"}
_QUESTIONS = {
    Role.COMPLIANCE_OFFICER: "Which verdicts fail, and where each report stands.",
    Role.PANEL_LEAD: "How far the reviews are, what awaits adjudication, and who is flagged.",
    Role.DATA_SCIENTIST: "The worst disparities of the latest audit.",
    Role.ADMIN: "Failing verdicts, the reviews and the reports, at a glance.",
}


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Findings")
    st.caption(_QUESTIONS.get(user.role, ""))
    runs = store.list_audit_runs()
    latest = findings.latest_fairness_runs(store, runs)
    if user.role in {Role.DATA_SCIENTIST, Role.ADMIN}:
        _worst(store, latest)
    if user.role is Role.COMPLIANCE_OFFICER:
        _failing(store, latest)
    if user.role in {Role.PANEL_LEAD, Role.ADMIN}:
        _panel(store, user)
    if user.role in {Role.COMPLIANCE_OFFICER, Role.ADMIN}:
        _reports(store, runs)


# -- verdicts ---------------------------------------------------------------------------


def _worst(store: Store, latest: list[AuditRunRecord]) -> None:
    st.header("Latest audit: worst disparities", divider="gray")
    if not latest:
        st.info(MSG_NO_AUDIT)
        return
    run = latest[0]
    results = run.results or {}
    _run_line(store, run)
    table = fairness_tables.worst_disparities(results, n=findings.N_WORST)
    findings.show_disparities(table, key="home.worst",
                              interval="simultaneous interval the verdict reads")
    st.caption(f"The {len(table)} most severe judged disparities: fails first, then by how "
               "far from parity the interval assures the ratio is, then by the estimate. "
               "Ratio with the simultaneous interval the verdict reads; MDD: the smallest "
               "difference this group's size detects with 80% power.")
    st.page_link(FAIRNESS_PAGE, label="Every group, chart and threshold on Fairness audit",
                 icon=":material/balance:")


def _failing(store: Store, latest: list[AuditRunRecord]) -> None:
    st.header("Verdicts that fail", divider="gray")
    if not latest:
        st.info(MSG_NO_AUDIT)
        return
    for run in latest:
        results = run.results or {}
        verdicts = fairness_tables.verdict_counts(results)
        _run_line(store, run)
        if not verdicts["fail"]:
            st.success(f"No verdict fails: {verdicts['insufficient_evidence']} insufficient "
                       f"evidence, {verdicts['pass']} pass.", icon=":material/check_circle:")
            continue
        table = fairness_tables.worst_disparities(results, n=verdicts["fail"],
                                                  verdicts=["fail"])
        findings.show_disparities(table, key=f"home.failing.{run.id}",
                                  interval="simultaneous interval the verdict reads")
    st.caption("The latest audit of each system and model. A verdict fails when the whole "
               "simultaneous interval of the ratio (shown) lies outside the rule: a fair "
               "system fails anywhere at most 5% of the time.")
    st.page_link(FAIRNESS_PAGE, label="The evidence on Fairness audit", icon=":material/balance:")


def _run_line(store: Store, run: AuditRunRecord) -> None:
    names = run_picker.dataset_labels(store)
    results = run.results or {}
    verdicts = fairness_tables.verdict_counts(results)
    model = f"model #{run.model_id}" if run.model_id is not None else "logged decisions"
    st.markdown(f"**{plain(names.get(run.dataset_id, run.dataset_id))}** · {model} · run "
                f"#{run.id}, {when(run.created_at)} · rule {plain(run.config.get('rule', '-'))}"
                f"  \n" + fairness_tables.verdict_badges(verdicts))


# -- the panel --------------------------------------------------------------------------


def _panel(store: Store, user: SignedInUser) -> None:
    st.header("Reviews", divider="gray")
    queued = list(reversed(store.queued_audit_runs()))
    progress = {i: store.panel_progress(user.actor, i) for i in queued}
    active = [i for i in queued if sum(v for k, v in progress[i].items()
                                       if k.startswith("cases_"))]
    if not active:
        st.info(MSG_NO_QUEUE)
        return
    names = run_picker.dataset_labels(store)
    for run_id in active:
        _queue(store, user, run_id, progress[run_id], names)
    st.page_link(QUEUE_PAGE, label="Every case on Review queue", icon=":material/checklist:")


def _queue(store: Store, user: SignedInUser, run_id: int, progress: dict[str, int],
           names: dict[int, str]) -> None:
    run = store.get_audit_run(run_id)
    label = names.get(run.dataset_id, run.dataset_id) if run is not None else run_id
    cases = sum(v for k, v in progress.items() if k.startswith("cases_"))
    closed, disputed = progress["cases_closed"], progress["cases_disputed"]
    answered = progress["assignments_rated"] + progress.get("assignments_cannot_tell", 0)
    assigned = answered + progress["assignments_open"]
    st.subheader(f"Queue of run #{run_id} · {label}")
    a, b, c, d = st.columns(4)
    a.metric("Cases closed", f"{count(closed)} of {count(cases)}", border=True)
    b.metric("Ratings done", f"{count(answered)} of {count(assigned)}", border=True)
    c.metric("Awaiting adjudication", count(disputed), border=True)
    flagged = (findings.flagged_reviewers(user.actor, run_id,
                                          tuple(v for _, v in sorted(progress.items())))
               if answered else None)
    d.metric("Flagged reviewers", "-" if flagged is None else
             f"{flagged.n_flagged} of {flagged.n_reviewers}", border=True)
    st.progress(closed / cases if cases else 0.0,
                text=f"{closed / cases:.0%} of the cases closed" if cases else "no cases")
    if disputed and user.role in PERMISSIONS["adjudicate"]:
        st.page_link(ADJUDICATION_PAGE, label=f"Adjudicate {disputed} disputed cases",
                     icon=":material/gavel:")
    if flagged is not None and flagged.flagged is not None and flagged.n_flagged:
        st.markdown("**Flagged reviewers** (severity in log-odds: positive is harsher than "
                    "the panel; Holm-adjusted over the panel)")
        st.dataframe(_severity_rows(flagged.flagged), hide_index=True, width="stretch",
                     key=f"home.flagged.{run_id}")
        st.page_link(BIAS_PAGE, label="Why, on Reviewer bias", icon=":material/person_search:")


def _severity_rows(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "reviewer": table["reviewer"], "cases shared": table["n"],
        "severity [95% interval]": [f"{s:+.2f} [{lo:+.2f}, {hi:+.2f}]" for s, lo, hi in
                                    zip(table["severity"], table["ci_low"], table["ci_high"],
                                        strict=True)],
        "leaning": ["harsher" if s > 0 else "more lenient" for s in table["severity"]],
        "adjusted p": [f"{p:.2g}" for p in table["p_adjusted"]]})


# -- reports ----------------------------------------------------------------------------


def _reports(store: Store, audit_runs: list[AuditRunRecord]) -> None:
    st.header("Reports", divider="gray")
    reports = findings.report_status(store)
    if not reports:
        st.info(findings.MSG_NO_REPORTS)
        return
    tally = {s: sum(r.status == s for r in reports) for s in REPORT_STATUSES}
    for column, (status, label) in zip(st.columns(len(REPORT_STATUSES)),
                                       REPORT_STATUSES.items(), strict=True):
        column.metric(label, count(tally[status]), border=True)
    names = run_picker.dataset_labels(store)
    runs = {r.id: r for r in audit_runs}
    rows = [{"report": f"#{r.id} v{r.version}",
             "audit": _audit_label(runs.get(r.audit_run_id), names, r.audit_run_id),
             "status": REPORT_STATUSES.get(r.status, r.status),
             "since": when(r.decided_at or r.submitted_at or r.created_at),
             "by": r.decided_by or r.created_by, "comment": r.comment or ""}
            for r in sorted(reports, key=lambda r: list(REPORT_STATUSES).index(r.status)
                            if r.status in REPORT_STATUSES else len(REPORT_STATUSES))]
    st.dataframe(rows, hide_index=True, width="stretch", key="home.reports")
    st.page_link(REPORTS_PAGE, label="Read, approve or return on Reports",
                 icon=":material/description:")


def _audit_label(run: AuditRunRecord | None, names: dict[int, str], run_id: int) -> str:
    if run is None:
        return f"run #{run_id}"
    return f"run #{run.id} · {names.get(run.dataset_id, run.dataset_id)}"


render()
