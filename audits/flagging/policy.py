"""Which flagged decisions a period's reviewers see: a budget, quotas and strata.

A :class:`FlagPolicy` gives each reason of :data:`audits.flagging.flags.REASONS` a share of the
period's budget of cases; :func:`select_cases` fills those seats from a flags table so
that every subject group is represented by need, not just by size, while the random
control stays a uniform sample.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audits.flagging.flags import REASONS, seeded_key, validate_flags
from audits.slices.discovery import METRICS as SLICE_METRICS

__all__ = ["ALLOCATION_COLUMNS", "CASE_COLUMNS", "CONVERSATION_QUOTAS", "DEFAULT_QUOTAS",
           "FILL_ORDER", "FlagPolicy", "MSG_SLICE_METRIC", "Selection", "select_cases"]

#: The group reasons share a fifth of the budget: failing declared groups (disparity) and
#: the worst-off subgroups nobody declared (slice), a tenth each.
DEFAULT_QUOTAS: dict[str, float] = {"low_confidence": 0.2, "disparity": 0.1,
                                    "counterfactual": 0.1, "attribution": 0.1,
                                    "random_control": 0.2, "gold": 0.1, "slice": 0.1,
                                    "active_learning": 0.1}
#: Reasons fill their seats in this order: the control first, so that rows it draws are
#: never taken away by another reason and it stays a uniform sample; gold next; active
#: learning right after low confidence, so its seats go to uncertain rows that low
#: confidence left (unlike the ones it took); a slice right after disparity, so a decision
#: of a failing declared group keeps its disparity seat.
FILL_ORDER: tuple[str, ...] = ("random_control", "gold", "low_confidence", "active_learning",
                               "disparity", "slice", "counterfactual", "attribution",
                               "policy_rule", "asked_for_person", "judge_fail",
                               "negative_sentiment")
#: A conversation queue's shares: the control and gold as for decisions, a policy rule
#: (medical or legal advice, a refund over the limit) and a user asking for a person
#: first among the conversation's own reasons, then the judge's fails, a counterfactual
#: probe's held answers (:mod:`audits.conversations.probing`; no seat without probes),
#: low confidence and negative sentiment (measured in English only: see
#: :func:`audits.conversations.signal_coverage`).
CONVERSATION_QUOTAS: dict[str, float] = {"random_control": 0.2, "gold": 0.1,
                                         "policy_rule": 0.15, "asked_for_person": 0.15,
                                         "judge_fail": 0.1, "counterfactual": 0.1,
                                         "low_confidence": 0.1, "negative_sentiment": 0.1}
#: Reasons whose seats are never split across subject groups.
UNSTRATIFIED: tuple[str, ...] = ("random_control",)
CASE_COLUMNS = ("row", "group", "primary_reason", "reasons", "priority", "rank")
ALLOCATION_COLUMNS = ("reason", "group", "candidates", "quota", "selected")

MSG_BUDGET = "budget must be a non-negative integer; got {value!r}"
MSG_KEY = "{name} names {key!r}, which is not a reason; reasons: {choices}"
MSG_VALUE = "{name}[{key!r}] must be a finite number >= 0; got {value!r}"
MSG_QUOTA_SUM = "quotas must sum to 1; they sum to {total!r}"
MSG_SHARE = "{name} must lie in (0, 1]; got {value!r}"
MSG_FLAG = "{name} must be True or False; got {value!r}"
MSG_SEED = "random_state must be an int; got {value!r}"
MSG_UNKNOWN_KEYS = "unknown policy key(s) {keys}; keys: {known}"
MSG_NOT_MAPPING = "expected a mapping; got {kind}"
MSG_GROUPS_TYPE = "groups must be a pandas Series mapping row -> subject group; got {kind}"
MSG_GROUPS_DUPLICATE = "groups has duplicate row {row!r}"
MSG_GROUP_MISSING = "flagged row {row!r} has no subject group in groups"
MSG_POLICY_TYPE = "policy must be a FlagPolicy; got {kind}"
MSG_SLICE_METRIC = "slice_metric must be one of {choices}; got {value!r}"
_QUOTA_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FlagPolicy:
    """How many cases go to people per period, and how they are shared out.

    Parameters
    ----------
    budget : int, default 200
        Cases per period (per batch).
    quotas : mapping of str to float, default :data:`DEFAULT_QUOTAS`
        Share of the budget per reason; >= 0, keys in ``REASONS`` (a missing reason
        gets 0), summing to 1 within 1e-9.
    weights : mapping of str to float, default 1.0 for every reason
        Priority weights for ordering the queue (a missing reason gets 1.0).
    stratify : bool, default True
        Split each reason's seats across subject groups by need.
    low_confidence_margin : float, default 0.1
        For :func:`audits.flagging.flags.low_confidence_flags`.
    attribution_min_share : float, default 0.5
        For :func:`audits.flagging.flags.attribution_flags`: the share of a decision's SHAP
        attribution carried by sensitive features and likely proxies (on Adult, sex's
        proxies carry a median 37% of every decision's attribution, so 0.2 flags nearly all).
    slice_metric : str, default "error_rate"
        What the slice reason's subgroups are worse at
        (:func:`audits.slices.find_slices`): ``"error_rate"``, ``"false_positive_rate"``,
        ``"false_negative_rate"`` or ``"selection_rate"``. The error rate by default: a
        subgroup where the model is wrong more often is where a person's second look
        helps most, whatever the audit's failing metric (failing declared groups are the
        disparity reason's). A quota of 0 for ``"slice"`` turns the reason off.
    random_state : int, default 0

    Raises
    ------
    ValueError
        A value out of range, an unknown reason, or quotas that do not sum to 1.

    Examples
    --------
    >>> policy = FlagPolicy(budget=10)
    >>> FlagPolicy.from_dict(policy.as_dict()) == policy
    True
    """

    budget: int = 200
    quotas: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(REASONS, 1.0))
    stratify: bool = True
    low_confidence_margin: float = 0.1
    attribution_min_share: float = 0.5
    slice_metric: str = "error_rate"
    random_state: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.budget) or self.budget < 0:
            raise ValueError(MSG_BUDGET.format(value=self.budget))
        quotas = _per_reason(self.quotas, "quotas", 0.0)
        total = math.fsum(quotas.values())
        if abs(total - 1.0) > _QUOTA_TOLERANCE:
            raise ValueError(MSG_QUOTA_SUM.format(total=total))
        object.__setattr__(self, "quotas", quotas)
        object.__setattr__(self, "weights", _per_reason(self.weights, "weights", 1.0))
        if not isinstance(self.stratify, bool | np.bool_):
            raise ValueError(MSG_FLAG.format(name="stratify", value=self.stratify))
        for name in ("low_confidence_margin", "attribution_min_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0.0 < value <= 1.0:
                raise ValueError(MSG_SHARE.format(name=name, value=value))
        if not isinstance(self.slice_metric, str) or self.slice_metric not in SLICE_METRICS:
            raise ValueError(MSG_SLICE_METRIC.format(choices=", ".join(SLICE_METRICS),
                                                     value=self.slice_metric))
        if not _is_int(self.random_state):
            raise ValueError(MSG_SEED.format(value=self.random_state))

    def as_dict(self) -> dict[str, Any]:
        """Return the policy as JSON-safe data that :meth:`from_dict` reads back.

        Examples
        --------
        >>> FlagPolicy().as_dict()["quotas"]["gold"]
        0.1
        """
        return {"budget": int(self.budget), "quotas": dict(self.quotas),
                "weights": dict(self.weights), "stratify": bool(self.stratify),
                "low_confidence_margin": float(self.low_confidence_margin),
                "attribution_min_share": float(self.attribution_min_share),
                "slice_metric": str(self.slice_metric),
                "random_state": int(self.random_state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlagPolicy:
        """Build a policy from :meth:`as_dict` data; missing keys take their defaults.

        Examples
        --------
        >>> FlagPolicy.from_dict({"budget": 5}).budget
        5
        """
        if not isinstance(data, Mapping):
            raise TypeError(MSG_NOT_MAPPING.format(kind=type(data).__name__))
        known = list(cls.__dataclass_fields__)
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(MSG_UNKNOWN_KEYS.format(keys=unknown, known=known))
        return cls(**dict(data))


@dataclass(frozen=True, eq=False)
class Selection:
    """The cases chosen for review, and how the seats were shared out.

    Attributes
    ----------
    cases : pandas.DataFrame
        One row per selected case, by ``rank``: ``row``, ``group``, ``primary_reason``
        (the reason whose seat it took), ``reasons`` (tuple of all its reasons, in
        ``REASONS`` order), ``priority`` (sum of ``weights[reason] * score``) and ``rank``
        (1..n by priority, descending; ties in a seeded order).
    allocation : pandas.DataFrame
        One row per (reason, subject group) with candidates: ``candidates`` (rows
        flagged for the reason), ``quota`` (the group's seats when the reason's filled
        seats are split by need, as stratification plans them; for an unstratified
        reason, what stratification would have given) and ``selected`` (cases whose
        primary reason it is). ``quota`` and ``selected`` differ only where rows are
        shared between reasons, seats were handed over in later rounds, or the reason is
        not stratified.
    """

    cases: pd.DataFrame
    allocation: pd.DataFrame


def select_cases(flags: pd.DataFrame, groups: pd.Series, policy: FlagPolicy) -> Selection:
    """Pick a budgeted, stratified review queue from a flags table.

    1. Each reason gets ``budget * quota`` seats (largest remainder, so they sum to the
       budget; equal remainders go to the reason first in ``REASONS``).
    2. Reasons fill their seats in :data:`FILL_ORDER` from rows not yet selected: a row
       is selected at most once, for the first reason that takes it, and carries all of
       its reasons. The random control goes first so nothing is taken out of its sample.
    3. Seats a reason cannot fill pass to the reasons that still have candidates, in
       proportion to their quotas (equally if those are all 0), round after round until
       the budget is met or the candidates run out: the queue holds
       ``min(budget, distinct flagged rows)`` cases.
    4. With ``stratify``, a reason's seats in a round are split across subject groups by
       NEED, the sum of the reason's scores over the group's available candidates
       (largest remainder; a group never gets more seats than candidates; every group
       with candidates gets a seat when there are at least as many seats as groups,
       taken from the group most above its exact share). The random control is never
       stratified: splitting it by group would make it a biased estimate of the error
       rate. Without ``stratify`` every reason picks across all groups.
    5. Within a group (or a whole unstratified reason) the highest score comes first,
       ties in the seeded order of :func:`audits.flagging.flags.seeded_key`; the random
       control takes rows in that seeded order only.
    6. ``priority`` is the sum over a row's reasons of ``weights[reason] * score``; cases
       are ranked by priority, descending, ties in the seeded order.

    Row labels, scores and group labels decide everything, never the order of the rows
    in ``flags``: the same inputs and seed give the same selection.

    Parameters
    ----------
    flags : pandas.DataFrame
        A table with :data:`audits.flagging.flags.FLAG_COLUMNS`.
    groups : pandas.Series
        Row label -> subject-group label (e.g. ``"sex=Female & race=White"``); must
        cover every flagged row.
    policy : FlagPolicy

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        An invalid flags table, or a flagged row missing from ``groups``.

    Examples
    --------
    >>> from audits.flagging.flags import low_confidence_flags
    >>> flags = low_confidence_flags(pd.Series([0.5, 0.45, 0.52, 0.9]), threshold=0.5)
    >>> groups = pd.Series(["A", "A", "B", "B"])
    >>> policy = FlagPolicy(budget=2, quotas={"low_confidence": 1.0})
    >>> select_cases(flags, groups, policy).cases[["row", "group", "rank"]].values.tolist()
    [[0, 'A', 1], [2, 'B', 2]]
    """
    table = validate_flags(flags)
    if not isinstance(policy, FlagPolicy):
        raise TypeError(MSG_POLICY_TYPE.format(kind=type(policy).__name__))
    group_of = _group_map(groups, table["row"].tolist())
    seed = policy.random_state
    pools = {reason: _pool(table, reason, group_of, seed) for reason in REASONS}
    taken = _fill(pools, policy)
    return Selection(cases=_cases(table, taken, group_of, policy),
                     allocation=_allocation(pools, taken, policy))


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _per_reason(values: Mapping[str, float], name: str, default: float) -> dict[str, float]:
    """Every reason in ``REASONS`` order, checked, with ``default`` for missing ones."""
    if not isinstance(values, Mapping):
        raise TypeError(MSG_NOT_MAPPING.format(kind=type(values).__name__))
    for key, value in values.items():
        if key not in REASONS:
            raise ValueError(MSG_KEY.format(name=name, key=key, choices=", ".join(REASONS)))
        ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or float(value) < 0:
            raise ValueError(MSG_VALUE.format(name=name, key=key, value=value))
    return {r: float(values.get(r, default)) for r in REASONS}


# --- filling ---------------------------------------------------------------------


def _pool(table: pd.DataFrame, reason: str, group_of: Mapping[Hashable, str],
          seed: int) -> pd.DataFrame:
    """A reason's candidates in pick order: highest score first, then seeded order."""
    part = table.loc[table["reason"] == reason, ["row", "score"]]
    keys = [seeded_key(row, seed) for row in part["row"].tolist()]
    pool = part.assign(group=[group_of[row] for row in part["row"].tolist()],
                       _key=[k[0] for k in keys], _text=[k[1] for k in keys])
    if reason in UNSTRATIFIED:
        return pool.sort_values(["_key", "_text"], kind="stable")
    return pool.sort_values(["score", "_key", "_text"], ascending=[False, True, True])


def _fill(pools: Mapping[str, pd.DataFrame], policy: FlagPolicy) -> dict[Hashable, str]:
    """Row -> the reason whose seat it took, filling rounds until the budget is met."""
    initial = _largest_remainder(policy.budget, [policy.quotas[r] for r in REASONS])
    target = dict(zip(REASONS, initial, strict=True))
    taken: dict[Hashable, str] = {}
    filled = dict.fromkeys(REASONS, 0)
    while True:
        for reason in FILL_ORDER:
            want = target[reason] - filled[reason]
            if want > 0:
                for row in _pick(reason, pools[reason], taken, want, policy.stratify):
                    taken[row] = reason
                    filled[reason] += 1
        deficit = policy.budget - len(taken)
        open_ = [r for r in REASONS if not pools[r]["row"].isin(list(taken)).all()]
        if deficit <= 0 or not open_:
            return taken
        extra = _largest_remainder(deficit, [policy.quotas[r] for r in open_])
        target = dict(filled)
        for reason, seats in zip(open_, extra, strict=True):
            target[reason] += seats


def _pick(reason: str, pool: pd.DataFrame, taken: Mapping[Hashable, str], want: int,
          stratify: bool) -> list[Hashable]:
    free = pool[~pool["row"].isin(list(taken))]
    if reason in UNSTRATIFIED or not stratify:
        return list(free["row"].tolist()[:want])
    by_group = {str(g): part for g, part in free.groupby("group", sort=True)}
    seats = _apportion(want, {g: float(p["score"].sum()) for g, p in by_group.items()},
                       {g: len(p) for g, p in by_group.items()})
    return [row for g, part in by_group.items() for row in part["row"].tolist()[:seats[g]]]


def _apportion(total: int, need: Mapping[str, float], caps: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` seats by need, capped by candidates, at least one per group."""
    names = sorted(g for g in caps if caps[g] > 0)
    seats = dict.fromkeys(caps, 0)
    remaining = min(total, sum(caps[g] for g in names))
    weight = {g: need[g] for g in names} if sum(need[g] for g in names) > 0 else \
        {g: float(caps[g]) for g in names}
    active = list(names)
    while remaining > 0:
        split = dict(zip(active, _largest_remainder(remaining, [weight[g] for g in active]),
                         strict=True))
        over = [g for g in active if seats[g] + split[g] > caps[g]]
        if not over:
            for g in active:
                seats[g] += split[g]
            break
        for g in over:
            remaining -= caps[g] - seats[g]
            seats[g] = caps[g]
            active.remove(g)
    placed = sum(seats.values())
    if placed >= len(names):
        exact = {g: placed * weight[g] / sum(weight.values()) for g in names}
        for g in [g for g in names if seats[g] == 0]:
            # max() keeps the first of equals, so ties go to the first group by label.
            donor = max((d for d in names if seats[d] >= 2), key=lambda d: seats[d] - exact[d])
            seats[donor] -= 1
            seats[g] = 1
    return seats


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Integers summing to ``total`` in proportion to ``weights`` (equal if all 0)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) == 0:
        return []
    if w.sum() <= 0:
        w = np.ones(len(w))
    exact = np.round(total * w / w.sum(), 9)
    out = np.floor(exact).astype(np.int64)
    # Rounded again: 1.333333333 - 1 falls a hair below 0.333333333, which would break a
    # tie of equal remainders against the reason first in order.
    order = np.argsort(-np.round(exact - out, 9), kind="stable")
    out[order[: total - int(out.sum())]] += 1
    return [int(v) for v in out]


# --- outputs ---------------------------------------------------------------------


def _group_map(groups: Any, rows: Sequence[Hashable]) -> dict[Hashable, str]:
    if not isinstance(groups, pd.Series):
        raise TypeError(MSG_GROUPS_TYPE.format(kind=type(groups).__name__))
    if groups.index.has_duplicates:
        raise ValueError(MSG_GROUPS_DUPLICATE.format(
            row=groups.index[groups.index.duplicated()][0]))
    known = groups.dropna()
    for row in rows:
        if row not in known.index:
            raise ValueError(MSG_GROUP_MISSING.format(row=row))
    return {row: str(known.loc[row]) for row in dict.fromkeys(rows)}


def _cases(table: pd.DataFrame, taken: Mapping[Hashable, str],
           group_of: Mapping[Hashable, str], policy: FlagPolicy) -> pd.DataFrame:
    chosen = table[table["row"].isin(list(taken))]
    rows = list(taken)
    reasons: dict[Hashable, list[str]] = {row: [] for row in rows}
    priority = dict.fromkeys(rows, 0.0)
    for row, reason, score in zip(chosen["row"], chosen["reason"], chosen["score"],
                                  strict=True):
        reasons[row].append(reason)
        priority[row] += policy.weights[reason] * float(score)
    order = sorted(rows, key=lambda r: (-priority[r], seeded_key(r, policy.random_state)))
    return pd.DataFrame({
        "row": pd.Series(order, dtype=object if not order else None),
        "group": pd.Series([group_of[r] for r in order], dtype=object),
        "primary_reason": pd.Series([taken[r] for r in order], dtype=object),
        "reasons": pd.Series([tuple(sorted(reasons[r], key=REASONS.index)) for r in order],
                             dtype=object),
        "priority": np.asarray([priority[r] for r in order], dtype=np.float64),
        "rank": np.arange(1, len(order) + 1, dtype=np.int64),
    })


def _allocation(pools: Mapping[str, pd.DataFrame], taken: Mapping[Hashable, str],
                policy: FlagPolicy) -> pd.DataFrame:
    records = []
    for reason in REASONS:
        pool = pools[reason]
        counts = pool.groupby("group", sort=True)["score"].agg(["size", "sum"])
        names = [str(g) for g in counts.index]
        filled = sum(1 for r in taken.values() if r == reason)
        quota = _apportion(filled, dict(zip(names, counts["sum"].astype(float), strict=True)),
                           dict(zip(names, counts["size"].astype(int), strict=True)))
        mine = [taken.get(row) == reason for row in pool["row"].tolist()]
        picked = pool.loc[mine, "group"].value_counts()
        for name, size in zip(names, counts["size"], strict=True):
            records.append((reason, name, int(size), quota[name], int(picked.get(name, 0))))
    return pd.DataFrame.from_records(records, columns=list(ALLOCATION_COLUMNS)).astype(
        {"reason": object, "group": object, "candidates": np.int64, "quota": np.int64,
         "selected": np.int64})
