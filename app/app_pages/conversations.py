"""Conversations: a chatbot across its users, and its LLM judge held to the panel's standard.

The reader picks a conversation system and a user attribute; the engine
(:func:`audits.conversations.findings.conversation_findings`) computes, with a progress
bar, the bot's escalation, resolution and hand-over rates per group and intersection
(intervals, ratios, verdicts), the judge's mean scores per group, the judge against the
panel (agreement with intervals, the alternative annotator test, the judge's offset, the
reviewers' automation bias) and the knowledge gaps. Those who may read every rating
download the reviewed conversations as a fine-tuning or an evaluation set (JSON Lines).
:mod:`app.conversation_tables` only reshapes the findings.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app import auth, conversation_tables, loaders, state
from app.formatting import plain
from audits.conversations.findings import (
    ConversationFindings,
    reviewed_records,
)
from audits.conversations.stored import (
    CONVERSATIONS_ROLE,
    build_conversation_queue,
    is_conversation_version,
    queued_run,
)
from audits.flagging.policy import CONVERSATION_QUOTAS, FlagPolicy
from audits.roles import PERMISSIONS, Actor, PermissionDenied
from audits.store import Store

PAGE = "app_pages/conversations.py"
KEY_SYSTEM = "conversations.system"
KEY_BY = "conversations.by"
MSG_NONE = ("No conversation system is registered yet. Register a chatbot's conversation log "
            "with `fairpanel conversations add NAME LOG.jsonl`; the demo has one "
            "(`helpdesk-chat`).")
MSG_NO_JUDGE = ("The judge is not compared with the panel yet: the panel has rated too few "
                "conversations with the judge's criteria. Build the queue and assign it on "
                "the Reviewer panel page.")
MSG_FAILED = "Not done: {error}"
MSG_NO_QUEUE = ("This system has no review queue yet: a data scientist or an admin builds it "
                "here or with `fairpanel conversations queue NAME`.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Conversations")
    st.caption("A chatbot's conversations audited like decisions: does the bot escalate, "
               "resolve and hand over equally for every group of users, and does its LLM "
               "judge agree with the reviewer panel equally well for each?")
    systems = _systems(store)
    if not systems:
        st.info(MSG_NONE)
        return
    state.keep_choice(KEY_SYSTEM, systems, systems[0])
    left, right = st.columns(2)
    name = left.selectbox("Conversation system", systems, key=KEY_SYSTEM)
    dataset = store.latest_version(name)
    settings = dict(dataset.roles)[CONVERSATIONS_ROLE]
    attributes = [*settings["user_attributes"], *settings["demographics"]]
    if not attributes:
        st.info("This system's conversations carry no user attribute to compare groups of.")
        return
    state.keep_choice(KEY_BY, attributes, attributes[0])
    by = right.selectbox("Compare users by", attributes, key=KEY_BY,
                         help="A user attribute from the log (or a demographic the user "
                              "consented to give).")
    if _run(store, name) is None:
        _build_queue(store, user.actor, name)
    found = _findings(store, user.actor, name, dataset.version, by)
    if found is None:
        return
    st.caption(f"Version {found.version}: {found.conversations:,} conversations; the panel "
               f"has rated {found.rated:,} of them.")
    st.subheader("The bot across its users")
    st.caption("Each rate per group, with its 95% interval, and its ratio to the reference "
               "group with the four-fifths verdict (a ratio outside [0.8, 1.25] with the "
               "whole interval outside fails). Intersections with the other attributes "
               "follow.")
    failing = conversation_tables.failing_rates(found.rates, found.groups)
    if failing:
        # Brackets escaped: an interval next to a parenthesis must not read as a link.
        st.error("**Fails the four-fifths rule**\n\n" + "\n".join(
            f"- {f['rate']}: {plain(f['group'])} users "
            + f["figures"].replace("[", "\\[").replace("]", "\\]")
            + f" {plain(f['reference'])} users ({f['n']} conversations)"
            for f in failing), icon=":material/error:")
    else:
        st.success(f"No rate of the {plain(by)} groups fails the four-fifths rule.",
                   icon=":material/check_circle:")
    st.dataframe(conversation_tables.rates_table(found.rates, by, found.groups),
                 hide_index=True, width="stretch", key="conversations.rates")
    if not found.scores.empty:
        st.subheader("Rubric scores per group")
        st.caption("The LLM judge's mean score over every conversation, and the panel's over "
                   "the conversations it rated (each conversation's mean over its reviewers), "
                   "bootstrapped over conversations.")
        st.dataframe(conversation_tables.scores_table(found.scores), hide_index=True,
                     width="stretch", key="conversations.scores")
    st.subheader("The judge held to the panel's standard")
    if found.judges is None:
        st.info(MSG_NO_JUDGE)
    else:
        _judges(found.judges)
    _gaps(store, user.actor, name, found)


def _systems(store: Store) -> list[str]:
    names = []
    for system in store.list_systems():
        versions = store.system_versions(system.name)
        if versions and is_conversation_version(versions[-1]):
            names.append(system.name)
    return names


def _findings(store: Store, actor: Actor, name: str, version: int | None, by: str
              ) -> ConversationFindings | None:
    dataset = store.latest_version(name)
    run = _run(store, name)
    ratings = {} if run is None else store.panel_progress(actor, run)
    progress = st.progress(0.0, text="Computing the findings")

    def show(fraction: float, message: str) -> None:
        progress.progress(min(1.0, fraction), text=message)

    try:
        found = loaders.conversation_findings(
            loaders.database_url(), actor, name, sha256=dataset.sha256, by=by,
            version=tuple(sorted(ratings.values())) + (int(run or 0),), progress=show)
    except (ValueError, LookupError) as error:
        st.error(MSG_FAILED.format(error=plain(error)))
        return None
    finally:
        progress.empty()
    return found


def _build_queue(store: Store, actor: Actor, name: str) -> None:
    """No queue yet: who may run an audit builds it here (budgeted, stratified)."""
    if actor.role not in PERMISSIONS["run an audit"]:
        st.info(MSG_NO_QUEUE)
        return
    with st.form("conversations.queue", border=True):
        st.markdown("**This system has no review queue yet.** Queue the conversations that "
                    "need a person: low confidence, a request for a person, a policy rule, "
                    "negative sentiment, the judge's fails and a random control, within a "
                    "budget, stratified by user group.")
        budget = st.number_input("Budget (conversations)", min_value=1, max_value=5000,
                                 value=100, step=10, key="conversations.queue.budget")
        built = st.form_submit_button("Build the review queue", type="primary",
                                      key="conversations.queue.submit")
    if not built:
        return
    bar = st.progress(0.0, text="Building the queue")

    def show(fraction: float, message: str) -> None:
        bar.progress(min(1.0, fraction), text=message)

    try:
        queue = build_conversation_queue(
            store, actor, name, policy=FlagPolicy(budget=int(budget),
                                                  quotas=CONVERSATION_QUOTAS), progress=show)
    except (ValueError, LookupError, PermissionDenied) as error:
        st.error(MSG_FAILED.format(error=plain(error)))
        return
    finally:
        bar.empty()
    st.success(f"Queued {len(queue.cases)} conversations (audit run #{queue.audit_run.id}). "
               "Assign them to reviewers on the Reviewer panel page.")


def _run(store: Store, name: str) -> int | None:
    return queued_run(store, store.latest_version(name).id)


def _judges(judges: dict[str, Any]) -> None:
    st.caption(f"Judge(s): {plain(', '.join(judges['judges']))}. Agreement is ordinal "
               "Krippendorff's alpha with bootstrap intervals over conversations.")
    st.markdown("**Agreement per criterion and user group**")
    st.dataframe(conversation_tables.agreement_table(judges), hide_index=True,
                 width="stretch", key="conversations.agreement")
    st.markdown("**Can the judge replace a reviewer?** The alternative annotator test "
                "(Calderon, Reichart and Dror, ACL 2025), per group, Benjamini-Yekutieli "
                "over the reviewers.")
    st.dataframe(conversation_tables.alt_test_table(judges), hide_index=True,
                 width="stretch", key="conversations.alt_test")
    st.markdown("**The judge's offset from the panel**: the judge's score minus the panel's "
                "median, per group, and against the other users (Welch's t-test, "
                "Benjamini-Yekutieli over groups and criteria).")
    st.dataframe(conversation_tables.bias_table(judges), hide_index=True,
                 width="stretch", key="conversations.bias")
    automation = conversation_tables.automation_table(judges)
    if not automation.empty:
        st.markdown("**Automation bias**: do reviewers who were shown the judge's verdict "
                    "(at random) agree with it more?")
        st.dataframe(automation, hide_index=True, width="stretch",
                     key="conversations.automation")


def _gaps(store: Store, actor: Actor, name: str, found: ConversationFindings) -> None:
    gaps = found.gaps
    st.subheader("Knowledge gaps")
    if gaps.empty:
        st.caption("Shown to panel leads and admins once the panel has rated conversations: "
                   "the intents whose answers the panel corrects most.")
        return
    st.dataframe(conversation_tables.gaps_table(gaps), hide_index=True, width="stretch",
                 key="conversations.gaps")
    if actor.role not in PERMISSIONS["read every rating"]:
        return
    left, right = st.columns(2)
    for column, evaluation, label in ((left, False, "Fine-tuning set (JSONL)"),
                                      (right, True, "Evaluation set (JSONL)")):
        records = reviewed_records(store, actor, name, evaluation=evaluation)
        column.download_button(
            label, data="".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
            file_name=f"{name}-{'evaluation' if evaluation else 'fine-tuning'}.jsonl",
            mime="application/jsonl", key=f"conversations.download.{int(evaluation)}",
            help=f"{len(records)} reviewed conversations with the panel's corrected answers, "
                 "rubric scores and lineage (case, snapshot hash, reviewers).")


render()
