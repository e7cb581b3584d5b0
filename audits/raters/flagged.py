"""Which reviewers of a stored audit are flagged as harsher or more lenient than the panel.

The same severity model and test as the Reviewer bias page
(:func:`audits.raters.human_bias.reviewer_severity`: a severity per reviewer fitted on
the cases where two reviewers disagree, Holm-adjusted), without the panel's other
statistics, so a landing page can say who needs a look in a fraction of a second.
Names are returned only to those who may read every rating; everyone else who may read
panel aggregates gets the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from audits.raters.human_bias import reviewer_severity
from audits.roles import PERMISSIONS, Actor, require_role
from audits.store import Store

__all__ = ["FlaggedReviewers", "flagged_reviewers"]

_SHOWN = ["reviewer", "n", "severity", "ci_low", "ci_high", "p_adjusted"]


@dataclass(frozen=True)
class FlaggedReviewers:
    """The flagged reviewers of one audit's panel.

    Attributes
    ----------
    audit_run_id : int
    n_reviewers : int
        Reviewers with a rating in the audit.
    n_flagged : int
    flagged : pandas.DataFrame or None
        ``reviewer`` (display name), ``n`` (cases shared with another reviewer),
        ``severity`` (log-odds, positive is harsher), ``ci_low``, ``ci_high``,
        ``p_adjusted`` (Holm), largest ``|severity|`` first; None unless the reader may
        read every rating.
    """

    audit_run_id: int
    n_reviewers: int
    n_flagged: int
    flagged: pd.DataFrame | None


def flagged_reviewers(store: Store, actor: Actor, audit_run_id: int, *,
                      level: float = 0.95, alpha: float = 0.05) -> FlaggedReviewers:
    """Return who of an audit's panel is flagged for severity (requires panel aggregates).

    Parameters
    ----------
    store : Store
    actor : Actor
        Needs "read panel aggregates"; names only with "read every rating".
    audit_run_id : int
    level, alpha : float, default 0.95 and 0.05
        Interval level, and the family-wise error rate of the Holm-adjusted test.

    Returns
    -------
    FlaggedReviewers
        Zero reviewers when fewer than two ratings of one case are stored.
    """
    require_role(actor, "read panel aggregates")
    ratings = pd.DataFrame(store.ratings_for_analysis(actor, audit_run_id))
    full = actor.role in PERMISSIONS["read every rating"]
    if ratings.empty or ratings.groupby("case_id").size().max() < 2:
        n = int(ratings["reviewer_id"].nunique()) if not ratings.empty else 0
        return FlaggedReviewers(audit_run_id, n, 0,
                                pd.DataFrame(columns=_SHOWN) if full else None)
    severity = reviewer_severity(ratings[["case_id", "reviewer_id", "label"]], level=level,
                                 alpha=alpha)
    flagged = severity[severity["flagged"].astype(bool)]
    table = None
    if full:
        names = {r.id: r.display_name for r in store.list_reviewers(actor)}
        table = (flagged.assign(reviewer=flagged["reviewer_id"].map(
                    lambda rid: names.get(rid, str(rid))),
                                order=flagged["severity"].abs())
                 .sort_values("order", ascending=False)[_SHOWN].reset_index(drop=True))
    return FlaggedReviewers(audit_run_id, int(ratings["reviewer_id"].nunique()),
                            int(len(flagged)), table)
