"""Review queue: which decisions were sent to people, why, and what a reviewer will see.

Reads a stored queue (:meth:`~audits.store.Store.list_cases`) and its flag policy. A
case's snapshot is shown as a reviewer sees it: a gold case's known answer (the
snapshot's ``"hidden"`` entry) is never displayed; every snapshot goes through
:func:`app.queue_tables.reviewer_snapshot` first.

The page also holds the reviewers' instructions for the audit's system (what is decided,
what each label means): a panel lead or admin edits them here
(:meth:`~audits.store.Store.set_review_instructions`, which refuses anyone else and logs
the change); others read them.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import (
    auth,
    case_display,
    charts,
    explain_tables,
    loaders,
    queue_charts,
    queue_tables,
    review_desk,
    review_tables,
    run_picker,
    state,
)
from app.formatting import count, plain, short_hash, when
from audits.flagging.reasons import FULL_REASON_ROLES
from audits.roles import PERMISSIONS, Actor, PermissionDenied
from audits.store import AuditRunRecord, CaseRecord, Store
from audits.store.review_desk import ReviewInstructions

PAGE = "app_pages/review_queue.py"
KEY_RUN = "review_queue.run_id"
MSG_NO_QUEUE = ("No review queue has been built yet: `fairpanel queue build` (or the demo) "
                "stores one after a fairness audit.")
#: Subject groups drawn one by one in the reason x group chart; the rest are pooled.
TOP_GROUPS = 15
AREA = "review_queue"
MSG_NO_SYSTEM = ("This audit's data set is not a registered system, so its reviewers see "
                 "the general instructions.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Review queue")
    st.caption("The decisions sent to people for review, the reasons they were flagged, "
               "and each case as its reviewer will see it (frozen when it was queued).")
    run = _choose_run(store)
    if run is None:
        st.info(MSG_NO_QUEUE)
        return
    policy = store.get_flag_policy(run.id) or {}
    cases = store.list_cases(run.id)
    batches = {None: queue_tables.INITIAL_BATCH,
               **{b.id: b.label for b in store.list_batches(run.id)}}
    _headline(policy, cases)
    _instructions(store, user.actor, run)
    _charts(cases, batches)
    _reasons(policy)
    _cases(cases, batches)


def _choose_run(store: Store) -> AuditRunRecord | None:
    runs = [r for r in (store.get_audit_run(i) for i in reversed(store.queued_audit_runs()))
            if r is not None]
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    sizes = {r.id: len(store.list_cases(r.id)) for r in runs}
    names = run_picker.dataset_labels(store)
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox("Audit with a review queue", list(by_id), key=KEY_RUN,
                          format_func=lambda i: f"#{i} · "
                          f"{names.get(by_id[i].dataset_id, by_id[i].dataset_id)} · "
                          f"{sizes[i]} cases")
    return by_id[chosen]


def _headline(policy: dict[str, Any], cases: list[CaseRecord]) -> None:
    covered, wanted = queue_tables.reasons_covered(policy, cases)
    budget = (policy.get("policy") or {}).get("budget")
    tiles = [("Cases queued", count(len(cases))),
             ("Budget per queue", count(budget)),
             ("Reasons covered", f"{covered} of {wanted}"),
             ("Subject groups", count(len({c.subject_group for c in cases})))]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    gold = (policy.get("gold_source") or "-")
    st.caption(f"Budget: cases selected per queue (the audit's first queue and each "
               f"batch's). Gold cases carry a known answer ({plain(gold)}) to measure reviewer "
               "accuracy; reviewers are not told which cases are gold.")


def _instructions(store: Store, actor: Actor, run: AuditRunRecord) -> None:
    system = store.system_of(run.dataset_id)
    current = None if system is None else store.review_instructions(system.name)
    title = "Reviewer instructions" + ("" if current is None or current.written
                                       else " (general text: none written yet)")
    kept = state.take_flash(AREA)
    with st.expander(title, icon=":material/menu_book:", expanded=kept is not None):
        if kept is not None:
            st.success(kept[1])
        if system is None or current is None:
            st.info(MSG_NO_SYSTEM)
            return
        if actor.role not in PERMISSIONS["manage the panel"]:
            st.html(review_desk.instructions_html(current,
                                                  review_tables.decision_options(None)))
            st.caption("Written by a panel lead; shown at the top of every case of "
                       f"{plain(system.name)} on My reviews and Adjudication.")
            return
        _instructions_form(store, actor, system.name, current)


def _instructions_form(store: Store, actor: Actor, system: str,
                       current: ReviewInstructions) -> None:
    # Keyed by the stored version: after a save the fields start from what was stored.
    stamp = "default" if current.updated_at is None else str(current.updated_at.timestamp())
    key = f"review_queue.instructions.{system}.{stamp}"
    st.caption(f"What reviewers of {plain(system)} decide and what each label means, shown "
               "at the top of every case on My reviews and Adjudication. "
               + (f"Last written by {plain(current.updated_by)}, {when(current.updated_at)}."
                  if current.written else "Until you save, reviewers see the text below."))
    with st.form(key, border=False):
        question = st.text_area("What is being decided", value=current.question,
                                key=f"{key}.question", max_chars=1000, height=90)
        positive = st.text_area("What the positive label (1) means",
                                value=current.positive_meaning, key=f"{key}.positive",
                                max_chars=1000, height=70)
        negative = st.text_area("What the negative label (0) means",
                                value=current.negative_meaning, key=f"{key}.negative",
                                max_chars=1000, height=70)
        notes = st.text_area("Notes (optional)", value=current.notes, key=f"{key}.notes",
                             max_chars=4000, height=90)
        save = st.form_submit_button("Save instructions", type="primary",
                                     key="review_queue.instructions.save")
    if not save:
        return
    try:
        store.set_review_instructions(actor, system, question=question,
                                      positive_meaning=positive, negative_meaning=negative,
                                      notes=notes)
    except (PermissionDenied, ValueError, TypeError, LookupError) as error:
        st.error(f"Not saved: {plain(error)}.")
        return
    state.flash(AREA, "success", f"Instructions for {plain(system)} saved: reviewers see "
                                 "them on their next case.")
    st.rerun()


def _charts(cases: list[CaseRecord], batches: dict[int | None, str]) -> None:
    st.subheader("Cases by reason and subject group")
    counts = queue_tables.reason_group_counts(cases, top=TOP_GROUPS)
    st.caption("Each case counted once, under its primary reason (its highest-priority "
               f"flag). The {TOP_GROUPS} subject groups with most cases are shown one by one; "
               "the rest are pooled as 'other'.")
    st.plotly_chart(queue_charts.reason_group_figure(counts), key="review_queue.by_reason")
    left, right = st.columns(2, gap="large")
    left.plotly_chart(queue_charts.count_bar_figure(
        queue_tables.age_table(cases), category="age", value="cases",
        title="Time since queued"), key="review_queue.by_age")
    right.plotly_chart(queue_charts.count_bar_figure(
        queue_tables.queue_batch_table(cases, batches), category="batch", value="cases",
        title="Cases per batch", colour="#6a51a3"), key="review_queue.by_batch")


def _reasons(policy: dict[str, Any]) -> None:
    st.subheader("Flagged and selected, per reason")
    st.caption("Flagged: decisions a reason applied to. Selected: cases queued for it within "
               "the budget, by the policy's quota (random controls and gold cases are drawn, "
               "not flagged).")
    st.dataframe(queue_tables.reason_table(policy), hide_index=True, width="stretch",
                 key="review_queue.reasons")


def _cases(cases: list[CaseRecord], batches: dict[int | None, str]) -> None:
    st.subheader("Cases")
    st.dataframe(queue_tables.case_table(cases, batches), hide_index=True, width="stretch",
                 key="review_queue.cases", height=320,
                 column_config={"score": st.column_config.NumberColumn(format="%.3f")})
    if not cases:
        return
    st.subheader("Case detail")
    by_id = {c.id: c for c in cases}
    state.keep_choice("review_queue.case", list(by_id), cases[0].id)
    chosen = st.selectbox("Case (by rank)", list(by_id), key="review_queue.case",
                          format_func=lambda i: queue_tables.case_label(by_id[i], batches))
    _case_detail(by_id[chosen], batches)


def _case_detail(case: CaseRecord, batches: dict[int | None, str]) -> None:
    snapshot = queue_tables.reviewer_snapshot(case.snapshot)
    decision = snapshot.get("decision") or {}
    score, threshold = snapshot.get("score"), snapshot.get("threshold")
    versus = "" if score is None or threshold is None else (
        f" ({float(score) - float(threshold):+.3f} from the threshold {float(threshold):g})")
    with st.container(border=True):
        a, b, c = st.columns([2, 2, 3])
        a.markdown(f"**Decision**  \n{plain(decision.get('label', decision.get('value', '-')))}")
        b.markdown("**Score**  \n" + ("-" if score is None else f"{float(score):.3f}")
                   + versus)
        c.markdown(f"**Subject group**  \n{plain(case.subject_group)}")
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.markdown("**Features**")
        features = queue_tables.feature_table(snapshot)
        st.dataframe(features, hide_index=True, width="stretch",
                     height=min(38 + 35 * len(features), 720), key="review_queue.case.features",
                     column_config={"value": st.column_config.TextColumn(width="large")})
    with right:
        _explanation(snapshot)
    st.markdown("**Why this case was queued**")
    role = auth.require_page(PAGE).role
    for line in case_display.reason_lines(case.reasons, role):
        st.text(f"• {line}")
    if role not in FULL_REASON_ROLES:
        st.caption("Shown without the decision, outcome or known answer: you may "
                   "adjudicate this case.")
    provenance = snapshot.get("provenance") or {}
    st.caption(f"Queued {when(case.created_at)} by {plain(case.created_by)} · "
               f"{plain(batches.get(case.batch_id, '-'))} · status {case.status} · snapshot "
               f"sha256 `{short_hash(case.snapshot_sha256)}` · "
               f"{plain(provenance.get('decisions', ''))}")


def _explanation(snapshot: dict[str, Any]) -> None:
    explanation = snapshot.get("explanation") or {}
    st.markdown("**Explanation**")
    if not explanation.get("available"):
        st.info(plain(explanation.get("note") or "No explanation stored for this case."))
        return
    st.info(plain(explanation.get("reason", "")), icon=":material/chat:")
    scale = explain_tables.SCALE_LABELS.get(str(explanation.get("output_scale")), "log-odds")
    st.plotly_chart(charts.case_waterfall_figure(
        explain_tables.case_waterfall(explanation), float(explanation["base_value"]),
        float(explanation["output"]), scale=scale), key="review_queue.case.waterfall")


render()
