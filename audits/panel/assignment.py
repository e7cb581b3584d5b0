"""The reviewer panel: who rates which flagged case, and under which blind condition.

Each case is rated by ``overlap`` reviewers chosen greedily, case by case, to spread the
reviewers' self-reported backgrounds (:func:`audits.panel.diversity.diversity_score`)
while balancing workload, respecting capacity and conflicts of interest, and giving every
reviewer an even share of gold and control items. Every assignment also records a
randomized blind design: for an exact share of assignments the model's decision and score
are hidden (so automation bias can later be estimated as a randomized experiment), and
optionally the sensitive attributes. Pure: pandas/numpy in, frames out, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from audits.panel.diversity import (
    MSG_TYPE,
    PanelState,
    blind_design,
    check_cases,
    check_done,
    check_exclusions,
    check_kinds,
    check_pairs_frame,
    check_type,
    diversity_score,
    interleave_cases,
    tidy_frame,
)

__all__ = ["DEFAULT_CONFIG", "TABLE_COLUMNS", "Assignment", "PanelConfig", "Reviewer",
           "assign_cases", "diversity_score", "reassign"]

TABLE_COLUMNS = ("case_id", "reviewer_id", "slot", "model_shown", "sensitive_shown", "kind")

MSG_REVIEWER_ID = "reviewer_id must be a non-empty string; got {value!r}"
MSG_CAPACITY = "capacity of reviewer {reviewer!r} must be an integer >= 0; got {value!r}"
MSG_BACKGROUND = ("background of reviewer {reviewer!r} must map attribute names to string "
                  "values; got {key!r}: {value!r}")
MSG_AVAILABLE = "available of reviewer {reviewer!r} must be True or False; got {value!r}"
MSG_OVERLAP = "overlap must be an integer >= 1; got {value!r}"
MSG_SHARE = "{name} must lie in [0, 1]; got {value!r}"
MSG_WEIGHT = "workload_weight must be a finite number >= 0; got {value!r}"
MSG_SEED = "random_state must be a non-negative int; got {value!r}"
MSG_ATTRIBUTES = "attributes must be None or distinct non-empty strings; got {value!r}"
MSG_UNKNOWN_KEYS = "unknown panel config key(s) {keys}; keys: {known}"
MSG_NOT_MAPPING = "expected a mapping; got {kind}"
MSG_DUPLICATE_REVIEWER = "duplicate reviewer id {reviewer!r}"
MSG_UNAVAILABLE_UNKNOWN = "unavailable names unknown reviewer {reviewer!r}"


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: object) -> bool:
    return isinstance(value, float | np.floating) or _is_int(value)


@dataclass(frozen=True)
class Reviewer:
    """A panel member.

    Parameters
    ----------
    reviewer_id : str
    capacity : int
        Most open assignments at once; >= 0.
    background : mapping of str to str, default {}
        Self-reported attribute -> value; an absent attribute is not disclosed and is
        never guessed. Stored as a read-only copy.
    available : bool, default True

    Examples
    --------
    >>> Reviewer("r1", 5, {"region": "north"}).background["region"]
    'north'
    """

    reviewer_id: str
    capacity: int
    background: Mapping[str, str] = field(default_factory=dict)
    available: bool = True

    def __post_init__(self) -> None:
        rid = self.reviewer_id
        if not isinstance(rid, str) or not rid:
            raise ValueError(MSG_REVIEWER_ID.format(value=rid))
        if not _is_int(self.capacity) or self.capacity < 0:
            raise ValueError(MSG_CAPACITY.format(reviewer=rid, value=self.capacity))
        if not isinstance(self.background, Mapping):
            raise TypeError(MSG_TYPE.format(name="background", expected="a mapping",
                                            kind=type(self.background).__name__))
        for key, value in self.background.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(MSG_BACKGROUND.format(reviewer=rid, key=key, value=value))
        if not isinstance(self.available, bool | np.bool_):
            raise ValueError(MSG_AVAILABLE.format(reviewer=rid, value=self.available))
        object.__setattr__(self, "background", MappingProxyType(dict(self.background)))


@dataclass(frozen=True)
class PanelConfig:
    """How cases are assigned.

    Parameters
    ----------
    overlap : int, default 3
        Reviewers per case.
    hide_model_share : float, default 0.5
        Share of assignments (exactly ``round(share * n)`` of the ``n`` made in one call,
        chosen by a seeded random permutation) whose model decision and score are hidden.
    hide_sensitive_share : float, default 0.0
        Likewise for the case's sensitive attributes, drawn independently.
    attributes : tuple of str or None, default None
        Background attributes that count for diversity; None: every attribute any
        reviewer disclosed.
    workload_weight : float, default 1.0
        A candidate's score is its marginal diversity gain minus ``workload_weight``
        times its excess load (see :func:`assign_cases`). Since gains of two candidates
        differ by at most 1, a weight >= 1 always picks among the least-loaded eligible
        reviewers; lower weights trade balance for diversity; 0 ignores load.
    random_state : int, default 0

    Examples
    --------
    >>> config = PanelConfig(overlap=2, attributes=("region",))
    >>> PanelConfig.from_dict(config.as_dict()) == config
    True
    """

    overlap: int = 3
    hide_model_share: float = 0.5
    hide_sensitive_share: float = 0.0
    attributes: tuple[str, ...] | None = None
    workload_weight: float = 1.0
    random_state: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.overlap) or self.overlap < 1:
            raise ValueError(MSG_OVERLAP.format(value=self.overlap))
        for name in ("hide_model_share", "hide_sensitive_share"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:  # also rejects NaN
                raise ValueError(MSG_SHARE.format(name=name, value=value))
        weight = self.workload_weight
        if not _is_number(weight) or not math.isfinite(weight) or weight < 0:
            raise ValueError(MSG_WEIGHT.format(value=weight))
        if not _is_int(self.random_state) or self.random_state < 0:
            raise ValueError(MSG_SEED.format(value=self.random_state))
        if self.attributes is not None:
            names = self.attributes
            bad = isinstance(names, str) or not all(isinstance(a, str) and a for a in names)
            if bad or len(set(names)) != len(names):
                raise ValueError(MSG_ATTRIBUTES.format(value=names))
            object.__setattr__(self, "attributes", tuple(names))

    def as_dict(self) -> dict[str, Any]:
        """Return JSON-safe data that :meth:`from_dict` reads back, with the method."""
        return {"overlap": int(self.overlap), "hide_model_share": float(self.hide_model_share),
                "hide_sensitive_share": float(self.hide_sensitive_share),
                "attributes": None if self.attributes is None else list(self.attributes),
                "workload_weight": float(self.workload_weight),
                "random_state": int(self.random_state),
                "method": "greedy, case by case (gold/control interleaved): marginal "
                          "Gini-Simpson diversity gain minus workload_weight * excess load; "
                          "blind conditions by exact randomization"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PanelConfig:
        """Build a config from :meth:`as_dict` data; missing keys take their defaults.

        Examples
        --------
        >>> PanelConfig.from_dict({"overlap": 2}).overlap
        2
        """
        if not isinstance(data, Mapping):
            raise TypeError(MSG_NOT_MAPPING.format(kind=type(data).__name__))
        known = list(cls.__dataclass_fields__)
        unknown = sorted(str(k) for k in data if k not in known and k != "method")
        if unknown:
            raise ValueError(MSG_UNKNOWN_KEYS.format(keys=unknown, known=known))
        return cls(**{k: v for k, v in data.items() if k != "method"})


DEFAULT_CONFIG = PanelConfig()


@dataclass(frozen=True, eq=False)
class Assignment:
    """Who rates what, and how well it worked out.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (case, reviewer), in the order cases were filled: ``case_id,
        reviewer_id, slot`` (1..overlap), ``model_shown, sensitive_shown`` (bool, the
        blind condition), ``kind``.
    unfilled : pandas.DataFrame
        ``case_id, missing`` (slots left open), ``reason``; one row per short case.
    diversity : pandas.DataFrame
        ``case_id, diversity``: the score of each case's whole reviewer set.
    workload : pandas.DataFrame
        ``reviewer_id, assigned`` (new), ``total`` (open, with existing), ``capacity``,
        ``gold_control`` (gold and control items, with existing ones of known kind).
    """

    table: pd.DataFrame
    unfilled: pd.DataFrame
    diversity: pd.DataFrame
    workload: pd.DataFrame


def assign_cases(
    cases: Sequence[Hashable],
    reviewers: Sequence[Reviewer],
    *,
    config: PanelConfig = DEFAULT_CONFIG,
    kinds: Mapping[Hashable, str] | None = None,
    exclusions: Mapping[Hashable, Collection[str]] | None = None,
    existing: pd.DataFrame | None = None,
    done: Collection[tuple[Hashable, str]] = (),
) -> Assignment:
    """Assign each case to ``config.overlap`` reviewers, greedily maximising diversity.

    Algorithm: cases are filled one at a time, in priority order with each kind's items
    spread evenly (:func:`audits.panel.diversity.interleave_cases`), so gold and control
    items reach every reviewer throughout. For each open slot, the eligible reviewers
    (available, open load below capacity, not excluded, not already on the case) are
    scored ``gain - workload_weight * excess``: ``gain`` is the rise in the case's
    :func:`diversity_score` (existing reviewers included) and ``excess`` the reviewer's
    open load minus the least among the eligible, plus, on a gold or control case, their
    gold/control count minus the least among the eligible. The highest score wins; ties
    go to the lower load, fewer gold/control items, then a seeded random order of
    (case, reviewer) that does not depend on the order of ``reviewers``. With equal
    capacities and ``workload_weight >= 1``, loads end within 1 of each other. The blind
    conditions of the new assignments are then drawn by exact randomization.

    Parameters
    ----------
    cases : sequence of hashable
        Case ids, highest priority first.
    reviewers : sequence of Reviewer
    config : PanelConfig, default PanelConfig()
    kinds : mapping of case id to {"flagged", "gold", "control"}, optional
        A case not named is "flagged"; may also name existing cases.
    exclusions : mapping of case id to collection of reviewer ids, optional
        Conflicts of interest: those reviewers never get the case.
    existing : pandas.DataFrame, optional
        Open assignments, ``case_id, reviewer_id`` (``slot`` if known): they count toward
        workload and capacity, are never duplicated, and a listed case gets only its
        missing slots.
    done : collection of (case_id, reviewer_id), default ()
        Rows of ``existing`` already rated: they hold their slot but no longer count
        toward workload or capacity.

    Returns
    -------
    Assignment
        ``table`` holds the new assignments only.

    Raises
    ------
    ValueError
        Duplicate case or reviewer ids, an unknown kind, exclusions naming an unknown
        reviewer, or a malformed ``existing``.

    Examples
    --------
    >>> panel = [Reviewer("a", 2, {"g": "f"}), Reviewer("b", 2, {"g": "f"}),
    ...          Reviewer("c", 2, {"g": "m"})]
    >>> result = assign_cases([1, 2], panel, config=PanelConfig(overlap=2))
    >>> result.diversity["diversity"].tolist()
    [1.0, 1.0]
    >>> result.workload["assigned"].sum()
    np.int64(4)
    """
    config = check_type(config, PanelConfig, "config", "a PanelConfig")
    case_list = check_cases(cases)
    panel = _check_reviewers(reviewers)
    kind_of = check_kinds(kinds)
    excluded = check_exclusions(exclusions, panel)
    prior = check_pairs_frame(existing, "existing")
    closed = {(c, r) for c, r in done}
    state = _start_state(panel, config, prior, closed, kind_of)
    rows: list[dict[str, Any]] = []
    short: list[dict[str, Any]] = []
    for case in interleave_cases(case_list, kind_of):
        new, shortfall = state.fill(case, kind_of.get(case, "flagged"),
                                    excluded.get(case, frozenset()), config.overlap)
        rows += new
        short += [] if shortfall is None else [shortfall]
    table = blind_design(rows, config.hide_model_share, config.hide_sensitive_share,
                         random_state=config.random_state)
    return Assignment(table=table, unfilled=tidy_frame(short, ("case_id", "missing", "reason")),
                      diversity=state.diversity_frame(case_list),
                      workload=state.workload_frame([r["reviewer_id"] for r in rows]))


def reassign(
    assignment_table: pd.DataFrame,
    unavailable: Collection[str],
    reviewers: Sequence[Reviewer],
    *,
    config: PanelConfig = DEFAULT_CONFIG,
    kinds: Mapping[Hashable, str] | None = None,
    exclusions: Mapping[Hashable, Collection[str]] | None = None,
    done: Collection[tuple[Hashable, str]] = (),
) -> Assignment:
    """Take unrated cases away from unavailable reviewers and give them to others.

    Rows of reviewers in ``unavailable`` that are not in ``done`` are removed; their
    cases are refilled with :func:`assign_cases` (``existing`` = the kept rows, rated ones
    not counting toward load), the unavailable reviewers marked unavailable. Kinds not
    given are read from the table's ``kind`` column.

    Parameters
    ----------
    assignment_table : pandas.DataFrame
        An :attr:`Assignment.table` (columns :data:`TABLE_COLUMNS`).
    unavailable : collection of str
        Reviewer ids no longer available; each must be a reviewer or in the table.
    reviewers, config, kinds, exclusions
        As for :func:`assign_cases`.
    done : collection of (case_id, reviewer_id), default ()
        Rows already rated; each must be in the table.

    Returns
    -------
    Assignment
        ``table`` is the full new table (kept rows, then new ones, ordered by case as in
        ``assignment_table`` and by slot); ``diversity`` covers every case in it;
        ``unfilled`` the refilled cases left short.

    Examples
    --------
    >>> panel = [Reviewer(r, 2) for r in "abc"]
    >>> first = assign_cases([1], panel, config=PanelConfig(overlap=2))
    >>> gone = first.table["reviewer_id"].iloc[0]
    >>> again = reassign(first.table, [gone], panel, config=PanelConfig(overlap=2))
    >>> gone in set(again.table["reviewer_id"]), len(again.table)
    (False, 2)
    """
    table = check_pairs_frame(assignment_table, "assignment_table", TABLE_COLUMNS)
    panel = _check_reviewers(reviewers)
    gone = {unavailable} if isinstance(unavailable, str) else set(unavailable)
    if unknown := sorted(gone - set(panel) - set(table["reviewer_id"])):
        raise ValueError(MSG_UNAVAILABLE_UNKNOWN.format(reviewer=unknown[0]))
    closed = check_done(done, table)
    pairs = list(zip(table["case_id"], table["reviewer_id"], strict=True))
    drop = np.array([r in gone and (c, r) not in closed for c, r in pairs], dtype=bool)
    kept = table.loc[~drop].reset_index(drop=True)
    merged = {**dict(zip(table["case_id"], table["kind"], strict=True)), **dict(kinds or {})}
    still = [replace(p, available=False) if p.reviewer_id in gone else p
             for p in panel.values()]
    affected = list(dict.fromkeys(table.loc[drop, "case_id"]))
    result = assign_cases(affected, still, config=config, kinds=merged,
                          exclusions=exclusions, existing=kept, done=closed)
    full = pd.concat([kept, result.table], ignore_index=True) if len(result.table) else kept
    order = {c: i for i, c in enumerate(dict.fromkeys(table["case_id"]))}
    full = (full.assign(_order=full["case_id"].map(order))
            .sort_values(["_order", "slot"], kind="stable").drop(columns="_order")
            .reset_index(drop=True))
    whole = _start_state(panel, config, full[["case_id", "reviewer_id"]], (), {})
    return replace(result, table=full,
                   diversity=whole.diversity_frame(list(dict.fromkeys(full["case_id"]))))


def _start_state(
    panel: Mapping[str, Reviewer], config: PanelConfig, prior: pd.DataFrame,
    closed: Collection[tuple[Hashable, str]], kind_of: Mapping[Hashable, str],
) -> PanelState:
    seen = sorted({a for p in panel.values() for a in p.background})
    state = PanelState(
        backgrounds={rid: p.background for rid, p in sorted(panel.items())},
        capacity={rid: p.capacity for rid, p in panel.items()},
        available=frozenset(rid for rid, p in panel.items() if p.available),
        attributes=config.attributes if config.attributes is not None else tuple(seen),
        weight=float(config.workload_weight), seed=int(config.random_state))
    state.add_existing(prior, closed, kind_of)
    return state


def _check_reviewers(reviewers: Sequence[Reviewer]) -> dict[str, Reviewer]:
    panel: dict[str, Reviewer] = {}
    for reviewer in reviewers:
        check_type(reviewer, Reviewer, "each reviewer", "a Reviewer")
        if reviewer.reviewer_id in panel:
            raise ValueError(MSG_DUPLICATE_REVIEWER.format(reviewer=reviewer.reviewer_id))
        panel[reviewer.reviewer_id] = reviewer
    return panel
