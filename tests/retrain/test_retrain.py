"""audits.retrain.retraining: consensus corrects labels, retraining, paired before/after."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, recall_score

from audits.data.schema import ColumnRoles
from audits.data.synthetic import make_synthetic_loans
from audits.models.training import train_default_model
from audits.panel.simulation import SimulatedReviewer, simulate_ratings
from audits.raters.consensus import consensus_labels
from audits.retrain import retraining as rt

FEATURES = ("income", "debt_to_income", "credit_history_years", "loan_amount",
            "employment_years", "zip_region")
ROLES = ColumnRoles(target="repaid", sensitive_features=("group",), features=FEATURES)
N_REVIEWED = 1500


def _msg(template: str) -> str:
    """A regex matching a MSG_* template with any text in its fields."""
    return ".*".join(re.escape(part) for part in re.split(r"\{[^}]*\}", template))


# --- apply_consensus ------------------------------------------------------------


def _consensus(cases: list[object], labels: list[object], sources: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"case_id": cases, "label": pd.Series(labels, dtype=object),
                         "source": sources, "confidence": 0.95})


def test_apply_consensus_replaces_labels_and_lists_every_change() -> None:
    train = pd.DataFrame({"y": np.array([0, 1, 0, 1], dtype="int8")}, index=["a", "b", "c", "d"])
    cons = _consensus([7, 8, 9, 10], [1, 1, None, 0],
                      ["adjudicated", "majority", "none", "dawid_skene"])
    fix = rt.apply_consensus(train, target="y", consensus=cons,
                             row_of_case={7: "a", 8: "b", 9: "c", 10: "d"})
    assert fix.labels.tolist() == [1, 1, 0, 0]  # "c" (source none) keeps its label
    assert fix.labels.index.tolist() == ["a", "b", "c", "d"]
    assert fix.changed.to_dict("records") == [
        {"row": "a", "old_label": 0, "new_label": 1, "source": "adjudicated", "case_id": 7},
        {"row": "d", "old_label": 1, "new_label": 0, "source": "dawid_skene", "case_id": 10},
    ]
    assert train["y"].tolist() == [0, 1, 0, 1]  # input untouched


def test_apply_consensus_agreeing_duplicate_cases_are_fine() -> None:
    train = pd.DataFrame({"y": [0, 0]})
    cons = _consensus(["p", "q"], [1, 1], ["majority", "majority"])
    fix = rt.apply_consensus(train, target="y", consensus=cons, row_of_case={"p": 1, "q": 1})
    assert fix.labels.tolist() == [0, 1]
    assert fix.changed["case_id"].tolist() == ["p", "q"]


@pytest.mark.parametrize(("cons", "mapping", "error", "template"), [
    (_consensus([1], [1], ["vote"]), {1: 0}, ValueError, rt.MSG_SOURCE),
    (_consensus([1], [1], ["majority"]), {}, ValueError, rt.MSG_NO_ROW),
    (_consensus([1], [1], ["majority"]), {1: 99}, ValueError, rt.MSG_NO_ROW),
    (_consensus([1], ["yes"], ["majority"]), {1: 0}, ValueError, rt.MSG_LABEL_VALUE),
    (_consensus([1], [True], ["majority"]), {1: 0}, ValueError, rt.MSG_LABEL_VALUE),
    (_consensus([1, 2], [1, 0], ["majority"] * 2), {1: 0, 2: 0}, ValueError, rt.MSG_CONFLICT),
    (pd.DataFrame({"case_id": [1], "label": [1]}), {1: 0}, ValueError, rt.MSG_COLUMNS),
    ([1, 2], {1: 0}, TypeError, rt.MSG_NOT_FRAME),
])
def test_apply_consensus_errors(cons: object, mapping: dict[object, object],
                                error: type[Exception], template: str) -> None:
    train = pd.DataFrame({"y": [0, 1]})
    with pytest.raises(error, match=_msg(template)):
        rt.apply_consensus(train, target="y", consensus=cons,  # type: ignore[arg-type]
                           row_of_case=mapping)


def test_apply_consensus_rejects_bad_target() -> None:
    cons = _consensus([1], [1], ["majority"])
    with pytest.raises(ValueError, match=_msg(rt.MSG_COLUMNS)):
        rt.apply_consensus(pd.DataFrame({"z": [0]}), target="y", consensus=cons,
                           row_of_case={1: 0})
    with pytest.raises(ValueError, match=_msg(rt.MSG_BINARY)):
        rt.apply_consensus(pd.DataFrame({"y": [0, 2]}), target="y", consensus=cons,
                           row_of_case={1: 0})


# --- compare_models ---------------------------------------------------------------


def _held_out(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.integers(0, 2, n), "g": rng.choice(["a", "b", "c"], n),
                         "old": rng.integers(0, 2, n), "new": rng.integers(0, 2, n)})


def test_compare_models_point_values_match_fairlearn() -> None:
    h = _held_out(1)
    table = rt.compare_models(h, y_true="y", before="old", after="new", sensitive_feature="g",
                              reference="b", n_boot=20).table
    assert table["metric"].tolist()[0] == "accuracy"
    assert table[["group", "reference"]].iloc[0].isna().all()
    assert table[["group", "reference"]].iloc[1:].drop_duplicates().values.tolist() == [
        ["a", "b"], ["c", "b"]]
    for column in ("old", "new"):
        frame = MetricFrame(metrics={"selection_rate_difference": selection_rate,
                                     "true_positive_rate_difference": recall_score,
                                     "false_positive_rate_difference": false_positive_rate},
                            y_true=h["y"], y_pred=h[column], sensitive_features=h["g"])
        got = table["before" if column == "old" else "after"]
        assert got.iloc[0] == pytest.approx(accuracy_score(h["y"], h[column]))
        for _, row in table.iloc[1:].iterrows():
            expected = frame.by_group.loc[row["group"], row["metric"]] - frame.by_group.loc[
                "b", row["metric"]]
            assert got[row.name] == pytest.approx(expected)
    assert np.allclose(table["difference"], table["after"] - table["before"])


def test_compare_models_paired_identical_models_have_zero_width_interval() -> None:
    h = _held_out(2).assign(new=lambda d: d["old"])
    table = rt.compare_models(h, y_true="y", before="old", after="new",
                              sensitive_feature="g", n_boot=50).table
    assert (table["difference"] == 0).all()
    assert (table["ci_low"] == 0).all() and (table["ci_high"] == 0).all()


def test_compare_models_interval_brackets_difference_and_is_seeded() -> None:
    h = _held_out(3, n=600)
    kwargs = {"y_true": "y", "before": "old", "after": "new", "sensitive_feature": "g"}
    one = rt.compare_models(h, n_boot=200, random_state=5, **kwargs).table
    two = rt.compare_models(h.iloc[::-1], n_boot=200, random_state=5, **kwargs).table
    assert ((one["ci_low"] <= one["difference"]) & (one["difference"] <= one["ci_high"])).all()
    pd.testing.assert_frame_equal(one, rt.compare_models(h, n_boot=200, random_state=5,
                                                         **kwargs).table)
    assert one["reference"].iloc[1] == h["g"].value_counts().idxmax()  # default: largest
    assert np.allclose(one["difference"], two["difference"])  # row order irrelevant
    # Oracle for the spread: a plain loop resampling row indices gives a similar interval.
    rng = np.random.default_rng(0)
    y, old, new = (h[c].to_numpy() for c in ("y", "old", "new"))
    draws = [np.mean(new[i] == y[i]) - np.mean(old[i] == y[i])
             for i in (rng.integers(0, len(h), len(h)) for _ in range(400))]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    assert one["ci_low"].iloc[0] == pytest.approx(lo, abs=0.02)
    assert one["ci_high"].iloc[0] == pytest.approx(hi, abs=0.02)


@pytest.mark.parametrize(("change", "kwargs", "error", "template"), [
    (lambda d: d, {"n_boot": 0}, ValueError, rt.MSG_N_BOOT),
    (lambda d: d, {"n_boot": True}, ValueError, rt.MSG_N_BOOT),
    (lambda d: d, {"reference": "zzz"}, ValueError, rt.MSG_REFERENCE),
    (lambda d: d, {"level": 1.0}, ValueError, rt.MSG_LEVEL),
    (lambda d: d.assign(g="a"), {}, ValueError, rt.MSG_GROUPS),
    (lambda d: d.assign(g=[None] + ["a"] * 299), {}, ValueError, rt.MSG_GROUPS),
    (lambda d: d.assign(new=2), {}, ValueError, rt.MSG_BINARY),
    (lambda d: d.assign(y=[np.nan] + [1] * 299), {}, ValueError, rt.MSG_BINARY),
    (lambda d: d.drop(columns="old"), {}, ValueError, rt.MSG_COLUMNS),
    (lambda d: d.to_numpy(), {}, TypeError, rt.MSG_NOT_FRAME),
])
def test_compare_models_errors(change: object, kwargs: dict[str, object],
                               error: type[Exception], template: str) -> None:
    data = change(_held_out(4))  # type: ignore[operator]
    with pytest.raises(error, match=_msg(template)):
        rt.compare_models(data, y_true="y", before="old", after="new",
                          sensitive_feature="g", **kwargs)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(8, 60))
def test_compare_models_swapping_models_negates_the_change(seed: int, n: int) -> None:
    h = _held_out(seed, n)
    kwargs = {"y_true": "y", "sensitive_feature": "g", "n_boot": 40, "random_state": seed}
    if h["g"].nunique() < 2:
        h.loc[0, "g"] = "a" if h.loc[1, "g"] != "a" else "b"
    ab = rt.compare_models(h, before="old", after="new", **kwargs).table  # type: ignore[arg-type]
    ba = rt.compare_models(h, before="new", after="old", **kwargs).table  # type: ignore[arg-type]
    assert np.allclose(ab["difference"], -ba["difference"], equal_nan=True)
    assert np.allclose(ab["ci_low"], -ba["ci_high"], equal_nan=True)
    assert np.allclose(ab["before"], ba["after"], equal_nan=True)


def test_apply_consensus_agreeing_with_recorded_labels_changes_nothing() -> None:
    train = pd.DataFrame({"y": [0, 1, 1, 0]}, index=[5, 6, 7, 8])
    cons = _consensus(list("wxyz"), [0, 1, 1, 0], ["majority"] * 4)
    fix = rt.apply_consensus(train, target="y", consensus=cons,
                             row_of_case=dict(zip("wxyz", [5, 6, 7, 8], strict=True)))
    assert fix.changed.empty and list(fix.changed.columns) == [
        "row", "old_label", "new_label", "source", "case_id"]
    assert fix.labels.equals(train["y"].astype(np.int64))


# --- retrain ----------------------------------------------------------------------


def test_retrain_without_corrections_reproduces_the_default_model() -> None:
    df = make_synthetic_loans(1500, random_state=3)
    default = train_default_model(df, ROLES, kind="logistic_regression")
    again = rt.retrain(df, ROLES, labels=None, train_rows=default.train_rows)
    x = df.loc[:, list(FEATURES)]
    assert np.allclose(again.pipeline.predict_proba(x), default.pipeline.predict_proba(x))
    expected = (default.pipeline.predict_proba(x)[:, 1] >= 0.5).astype(np.int8)
    assert (rt.predict_retrained(again, df).to_numpy() == expected).all()


@pytest.mark.parametrize(("kwargs", "template"), [
    ({"constraint": "parity"}, rt.MSG_OPTION),
    ({"constraint": "demographic_parity"}, rt.MSG_NEED_SENSITIVE),
    ({"train_rows": [0, 1, 500]}, rt.MSG_ROWS),
    ({"train_rows": [0, 0, 1]}, rt.MSG_ROWS),
    ({"train_rows": []}, rt.MSG_ROWS),
    ({"labels": pd.Series([1, 0], index=[0, 1])}, rt.MSG_LABELS_INDEX),
    ({"labels": pd.Series([2] * 100, index=range(100))}, rt.MSG_BINARY),
    ({"kind": "forest"}, "unknown model kind"),
])
def test_retrain_errors(kwargs: dict[str, object], template: str) -> None:
    df = make_synthetic_loans(200, random_state=1)
    call: dict[str, object] = {"labels": None, "train_rows": np.arange(100)} | kwargs
    with pytest.raises(ValueError, match=_msg(template)):
        rt.retrain(df, ROLES, **call)  # type: ignore[arg-type]


# --- the feedback loop on synthetic loans (the acceptance) -----------------


@dataclass(frozen=True)
class Loop:
    frame: pd.DataFrame
    held_out: pd.DataFrame
    fix: rt.LabelCorrection
    consensus: pd.DataFrame
    row_of_case: dict[int, object]
    after: rt.RetrainedModel


@pytest.fixture(scope="module")
def loop() -> Loop:
    df = make_synthetic_loans(8000, random_state=0)  # label noise: 15% of B's repayments
    before = train_default_model(df, ROLES, kind="logistic_regression")
    train = df.iloc[before.train_rows]
    # Review the recorded defaults the model finds most likely repaid: suspected label noise.
    score = before.pipeline.predict_proba(train.loc[:, list(FEATURES)])[:, 1]
    suspicion = np.where(train["repaid"].to_numpy() == 0, score, -1.0)
    rows = train.index[np.argsort(-suspicion, kind="stable")[:N_REVIEWED]]
    cases = pd.DataFrame({"case_id": np.arange(N_REVIEWED),
                          "truth": train.loc[rows, "repaid_true"].to_numpy(),
                          "model_decision": 1, "subject_group": train.loc[rows, "group"]})
    reviewers = {f"r{i}": SimulatedReviewer(f"r{i}", accuracy=0.9) for i in range(3)}
    plan = pd.DataFrame({"case_id": np.repeat(cases["case_id"].to_numpy(), 3),
                         "reviewer_id": list(reviewers) * N_REVIEWED, "model_shown": False})
    cons = consensus_labels(simulate_ratings(cases, plan, reviewers, random_state=0))
    row_of_case = dict(zip(cases["case_id"].tolist(), rows.tolist(), strict=True))
    fix = rt.apply_consensus(train, target="repaid", consensus=cons, row_of_case=row_of_case)
    after = rt.retrain(df, ROLES, labels=fix.labels, train_rows=before.train_rows)
    held = df.iloc[before.test_rows].reset_index(drop=True)
    held = held.assign(before=(before.pipeline.predict_proba(held.loc[:, list(FEATURES)])[:, 1]
                               >= 0.5).astype(np.int8),
                       after=rt.predict_retrained(after, held).to_numpy())
    return Loop(df, held, fix, cons, row_of_case, after)


def _gap(h: pd.DataFrame, decision: str, truth: int | None = None) -> float:
    rows = h if truth is None else h[h["repaid_true"] == truth]
    rates = rows.groupby("group")[decision].mean()
    return float(rates["B"] - rates["A"])


def test_consensus_retraining_reduces_the_injected_disparity(loop: Loop) -> None:
    h = loop.held_out
    table = rt.compare_models(h, y_true="repaid_true", before="before", after="after",
                              sensitive_feature="group", reference="A", n_boot=500).table
    by_metric = table.set_index("metric")
    # Injected: B's noisy labels teach the model to approve B less (via the zip proxy).
    assert _gap(h, "before") == pytest.approx(by_metric.at["selection_rate_difference",
                                                           "before"])
    assert by_metric.at["selection_rate_difference", "before"] < -0.07
    assert by_metric.at["true_positive_rate_difference", "before"] < -0.07
    # Measured on seed 0: the selection-rate gap goes from -0.091 to about -0.011 and the
    # TPR gap from -0.101 to about -0.032; assert a reduction of at least 0.05 each, with
    # a paired-bootstrap interval of the change that excludes zero.
    for metric in ("selection_rate_difference", "true_positive_rate_difference",
                   "false_positive_rate_difference"):
        row = by_metric.loc[metric]
        assert abs(row["after"]) < abs(row["before"]) - 0.05, metric
        assert row["ci_low"] > 0, metric
    assert by_metric.at["accuracy", "after"] >= by_metric.at["accuracy", "before"] - 0.01


def test_lineage_lists_every_changed_label(loop: Loop) -> None:
    train = loop.frame.iloc[loop.after.train_rows]
    changed = loop.fix.changed
    differs = train["repaid"].astype(np.int64) != loop.fix.labels
    assert sorted(changed["row"].tolist()) == sorted(train.index[differs].tolist())
    assert len(changed) > 100
    cons = loop.consensus.set_index("case_id")
    for row in changed.itertuples(index=False):
        assert loop.row_of_case[row.case_id] == row.row
        assert cons.at[row.case_id, "source"] == row.source != "none"
        assert cons.at[row.case_id, "label"] == row.new_label == loop.fix.labels[row.row]
        assert row.old_label == train.at[row.row, "repaid"]
    # Most changes undo the injected noise: recorded default, truly repaid, group B.
    undone = train.loc[changed["row"], ["repaid", "repaid_true", "group"]]
    assert ((undone["repaid"] == 0) & (undone["repaid_true"] == 1)).mean() > 0.7


@pytest.mark.parametrize(("constraint", "metrics"), [
    ("demographic_parity", ("selection_rate_difference",)),
    ("equalized_odds", ("true_positive_rate_difference", "false_positive_rate_difference")),
])
def test_constraint_variant_reduces_its_gap(loop: Loop, constraint: str,
                                            metrics: tuple[str, ...]) -> None:
    fair = rt.retrain(loop.frame, ROLES, labels=loop.fix.labels,
                      train_rows=loop.after.train_rows, constraint=constraint,
                      sensitive_feature="group")
    assert fair.thresholds is not None and fair.constraint == constraint
    h = loop.held_out.assign(fair=rt.predict_retrained(fair, loop.held_out).to_numpy())
    table = rt.compare_models(h, y_true="repaid_true", before="before", after="fair",
                              sensitive_feature="group", reference="A", n_boot=300).table
    for metric in metrics:
        row = table.set_index("metric").loc[metric]
        assert abs(row["after"]) < 0.04 < abs(row["before"]), metric
        assert row["ci_low"] > 0, metric
    assert _gap(h, "fair") == pytest.approx(
        table.set_index("metric").at["selection_rate_difference", "after"])
    again = rt.predict_retrained(fair, loop.held_out)
    assert (again.to_numpy() == h["fair"].to_numpy()).all()  # seeded randomised thresholds
