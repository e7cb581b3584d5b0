"""Diversity of a reviewer set and the greedy that assigns cases to maximise it.

A case's *diversity* is the mean, over the background attributes that count, of the
Gini-Simpson index of its reviewers' disclosed values: the probability that two different
reviewers of the set, drawn at random among those who disclosed the attribute, differ on
it. An attribute a reviewer did not disclose is never guessed; it simply does not count
for that reviewer.

Also here, for :func:`audits.panel.assignment.assign_cases` and
:func:`audits.panel.assignment.reassign`: the order cases are filled in, the greedy's
running state, the blind design, and the checks of case-level inputs (case ids, kinds,
exclusions, assignment tables).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from audits.flagging.common import seeded_key

__all__ = ["KINDS", "MSG_ATTRIBUTES_STR", "MSG_COLUMNS", "MSG_DONE_UNKNOWN",
           "MSG_DUPLICATE_CASE", "MSG_EXCLUSION_REVIEWER", "MSG_EXCLUSION_STR", "MSG_KIND",
           "MSG_PAIR_DUPLICATE", "MSG_TYPE", "REASON_SHORT", "SPECIAL_KINDS", "PanelState",
           "blind_design", "check_cases", "check_done", "check_exclusions", "check_kinds",
           "check_pairs_frame", "check_type", "diversity_score", "interleave_cases",
           "tidy_frame"]

#: Case kinds, in the order used to break ties when interleaving.
KINDS: tuple[str, ...] = ("flagged", "gold", "control")
#: Kinds whose items every reviewer should get an even share of.
SPECIAL_KINDS = frozenset({"gold", "control"})

MSG_ATTRIBUTES_STR = "attributes must be a sequence of attribute names, not a string; got {value!r}"
MSG_TYPE = "{name} must be {expected}; got {kind}"
MSG_DUPLICATE_CASE = "duplicate case id {case!r}"
MSG_KIND = "case {case!r} has unknown kind {kind!r}; kinds: " + ", ".join(KINDS)
MSG_EXCLUSION_REVIEWER = "exclusions for case {case!r} name unknown reviewer {reviewer!r}"
MSG_EXCLUSION_STR = ("exclusions for case {case!r} must be a collection of reviewer ids, "
                     "not the string {value!r}")
MSG_COLUMNS = "{name} lacks column(s) {missing}"
MSG_PAIR_DUPLICATE = "{name} lists case {case!r} with reviewer {reviewer!r} more than once"
MSG_DONE_UNKNOWN = "done names case {case!r} with reviewer {reviewer!r}, which is not assigned"
REASON_SHORT = ("only {eligible} eligible reviewer(s) with capacity; of {others} reviewer(s) "
                "not yet on the case, {unavailable} unavailable, {excluded} excluded, "
                "{full} at capacity")


def diversity_score(
    backgrounds: Sequence[Mapping[str, str]], attributes: Sequence[str],
) -> float:
    """Score the spread of a reviewer set's backgrounds, in [0, 1].

    For each attribute, take the values of the reviewers who disclosed it (an absent key,
    or None, is not disclosed); with ``n >= 2`` of them and ``n_v`` giving value ``v``,
    the attribute's Gini-Simpson index is ``1 - sum_v n_v (n_v - 1) / (n (n - 1))``, the
    probability that two different reviewers differ on it. An attribute disclosed by fewer
    than two reviewers contributes 0. The score is the mean over ``attributes`` (0.0 when
    there are none). Higher is more diverse; the order of ``backgrounds`` does not matter.

    Parameters
    ----------
    backgrounds : sequence of mapping of str to str
        One mapping per reviewer of the set, attribute -> value.
    attributes : sequence of str
        The attributes that count.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        ``attributes`` is a single string.

    Examples
    --------
    >>> diversity_score([{"gender": "f"}, {"gender": "f"}], ["gender"])
    0.0
    >>> diversity_score([{"gender": "f"}, {"gender": "m"}], ["gender"])
    1.0

    Gender is disclosed by all three (two "f", one "m": 1 - 2/6 = 2/3), age by two who
    agree (0); the mean is 1/3:

    >>> round(diversity_score([{"gender": "f", "age": "30s"}, {"gender": "m", "age": "30s"},
    ...                        {"gender": "f"}], ["gender", "age"]), 4)
    0.3333
   
"""
    if isinstance(attributes, str):
        raise TypeError(MSG_ATTRIBUTES_STR.format(value=attributes))
    names = list(attributes)
    if not names:
        return 0.0
    parts = [_gini_simpson([b[a] for b in backgrounds if b.get(a) is not None])
             for a in names]
    return math.fsum(parts) / len(names)


def _gini_simpson(values: list[str]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    same = sum(c * (c - 1) for c in Counter(values).values())
    return 1.0 - same / (n * (n - 1))


def interleave_cases(
    cases: Sequence[Hashable], kinds: Mapping[Hashable, str],
) -> list[Hashable]:
    """Order cases so that each kind's items are spread evenly through the sequence.

    The ``i``-th of the ``n`` cases of a kind sits at position ``(i + 1/2) / n``; cases
    are sorted by position (ties: flagged, gold, control), so each kind keeps its own
    order (for flagged cases, the priority order) and gold and control items are spread
    among the flagged cases instead of bunched at one end.

    Examples
    --------
    >>> interleave_cases(["a", "b", "c", "d", "g"], {"g": "gold"})
    ['a', 'b', 'g', 'c', 'd']
    """
    by_kind: dict[str, list[Hashable]] = {}
    for case in cases:
        by_kind.setdefault(kinds.get(case, "flagged"), []).append(case)
    keyed: list[tuple[Fraction, int, int, Hashable]] = []
    for rank, kind in enumerate(KINDS):
        members = by_kind.get(kind, [])
        keyed += [(Fraction(2 * i + 1, 2 * len(members)), rank, i, case)
                  for i, case in enumerate(members)]
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


@dataclass
class PanelState:
    """The greedy's running state: who is on each case, open load, gold/control counts.

    ``pick`` scores an eligible reviewer ``r`` for the next slot of a case with current
    reviewers ``S`` as ``gain - weight * excess``: ``gain = D(S + r) - D(S)`` (marginal
    diversity, :func:`diversity_score`) and ``excess`` the reviewer's open load minus the
    least open load among the eligible (in assignments), plus, for a gold or control
    case, the reviewer's gold/control count minus the least among the eligible. Ties go
    to the lower load; then, on a gold/control case, to fewer gold/control items and on
    a flagged case to more (so reviewers short of gold/control items stay least loaded,
    ready for the next one); then to a seeded random order of ``(case, reviewer)`` that
    does not depend on the order reviewers were given in.
    """

    backgrounds: dict[str, Mapping[str, str]]
    capacity: dict[str, int]
    available: frozenset[str]
    attributes: tuple[str, ...]
    weight: float
    seed: int
    load: dict[str, int] = field(default_factory=dict)
    special: dict[str, int] = field(default_factory=dict)
    on_case: dict[Hashable, list[str]] = field(default_factory=dict)
    slots: dict[Hashable, set[int]] = field(default_factory=dict)

    def add_existing(
        self, prior: pd.DataFrame, closed: Collection[tuple[Hashable, str]],
        kinds: Mapping[Hashable, str],
    ) -> None:
        """Put existing rows (``case_id, reviewer_id``, optional ``slot``) on their cases.

        Rated rows (in ``closed``) hold their slot but take no capacity.
        """
        slots = prior["slot"] if "slot" in prior.columns else pd.Series(np.nan, index=prior.index)
        for case, rid, slot in zip(prior["case_id"], prior["reviewer_id"], slots, strict=True):
            self.add(case, rid, special=kinds.get(case, "flagged") in SPECIAL_KINDS,
                     counts=(case, rid) not in closed, slot=None if pd.isna(slot) else int(slot))

    def diversity_frame(self, cases: Sequence[Hashable]) -> pd.DataFrame:
        """``case_id, diversity``: the score of each case's current reviewer set."""
        scores = [diversity_score([self.backgrounds.get(r, {}) for r in self.on_case.get(c, ())],
                                  self.attributes) for c in cases]
        return pd.DataFrame({"case_id": pd.Series(list(cases), dtype=object if not cases else None),
                             "diversity": np.asarray(scores, dtype=np.float64)})

    def workload_frame(self, new: Sequence[str]) -> pd.DataFrame:
        """``reviewer_id, assigned, total, capacity, gold_control``; ``new``: new reviewer ids."""
        assigned = Counter(new)
        ids = sorted(self.capacity)
        return pd.DataFrame({
            "reviewer_id": pd.Series(ids, dtype=object),
            "assigned": np.array([assigned.get(r, 0) for r in ids], dtype=np.int64),
            "total": np.array([self.load.get(r, 0) for r in ids], dtype=np.int64),
            "capacity": np.array([self.capacity[r] for r in ids], dtype=np.int64),
            "gold_control": np.array([self.special.get(r, 0) for r in ids], dtype=np.int64),
        })

    def add(self, case: Hashable, reviewer: str, *, special: bool, counts: bool,
            slot: int | None = None) -> None:
        """Put ``reviewer`` on ``case``; ``counts``: the assignment is open (takes capacity)."""
        self.on_case.setdefault(case, []).append(reviewer)
        if slot is not None:
            self.slots.setdefault(case, set()).add(slot)
        if counts:
            self.load[reviewer] = self.load.get(reviewer, 0) + 1
        if special:
            self.special[reviewer] = self.special.get(reviewer, 0) + 1

    def fill(
        self, case: Hashable, kind: str, excluded: Collection[str], overlap: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Fill the case's open slots; return the new rows and the shortfall, if any.

        The case needs ``overlap`` minus its current reviewers; new slots take the
        lowest numbers not already used on the case.
        """
        missing = max(0, overlap - len(self.on_case.get(case, ())))
        used = self.slots.get(case, set())
        free = [s for s in range(1, overlap + len(used) + 1) if s not in used][:missing]
        special = kind in SPECIAL_KINDS
        rows: list[dict[str, Any]] = []
        for slot in free:
            chosen = self.pick(case, excluded, special=special)
            if chosen is None:
                return rows, {"case_id": case, "missing": missing - len(rows),
                              "reason": self.shortfall(case, excluded, len(rows))}
            self.add(case, chosen, special=special, counts=True, slot=slot)
            rows.append({"case_id": case, "reviewer_id": chosen, "slot": slot, "kind": kind})
        return rows, None

    def eligible(self, case: Hashable, excluded: Collection[str]) -> list[str]:
        """Reviewers available, with capacity left, not excluded and not on the case."""
        members = set(self.on_case.get(case, ()))
        return [r for r in self.backgrounds
                if r in self.available and r not in members and r not in excluded
                and self.load.get(r, 0) < self.capacity[r]]

    def pick(self, case: Hashable, excluded: Collection[str], *, special: bool) -> str | None:
        """The best eligible reviewer for the case's next slot, or None if there is none."""
        pool = self.eligible(case, excluded)
        if not pool:
            return None
        current = [self.backgrounds.get(r, {}) for r in self.on_case.get(case, ())]
        base = diversity_score(current, self.attributes)
        low = min(self.load.get(r, 0) for r in pool)
        low_special = min(self.special.get(r, 0) for r in pool)
        label = _plain(case)

        def key(r: str) -> tuple[float, int, int, tuple[int, str]]:
            gain = diversity_score([*current, self.backgrounds[r]], self.attributes) - base
            excess = self.load.get(r, 0) - low
            if special:
                excess += self.special.get(r, 0) - low_special
            toward = 1 if special else -1
            return (self.weight * excess - gain, self.load.get(r, 0),
                    toward * self.special.get(r, 0), seeded_key((label, r), self.seed))

        return min(pool, key=key)

    def shortfall(self, case: Hashable, excluded: Collection[str], eligible: int) -> str:
        """Why a case could not be filled, said after filling it with the ``eligible`` left.

        Every reviewer still off the case is then ineligible: unavailable, excluded or
        at capacity (checked in that order).
        """
        members = set(self.on_case.get(case, ()))
        others = [r for r in self.backgrounds if r not in members]
        unavailable = [r for r in others if r not in self.available]
        shut = [r for r in others if r in self.available and r in excluded]
        full = [r for r in others if r in self.available and r not in excluded
                and self.load.get(r, 0) >= self.capacity[r]]
        return REASON_SHORT.format(eligible=eligible, others=len(others) + eligible,
                                   unavailable=len(unavailable), excluded=len(shut),
                                   full=len(full))


def check_type(value: Any, kind: type, name: str, expected: str) -> Any:
    """Return ``value``; raise TypeError naming ``name`` unless it is a ``kind``."""
    if not isinstance(value, kind):
        raise TypeError(MSG_TYPE.format(name=name, expected=expected, kind=type(value).__name__))
    return value


def check_cases(cases: Sequence[Hashable]) -> list[Hashable]:
    """Return the case ids as a list; raise ValueError naming the first duplicate."""
    if isinstance(cases, str | bytes) or not isinstance(cases, Sequence | pd.Index | np.ndarray):
        raise TypeError(MSG_TYPE.format(name="cases", expected="a sequence of case ids",
                                        kind=type(cases).__name__))
    seen: set[Hashable] = set()
    for case in cases:
        if case in seen:
            raise ValueError(MSG_DUPLICATE_CASE.format(case=_plain(case)))
        seen.add(case)
    return list(cases)


def check_kinds(kinds: Mapping[Hashable, str] | None) -> dict[Hashable, str]:
    """Return kinds as a dict; raise ValueError naming a case with an unknown kind."""
    kinds = check_type({} if kinds is None else kinds, Mapping, "kinds", "a mapping")
    for case, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(MSG_KIND.format(case=_plain(case), kind=kind))
    return dict(kinds)


def check_exclusions(
    exclusions: Mapping[Hashable, Collection[str]] | None, panel: Collection[str],
) -> dict[Hashable, frozenset[str]]:
    """Return case -> excluded ids; raise ValueError naming an unknown reviewer."""
    exclusions = check_type({} if exclusions is None else exclusions, Mapping, "exclusions",
                             "a mapping")
    checked: dict[Hashable, frozenset[str]] = {}
    for case, ids in exclusions.items():
        if isinstance(ids, str):
            raise ValueError(MSG_EXCLUSION_STR.format(case=_plain(case), value=ids))
        for rid in ids:
            if rid not in panel:
                raise ValueError(MSG_EXCLUSION_REVIEWER.format(case=_plain(case), reviewer=rid))
        checked[case] = frozenset(ids)
    return checked


def check_pairs_frame(
    frame: pd.DataFrame | None, name: str, columns: Sequence[str] = ("case_id", "reviewer_id"),
) -> pd.DataFrame:
    """Return ``frame`` (empty if None); raise naming missing columns or a repeated pair."""
    if frame is None:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    check_type(frame, pd.DataFrame, name, "a pandas DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(MSG_COLUMNS.format(name=name, missing=missing))
    repeated = frame.duplicated(["case_id", "reviewer_id"]).to_numpy()
    if repeated.any():
        row = frame.loc[repeated].iloc[0]
        raise ValueError(MSG_PAIR_DUPLICATE.format(name=name, case=_plain(row["case_id"]),
                                                   reviewer=_plain(row["reviewer_id"])))
    return frame


def check_done(
    done: Collection[tuple[Hashable, str]], table: pd.DataFrame,
) -> set[tuple[Hashable, str]]:
    """Return the rated pairs; raise ValueError naming one not in ``table``."""
    pairs = set(zip(table["case_id"], table["reviewer_id"], strict=True))
    closed = {(case, rid) for case, rid in done}
    for case, rid in sorted(closed - pairs, key=repr):
        raise ValueError(MSG_DONE_UNKNOWN.format(case=_plain(case), reviewer=_plain(rid)))
    return closed


def blind_design(
    rows: list[dict[str, Any]], hide_model_share: float, hide_sensitive_share: float, *,
    random_state: int,
) -> pd.DataFrame:
    """Tabulate new assignments with their blind conditions, drawn by exact randomization.

    Of the ``n`` rows, exactly ``round(share * n)`` (Python's rounding) get
    ``model_shown`` False, chosen by a seeded random permutation; ``sensitive_shown`` is
    drawn the same way, independently. Columns: ``case_id, reviewer_id, slot,
    model_shown, sensitive_shown, kind``.

    Examples
    --------
    >>> rows = [{"case_id": c, "reviewer_id": "a", "slot": 1, "kind": "flagged"}
    ...         for c in range(4)]
    >>> int((~blind_design(rows, 0.5, 0.0, random_state=0)["model_shown"]).sum())
    2
    """
    rng = np.random.default_rng(random_state)
    n = len(rows)
    model = _shown(n, hide_model_share, rng)
    sensitive = _shown(n, hide_sensitive_share, rng)
    table = tidy_frame(rows, ("case_id", "reviewer_id", "slot", "kind"))
    table.insert(3, "model_shown", model)
    table.insert(4, "sensitive_shown", sensitive)
    return table.astype({"slot": "int64"})


def _shown(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Exact randomization: ``round(share * n)`` of ``n`` hidden, by a random permutation."""
    shown = np.ones(n, dtype=bool)
    shown[rng.permutation(n)[:int(round(share * n))]] = False
    return shown


def tidy_frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A frame of ``rows`` with ``columns`` (object columns when there are no rows)."""
    if rows:
        return pd.DataFrame(rows, columns=list(columns))
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages and seeded keys)."""
    return value.item() if isinstance(value, np.generic) else value
