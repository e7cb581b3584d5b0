"""Proxy detection: the synthetic dataset's injected proxy is found and ranks first."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score
from threadpoolctl import threadpool_limits

from audits.data.schema import ColumnRoles
from audits.data.synthetic import make_synthetic_loans
from audits.explain.groups import explain_groups
from audits.explain.proxies import MSG_THRESHOLD, correlation_ratio, cramers_v, find_proxies
from audits.models.training import train_default_model

FEATURES = ("income", "debt_to_income", "credit_history_years", "loan_amount",
            "employment_years", "zip_region", "age_band")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # OpenMP spin-waiting makes HistGradientBoosting ~100x slower on busy shared cores.
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("target", ["approved", "repaid"])
def test_injected_proxy_ranks_first_and_carries_the_largest_gap(target: str) -> None:
    frame = make_synthetic_loans(3000, random_state=11)
    roles = ColumnRoles(target=target, sensitive_features=("group",), features=FEATURES)
    model = train_default_model(frame, roles, kind="logistic_regression")
    attribution = explain_groups(model.pipeline, frame, features=FEATURES,
                                 sensitive_feature="group", min_rows_per_group=300,
                                 max_rows_per_group=300)
    report = find_proxies(frame, features=FEATURES, sensitive_features=["group"],
                          attributions=[attribution])
    assert report.likely["feature"].iloc[0] == "zip_region"
    assert report.likely["rank"].iloc[0] == 1
    table = report.associations.set_index("feature")
    assert table["attribution_gap"].idxmax() == "zip_region"
    assert table.loc["zip_region", "measure"] == "cramers_v"
    assert table.loc["income", "measure"] == "correlation_ratio"
    assert "0.3" in report.rule


def test_correlation_ratio_matches_r2_of_group_means() -> None:
    rng = np.random.default_rng(0)
    groups = pd.Series(rng.choice(list("abc"), 500))
    values = pd.Series(rng.normal(size=500) + groups.map({"a": 0.0, "b": 1.0, "c": 3.0}))
    fitted = values.groupby(groups).transform("mean")
    assert correlation_ratio(values, groups) == pytest.approx(
        np.sqrt(r2_score(values, fitted)), abs=1e-12)


def test_cramers_v_of_independent_and_identical_columns() -> None:
    x = pd.Series(list("ab") * 50)
    assert cramers_v(x, x) == pytest.approx(1.0)
    assert cramers_v(x, pd.Series(list("aabb") * 25)) == pytest.approx(0.0, abs=1e-12)
    assert cramers_v(x, pd.Series(["z"] * 100)) == 0.0


def test_without_attribution_association_alone_decides() -> None:
    frame = make_synthetic_loans(1000, random_state=2)
    report = find_proxies(frame, features=FEATURES, sensitive_features=["group", "age_band"])
    assert report.associations["attribution_gap"].isna().all()
    assert report.likely[["sensitive_feature", "feature"]].values.tolist() == [
        ["age_band", "age_band"], ["group", "zip_region"]]


def test_bad_threshold() -> None:
    frame = make_synthetic_loans(50)
    with pytest.raises(ValueError, match=MSG_THRESHOLD.split("{")[0] + "min_association"):
        find_proxies(frame, features=["income"], sensitive_features=["group"],
                     min_association=2.0)
