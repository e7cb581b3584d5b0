"""Reviewer bias: severity, differential rater functioning and automation bias.

Reads :func:`audits.raters.stored.analyse_panel` (through the cache in
:mod:`app.loaders`). Panel leads and admins see each reviewer by name (severity, the
per-reviewer automation effect); compliance officers and data scientists see aggregates
only: how many reviewers are flagged, never who.
"""

from __future__ import annotations

import streamlit as st

from app import auth, loaders, panel_charts, panel_picker, panel_tables
from app.formatting import plain
from audits.demo.power import power_statement
from audits.raters.automation import AutomationEffect
from audits.raters.stored import PanelAnalysis

PAGE = "app_pages/reviewer_bias.py"
AREA = "reviewer_bias"

HOW_SEVERITY = """
Every case has its own difficulty and every reviewer a **severity**, in log-odds, fitted
together from the cases where two reviewers of the same case disagree (which of the two
said yes depends only on their severities, not on the case). Positive means harsher
(fewer positive decisions on the same cases), negative more lenient. Comparing on the
same cases removes luck of the draw: a reviewer who happened to get harder cases is not
called severe.

Each reviewer is compared with the reviewers who are not themselves flagged (first
with the median of the others, so one very harsh colleague cannot make everyone else
look lenient). The interval and the test come from the fitted model, with cases as
clusters. A reviewer is **flagged** when the Holm-adjusted p-value is below 0.05:
flagging names a person, so the chance of flagging *anyone* wrongly is held at 5%
however many reviewers there are.
"""

HOW_DRF = """
**Differential rater functioning** asks whether reviewers of one background treat one
group of cases differently from how the other reviewers treat them, *over and above*
how each of them treats everyone. The **effect** is in log-odds, fitted in the same model
as severity (a difficulty per case, a severity per reviewer) plus one term for reviewers
of the group on cases of the subject group. A group that is simply harsher on everyone
is not an effect, even when the subject groups have very different shares of positive
cases. Negative (red): fewer positive decisions for that subject group.

The test shuffles the background labels among reviewers (each keeps all their ratings)
and counts how often a shuffled statistic is as large. Cells are **flagged** when the
Benjamini-Hochberg adjusted p-value is below 0.05 (these cells describe groups, not
persons). With two background groups the two columns mirror each other: one group
harsher on a subject group is the other group more lenient on it.
"""

HOW_AUTOMATION = """
Whether a reviewer saw the model's decision was decided **at random** for each
assignment. So the difference between how often reviewers agree with the model when it
is shown and when it is hidden is the effect of showing it: **automation bias**. A
positive effect means people follow the model more when they see it.

Ratings of one reviewer are not independent, so the interval resamples *reviewers*
(cluster bootstrap). The **copy rate** is the share of would-be disagreements that
showing the model turned into agreement. **Over-reliance** is the same effect on the
cases where the model was wrong (known from gold answers and adjudications): how much
more often a shown *wrong* decision is followed.
"""


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Reviewer bias")
    st.caption("Whether individual reviewers, or reviewers of one background, decide "
               "differently from the rest of the panel, and whether seeing the model's "
               "decision sways them.")
    choice = panel_picker.choose(store, user.actor, AREA)
    if choice is None:
        st.info(panel_picker.MSG_NO_RATINGS)
        return
    analysis = panel_picker.load(user.actor, choice)
    if analysis is None:
        return
    panel_picker.notice(analysis)
    _severity(analysis)
    _drf(analysis)
    _automation(analysis)


def _severity(analysis: PanelAnalysis) -> None:
    st.subheader("Reviewer severity")
    n, total = analysis.n_flagged_reviewers, analysis.n_reviewers
    if analysis.severity is None:
        st.metric("Reviewers flagged", f"{n} of {total}", border=True,
                  help="Reviewers whose decisions differ from the panel's consensus on the "
                       "same cases (Holm-adjusted p < 0.05).")
        st.caption("Individual reviewers are named to panel leads and admins only.")
    else:
        for line in panel_tables.flagged_reviewers(analysis.severity):
            st.warning(line, icon=":material/flag:")
        if not n:
            st.success(f"No reviewer is flagged: none of the {total} differs clearly from the "
                       "panel's consensus.")
        st.plotly_chart(panel_charts.reviewer_forest_figure(
            analysis.severity, value="severity", axis="severity (log-odds) against the "
            "reviewers not flagged, same cases", flagged="flagged (Holm-adjusted p < 0.05)",
            title=f"Severity of each reviewer ({n} of {total} flagged)",
            left="<- more lenient than the panel", right="harsher than the panel ->"),
            key=f"{AREA}.severity")
    with st.expander("How this is measured"):
        st.markdown(HOW_SEVERITY)


def _drf(analysis: PanelAnalysis) -> None:
    attribute = analysis.attribute.replace("_", " ")
    st.subheader(f"Reviewer background x subject group ({plain(attribute)})")
    st.caption("Do reviewers of one background treat one group of cases differently from "
               "the other reviewers, beyond how they treat everyone? Red: fewer positive "
               "decisions for that group; blue: more. Only background groups of 5 or more "
               "reviewers are analysed (the engine enforces it). Hover a cell for its "
               "p-values.")
    if analysis.drf.empty:
        st.info(f"Needs at least two values of {plain(attribute)} each held by 5 or more "
                "reviewers.")
    else:
        findings = panel_tables.drf_findings(analysis.drf)
        for line in findings:
            st.warning(line, icon=":material/flag:")
        if findings and min(analysis.drf["rater_group"].nunique(),
                            analysis.drf["subject_group"].nunique()) == 2:
            st.caption("With two groups the cells mirror each other (one group harsher on a "
                       "subject group is the other more lenient on it, and relatively more "
                       "lenient on the other subject groups): the flagged cells below are "
                       "one finding.")
        if not findings:
            st.success("No cell is flagged: no background group treats a subject group "
                       "clearly differently from the other reviewers.")
        st.plotly_chart(panel_charts.drf_heatmap_figure(analysis.drf), key=f"{AREA}.drf")
    if analysis.simulated_share > 0:
        st.caption(power_statement())
    with st.expander("How this is measured"):
        st.markdown(HOW_DRF)


def _automation(analysis: PanelAnalysis) -> None:
    st.subheader("Automation bias")
    effect = analysis.automation
    if effect is None:
        st.info("The model's decision was shown on every rating, or hidden on every one: "
                "there is nothing to compare.")
    else:
        tiles = [("Effect of showing the model", panel_tables.points(effect.value),
                  panel_tables.points_ci(effect.ci_low, effect.ci_high)),
                 ("Agree with the model, shown", f"{effect.agree_shown:.1%}",
                  f"{effect.n_shown:,} ratings"),
                 ("Agree with the model, hidden", f"{effect.agree_hidden:.1%}",
                  f"{effect.n_hidden:,} ratings"),
                 ("Copy rate", f"{effect.copy_rate:.1%}",
                  f"95% CI {effect.copy_rate_ci_low:.1%} to {effect.copy_rate_ci_high:.1%}")]
        for column, (label, value, note) in zip(st.columns(4), tiles, strict=True):
            column.metric(label, value, border=True)
            column.caption(note or "no interval")
        st.caption(_automation_sentence(effect))
        rows = panel_tables.automation_rows(effect, analysis.automation_by_subject)
        st.plotly_chart(panel_charts.automation_figure(rows), key=f"{AREA}.automation")
        _per_reviewer(analysis)
        _over_reliance(analysis)
    with st.expander("How this is measured"):
        st.markdown(HOW_AUTOMATION)


def _automation_sentence(effect: AutomationEffect) -> str:
    if effect.ci_low > 0:
        verdict = ("Reviewers follow the model more when they see its decision: automation "
                   "bias.")
    elif effect.ci_high < 0:
        verdict = "Reviewers agree with the model less when they see its decision."
    else:
        verdict = "No clear effect: the interval includes zero."
    return (f"{verdict} Showing the model's decision changed agreement with it from "
            f"{effect.agree_hidden:.1%} to {effect.agree_shown:.1%} "
            f"({effect.n_reviewers} reviewers; whether it was shown was random).")


def _per_reviewer(analysis: PanelAnalysis) -> None:
    table = analysis.automation_by_reviewer
    if table is None or table.empty:
        return
    st.plotly_chart(panel_charts.reviewer_forest_figure(
        table, value="value", axis="agreement with the model, shown minus hidden",
        title="Automation bias of each reviewer (few ratings each: wide intervals)",
        left="<- follows the model less when shown", right="follows it more when shown ->"),
        key=f"{AREA}.automation_by_reviewer")


def _over_reliance(analysis: PanelAnalysis) -> None:
    wrong = analysis.over_reliance
    if wrong is None:
        st.caption("Over-reliance (following a wrong model decision) needs cases with a "
                   "known answer where the model was wrong; there are none yet.")
        return
    few = " Very few ratings: read it as a hint only." if wrong.n_shown + wrong.n_hidden < 40 \
        else ""
    st.markdown(f"**Over-reliance.** On cases where the model was wrong, reviewers followed "
                f"its decision {wrong.agree_shown:.0%} of the time when shown and "
                f"{wrong.agree_hidden:.0%} when hidden: {panel_tables.points(wrong.value)} "
                f"({panel_tables.points_ci(wrong.ci_low, wrong.ci_high)}; {wrong.n_shown} "
                f"ratings shown, {wrong.n_hidden} hidden).{few}")


render()
