"""Agreement: how consistently the review panel decides the same cases.

Reads :func:`audits.raters.stored.analyse_panel` (through the cache in
:mod:`app.loaders`): agreement overall, per subject group, per reviewer-background group
and between reviewers of the same versus different backgrounds; for panel leads and
admins also Cohen's kappa of every pair of reviewers. Others see aggregates only.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, panel_charts, panel_picker, panel_tables
from app.formatting import plain
from audits.raters.stored import PanelAnalysis, cannot_tell_summary
from audits.roles import Actor
from audits.store import Store

PAGE = "app_pages/agreement.py"
AREA = "agreement"
TILES = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement")
HELP = {
    "krippendorff_alpha": "Agreement beyond what chance would give; handles any number of "
                          "reviewers per case. 1 is perfect, 0 is chance level.",
    "fleiss_kappa": "Like alpha, but needs the same number of reviewers on every case.",
    "gwet_ac1": "A chance-corrected agreement that stays stable when one decision is much "
                "more common than the other (where alpha and kappa drop).",
    "percent_agreement": "The share of pairs of ratings of the same case that agree; not "
                         "corrected for chance.",
}


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Agreement")
    st.caption("How consistently the review panel decides the same cases: overall, for "
               "each group of cases, within each reviewer background, and pair by pair. "
               "Low agreement means the reviews are noisy; agreement that differs between "
               "groups means some cases are judged less consistently than others.")
    choice = panel_picker.choose(store, user.actor, AREA)
    if choice is None:
        st.info(panel_picker.MSG_NO_RATINGS)
        return
    analysis = panel_picker.load(user.actor, choice)
    if analysis is None:
        return
    panel_picker.notice(analysis)
    _tiles(analysis)
    _by_subject(analysis)
    _by_background(analysis, store.background_schema().get(analysis.attribute, []))
    _in_vs_cross(analysis)
    if analysis.pairwise is not None:
        _pairwise(analysis)
    _cannot_tell(store, user.actor, choice)


def _tiles(analysis: PanelAnalysis) -> None:
    summary = analysis.agreement.to_dict()
    for column, name in zip(st.columns(len(TILES)), TILES, strict=True):
        triple = summary[name]
        value = triple["value"]
        column.metric(panel_tables.STAT_LABELS[name],
                      "n/a" if value is None else f"{value:.3f}", help=HELP[name],
                      border=True)
        column.caption(panel_tables.ci_text(triple["ci_low"], triple["ci_high"])
                       or "no interval")
        if name == "krippendorff_alpha":
            column.markdown(f"**{panel_tables.alpha_reading(value).capitalize()}**")
        if name == "fleiss_kappa" and summary["fleiss_note"]:
            column.caption(summary["fleiss_note"] + ".")
    st.caption("How to read alpha (Krippendorff's conventions): 0.8 or more, the reviews are "
               "reliable; 0.667 to 0.8, draw tentative conclusions only; below 0.667, do not "
               f"rely on them. Over {summary['n_items']:,} cases rated by "
               f"{summary['n_raters']:,} reviewers.")


def _by_subject(analysis: PanelAnalysis) -> None:
    st.subheader("Agreement by subject group")
    st.caption("Agreement among the reviewers on the cases of each group. A group with lower "
               "agreement is judged less consistently: its outcomes depend more on who "
               "reviews it. Alpha falls when almost every case of a group gets the same "
               "decision (little to agree on beyond chance); AC1 does not.")
    if analysis.by_subject.empty:
        st.info("No subject group has cases rated twice.")
        return
    st.plotly_chart(panel_charts.agreement_figure(
        analysis.by_subject, category="group", title="Agreement within each group of cases"),
        key=f"{AREA}.by_subject")


def _by_background(analysis: PanelAnalysis, values: list[str]) -> None:
    st.subheader("Agreement by reviewer background: "
                 + plain(analysis.attribute.replace("_", " ")))
    table = analysis.by_rater_group
    shown = table[~table["suppressed"].astype(bool)] if len(table) else table
    missing = panel_tables.missing_groups(values, shown["rater_group"] if len(shown) else [])
    st.caption("Agreement among the reviewers of each background, on their own ratings. "
               "Only groups of 5 or more reviewers are analysed (the engine enforces it), so "
               "no one can be singled out; undisclosed backgrounds are left out."
               + (f" Not shown, fewer than 5 reviewers: {plain(', '.join(missing))}." if missing
                  else ""))
    if shown.empty:
        st.info(f"No value of {plain(analysis.attribute)} is held by 5 or more reviewers: "
                "there is "
                "no group to compare.")
        return
    st.plotly_chart(panel_charts.agreement_figure(
        shown, category="rater_group", title="Agreement within each reviewer group"),
        key=f"{AREA}.by_background")


def _in_vs_cross(analysis: PanelAnalysis) -> None:
    st.subheader("Same background versus different backgrounds")
    table = analysis.in_vs_cross
    if table.empty:
        st.info("Needs reviewers in at least one background group of 5 or more.")
        return
    diff = table.loc[table["comparison"] == "difference"].iloc[0]
    st.caption("How often two reviewers of the same case agree when they share a background, "
               "and when they do not. A clearly positive difference means the panel splits "
               f"along {analysis.attribute.replace('_', ' ')}. Here: "
               f"{panel_tables.points(diff['value'])} "
               f"({panel_tables.points_ci(diff['ci_low'], diff['ci_high'])}).")
    st.plotly_chart(panel_charts.in_vs_cross_figure(table), key=f"{AREA}.in_vs_cross")


def _pairwise(analysis: PanelAnalysis) -> None:
    st.subheader("Reviewer pairs")
    pairwise = analysis.pairwise
    if pairwise is None or pairwise.empty:
        st.info("No two reviewers have two cases in common.")
        return
    st.caption("Cohen's kappa of each pair of reviewers on the cases they both rated "
               "(1: always agree; 0: no better than chance; below 0: worse). Pairs share few "
               "cases, so single cells are noisy (hover for the number of cases); look for a "
               "reviewer whose whole row is pale or red. Shown to panel leads and admins only.")
    kappa, common = panel_tables.kappa_matrix(pairwise)
    st.plotly_chart(panel_charts.kappa_heatmap_figure(kappa, common), key=f"{AREA}.pairwise")



def _cannot_tell(store: Store, actor: Actor, choice: panel_picker.PanelChoice) -> None:
    """How often reviewers answered "cannot tell": a case the panel could not decide from
    what it shows is its own outcome, not a missing rating."""
    summary = cannot_tell_summary(store, actor, choice.run.id,
                                  subject_attribute=choice.subject_attribute)
    st.subheader("Cannot tell")
    if not summary.n_answered:
        st.caption("No answers yet.")
        return
    st.caption(f"{summary.n_cannot_tell:,} of {summary.n_answered:,} answers were \"cannot "
               f"tell\" ({summary.rate:.1%}): the reviewer said the case does not show "
               "enough to decide. They are left out of agreement and consensus, and "
               "counted here with 95% Wilson intervals. A group of cases with a high rate "
               "may be missing what a person needs to see.")
    if summary.n_cannot_tell == 0:
        return
    left, right = st.columns(2)
    left.markdown("**By subject group**")
    left.dataframe(panel_tables.cannot_tell_table(summary.by_subject), hide_index=True,
                   width="stretch", key="agreement.cannot_tell.subject")
    if summary.by_reviewer is not None:
        right.markdown("**By reviewer** (panel leads and admins)")
        right.dataframe(panel_tables.cannot_tell_table(summary.by_reviewer), hide_index=True,
                        width="stretch", key="agreement.cannot_tell.reviewer")


render()
