"""The Agreement and Reviewer bias pages, and the helpers they draw with.

The pages run in-process with ``streamlit.testing.v1.AppTest`` against a german_credit
demo store prepared once for this module with :func:`audits.demo.panel.ensure_full_demo`
(a review queue rated by the simulated panel, with a severe reviewer, a background
group harsher on women applicants and automation bias injected). What the pages show is
compared with :func:`audits.raters.stored.analyse_panel` called directly; the helpers
of :mod:`app.panel_tables` and :mod:`app.panel_charts` are checked on hand-built tables.
"""

from __future__ import annotations

import doctest
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import app_support
import pandas as pd
import pytest
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app import panel_charts, panel_picker, panel_tables
from app.navigation import pages_for
from audits.demo.panel import SEVERE_REVIEWER
from audits.raters.automation import AutomationEffect
from audits.raters.stored import analyse_panel, cannot_tell_summary
from audits.roles import Actor, Role
from audits.store import Store

AGREEMENT, BIAS = "app_pages/agreement.py", "app_pages/reviewer_bias.py"
TITLES = {AGREEMENT: "Agreement", BIAS: "Reviewer bias"}
LEAD = Actor(app_support.PERSONAS[Role.PANEL_LEAD].username, Role.PANEL_LEAD)
COMPLIANCE = Actor(app_support.PERSONAS[Role.COMPLIANCE_OFFICER].username,
                   Role.COMPLIANCE_OFFICER)


@dataclass(frozen=True)
class PanelEnv:
    env: dict[str, str]
    url: str
    rated_run: int
    unrated_runs: tuple[int, ...]


@pytest.fixture(scope="module")
def panel_env(demo_templates: DemoTemplates,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelEnv]:
    """The german_credit demo with its rated review queue (a private copy)."""
    with app_support.full_demo_copy(demo_templates, tmp_path_factory,
                                    "fairpanel-panel") as copy:
        with Store(copy.url) as store:
            unrated = tuple(i for i in store.queued_audit_runs()
                            if store.panel_progress(LEAD, i)["assignments_rated"] == 0)
        yield PanelEnv(env=copy.env, url=copy.url, rated_run=copy.demo.panel.audit_run_id,
                       unrated_runs=unrated)


@pytest.fixture
def app_env(panel_env: PanelEnv, monkeypatch: pytest.MonkeyPatch) -> PanelEnv:
    for key, value in panel_env.env.items():
        monkeypatch.setenv(key, value)
    return panel_env


@pytest.fixture
def store(app_env: PanelEnv) -> Iterator[Store]:
    with Store(app_env.url) as opened:
        yield opened


def open_page(page: str, role: Role = Role.PANEL_LEAD) -> AppTest:
    at = app_support.open_page(page, TITLES[page], role)
    assert not at.error, [e.value for e in at.error]
    return at


def chart_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titled(at: AppTest, words: str) -> dict[str, Any]:
    found = [s for s in chart_specs(at) if words in json.dumps(s["layout"].get("title", ""))]
    assert len(found) == 1, [s["layout"].get("title") for s in chart_specs(at)]
    return found[0]


def rendered_text(at: AppTest) -> str:
    """Everything the page shows: elements, widgets, tables and chart specs, as text."""
    parts: list[str] = []
    stack: list[Any] = [at._tree]
    while stack:
        node = stack.pop()
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        value = getattr(node, "value", None)
        if isinstance(value, pd.DataFrame):
            parts.append(value.to_csv())
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())
    return "\n".join(parts)


def chosen(at: AppTest, area: str) -> tuple[int, str, str | None]:
    subject = at.selectbox(key=f"{area}.subject").value
    return (at.selectbox(key=f"{area}.run_id").value, at.selectbox(key=f"{area}.attribute").value,
            subject or None)


# -- the pages on the demo store ---------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER])
@pytest.mark.parametrize("page", [AGREEMENT, BIAS])
def test_page_renders_with_the_simulated_panel_notice(app_env: PanelEnv, page: str,
                                                      role: Role) -> None:
    at = open_page(page, role)
    notices = [w.value for w in at.warning]
    assert notices and notices[0].startswith("Simulated panel: 100% of these ratings")
    # The notice comes before any chart or tile: right under the pickers.
    assert at.selectbox(key=f"{page.split('/')[1][:-3]}.run_id").value == app_env.rated_run
    assert len(at.get("plotly_chart")) >= 1


def test_pickers_default_to_the_rated_run_gender_and_one_feature(app_env: PanelEnv) -> None:
    at = open_page(AGREEMENT)
    assert chosen(at, "agreement") == (app_env.rated_run, "gender", "sex")
    options = at.selectbox(key="agreement.subject").options
    assert options[0].startswith("intersectional groups (sex & ")
    # Only audits with ratings are offered.
    assert len(at.selectbox(key="agreement.run_id").options) == 1


@pytest.mark.parametrize("role", [Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER])
def test_agreement_tiles_equal_the_engine(app_env: PanelEnv, store: Store, role: Role) -> None:
    at = open_page(AGREEMENT, role)
    run, attribute, subject = chosen(at, "agreement")
    actor = LEAD if role is Role.PANEL_LEAD else COMPLIANCE
    expected = analyse_panel(store, actor, run, attribute=attribute,
                             subject_attribute=subject).agreement
    shown = {m.label: m.value for m in at.metric}
    assert shown["Krippendorff's alpha"] == f"{expected.krippendorff_alpha.value:.3f}"
    assert shown["Fleiss' kappa"] == f"{expected.fleiss_kappa.value:.3f}"
    assert shown["Gwet's AC1"] == f"{expected.gwet_ac1.value:.3f}"
    assert shown["Percent agreement"] == f"{expected.percent_agreement.value:.3f}"
    alpha = expected.krippendorff_alpha
    captions = [c.value for c in at.caption]
    assert f"95% CI {alpha.ci_low:.3f} to {alpha.ci_high:.3f}" in captions
    assert any("0.667" in c and "Krippendorff's conventions" in c for c in captions)
    if expected.fleiss_note:
        assert expected.fleiss_note + "." in captions


def test_agreement_by_subject_chart_follows_the_grouping(app_env: PanelEnv,
                                                         store: Store) -> None:
    at = open_page(AGREEMENT)
    spec = chart_titled(at, "within each group of cases")
    drawn = {y for trace in spec["data"] for y in trace["y"]}
    assert len(drawn) >= 2 and all(y.startswith("sex=") and " & " not in y for y in drawn)
    at.selectbox(key="agreement.subject").set_value(panel_picker.AS_STORED).run()
    assert not at.exception, at.exception
    labels = {c.subject_group for c in store.list_cases(app_env.rated_run)}
    spec = chart_titled(at, "within each group of cases")
    drawn = {y for trace in spec["data"] for y in trace["y"]}
    assert drawn == labels
    # Oracle: the alpha panel's points are the engine's by-subject alphas.
    direct = analyse_panel(store, LEAD, app_env.rated_run).by_subject
    alphas = direct[direct["statistic"] == "krippendorff_alpha"]
    trace = spec["data"][0]
    assert trace["name"] == "Krippendorff's alpha"
    got = dict(zip(trace["y"], trace["x"], strict=True))
    for group, value in zip(alphas["group"], alphas["value"], strict=True):
        assert (got[group] is None and math.isnan(value)) or got[group] == pytest.approx(value)


def test_lead_sees_pairwise_heatmap_severity_and_drf(app_env: PanelEnv, store: Store) -> None:
    at = open_page(AGREEMENT)
    kappa = chart_titled(at, "kappa between pairs")["data"][0]
    assert kappa["type"] == "heatmap" and "Simulated reviewer 03" in kappa["x"]
    at = open_page(BIAS)
    run, attribute, subject = chosen(at, "reviewer_bias")
    direct = analyse_panel(store, LEAD, run, attribute=attribute, subject_attribute=subject)
    assert direct.severity is not None
    severity = chart_titled(at, "Severity of each reviewer")
    flagged = [t for t in severity["data"] if t["name"].startswith("flagged")]
    expected = direct.severity.loc[direct.severity["flagged"], "reviewer_id"].tolist()
    assert flagged and sorted(flagged[0]["y"]) == sorted(expected)
    severe = store.get_user(SEVERE_REVIEWER)
    assert severe is not None and severe.display_name in expected
    assert any(severe.display_name in w.value and "harsher" in w.value for w in at.warning)
    drf = next(s for s in chart_specs(at) if s["data"][0]["type"] == "heatmap")
    assert set(drf["data"][0]["x"]) == {f"reviewers: {g}" for g in direct.drf["rater_group"]}
    assert "p = " in json.dumps(drf["data"][0]["customdata"])
    reviewers = chart_titled(at, "Automation bias of each reviewer")
    assert len([y for t in reviewers["data"] for y in t["y"]]) == direct.n_reviewers


def test_compliance_sees_no_reviewer_names(app_env: PanelEnv, store: Store) -> None:
    reviewers = store.list_reviewers(LEAD)
    secret = {r.display_name for r in reviewers} | {r.username for r in reviewers}
    assert "Simulated reviewer 03" in secret
    for page in (AGREEMENT, BIAS):
        at = open_page(page, Role.COMPLIANCE_OFFICER)
        text = rendered_text(at)
        assert "Simulated reviewer" not in text
        assert not [name for name in secret if name in text], page
        if page == BIAS:
            run, attribute, subject = chosen(at, "reviewer_bias")
            direct = analyse_panel(store, COMPLIANCE, run, attribute=attribute,
                                   subject_attribute=subject)
            shown = {m.label: m.value for m in at.metric}
            assert shown["Reviewers flagged"] == (f"{direct.n_flagged_reviewers} of "
                                                  f"{direct.n_reviewers}")
            assert direct.n_flagged_reviewers >= 1
        else:
            assert not [s for s in chart_specs(at) if "kappa between" in json.dumps(s)]


def test_automation_tiles_equal_the_engine(app_env: PanelEnv, store: Store) -> None:
    at = open_page(BIAS, Role.COMPLIANCE_OFFICER)
    run, attribute, subject = chosen(at, "reviewer_bias")
    effect = analyse_panel(store, COMPLIANCE, run, attribute=attribute,
                           subject_attribute=subject).automation
    assert effect is not None and effect.ci_low > 0, "the demo injects automation bias"
    shown = {m.label: m.value for m in at.metric}
    assert shown["Effect of showing the model"] == f"{100 * effect.value:+.1f} points"
    assert shown["Agree with the model, shown"] == f"{effect.agree_shown:.1%}"
    assert any(c.value.startswith("Reviewers follow the model more") for c in at.caption)
    spec = next(s for s in chart_specs(at) if "Agreement with the model" in json.dumps(
        s["layout"].get("annotations")))
    assert spec["data"][1]["y"][0] == panel_tables.ALL_CASES
    assert spec["data"][3]["x"][0] == pytest.approx(effect.value)


@pytest.mark.parametrize("page", [AGREEMENT, BIAS])
def test_reviewer_cannot_open(app_env: PanelEnv, page: str) -> None:
    assert page not in {p.path for p in pages_for(Role.REVIEWER)}
    at = app_support.open_page("app_pages/overview.py", "Dataset & model", Role.REVIEWER)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


@pytest.mark.parametrize("page", [AGREEMENT, BIAS])
def test_no_audit_with_ratings_shows_info(app_env: PanelEnv, page: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    original = Store.panel_progress

    def unrated(self: Store, actor: Actor, audit_run_id: int) -> dict[str, int]:
        return {**original(self, actor, audit_run_id), "assignments_rated": 0}

    monkeypatch.setattr(Store, "panel_progress", unrated)
    at = open_page(page)
    assert [i.value for i in at.info] == [panel_picker.MSG_NO_RATINGS]
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("page", [AGREEMENT, BIAS])
def test_run_without_ratings_shows_info_not_a_failure(app_env: PanelEnv, page: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert app_env.unrated_runs, "the demo's monitoring audit has a queue but no ratings"
    original = Store.panel_progress

    def offered(self: Store, actor: Actor, audit_run_id: int) -> dict[str, int]:
        # Offer every queued audit, as a stale count would.
        return {**original(self, actor, audit_run_id), "assignments_rated": 1}

    monkeypatch.setattr(Store, "panel_progress", offered)
    at = open_page(page)
    area = page.split("/")[1][:-3]
    at.selectbox(key=f"{area}.run_id").set_value(app_env.unrated_runs[0]).run()
    assert not at.exception, at.exception
    assert not at.error
    infos = [i.value for i in at.info]
    assert len(infos) == 1 and infos[0].startswith("Nothing to analyse yet: audit run "
                                                   f"{app_env.unrated_runs[0]} has 0 rating")
    assert not at.get("plotly_chart") and not at.metric


# -- pure helpers on hand-built tables ---------------------------------------------------


def test_helper_docstring_examples() -> None:
    for module in (panel_tables, panel_charts):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_subject_attributes_and_missing_groups() -> None:
    labels = ["sex=F & age=young", "sex=M & age=old", "<missing>", "region=north"]
    assert panel_tables.subject_attributes(labels) == ["sex", "age", "region"]
    assert panel_tables.subject_attributes([]) == []
    assert panel_tables.missing_groups(["a", "b", "c"], pd.Series(["c", "a"])) == ["b"]


def test_alpha_reading_at_the_boundaries() -> None:
    assert panel_tables.alpha_reading(0.8).startswith("reliable")
    assert panel_tables.alpha_reading(0.7999).startswith("tentative")
    assert panel_tables.alpha_reading(0.667).startswith("tentative")
    assert panel_tables.alpha_reading(0.6669).startswith("not reliable")
    assert panel_tables.alpha_reading(float("nan")) == "undefined"
    assert panel_tables.simulated_notice(0.25).startswith("Simulated panel: 25%")


def test_kappa_matrix_is_symmetric_with_an_empty_diagonal() -> None:
    pairs = pd.DataFrame({"reviewer_a": ["a", "a", "c"], "reviewer_b": ["b", "c", "b"],
                          "n_common": [4, 2, 7], "kappa": [0.5, float("nan"), -0.2]})
    kappa, common = panel_tables.kappa_matrix(pairs)
    assert list(kappa.index) == list(kappa.columns) == ["a", "b", "c"]
    # Oracle: a plain loop over the pairs, in both orders.
    for a, b, n, k in pairs.itertuples(index=False):
        for x, y in ((a, b), (b, a)):
            assert int(common.loc[x, y]) == n
            assert (math.isnan(k) and math.isnan(kappa.loc[x, y])) or kappa.loc[x, y] == k
    assert all(math.isnan(kappa.loc[n, n]) for n in "abc")
    fig = panel_charts.kappa_heatmap_figure(kappa, common)
    assert list(fig.data[0].z[0]) == [None, 0.5, None]


def test_drf_heatmap_marks_exactly_the_flagged_cells() -> None:
    drf = pd.DataFrame({"rater_group": ["m", "m", "w", "w"],
                        "subject_group": ["s=F", "s=M", "s=F", "s=M"],
                        "effect": [-0.3, 0.3, 0.3, -0.3], "p_value": [0.01, 0.2, 0.01, 0.2],
                        "p_adjusted": [0.02, 0.2, 0.02, 0.2],
                        "flagged": [True, False, True, False], "n_cases": [40, 60, 40, 60]})
    fig = panel_charts.drf_heatmap_figure(drf)
    heat, marks = fig.data
    assert list(heat.y) == ["s=F", "s=M"] and list(heat.x) == ["reviewers: m", "reviewers: w"]
    assert [list(row) for row in heat.z] == [[-0.3, 0.3], [0.3, -0.3]]
    assert list(zip(marks.x, marks.y, strict=True)) == [("reviewers: m", "s=F"),
                                                        ("reviewers: w", "s=F")]
    assert "flagged" in heat.text[0][0] and "flagged" not in heat.text[1][0]
    assert "adjusted p = 0.020" in heat.customdata[0][0]
    findings = panel_tables.drf_findings(drf)
    # Two subject groups: the smaller one's row is read, and its harsher cell reported.
    assert len(findings) == 1 and "'m'" in findings[0] and "fewer" in findings[0]
    assert "**s=F**" in findings[0]
    assert panel_tables.drf_findings(drf.assign(flagged=False)) == []
    three = pd.DataFrame({"rater_group": ["m"] * 3, "subject_group": ["s=F", "s=M", "s=X"],
                          "effect": [-0.1, 0.3, -0.2], "p_adjusted": [0.04, 0.01, 0.03],
                          "flagged": [True, True, True], "n_cases": [40, 60, 50]})
    # Three subject groups: every flagged harsher cell, most negative first.
    lines = panel_tables.drf_findings(three)
    assert [line.split("**")[1] for line in lines] == ["s=X", "s=F"]
    # Only a more lenient cell flagged: it is reported as such.
    lenient = panel_tables.drf_findings(three.assign(flagged=[False, True, False]))
    assert len(lenient) == 1 and "more positive decisions" in lenient[0]


def test_reviewer_forest_sorts_and_splits_flagged() -> None:
    table = pd.DataFrame({"reviewer_id": ["A", "B", "C"], "n": [50, 40, 30],
                          "severity": [0.0, 0.3, -0.1], "ci_low": [-0.1, 0.2, -0.2],
                          "ci_high": [0.1, 0.4, 0.0], "p_adjusted": [1.0, 0.01, 0.5],
                          "flagged": [False, True, False]})
    fig = panel_charts.reviewer_forest_figure(table, value="severity", title="t", axis="x",
                                              flagged="flagged")
    assert list(fig.layout.yaxis.categoryarray) == ["C", "A", "B"]
    plain, hit = fig.data
    assert list(hit.y) == ["B"] and list(hit.x) == [0.3]
    assert list(hit.error_x.array) == pytest.approx([0.1])
    assert list(plain.error_x.arrayminus) == pytest.approx([0.1, 0.1])
    lines = panel_tables.flagged_reviewers(table)
    assert len(lines) == 1 and lines[0].startswith("**B** is harsher")


def test_automation_rows_and_figure() -> None:
    overall = AutomationEffect(0.12, 0.05, 0.2, 0.4, 0.2, 0.6, 0.85, 0.73, 300, 310, 14)
    by_subject = pd.DataFrame({"subject_group": ["s=F", "s=M"], "value": [0.16, 0.1],
                               "ci_low": [0.07, 0.02], "ci_high": [0.24, 0.2],
                               "copy_rate": [0.7, 0.3], "copy_rate_ci_low": [0.5, 0.1],
                               "copy_rate_ci_high": [0.9, 0.5], "agree_shown": [0.95, 0.8],
                               "agree_hidden": [0.79, 0.7], "n_shown": [100, 200],
                               "n_hidden": [110, 200], "n_reviewers": [14, 14]})
    rows = panel_tables.automation_rows(overall, by_subject)
    assert rows["group"].tolist() == [panel_tables.ALL_CASES, "s=F", "s=M"]
    assert rows["value"].tolist() == [0.12, 0.16, 0.1]
    assert panel_tables.automation_rows(None, by_subject).empty
    fig = panel_charts.automation_figure(rows)
    hidden, shown = fig.data[1], fig.data[2]
    assert list(hidden.x) == [0.73, 0.79, 0.7] and list(shown.x) == [0.85, 0.95, 0.8]
    # The effect drawn is shown minus hidden, as the engine reported it.
    assert list(fig.data[3].x) == pytest.approx([0.12, 0.16, 0.1])


# -- "cannot tell" as its own outcome (last: it answers a case in the shared store) -------


def test_cannot_tell_answers_are_counted_per_group_and_per_reviewer_for_the_lead(
        app_env: PanelEnv, store: Store) -> None:
    reviewer = Actor(app_support.PERSONAS[Role.REVIEWER].username, Role.REVIEWER)
    mine = [a for a in store.my_assignments(reviewer, audit_run_id=app_env.rated_run)
            if a.status == "open"]
    assert mine, "the demo reviewer has open cases"
    store.cannot_tell(reviewer, mine[0].case_id, reason="the income is not shown",
                      seconds_spent=20)
    summary = cannot_tell_summary(store, LEAD, app_env.rated_run)
    assert summary.n_cannot_tell == 1
    at = open_page(AGREEMENT)
    assert "Cannot tell" in [h.value for h in at.subheader]
    assert any(f"1 of {summary.n_answered:,} answers" in c.value for c in at.caption)
    by_subject = next(d.value for d in at.dataframe if "subject group" in d.value.columns)
    assert by_subject["cannot tell"].sum() == 1
    by_reviewer = next(d.value for d in at.dataframe if "reviewer" in d.value.columns
                       and "cannot tell" in d.value.columns)
    row = by_reviewer[by_reviewer["cannot tell"] == 1]
    assert row["reviewer"].tolist() == [app_support.PERSONAS[Role.REVIEWER].display_name]
    # A compliance officer sees the groups, never a reviewer.
    at = open_page(AGREEMENT, Role.COMPLIANCE_OFFICER)
    assert "Cannot tell" in [h.value for h in at.subheader]
    assert not [d for d in at.dataframe if "reviewer" in d.value.columns
                and "cannot tell" in d.value.columns]
