"""Per-group reliability tables against independent oracles.

Bin means are checked against scikit-learn's ``calibration_curve`` on each group's rows,
intervals against statsmodels' ``proportion_confint`` (Wilson and the exact
Clopper-Pearson ``beta``), and the table of a stored run against the same computation
on the decisions rebuilt from its provenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demo_support import DemoCopy, DemoTemplates
from sklearn.calibration import calibration_curve
from statsmodels.stats.proportion import proportion_confint

from audits.fairness import reliability_table, run_reliability
from audits.fairness.stored import decisions_for
from audits.roles import Actor, Role
from audits.store import Store

SCIENTIST = Actor("demo-data-scientist", Role.DATA_SCIENTIST)


def _rows(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    score = rng.beta(2, 3, size=n)
    # Group b's scores overstate its positives: miscalibrated on purpose.
    truth = rng.random(n) < np.where(group == "b", score * 0.6, score)
    return pd.DataFrame({"s": group, "t": rng.choice(["x", "y"], size=n),
                         "score": score, "y": truth.astype(int)})


@pytest.mark.parametrize("n_bins", [5, 10, 13])
def test_bin_means_match_sklearn_per_group(n_bins: int) -> None:
    df = _rows()
    table = reliability_table(df["y"], df["score"], sensitive_features=df["s"], n_bins=n_bins)
    for value, rows in df.groupby("s"):
        prob_true, prob_pred = calibration_curve(rows["y"], rows["score"], n_bins=n_bins,
                                                 strategy="uniform")
        mine = table[table["group"] == f"s={value}"]
        np.testing.assert_allclose(mine["observed_rate"], prob_true, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mine["mean_score"], prob_pred, rtol=0, atol=1e-12)
        assert mine["n"].sum() == len(rows)
        np.testing.assert_allclose(mine["positives"], mine["observed_rate"] * mine["n"])
        assert mine["positives"].sum() == rows["y"].sum()


def test_scores_on_inner_edges_fall_in_the_lower_bin_as_in_sklearn() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    score = np.array([0.0, 0.25, 0.5, 0.5, 0.75, 0.2500001, 1.0, 0.74999])
    table = reliability_table(y, score, sensitive_features=pd.Series(["g"] * 8, name="s"),
                              n_bins=4)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=4)
    np.testing.assert_allclose(table["observed_rate"], prob_true, atol=1e-12)
    np.testing.assert_allclose(table["mean_score"], prob_pred, atol=1e-12)
    assert table["bin"].tolist() == [0, 1, 2, 3]
    assert table["n"].tolist() == [2, 3, 2, 1]  # 0.25 in bin 0, 0.5 in bin 1, 0.75 in 2


@pytest.mark.parametrize(("method", "oracle"), [("wilson", "wilson"),
                                                ("clopper_pearson", "beta")])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_intervals_match_statsmodels(method: str, oracle: str, level: float) -> None:
    df = _rows(seed=11)
    table = reliability_table(df["y"], df["score"], sensitive_features=df["s"], method=method,
                              level=level)
    low, high = proportion_confint(table["positives"].to_numpy(), table["n"].to_numpy(),
                                   alpha=1 - level, method=oracle)
    np.testing.assert_allclose(table["ci_low"], low, atol=1e-10)
    np.testing.assert_allclose(table["ci_high"], high, atol=1e-10)
    assert ((table["ci_low"] <= table["observed_rate"])
            & (table["observed_rate"] <= table["ci_high"])).all()


def test_intersections_name_every_feature_in_order() -> None:
    df = _rows()
    table = reliability_table(df["y"], df["score"], sensitive_features=df[["t", "s"]])
    assert set(table["slice"]) == {"t & s"}
    combos = {f"t={t} & s={s}" for t, s in zip(df["t"], df["s"], strict=True)}
    assert set(table["group"]) == combos
    for name, rows in table.groupby("group"):
        t, s = (part.split("=")[1] for part in str(name).split(" & "))
        assert rows["n"].sum() == ((df["t"] == t) & (df["s"] == s)).sum()


def test_order_of_rows_does_not_change_the_table() -> None:
    df = _rows()
    shuffled = df.sample(frac=1.0, random_state=5)
    a = reliability_table(df["y"], df["score"], sensitive_features=df["s"])
    b = reliability_table(shuffled["y"], shuffled["score"], sensitive_features=shuffled["s"])
    key = ["group", "bin"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                  b.sort_values(key).reset_index(drop=True),
                                  check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"y_score": [0.2, 1.3, 0.5]}, "must lie in \\[0, 1\\]"),
    ({"y_true": [0, 2, 1]}, "y_true must be binary"),
    ({"y_true": [0, 1]}, "differ in length"),
    ({"n_bins": 0}, "n_bins must be an integer"),
    ({"method": "normal"}, "method must be one of"),
    ({"level": 1.0}, "level must lie strictly between"),
    ({"y_score": [0.2, None, 0.5]}, "y_score has 1 missing"),
])
def test_bad_input_is_named(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"y_true": [0, 1, 1], "y_score": [0.2, 0.7, 0.5],
                               "sensitive_features": pd.Series(["a", "b", "a"], name="s")}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        reliability_table(args.pop("y_true"), args.pop("y_score"), **args)  # type: ignore[arg-type]


def test_sensitive_features_must_be_pandas() -> None:
    with pytest.raises(TypeError, match="pandas Series or DataFrame"):
        reliability_table([0, 1], [0.1, 0.9], sensitive_features=["a", "b"])  # type: ignore[arg-type]


@pytest.fixture
def demo(demo_templates: DemoTemplates, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoCopy, Store]]:
    copy = demo_templates.copy(tmp_path / "home")
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    with Store(copy.url) as store:
        yield copy, store


def test_stored_run_is_the_table_of_its_rebuilt_decisions(
        demo: tuple[DemoCopy, Store]) -> None:
    copy, store = demo
    run = next(r for r in reversed(store.list_audit_runs())
               if r.config.get("kind") == "fairness" and r.model_id is not None)
    table = run_reliability(store, SCIENTIST, run)
    slices = [" & ".join(s) for s in run.results["config"]["slices"]]
    assert list(dict.fromkeys(table["slice"])) == slices
    decisions = decisions_for(store, SCIENTIST, store.get_dataset(run.dataset_id),
                              store.get_model(run.model_id))
    frame = decisions.frame
    for features in run.results["config"]["slices"]:
        part = table[table["slice"] == " & ".join(features)]
        assert part["n"].sum() == len(frame) == run.results["rows"]
    first = run.results["config"]["slices"][0][0]
    for value, rows in frame.groupby(first):
        prob_true, prob_pred = calibration_curve(rows[decisions.y_true],
                                                 rows[str(decisions.y_score)], n_bins=10)
        mine = table[table["group"] == f"{first}={value}"]
        np.testing.assert_allclose(mine["observed_rate"], prob_true, atol=1e-12)
        np.testing.assert_allclose(mine["mean_score"], prob_pred, atol=1e-12)


def test_only_completed_fairness_runs_have_a_reliability_table(
        demo: tuple[DemoCopy, Store]) -> None:
    _, store = demo
    summary = next(r for r in store.list_audit_runs() if r.config.get("kind") != "fairness")
    with pytest.raises(ValueError, match=f"run #{summary.id} is not a completed fairness"):
        run_reliability(store, SCIENTIST, summary)
