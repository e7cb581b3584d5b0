"""The Explanations page for every role, and the pure helpers it draws with.

The page runs in-process with ``streamlit.testing.v1.AppTest`` against a german_credit
demo store prepared once for this module, with the logistic-regression default model
(fast to train and explain) and one explanation run already stored.
"""

from __future__ import annotations

import doctest
import math
from collections.abc import Iterator

import app_support
import pandas as pd
import pytest
from app_support import DATA_SCIENTIST, RunEnv, prepared_store
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app import charts, explain_tables
from app.navigation import pages_for
from audits.demo.default import DemoState
from audits.explain.stored import EXPLAIN_KIND, run_explanations
from audits.roles import Role
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/explanations.py"
FEATURES = ["sex", "age_group", "foreign_worker"]


def _prepare_run(store: Store, demo: DemoState) -> AuditRunRecord:
    return run_explanations(store, DATA_SCIENTIST, demo.dataset, demo.model, n_cases=5,
                            n_bootstrap=50)


@pytest.fixture(scope="module")
def explain_env(demo_templates: DemoTemplates,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunEnv]:
    """Prepare german_credit and one explanation run, in a temporary FAIRPANEL_HOME."""
    with prepared_store(demo_templates, tmp_path_factory, "fairpanel-explain",
                        _prepare_run) as prepared:
        yield prepared


@pytest.fixture
def app_env(explain_env: RunEnv, monkeypatch: pytest.MonkeyPatch) -> RunEnv:
    """Point the dashboard at the prepared store for one test."""
    for key, value in explain_env.env.items():
        monkeypatch.setenv(key, value)
    return explain_env


@pytest.fixture
def store(app_env: RunEnv) -> Iterator[Store]:
    """A store of the test's own on the prepared database."""
    with Store(app_env.url) as opened:
        yield opened


def open_page(role: Role) -> AppTest:
    """Return the dashboard on this page, signed in as the persona of ``role``."""
    return app_support.open_page(PAGE, "Explanations", role)


def explanation_runs(store: Store) -> list[AuditRunRecord]:
    return [r for r in store.list_audit_runs() if r.config.get("kind") == EXPLAIN_KIND]


def check_results(at: AppTest, run: AuditRunRecord) -> None:
    """The stored run's charts, proxy table and case explorer as the page shows them."""
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="explanations.run_id").value == run.id
    subheaders = [s.value for s in at.subheader]
    assert subheaders == ["What the model relies on, per group",
                          "What drives the gap between two groups", "Likely proxies",
                          "Case explorer"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Explainer"] == "linear"
    assert metrics["Cases explained"] == str(len(run.results["cases"]))
    # Charts in the order asked (two columns: AppTest lists the left column first).
    assert explain_tables.sensitive_features(run.results) == run.config["sensitive_features"]
    labels = {m.value for m in at.markdown}
    assert {f"**{f}**" for f in run.config["sensitive_features"]} <= labels
    charts_shown = at.get("plotly_chart")
    # One importance chart per sensitive feature, the gap chart and the case waterfall.
    assert len(charts_shown) == len(run.config["sensitive_features"]) + 2
    proxies = next(d.value for d in at.dataframe if "share of largest gap" in d.value.columns)
    assert "personal_status" in proxies["feature"].tolist()
    assert any("likely proxy: association >=" in c.value for c in at.caption)
    reason = at.info[-1].value
    assert reason == run.results["cases"][0]["reason"]


def test_data_scientist_computes_explanations(app_env: RunEnv, store: Store) -> None:
    at = open_page(Role.DATA_SCIENTIST)
    assert at.selectbox(key="explanations.data").value == (app_env.demo.dataset.id,
                                                           app_env.demo.model.id)
    features = at.multiselect(key=f"explanations.features.{app_env.demo.dataset.id}")
    assert features.value == FEATURES
    features.set_value(["sex"])
    at.number_input(key="explanations.n_cases").set_value(3)
    before = {r.id for r in explanation_runs(store)}
    at.button(key="explanations.compute").click().run()
    assert not at.exception, at.exception
    new = [r for r in explanation_runs(store) if r.id not in before]
    assert len(new) == 1
    run = new[0]
    assert run.status == "completed" and run.created_by == DATA_SCIENTIST.username
    assert run.config["sensitive_features"] == ["sex"] and run.config["n_cases"] == 3
    assert [s.value for s in at.success] == [f"Explanations stored as run #{run.id}."]
    check_results(at, run)
    # The same inputs again: the stored run, nothing recomputed.
    at.button(key="explanations.compute").click().run()
    assert not at.exception, at.exception
    assert any(f"stored run #{run.id}" in i.value for i in at.info)
    assert len(explanation_runs(store)) == len(before) + 1


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.PANEL_LEAD])
def test_read_only_roles_see_stored_runs(app_env: RunEnv, role: Role) -> None:
    at = open_page(role)
    assert "explanations.compute" not in [b.key for b in at.button]
    assert any("only data scientists" in i.value.lower() for i in at.info)
    at.selectbox(key="explanations.run_id").set_value(app_env.stored.id).run()
    check_results(at, app_env.stored)


def test_reviewer_has_no_explanations_page() -> None:
    assert PAGE not in [p.path for p in pages_for(Role.REVIEWER)]


def test_gap_between_two_chosen_groups(app_env: RunEnv) -> None:
    at = open_page(Role.COMPLIANCE_OFFICER)
    at.selectbox(key="explanations.run_id").set_value(app_env.stored.id).run()
    at.selectbox(key="explanations.gap.feature").set_value("sex").run()
    at.selectbox(key="explanations.gap.group.sex").set_value("female").run()
    assert at.selectbox(key="explanations.gap.reference.sex").value == "male"
    table, gap = explain_tables.gap_table(app_env.stored.results, "sex", "female", "male")
    assert gap is not None
    assert math.isclose(table["contribution"].sum(), gap, abs_tol=1e-9)
    assert any(f"**{gap:+.3f}**" in m.value for m in at.markdown)
    shown = next(d.value for d in at.dataframe if "contribution" in d.value.columns
                 and "mean_shap_group" in d.value.columns)
    assert math.isclose(shown["contribution"].sum(), gap, abs_tol=1e-9)


def test_case_explorer_shows_the_chosen_case(app_env: RunEnv) -> None:
    at = open_page(Role.PANEL_LEAD)
    at.selectbox(key="explanations.run_id").set_value(app_env.stored.id).run()
    case = app_env.stored.results["cases"][2]
    at.selectbox(key="explanations.case").set_value(case["row"]).run()
    assert not at.exception, at.exception
    assert at.info[-1].value == case["reason"]
    waterfall = next(d.value for d in at.dataframe if "cumulative" in d.value.columns)
    assert waterfall["feature"].tolist() == case["waterfall"]["feature"]


# -- pure helpers -----------------------------------------------------------------------


def test_docstring_examples() -> None:
    result = doctest.testmod(explain_tables, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_gap_figure_sums_to_the_output_gap() -> None:
    table = pd.DataFrame({"feature": list("abcde"),
                          "contribution": [0.5, -0.3, 0.2, 0.05, -0.01]})
    fig = charts.gap_decomposition_figure(table, 0.44, group="g", reference_group="r",
                                          top_n=3)
    bars = fig.data[0]
    assert list(bars.x) == ["a", "b", "c", "(other features)", "output gap"]
    assert math.isclose(sum(bars.y[:-1]), bars.y[-1], abs_tol=1e-12)


def test_importance_figure_draws_intervals_per_group() -> None:
    table = pd.DataFrame({"group": ["f", "f", "m", "m"], "feature": ["x", "y", "x", "y"],
                          "mean_abs_shap": [0.3, 0.1, 0.2, 0.4],
                          "ci_low": [0.2, 0.05, 0.1, 0.3], "ci_high": [0.35, 0.2, 0.3, 0.5],
                          "n_rows": [40, 40, 60, 60]})
    features = explain_tables.top_features(table, 2)
    assert features == ["y", "x"]
    fig = charts.group_importance_figure(table, features=features, groups=["m", "f"])
    assert [t.name for t in fig.data] == ["m (n=60)", "f (n=40)"]
    female = fig.data[1]
    assert list(female.y) == ["y", "x"] and list(female.x) == [0.1, 0.3]
    assert [round(v, 9) for v in female.error_x.array] == [0.1, 0.05]
    assert [round(v, 9) for v in female.error_x.arrayminus] == [0.05, 0.1]
