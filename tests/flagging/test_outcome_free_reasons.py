"""Queue reasons shown to reviewers and adjudicators never reveal an outcome.

Every kind of flag is made by its own function on real inputs; its full explanation
(for data scientists and compliance officers) does name the decision, the confusion
cell or the gold answer, which the oracle below must catch. The outcome-free form, and
the lines the pages draw for a reviewer, a panel lead or an admin, must contain none of
it: no outcome words, no label words, no numbers at all (so no label value or answer).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demo_support import DemoTemplates
from sklearn.linear_model import LogisticRegression

from app.case_display import reason_lines
from audits.flagging.active_learning import active_learning_flags
from audits.flagging.common import DECISION_REASONS
from audits.flagging.flags import (
    attribution_flags,
    counterfactual_flags,
    disparity_flags,
    gold_flags,
    low_confidence_flags,
    random_control_flags,
    slice_flags,
)
from audits.flagging.reasons import (
    FULL_REASON_ROLES,
    OUTCOME_FREE,
    outcome_free_reasons,
    reasons_for,
)
from audits.roles import Role
from audits.store import Store

POSITIVE_LABEL = "income over fifty thousand"
#: Words that name a decision, an outcome or a confusion cell, in any form.
OUTCOME = re.compile(
    r"false|true|positive|negative|approv|declin|deni|reject|accept|favourable|predicted|"
    r"correct|wrong|error|outcome|label|known answer:|answer is|was right|" + POSITIVE_LABEL,
    re.IGNORECASE)
DIGIT = re.compile(r"\d")
ADJUDICATORS = (Role.REVIEWER, Role.PANEL_LEAD, Role.ADMIN)


def _leaks(text: str) -> list[str]:
    return OUTCOME.findall(text) + DIGIT.findall(text)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    sex = np.array(["F", "M"] * (n // 2))
    x = rng.normal(size=n)
    return pd.DataFrame({"sex": sex, "sex_code": (sex == "F").astype(int), "x": x,
                         "y_true": rng.integers(0, 2, n),
                         "y_pred": (x + (sex == "M") > 0.3).astype(int)},
                        index=pd.RangeIndex(n) + 1000)


def _item(metric: str, ratio: float) -> dict[str, object]:
    return {"metric": metric, "attributes": {"sex": "F"}, "reference": {"sex": "M"},
            "verdict": "fail", "ratio": {"value": ratio, "ci_low": ratio * 0.9,
                                         "ci_high": ratio * 1.1}}


def every_kind_of_flag() -> pd.DataFrame:
    """One flags table holding every reason, each made by its own function."""
    frame = _frame()
    model = LogisticRegression().fit(frame[["sex_code", "x"]], frame["y_pred"])
    scores = pd.Series(model.predict_proba(frame[["sex_code", "x"]])[:, 1], index=frame.index)
    tables = [
        low_confidence_flags(scores, threshold=0.5, k=5),
        disparity_flags(frame, y_true="y_true", y_pred="y_pred", disparities=[
            _item("false_positive_rate", 1.9), _item("false_negative_rate", 2.1),
            _item("selection_rate", 0.5)]),
        disparity_flags(frame, y_true="y_true", y_pred="y_pred",
                        disparities=[_item("false_positive_rate", 1.9)],
                        positive_is_favourable=False),
        counterfactual_flags(model, frame, features=["sex_code", "x"],
                             sensitive_features=["sex_code"]),
        attribution_flags(pd.DataFrame({"sex_code": np.full(len(frame), 0.6),
                                        "x": np.full(len(frame), 0.4)}, index=frame.index),
                          watched=["sex_code"], kinds={"sex_code": "a likely proxy of sex"}),
        random_control_flags(frame.index, n=5, random_state=0),
        gold_flags(frame["y_true"].head(5)),
        gold_flags(frame["y_true"].head(5).map({0: "no", 1: POSITIVE_LABEL})),
        active_learning_flags(frame[["x"]], scores, k=5),
        _slice_flags(),
    ]
    return pd.concat(tables, ignore_index=True)


def _slice_flags() -> pd.DataFrame:
    """Flags of a planted worst-off slice (errors at 40% in region=s, 10% elsewhere)."""
    rng = np.random.default_rng(4)
    n = 2000
    frame = pd.DataFrame({"region": rng.choice(list("nsew"), n), "y_true": rng.integers(0, 2, n)},
                         index=pd.RangeIndex(n) + 5000)
    wrong = rng.random(n) < np.where(frame["region"] == "s", 0.4, 0.1)
    frame["y_pred"] = np.where(wrong, 1 - frame["y_true"], frame["y_true"])
    flags, _ = slice_flags(frame, y_true="y_true", y_pred="y_pred", columns=["region"])
    return flags.head(5)


def test_the_oracle_catches_what_the_full_reasons_reveal() -> None:
    flags = every_kind_of_flag()
    assert set(flags["reason"]) == set(DECISION_REASONS)
    text = " ".join(flags["explanation"])
    for revealing in ("a false positive", "a false negative", "Approved", "Declined",
                      "Known answer", POSITIVE_LABEL):
        assert revealing in text
    assert all(_leaks(e) for e in flags.loc[flags["reason"] == "disparity", "explanation"])


@pytest.mark.parametrize("role", ADJUDICATORS)
def test_every_reason_of_every_kind_is_outcome_free_for_who_rates_or_adjudicates(
        role: Role) -> None:
    flags = every_kind_of_flag()
    for _, row in flags.iterrows():
        stored = [{"reason": row["reason"], "score": float(row["score"]),
                   "explanation": row["explanation"]}]
        for line in reason_lines(stored, role):
            assert not _leaks(line), (row["reason"], line)
        assert [r["explanation"] for r in reasons_for(role, stored)] == [
            OUTCOME_FREE[row["reason"]]]
    # A case with all of its reasons at once, and an unknown kind, alike.
    every = [{"reason": r, "score": 0.5, "explanation": e}
             for r, e in zip(flags["reason"], flags["explanation"], strict=True)]
    every.append({"reason": "something new", "explanation": "Approved (a false positive)"})
    lines = reason_lines(every, role)
    assert len(lines) == len(DECISION_REASONS) + 1
    assert not any(_leaks(line) for line in lines)


def test_full_reasons_only_for_who_neither_rates_nor_adjudicates() -> None:
    stored = [{"reason": "disparity", "score": 0.9,
               "explanation": "Approved (a false positive), in group sex=F."}]
    assert {Role.DATA_SCIENTIST, Role.COMPLIANCE_OFFICER} == FULL_REASON_ROLES
    for role in Role:
        full = reasons_for(role, stored) == stored
        assert full == (role in FULL_REASON_ROLES)
    assert reasons_for("somebody", stored) == outcome_free_reasons(stored)
    with pytest.raises(ValueError, match="reason #0 must be a mapping with a 'reason' key"):
        outcome_free_reasons([{"explanation": "x"}])


def test_every_stored_case_of_the_demo_queue_is_outcome_free(
        demo_templates: DemoTemplates, tmp_path: Path) -> None:
    copy = demo_templates.copy(tmp_path / "home")
    with Store(copy.url) as store:
        cases = [c for run in store.queued_audit_runs() for c in store.list_cases(run)]
    assert {r["reason"] for c in cases for r in c.reasons} >= {"low_confidence", "disparity",
                                                               "random_control"}
    labels = {str(v) for c in cases for v in (c.snapshot.get("hidden") or {}).values()}
    for case in cases:
        for role in ADJUDICATORS:
            lines = reason_lines(case.reasons, role)
            assert not any(_leaks(line) for line in lines), lines
            assert not any(label and label in line for label in labels for line in lines)
        assert reason_lines(case.reasons, Role.COMPLIANCE_OFFICER) == [
            f"{line.split(': ', 1)[0]}: {r['explanation']}"
            for line, r in zip(reason_lines(case.reasons, Role.DATA_SCIENTIST), case.reasons,
                               strict=True)]
