"""Acceptance on the real default: the Adult audit's queue for a budget of 200 holds
every reason, and the simulated panel's injected biases are found by the panel analysis.

This prepares the whole demo (gradient boosting on Adult, SHAP on all 14,653 held-out
decisions, the simulated panel's 760 ratings), so it is slow (about 50 s); it runs
once per test run, on SQLite, as a shared demo template (see ``demo_support``): when the
slow tests' workers split this file, the second copies what the first prepared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from audits.cli.queue import queue_json
from audits.demo.panel import SEVERE_REVIEWER
from audits.demo.queue import DemoQueues
from audits.flagging.common import DECISION_REASONS
from audits.raters.stored import analyse_panel
from audits.roles import Actor, Role
from audits.store import Store

if TYPE_CHECKING:
    from demo_support import DemoTemplates

#: The full-size Adult acceptance run: run with -m slow (.ci/run does).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def adult(demo_templates: DemoTemplates, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[tuple[Store, DemoQueues]]:
    """A private copy of the default full demo: Adult, gradient boosting."""
    from demo_support import GRADIENT_BOOSTING

    copy = demo_templates.copy(tmp_path_factory.mktemp("adult-home"), dataset="adult",
                               kind=GRADIENT_BOOSTING)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRPANEL_HOME", copy.env["FAIRPANEL_HOME"])
        mp.delenv("FAIRPANEL_DEMO_DATASET", raising=False)
        with Store(copy.url) as store:
            yield store, copy.demo.queues


def test_the_adult_queue_holds_every_reason(adult: tuple[Store, DemoQueues]) -> None:
    store, demo = adult
    queue = demo.queue
    dataset = store.get_dataset(queue.audit_run.dataset_id)
    assert dataset is not None and dataset.name == "adult"
    assert len(queue.cases) == 200
    assert {c.primary_reason for c in queue.cases} == set(DECISION_REASONS)
    overview = queue_json(queue.audit_run.id, queue.cases, queue.summary,
                          queue.policy.as_dict())
    assert set(overview["by_reason"]) == set(DECISION_REASONS)
    assert sum(overview["by_group"].values()) == 200
    # Stratified by need: more than the two largest sex x race groups are represented.
    assert len(overview["by_group"]) >= 6


def test_adult_cases_carry_a_shap_explanation_and_no_visible_answer(
        adult: tuple[Store, DemoQueues]) -> None:
    store, demo = adult
    for case in store.list_cases(demo.queue.audit_run.id):
        explanation = case.snapshot["explanation"]
        assert explanation["available"] and explanation["reason"]
        assert set(case.snapshot["features"]) >= {"age", "occupation", "relationship"}
        answer_shown = any("gold_answer" in str(value) for key, value in case.snapshot.items()
                           if key != "hidden")
        assert not answer_shown


def test_counterfactual_and_proxy_reasons_name_what_changed(
        adult: tuple[Store, DemoQueues]) -> None:
    store, demo = adult
    policy = store.get_flag_policy(demo.queue.audit_run.id)
    assert policy is not None and "relationship" in policy["proxies"]["sex"]
    texts = {r["reason"]: r["explanation"] for c in demo.queue.cases for r in c.reasons}
    assert "sex" in texts["counterfactual"] or "race" in texts["counterfactual"]
    assert "proxy" in texts["attribution"]


def test_the_simulated_panels_injected_biases_are_found(
        adult: tuple[Store, DemoQueues]) -> None:
    store, demo = adult
    lead = Actor("demo-panel-lead", Role.PANEL_LEAD)
    analysis = analyse_panel(store, lead, demo.queue.audit_run.id, subject_attribute="sex")
    assert analysis.simulated_share == 1.0  # the persona has not rated yet
    assert analysis.severity is not None
    flagged = analysis.severity[analysis.severity["flagged"]]
    assert flagged["reviewer_id"].tolist() == [f"Simulated reviewer {SEVERE_REVIEWER[-2:]}"]
    harsh = analysis.drf.set_index(["rater_group", "subject_group"]).loc[("man", "sex=Female")]
    # A gap of 3 log-odds between men and women applicants is found in 10 of 10 simulated
    # panels (python -m audits.demo.power --seeds 10); the demo is seed 0.
    assert harsh["effect"] < 0 and harsh["n_cases"] >= 50 and bool(harsh["flagged"])
    assert analysis.automation is not None and analysis.automation.ci_low > 0
    compliance = analyse_panel(store, Actor("casey", Role.COMPLIANCE_OFFICER),
                               demo.queue.audit_run.id, subject_attribute="sex")
    assert compliance.severity is None and compliance.pairwise is None
    assert compliance.n_flagged_reviewers == 1
