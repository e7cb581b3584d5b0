"""The slice reason: decisions of the worst-off subgroups nobody declared go to people.

Generated decisions with one planted bad slice (``region=s & product=loan``: errors at
35%, 10% elsewhere) get flags of the reason on that slice's rows and on no other row
(pandas masks are the oracle), take their seats under the budget, and name the slice
and its figures for the people who tune the queue; reviewers and adjudicators read the
fixed outcome-free sentence only. Null decisions (no slice differs) get no such flag; a
quota of 0 turns the reason off; a bad metric is refused by name.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from app.case_display import reason_lines
from audits.flagging.cases import FlagContext, flag_and_snapshot
from audits.flagging.policy import DEFAULT_QUOTAS, MSG_SLICE_METRIC, FlagPolicy
from audits.flagging.reasons import OUTCOME_FREE, reasons_for
from audits.flagging.subgroups import MAX_LEVELS, queue_slice_columns, slice_flags
from audits.roles import Role
from audits.slices.discovery import METRICS

DIGIT = re.compile(r"\d")
SLICE = {"region": "s", "product": "loan"}


def decisions(seed: int, n: int = 6000, *, effect: bool = True) -> pd.DataFrame:
    """Logged decisions: features region, product, channel, age; sex is sensitive."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"region": rng.choice(list("nsew"), n),
                          "product": rng.choice(["card", "loan", "lease"], n),
                          "channel": rng.choice(["web", "branch", "phone"], n),
                          "age": rng.integers(18, 90, n),
                          "sex": rng.choice(["f", "m"], n),
                          "outcome": rng.integers(0, 2, n)},
                         index=pd.RangeIndex(n) + 10_000)
    bad = in_slice(frame) if effect else np.zeros(n, dtype=bool)
    error = rng.random(n) < np.where(bad, 0.35, 0.10)
    frame["decision"] = np.where(error, 1 - frame["outcome"], frame["outcome"])
    return frame


def in_slice(frame: pd.DataFrame) -> np.ndarray:
    return ((frame["region"] == "s") & (frame["product"] == "loan")).to_numpy()


def context() -> FlagContext:
    return FlagContext(y_true="outcome", y_pred="decision", y_score=None, threshold=0.5,
                       sensitive_features=("sex",),
                       features=("region", "product", "channel", "age"), disparities=[],
                       positive_is_favourable=True, positive_label="approved")


def test_the_planted_slice_is_flagged_on_its_rows_only() -> None:
    frame = decisions(0)
    # Logged decisions: only these reasons have candidates, so no seat is handed over.
    quotas = {"random_control": 0.5, "gold": 0.3, "slice": 0.2}
    flagged = flag_and_snapshot(frame, context(), FlagPolicy(budget=60, quotas=quotas))
    rows = flagged.flags.loc[flagged.flags["reason"] == "slice", "row"].tolist()
    expected = frame.index[in_slice(frame)].tolist()
    assert sorted(rows) == sorted(expected)  # every decision of the slice, whatever its outcome
    assert flagged.slices is not None and flagged.slices.metric == "error_rate"
    assert [s.attributes for s in flagged.slices.slices] == [SLICE]
    assert set(flagged.slices.columns) == {"region", "product", "channel", "age", "sex"}
    # Its seats: its share of the budget, all from the slice, split by subject group.
    cases = flagged.selection.cases
    mine = cases[cases["primary_reason"] == "slice"]
    assert len(mine) == 12
    assert set(mine["row"]) <= set(expected)
    assert set(mine["group"]) == {"sex=f", "sex=m"}
    assert len(cases) == 60
    assert flagged.summary()["slices"]["slices"][0]["attributes"] == SLICE


def test_the_explanation_names_the_slice_and_its_figures() -> None:
    frame = decisions(0)
    flags, found = slice_flags(frame, y_true="outcome", y_pred="decision",
                               columns=["region", "product", "channel", "age", "sex"])
    assert found is not None
    mask = in_slice(frame)
    errors = (frame["outcome"] != frame["decision"]).to_numpy()
    rate, rest = errors[mask].mean(), errors[~mask].mean()  # the oracle, by pandas masks
    text = flags["explanation"].iloc[0]
    assert set(flags["explanation"]) == {text}
    assert "region=s & product=loan" in text
    assert f"({mask.sum():,} decisions)" in text
    assert f"error rate is {rate:.2f} [" in text and f"against {rest:.2f} elsewhere" in text
    assert f"found among {found.n_tested:,} slices" in text
    # Severity: log2 of the interval's lower bound over the rest's rate, at most 1.
    expected = min(1.0, np.log2(found.slices[0].ci_low / rest))
    assert flags["score"].to_numpy() == pytest.approx(np.full(len(flags), expected))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_null_decisions_get_no_slice_flag(seed: int) -> None:
    frame = decisions(seed, effect=False)
    flagged = flag_and_snapshot(frame, context(), FlagPolicy(budget=60))
    assert "slice" not in set(flagged.flags["reason"])
    assert flagged.slices is not None and flagged.slices.n_tested > 0
    assert flagged.slices.slices == ()
    assert "slice" not in set(flagged.selection.cases["primary_reason"])
    assert len(flagged.selection.cases) == 60  # its seats went to the other reasons


def test_a_quota_of_zero_turns_the_reason_off() -> None:
    quotas = {**DEFAULT_QUOTAS, "slice": 0.0, "disparity": 0.2}
    flagged = flag_and_snapshot(decisions(0), context(), FlagPolicy(budget=60, quotas=quotas))
    assert "slice" not in set(flagged.flags["reason"]) and flagged.slices is None
    assert "slices" not in flagged.summary()


def test_without_outcomes_or_enough_rows_there_is_no_slice_flag() -> None:
    no_outcome = FlagContext(**{**context().__dict__, "y_true": None})
    flagged = flag_and_snapshot(decisions(0), no_outcome, FlagPolicy(budget=20))
    assert flagged.slices is None and "slice" not in set(flagged.flags["reason"])
    small = decisions(0).head(150)
    flags, found = slice_flags(small, y_true="outcome", y_pred="decision",
                               columns=["region"])
    assert found is None and flags.empty


def test_the_metric_comes_from_the_policy() -> None:
    for metric in METRICS:
        flagged = flag_and_snapshot(decisions(0), context(),
                                    FlagPolicy(budget=20, slice_metric=metric))
        assert flagged.slices is not None and flagged.slices.metric == metric
    with pytest.raises(ValueError, match=re.escape(MSG_SLICE_METRIC.format(
            choices=", ".join(METRICS), value="accuracy"))):
        FlagPolicy(slice_metric="accuracy")
    policy = FlagPolicy(slice_metric="false_negative_rate")
    assert FlagPolicy.from_dict(policy.as_dict()) == policy
    older = {k: v for k, v in FlagPolicy().as_dict().items() if k != "slice_metric"}
    assert FlagPolicy.from_dict(older).slice_metric == "error_rate"  # stored before it


def test_reviewers_never_read_the_explanation() -> None:
    frame = decisions(0)
    flagged = flag_and_snapshot(frame, context(), FlagPolicy(budget=60))
    cases = [c for c in flagged.cases if any(r["reason"] == "slice" for r in c.reasons)]
    assert cases
    for case in cases:
        stored = next(r for r in case.reasons if r["reason"] == "slice")
        assert "region=s" in stored["explanation"]
        for role in (Role.REVIEWER, Role.PANEL_LEAD, Role.ADMIN):
            shown = reasons_for(role, case.reasons)
            assert {"reason": "slice", "explanation": OUTCOME_FREE["slice"]} in shown
            lines = reason_lines(case.reasons, role)
            text = " ".join(lines)
            assert stored["explanation"] not in text
            assert "region" not in text and "error" not in text and not DIGIT.search(text)
        for role in (Role.DATA_SCIENTIST, Role.COMPLIANCE_OFFICER):
            assert stored in reasons_for(role, case.reasons)
        assert "reasons" not in str(case.snapshot.get("hidden", {}))


def test_queue_columns_are_features_and_sensitive_features_only() -> None:
    frame = decisions(0).assign(
        applicant=lambda d: [f"id-{i}" for i in range(len(d))],
        note=lambda d: [f"note {i % (MAX_LEVELS + 1)}" for i in range(len(d))],
        score=0.5)
    columns = queue_slice_columns(
        frame, features=["region", "product", "channel", "age", "applicant", "note"],
        sensitive_features=["sex"], roles=["outcome", "decision", "score"])
    # The row id and a text column of more than MAX_LEVELS values are left out.
    assert columns == ["region", "product", "channel", "age", "sex"]
