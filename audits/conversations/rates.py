"""Fairness of a chatbot across its users: escalation, resolution and hand-over rates,
and mean rubric scores, per user group, with intervals and verdicts.

Each rate is a share of conversations (escalated to a person, resolved, handed over to an
agent), so it is audited by the same engine as a model's selection rate
(:func:`audits.fairness.audit.audit_fairness` on the rate's 0/1 column: counts per group
and intersection, Wilson-floored bootstrap intervals, ratios to the reference group and
the four-fifths verdicts judged together). A mean score (a judge's or the panel's, 1-5)
is not a share: :func:`score_means` bootstraps it over conversations, per group, with
the difference to the rest of the conversations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audits.conversations.records import Conversations
from audits.fairness.audit import audit_fairness
from audits.fairness.intervals import bootstrap_means, percentile_interval
from audits.fairness.result import FairnessAudit
from audits.fairness.verdicts import ratio_rule

__all__ = ["RATES", "BotRates", "bot_rates", "score_means"]

#: The bot's rates: the flat table's column, and what the rate means.
RATES = {"escalated": "escalation rate", "resolved": "resolution rate",
         "handed_over": "hand-over rate"}
MSG_BY = "user attribute {name!r} is not in the conversations; they have: {present}"
MSG_NO_SCORE = "score column {name!r} is not in the conversations; they have: {present}"


@dataclass(frozen=True)
class BotRates:
    """One fairness audit per rate (the rate is each audit's ``selection_rate``)."""

    audits: dict[str, FairnessAudit]
    by: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """Every rate's groups: ``rate, group, n, events, value, ci_low, ci_high, ratio,
        ratio_ci_low, ratio_ci_high, reference, verdict`` (tidy, one row per group)."""
        parts = []
        for rate, audit in self.audits.items():
            metrics = audit.metrics[audit.metrics["metric"] == "selection_rate"]
            disparities = audit.disparities[audit.disparities["metric"] == "selection_rate"]
            merged = metrics.merge(
                disparities[["group_id", "reference_label", "ratio", "ratio_ci_low",
                             "ratio_ci_high", "verdict"]], on="group_id", how="left")
            parts.append(pd.DataFrame({
                "rate": rate, "group": merged["group_label"],
                "n": merged["denominator"].astype(int), "events": merged["numerator"],
                "value": merged["value"], "ci_low": merged["ci_low"],
                "ci_high": merged["ci_high"], "ratio": merged["ratio"],
                "ratio_ci_low": merged["ratio_ci_low"],
                "ratio_ci_high": merged["ratio_ci_high"],
                "reference": merged["reference_label"],
                "verdict": merged["verdict"].fillna("reference")}))
        return pd.concat(parts, ignore_index=True)


def bot_rates(conversations: Conversations, *, by: Sequence[str],
              intersections: bool = True, n_boot: int = 1000, random_state: int = 0,
              tau: float = 0.8, min_n: int = 30) -> BotRates:
    """Audit the bot's escalation, resolution and hand-over rates across user groups.

    Parameters
    ----------
    conversations : Conversations
    by : sequence of str
        User attributes (or consented demographics) to compare groups of.
    intersections : bool, default True
        Also every combination of ``by``.
    n_boot, random_state, tau, min_n
        As for :func:`audits.fairness.audit.audit_fairness` (``tau``: the ratio rule,
        within ``[tau, 1/tau]``).

    Returns
    -------
    BotRates
        Rates with no recorded value on some conversation (``resolved`` unknown) are
        audited on the conversations where it is known.
    """
    frame = _frame(conversations, by)
    audits = {}
    for rate in RATES:
        known = frame[frame[rate].notna()]
        event = known[rate].astype(bool).astype(np.int8)
        # A rate is a selection rate: of the rate's 0/1 column (the engine also wants an
        # outcome column, which the selection rate does not read).
        data = known[list(by)].assign(_event=event.to_numpy(), _outcome=event.to_numpy())
        audits[rate] = audit_fairness(
            data, y_true="_outcome", y_pred="_event", sensitive_features=list(by),
            intersections=intersections, metrics=["selection_rate"],
            rules=[ratio_rule(tau)], n_boot=n_boot, random_state=random_state,
            min_n=min_n)
    return BotRates(audits, tuple(by))


def score_means(conversations: Conversations, column: str, *, by: Sequence[str],
                n_boot: int = 1000, random_state: int = 0, level: float = 0.95
                ) -> pd.DataFrame:
    """Mean of a score column per user group, bootstrapped over conversations.

    Returns
    -------
    pandas.DataFrame
        One row per group of each attribute in ``by``: ``attribute, group, n, mean,
        ci_low, ci_high, rest_mean, difference, difference_ci_low,
        difference_ci_high`` (the group's mean minus the other conversations' mean, with
        a percentile interval from resampling each side's conversations).

    Examples
    --------
    >>> from audits.conversations.simulated import simulate_conversations
    >>> from audits.conversations.records import conversations_from_records
    >>> c = conversations_from_records(simulate_conversations(300).records)
    >>> t = score_means(c, "judge_tone", by=["dialect"], n_boot=200)
    >>> t[["group", "n"]].to_dict("list")
    {'group': ['regional', 'standard'], 'n': [67, 233]}
    """
    frame = _frame(conversations, by)
    if column not in frame.columns:
        raise ValueError(MSG_NO_SCORE.format(name=column, present=", ".join(frame.columns)))
    rng = np.random.default_rng(random_state)
    rows = []
    for attribute in by:
        known = frame[[attribute, column]].dropna()
        values = known[column].to_numpy(dtype=float)
        for group in sorted(known[attribute].astype(str).unique()):
            inside = (known[attribute].astype(str) == group).to_numpy()
            mine, rest = values[inside], values[~inside]
            boot_mine = bootstrap_means(rng, mine, n_boot)
            boot_rest = bootstrap_means(rng, rest, n_boot)
            low, high = percentile_interval(boot_mine[:, None], level=level)
            d_low, d_high = percentile_interval((boot_mine - boot_rest)[:, None], level=level)
            rest_mean = float(rest.mean()) if len(rest) else float("nan")
            rows.append({"attribute": attribute, "group": group, "n": int(inside.sum()),
                         "mean": float(mine.mean()), "ci_low": float(low[0]),
                         "ci_high": float(high[0]), "rest_mean": rest_mean,
                         "difference": float(mine.mean()) - rest_mean,
                         "difference_ci_low": float(d_low[0]),
                         "difference_ci_high": float(d_high[0])})
    return pd.DataFrame(rows)


def _frame(conversations: Conversations, by: Sequence[str]) -> pd.DataFrame:
    frame = conversations.frame
    for name in by:
        if name not in frame.columns or name in RATES:
            raise ValueError(MSG_BY.format(name=name, present=", ".join(
                [*conversations.user_attributes, *conversations.demographics])))
    return frame
