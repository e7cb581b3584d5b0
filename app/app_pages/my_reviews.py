"""My reviews: a reviewer's own queue, one case at a time, and the rating form.

Every case is opened through :meth:`~audits.store.Store.open_case`, which checks that it
is assigned to the signed-in reviewer and returns it blinded as the assignment says (the
model's suggestion and the sensitive attributes only when shown; never another
reviewer's rating, never a gold answer). A case asked for by ``?case=ID`` or kept in the
session goes through the same call, so another reviewer's case shows nothing.

The form's idempotency key is made when the form is first drawn for a case and kept
until a submission is stored (:func:`app.state.review_form`), so a double click or a
resubmit stores the rating once; the time spent is counted from that first drawing.

The desk (:mod:`app.review_desk`): the case header names the system; the panel lead's
instructions sit above the case (open the first time a session meets the system);
features read with their card's names and units; besides a rating the reviewer may
answer "cannot tell" (final, with the rationale as its reason) or skip (the case goes to
the end of the queue); one-key shortcuts choose; after any of these the next case's
header is scrolled to the top of the viewport.
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
    state,
)
from app.formatting import plain, when
from audits.roles import Actor, PermissionDenied
from audits.store import CaseView, MyAssignment, Store
from audits.store.reviews import TAGS

PAGE = "app_pages/my_reviews.py"
AREA = "my_reviews"
#: Submits the rating form from anywhere in it.
SHORTCUT = "Ctrl+Enter"
#: The container of the case's form; the shortcuts act inside it.
DESK = "my_reviews.desk"
#: Set by a submission, skip or "cannot tell": the next run scrolls to the new case.
KEY_SCROLL = "my_reviews.scroll_to_case"
SKIP, CANNOT_TELL = "Skip for now", "Cannot tell"
#: The shortcut keys of the desk (the decision's two options, confidence 1 to 5).
KEYS: tuple[review_desk.Shortcut, ...] = (
    ("y", "first decision", ("radio", 0, 0)), ("n", "second decision", ("radio", 0, 1)),
    *((str(i), "" if i > 1 else "1-5 confidence", ("radio", 1, i - 1)) for i in range(1, 6)),
    ("c", "cannot tell", ("button", CANNOT_TELL)), ("s", "skip", ("button", SKIP)))
MSG_NOT_PANEL = ("You are not on the reviewer panel yet, so no cases are assigned to you. "
                 "A panel lead adds reviewers to the panel.")
#: How often an empty queue looks for a new case (seconds).
WATCH_S = 5
MSG_NO_CASES = ("No cases are assigned to you yet. A panel lead assigns cases from the "
                "Reviewer panel page.")
MSG_ALL_DONE = ("You have rated every case assigned to you. Thank you! You can still change "
                "a rating under **Rated cases** while its case is open.")
MSG_NOT_YOURS = ("Case {case} is not assigned to you (or no longer is), so nothing of it is "
                 "shown.")
MSG_BAD_CASE = "{value} is not a case number."
MSG_CHOOSE = "Choose your decision and how confident you are, then submit."
MSG_NOT_SAVED = "Your rating was not saved: {error}."
MSG_SAVED = {"created": "Rating of case {case} saved.",
             "updated": "Your rating of case {case} was updated (version {version}).",
             "duplicate": "Rating of case {case} was already saved; nothing changed."}
MSG_SKIPPED = "Case {case} skipped: it is now at the end of your queue."
MSG_CANNOT_TELL = {"created": "Case {case} recorded as cannot tell.",
                   "duplicate": "Case {case} was already recorded as cannot tell."}
MSG_ANSWERED_CANNOT_TELL = ("You answered **cannot tell** for this case{reason}; that is "
                            "final for your assignment.")
MSG_MODEL_HIDDEN = (
    "**The model's suggestion is hidden for this case**: chosen at random, as part of the "
    "study design.")
MSG_MODEL_SHOWN = ("The model's suggestion is shown for this case (for others it is hidden "
                   "at random, as part of the study design). Decide for yourself.")
MSG_JUDGE_HIDDEN = (
    "**The LLM judge's verdict is hidden for this conversation**: chosen at random, as part "
    "of the study design.")
MSG_JUDGE_SHOWN = ("The LLM judge's verdict is shown for this conversation (for others it is "
                   "hidden at random, as part of the study design). Judge for yourself.")
MSG_CONVERSATION = (
    "Read the conversation, score each question of the rubric, and say whether the bot's "
    "answers are acceptable as they are. If not, write the answer the bot should have given.")
MSG_RUBRIC = "Answer every question of the rubric, then submit."
CONSENT = ("I agree that fairpanel stores these answers to check that the panel is diverse. "
           "They are shown only as counts over groups of at least 5 reviewers, never on "
           "their own, and I can withdraw them at any time.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    actor = user.actor
    st.title("My reviews")
    st.caption("Your own queue of decisions to review, one case at a time. Other reviewers "
               "rate the same cases independently; you never see their ratings.")
    review_desk.phone_layout(DESK, hide_on_phone=["my_reviews.tiles"])
    try:
        assignments = store.my_assignments(actor)
    except PermissionDenied:
        st.info(MSG_NOT_PANEL)
        return
    _progress(assignments)
    view = _current_case(store, actor, assignments)
    if view is not None:
        _case(store, actor, view, assignments)
    else:
        _flash()
    _rated(store, actor, assignments)
    _background(store, actor)


def _flash() -> None:
    # Drawn under the case header, which the page scrolls to after an answer, so the
    # confirmation is in view. Kept until the next submission: a second click that
    # interrupts the run after a stored rating must not lose the confirmation.
    kept = state.take_flash(AREA, keep=True)
    if kept is not None:
        st.success(kept[1], icon=":material/check_circle:")


def _progress(assignments: list[MyAssignment]) -> None:
    rated, assigned = review_tables.assignment_counts(assignments)
    unsure = sum(1 for a in assignments if a.cannot_tell)
    left = assigned - rated - unsure
    also = f" · {unsure} cannot tell" if unsure else ""
    st.progress((rated + unsure) / assigned if assigned else 0.0,
                text=f"{rated} of {assigned} assigned cases rated{also} · {left} to go")
    tiles = [("Assigned", assigned), ("Rated", rated), ("Still to rate", left)]
    # Hidden on a phone (the progress line says the same), so the case starts higher.
    with st.container(key="my_reviews.tiles", horizontal=True):
        for label, value in tiles:
            st.metric(label, f"{value:,}", border=True)


@st.fragment(run_every=WATCH_S)
def _watch_for_new_cases(store: Store, actor: Actor) -> None:
    """With nothing to review, look for a new case every few seconds and show it when
    one arrives (a live decision held for a person, or the lead assigning the queue),
    without the reviewer reloading the page."""
    if any(not a.done for a in store.my_assignments(actor)):
        st.rerun()


def _current_case(store: Store, actor: Actor,
                  assignments: list[MyAssignment]) -> CaseView | None:
    asked = state.review_case()
    if asked is None:
        first = next((a for a in assignments if not a.done), None)
        if first is None:
            st.success(MSG_ALL_DONE if assignments else MSG_NO_CASES)
            _watch_for_new_cases(store, actor)
            return None
        case_id = first.case_id
        # Pinned until a submission is stored, so a rerun (a second click while the
        # first is stored) shows the same form, not the next case.
        state.choose_review_case(case_id)
    else:
        try:
            case_id = int(asked)
        except ValueError:
            st.error(MSG_BAD_CASE.format(value=plain(f"?case={asked}")))
            return None
    try:
        return store.open_case(actor, case_id)
    except PermissionDenied:
        st.error(MSG_NOT_YOURS.format(case=case_id))
        if st.button("Go to my next open case", key="my_reviews.next"):
            state.choose_review_case(None)
            st.rerun()
        return None


def _case(store: Store, actor: Actor, view: CaseView, assignments: list[MyAssignment]) -> None:
    mine = next((a for a in assignments if a.case_id == view.case_id), None)
    where = "" if mine is None else f" · number {mine.position} in the audit's queue"
    skipped = "" if mine is None or mine.skipped_at is None else " · skipped before"
    review_desk.case_header(view.case_id, view.system_name)
    if st.session_state.pop(KEY_SCROLL, False):
        pending = state.pending_review_form(view.case_id)
        review_desk.scroll_to(f"{view.case_id}.{'' if pending is None else pending.key[:8]}")
    st.caption(f"Status: {view.case_status.replace('_', ' ')}{where}{skipped}")
    _flash()
    if conversation_display.is_conversation(view.snapshot):
        _conversation(store, actor, view)
        return
    options = review_tables.decision_options(
        _word(store, view, None if mine is None else mine.audit_run_id))
    review_desk.show_instructions(view.instructions, options)
    if view.model_shown:
        st.caption(MSG_MODEL_SHOWN)
    else:
        st.info(MSG_MODEL_HIDDEN, icon=":material/visibility_off:")
    case_display.show_decision(view.snapshot)
    labels = review_desk.feature_labels(view.snapshot, view.card_columns, view.system_name)
    left, right = st.columns([5, 6], gap="large")
    with left:
        review_desk.show_features(view.snapshot, labels)
    with right:
        _form(store, actor, view, options)
        if view.model_shown:
            st.markdown("**Why the model decided this**")
            case_display.show_explanation(view.snapshot, key="my_reviews.waterfall",
                                          labels=labels)


def _conversation(store: Store, actor: Actor, view: CaseView) -> None:
    """A chatbot conversation: the chat, the judge's verdict when shown, the rubric."""
    st.caption(MSG_CONVERSATION)
    if view.model_shown:
        st.caption(MSG_JUDGE_SHOWN)
    else:
        st.info(MSG_JUDGE_HIDDEN, icon=":material/visibility_off:")
    left, right = st.columns([6, 5], gap="large")
    with left:
        conversation_display.show_chat(view.snapshot)
        conversation_display.show_judge(view.snapshot)
    with right:
        _form(store, actor, view, dict(conversation_display.ACCEPTABLE))


def _form(store: Store, actor: Actor, view: CaseView, options: dict[int, str]) -> None:
    mine = view.my_rating
    if view.cannot_tell:
        st.info(MSG_ANSWERED_CANNOT_TELL.format(reason=""), icon=":material/help:")
        return
    # A form drawn before the case closed is still drawn, so its submission (a second
    # click after the first was stored) is answered as a duplicate, not dropped.
    if view.case_status == "closed" and state.pending_review_form(view.case_id) is None:
        st.info("This case is closed: every reviewer has rated it and its final label is set, "
                "so ratings can no longer change.")
        return
    form = state.review_form(view.case_id)
    # Fresh widgets for each drawn form (a new key after a stored submission), the same
    # ones for every rerun of the form as drawn.
    key = f"my_reviews.form.{view.case_id}.{form.key[:8]}"
    with st.container(key=DESK), st.form(key, border=True):
        st.markdown("**Your rating**" if mine is None
                    else f"**Change your rating** (you rated this {when(mine.updated_at)})")
        label = st.radio("Your decision", list(options),
                         format_func=lambda v: plain(options[v]),
                         index=None if mine is None else list(options).index(mine.label),
                         horizontal=True, key=f"{key}.label")
        confidence = st.radio("How confident are you?", list(review_tables.CONFIDENCE),
                              format_func=review_tables.CONFIDENCE.__getitem__,
                              index=None if mine is None else mine.confidence - 1,
                              horizontal=True, key=f"{key}.confidence")
        chat = conversation_display.is_conversation(view.snapshot)
        rubric = corrected = None
        if chat:
            st.markdown("**The rubric**")
            rubric = conversation_display.rubric_inputs(
                view.snapshot, key, None if mine is None else mine.rubric)
            corrected = st.text_area(
                "The answer the bot should have given (optional)", key=f"{key}.corrected",
                value="" if mine is None else mine.corrected_answer or "",
                placeholder="Write the better answer, if the bot's was not acceptable.")
        suggestion = "the judge's verdict" if chat else "the model's decision"
        needed = (f"Required when your decision differs from {suggestion} shown "
                  "above." if view.model_shown else "Optional, but it helps the panel lead.")
        rationale = st.text_area(f"Rationale — {needed}", value="" if mine is None
                                 else mine.rationale, key=f"{key}.rationale",
                                 placeholder="What in the case decided it for you?")
        tags = [] if chat else st.multiselect(
            "Tags (optional)", list(TAGS), key=f"{key}.tags",
            default=[] if mine is None else [t for t in mine.tags if t in TAGS])
        # One label whatever the rating: a rerun of the same drawn form keeps its button.
        submitted = st.form_submit_button("Submit rating", type="primary", shortcut=SHORTCUT,
                                          key=f"{key}.submit", width="stretch")
        unsure_col, skip_col = st.columns(2)
        with unsure_col:
            unsure = st.form_submit_button(
                CANNOT_TELL, key=f"{key}.cannot_tell", width="stretch",
                help="The case does not show enough to decide: final for this case. Say in "
                     "the rationale what is missing (optional).")
        with skip_col:
            skip = st.form_submit_button(SKIP, key=f"{key}.skip", width="stretch",
                                         help="Put the case at the end of your queue.")
        st.caption(review_desk.shortcut_caption(
            [k for k in KEYS if k[1]], f"{SHORTCUT} (⌘+Enter on a Mac)"))
    review_desk.shortcuts(DESK, KEYS)
    system = view.system_name
    if skip:
        _skip(store, actor, form, system)
    elif unsure:
        _cannot_tell(store, actor, form, rationale, system)
    elif submitted:
        _submit(store, actor, form, label, confidence, rationale, tags, system,
                rubric=rubric, corrected=corrected)


def _submit(store: Store, actor: Actor, form: state.ReviewForm, label: int | None,
            confidence: int | None, rationale: str, tags: list[str],
            system: str | None, *, rubric: dict[str, int | None] | None = None,
            corrected: str | None = None) -> None:
    state.forget_flash(AREA)
    if label is None or confidence is None:
        st.error(MSG_CHOOSE)
        return
    if rubric is not None and any(v is None for v in rubric.values()):
        st.error(MSG_RUBRIC)
        return
    try:
        result = store.submit_rating(actor, form.case_id, label=int(label),
                                     confidence=int(confidence), rationale=rationale,
                                     tags=tags, seconds_spent=round(form.seconds_spent(), 1),
                                     idempotency_key=form.key,
                                     rubric=None if rubric is None else {
                                         k: int(v) for k, v in rubric.items() if v is not None},
                                     corrected_answer=None if rubric is None else corrected)
    except (ValueError, PermissionDenied) as error:
        st.error(MSG_NOT_SAVED.format(error=plain(error)))
        return
    _next_case(form, MSG_SAVED[result.outcome].format(case=form.case_id,
                                                      version=result.rating.version),
               system)


def _skip(store: Store, actor: Actor, form: state.ReviewForm, system: str | None) -> None:
    state.forget_flash(AREA)
    try:
        store.skip_case(actor, form.case_id)
    except (ValueError, PermissionDenied) as error:
        st.error(f"Not skipped: {plain(error)}.")
        return
    _next_case(form, MSG_SKIPPED.format(case=form.case_id), system)


def _cannot_tell(store: Store, actor: Actor, form: state.ReviewForm, reason: str,
                 system: str | None) -> None:
    state.forget_flash(AREA)
    try:
        result = store.cannot_tell(actor, form.case_id, reason=reason,
                                   seconds_spent=round(form.seconds_spent(), 1))
    except (ValueError, TypeError, PermissionDenied) as error:
        st.error(f"Not recorded: {plain(error)}.")
        return
    _next_case(form, MSG_CANNOT_TELL[result.outcome].format(case=form.case_id), system)


def _next_case(form: state.ReviewForm, message: str, system: str | None) -> None:
    """After a stored answer or a skip: a fresh form next time, the next case, at the top."""
    review_desk.mark_instructions_read(system)
    state.finish_review_form(form.case_id)
    state.choose_review_case(None)
    state.flash(AREA, "success", message)
    st.session_state[KEY_SCROLL] = True
    st.rerun()


def _word(store: Store, view: CaseView, run_id: int | None) -> str | None:
    """The dataset's word for the positive outcome (the same whether the model is shown)."""
    run = None if run_id is None else store.get_audit_run(run_id)
    dataset = None if run is None else next(
        (d for d in store.list_datasets() if d.id == run.dataset_id), None)
    positive = None if dataset is None else dataset.roles.get("positive_label")
    return review_tables.outcome_word(view.snapshot, None if positive is None else str(positive))


def _rated(store: Store, actor: Actor, assignments: list[MyAssignment]) -> None:
    rated = [a for a in assignments if a.done]
    with st.expander(f"Rated cases ({len(rated)})", icon=":material/history:"):
        if not rated:
            st.caption("Nothing rated yet: your ratings appear here.")
            return
        views = {a.case_id: store.open_case(actor, a.case_id) for a in rated}
        options = review_tables.decision_options(
            _word(store, views[rated[0].case_id], rated[0].audit_run_id))
        st.dataframe(review_tables.my_ratings_table(views.values(), options), hide_index=True,
                     width="stretch", key="my_reviews.rated.table",
                     height=min(38 + 35 * len(views), 320))
        changeable = [i for i, v in views.items()
                      if v.case_status != "closed" and not v.cannot_tell]
        if not changeable:
            st.caption("Every case you rated is closed, so no rating can change.")
            return
        st.caption("You may change a rating until every reviewer has rated the case and it "
                   "is closed.")
        state.keep_choice("my_reviews.rated.case", changeable, changeable[0])
        chosen = st.selectbox("Open a rated case to change your rating", changeable,
                              key="my_reviews.rated.case", format_func=lambda i: f"Case {i}")
        if st.button("Open this case", key="my_reviews.rated.open"):
            state.choose_review_case(chosen)
            st.rerun()


def _background(store: Store, actor: Actor) -> None:
    with st.expander("Your background (optional)", icon=":material/diversity_3:"):
        st.markdown("Telling us about your background helps the panel lead make sure each "
                    "case is rated by people with different backgrounds. Every question is "
                    "optional; answer only what you are comfortable with. Saving replaces "
                    "what you saved before.")
        with st.form("my_reviews.background", border=False):
            answers = {name: st.selectbox(plain(name.replace("_", " ").capitalize()),
                                          [review_tables.NOT_SAID, *values],
                                          key=f"my_reviews.background.{name}")
                       for name, values in store.background_schema().items()}
            consent = st.checkbox(CONSENT, key="my_reviews.background.consent")
            save = st.form_submit_button("Save my answers", key="my_reviews.background.save")
        given = {k: v for k, v in answers.items() if v != review_tables.NOT_SAID}
        if save:
            try:
                store.report_background(actor, actor.username, given, consent=consent)
            except ValueError as error:
                st.error(f"Not saved: {plain(error)}.")
            else:
                st.success(f"Saved {len(given)} answer(s), with your consent.")
        if st.button("Withdraw my answers", key="my_reviews.background.withdraw",
                     help="Deletes every background answer you saved."):
            store.withdraw_background(actor, actor.username)
            st.success("Your background answers are deleted.")


render()
