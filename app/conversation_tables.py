"""The Conversations page's tables: the engine's findings reshaped for reading.

Only reshaping and wording (:mod:`audits.conversations.findings` computes everything):
intervals as ``value [low, high]``, verdicts and the alternative annotator test in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["RATE_NAMES", "RATERS", "agreement_table", "alt_test_table", "automation_table",
           "bias_table", "failing_rates", "gaps_table", "rates_table", "scores_table"]

RATE_NAMES = {"escalated": "Escalated to a person", "resolved": "Resolved",
              "handed_over": "Handed over to an agent"}
RATERS = {"panel": "Panel (reviewers with each other)",
          "judge_vs_panel": "Judge vs the panel's median",
          "panel_and_judge": "Panel with the judge added"}
VERDICTS = {"pass": "Pass", "fail": "Fail", "insufficient_evidence": "Not enough evidence",
            "reference": "Reference group", "too_small": "Too few conversations"}


def _interval(value: Any, low: Any, high: Any, fmt: str = "{:.2f}") -> str:
    """``value [low, high]``, or a dash.

    Examples
    --------
    >>> _interval(0.5, 0.4, 0.6, "{:.0%}")
    '50% [40%, 60%]'
    """
    if value is None or pd.isna(value):
        return "-"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def rates_table(rates: pd.DataFrame, by: str, groups: Sequence[str]) -> pd.DataFrame:
    """The bot's rates for the groups of ``by`` and their intersections with others."""
    if rates.empty:
        return pd.DataFrame()
    shown = rates[rates["group"].astype(str).str.split(" & ").map(
        lambda parts: bool(set(parts) & set(groups)))]
    return pd.DataFrame({
        "Rate": shown["rate"].map(RATE_NAMES).fillna(shown["rate"]),
        "Users": shown["group"], "Conversations": shown["n"].astype(int),
        "Rate [95% CI]": [_interval(v, lo, hi, "{:.1%}") for v, lo, hi in
                          zip(shown["value"], shown["ci_low"], shown["ci_high"], strict=True)],
        "Ratio to reference [95% CI]": [
            _interval(v, lo, hi) for v, lo, hi in
            zip(shown["ratio"], shown["ratio_ci_low"], shown["ratio_ci_high"], strict=True)],
        "Reference": shown["reference"].fillna("-"),
        "Verdict": shown["verdict"].map(VERDICTS).fillna(shown["verdict"])})


def failing_rates(rates: pd.DataFrame, groups: Sequence[str]) -> list[dict[str, str]]:
    """Each failing verdict of the chosen attribute's groups (not their intersections),
    worst ratio first: ``rate``, ``group``, ``reference`` (from the data) and ``figures``
    (the rate and the ratio with their intervals, and the count: our own text).

    Examples
    --------
    >>> rates = pd.DataFrame({"rate": ["escalated"], "group": ["es"], "n": [582],
    ...     "value": [0.44], "ci_low": [0.40], "ci_high": [0.48], "ratio": [1.73],
    ...     "ratio_ci_low": [1.52], "ratio_ci_high": [1.99], "reference": ["en"],
    ...     "verdict": ["fail"]})
    >>> failing_rates(rates, ["en", "es"])[0]["figures"]
    '44.0% [40.0%, 48.0%], 1.73 [1.52, 1.99] times the rate of'
    """
    if rates.empty:
        return []
    failing = rates[(rates["verdict"] == "fail") & rates["group"].astype(str).isin(groups)]
    failing = failing.assign(_far=failing["ratio"].astype(float).map(
        lambda r: abs(math.log(r)) if r > 0 else math.inf))
    return [{"rate": RATE_NAMES.get(r.rate, str(r.rate)), "group": str(r.group),
             "reference": str(r.reference), "n": f"{int(r.n):,}",
             "figures": f"{_interval(r.value, r.ci_low, r.ci_high, '{:.1%}')}, "
                        f"{_interval(r.ratio, r.ratio_ci_low, r.ratio_ci_high)} times the "
                        "rate of"}
            for r in failing.sort_values("_far", ascending=False).itertuples(index=False)]


def scores_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The mean score per criterion and group, the judge's and the panel's, and the
    difference to the other users."""
    if scores.empty:
        return pd.DataFrame()
    who = scores["rated_by"] if "rated_by" in scores else pd.Series("judge", index=scores.index)
    return pd.DataFrame({
        "Criterion": scores["criterion"], "Scored by": who.map(
            {"judge": "the LLM judge", "panel": "the panel"}).fillna(who),
        "Users": scores["group"], "Conversations": scores["n"],
        "Mean [95% CI]": [_interval(v, lo, hi) for v, lo, hi in
                                  zip(scores["mean"], scores["ci_low"], scores["ci_high"],
                                      strict=True)],
        "Difference to the other users [95% CI]": [
            _interval(v, lo, hi, "{:+.2f}") for v, lo, hi in
            zip(scores["difference"], scores["difference_ci_low"],
                scores["difference_ci_high"], strict=True)]})


def agreement_table(judges: Mapping[str, Any]) -> pd.DataFrame:
    """Ordinal Krippendorff's alpha per criterion, raters and group, with intervals."""
    rows = pd.DataFrame(judges.get("agreement") or [])
    if rows.empty:
        return rows
    return pd.DataFrame({
        "Criterion": rows["criterion"], "Who": rows["raters"].map(RATERS).fillna(rows["raters"]),
        "Users": rows["group"], "Conversations": rows["n_items"],
        "Alpha [95% CI]": [_interval(v, lo, hi) for v, lo, hi in
                           zip(rows["value"], rows["ci_low"], rows["ci_high"], strict=True)]})


def alt_test_table(judges: Mapping[str, Any]) -> pd.DataFrame:
    """The alternative annotator test per criterion and group, in words."""
    rows = pd.DataFrame(judges.get("alt_test") or [])
    if rows.empty:
        return rows
    words = {True: "Can replace a reviewer", False: "Not shown to replace a reviewer"}
    return pd.DataFrame({
        "Criterion": rows["criterion"], "Users": rows["group"],
        "Result": [words.get(p, "Not tested (too few ratings)") if p is not None
                   else "Not tested (too few ratings)" for p in rows["passes"]],
        "Winning rate (omega)": [("-" if o is None or pd.isna(o) else f"{o:.2f}")
                                 for o in rows["omega"]],
        "Conversations": rows["n_conversations"], "Reviewers": rows["reviewers"]})


def bias_table(judges: Mapping[str, Any]) -> pd.DataFrame:
    """The judge's offset from the panel per criterion and group, adjusted p-values."""
    rows = pd.DataFrame(judges.get("bias") or [])
    if rows.empty:
        return rows
    return pd.DataFrame({
        "Criterion": rows["criterion"], "Users": rows["group"],
        "Conversations": rows["n_conversations"],
        "Judge minus panel [95% CI]": [
            _interval(v, lo, hi, "{:+.2f}") for v, lo, hi in
            zip(rows["offset"], rows["offset_ci_low"], rows["offset_ci_high"], strict=True)],
        "Against the other users [95% CI]": [
            _interval(v, lo, hi, "{:+.2f}") for v, lo, hi in
            zip(rows["difference"], rows["difference_ci_low"], rows["difference_ci_high"],
                strict=True)],
        "Adjusted p (BY)": ["-" if p is None or pd.isna(p) else f"{p:.2g}"
                            for p in rows["p_adjusted"]]})


def automation_table(judges: Mapping[str, Any]) -> pd.DataFrame:
    """How much seeing the judge's verdict raises the reviewers' agreement with it."""
    rows = pd.DataFrame(judges.get("automation") or [])
    if rows.empty:
        return rows
    return pd.DataFrame({
        "Criterion": rows["criterion"], "Users": rows["group"],
        "Agreement, judge shown vs hidden": [f"{a:.0%} vs {b:.0%}" for a, b in
                                             zip(rows["agree_shown"], rows["agree_hidden"],
                                                 strict=True)],
        "Difference [95% CI]": [_interval(v, lo, hi, "{:+.1%}") for v, lo, hi in
                                zip(rows["value"], rows["ci_low"], rows["ci_high"],
                                    strict=True)],
        "Reviewers": rows["n_reviewers"]})


def gaps_table(gaps: pd.DataFrame) -> pd.DataFrame:
    """The intents whose answers the panel corrects most."""
    if gaps.empty:
        return gaps
    return pd.DataFrame({
        "Intent": gaps["intent"], "Reviewed": gaps["reviewed"],
        "Need correcting": gaps["needs_correction"],
        "Share [95% CI]": [_interval(v, lo, hi, "{:.0%}") for v, lo, hi in
                           zip(gaps["share"], gaps["ci_low"], gaps["ci_high"], strict=True)],
        "Weakest criterion": gaps["weakest_criterion"].fillna("-"),
        "Examples": [", ".join(map(str, e)) for e in gaps["examples"]]})
