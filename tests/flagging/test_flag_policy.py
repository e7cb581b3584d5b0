"""The review queue: budget, quotas, need-based strata, determinism, and bad policies."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.flagging.flags import FLAG_COLUMNS, MSG_FLAG_REASON, REASONS, seeded_key
from audits.flagging.policy import (
    ALLOCATION_COLUMNS,
    CASE_COLUMNS,
    DEFAULT_QUOTAS,
    MSG_BUDGET,
    MSG_FLAG,
    MSG_GROUP_MISSING,
    MSG_GROUPS_DUPLICATE,
    MSG_KEY,
    MSG_QUOTA_SUM,
    MSG_SEED,
    MSG_SHARE,
    MSG_UNKNOWN_KEYS,
    MSG_VALUE,
    FlagPolicy,
    select_cases,
)

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
SCORES = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.floats(0, 1))


@st.composite
def flag_tables(draw: st.DrawFn, *, overlap: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    n = draw(st.integers(0, 30))
    groups = pd.Series(draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=n,
                                     max_size=n)), index=[f"r{i}" for i in range(n)])
    records = []
    for row in groups.index:
        chosen = draw(st.sets(st.sampled_from(REASONS), min_size=1,
                              max_size=3 if overlap else 1))
        records += [(row, reason, draw(SCORES), "Why.") for reason in sorted(chosen)]
    return pd.DataFrame(records, columns=list(FLAG_COLUMNS)), groups


@st.composite
def policies(draw: st.DrawFn) -> FlagPolicy:
    weights = draw(st.lists(st.integers(0, 4), min_size=len(REASONS),
                            max_size=len(REASONS)).filter(any))
    quotas = {r: w / sum(weights) for r, w in zip(REASONS, weights, strict=True)}
    return FlagPolicy(budget=draw(st.integers(0, 35)), quotas=quotas,
                      stratify=draw(st.booleans()), random_state=draw(st.integers(0, 5)))


def _seats(budget: int, quotas: dict[str, float]) -> dict[str, int]:
    """Oracle: Hamilton's method in exact fractions, remainder ties to REASONS order."""
    exact = {r: Fraction(budget) * Fraction(quotas[r]).limit_denominator(10_000)
             for r in REASONS}
    seats = {r: int(v) for r, v in exact.items()}
    left = budget - sum(seats.values())
    for r in sorted(REASONS, key=lambda r: (-(exact[r] - seats[r]), REASONS.index(r)))[:left]:
        seats[r] += 1
    return seats


@given(flag_tables(), policies())
@SETTINGS
def test_queue_size_uniqueness_reasons_and_priority(data: tuple[pd.DataFrame, pd.Series],
                                                    policy: FlagPolicy) -> None:
    flags, groups = data
    cases = select_cases(flags, groups, policy).cases
    assert tuple(cases.columns) == CASE_COLUMNS
    assert len(cases) == min(policy.budget, flags["row"].nunique())
    assert not cases["row"].duplicated().any()
    assert set(cases["row"]) <= set(flags["row"])
    assert cases["rank"].tolist() == list(range(1, len(cases) + 1))
    assert (np.diff(cases["priority"].to_numpy()) <= 1e-12).all()
    for case in cases.itertuples(index=False):
        own = flags[flags["row"] == case.row]
        assert case.reasons == tuple(r for r in REASONS if r in set(own["reason"]))
        assert case.primary_reason in case.reasons
        assert case.group == groups[case.row]
        assert case.priority == pytest.approx(sum(policy.weights[r] * s for r, s in
                                                  zip(own["reason"], own["score"],
                                                      strict=True)))


@given(flag_tables(overlap=False), policies())
@SETTINGS
def test_each_reason_and_each_group_gets_its_seats(data: tuple[pd.DataFrame, pd.Series],
                                                   policy: FlagPolicy) -> None:
    flags, groups = data
    selection = select_cases(flags, groups, policy)
    seats = _seats(policy.budget, dict(policy.quotas))
    primary = selection.cases["primary_reason"].value_counts()
    alloc = selection.allocation
    assert tuple(alloc.columns) == ALLOCATION_COLUMNS
    assert alloc["selected"].sum() == len(selection.cases)
    for reason in REASONS:
        candidates = flags[flags["reason"] == reason]
        assert primary.get(reason, 0) >= min(seats[reason], len(candidates))
        mine = alloc[alloc["reason"] == reason].set_index("group")
        assert mine["candidates"].to_dict() == groups[candidates["row"]].value_counts().to_dict()
        if policy.stratify and reason != "random_control" and seats[reason] >= len(mine):
            assert (mine["selected"] >= 1).all(), (reason, mine)


@given(flag_tables(), policies(), st.randoms(use_true_random=False))
@SETTINGS
def test_same_inputs_same_queue_whatever_the_row_order(
        data: tuple[pd.DataFrame, pd.Series], policy: FlagPolicy, rnd: Any) -> None:
    flags, groups = data
    first = select_cases(flags, groups, policy)
    order = list(range(len(flags)))
    rnd.shuffle(order)
    shuffled = flags.iloc[order].set_axis(range(len(flags)))
    gorder = list(range(len(groups)))
    rnd.shuffle(gorder)
    again = select_cases(shuffled, groups.iloc[gorder], policy)
    pd.testing.assert_frame_equal(first.cases, again.cases)
    pd.testing.assert_frame_equal(first.allocation, again.allocation)


# --- hand examples -----------------------------------------------------------------


def _flags(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([(r, reason, s, "Why.") for r, reason, s in rows],
                        columns=list(FLAG_COLUMNS))


def test_small_group_with_more_need_gets_more_seats_than_its_size() -> None:
    # 8 big-group candidates at 0.1 (need 0.8), 2 small-group ones at 0.9 (need 1.8).
    rows = [(f"b{i}", "low_confidence", 0.1) for i in range(8)]
    rows += [("s0", "low_confidence", 0.9), ("s1", "low_confidence", 0.9)]
    groups = pd.Series({r: ("big" if r.startswith("b") else "small") for r, _, _ in rows})
    policy = FlagPolicy(budget=3, quotas={"low_confidence": 1.0})
    selection = select_cases(_flags(rows), groups, policy)
    picked = selection.cases["group"].value_counts()
    # Need shares 3 * 0.8 / 2.6 = 0.92 and 3 * 1.8 / 2.6 = 2.08 -> 1 and 2 seats; by size
    # the small group would get 3 * 2 / 10 = 0.6.
    assert picked.to_dict() == {"small": 2, "big": 1}
    assert picked["small"] / 3 > 2 / 10
    alloc = selection.allocation.set_index("group")
    assert alloc.loc["small", "quota"] == 2 and alloc.loc["big", "quota"] == 1
    assert alloc.loc["big", "candidates"] == 8
    # Unstratified, the two highest scores win.
    flat = select_cases(_flags(rows), groups, FlagPolicy(budget=3, quotas={
        "low_confidence": 1.0}, stratify=False))
    assert flat.cases["group"].value_counts().to_dict() == {"small": 2, "big": 1}
    flat2 = select_cases(_flags(rows), groups, FlagPolicy(budget=2, quotas={
        "low_confidence": 1.0}, stratify=False))
    assert sorted(flat2.cases["row"]) == ["s0", "s1"]


def test_every_group_gets_a_seat_when_seats_allow() -> None:
    rows = [(f"a{i}", "disparity", 0.9) for i in range(10)] + [("c0", "disparity", 0.01)]
    groups = pd.Series({r: r[0] for r, _, _ in rows})
    cases = select_cases(_flags(rows), groups,
                         FlagPolicy(budget=2, quotas={"disparity": 1.0})).cases
    assert sorted(cases["group"]) == ["a", "c"]
    # Within a group the highest score goes first.
    rows2 = [("a0", "disparity", 0.2), ("a1", "disparity", 0.7), ("c0", "disparity", 0.5)]
    cases = select_cases(_flags(rows2), pd.Series({"a0": "a", "a1": "a", "c0": "c"}),
                         FlagPolicy(budget=2, quotas={"disparity": 1.0})).cases
    assert sorted(cases["row"]) == ["a1", "c0"]


def test_random_control_is_a_uniform_seeded_sample_not_stratified() -> None:
    rows = [(f"x{i}", "random_control", 0.5) for i in range(30)]
    groups = pd.Series({r: ("A" if i < 27 else "B") for i, (r, _, _) in enumerate(rows)})
    picks = {}
    for seed in (0, 1):
        policy = FlagPolicy(budget=5, quotas={"random_control": 1.0}, random_state=seed)
        cases = select_cases(_flags(rows), groups, policy).cases
        # Oracle: the five rows first in the seeded order, whatever their group.
        expected = sorted((r for r, _, _ in rows), key=lambda r: seeded_key(r, seed))[:5]
        assert sorted(cases["row"]) == sorted(expected)
        picks[seed] = set(cases["row"])
    assert picks[0] != picks[1]


def test_unfilled_seats_pass_to_other_reasons_by_quota() -> None:
    rows = [(f"g{i}", "gold", 0.5) for i in range(2)]
    rows += [(f"l{i}", "low_confidence", 0.5) for i in range(20)]
    rows += [(f"d{i}", "disparity", 0.5) for i in range(20)]
    groups = pd.Series("G", index=[r for r, _, _ in rows])
    policy = FlagPolicy(budget=10, quotas={"gold": 0.5, "low_confidence": 0.3,
                                           "disparity": 0.2})
    primary = select_cases(_flags(rows), groups, policy).cases["primary_reason"]
    # gold: 5 seats, 2 candidates -> 3 seats go 0.3 : 0.2 -> 1.8, 1.2 -> 2 and 1.
    assert primary.value_counts().to_dict() == {"low_confidence": 5, "disparity": 3, "gold": 2}
    # A reason with quota 0 still gets seats when nothing else is left.
    policy = FlagPolicy(budget=10, quotas={"gold": 1.0})
    primary = select_cases(_flags(rows), groups, policy).cases["primary_reason"]
    assert len(primary) == 10 and (primary == "gold").sum() == 2


def test_a_row_with_several_reasons_takes_one_seat_and_carries_all() -> None:
    rows = [("r1", "random_control", 0.5), ("r1", "low_confidence", 0.9),
            ("r2", "low_confidence", 0.4), ("r3", "low_confidence", 0.3)]
    groups = pd.Series("G", index=["r1", "r2", "r3"])
    policy = FlagPolicy(budget=2, quotas={"random_control": 0.5, "low_confidence": 0.5},
                        weights={"low_confidence": 2.0})
    cases = select_cases(_flags(rows), groups, policy).cases.set_index("row")
    assert list(cases.index) == ["r1", "r2"]
    assert cases.loc["r1", "primary_reason"] == "random_control"  # filled first
    assert cases.loc["r1", "reasons"] == ("low_confidence", "random_control")
    assert cases.loc["r1", "priority"] == pytest.approx(2 * 0.9 + 0.5)
    assert cases.loc["r2", "priority"] == pytest.approx(0.8)


def test_empty_inputs_and_zero_budget() -> None:
    empty = _flags([])
    out = select_cases(empty, pd.Series(dtype=object), FlagPolicy())
    assert out.cases.empty and tuple(out.cases.columns) == CASE_COLUMNS
    rows = [("a", "gold", 0.5)]
    assert select_cases(_flags(rows), pd.Series({"a": "G"}), FlagPolicy(budget=0)).cases.empty


# --- policy and input errors ----------------------------------------------------------


def test_policy_round_trips_through_json() -> None:
    policy = FlagPolicy(budget=50, quotas={"gold": 0.25, "disparity": 0.75},
                        weights={"gold": 0.5}, stratify=False, random_state=9)
    data = json.loads(json.dumps(policy.as_dict()))
    assert FlagPolicy.from_dict(data) == policy
    assert policy.quotas == {**dict.fromkeys(REASONS, 0.0), "gold": 0.25, "disparity": 0.75}
    assert policy.weights["gold"] == 0.5 and policy.weights["disparity"] == 1.0
    assert FlagPolicy().quotas == {**dict.fromkeys(REASONS, 0.0), **DEFAULT_QUOTAS}
    # A policy stored before the conversation reasons existed reads back as the same one.
    before = FlagPolicy().as_dict()
    before["quotas"] = dict(DEFAULT_QUOTAS)
    before["weights"] = dict.fromkeys(DEFAULT_QUOTAS, 1.0)
    assert FlagPolicy.from_dict(before) == FlagPolicy()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": -1}, MSG_BUDGET.format(value=-1)),
    ({"budget": True}, MSG_BUDGET.format(value=True)),
    ({"quotas": {"hunch": 1.0}}, MSG_KEY.format(name="quotas", key="hunch",
                                                choices=", ".join(REASONS))),
    ({"quotas": {"gold": -0.5, "disparity": 1.5}}, MSG_VALUE.format(name="quotas",
                                                                   key="gold", value=-0.5)),
    ({"quotas": {"gold": 0.5, "disparity": 0.4}}, MSG_QUOTA_SUM.format(total=0.9)),
    ({"weights": {"gold": float("nan")}}, MSG_VALUE.format(name="weights", key="gold",
                                                           value=float("nan"))),
    ({"weights": {"vip": 1.0}}, MSG_KEY.format(name="weights", key="vip",
                                               choices=", ".join(REASONS))),
    ({"stratify": "yes"}, MSG_FLAG.format(name="stratify", value="yes")),
    ({"low_confidence_margin": 0}, MSG_SHARE.format(name="low_confidence_margin", value=0)),
    ({"attribution_min_share": 1.5}, MSG_SHARE.format(name="attribution_min_share",
                                                      value=1.5)),
    ({"random_state": 1.5}, MSG_SEED.format(value=1.5)),
])
def test_bad_policy_values_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        FlagPolicy(**kwargs)


def test_from_dict_rejects_unknown_keys() -> None:
    known = list(FlagPolicy.__dataclass_fields__)
    with pytest.raises(ValueError, match=re.escape(MSG_UNKNOWN_KEYS.format(
            keys=["buget", "seed"], known=known))):
        FlagPolicy.from_dict({"buget": 3, "seed": 1})
    with pytest.raises(TypeError, match="expected a mapping"):
        FlagPolicy.from_dict([("budget", 3)])  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    flags = _flags([("a", "gold", 0.5), ("b", "gold", 0.5)])
    with pytest.raises(ValueError, match=re.escape(MSG_GROUP_MISSING.format(row="b"))):
        select_cases(flags, pd.Series({"a": "G"}), FlagPolicy())
    with pytest.raises(ValueError, match=re.escape(MSG_GROUP_MISSING.format(row="b"))):
        select_cases(flags, pd.Series({"a": "G", "b": None}), FlagPolicy())
    with pytest.raises(ValueError, match=re.escape(MSG_GROUPS_DUPLICATE.format(row="a"))):
        select_cases(flags, pd.Series(["G", "H", "G"], index=["a", "a", "b"]), FlagPolicy())
    with pytest.raises(TypeError, match="groups must be a pandas Series"):
        select_cases(flags, {"a": "G", "b": "G"}, FlagPolicy())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="policy must be a FlagPolicy"):
        select_cases(flags, pd.Series({"a": "G", "b": "G"}), {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(MSG_FLAG_REASON.format(
            reason="hunch", choices=", ".join(REASONS)))):
        select_cases(flags.assign(reason="hunch"), pd.Series({"a": "G", "b": "G"}),
                     FlagPolicy())
