"""Adjudication: the cases the panel disagreed on, every rating, and the final label.

Reads :meth:`~audits.store.Store.disputed_cases` (panel leads and admins: "read every
rating") and records the final label with a required reason through
:meth:`~audits.store.Store.adjudicate`, which closes the case. A case's snapshot is drawn
through :mod:`app.case_display` and :mod:`app.review_desk`, which never draw its
``"hidden"`` entry (a gold case's known answer).

As on My reviews, the case header names the system, the panel lead's instructions sit
above the case, features read with their card's names and units, the reviewers who
answered "cannot tell" are listed with their reasons, and after a final label the next
disputed case's header is scrolled to the top of the viewport.
"""

from __future__ import annotations

import streamlit as st

from app import (
    auth,
    case_display,
    conversation_display,
    loaders,
    review_desk,
    review_tables,
    run_picker,
    state,
)
from app.formatting import plain
from audits.roles import Actor, PermissionDenied
from audits.store import AuditRunRecord, CaseReview, Store

PAGE = "app_pages/adjudication.py"
AREA = "adjudication"
KEY_RUN, KEY_CASE = "adjudication.run_id", "adjudication.case_id"
#: The container of the final-label form (styled like the reviewer's).
DESK = "adjudication.desk"
#: Set after a final label is stored: the next run scrolls to the next case.
KEY_SCROLL = "adjudication.scroll_to_case"
MSG_NO_QUEUE = ("No review queue has been built yet: `fairpanel queue build` (or the demo) "
                "stores one after a fairness audit.")
MSG_NONE = ("No disputed cases in this audit: every case the panel finished was settled by "
            "a clear majority.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Adjudication")
    st.caption("Cases whose reviewers disagreed too much for a majority to settle them. "
               "Read every rating and its rationale, then record the final label and why.")
    review_desk.phone_layout(DESK)
    kept = state.take_flash(AREA)
    run = _choose_run(store)
    if run is None:
        st.info(MSG_NO_QUEUE)
        return
    disputed = store.disputed_cases(user.actor, audit_run_id=run.id)
    st.metric("Disputed cases waiting", f"{len(disputed):,}", border=True)
    if not disputed:
        if kept is not None:
            st.success(kept[1])
        st.success(MSG_NONE)
        return
    by_id = {c.case_id: c for c in disputed}
    state.keep_choice(KEY_CASE, list(by_id), disputed[0].case_id)
    chosen = st.selectbox("Disputed case", list(by_id), key=KEY_CASE,
                          format_func=lambda i: _case_label(by_id[i]))
    _case(store, user.actor, by_id[chosen], None if kept is None else kept[1])


def _choose_run(store: Store) -> AuditRunRecord | None:
    runs = [r for r in (store.get_audit_run(i) for i in reversed(store.queued_audit_runs()))
            if r is not None]
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    names = run_picker.dataset_labels(store)
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox("Audit with a review queue", list(by_id), key=KEY_RUN,
                          format_func=lambda i: f"#{i} · "
                          f"{names.get(by_id[i].dataset_id, by_id[i].dataset_id)}")
    return by_id[chosen]


def _case_label(case: CaseReview) -> str:
    labels = sorted(int(r["label"]) for r in case.ratings)
    unsure = f", {len(case.cannot_tell)} cannot tell" if case.cannot_tell else ""
    return (f"Case {case.case_id} · {len(case.ratings)} ratings "
            f"({labels.count(1)} positive, {labels.count(0)} negative{unsure})")


def _case(store: Store, actor: Actor, case: CaseReview, done: str | None) -> None:
    snapshot = case.snapshot
    chat = conversation_display.is_conversation(snapshot)
    options = dict(conversation_display.ACCEPTABLE) if chat else \
        review_tables.decision_options(review_tables.outcome_word(snapshot))
    review_desk.case_header(case.case_id, case.system_name)
    if st.session_state.pop(KEY_SCROLL, False):
        review_desk.scroll_to(str(case.case_id))
    if done is not None:  # under the header the page scrolls to, so it is in view
        st.success(done)
    if chat:  # the chat, the judge's verdict and why it was queued
        left, right = st.columns([3, 2], gap="large")
        with left:
            conversation_display.show_chat(snapshot)
        with right:
            conversation_display.show_judge(snapshot)
            st.markdown("**Why this conversation was queued**")
            case_display.show_reasons(snapshot.get("reasons") or [], actor.role)
    else:
        _decision(actor, case, options)
    st.subheader("Ratings")
    share = "-" if case.disagreement is None else f"{case.disagreement:.0%}"
    st.caption(f"Disagreement: {share} of the ratings differ from the most common decision. "
               "'Model's suggestion' says whether the reviewer saw the model's decision "
               "(hidden at random for some reviewers, as part of the study design).")
    st.dataframe(review_tables.ratings_table(case.ratings, options), hide_index=True,
                 width="stretch", key="adjudication.ratings",
                 column_config={"confidence": st.column_config.NumberColumn(width="small"),
                                "version": st.column_config.NumberColumn(width="small")})
    if case.cannot_tell:
        st.markdown(f"**Cannot tell** ({len(case.cannot_tell)} reviewer(s); no label, so "
                    "not in the disagreement above)")
        st.dataframe(review_tables.cannot_tell_table(case.cannot_tell), hide_index=True,
                     width="stretch", key="adjudication.cannot_tell")
    _form(store, actor, case, options)


def _decision(actor: Actor, case: CaseReview, options: dict[int, str]) -> None:
    """A decision's case: instructions, the model's decision, features, explanation."""
    snapshot = case.snapshot
    review_desk.show_instructions(case.instructions, options)
    case_display.show_decision(snapshot)
    left, right = st.columns([2, 3], gap="large")
    labels = review_desk.feature_labels(snapshot, case.card_columns, case.system_name)
    with left:
        st.markdown("**Features**")
        review_desk.show_features(snapshot, labels)
    with right:
        st.markdown("**Explanation**")
        case_display.show_explanation(snapshot, key="adjudication.waterfall", labels=labels)
        st.markdown("**Why this case was queued**")
        case_display.show_reasons(snapshot.get("reasons") or [], actor.role)


def _form(store: Store, actor: Actor, case: CaseReview, options: dict[int, str]) -> None:
    key = f"adjudication.form.{case.case_id}"
    with st.container(key=DESK), st.form(key):
        st.markdown("**Final decision**")
        label = st.radio("Final label", list(options),
                         format_func=lambda v: plain(options[v]),
                         index=None, horizontal=True, key=f"{key}.label")
        reason = st.text_area("Reason (required)", key=f"{key}.reason",
                              placeholder="Which ratings convinced you, and why?")
        submitted = st.form_submit_button("Record final label and close the case",
                                          type="primary", key=f"{key}.submit")
    if not submitted:
        return
    if label is None:
        st.error("Choose the final label.")
        return
    try:
        store.adjudicate(actor, case.case_id, label=int(label), reason=reason)
    except (ValueError, LookupError, PermissionDenied) as error:
        st.error(f"Not recorded: {plain(error)}.")
        return
    state.flash(AREA, "success", f"Case {case.case_id} closed with the final label "
                                 f"{plain(options[int(label)])}.")
    review_desk.mark_instructions_read(case.system_name)
    st.session_state[KEY_SCROLL] = True
    st.rerun()


render()
