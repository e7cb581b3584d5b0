"""The Reviewer panel page's training and competence section: each reviewer's recorded
training, competence and authority (EU AI Act Art. 26(2)), and a form to record one.

Kept apart from the page so the page stays short; it draws, calls the store, and stores
nothing of its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pandas as pd
import streamlit as st

from app import state
from app.formatting import plain
from audits.roles import Actor, PermissionDenied
from audits.store import ReviewerRecord, Store
from audits.store.qualifications import KINDS

__all__ = ["qualifications_section"]

KEY = "panel.qualify"


def qualifications_section(store: Store, actor: Actor, reviewers: list[ReviewerRecord],
                           area: str) -> None:
    """Draw the recorded qualifications and the form that records one."""
    st.subheader("Training and competence")
    st.caption("Human oversight is assigned to people with the competence, training and "
               "authority it needs (EU AI Act Art. 26(2)): the oversight record names, for "
               "each review, what its reviewer held that day.")
    records = store.qualifications(actor)
    held_now = {q.username for q in records if q.kind != "authority"
                and q.valid_at(datetime.now(UTC))}
    missing = sorted(r.username for r in reviewers if r.username not in held_now)
    if missing:
        st.warning(f"{len(missing)} reviewer(s) hold no current training or competence on "
                   f"record: {', '.join(missing[:12])}" + (" ..." if len(missing) > 12 else ""))
    if records:
        st.dataframe(pd.DataFrame([{
            "reviewer": q.username, "kind": q.kind, "title": q.title,
            "evidence": q.evidence, "completed": q.completed_at.date(),
            "expires": None if q.expires_at is None else q.expires_at.date(),
            "recorded by": q.recorded_by} for q in records]),
            hide_index=True, width="stretch", key=f"{KEY}.table")
    if not reviewers:
        return
    with st.form(KEY):
        a, b, c = st.columns([2, 1, 3])
        # Those without a current training first: they are who the form is for.
        names = missing + sorted(r.username for r in reviewers if r.username not in missing)
        username = a.selectbox("Reviewer", names, key=f"{KEY}.user")
        kind = b.selectbox("Kind", KINDS, key=f"{KEY}.kind")
        title = c.text_input("What it is", key=f"{KEY}.title",
                             placeholder="e.g. Fair lending review course")
        d, e, f = st.columns([1, 1, 3])
        completed = d.date_input("Completed", value=date.today(), key=f"{KEY}.completed")
        expires = e.date_input("Expires (optional)", value=None, key=f"{KEY}.expires")
        evidence = f.text_input("Evidence (optional)", key=f"{KEY}.evidence",
                                placeholder="a certificate number, a course record")
        submitted = st.form_submit_button("Record", key=f"{KEY}.submit")
    if not submitted or username is None:
        return
    try:
        store.record_qualification(
            actor, str(username), kind=str(kind), title=title, evidence=evidence,
            completed_at=_moment(completed), expires_at=None if not isinstance(
                expires, date) else _moment(expires))
    except (ValueError, LookupError, PermissionDenied, TypeError) as error:
        st.error(f"Not recorded: {plain(error)}.")
        return
    state.flash(area, "success", f"{kind} '{plain(title)}' recorded for {username}.")
    st.rerun()


def _moment(day: object) -> datetime:
    value = day if isinstance(day, date) else date.today()
    return datetime.combine(value, time(), tzinfo=UTC)
