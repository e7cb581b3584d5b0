"""The Fairness audit page for every role, and the pure helpers it draws with.

The page runs in-process with ``streamlit.testing.v1.AppTest`` against a german_credit
demo store prepared once for this module, with the logistic-regression default model
(fast to train) and one fairness run already stored. The helpers of :mod:`app.charts`
are checked on a hand-written ``results`` mapping.
"""

from __future__ import annotations

import doctest
import math
import re
from collections.abc import Iterator
from typing import Any

import app_support
import pandas as pd
import pytest
from app_support import DATA_SCIENTIST, PERSONAS, RunEnv, prepared_store
from demo_support import DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from app import charts, fairness_tables
from app.navigation import pages_for
from audits.demo.default import DemoState
from audits.fairness.stored import run_fairness_audit
from audits.roles import Actor, PermissionDenied, Role
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/fairness.py"
INTERVAL = re.compile(r"^-?\d+\.\d{3} \[-?\d+\.\d{3}, -?\d+\.\d{3}\]$|^n/a$|^-?\d+\.\d{3}$")


def _prepare_run(store: Store, demo: DemoState) -> AuditRunRecord:
    return run_fairness_audit(store, DATA_SCIENTIST, demo.dataset, demo.model,
                              intersections=False, n_boot=50)


@pytest.fixture(scope="module")
def fairness_env(demo_templates: DemoTemplates,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunEnv]:
    """Prepare the german_credit demo and one fairness run, in a temporary FAIRPANEL_HOME."""
    with prepared_store(demo_templates, tmp_path_factory, "fairpanel-fairness",
                        _prepare_run) as prepared:
        yield prepared


@pytest.fixture
def app_env(fairness_env: RunEnv, monkeypatch: pytest.MonkeyPatch) -> RunEnv:
    """Point the dashboard at the prepared store for one test."""
    for key, value in fairness_env.env.items():
        monkeypatch.setenv(key, value)
    return fairness_env


@pytest.fixture
def store(app_env: RunEnv) -> Iterator[Store]:
    """A store of the test's own on the prepared database."""
    with Store(app_env.url) as opened:
        yield opened


def open_page(role: Role) -> AppTest:
    """Return the dashboard on this page, signed in as the persona of ``role``."""
    return app_support.open_page(PAGE, "Fairness audit", role)


def run_audit(at: AppTest, *, n_boot: int = 50) -> AppTest:
    at.number_input(key="fairness.form.n_boot").set_value(n_boot)
    at.button(key="fairness.form.run").click().run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame(at: AppTest, columns: set[str]) -> pd.DataFrame:
    """Return the first dataframe on the page with all of ``columns``."""
    return next(d.value for d in at.dataframe if columns <= set(d.value.columns))


def fairness_runs(store: Store) -> list[AuditRunRecord]:
    return [r for r in store.list_audit_runs() if r.config.get("kind") == "fairness"]


# -- roles ------------------------------------------------------------------------------


def test_data_scientist_runs_an_audit(app_env: RunEnv, store: Store) -> None:
    at = open_page(Role.DATA_SCIENTIST)
    assert at.selectbox(key="fairness.data").value == (app_env.demo.dataset.id,
                                                       app_env.demo.model.id)
    features = at.multiselect(key=f"fairness.form.features.{app_env.demo.dataset.id}")
    assert features.value == ["sex", "age_group", "foreign_worker"]
    before = {r.id for r in fairness_runs(store)}
    at.number_input(key="fairness.form.seed").set_value(7)  # inputs no other test audits
    run_audit(at)
    assert not at.error, [e.value for e in at.error]
    new = [r for r in fairness_runs(store) if r.id not in before]
    assert len(new) == 1
    run = new[0]
    assert run.status == "completed" and run.created_by == DATA_SCIENTIST.username
    assert run.config["n_boot"] == 50 and run.config["random_state"] == 7
    assert run.config["intersections"] is True and run.config["reference"] is None
    assert run.config["tau"] == 0.8 and run.config["min_n"] == 30
    assert [s.value for s in at.success] == [f"Audit stored as run #{run.id}."]
    assert at.selectbox(key="fairness.run_id").value == run.id
    check_results(at, run)


def check_results(at: AppTest, run: AuditRunRecord) -> None:
    """The headline, tables, charts and provenance of ``run`` as the page shows them."""
    results = run.results
    assert results is not None
    shown = metrics(at)
    verdicts = [d["verdict"] for d in results["disparities"]]
    assert shown["Decisions audited"] == f"{results['rows']:,}"
    assert shown["Groups"] == str(len(results["groups"]))
    assert shown["Failing"] == str(verdicts.count("fail"))
    assert shown["Insufficient evidence"] == str(verdicts.count("insufficient_evidence"))
    assert shown["Passing"] == str(verdicts.count("pass"))
    badges = " ".join(m.value for m in at.markdown)
    assert f":gray-badge[:material/help: {verdicts.count('insufficient_evidence')} " in badges
    groups = frame(at, {"n", "Selection rate", "note"})
    features = run.config["sensitive_features"]
    assert list(groups.columns[:len(features)]) == features
    assert all(INTERVAL.match(v) for v in groups["Selection rate"]), groups["Selection rate"]
    # Default view: one slice per feature, so each row is a group of exactly one feature.
    single = [g for g in results["groups"] if len(g["attributes"]) == 1]
    assert len(groups) == len(single)
    assert groups["n"].tolist() == [g["n"] for g in single]
    small = [f"{fairness_tables.group_name(g['attributes'], features)} (n={g['n']})"
             for g in results["groups"] if g["n"] < results["config"]["min_n"]]
    warnings = [w.value for w in at.warning if "fewer than" in w.value]
    assert len(warnings) == (1 if small else 0)
    assert all(s in warnings[0] for s in small)
    disparities = frame(at, {"difference", "ratio", "verdict"})
    # Prevalence describes the data, not the decisions: reported, not judged.
    assert set(disparities["verdict"]) <= {"pass", "fail", "insufficient evidence",
                                           "not judged"}
    assert len(disparities) == sum(len(d["attributes"]) == 1 for d in results["disparities"])
    # Decisions with a score also get the calibration plot and the threshold chart.
    n_charts = len(fairness_tables.FAIRNESS_METRICS) + 2 * ("threshold_curves" in results)
    assert len(at.get("plotly_chart")) == n_charts
    codes = [c.value for c in at.code]
    assert run.config["config_sha256"] in codes
    assert run.config["dataset_sha256"] in codes and run.config["model_sha256"] in codes


def test_same_inputs_show_the_stored_run(app_env: RunEnv, store: Store) -> None:
    at = open_page(Role.DATA_SCIENTIST)
    run_audit(at)
    first = at.selectbox(key="fairness.run_id").value
    n_runs = len(store.list_audit_runs())
    run_audit(at)
    assert len(store.list_audit_runs()) == n_runs, "nothing recomputed or stored"
    assert any(f"stored run #{first}" in i.value for i in at.info)
    assert at.selectbox(key="fairness.run_id").value == first


def test_specific_reference_group(app_env: RunEnv, store: Store) -> None:
    at = open_page(Role.ADMIN)
    dataset_id = app_env.demo.dataset.id
    at.multiselect(key=f"fairness.form.features.{dataset_id}").set_value(["sex"])
    at.radio(key="fairness.form.reference").set_value("specific")
    at.selectbox(key=f"fairness.form.reference.{dataset_id}.sex").set_value("female")
    run_audit(at)
    assert not at.error, [e.value for e in at.error]
    run = store.get_audit_run(at.selectbox(key="fairness.run_id").value)
    assert run is not None and run.created_by == PERSONAS[Role.ADMIN].username
    assert run.config["reference"] == {"sex": "female"}
    disparities = frame(at, {"reference", "verdict"})
    assert set(disparities["reference"]) == {"sex=female"}
    assert set(disparities["group"]) == {"sex=male"}


def test_no_sensitive_feature_is_refused(app_env: RunEnv, store: Store) -> None:
    at = open_page(Role.DATA_SCIENTIST)
    at.multiselect(key=f"fairness.form.features.{app_env.demo.dataset.id}").set_value([])
    n_runs = len(store.list_audit_runs())
    run_audit(at)
    assert at.error and "at least one sensitive feature" in at.error[0].value
    assert len(store.list_audit_runs()) == n_runs


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.PANEL_LEAD])
def test_read_only_roles_see_stored_runs(app_env: RunEnv, role: Role) -> None:
    at = open_page(role)
    assert not at.error, [e.value for e in at.error]
    assert any("only data scientists" in i.value.lower() for i in at.info)
    assert "fairness.form.run" not in [b.key for b in at.button]
    assert "fairness.data" not in [s.key for s in at.selectbox]
    at.selectbox(key="fairness.run_id").set_value(app_env.stored.id).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="fairness.run_id").value == app_env.stored.id
    check_results(at, app_env.stored)


def test_reviewer_navigation_lacks_the_page(app_env: RunEnv) -> None:
    assert PAGE not in [p.path for p in pages_for(Role.REVIEWER)]
    at = app_support.new_app()
    at.run()
    at.button(key=f"sign_in.persona.{PERSONAS[Role.REVIEWER].username}").click().run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


def test_engine_refuses_read_only_roles(app_env: RunEnv, store: Store) -> None:
    n_runs = len(store.list_audit_runs())
    officer = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)
    with pytest.raises(PermissionDenied, match="may not run an audit"):
        run_fairness_audit(store, officer, app_env.demo.dataset, app_env.demo.model,
                           n_boot=10, random_state=99)
    assert len(store.list_audit_runs()) == n_runs


# -- filters and the threshold slider ---------------------------------------------------


def test_disparities_filter_by_verdict_and_metric(app_env: RunEnv) -> None:
    at = open_page(Role.COMPLIANCE_OFFICER)
    at.selectbox(key="fairness.run_id").set_value(app_env.stored.id).run()
    at.pills(key="fairness.disparities.verdicts").set_value(["insufficient_evidence"]).run()
    table = frame(at, {"difference", "verdict"})
    assert len(table) > 0 and set(table["verdict"]) == {"insufficient evidence"}
    at.multiselect(key=f"fairness.disparities.metrics.{app_env.stored.id}").set_value(
        ["selection_rate", "precision"]).run()
    table = frame(at, {"difference", "verdict"})
    assert set(table["metric"]) <= {"Selection rate", "Precision"}
    expected = fairness_tables.disparity_table(app_env.stored.results or {},
                                      verdicts=["insufficient_evidence"],
                                      metrics=["selection_rate", "precision"])
    assert len(table) == len(expected)


def test_view_controls_change_table_and_charts(app_env: RunEnv) -> None:
    at = open_page(Role.COMPLIANCE_OFFICER)
    run = app_env.stored
    at.selectbox(key="fairness.run_id").set_value(run.id).run()
    at.multiselect(key=f"fairness.view.metrics.{run.id}").set_value(["accuracy"]).run()
    at.multiselect(key=f"fairness.view.slices.{run.id}").set_value(["sex"]).run()
    groups = frame(at, {"n", "note"})
    assert "Accuracy" in groups.columns and "Selection rate" not in groups.columns
    assert groups["sex"].tolist() == ["female", "male"]
    # One metric, plus the calibration plot and the threshold chart.
    assert len(at.get("plotly_chart")) == 3


def test_threshold_slider_reads_the_nearest_tabulated_threshold(app_env: RunEnv) -> None:
    at = open_page(Role.COMPLIANCE_OFFICER)
    run = app_env.stored
    at.selectbox(key="fairness.run_id").set_value(run.id).run()
    slider = at.slider(key=f"fairness.threshold.{run.id}")
    assert slider.value == pytest.approx(0.5)  # the model's threshold
    slider.set_value(0.3).run()
    assert not at.exception, at.exception
    curves = fairness_tables.threshold_records(run.results or {})
    used = fairness_tables.nearest_threshold(curves, 0.3)
    assert any(f"score >= {used:.4f}" in c.value for c in at.caption)
    shown = frame(at, {"group", "Selection rate", "Δ Selection rate"})
    at_used = curves[(curves["threshold"] == used) & (curves["metric"] == "selection_rate")]
    female = at_used.loc[at_used["name"] == "sex=female", "value"].item()
    assert shown.loc[shown["group"] == "sex=female", "Selection rate"].item() == pytest.approx(
        female)


# -- pure helpers on a hand-written run -------------------------------------------------


def test_chart_docstring_examples() -> None:
    # tests/test_doctests.py runs the engine's examples; these are the dashboard's.
    for module in (charts, fairness_tables):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def triple(value: float | None, low: float | None = None,
           high: float | None = None) -> dict[str, float | None]:
    return {"value": value, "ci_low": low, "ci_high": high}


def disparity(metric: str, attributes: dict[str, str], reference: dict[str, str],
              verdict: str | None, ratio: float = 1.0) -> dict[str, Any]:
    return {"metric": metric, "attributes": attributes, "reference": reference,
            "difference": triple(0.0, -0.1, 0.1), "ratio": triple(ratio, 0.9, 1.1),
            "p_value": 0.5, "p_adjusted": 0.6, "verdict": verdict}


#: Two features, one intersection; attributes stored with sorted keys, as the store does.
RESULTS: dict[str, Any] = {
    "rows": 100,
    "config": {"sensitive_features": ["sex", "age"], "min_n": 30, "level": 0.95,
               "slices": [["sex"], ["age"], ["sex", "age"]],
               "metrics": ["selection_rate", "precision"]},
    "groups": [
        {"attributes": {"sex": "f"}, "n": 40,
         "metrics": {"selection_rate": triple(0.3, 0.2, 0.4), "precision": triple(None)}},
        {"attributes": {"sex": "m"}, "n": 60,
         "metrics": {"selection_rate": triple(0.6, 0.5, 0.7), "precision": triple(0.8)}},
        {"attributes": {"age": "old"}, "n": 90,
         "metrics": {"selection_rate": triple(0.5, 0.4, 0.6), "precision": triple(0.7)}},
        {"attributes": {"age": "young"}, "n": 10,
         "metrics": {"selection_rate": triple(0.4, 0.1, 0.7), "precision": triple(0.6)}},
        {"attributes": {"age": "old", "sex": "f"}, "n": 35,
         "metrics": {"selection_rate": triple(0.3, 0.2, 0.4), "precision": triple(0.7)}},
    ],
    "disparities": [
        disparity("selection_rate", {"sex": "f"}, {"sex": "m"}, "fail", ratio=0.5),
        disparity("precision", {"sex": "f"}, {"sex": "m"}, None),
        disparity("selection_rate", {"age": "young"}, {"age": "old"}, "insufficient_evidence"),
        disparity("precision", {"age": "old"}, {"age": "young"}, "pass"),
    ],
    "summaries": [{"features": ["sex"], "summary": "impact_ratio", "metric": "selection_rate",
                   "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n_groups": 2,
                   "verdict": "fail"}],
    "threshold_curves": {
        "group_id": [0, 0, 1, 1, 0, 1], "threshold": [0.2, 0.6, 0.2, 0.6, None, None],
        "metric": ["selection_rate"] * 6, "value": [0.9, 0.3, 0.95, 0.6, 0.0, 0.0],
        "difference": [-0.05, -0.3, 0.0, 0.0, 0.0, 0.0],
        "slice": ["sex"] * 6, "group_label": ["f", "f", "m", "m", "f", "m"],
        "reference_id": [1] * 6,
    },
}


def test_interval_text() -> None:
    assert fairness_tables.interval_text(triple(0.25, 0.125, 0.5)) == "0.250 [0.125, 0.500]"
    assert fairness_tables.interval_text(triple(-0.1, -0.2, 0.0)) == "-0.100 [-0.200, 0.000]"
    assert fairness_tables.interval_text(triple(0.25)) == "0.250"
    assert fairness_tables.interval_text(triple(None)) == "n/a"
    assert fairness_tables.interval_text(None) == "n/a"


def test_group_names_follow_the_feature_order() -> None:
    name = fairness_tables.group_name({"age": "old", "sex": "f"}, ["sex", "age"])
    assert name == "sex=f & age=old"
    assert fairness_tables.fairness_slices(RESULTS) == ["sex", "age", "sex & age"]
    tidy = fairness_tables.fairness_groups(RESULTS)
    last = tidy[tidy["group_id"] == 4].iloc[0]
    assert (last["slice"], last["group"], last["name"]) == ("sex & age", "f & old",
                                                            "sex=f & age=old")


def test_fairness_groups_marks_references_verdicts_and_small_groups() -> None:
    tidy = fairness_tables.fairness_groups(RESULTS).set_index(["group_id", "metric"])
    assert tidy.loc[(1, "selection_rate"), "reference"]
    assert pd.isna(tidy.loc[(1, "selection_rate"), "verdict"])
    assert tidy.loc[(0, "selection_rate"), "verdict"] == "fail"
    assert tidy.loc[(0, "precision"), "verdict"] == "not judged"
    # "best"-style references differ per metric: age=old for selection rate only.
    assert tidy.loc[(2, "selection_rate"), "reference"]
    assert not tidy.loc[(2, "precision"), "reference"]
    assert tidy.loc[(3, "precision"), "reference"]
    assert tidy.loc[(3, "selection_rate"), "small"] and not tidy.loc[(2, "precision"), "small"]
    assert math.isnan(tidy.loc[(0, "precision"), "value"])


def test_group_table() -> None:
    table = fairness_tables.group_table(RESULTS, ["selection_rate", "precision"])
    assert list(table.columns) == ["sex", "age", "n", "Selection rate", "Precision", "note"]
    assert table["sex"].tolist() == ["f", "m", "", "", "f"]
    assert table["age"].tolist() == ["", "", "old", "young", "old"]
    assert table.loc[0, "Selection rate"] == "0.300 [0.200, 0.400]"
    assert table.loc[0, "Precision"] == "n/a"
    # sex=m is the reference for both metrics shown; age=old only for one of them.
    assert table["note"].tolist() == ["", "reference", "", "n < 30", ""]
    only_sex = fairness_tables.group_table(RESULTS, ["selection_rate"], slices=["sex"])
    assert only_sex["n"].tolist() == [40, 60]


def test_small_groups_and_verdict_counts() -> None:
    assert fairness_tables.small_groups(RESULTS) == [("age=young", 10)]
    assert fairness_tables.verdict_counts(RESULTS) == {"fail": 1, "insufficient_evidence": 1,
                                              "pass": 1, "not judged": 1}
    assert fairness_tables.verdict_counts(RESULTS, metrics=["selection_rate"], slices=["sex"]) == {
        "fail": 1, "insufficient_evidence": 0, "pass": 0}
    assert fairness_tables.verdict_counts({**RESULTS, "disparities": []}) == {
        "fail": 0, "insufficient_evidence": 0, "pass": 0}


def test_verdict_badges_and_styles() -> None:
    badges = fairness_tables.verdict_badges({"fail": 1, "insufficient_evidence": 2, "pass": 3})
    assert badges.split(" :") == [":red-badge[:material/cancel: 1 fail]",
                                  "gray-badge[:material/help: 2 insufficient evidence]",
                                  "green-badge[:material/check_circle: 3 pass]"]
    assert "#f8d0cc" in fairness_tables.verdict_style("fail")
    assert "#cfead6" in fairness_tables.verdict_style("pass")
    assert "#e6e6e6" in fairness_tables.verdict_style("insufficient evidence")
    assert fairness_tables.verdict_style("not judged") == ""


def test_disparity_table_filters() -> None:
    table = fairness_tables.disparity_table(RESULTS)
    assert list(table.columns) == ["verdict", "metric", "group", "reference", "ratio",
                                   "difference", "adjusted p", "MDD"]
    # Most severe first: fail, insufficient evidence, pass; what no rule judged last.
    assert table["verdict"].tolist() == ["fail", "insufficient evidence", "pass",
                                         "not judged"]
    assert table.loc[0, "ratio"] == "0.500 [0.900, 1.100]"
    by_verdict = fairness_tables.disparity_table(RESULTS, verdicts=["fail", "pass"])
    assert by_verdict["group"].tolist() == ["sex=f", "age=old"]
    assert fairness_tables.disparity_table(RESULTS, metrics=["precision"])["metric"].tolist() == [
        "Precision", "Precision"]
    assert fairness_tables.disparity_table(RESULTS, slices=["age"])["reference"].tolist() == [
        "age=old", "age=young"]
    assert fairness_tables.disparity_table(RESULTS, verdicts=[], metrics=[]).shape[0] == 4
    assert fairness_tables.disparity_records(RESULTS)["difference_low"].tolist() == [-0.1] * 4


def test_disparity_table_shows_the_minimum_detectable_difference() -> None:
    results = {**RESULTS, "disparities": [
        {**d, "min_detectable_difference": 0.05 * (i + 1)}
        for i, d in enumerate(RESULTS["disparities"])]}
    table = fairness_tables.disparity_table(results)
    assert table["MDD"].tolist() == pytest.approx([0.05, 0.15, 0.2, 0.1])
    shown = fairness_tables.shown_numbers(table)
    assert shown["MDD"].tolist() == ["0.050", "0.150", "0.200", "0.100"]


def test_severity_sorts_fails_by_size_and_unjudged_last() -> None:
    results = {**RESULTS, "disparities": [
        disparity("selection_rate", {"sex": "f"}, {"sex": "m"}, None, ratio=0.1),
        disparity("selection_rate", {"age": "young"}, {"age": "old"}, "fail", ratio=0.8),
        disparity("precision", {"sex": "f"}, {"sex": "m"}, "fail", ratio=0.4),
        disparity("precision", {"age": "old"}, {"age": "young"}, "pass", ratio=2.0)]}
    table = fairness_tables.disparity_table(results)
    assert table["verdict"].tolist() == ["fail", "fail", "pass", "not judged"]
    assert table["ratio"].str[:5].tolist() == ["0.400", "0.800", "2.000", "0.100"]
    worst = fairness_tables.worst_disparities(results, n=2)
    assert worst["verdict"].tolist() == ["fail", "fail"]
    assert fairness_tables.worst_disparities(results, verdicts=["pass"])["group"].tolist() == [
        "age=old"]


def test_summary_table() -> None:
    table = fairness_tables.summary_table(RESULTS)
    assert table.iloc[0].tolist() == ["sex", "Impact ratio", "Selection rate",
                                      "0.500 [0.400, 0.600]", 2, "fail"]
    assert fairness_tables.summary_table(RESULTS, slices=["age"]).empty


def test_metric_figure_panels_colours_and_reference() -> None:
    fig = charts.fairness_metric_figure(RESULTS, "selection_rate", slices=["sex", "age"])
    assert [a.text for a in fig.layout.annotations] == ["sex", "age"]
    names = [t.name for t in fig.data]
    assert names == ["reference", "fail", "reference", "insufficient evidence"]
    reference, fail = fig.data[0], fig.data[1]
    assert reference.marker.symbol == "diamond"
    assert reference.marker.color == fairness_tables.REFERENCE_COLOUR
    assert fail.marker.color == fairness_tables.VERDICT_COLOURS["fail"]
    assert (list(fail.y), list(fail.x)) == (["f"], [0.3])
    assert list(fail.error_x.array) == pytest.approx([0.1])
    assert list(fail.error_x.arrayminus) == pytest.approx([0.1])
    # Groups keep the audit's order, not the order of the traces.
    assert list(fig.layout.yaxis.categoryarray) == ["f", "m"]
    assert [s.x0 for s in fig.layout.shapes] == [0.6, 0.5]  # a line at each reference
    assert [t.showlegend for t in fig.data] == [True, True, False, True]
    assert fig.layout.title.text == "Selection rate"
    assert charts.fairness_metric_figure(RESULTS, "precision", title=False).layout.title.text \
        is None


def test_metric_figure_draws_undefined_values_without_bars() -> None:
    fig = charts.fairness_metric_figure(RESULTS, "precision", slices=["sex"])
    undefined = next(t for t in fig.data if "f" in list(t.y))
    assert math.isnan(undefined.x[0])
    assert list(undefined.error_x.array) == [0.0]


def test_threshold_helpers() -> None:
    curves = fairness_tables.threshold_records(RESULTS)
    assert curves["name"].tolist()[:2] == ["sex=f", "sex=f"]
    assert math.isinf(curves["threshold"].iloc[4])
    assert fairness_tables.nearest_threshold(curves, 0.35) == 0.2
    assert fairness_tables.nearest_threshold(curves, 5.0) == 0.6  # inf is not a threshold to pick
    assert fairness_tables.threshold_range(curves) == (0.2, 0.6, 0.001)
    table = fairness_tables.threshold_table(curves, 0.5)
    assert table.to_dict("records") == [
        {"slice": "sex", "group": "sex=f", "Selection rate": 0.3, "Δ Selection rate": -0.3},
        {"slice": "sex", "group": "sex=m", "Selection rate": 0.6, "Δ Selection rate": 0.0},
    ]
    assert fairness_tables.threshold_table(curves, 0.5, slices=["age"]).empty
    fig = charts.threshold_figure(curves, "selection_rate", threshold=0.5)
    assert [t.name for t in fig.data] == ["sex=f", "sex=m"]
    assert list(fig.data[0].x) == [0.2, 0.6]  # the row at inf is not drawn
    assert fig.layout.shapes[0].x0 == 0.6
    assert fairness_tables.threshold_records({"config": {}}).empty


@pytest.mark.parametrize(("thresholds", "expected"), [
    ([0.013, 0.5, 0.996], (0.01, 1.0, 0.01)),
    ([1.0, 4.0, 10.0], (1.0, 10.0, 0.1)),
    ([0.5], (0.0, 1.0, 1.0)),  # one threshold: a slider still needs a range
])
def test_threshold_range(thresholds: list[float], expected: tuple[float, float, float]) -> None:
    curves = pd.DataFrame({"threshold": [*thresholds, math.inf]})
    assert fairness_tables.threshold_range(curves) == pytest.approx(expected)


def test_logged_decisions_are_audited(compas_copy: DemoCopy) -> None:
    # compas carries a deployed system's decisions and decile scores (1-10), no model.
    url, demo = compas_copy.url, compas_copy.demo.state
    at = open_page(Role.DATA_SCIENTIST)
    assert at.selectbox(key="fairness.data").value == (demo.dataset.id, None)
    at.checkbox(key="fairness.form.intersections").uncheck()
    run_audit(at, n_boot=20)
    assert not at.error, [e.value for e in at.error]
    with Store(url) as store:
        run = store.get_audit_run(at.selectbox(key="fairness.run_id").value)
    assert run is not None and run.model_id is None
    assert run.config["decisions"] == "logged decisions"
    assert metrics(at)["Decisions audited"] == f"{demo.dataset.n_rows:,}"
    slider = at.slider(key=f"fairness.threshold.{run.id}")
    assert (slider.min, slider.max, slider.step) == (1.0, 10.0, 0.1)
    assert any("none: logged decisions" in c.value for c in at.code)


# -- findings first, and calibration ---------------------------------------------------


def test_findings_come_before_the_run_form(app_env: RunEnv) -> None:
    at = open_page(Role.DATA_SCIENTIST)
    at.selectbox(key="fairness.run_id").set_value(app_env.stored.id).run()
    headers = [h.value for h in at.header]
    assert headers.index("Results") < headers.index("Run an audit")
    subheaders = [h.value for h in at.subheader]
    assert subheaders.index("Disparities, most severe first") < subheaders.index(
        "Per-group metrics")


def test_calibration_plot_of_a_run_with_scores(app_env: RunEnv) -> None:
    from app import fairness_figures
    from audits.fairness.calibration import run_reliability

    run = app_env.stored
    at = open_page(Role.COMPLIANCE_OFFICER)
    at.selectbox(key="fairness.run_id").set_value(run.id).run()
    assert "Calibration by group" in [h.value for h in at.subheader]
    chooser = at.selectbox(key=f"fairness.calibration.slice.{run.id}")
    assert chooser.options == ["sex", "age_group", "foreign_worker"]
    chooser.set_value("age_group").run()
    assert not at.exception, at.exception
    with Store(app_env.url) as store:
        expected = run_reliability(store, DATA_SCIENTIST, run)
    counts = frame(at, {"mean_score", "observed_rate", "ci_low"})
    part = expected[expected["slice"] == "age_group"].drop(columns=["slice"])
    pd.testing.assert_frame_equal(counts.reset_index(drop=True), part.reset_index(drop=True))
    figure = fairness_figures.build_reliability_figure(expected, "age_group")
    groups = list(dict.fromkeys(part["group"]))
    assert [t.name for t in figure.data] == ["perfectly calibrated", *groups]
    first = figure.data[1]
    rows = part[part["group"] == groups[0]]
    assert list(first.x) == pytest.approx(rows["mean_score"].tolist())
    assert list(first.error_y.array) == pytest.approx(
        (rows["ci_high"] - rows["observed_rate"]).tolist())
