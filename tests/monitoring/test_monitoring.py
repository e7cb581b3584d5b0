"""Disparities over batches, verdict-change alerts and pooled windows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.data.synthetic import inject_drift, make_synthetic_loans
from audits.fairness.audit import audit_fairness
from audits.monitoring.history import (
    ALERT_COLUMNS,
    HISTORY_COLUMNS,
    BatchResult,
    disparity_history,
    group_label,
    pooled_window,
    verdict_alerts,
)

SEX = ({"sex": "f"}, {"sex": "m"})
AGE = ({"age_band": "50+"}, {"age_band": "30-49"})


def disparity(attributes: dict[str, str], reference: dict[str, str], verdict: str | None,
              ratio: float | None = 0.9, metric: str = "selection_rate") -> dict[str, Any]:
    return {"metric": metric, "attributes": attributes, "reference": reference,
            "difference": {"value": -0.05, "ci_low": -0.1, "ci_high": None},
            "ratio": {"value": ratio, "ci_low": None if ratio is None else ratio - 0.07,
                      "ci_high": None if ratio is None else ratio + 0.08},
            "p_value": 0.01, "p_adjusted": 0.02, "verdict": verdict,
            "min_detectable_difference": 0.03}


def batch(i: int, *disparities: dict[str, Any]) -> BatchResult:
    return BatchResult(i, f"week-{i}", f"2024-01-{i:02d}", f"2024-01-{i + 1:02d}",
                       {"rows": 100, "disparities": list(disparities)})


def test_group_label_keeps_the_given_order() -> None:
    assert group_label({"group": "B", "age_band": "50+"}) == "group=B & age_band=50+"
    assert group_label({"age_band": "50+", "group": "B"}) == "age_band=50+ & group=B"
    assert group_label({}) == ""


def test_history_is_tidy_with_baseline_at_position_zero() -> None:
    baseline = {"disparities": [disparity(*SEX, "pass")]}
    both = {"group": "B", "age_band": "50+"}
    h = disparity_history(
        [batch(7, disparity(*SEX, None, ratio=None)),
         batch(9, disparity(both, {"group": "A", "age_band": "30-49"}, "fail", 0.6))],
        baseline=baseline)
    assert list(h.columns) == list(HISTORY_COLUMNS)
    assert h["position"].tolist() == [0, 1, 2]
    assert h["batch_id"].tolist() == [None, 7, 9]
    assert h["label"].tolist() == ["baseline", "week-7", "week-9"]
    assert h["period_start"].tolist() == [None, "2024-01-07", "2024-01-09"]
    assert h["verdict"].tolist() == ["pass", "insufficient_evidence", "fail"]
    assert h["group"].tolist() == ["sex=f", "sex=f", "group=B & age_band=50+"]
    assert h["reference"].iloc[2] == "group=A & age_band=30-49"
    assert h["ratio"].iloc[0] == 0.9 and math.isnan(h["ratio"].iloc[1])
    assert h["ratio_low"].iloc[2] == pytest.approx(0.53)
    assert math.isnan(h["difference_high"].iloc[0]) and h["difference"].iloc[0] == -0.05
    without = disparity_history([batch(1, disparity(*SEX, "pass"))])
    assert without["position"].tolist() == [1]


def test_pass_to_fail_and_fail_to_pass_raise_alerts() -> None:
    h = disparity_history([
        batch(1, disparity(*AGE, "pass", 0.95), disparity(*SEX, "fail", 0.7)),
        batch(2, disparity(*AGE, "fail", 0.62), disparity(*SEX, "pass", 0.9)),
    ])
    alerts = verdict_alerts(h)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert alerts[["batch_id", "group", "from_verdict", "to_verdict", "severity"]
                  ].values.tolist() == [
        [2, "age_band=50+", "pass", "fail", "new failure"],
        [2, "sex=f", "fail", "pass", "resolved"]]
    assert alerts["message"].tolist() == [
        "Batch week-2: selection rate of age_band=50+ vs age_band=30-49 now fails the "
        "parity rule (ratio 0.62 [0.55, 0.70]); it was pass.",
        "Batch week-2: selection rate of sex=f vs sex=m no longer fails the parity rule "
        "(ratio 0.90 [0.83, 0.98]); it is now pass."]
    assert alerts["ratio_low"].tolist() == pytest.approx([0.55, 0.83])


def test_moves_between_pass_and_insufficient_evidence_are_not_alerts() -> None:
    h = disparity_history([batch(1, disparity(*SEX, "pass")), batch(2, disparity(*SEX, None)),
                           batch(3, disparity(*SEX, "insufficient_evidence")),
                           batch(4, disparity(*SEX, "pass"))])
    assert verdict_alerts(h).empty


def test_fail_to_insufficient_evidence_is_resolved_and_back_is_new() -> None:
    h = disparity_history([batch(1, disparity(*SEX, "fail")), batch(2, disparity(*SEX, None)),
                           batch(3, disparity(*SEX, "fail", ratio=None))])
    alerts = verdict_alerts(h)
    assert alerts["severity"].tolist() == ["resolved", "new failure"]
    assert alerts["from_verdict"].tolist() == ["fail", "insufficient_evidence"]
    assert alerts["message"].iloc[1].endswith(
        "now fails the parity rule (ratio n/a); it was insufficient evidence.")


def test_a_group_missing_from_a_batch_is_compared_with_its_last_appearance() -> None:
    other = disparity({"sex": "x"}, {"sex": "m"}, "pass")
    h = disparity_history([
        batch(1, disparity(*AGE, "pass"), disparity(*SEX, "fail"), other),
        batch(2, other),
        batch(3, disparity(*AGE, "fail"), disparity(*SEX, "fail"), other),
    ])
    alerts = verdict_alerts(h)
    assert alerts[["batch_id", "group", "from_verdict"]].values.tolist() == [
        [3, "age_band=50+", "pass"]]


def test_baseline_and_first_appearances_raise_nothing_by_themselves() -> None:
    h = disparity_history([batch(1, disparity(*SEX, "fail"))],
                          baseline={"disparities": [disparity(*AGE, "pass")]})
    assert verdict_alerts(h).empty
    h = disparity_history([batch(1, disparity(*SEX, "pass"))],
                          baseline={"disparities": [disparity(*SEX, "fail")]})
    assert verdict_alerts(h)[["batch_id", "severity"]].values.tolist() == [[1, "resolved"]]


def test_metrics_are_tracked_separately_and_rows_may_come_unsorted() -> None:
    h = disparity_history([
        batch(1, disparity(*SEX, "pass"), disparity(*SEX, "fail", metric="precision")),
        batch(2, disparity(*SEX, "fail"), disparity(*SEX, "fail", metric="precision")),
    ])
    alerts = verdict_alerts(h.iloc[::-1])
    assert alerts[["metric", "severity"]].values.tolist() == [["selection_rate", "new failure"]]


VERDICT_OR_ABSENT = st.sampled_from(["pass", "fail", "insufficient_evidence", None])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(VERDICT_OR_ABSENT, VERDICT_OR_ABSENT), min_size=1, max_size=8))
def test_alerts_match_a_plain_loop(sequence: list[tuple[str | None, str | None]]) -> None:
    batches = [batch(i + 1, *[disparity(attrs, {"sex": "m"}, v)
                              for attrs, v in zip(({"sex": "f"}, {"sex": "x"}), pair,
                                                  strict=True) if v is not None])
               for i, pair in enumerate(sequence)]
    expected = []
    for column, group in enumerate(("sex=f", "sex=x")):
        last = None
        for i, pair in enumerate(sequence):
            now = pair[column]
            if now is None:
                continue
            if last is not None and (last == "fail") != (now == "fail"):
                expected.append((i + 1, group, last, now))
            last = now
    got = verdict_alerts(disparity_history(batches))
    rows = list(zip(got["batch_id"], got["group"], got["from_verdict"], got["to_verdict"],
                    strict=True))
    assert sorted(rows) == sorted(expected)


@pytest.mark.parametrize(("batches", "baseline", "message"), [
    ([], None, "at least one batch is required"),
    ([batch(1), batch(1)], None, "batch_id 1 occurs more than once"),
    ([BatchResult(2, "w", None, None, {"rows": 1})], None,
     "the audit of batch 2 has no 'disparities' list"),
    ([batch(1)], {"disparities": "none"}, "the audit of the baseline has no 'disparities'"),
    ([batch(1, {"metric": "selection_rate", "attributes": {"sex": "f"}})], None,
     "disparity 0 of batch 1 lacks 'reference'"),
    ([batch(1, disparity(*SEX, "maybe"))], None,
     "disparity 0 of batch 1 has verdict 'maybe'"),
])
def test_history_refuses_bad_input(batches: list[BatchResult], baseline: Any,
                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        disparity_history(batches, baseline=baseline)


def test_alerts_need_the_history_columns() -> None:
    with pytest.raises(ValueError, match="history lacks column.*verdict"):
        verdict_alerts(pd.DataFrame({"position": [1], "batch_id": [1], "label": ["w"],
                                     "metric": ["m"], "group": ["g"], "reference": ["r"],
                                     "ratio": [1.0], "ratio_low": [1.0],
                                     "ratio_high": [1.0]}))
    empty = verdict_alerts(disparity_history([batch(1)]))
    assert empty.empty and list(empty.columns) == list(ALERT_COLUMNS)


def test_pooled_window_takes_the_last_frames_in_order() -> None:
    frames = [pd.DataFrame({"x": [i] * (i + 1)}, index=[10] * (i + 1)) for i in range(4)]
    pooled = pooled_window(frames, window=2)
    assert pooled["x"].tolist() == [2, 2, 2, 3, 3, 3, 3]
    assert pooled.index.tolist() == list(range(7))
    assert len(pooled_window(frames, window=10)) == 1 + 2 + 3 + 4
    assert pooled_window(frames, window=1)["x"].tolist() == [3] * 4
    with_empty = [frames[0], frames[0].iloc[:0]]
    assert pooled_window(with_empty, window=2)["x"].tolist() == [0]


@pytest.mark.parametrize("window", [0, -1, True, 1.5, "2"])
def test_pooled_window_refuses_a_bad_window(window: Any) -> None:
    with pytest.raises(ValueError, match="window must be a positive integer"):
        pooled_window([pd.DataFrame({"x": [1]})], window=window)
    with pytest.raises(ValueError, match="at least one frame is required"):
        pooled_window([], window=1)


def test_injected_drift_raises_one_new_failure_end_to_end() -> None:
    frames = [make_synthetic_loans(4000, random_state=seed) for seed in (1, 2, 3)]
    frames[2] = inject_drift(frames[2], column="age_band", value="50+", shift=-1.0)
    batches = [
        BatchResult(i + 1, f"week-{i + 1}", None, None, audit_fairness(
            frame, y_true="repaid", y_pred="approved", y_score="approval_score",
            sensitive_features=["group", "age_band"], n_boot=200).to_dict())
        for i, frame in enumerate(frames)]
    history = disparity_history(batches)
    mine = history[(history["group"] == "age_band=50+")
                   & (history["metric"] == "selection_rate")]
    # The undrifted batches pass: the alert is the drift's doing.
    assert mine["verdict"].tolist()[:2] == ["pass", "pass"]
    alerts = verdict_alerts(history)
    ours = alerts[(alerts["group"] == "age_band=50+") & (alerts["metric"] == "selection_rate")]
    assert ours[["batch_id", "from_verdict", "to_verdict", "severity"]].values.tolist() == [
        [3, "pass", "fail", "new failure"]]
    assert ours["ratio_high"].iloc[0] < 0.8
    assert ours["message"].iloc[0].startswith(
        "Batch week-3: selection rate of age_band=50+ vs age_band=30-49 now fails")
    assert not np.isin(alerts.loc[alerts["group"] == "age_band=50+", "batch_id"], [1, 2]).any()
