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
    alert_status,
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
    assert h["group"].tolist() == ["sex=f", "sex=f", "age_band=50+ & group=B"]
    assert h["reference"].iloc[2] == "age_band=30-49 & group=A"
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
    alerts = verdict_alerts(h, hold=1)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert alerts[["batch_id", "group", "from_verdict", "to_verdict", "severity"]
                  ].values.tolist() == [
        [2, "age_band=50+", "pass", "fail", "new failure"],
        [2, "sex=f", "fail", "pass", "resolved"]]
    assert alerts["message"].tolist() == [
        "Batch week-2: selection rate of age_band=50+ vs age_band=30-49 now fails the "
        "parity rule (ratio 0.62 [0.55, 0.70]); it was pass.",
        "Batch week-2: selection rate of sex=f vs sex=m no longer fails the parity rule "
        "(ratio 0.90 [0.83, 0.98]): its interval lies inside the allowed region; it was "
        "fail."]
    assert alerts["ratio_low"].tolist() == pytest.approx([0.55, 0.83])


def test_moves_between_pass_and_insufficient_evidence_are_not_alerts() -> None:
    h = disparity_history([batch(1, disparity(*SEX, "pass")), batch(2, disparity(*SEX, None)),
                           batch(3, disparity(*SEX, "insufficient_evidence")),
                           batch(4, disparity(*SEX, "pass"))])
    assert verdict_alerts(h, hold=1).empty


@pytest.mark.parametrize("hold", [1, 2, 3])
def test_insufficient_evidence_never_resolves_an_open_failure(hold: int) -> None:
    h = disparity_history([batch(1, disparity(*SEX, "fail")), batch(2, disparity(*SEX, None)),
                           batch(3, disparity(*SEX, "insufficient_evidence", ratio=0.44)),
                           batch(4, disparity(*SEX, "fail", ratio=None))])
    assert verdict_alerts(h, hold=hold).empty
    status = alert_status(h, hold=hold)
    assert status[["state", "since_label", "verdict"]].values.tolist() == [
        ["open", "week-1", "fail"]]
    status = alert_status(h[h["position"] < 4], hold=hold)
    assert status["note"].tolist() == ["still open: insufficient evidence to call it resolved"]
    h = disparity_history([batch(1, disparity(*AGE, "pass")), batch(2, disparity(*AGE, None)),
                           batch(3, disparity(*AGE, "fail", ratio=None))])
    alerts = verdict_alerts(h, hold=1)
    assert alerts["from_verdict"].tolist() == ["insufficient_evidence"]
    assert alerts["message"].iloc[0].endswith(
        "now fails the parity rule (ratio n/a); it was insufficient evidence.")


def test_a_group_missing_from_a_batch_is_compared_with_its_last_appearance() -> None:
    other = disparity({"sex": "x"}, {"sex": "m"}, "pass")
    h = disparity_history([
        batch(1, disparity(*AGE, "pass"), disparity(*SEX, "fail"), other),
        batch(2, other),
        batch(3, disparity(*AGE, "fail"), disparity(*SEX, "fail"), other),
    ])
    alerts = verdict_alerts(h, hold=1)
    assert alerts[["batch_id", "group", "from_verdict"]].values.tolist() == [
        [3, "age_band=50+", "pass"]]


def test_baseline_and_first_appearances_raise_nothing_by_themselves() -> None:
    h = disparity_history([batch(1, disparity(*SEX, "fail"))],
                          baseline={"disparities": [disparity(*AGE, "pass")]})
    assert verdict_alerts(h, hold=1).empty
    h = disparity_history([batch(1, disparity(*SEX, "pass"))],
                          baseline={"disparities": [disparity(*SEX, "fail")]})
    assert verdict_alerts(h, hold=1)[["batch_id", "severity"]].values.tolist() == [
        [1, "resolved"]]
    assert verdict_alerts(h, hold=2).empty
    assert alert_status(h, hold=2)["note"].tolist() == [
        "open: passes, 1 of 2 batches needed to resolve it"]


def test_a_group_keeps_its_record_whatever_the_order_of_its_attributes() -> None:
    # Stored JSON may come back with its keys reordered (jsonb does); the record holds.
    both = ({"group": "B", "age_band": "50+"}, {"group": "A", "age_band": "30-49"})
    swapped = ({"age_band": "50+", "group": "B"}, {"age_band": "30-49", "group": "A"})
    h = disparity_history([batch(1, disparity(*both, "pass")),
                           batch(2, disparity(*swapped, "fail")),
                           batch(3, disparity(*both, "fail"))])
    assert h["group"].nunique() == 1
    assert verdict_alerts(h)[["batch_id", "severity"]].values.tolist() == [[3, "new failure"]]


def test_metrics_are_tracked_separately_and_rows_may_come_unsorted() -> None:
    h = disparity_history([
        batch(1, disparity(*SEX, "pass"), disparity(*SEX, "fail", metric="precision")),
        batch(2, disparity(*SEX, "fail"), disparity(*SEX, "fail", metric="precision")),
    ])
    alerts = verdict_alerts(h.iloc[::-1], hold=1)
    assert alerts[["metric", "severity"]].values.tolist() == [["selection_rate", "new failure"]]


VERDICT_OR_ABSENT = st.sampled_from(["pass", "fail", "insufficient_evidence", None])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(VERDICT_OR_ABSENT, VERDICT_OR_ABSENT), min_size=1, max_size=10),
       st.integers(1, 3))
def test_alerts_match_a_plain_loop(sequence: list[tuple[str | None, str | None]],
                                   hold: int) -> None:
    batches = [batch(i + 1, *[disparity(attrs, {"sex": "m"}, v)
                              for attrs, v in zip(({"sex": "f"}, {"sex": "x"}), pair,
                                                  strict=True) if v is not None])
               for i, pair in enumerate(sequence)]
    expected = []
    for column, group in enumerate(("sex=f", "sex=x")):
        seen = [(i + 1, pair[column]) for i, pair in enumerate(sequence)
                if pair[column] is not None]
        failing, run, run_from, previous = None, 0, None, None
        for position, now in seen:
            if failing is not None:
                wanted = "pass" if failing else "fail"
                run_from = previous if now == wanted and run == 0 else run_from
                run = run + 1 if now == wanted else 0
                if run == hold:
                    expected.append((position, group, run_from, now))
                    failing, run = not failing, 0
            else:
                failing = now == "fail"
            previous = now
    got = verdict_alerts(disparity_history(batches), hold=hold)
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
    # One drifted batch is not yet a sustained failure at the default hold of 2.
    held = verdict_alerts(history)
    assert held[(held["group"] == "age_band=50+")].empty
    alerts = verdict_alerts(history, hold=1)
    ours = alerts[(alerts["group"] == "age_band=50+") & (alerts["metric"] == "selection_rate")]
    assert ours[["batch_id", "from_verdict", "to_verdict", "severity"]].values.tolist() == [
        [3, "pass", "fail", "new failure"]]
    assert ours["ratio_high"].iloc[0] < 0.8
    assert ours["message"].iloc[0].startswith(
        "Batch week-3: selection rate of age_band=50+ vs age_band=30-49 now fails")
    assert not np.isin(alerts.loc[alerts["group"] == "age_band=50+", "batch_id"], [1, 2]).any()


def _decisions(n_per_group: int, rate_f: float, rate_m: float, seed: int) -> pd.DataFrame:
    """Decisions of two groups with exactly the given selection rates (shuffled)."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, rate in (("f", rate_f), ("m", rate_m)):
        chosen = np.zeros(n_per_group, dtype=int)
        chosen[:round(rate * n_per_group)] = 1
        rows.append(pd.DataFrame({"sex": group, "y_pred": rng.permutation(chosen),
                                  "y_true": rng.integers(0, 2, n_per_group)}))
    return pd.concat(rows, ignore_index=True)


def _weekly(frames: list[pd.DataFrame], *, window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-batch and rolling-window histories of a series of batches, as the ingest keeps."""
    def audit(frame: pd.DataFrame) -> dict[str, Any]:
        return audit_fairness(frame, y_true="y_true", y_pred="y_pred", sensitive_features=["sex"],
                              reference={"sex": "m"}, n_boot=200, random_state=0).to_dict()
    per_batch = [BatchResult(i + 1, f"week-{i + 1}", None, None, audit(f))
                 for i, f in enumerate(frames)]
    window_batches = [BatchResult(i + 1, f"week-{i + 1}", None, None,
                                  audit(pooled_window(frames[:i + 1], window=window)))
                      for i in range(len(frames))]
    return disparity_history(per_batch), disparity_history(window_batches)


def _selection(history: pd.DataFrame, table: pd.DataFrame | None = None) -> pd.DataFrame:
    t = history if table is None else table
    return t[(t["metric"] == "selection_rate") & (t["group"] == "sex=f")]


def test_a_steady_ratio_of_075_does_not_flap() -> None:
    # Every week the ratio is 0.72-0.78. Judged batch by batch, fail -> insufficient
    # evidence read as "resolved" and back as a "new failure"; on the window's record
    # the failure opens once and is never reported resolved: no batch shows it passing.
    rates = [0.29, 0.30, 0.31, 0.29, 0.30, 0.31, 0.29, 0.30, 0.31, 0.30, 0.29, 0.31]
    frames = [_decisions(3000, r, 0.40, seed) for seed, r in enumerate(rates)]
    per_batch, window = _weekly(frames, window=4)
    assert _selection(per_batch)["ratio"].between(0.72, 0.78).all()
    assert "pass" not in set(_selection(per_batch)["verdict"])
    assert "pass" not in set(_selection(window)["verdict"])
    for hold in (1, 2, 3):
        alerts = _selection(verdict_alerts(window, hold=hold))
        assert alerts["severity"].tolist() == ["new failure"]
        status = _selection(alert_status(window, hold=hold))
        assert status["state"].tolist() == ["open"]
    # Constructed: the per-batch verdicts of such a group, flipping week by week.
    flipping = ["fail", "insufficient_evidence", "fail", "insufficient_evidence",
                "insufficient_evidence", "fail", "insufficient_evidence", "fail"]
    h = disparity_history([batch(i + 1, disparity(*SEX, v, ratio=0.73 + 0.01 * (i % 5)))
                           for i, v in enumerate(flipping)])
    assert verdict_alerts(h, hold=1).empty and verdict_alerts(h).empty
    assert alert_status(h)["state"].tolist() == ["open"]


def test_a_real_recovery_is_resolved_after_the_hold() -> None:
    frames = ([_decisions(800, 0.24, 0.40, seed) for seed in range(3)]
              + [_decisions(800, 0.40, 0.40, seed) for seed in range(3, 12)])
    _, window = _weekly(frames, window=2)
    for hold in (1, 2, 3):
        verdicts = _selection(window)["verdict"].tolist()
        first_pass = verdicts.index("pass")
        assert "fail" not in verdicts[first_pass:]
        alerts = _selection(verdict_alerts(window, hold=hold))
        assert alerts["severity"].tolist() == ["resolved"]
        # resolved on the hold-th passing window in a row, with the interval inside
        # [0.8, 1.25], never on an inconclusive one
        assert alerts["batch_id"].iloc[0] == first_pass + hold
        assert verdicts[first_pass:first_pass + hold] == ["pass"] * hold
        assert alerts["ratio_low"].iloc[0] >= 0.8 and alerts["ratio_high"].iloc[0] <= 1.25
        assert _selection(alert_status(window, hold=hold))["state"].tolist() == ["clear"]


def test_a_tiny_batch_does_not_resolve_a_failure() -> None:
    # The baseline fails clearly; a batch with 12 women at ratio 0.44 has an interval
    # reaching past 1: no evidence of passing, so the failure stays open.
    baseline = audit_fairness(_decisions(3000, 0.20, 0.40, 0), y_true="y_true",
                              y_pred="y_pred", sensitive_features=["sex"],
                              reference={"sex": "m"}, n_boot=200, random_state=0).to_dict()
    tiny = pd.concat([_decisions(12, 0.17, 0.40, 1).query("sex == 'f'"),
                      _decisions(2000, 0.40, 0.40, 2).query("sex == 'm'")], ignore_index=True)
    audit = audit_fairness(tiny, y_true="y_true", y_pred="y_pred", sensitive_features=["sex"],
                           reference={"sex": "m"}, n_boot=200, min_n=5,
                           random_state=0).to_dict()
    history = disparity_history([BatchResult(1, "week-1", None, None, audit)],
                                baseline=baseline)
    row = _selection(history).iloc[-1]
    assert row["verdict"] == "insufficient_evidence" and row["ratio_high"] > 1.0
    for hold in (1, 2):
        assert _selection(verdict_alerts(history, hold=hold)).empty
        status = _selection(alert_status(history, hold=hold)).iloc[0]
        assert status["state"] == "open" and status["since_label"] == "baseline"
        assert status["note"] == "still open: insufficient evidence to call it resolved"


@pytest.mark.parametrize("hold", [0, -1, True, 1.5, "2"])
def test_alerts_refuse_a_bad_hold(hold: Any) -> None:
    h = disparity_history([batch(1, disparity(*SEX, "pass"))])
    with pytest.raises(ValueError, match="hold must be a positive integer"):
        verdict_alerts(h, hold=hold)
    with pytest.raises(ValueError, match="hold must be a positive integer"):
        alert_status(h, hold=hold)
