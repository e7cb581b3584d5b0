"""The panel measured the way the model is: agreement and human bias of stored ratings.

:func:`analyse_panel` reads an audit's ratings from the store and computes, with
:mod:`audits.raters.agreement` and :mod:`audits.raters.human_bias`: agreement overall, per subject
group, per reviewer-background group and in-group versus cross-group; each reviewer's
severity; differential rater functioning; and automation bias (the randomized show/hide
design), overall, per reviewer and per subject group, plus over-reliance.

Reviewer background groups come from :meth:`audits.store.Store.background_groups`, which
only returns groups of at least five reviewers. Per-reviewer results (severity, pairwise
kappa, per-reviewer automation bias) are computed for everyone but returned only to an
actor who may "read every rating" (panel lead, admin); others get aggregates.

"Cannot tell" answers carry no label, so they are not in the ratings these statistics
read; :func:`cannot_tell_summary` measures them as their own outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from audits.raters.abstention import cannot_tell_rates
from audits.raters.agreement import AgreementSummary, agreement_summary, cohen_kappa_pairs
from audits.raters.agreement_groups import (
    agreement_by_group,
    agreement_by_rater_group,
    in_group_vs_cross_group,
)
from audits.raters.automation import AutomationEffect, automation_bias, over_reliance
from audits.raters.human_bias import differential_rater_functioning, reviewer_severity
from audits.roles import PERMISSIONS, Actor, require_role
from audits.store import Store

__all__ = ["MSG_FEW_RATINGS", "CannotTellSummary", "PanelAnalysis", "analyse_panel",
           "cannot_tell_summary"]

MSG_FEW_RATINGS = "audit run {id} has {n} rating(s); the panel statistics need cases rated twice"
STATISTICS = ("krippendorff_alpha", "gwet_ac1", "percent_agreement")


@dataclass(frozen=True)
class PanelAnalysis:
    """Agreement and human-bias results of one audit's panel.

    ``severity``, ``pairwise`` and ``automation_by_reviewer`` are None unless the actor
    may read every rating; reviewer ids there are replaced by display names.
    """

    audit_run_id: int
    attribute: str
    subject_attribute: str | None
    n_ratings: int
    n_cases: int
    n_reviewers: int
    simulated_share: float
    agreement: AgreementSummary
    by_subject: pd.DataFrame
    by_rater_group: pd.DataFrame
    in_vs_cross: pd.DataFrame
    drf: pd.DataFrame
    automation: AutomationEffect | None
    automation_by_subject: pd.DataFrame | None
    over_reliance: AutomationEffect | None
    n_flagged_reviewers: int
    severity: pd.DataFrame | None
    pairwise: pd.DataFrame | None
    automation_by_reviewer: pd.DataFrame | None


def analyse_panel(store: Store, actor: Actor, audit_run_id: int, *, attribute: str = "gender",
                  subject_attribute: str | None = None, n_boot: int = 500,
                  n_permutations: int = 1000, random_state: int = 0) -> PanelAnalysis:
    """Compute the panel's agreement and bias statistics for an audit.

    Requires "read panel aggregates". ``attribute`` is the reviewer background compared;
    ``subject_attribute`` (e.g. "sex") coarsens the cases' intersectional subject groups
    ("sex=Female & race=White") to one sensitive feature, for more cases per group.

    Raises
    ------
    ValueError
        Fewer ratings than the statistics need (:data:`MSG_FEW_RATINGS`).
    """
    require_role(actor, "read panel aggregates")
    ratings = pd.DataFrame(store.ratings_for_analysis(actor, audit_run_id))
    if len(ratings) < 2 or ratings.groupby("case_id").size().max() < 2:
        raise ValueError(MSG_FEW_RATINGS.format(id=audit_run_id, n=len(ratings)))
    if subject_attribute is not None:
        ratings["subject_group"] = ratings["subject_group"].map(
            lambda label: _part(str(label), subject_attribute))
    groups = store.background_groups(actor, attribute)
    full = actor.role in PERMISSIONS["read every rating"]
    subject = ratings.groupby("case_id")["subject_group"].first()
    severity = reviewer_severity(ratings[["case_id", "reviewer_id", "label"]], n_boot=n_boot,
                                 n_permutations=n_permutations, random_state=random_state)
    shown = ratings[ratings["model_decision"].notna()]
    automation, by_subject, wrong, by_reviewer = _automation(shown, n_boot, random_state)
    grouped = ratings[ratings["reviewer_id"].isin(groups)]
    return PanelAnalysis(
        audit_run_id=audit_run_id, attribute=attribute, subject_attribute=subject_attribute,
        n_ratings=len(ratings),
        n_cases=int(ratings["case_id"].nunique()),
        n_reviewers=int(ratings["reviewer_id"].nunique()),
        simulated_share=float(ratings["simulated"].mean()),
        agreement=agreement_summary(ratings, n_boot=n_boot, random_state=random_state),
        by_subject=agreement_by_group(ratings, subject, statistics=STATISTICS,
                                      n_boot=n_boot, random_state=random_state),
        by_rater_group=agreement_by_rater_group(grouped, groups, statistics=STATISTICS,
                                                n_boot=n_boot, random_state=random_state)
        if len(grouped) else pd.DataFrame(),
        in_vs_cross=in_group_vs_cross_group(grouped, groups, n_boot=n_boot,
                                            random_state=random_state)
        if len(grouped) else pd.DataFrame(),
        drf=differential_rater_functioning(
            grouped[["case_id", "reviewer_id", "label", "subject_group"]], groups,
            n_permutations=n_permutations, random_state=random_state)
        if len(set(groups.values())) > 1 else pd.DataFrame(),
        automation=automation, automation_by_subject=by_subject, over_reliance=wrong,
        n_flagged_reviewers=int(severity["flagged"].sum()),
        severity=_named(store, actor, severity) if full else None,
        pairwise=_named(store, actor, cohen_kappa_pairs(ratings), ("reviewer_a",
                                                                   "reviewer_b"))
        if full else None,
        automation_by_reviewer=_named(store, actor, by_reviewer) if full and by_reviewer
        is not None else None,
    )


@dataclass(frozen=True)
class CannotTellSummary:
    """How often an audit's reviewers answered "cannot tell", with Wilson intervals.

    ``by_reviewer`` (reviewer display names) is None unless the actor may read every
    rating. Rates are over answered assignments (rated or cannot tell).
    """

    audit_run_id: int
    n_answered: int
    n_cannot_tell: int
    by_subject: pd.DataFrame
    by_reviewer: pd.DataFrame | None

    @property
    def rate(self) -> float | None:
        """The overall share of answers that were "cannot tell" (None if none answered)."""
        return self.n_cannot_tell / self.n_answered if self.n_answered else None


def cannot_tell_summary(store: Store, actor: Actor, audit_run_id: int, *,
                        subject_attribute: str | None = None,
                        level: float = 0.95) -> CannotTellSummary:
    """Return an audit's "cannot tell" rate overall, per subject group and per reviewer.

    Requires "read panel aggregates"; the per-reviewer table only for an actor who may
    "read every rating" (others get None). ``subject_attribute`` coarsens the subject
    groups as in :func:`analyse_panel`.
    """
    require_role(actor, "read panel aggregates")
    outcomes = pd.DataFrame(store.review_outcomes(actor, audit_run_id),
                            columns=["case_id", "reviewer_id", "subject_group", "kind",
                                     "outcome", "skips"])
    if subject_attribute is not None:
        outcomes["subject_group"] = outcomes["subject_group"].map(
            lambda label: _part(str(label), subject_attribute))
    answered = outcomes[outcomes["outcome"] != "open"]
    full = actor.role in PERMISSIONS["read every rating"]
    return CannotTellSummary(
        audit_run_id=audit_run_id, n_answered=len(answered),
        n_cannot_tell=int(answered["outcome"].eq("cannot_tell").sum()),
        by_subject=cannot_tell_rates(outcomes, "subject_group", level=level),
        by_reviewer=_named(store, actor, cannot_tell_rates(outcomes, "reviewer_id",
                                                           level=level)) if full else None)


def _part(label: str, attribute: str) -> str:
    """Return the ``attribute=value`` part of a group label, or the label itself.

    Examples
    --------
    >>> _part("sex=Female & race=White", "sex")
    'sex=Female'
    """
    for part in label.split(" & "):
        if part.startswith(f"{attribute}="):
            return part
    return label


def _automation(shown: pd.DataFrame, n_boot: int, random_state: int,
                ) -> tuple[Any, Any, Any, Any]:
    if shown.empty or shown["model_shown"].nunique() < 2:
        return None, None, None, None
    data = shown.assign(model_decision=shown["model_decision"].astype(int))
    cols = ["case_id", "reviewer_id", "label", "model_shown", "model_decision",
            "subject_group"]
    overall = automation_bias(data[cols], n_boot=n_boot, random_state=random_state)
    per_group = automation_bias(data[cols], by="subject_group", n_boot=n_boot,
                                random_state=random_state)
    per_reviewer = automation_bias(data[cols], by="reviewer_id", n_boot=n_boot,
                                   random_state=random_state)
    known = data[data["truth"].notna()]
    wrong = None
    if len(known) and (known["truth"].astype(int) != known["model_decision"]).any():
        wrong = over_reliance(known[[*cols, "truth"]].assign(
            truth=known["truth"].astype(int)), n_boot=n_boot, random_state=random_state)
    return overall, per_group, wrong, per_reviewer


def _named(store: Store, actor: Actor, table: pd.DataFrame,
           columns: tuple[str, ...] = ("reviewer_id",)) -> pd.DataFrame:
    names = {r.id: r.display_name for r in store.list_reviewers(actor)}
    out = table.copy()
    for column in columns:
        if column in out.columns:
            out[column] = out[column].map(lambda rid: names.get(rid, str(rid)))
    return out
