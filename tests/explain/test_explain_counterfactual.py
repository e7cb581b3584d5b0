"""Counterfactual flips: sensitive feature as input, proxies, and a model blind to group."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from audits.data.schema import ColumnRoles
from audits.data.synthetic import make_synthetic_loans
from audits.explain.counterfactual import (
    MSG_NOT_INPUT,
    MSG_PROXY_NOT_FEATURE,
    counterfactual_flips,
)
from audits.models.training import predict_decisions, train_default_model

BASE = ("income", "debt_to_income", "zip_region")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # OpenMP spin-waiting makes HistGradientBoosting ~100x slower on busy shared cores.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_synthetic_loans(1500, random_state=7)


def _model(frame: pd.DataFrame, features: tuple[str, ...]) -> object:
    roles = ColumnRoles(target="approved", sensitive_features=("group",), features=features)
    return train_default_model(frame, roles, kind="logistic_regression").pipeline


def test_model_blind_to_group_says_so_instead_of_zero_flips(frame: pd.DataFrame) -> None:
    result = counterfactual_flips(_model(frame, BASE), frame, features=BASE,
                                  sensitive_feature="group")
    assert not result.sensitive_is_input
    assert result.message == MSG_NOT_INPUT.format(column="group")
    assert result.table.empty


def test_proxies_alone_flip_decisions_of_a_blind_model(frame: pd.DataFrame) -> None:
    pipeline = _model(frame, BASE)
    result = counterfactual_flips(pipeline, frame, features=BASE, sensitive_feature="group",
                                  proxies=["zip_region"])
    table = result.table.set_index("group")
    assert table.loc["B", "changed"] == "zip_region"
    assert table.loc["B", "n_to_positive"] > 0  # moved out of the penalised region
    # Independent recount for group B: set zip_region to group A's most common region.
    b = frame[frame["group"] == "B"]
    region = frame.loc[frame["group"] == "A", "zip_region"].mode().iloc[0]
    before = predict_decisions(pipeline, b, features=BASE)["y_pred"]
    after = predict_decisions(pipeline, b.assign(zip_region=region), features=BASE)["y_pred"]
    assert table.loc["B", "n_flips"] == int((before != after).sum())
    assert result.message is not None and "zip_region" in result.message


def test_sensitive_input_is_changed(frame: pd.DataFrame) -> None:
    features = (*BASE, "group")
    result = counterfactual_flips(_model(frame, features), frame, features=features,
                                  sensitive_feature="group")
    assert result.sensitive_is_input and result.message is None
    assert set(result.table["counterfactual_group"]) == {"A", "B"}
    counts = frame["group"].value_counts()
    assert result.table.set_index("group")["n_rows"].to_dict() == counts.to_dict()


def test_proxy_must_be_a_feature(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=MSG_PROXY_NOT_FEATURE.split("{")[0]):
        counterfactual_flips(_model(frame, BASE), frame, features=BASE,
                             sensitive_feature="group", proxies=["age_band"])
