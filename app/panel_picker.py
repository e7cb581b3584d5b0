"""Choosing what the panel-analysis pages show, and loading it: shared by Agreement and
Reviewer bias (pages never import each other).

The reader picks an audit whose queue has ratings, the reviewer-background attribute
compared and how cases are grouped (the intersectional subject groups as stored, or
one sensitive feature); :func:`load` returns the cached
:func:`audits.raters.stored.analyse_panel`, or shows why there is nothing to show.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import loaders, panel_tables, run_picker, state
from app.formatting import plain
from audits.raters.stored import PanelAnalysis
from audits.roles import Actor
from audits.store import AuditRunRecord, Store

__all__ = ["MSG_NO_RATINGS", "PanelChoice", "choose", "load", "notice"]

MSG_NO_RATINGS = ("No audit has ratings yet: reviewers rate the cases of a review queue on "
                  "'My reviews' (the demo's simulated panel rates its queue when the demo is "
                  "prepared).")
DEFAULT_ATTRIBUTE = "gender"
#: The subject-grouping option that keeps the stored (intersectional) groups.
AS_STORED = ""


@dataclass(frozen=True)
class PanelChoice:
    """What the reader chose: the audit, the background attribute, the subject grouping."""

    run: AuditRunRecord
    attribute: str
    subject_attribute: str | None
    #: The run's review progress: a cheap fingerprint of its ratings (the cache key).
    version: tuple[int, ...]


def choose(store: Store, actor: Actor, area: str) -> PanelChoice | None:
    """Draw the three pickers of page ``area``; None when no audit has ratings."""
    progress = {i: store.panel_progress(actor, i) for i in reversed(store.queued_audit_runs())}
    runs = [r for r in (store.get_audit_run(i) for i, p in progress.items()
                        if p.get("assignments_rated", 0) > 0) if r is not None]
    if not runs:
        return None
    names = run_picker.dataset_labels(store)
    by_id = {r.id: r for r in runs}
    a, b, c = st.columns([3, 2, 3])
    state.keep_choice(f"{area}.run_id", list(by_id), runs[0].id)
    run_id = a.selectbox("Audit", list(by_id), key=f"{area}.run_id",
                         format_func=lambda i: f"#{i} · "
                         f"{names.get(by_id[i].dataset_id, by_id[i].dataset_id)} · "
                         f"{progress[i]['assignments_rated']:,} ratings")
    attributes = list(store.background_schema())
    state.keep_choice(f"{area}.attribute", attributes,
                      DEFAULT_ATTRIBUTE if DEFAULT_ATTRIBUTE in attributes else attributes[0])
    attribute = b.selectbox("Reviewer background", attributes, key=f"{area}.attribute",
                            format_func=lambda x: x.replace("_", " "),
                            help="A self-reported, consented background of the reviewers. "
                                 "Only values held by 5 or more reviewers form a group.")
    features = panel_tables.subject_attributes(c.subject_group
                                               for c in store.list_cases(run_id))
    options = [AS_STORED, *features] if len(features) > 1 else [AS_STORED]
    # One feature by default when the stored groups are intersections: more cases per
    # group, so the per-group statistics are worth reading.
    state.keep_choice(f"{area}.subject", options, options[1] if len(options) > 1 else AS_STORED)
    stored = " & ".join(features) or "as stored"
    subject = c.selectbox("Group cases by", options, key=f"{area}.subject",
                          format_func=lambda x: f"{x} only" if x else
                          f"intersectional groups ({stored})",
                          help="Intersectional groups are as the audit stored them; one "
                               "sensitive feature pools them into fewer, larger groups.")
    return PanelChoice(by_id[run_id], str(attribute), subject or None,
                       tuple(v for _, v in sorted(progress[run_id].items())))


def load(actor: Actor, choice: PanelChoice) -> PanelAnalysis | None:
    """Return the panel analysis of ``choice`` (cached); None after showing why not."""
    with st.spinner("Computing the panel statistics (a few seconds the first time)..."):
        try:
            return loaders.panel_analysis(loaders.database_url(), actor, choice.run.id,
                                          attribute=choice.attribute,
                                          subject_attribute=choice.subject_attribute,
                                          version=choice.version)
        except ValueError as error:
            st.info(f"Nothing to analyse yet: {plain(error)}.")
            return None


def notice(analysis: PanelAnalysis) -> None:
    """Say what the analysis covers, and that the panel is simulated when it is."""
    text = panel_tables.simulated_notice(analysis.simulated_share)
    if text is not None:
        st.warning(text, icon=":material/science:")
    st.caption(f"{analysis.n_ratings:,} ratings of {analysis.n_cases:,} cases by "
               f"{analysis.n_reviewers:,} reviewers. Intervals are 95% bootstrap intervals.")
