"""LLM judges held to the panel's standard: agreement, the alternative annotator test and
the judge's bias, per group of the people whose conversations are judged.

An LLM judge is one more rater. Given the panel's rubric ratings and the judge's scores
of the same conversations, and each conversation's user group, :func:`judge_analysis`
reports for every criterion, over all conversations and within each group:

- **Agreement** (Krippendorff's ordinal alpha with bootstrap intervals over
  conversations, :func:`audits.raters.agreement_groups.agreement_by_group`): among the
  panel; between the judge and the panel's median (two raters); and of the panel with the
  judge added as one more rater.
- **The alternative annotator test** (Calderon, Reichart and Dror, ACL 2025: can the
  judge replace a human annotator?). For each panel reviewer ``j`` and each conversation
  ``j`` rated with at least one other reviewer, the judge "wins" when its score is at
  least as close to the other reviewers' mean as ``j``'s is, and ``j`` wins when ``j``'s
  is at least as close as the judge's. With ``d_i = win_judge - win_j``, a one-sided
  t-test of ``H0: mean(d) <= -epsilon`` per reviewer; Benjamini-Yekutieli over the
  reviewers at ``q``; the winning rate ``omega`` is the share of reviewers whose null is
  rejected, and the judge passes where ``omega >= 0.5``. ``rho`` is the judge's mean
  advantage probability (its share of wins, averaged over reviewers).
- **Bias**: the judge's mean offset from the panel (judge minus the panel's mean, per
  conversation), per group, with a bootstrap interval over conversations; and each
  group's offset minus the other conversations' offset, with an interval and a p-value
  (Welch's t-test of the two mean offsets), adjusted with
  Benjamini-Yekutieli over the groups and criteria. A judge harsher on one group than on
  the others shows here, and only here, apart from how good the answers were (both the
  judge and the panel rated the same answers). The differential rater functioning test
  used for reviewer groups permutes reviewers between rater groups, which one judge
  against a panel cannot give a useful permutation distribution, so the offset is
  compared directly.
- **Automation bias**, when the panel's ratings say whether the reviewer saw the judge's
  scores (a ``judge_shown`` column, randomised per conversation and reviewer): how much
  seeing the judge's verdict (pass: a score of at least ``pass_at``; for ``harmful``, a
  score of 1 means harmful) raises reviewers' agreement with it, overall and per group,
  by :func:`audits.raters.automation.automation_bias` (reviewer jackknife intervals).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from audits.fairness.intervals import bootstrap_means
from audits.raters.agreement_groups import agreement_by_group
from audits.raters.automation import automation_bias

__all__ = ["EPSILON", "JudgeAnalysis", "alternative_annotator_test", "judge_analysis"]

#: The alternative annotator test's tolerance: the judge may be this much less often the
#: better-aligned rater and still count as able to replace a reviewer (the paper's
#: default for skilled annotators is 0.1, for crowd workers 0.2).
EPSILON = 0.2
ALL = "all conversations"
MSG_COLUMNS = "{name} needs the columns {needed}; it has {present}"
MSG_NO_GROUP = "conversation {cid!r} has ratings but no user group"
MSG_EPSILON = "epsilon must lie in [0, 1); got {value!r}"


@dataclass(frozen=True)
class JudgeAnalysis:
    """What :func:`judge_analysis` found: three tidy tables and the settings."""

    agreement: pd.DataFrame
    alt_test: pd.DataFrame
    bias: pd.DataFrame
    config: dict[str, Any]
    automation: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"agreement", "alt_test", "bias", "automation", "config"}``,
        each table a list of row objects (NaN as None; ``automation`` empty when the
        ratings do not say whether the judge was shown)."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
        return {"agreement": rows(self.agreement), "alt_test": rows(self.alt_test),
                "bias": rows(self.bias), "automation": rows(self.automation),
                "config": dict(self.config)}


def judge_analysis(
    panel: pd.DataFrame, judge: pd.DataFrame, groups: Mapping[Any, str] | pd.Series, *,
    criteria: Sequence[str] | None = None, epsilon: float = EPSILON, q: float = 0.05,
    n_boot: int = 1000, random_state: int = 0, level: float = 0.95, pass_at: float = 3.0,
) -> JudgeAnalysis:
    """Hold a judge to the panel's standard, per criterion and per user group.

    Parameters
    ----------
    panel : pandas.DataFrame
        The panel's ratings, long: ``conversation_id, reviewer_id, criterion, score``.
    judge : pandas.DataFrame
        The judge's scores: ``conversation_id, criterion, score`` (one per pair).
    groups : mapping or pandas.Series
        Conversation id -> user group (every rated conversation needs one).
    criteria : sequence of str or None
        The criteria to analyse (None: every one both the panel and the judge scored).
    epsilon, q : float
        The alternative annotator test's tolerance and its false discovery rate.
    pass_at : float, default 3
        A score of at least this passes (the verdict automation bias is measured on);
        for ``harmful``, 1 means harmful.
    n_boot, random_state, level
        Bootstrap replicates, seed and interval level.

    Returns
    -------
    JudgeAnalysis
    """
    _need(panel, "panel", ("conversation_id", "reviewer_id", "criterion", "score"))
    _need(judge, "judge", ("conversation_id", "criterion", "score"))
    if not 0 <= epsilon < 1:
        raise ValueError(MSG_EPSILON.format(value=epsilon))
    group_of = pd.Series(groups).astype(str)
    rated = pd.unique(panel["conversation_id"])
    for cid in rated:
        if cid not in group_of.index:
            raise ValueError(MSG_NO_GROUP.format(cid=cid))
    chosen = (list(criteria) if criteria is not None else
              sorted(set(panel["criterion"]) & set(judge["criterion"])))
    rng = np.random.default_rng(random_state)
    agreement, alt, bias, automation = [], [], [], []
    for criterion in chosen:
        mine = panel[panel["criterion"] == criterion]
        theirs = judge[judge["criterion"] == criterion].set_index("conversation_id")["score"]
        theirs = theirs[theirs.index.isin(mine["conversation_id"])]
        agreement.append(_agreement(mine, theirs, group_of, criterion, n_boot,
                                    random_state, level))
        for group, cids in [(ALL, list(pd.unique(mine["conversation_id"]))),
                            *_by_group(mine, group_of)]:
            part = mine[mine["conversation_id"].isin(cids)]
            alt.append({"criterion": criterion, "group": group,
                        **alternative_annotator_test(part, theirs, epsilon=epsilon, q=q)})
        bias += _bias(mine, theirs, group_of, criterion, rng, n_boot, level)
        if "judge_shown" in mine.columns:
            automation.append(_automation(mine, theirs, group_of, criterion, pass_at,
                                          level))
    bias_table = pd.DataFrame(bias)
    if len(bias_table):
        p = bias_table["p_value"].to_numpy(dtype=float)
        known = ~np.isnan(p)
        adjusted = np.full(len(p), np.nan)
        if known.any():
            adjusted[known] = stats.false_discovery_control(p[known], method="by")
        bias_table["p_adjusted"] = adjusted
    return JudgeAnalysis(
        agreement=pd.concat(agreement, ignore_index=True) if agreement else pd.DataFrame(),
        alt_test=pd.DataFrame(alt), bias=bias_table,
        automation=(pd.concat(automation, ignore_index=True) if automation
                    else pd.DataFrame()),
        config={"criteria": chosen, "epsilon": epsilon, "q": q, "n_boot": n_boot,
                "random_state": random_state, "level": level, "pass_at": pass_at,
                "agreement": "krippendorff_alpha (ordinal)",
                "alt_test": "Calderon, Reichart and Dror (ACL 2025), one-sided t-tests, "
                            "Benjamini-Yekutieli over reviewers",
                "bias": "judge minus the panel's mean, bootstrap intervals over "
                        "conversations, Welch's t-test, Benjamini-Yekutieli over groups "
                        "and criteria"})


def alternative_annotator_test(panel: pd.DataFrame, judge: pd.Series, *,
                               epsilon: float = EPSILON, q: float = 0.05) -> dict[str, Any]:
    """The alternative annotator test of one criterion (see the module).

    Parameters
    ----------
    panel : pandas.DataFrame
        ``conversation_id, reviewer_id, score``.
    judge : pandas.Series
        The judge's score, indexed by conversation id.

    Returns
    -------
    dict
        ``reviewers`` (tested: each with at least two conversations shared with another
        reviewer and the judge), ``omega`` (winning rate), ``rho`` (mean advantage
        probability), ``passes`` (``omega >= 0.5``: the judge could replace a reviewer
        here; False means this was not shown, which few conversations per reviewer can
        also cause; None with no reviewer tested), ``n_conversations`` and
        ``median_per_reviewer`` (conversations each reviewer was tested on).

    Examples
    --------
    >>> panel = pd.DataFrame({"conversation_id": [1, 1, 2, 2, 3, 3] * 2,
    ...                       "reviewer_id": ["a", "b"] * 6,
    ...                       "score": [4, 5, 2, 2, 3, 4, 5, 5, 1, 2, 4, 4]})
    >>> panel["conversation_id"] += np.repeat([0, 3], 6)
    >>> judge = pd.Series([4.5, 2, 3.5, 5, 1.5, 4], index=[1, 2, 3, 4, 5, 6])
    >>> alternative_annotator_test(panel, judge)["passes"]
    True
    """
    wide = panel.pivot_table(index="conversation_id", columns="reviewer_id", values="score",
                             aggfunc="first")
    wide = wide[wide.index.isin(judge.index)]
    values = wide.to_numpy(dtype=float)
    llm = judge.reindex(wide.index).to_numpy(dtype=float)
    p_values, advantages, sizes = [], [], []
    for j in range(values.shape[1]):
        own = values[:, j]
        others = np.delete(values, j, axis=1)
        count = np.sum(~np.isnan(others), axis=1)
        usable = ~np.isnan(own) & (count >= 1)
        if usable.sum() < 2:
            continue
        rest = np.nansum(others[usable], axis=1) / count[usable]
        judge_gap = np.abs(llm[usable] - rest)
        own_gap = np.abs(own[usable] - rest)
        win_judge = (judge_gap <= own_gap).astype(float)
        win_own = (own_gap <= judge_gap).astype(float)
        d = win_judge - win_own + epsilon
        advantages.append(float(win_judge.mean()))
        sizes.append(int(usable.sum()))
        if np.allclose(d, d[0]):
            p_values.append(0.0 if d[0] > 0 else 1.0)
        else:
            p_values.append(float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue))
    if not p_values:
        return {"reviewers": 0, "omega": None, "rho": None, "passes": None,
                "n_conversations": int(len(wide)), "median_per_reviewer": 0}
    rejected = _by_rejections(np.array(p_values), q)
    omega = float(rejected.mean())
    return {"reviewers": len(p_values), "omega": omega, "rho": float(np.mean(advantages)),
            "passes": bool(omega >= 0.5), "n_conversations": int(len(wide)),
            "median_per_reviewer": int(np.median(sizes))}


def _by_rejections(p: np.ndarray, q: float) -> np.ndarray:
    """Which nulls Benjamini-Yekutieli rejects at ``q``."""
    adjusted = stats.false_discovery_control(p, method="by")
    out: np.ndarray = adjusted <= q
    return out


def _agreement(mine: pd.DataFrame, theirs: pd.Series, group_of: pd.Series, criterion: str,
               n_boot: int, random_state: int, level: float) -> pd.DataFrame:
    median = mine.groupby("conversation_id")["score"].median()
    judged = pd.DataFrame({"conversation_id": theirs.index, "reviewer_id": "judge",
                           "score": theirs.to_numpy()})
    layouts = {
        "panel": mine[["conversation_id", "reviewer_id", "score"]],
        "judge_vs_panel": pd.concat([
            pd.DataFrame({"conversation_id": median.index, "reviewer_id": "panel median",
                          "score": median.to_numpy()}), judged], ignore_index=True),
        "panel_and_judge": pd.concat([mine[["conversation_id", "reviewer_id", "score"]],
                                      judged], ignore_index=True),
    }
    parts = []
    for who, ratings in layouts.items():
        everyone = dict.fromkeys(pd.unique(ratings["conversation_id"]), ALL)
        for groups in (everyone, group_of):
            table = agreement_by_group(
                ratings, groups, statistics=["krippendorff_alpha"], level="ordinal",
                n_boot=n_boot, level_ci=level, random_state=random_state,
                item="conversation_id", rater="reviewer_id", label="score")
            parts.append(table.assign(criterion=criterion, raters=who))
    out = pd.concat(parts, ignore_index=True)
    return out[["criterion", "raters", "group", "value", "ci_low", "ci_high", "n_items"]]


def _automation(mine: pd.DataFrame, theirs: pd.Series, group_of: pd.Series, criterion: str,
                pass_at: float, level: float) -> pd.DataFrame:
    """Automation bias on the criterion's verdict, overall and per group."""
    def verdict(score: pd.Series) -> pd.Series:
        return (score >= 1) if criterion == "harmful" else (score >= pass_at)

    data = pd.DataFrame({
        "case_id": mine["conversation_id"].to_numpy(),
        "reviewer_id": mine["reviewer_id"].to_numpy(),
        "label": verdict(mine["score"]).astype(int).to_numpy(),
        "model_decision": verdict(theirs.reindex(mine["conversation_id"])).astype(int)
        .to_numpy(),
        "model_shown": mine["judge_shown"].astype(bool).to_numpy(),
        "subject_group": group_of.reindex(mine["conversation_id"]).to_numpy()})
    data = data[theirs.reindex(mine["conversation_id"]).notna().to_numpy()]
    overall = automation_bias(data, level=level)
    rows = [{"criterion": criterion, "group": ALL, **dataclasses.asdict(overall)}]
    per_group = automation_bias(data, by="subject_group", level=level)
    assert isinstance(per_group, pd.DataFrame)  # by= gives the table
    for record in per_group.to_dict("records"):
        group = record.pop("subject_group")
        rows.append({"criterion": criterion, "group": str(group), **record})
    return pd.DataFrame(rows)


def _by_group(mine: pd.DataFrame, group_of: pd.Series) -> list[tuple[str, list[Any]]]:
    cids = pd.unique(mine["conversation_id"])
    found = group_of.reindex(cids)
    return [(str(g), list(found.index[found == g])) for g in sorted(found.unique())]


def _bias(mine: pd.DataFrame, theirs: pd.Series, group_of: pd.Series, criterion: str,
          rng: np.random.Generator, n_boot: int, level: float) -> list[dict[str, Any]]:
    offset = (theirs - mine.groupby("conversation_id")["score"].mean()).dropna()
    group = group_of.reindex(offset.index).to_numpy()
    values = offset.to_numpy(dtype=float)
    tail = (1 - level) / 2
    rows = []
    for name in sorted(set(group)):
        inside = group == name
        a, b = values[inside], values[~inside]
        boot_a = bootstrap_means(rng, a, n_boot)
        boot_b = bootstrap_means(rng, b, n_boot)
        diff = boot_a - boot_b
        # Welch's t-test of the two mean offsets (a bootstrap tail could not go below
        # 1 / n_boot, too coarse for the adjustment over every group and criterion).
        p = (float(stats.ttest_ind(a, b, equal_var=False).pvalue)
             if len(a) > 1 and len(b) > 1 and (a.std() > 0 or b.std() > 0)
             else float("nan"))
        rows.append({
            "criterion": criterion, "group": str(name), "n_conversations": int(inside.sum()),
            "offset": float(a.mean()), "offset_ci_low": float(np.quantile(boot_a, tail)),
            "offset_ci_high": float(np.quantile(boot_a, 1 - tail)),
            "offset_elsewhere": float(b.mean()) if len(b) else float("nan"),
            "difference": float(a.mean() - b.mean()) if len(b) else float("nan"),
            "difference_ci_low": float(np.quantile(diff, tail)) if len(b) else float("nan"),
            "difference_ci_high": (float(np.quantile(diff, 1 - tail)) if len(b)
                                   else float("nan")),
            "p_value": p})
    return rows


def _need(frame: pd.DataFrame, name: str, needed: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame) or not set(needed) <= set(frame.columns):
        present = list(frame.columns) if isinstance(frame, pd.DataFrame) else type(frame)
        raise ValueError(MSG_COLUMNS.format(name=name, needed=", ".join(needed),
                                            present=present))


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
