"""The Findings page: every role but reviewers lands on it, and it answers their first
question from the store (and again at once after a write).

The page runs in-process with ``streamlit.testing.v1.AppTest`` against a private copy
of the german_credit demo (logistic regression): its fairness runs, its review queue
with the simulated panel's ratings, and its disputes.
"""

from __future__ import annotations

from collections.abc import Iterator

import app_support
import pandas as pd
import pytest
from app_support import PERSONAS, new_app
from demo_support import DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from app import fairness_tables, findings
from app.navigation import pages_for
from audits.raters.flagged import flagged_reviewers
from audits.reports.stored import draft_report, return_report, submit
from audits.roles import Actor, Role
from audits.store import Store

PAGE = "app_pages/home.py"
LEAD = Actor(PERSONAS[Role.PANEL_LEAD].username, Role.PANEL_LEAD)
SCIENTIST = Actor(PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)
COMPLIANCE = Actor(PERSONAS[Role.COMPLIANCE_OFFICER].username, Role.COMPLIANCE_OFFICER)


@pytest.fixture(scope="module")
def demo(demo_templates: DemoTemplates,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    with app_support.full_demo_copy(demo_templates, tmp_path_factory, "findings") as copy:
        yield copy


@pytest.fixture
def store(demo: DemoCopy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for key, value in demo.env.items():
        monkeypatch.setenv(key, value)
    with Store(demo.url) as opened:
        yield opened


def sign_in_as(role: Role) -> AppTest:
    at = new_app()
    at.run()
    at.button(key=f"sign_in.persona.{PERSONAS[role].username}").click().run()
    assert not at.exception, at.exception
    return at


def headers(at: AppTest) -> list[str]:
    return [h.value for h in at.header]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def tables(at: AppTest) -> list[pd.DataFrame]:
    """The page's tables in page order (AppTest does not expose a dataframe's key)."""
    return [d.value for d in at.dataframe]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_lands_on_its_first_question(store: Store, role: Role) -> None:
    at = sign_in_as(role)
    expected = "My reviews" if role is Role.REVIEWER else "Findings"
    assert [t.value for t in at.title] == [expected]
    assert pages_for(role)[0].title == expected
    # No chart on the first page after sign-in: the Plotly bundle is not loaded for it.
    assert len(at.get("plotly_chart")) == 0


def test_compliance_sees_failing_verdicts_with_intervals(store: Store) -> None:
    at = sign_in_as(Role.COMPLIANCE_OFFICER)
    assert headers(at) == ["Verdicts that fail", "Reports"]
    latest = findings.latest_fairness_runs(store)
    assert latest and [r.id for r in latest] == sorted((r.id for r in latest), reverse=True)
    failing = [r for r in latest if fairness_tables.verdict_counts(r.results)["fail"]]
    assert failing, "the demo's monitoring example fails some verdicts"
    shown_tables = iter(tables(at))
    for run in latest:
        n_fail = fairness_tables.verdict_counts(run.results)["fail"]
        if not n_fail:
            assert any("No verdict fails" in s.value for s in at.success)
            continue
        shown = next(shown_tables)
        assert len(shown) == n_fail and set(shown["verdict"]) == {"fail"}
        expected = fairness_tables.worst_disparities(run.results, n=n_fail, verdicts=["fail"])
        assert shown["group"].tolist() == expected["group"].tolist()
        assert all("[" in ratio for ratio in shown["ratio"])  # every fail with its interval


def test_compliance_sees_report_status_at_once_after_each_step(store: Store) -> None:
    at = sign_in_as(Role.COMPLIANCE_OFFICER)
    assert any(i.value == findings.MSG_NO_REPORTS for i in at.info)
    run = findings.latest_fairness_runs(store)[0]
    report = draft_report(store, SCIENTIST, run.id)
    submit(store, SCIENTIST, report.id)
    at.run()
    shown = metrics(at)
    assert (shown["Awaiting decision"], shown["Returned"], shown["Approved"]) == ("1", "0",
                                                                                 "0")
    assert tables(at)[-1]["status"].tolist() == ["Awaiting decision"]
    return_report(store, COMPLIANCE, report.id, "add the intended use")
    at.run()
    assert metrics(at)["Returned"] == "1" and metrics(at)["Awaiting decision"] == "0"
    rows = tables(at)[-1]
    assert rows["status"].tolist() == ["Returned"]
    assert rows["comment"].tolist() == ["add the intended use"]


def test_panel_lead_sees_progress_disputes_and_flagged_reviewers(store: Store) -> None:
    at = sign_in_as(Role.PANEL_LEAD)
    assert headers(at) == ["Reviews"]
    run_id = next(i for i in store.queued_audit_runs()
                  if store.panel_progress(LEAD, i)["assignments_rated"])
    progress = store.panel_progress(LEAD, run_id)
    cases = sum(v for k, v in progress.items() if k.startswith("cases_"))
    values = [(m.label, m.value) for m in at.metric]
    assert ("Cases closed", f"{progress['cases_closed']:,} of {cases:,}") in values
    assert ("Awaiting adjudication", str(progress["cases_disputed"])) in values
    found = flagged_reviewers(store, LEAD, run_id)
    assert ("Flagged reviewers", f"{found.n_flagged} of {found.n_reviewers}") in values
    assert found.flagged is not None
    flagged = tables(at)[0]  # the one queue with ratings
    assert flagged["reviewer"].tolist() == found.flagged["reviewer"].tolist()
    assert flagged["leaning"].tolist() == ["harsher" if s > 0 else "more lenient"
                                           for s in found.flagged["severity"]]
    # Adjudicating a dispute shows at once.
    disputed = store.disputed_cases(LEAD, audit_run_id=run_id)
    store.adjudicate(LEAD, disputed[0].case_id, label=1, reason="checked the file")
    at.run()
    values = [(m.label, m.value) for m in at.metric]
    assert ("Awaiting adjudication", str(progress["cases_disputed"] - 1)) in values
    assert ("Cases closed", f"{progress['cases_closed'] + 1:,} of {cases:,}") in values


def test_data_scientist_sees_the_latest_audits_worst_disparities(store: Store) -> None:
    at = sign_in_as(Role.DATA_SCIENTIST)
    assert headers(at) == ["Latest audit: worst disparities"]
    latest = findings.latest_fairness_runs(store)[0]
    shown = tables(at)[0]
    expected = fairness_tables.worst_disparities(latest.results, n=findings.N_WORST)
    assert len(shown) == min(findings.N_WORST, len(expected))
    assert shown["group"].tolist() == expected["group"].tolist()
    assert list(shown.columns) == fairness_tables.DISPARITY_COLUMNS
    order = list(fairness_tables.VERDICT_LABELS.values())
    ranks = [order.index(v) for v in shown["verdict"]]
    assert ranks == sorted(ranks)


def test_admin_sees_every_section(store: Store) -> None:
    at = sign_in_as(Role.ADMIN)
    assert headers(at) == ["Latest audit: worst disparities", "Reviews", "Reports"]


def test_latest_runs_keep_one_per_data_and_model(store: Store) -> None:
    runs = store.list_audit_runs()
    latest = findings.latest_fairness_runs(store, runs)
    pairs = [(r.dataset_id, r.model_id) for r in latest]
    assert len(pairs) == len(set(pairs))
    for run in latest:
        same = [r.id for r in runs if (r.dataset_id, r.model_id) == (run.dataset_id,
                                                                     run.model_id)
                and r.config.get("kind") == "fairness" and r.status == "completed"]
        assert run.id == max(same)
