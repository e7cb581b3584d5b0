"""Stored explanation runs: computed once per configuration, refused for the wrong role.

german_credit with the logistic-regression default model (fast to train and to explain),
in a temporary store prepared once for the module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from audits.demo.default import DEMO_PERSONAS, DemoState, ensure_demo
from audits.explain.stored import EXPLAIN_KIND, MSG_NO_MODEL, run_explanations
from audits.roles import Actor, PermissionDenied, Role
from audits.store import AuditRunRecord, Store

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
DATA_SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)
N_CASES = 8


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, DemoState]]:
    """german_credit with a logistic regression, in a temporary FAIRPANEL_HOME."""
    home: Path = tmp_path_factory.mktemp("explain-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", str(home))
        with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
            yield store, ensure_demo(store, dataset="german_credit",
                                     kind="logistic_regression")


@pytest.fixture(scope="module")
def run(prepared: tuple[Store, DemoState]) -> AuditRunRecord:
    store, demo = prepared
    return run_explanations(store, DATA_SCIENTIST, demo.dataset, demo.model, n_cases=N_CASES,
                            n_bootstrap=50)


def explanation_runs(store: Store) -> list[AuditRunRecord]:
    return [r for r in store.list_audit_runs() if r.config.get("kind") == EXPLAIN_KIND]


def test_run_is_stored_with_its_configuration(run: AuditRunRecord) -> None:
    assert run.status == "completed" and run.created_by == DATA_SCIENTIST.username
    assert run.config["kind"] == EXPLAIN_KIND
    assert len(run.config["config_sha256"]) == 64
    assert run.config["sensitive_features"] == ["sex", "age_group", "foreign_worker"]
    assert "held-out decisions" in run.config["decisions"]


def test_same_inputs_reuse_the_stored_run(prepared: tuple[Store, DemoState],
                                          run: AuditRunRecord) -> None:
    store, demo = prepared
    before = len(explanation_runs(store))
    again = run_explanations(store, DATA_SCIENTIST, demo.dataset, demo.model,
                             n_cases=N_CASES, n_bootstrap=50)
    assert again.id == run.id
    assert len(explanation_runs(store)) == before


def test_other_options_make_a_new_run(prepared: tuple[Store, DemoState],
                                      run: AuditRunRecord) -> None:
    store, demo = prepared
    other = run_explanations(store, DATA_SCIENTIST, demo.dataset, demo.model,
                             sensitive_features=["sex"], n_cases=2, n_bootstrap=20)
    assert other.id != run.id
    assert list(other.results["per_feature"]) == ["sex"]
    assert len(other.results["cases"]) == 2


def test_compliance_officer_is_refused(prepared: tuple[Store, DemoState]) -> None:
    store, demo = prepared
    before = len(store.list_audit_runs())
    with pytest.raises(PermissionDenied):
        run_explanations(store, COMPLIANCE, demo.dataset, demo.model, n_cases=1)
    assert len(store.list_audit_runs()) == before


def test_no_model_is_a_clear_error(prepared: tuple[Store, DemoState]) -> None:
    store, demo = prepared
    with pytest.raises(ValueError, match="explanations need a model") as info:
        run_explanations(store, DATA_SCIENTIST, demo.dataset, None)
    assert str(info.value) == MSG_NO_MODEL.format(name="german_credit")


def test_unknown_sensitive_feature_is_refused(prepared: tuple[Store, DemoState]) -> None:
    store, demo = prepared
    with pytest.raises(ValueError, match="'duration' is not one of"):
        run_explanations(store, DATA_SCIENTIST, demo.dataset, demo.model,
                         sensitive_features=["duration"])


def test_results_shape(run: AuditRunRecord) -> None:
    results = run.results
    assert results is not None
    json.dumps(results, allow_nan=False)  # JSON-safe: no NaN or infinity
    explainer = results["explainer"]
    assert explainer["explainer_kind"] == "linear" and explainer["fallback_reason"] is None
    assert len(explainer["background_sha256"]) == 64 and explainer["shap_version"]
    sex = results["per_feature"]["sex"]
    importances = sex["importances"]
    assert {"group", "feature", "mean_abs_shap", "ci_low", "ci_high", "mean_shap",
            "n_rows"} <= set(importances)
    assert set(importances["group"]) == {"female", "male"}
    for low, mid, high in zip(importances["ci_low"], importances["mean_abs_shap"],
                              importances["ci_high"], strict=True):
        assert low - 1e-12 <= mid <= high + 1e-12
    groups = sex["groups"]
    assert {"n_rows", "n_group", "mean_output", "half_width"} <= set(groups)
    assert sum(groups["n_group"]) == results["rows"]


def test_stored_gaps_sum_to_the_output_gap(run: AuditRunRecord) -> None:
    gaps = run.results["per_feature"]["sex"]["gaps"]
    pairs = set(zip(gaps["group"], gaps["reference_group"], strict=True))
    assert pairs == {("female", "male"), ("male", "female")}
    rows = [i for i, (g, r) in enumerate(zip(gaps["group"], gaps["reference_group"],
                                             strict=True)) if (g, r) == ("female", "male")]
    total = sum(gaps["contribution"][i] for i in rows)
    assert math.isclose(total, gaps["output_gap"][rows[0]], abs_tol=1e-9)


def test_proxies_are_stored_with_rule(run: AuditRunRecord) -> None:
    proxies = run.results["proxies"]
    assert proxies["rule"].startswith("likely proxy:")
    assert {"sensitive_feature", "feature", "association", "attribution_gap",
            "likely"} <= set(proxies["associations"])
    likely = proxies["likely"]
    assert {"rank", "feature", "association", "attribution_gap"} <= set(likely)
    # personal_status encodes sex in german_credit.
    sex_proxies = [f for s, f in zip(likely["sensitive_feature"], likely["feature"],
                                     strict=True) if s == "sex"]
    assert sex_proxies[0] == "personal_status"


def test_counterfactual_says_when_sensitive_is_not_an_input(run: AuditRunRecord) -> None:
    sex = run.results["per_feature"]["sex"]
    assert sex["counterfactual"]["sensitive_is_input"] is False
    assert "does not take 'sex' as input" in sex["counterfactual"]["message"]
    assert sex["counterfactual_proxies"] is not None
    assert "personal_status" in set(sex["counterfactual_proxies"]["table"]["changed"][0]
                                    .split(", "))


def test_cases_nearest_the_threshold(run: AuditRunRecord) -> None:
    cases = run.results["cases"]
    assert len(cases) == N_CASES
    assert len({c["row"] for c in cases}) == N_CASES
    distances = [abs(c["y_score"] - run.results["threshold"]) for c in cases]
    assert distances == sorted(distances)
    for case in cases:
        waterfall = case["waterfall"]
        assert math.isclose(waterfall["cumulative"][-1], case["output"], abs_tol=1e-9)
        assert case["reason"].startswith("Predicted ")
        assert case["decision"] == case["y_pred"]
        assert set(case["sensitive"]) == {"sex", "age_group", "foreign_worker"}


def test_sensitive_features_keep_their_order(run: AuditRunRecord) -> None:
    # The stored JSON sorts keys; the run keeps the order asked for separately.
    assert run.results["sensitive_features"] == ["sex", "age_group", "foreign_worker"]
