"""Reviewer panel: who reviews, how the panel is composed, and how far the reviews are.

Everyone who opens the page sees aggregates only: the panel's self-reported composition
(:meth:`~audits.store.Store.background_aggregates`, where a value held by fewer than five
reviewers is suppressed) and the review progress of each audit. Panel leads and admins
also manage the panel: the reviewers, their availability (a reviewer marked unavailable
has their open cases reassigned), assigning the queue, and conflicts of interest.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, review_tables, run_picker, state
from app.formatting import plain
from app.panel_qualifications import qualifications_section
from audits.panel.assignment import PanelConfig
from audits.panel.stored import assign_queue, reassign_reviewer
from audits.roles import PERMISSIONS, Actor, PermissionDenied, Role
from audits.store import AuditRunRecord, ReviewerRecord, Store

PAGE = "app_pages/panel.py"
AREA = "panel"
KEY_RUN = "panel.run_id"
MSG_SMALL_PANEL = (
    "**Why most counts read 'fewer than 5'.** {hidden} of the {n} answers are held by fewer "
    "than five reviewers, so they are suppressed: on a panel of a few dozen people, a count "
    "of 1 to 4 can point at a person. This table only describes the panel; assignment "
    "still spreads every consented background across each case, and Reviewer bias "
    "compares only background groups of five or more."
)
MSG_SMALL_PANEL_LEAD = (
    " What you can do: recruit reviewers so that each background you care about has at "
    "least five people, ask reviewers to report their background (optional, with "
    "consent), or have the schema use fewer, broader answers (e.g. age bands)."
)
MSG_NO_QUEUE = ("No review queue has been built yet: `fairpanel queue build` (or the demo) "
                "stores one after a fairness audit.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    actor = user.actor
    manages = actor.role in PERMISSIONS["manage the panel"]
    st.title("Reviewer panel")
    st.caption("The people who review flagged decisions, and how far their reviews are."
               + (" You manage the panel: reviewers, availability, assignment and conflicts "
                  "of interest." if manages else " You see aggregates only: no reviewer is "
                  "named and small groups are not shown."))
    kept = state.take_flash(AREA)
    if kept is not None:
        (st.success if kept[0] == "success" else st.error)(kept[1])
    runs = _runs(store)
    # Drawn last, into these slots, so a write made below (assigning the queue, adding a
    # reviewer) shows in the progress and composition of the same run.
    top = st.container()
    if manages and runs:
        _manage(store, actor, runs)
    with top:
        _progress(store, actor, runs)
        _composition(store, actor, manages)


def _manage(store: Store, actor: Actor, runs: list[AuditRunRecord]) -> None:
    run = _choose_run(store, runs)
    _add_reviewer(store, actor)
    reviewers = store.list_reviewers(actor)
    _reviewers(store, actor, run, reviewers)
    _assign(store, actor, run)
    _exclusion(store, actor, run, reviewers)
    qualifications_section(store, actor, reviewers, AREA)


def _runs(store: Store) -> list[AuditRunRecord]:
    return [r for r in (store.get_audit_run(i) for i in reversed(store.queued_audit_runs()))
            if r is not None]


def _run_label(store: Store, runs: list[AuditRunRecord]) -> dict[int, str]:
    names = run_picker.dataset_labels(store)
    return {r.id: f"#{r.id} · {names.get(r.dataset_id, r.dataset_id)}" for r in runs}


def _progress(store: Store, actor: Actor, runs: list[AuditRunRecord]) -> None:
    st.subheader("Review progress")
    if not runs:
        st.info(MSG_NO_QUEUE)
        return
    labels = _run_label(store, runs)
    for run in runs:
        progress = store.panel_progress(actor, run.id)
        counts = review_tables.progress_counts(progress)
        total = sum(n for _, n in counts)
        closed = int(progress.get("cases_closed", 0))
        rated, still = progress.get("assignments_rated", 0), progress.get("assignments_open", 0)
        status = (f"{rated:,} ratings in, {still:,} still open" if rated + still
                  else "not assigned to the panel yet")
        st.markdown(f"**Audit {plain(labels[run.id])}** · {total:,} cases · {status}")
        st.progress(closed / total if total else 0.0, text=f"{closed:,} of {total:,} closed")
        for column, (label, n) in zip(st.columns(len(counts)), counts, strict=True):
            column.metric(label, f"{n:,}", border=True)


def _composition(store: Store, actor: Actor, manages: bool) -> None:
    st.subheader("Panel composition")
    st.caption("Self-reported, optional and consented backgrounds, counted per answer. A "
               f"count below five is shown as '{review_tables.SUPPRESSED}' so no one can be "
               "singled out; 'not disclosed' counts reviewers who gave no answer.")
    aggregates = store.background_aggregates(actor)
    table = review_tables.aggregate_table(aggregates)
    hidden = int((table["reviewers"] == review_tables.SUPPRESSED).sum())
    if hidden * 2 >= len(table):
        st.info(MSG_SMALL_PANEL.format(hidden=hidden, n=len(table))
                + (MSG_SMALL_PANEL_LEAD if manages else ""), icon=":material/info:")
    attributes = list(dict.fromkeys(table["attribute"]))
    for row in range(0, len(attributes), 3):
        for column, name in zip(st.columns(3), attributes[row:row + 3], strict=False):
            part = table[table["attribute"] == name][["value", "reviewers"]]
            column.markdown(f"**{plain(name.replace('_', ' ').capitalize())}**")
            column.dataframe(part, hide_index=True, width="stretch",
                             key=f"panel.composition.{name}",
                             height=38 + 35 * len(part))


def _choose_run(store: Store, runs: list[AuditRunRecord]) -> AuditRunRecord:
    st.divider()
    st.header("Manage the panel")
    labels = _run_label(store, runs)
    by_id = {r.id: r for r in runs}
    state.keep_choice(KEY_RUN, list(by_id), runs[0].id)
    chosen = st.selectbox("Audit whose queue you manage", list(by_id), key=KEY_RUN,
                          format_func=labels.__getitem__)
    return by_id[chosen]


def _add_reviewer(store: Store, actor: Actor) -> None:
    st.subheader("Put a reviewer on the panel")
    on_panel = {r.username for r in store.list_reviewers(actor)}
    candidates = {u.username: u for u in store.list_users()
                  if u.role is Role.REVIEWER and u.active and u.username not in on_panel
                  and not u.imported}
    if not candidates:
        st.caption("Every active user with the reviewer role is on the panel. An admin adds "
                   "reviewer accounts on the Users page.")
        return
    st.caption(f"{len(candidates):,} active reviewer account(s) are not on the panel yet. "
               "Once on it, they get cases the next time the queue is assigned.")
    with st.form("panel.add_reviewer"):
        a, b, c = st.columns([2, 2, 1])
        username = a.selectbox("Reviewer account", list(candidates), key="panel.add.username",
                               format_func=lambda u: f"{candidates[u].display_name} ({u})")
        expertise = b.text_input("Expertise (optional, comma-separated)",
                                 key="panel.add.expertise", placeholder="e.g. lending, law")
        capacity = c.number_input("Capacity (cases)", 1, 10_000, 50, key="panel.add.capacity")
        submitted = st.form_submit_button("Add to the panel", icon=":material/group_add:",
                                          key="panel.add.submit")
    if not submitted or username is None:
        return
    names = [x.strip() for x in expertise.split(",") if x.strip()]
    try:
        store.add_reviewer(actor, str(username), expertise=names, capacity=int(capacity))
    except (ValueError, LookupError, PermissionDenied, TypeError) as error:
        st.error(f"Not added: {plain(error)}.")
        return
    state.flash(AREA, "success", f"{plain(candidates[str(username)].display_name)} is on the "
                "panel; assign the queue to give them cases.")
    st.rerun()


def _reviewers(store: Store, actor: Actor, run: AuditRunRecord,
               reviewers: list[ReviewerRecord]) -> None:
    st.subheader("Reviewers")
    st.caption("Simulated reviewers are part of the demo: their ratings are generated, with "
               "known biases, so the analyses have something to find.")
    st.dataframe(review_tables.reviewer_table(reviewers), hide_index=True, width="stretch",
                 key="panel.reviewers", height=min(38 + 35 * len(reviewers), 640))
    st.markdown("**Availability**")
    st.caption(f"Turning a reviewer off withdraws their unrated cases of audit #{run.id} and "
               "gives them to other reviewers; their ratings stay. You are asked first. "
               "Turning them back on makes them eligible the next time the queue is assigned.")
    open_here = _open_in_run(store, actor, run)
    inactive = {u.username for u in store.list_users() if not u.active}
    columns = st.columns(3)
    for i, reviewer in enumerate(reviewers):
        key = f"panel.available.{reviewer.username}"
        label = plain(reviewer.display_name) + (" (simulated)" if reviewer.simulated else "")
        gone = reviewer.username in inactive
        on = columns[i % 3].toggle(label + (" (deactivated)" if gone else ""),
                                   value=reviewer.available, key=key,
                                   disabled=gone and not reviewer.available)
        if on and not reviewer.available:
            _set_available(store, actor, run, reviewer, True, key)
        elif not on and reviewer.available:
            _confirm_unavailable(store, actor, run, reviewer,
                                 open_here.get(reviewer.id, 0), key)


def _open_in_run(store: Store, actor: Actor, run: AuditRunRecord) -> dict[int, int]:
    """Return reviewer id -> open (unrated) assignments in this audit."""
    counts: dict[int, int] = {}
    for row in store.assignment_table(actor, run.id):
        if row["status"] == "open":
            counts[row["reviewer_id"]] = counts.get(row["reviewer_id"], 0) + 1
    return counts


def _confirm_unavailable(store: Store, actor: Actor, run: AuditRunRecord,
                         reviewer: ReviewerRecord, n_open: int, key: str) -> None:
    name = plain(reviewer.display_name)
    moves = (f"their {n_open:,} open case(s) of audit #{run.id} move to other reviewers"
             if n_open else f"they have no open case in audit #{run.id}, so no case moves")
    st.warning(f"Make {name} unavailable? {moves[0].upper()}{moves[1:]}; their ratings stay.",
               icon=":material/help:")
    yes, no = st.columns(2)
    if yes.button(f"Make {name} unavailable", key=f"{key}.confirm", type="primary"):
        _set_available(store, actor, run, reviewer, False, key)
    if no.button("Cancel", key=f"{key}.cancel"):
        state.forget(key)
        st.rerun()


def _set_available(store: Store, actor: Actor, run: AuditRunRecord, reviewer: ReviewerRecord,
                   on: bool, key: str) -> None:
    try:
        if on:
            store.set_reviewer_available(actor, reviewer.username, True)
            message = f"{plain(reviewer.display_name)} is available again."
        else:
            result = reassign_reviewer(store, actor, run.id, reviewer.username)
            message = (f"{plain(reviewer.display_name)} is unavailable; {len(result.table)} "
                       "assignments went to other reviewers.")
        state.flash(AREA, "success", message)
    except (ValueError, LookupError, PermissionDenied) as error:
        state.flash(AREA, "error", f"Availability not changed: {plain(error)}.")
    state.forget(key)
    st.rerun()


def _assign(store: Store, actor: Actor, run: AuditRunRecord) -> None:
    st.subheader("Assign the queue")
    stored = store.panel_config(run.id)
    config = PanelConfig.from_dict(stored) if stored else PanelConfig()
    st.caption("Gives every case of the audit that lacks reviewers its missing reviewers, "
               "spreading backgrounds and workload. Cases already assigned keep theirs.")
    with st.form("panel.assign"):
        a, b, c = st.columns(3)
        overlap = a.number_input("Reviewers per case", 1, 10, int(config.overlap),
                                 key="panel.assign.overlap")
        hide = b.slider("Share with the model's suggestion hidden", 0.0, 1.0,
                        float(config.hide_model_share), 0.05, key="panel.assign.hide_model")
        seed = c.number_input("Random seed", 0, 2**31 - 1, int(config.random_state),
                              key="panel.assign.seed")
        submitted = st.form_submit_button("Assign the queue", type="primary",
                                          key="panel.assign.submit")
    if not submitted:
        return
    bar = st.progress(0.0, text="Starting")
    try:
        chosen = PanelConfig(overlap=int(overlap), hide_model_share=float(hide),
                             hide_sensitive_share=config.hide_sensitive_share,
                             attributes=config.attributes,
                             workload_weight=config.workload_weight, random_state=int(seed))
        result = assign_queue(store, actor, run.id, config=chosen,
                              progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
    except (ValueError, LookupError, PermissionDenied) as error:
        st.error(f"Not assigned: {plain(error)}.")
        return
    st.success(f"{len(result.table):,} new assignments stored; {len(result.unfilled):,} "
               "cases still lack reviewers (not enough available capacity).")


def _exclusion(store: Store, actor: Actor, run: AuditRunRecord,
               reviewers: list[ReviewerRecord]) -> None:
    st.subheader("Add a conflict of interest")
    st.caption("A reviewer who knows the applicant, or has a stake in the outcome, must "
               "never get that case. Add it before the case is assigned to them.")
    cases = [c.id for c in store.list_cases(run.id)]
    names = {r.username: r.display_name for r in reviewers}
    with st.form("panel.exclusion"):
        a, b = st.columns(2)
        case_id = a.selectbox("Case", cases, key="panel.exclusion.case",
                              format_func=lambda i: f"Case {i}")
        username = b.selectbox("Reviewer", list(names), key="panel.exclusion.reviewer",
                               format_func=lambda u: f"{names[u]} ({u})")
        reason = st.text_input("Reason (required)", key="panel.exclusion.reason")
        submitted = st.form_submit_button("Add the conflict", key="panel.exclusion.submit")
    if not submitted or case_id is None or username is None:
        return
    try:
        store.add_exclusion(actor, int(case_id), str(username), reason=reason)
    except (ValueError, LookupError, PermissionDenied) as error:
        st.error(f"Not added: {plain(error)}.")
        return
    st.success(f"Case {case_id} will never be assigned to {plain(names[str(username)])}.")


render()
