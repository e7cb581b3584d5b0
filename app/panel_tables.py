"""Display shaping for the Agreement and Reviewer bias pages (no statistics).

Each function takes what :func:`audits.raters.stored.analyse_panel` returned (or plain
labels) and returns a label, a short text or a tidy :class:`pandas.DataFrame`; pages
and :mod:`app.panel_charts` only show them, so the shaping is tested without Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

from app.formatting import plain
from audits.raters.automation import AutomationEffect

__all__ = [
    "ALL_CASES",
    "ALPHA_RELIABLE",
    "ALPHA_TENTATIVE",
    "STAT_LABELS",
    "alpha_reading",
    "automation_rows",
    "ci_text",
    "points",
    "points_ci",
    "drf_findings",
    "flagged_reviewers",
    "interval",
    "kappa_matrix",
    "missing_groups",
    "simulated_notice",
    "subject_attributes",
]

#: How each agreement statistic is named on the pages.
STAT_LABELS = {"krippendorff_alpha": "Krippendorff's alpha", "fleiss_kappa": "Fleiss' kappa",
               "gwet_ac1": "Gwet's AC1", "percent_agreement": "Percent agreement"}
#: Krippendorff's conventions: rely on data with alpha >= 0.8; draw tentative
#: conclusions only from 0.667 <= alpha < 0.8; below that, do not rely on them.
ALPHA_RELIABLE, ALPHA_TENTATIVE = 0.8, 0.667
#: The row of :func:`automation_rows` that pools every case.
ALL_CASES = "All cases"


def subject_attributes(labels: Iterable[str]) -> list[str]:
    """Return the sensitive features named in subject-group labels, first seen first.

    Examples
    --------
    >>> subject_attributes(["sex=Female & race=White", "sex=Male & race=Black", "x"])
    ['sex', 'race']
    """
    seen: dict[str, None] = {}
    for label in labels:
        for part in str(label).split(" & "):
            name, sep, _ = part.partition("=")
            if sep and name:
                seen.setdefault(name, None)
    return list(seen)


def interval(value: float | None, low: float | None, high: float | None, *,
             signed: bool = False) -> str:
    """Return ``"value (95% CI low to high)"`` with three decimals, or ``"n/a"``.

    Examples
    --------
    >>> interval(0.4114, 0.3231, 0.4991)
    '0.411 (95% CI 0.323 to 0.499)'
    >>> interval(0.1362, 0.0793, None, signed=True), interval(float("nan"), 0, 1)
    ('+0.136', 'n/a')
    """
    if _missing(value):
        return "n/a"
    text = f"{value:+.3f}" if signed else f"{value:.3f}"
    ci = ci_text(low, high, signed=signed)
    return text if ci is None else f"{text} ({ci})"


def ci_text(low: float | None, high: float | None, *, signed: bool = False) -> str | None:
    """Return ``"95% CI low to high"`` with three decimals, or None without an interval.

    Examples
    --------
    >>> ci_text(0.3231, 0.4991), ci_text(None, 0.5)
    ('95% CI 0.323 to 0.499', None)
    """
    if low is None or high is None or _missing(low) or _missing(high):
        return None
    fmt = "+.3f" if signed else ".3f"
    return f"95% CI {low:{fmt}} to {high:{fmt}}"


def points(value: float) -> str:
    """Return a difference of two shares in percentage points.

    Examples
    --------
    >>> points(0.1162), points(-0.05)
    ('+11.6 points', '-5.0 points')
    """
    return f"{100 * value:+.1f} points"


def points_ci(low: float | None, high: float | None) -> str | None:
    """Return the interval of a difference of shares in percentage points, or None.

    Examples
    --------
    >>> points_ci(0.033, 0.215), points_ci(None, 0.2)
    ('95% CI +3.3 to +21.5 points', None)
    """
    if low is None or high is None or _missing(low) or _missing(high):
        return None
    return f"95% CI {100 * low:+.1f} to {100 * high:+.1f} points"


def alpha_reading(value: float | None) -> str:
    """Return what Krippendorff's conventions make of an alpha.

    Examples
    --------
    >>> alpha_reading(0.85), alpha_reading(0.7), alpha_reading(0.41)
    ('reliable (>= 0.8)', 'tentative (0.667 to 0.8)', 'not reliable (< 0.667)')
    """
    if _missing(value):
        return "undefined"
    if value >= ALPHA_RELIABLE:
        return "reliable (>= 0.8)"
    if value >= ALPHA_TENTATIVE:
        return "tentative (0.667 to 0.8)"
    return "not reliable (< 0.667)"


def simulated_notice(share: float) -> str | None:
    """Return the notice of a panel with simulated reviewers, or None for a real one.

    Examples
    --------
    >>> simulated_notice(0.0) is None
    True
    >>> simulated_notice(1.0)[:38]
    'Simulated panel: 100% of these ratings'
    """
    if not share > 0:
        return None
    return (f"Simulated panel: {share:.0%} of these ratings come from simulated reviewers "
            "whose biases were built in by the demo (a severe reviewer, a background group "
            "harsher on one subject group, automation bias). They show what the analyses "
            "find; they are not people's judgements.")


def missing_groups(values: Sequence[str], shown: Iterable[str]) -> list[str]:
    """Return the background values that are not analysed (fewer than 5 reviewers).

    Examples
    --------
    >>> missing_groups(["woman", "man", "non-binary"], ["man", "woman"])
    ['non-binary']
    """
    present = {str(v) for v in shown}
    return [v for v in values if v not in present]


def kappa_matrix(pairwise: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return Cohen's kappa and the cases in common as square reviewer x reviewer tables.

    Both are symmetric, reviewers sorted by name; the diagonal and pairs without enough
    common cases are NaN (kappa) or 0 (cases).

    Examples
    --------
    >>> p = pd.DataFrame({"reviewer_a": ["b"], "reviewer_b": ["a"], "n_common": [3],
    ...                   "kappa": [0.4]})
    >>> kappa, common = kappa_matrix(p)
    >>> float(kappa.loc["a", "b"]), float(kappa.loc["b", "a"]), int(common.loc["a", "b"])
    (0.4, 0.4, 3)
    """
    names = sorted({*pairwise["reviewer_a"], *pairwise["reviewer_b"]})
    kappa = pd.DataFrame(math.nan, index=names, columns=names)
    common = pd.DataFrame(0, index=names, columns=names)
    for a, b, n, k in pairwise[["reviewer_a", "reviewer_b", "n_common", "kappa"]].itertuples(
            index=False):
        kappa.loc[a, b] = kappa.loc[b, a] = k
        common.loc[a, b] = common.loc[b, a] = int(n)
    return kappa, common


def automation_rows(overall: AutomationEffect | None,
                    by_subject: pd.DataFrame | None) -> pd.DataFrame:
    """Return the automation-bias effect of all cases and of each subject group.

    Columns ``group, value, ci_low, ci_high, agree_shown, agree_hidden, n_shown,
    n_hidden``; the first row is :data:`ALL_CASES`. Empty when nothing was measured.

    Examples
    --------
    >>> e = AutomationEffect(0.1, 0.0, 0.2, 0.4, 0.1, 0.6, 0.8, 0.7, 50, 50, 5)
    >>> automation_rows(e, None)[["group", "value", "agree_shown"]].to_dict("records")
    [{'group': 'All cases', 'value': 0.1, 'agree_shown': 0.8}]
    """
    columns = ["group", "value", "ci_low", "ci_high", "agree_shown", "agree_hidden",
               "n_shown", "n_hidden"]
    if overall is None:
        return pd.DataFrame(columns=columns)
    first = pd.DataFrame([{"group": ALL_CASES, **{c: getattr(overall, c)
                                                  for c in columns[1:]}}])
    if by_subject is None or by_subject.empty:
        return first
    rest = by_subject.rename(columns={"subject_group": "group"})[columns]
    return pd.concat([first, rest], ignore_index=True)


def flagged_reviewers(severity: pd.DataFrame) -> list[str]:
    """Return one sentence per flagged reviewer, most severe first.

    Examples
    --------
    >>> s = pd.DataFrame({"reviewer_id": ["A", "B"], "n": [50, 50], "severity": [0.2, 0.0],
    ...     "ci_low": [0.1, -0.1], "ci_high": [0.3, 0.1], "p_adjusted": [0.01, 1.0],
    ...     "flagged": [True, False]})
    >>> flagged_reviewers(s)[0][:61]
    '**A** is harsher than the panel: severity +0.200 (95% CI +0.1'
    >>> flagged_reviewers(s)[0][-45:]
    'to +0.300) over 50 cases, adjusted p = 0.010.'
    """
    hit = severity[severity["flagged"].astype(bool)]
    lines = []
    for row in hit.reindex(hit["severity"].abs().sort_values(ascending=False).index
                           ).itertuples(index=False):
        way = "harsher" if row.severity > 0 else "more lenient"
        lines.append(f"**{plain(row.reviewer_id)}** is {way} than the panel: severity "
                     f"{interval(row.severity, row.ci_low, row.ci_high, signed=True)} over "
                     f"{int(row.n)} cases, adjusted p = {row.p_adjusted:.3f}.")
    return lines


def drf_findings(drf: pd.DataFrame) -> list[str]:
    """Return one sentence per flagged cell where a reviewer group is harsher.

    A harsher cell (negative effect) is the finding. Mirrors are not repeated: with two
    background groups the other group's column is the negative of the first, and with
    two subject groups the other row is; then only the smaller subject group's row is
    read. Cells flagged only as more lenient are reported when no harsher cell is.

    Examples
    --------
    >>> d = pd.DataFrame({"rater_group": ["man", "woman"], "subject_group": ["sex=F"] * 2,
    ...     "effect": [-0.22, 0.22], "p_adjusted": [0.03, 0.03], "flagged": [True, True],
    ...     "n_cases": [76, 76]})
    >>> lines = drf_findings(d)
    >>> len(lines), lines[0][:61]
    (1, "Reviewers 'man' give cases of **sex=F** fewer positive decisi")
    >>> lines[0][-48:]
    'effect -0.220 over 76 cases, adjusted p = 0.030.'
    """
    hit = drf[drf["flagged"].astype(bool)]
    sizes = drf.groupby("subject_group", sort=False)["n_cases"].max()
    if len(sizes) == 2:
        hit = hit[hit["subject_group"] == sizes.idxmin()]
    part = hit[hit["effect"] < 0] if (hit["effect"] < 0).any() else hit
    lines = []
    for row in part.sort_values("effect").itertuples(index=False):
        way = "fewer" if row.effect < 0 else "more"
        lines.append(f"Reviewers '{plain(row.rater_group)}' give cases of "
                     f"**{plain(row.subject_group)}** "
                     f"{way} positive decisions than the other reviewers do, beyond their "
                     f"usual severity: effect {row.effect:+.3f} over {int(row.n_cases)} "
                     f"cases, adjusted p = {row.p_adjusted:.3f}.")
    return lines


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cannot_tell_table(rates: pd.DataFrame) -> pd.DataFrame:
    """The "cannot tell" rates for reading: the group, answers, cannot tell, rate [interval].

    Examples
    --------
    >>> t = pd.DataFrame({"subject_group": ["a"], "n_answered": [4], "n_cannot_tell": [1],
    ...                   "cannot_tell_rate": [0.25], "ci_low": [0.05], "ci_high": [0.7]})
    >>> cannot_tell_table(t).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'subject group': 'a', 'answers': 4, 'cannot tell': 1,
      'rate [95% interval]': '25.0% [5.0%, 70.0%]'}]
    """
    first = next(c for c in rates.columns if c not in (
        "n_answered", "n_cannot_tell", "cannot_tell_rate", "ci_low", "ci_high"))
    label = {"reviewer_id": "reviewer"}.get(first, first.replace("_", " "))
    return pd.DataFrame({
        label: rates[first].astype(str),
        "answers": rates["n_answered"].astype(int),
        "cannot tell": rates["n_cannot_tell"].astype(int),
        "rate [95% interval]": [f"{r:.1%} [{lo:.1%}, {hi:.1%}]" for r, lo, hi in zip(
            rates["cannot_tell_rate"], rates["ci_low"], rates["ci_high"], strict=True)],
    })

