"""The Review queue, Deferral and Monitoring pages, and the helpers they draw with.

The pages run in-process with ``streamlit.testing.v1.AppTest`` against a german_credit
demo store prepared once for this module with :func:`audits.demo.default.ensure_demo` and
:func:`audits.demo.queue.ensure_demo_queue` (a review queue of the demo audit, and the
synthetic monitoring example with four simulated weekly batches, drifting from the second).
The helpers of :mod:`app.queue_tables` and :mod:`app.queue_charts` are checked on
hand-built records.
"""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import app_support
import pandas as pd
import pytest
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app import case_display, queue_charts, queue_tables
from app.navigation import pages_for
from audits.demo.queue import DRIFT_GROUP, N_WEEKS, DemoQueues
from audits.flagging.reasons import OUTCOME_FREE
from audits.monitoring.stored import reviewed_decisions
from audits.roles import Role
from audits.store import CaseRecord, Store

QUEUE, DEFERRAL, MONITORING = ("app_pages/review_queue.py", "app_pages/deferral.py",
                               "app_pages/monitoring.py")
TITLES = {QUEUE: "Review queue", DEFERRAL: "Deferral", MONITORING: "Monitoring"}
#: Put in place of every gold answer the page reads: it must never be rendered.
SENTINEL = "GOLD-ANSWER-SENTINEL-7f3a"


@dataclass(frozen=True)
class QueueEnv:
    env: dict[str, str]
    url: str
    queues: DemoQueues


@pytest.fixture(scope="module")
def queue_env(demo_templates: DemoTemplates,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueueEnv]:
    """The german_credit demo with its review queue and the monitoring example."""
    with app_support.full_demo_copy(demo_templates, tmp_path_factory,
                                    "fairpanel-queue") as copy:
        yield QueueEnv(env=copy.env, url=copy.url, queues=copy.demo.queues)


@pytest.fixture
def app_env(queue_env: QueueEnv, monkeypatch: pytest.MonkeyPatch) -> QueueEnv:
    for key, value in queue_env.env.items():
        monkeypatch.setenv(key, value)
    return queue_env


@pytest.fixture
def store(app_env: QueueEnv) -> Iterator[Store]:
    with Store(app_env.url) as opened:
        yield opened


def open_page(page: str, role: Role = Role.PANEL_LEAD) -> AppTest:
    at = app_support.open_page(page, TITLES[page], role)
    if page != MONITORING:  # where alerts of new failures are errors
        assert not at.error, [e.value for e in at.error]
    return at


def bullets(at: AppTest) -> list[str]:
    """The reasons drawn as plain-text bullets."""
    return [t.value for t in at.text if t.value.startswith("• ")]


def rendered_text(at: AppTest) -> str:
    """Everything the page shows as text: elements, tables, JSON and chart specs."""
    parts: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        value = getattr(node, "value", None)
        if isinstance(value, pd.DataFrame):
            parts.append(value.to_csv())
    return "\n".join(parts)


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def chart_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# -- the pages on the demo store ---------------------------------------------------------


@pytest.mark.parametrize("page", [QUEUE, DEFERRAL, MONITORING])
def test_page_renders_for_panel_lead(app_env: QueueEnv, page: str) -> None:
    at = open_page(page)
    assert len(at.get("plotly_chart")) >= 1


def test_queue_page_defaults_to_newest_queue_and_shows_headline(app_env: QueueEnv,
                                                                store: Store) -> None:
    at = open_page(QUEUE)
    newest = max(store.queued_audit_runs())
    assert at.selectbox(key="review_queue.run_id").value == newest
    cases = store.list_cases(newest)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Cases queued"] == f"{len(cases):,}"
    assert shown["Subject groups"] == str(len({c.subject_group for c in cases}))
    covered, wanted = shown["Reasons covered"].split(" of ")
    assert int(covered) <= int(wanted)


def test_queue_page_shows_every_stored_reason(app_env: QueueEnv, store: Store) -> None:
    run_id = app_env.queues.queue.audit_run.id
    at = open_page(QUEUE)
    at.selectbox(key="review_queue.run_id").set_value(run_id).run()
    assert not at.exception, at.exception
    cases = store.list_cases(run_id)
    reasons = {r["reason"] for c in cases for r in c.reasons}
    table = next(d.value for d in at.dataframe if "all reasons" in d.value.columns)
    assert len(table) == len(cases)
    listed = {r for cell in table["all reasons"] for r in cell.split(", ")}
    assert {queue_tables.reason_label(r) for r in reasons} <= listed
    heatmap = chart_specs(at)[0]["data"][0]
    assert set(heatmap["x"]) == {queue_tables.reason_label(c.primary_reason) for c in cases}
    # Cells of the heatmap add up to the number of cases.
    assert sum(v for row in heatmap["z"] for v in row if v is not None) == len(cases)
    summary = next(d.value for d in at.dataframe if "flagged" in d.value.columns)
    selected = (store.get_flag_policy(run_id) or {})["summary"]["selected_by_reason"]
    assert dict(zip(summary["reason"], summary["selected"], strict=True)) == {
        queue_tables.reason_label(r): n for r, n in selected.items()} | {
        r: 0 for r in summary["reason"]
        if r not in {queue_tables.reason_label(k) for k in selected}}


def test_gold_answer_is_never_rendered(app_env: QueueEnv, store: Store,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = app_env.queues.queue.audit_run.id
    gold = [c for c in store.list_cases(run_id) if queue_tables.HIDDEN_KEY in c.snapshot]
    assert gold, "the demo queue holds gold cases"
    original = Store.list_cases

    def with_sentinel(self: Store, audit_run_id: int) -> list[CaseRecord]:
        return [replace(c, snapshot={**c.snapshot, "hidden": {"gold_answer": SENTINEL}})
                if "hidden" in c.snapshot else c for c in original(self, audit_run_id)]

    monkeypatch.setattr(Store, "list_cases", with_sentinel)
    at = open_page(QUEUE)
    at.selectbox(key="review_queue.run_id").set_value(run_id).run()
    for case in gold[:3]:
        at.selectbox(key="review_queue.case").set_value(case.id).run()
        assert not at.exception, at.exception
        text = rendered_text(at)
        # The case is on display: its features (a table) and its reasons, outcome-free
        # for a panel lead, who adjudicates.
        assert all(str(v) in text for v in case.snapshot["features"].values())
        shown = bullets(at)
        assert [f"• {line}" for line in case_display.reason_lines(case.reasons,
                                                                   Role.PANEL_LEAD)] == shown
        assert all(r["explanation"] not in " ".join(shown) for r in case.reasons)
        assert SENTINEL not in text
        assert "gold_answer" not in text
        features = next(d.value for d in at.dataframe if "attribute" in d.value.columns)
        expected = {**case.snapshot["sensitive"], **case.snapshot["features"]}
        assert set(features["attribute"]) == set(expected)


def test_case_detail_shows_decision_score_and_explanation(app_env: QueueEnv,
                                                          store: Store) -> None:
    run_id = app_env.queues.queue.audit_run.id
    at = open_page(QUEUE)
    at.selectbox(key="review_queue.run_id").set_value(run_id).run()
    case = store.list_cases(run_id)[0]
    at.selectbox(key="review_queue.case").set_value(case.id).run()
    texts = [m.value for m in at.markdown]
    assert f"**Decision**  \n{case.snapshot['decision']['label']}" in texts
    assert any(t.startswith(f"**Score**  \n{case.snapshot['score']:.3f} (") for t in texts)
    assert f"**Subject group**  \n{case.subject_group}" in texts
    assert any(case.snapshot["explanation"]["reason"] == i.value for i in at.info)
    waterfall = chart_specs(at)[-1]["data"][0]
    assert waterfall["type"] == "waterfall"
    assert len(waterfall["x"]) == len(case.snapshot["explanation"]["waterfall"]["feature"]) + 2
    # A panel lead adjudicates: the reasons without decision, outcome or known answer.
    assert bullets(at) == [
        f"• {queue_tables.reason_label(r['reason'])}: {OUTCOME_FREE[r['reason']]}"
        for r in case.reasons]
    # A data scientist neither rates nor adjudicates: the full reasons.
    at = open_page(QUEUE, Role.DATA_SCIENTIST)
    at.selectbox(key="review_queue.run_id").set_value(run_id).run()
    at.selectbox(key="review_queue.case").set_value(case.id).run()
    assert bullets(at) == [
        f"• {queue_tables.reason_label(r['reason'])}: {r['explanation']}" for r in case.reasons]


def test_deferral_page_states_the_assumption_on_the_charts(app_env: QueueEnv,
                                                            store: Store) -> None:
    at = open_page(DEFERRAL)
    # The demo queue has ratings of gold cases: human accuracy is estimated from them.
    rated = at.selectbox(key="deferral.run_id").value
    known = reviewed_decisions(store, rated)
    assert len(known) >= 30
    share = float((known["label"] == known["y_true"]).mean())
    specs = chart_specs(at)
    assert len(specs) == 2
    for spec in specs:
        assert (f"Human accuracy {share:.2f} [" in spec["layout"]["title"]["text"]
                and f"estimated from {len(known)} reviewed" in spec["layout"]["title"]["text"])
    # The monitoring example has no reviews: the assumption, following the slider.
    at.selectbox(key="deferral.run_id").set_value(app_env.queues.monitoring_run_id).run()
    statement = "Human accuracy assumed 0.90, range 0.80 to 0.98 (no reviewed cases yet)."
    for spec in chart_specs(at):
        assert statement in spec["layout"]["title"]["text"]
    assert at.selectbox(key="deferral.metric").value == "selection_rate"
    at.slider(key="deferral.assumed").set_value(0.75).run()
    assert not at.exception, at.exception
    titles = [s["layout"]["title"]["text"] for s in chart_specs(at)]
    assert len(titles) == 2  # both charts drawn (an assumption out of range once drew none)
    assert all("Human accuracy assumed 0.75" in t for t in titles)


def test_deferral_ratio_chart_draws_parity_bounds(app_env: QueueEnv, store: Store) -> None:
    at = open_page(DEFERRAL)
    run = store.get_audit_run(at.selectbox(key="deferral.run_id").value)
    assert run is not None
    tau = float(run.config["tau"])
    ratio = chart_specs(at)[1]
    bounds = sorted(s["y0"] for s in ratio["layout"]["shapes"] if s.get("line", {}).get(
        "dash") == "dash")
    assert bounds == pytest.approx([tau, 1 / tau])


def test_monitoring_page_shows_the_drift_alert(app_env: QueueEnv, store: Store) -> None:
    at = open_page(MONITORING)
    assert at.selectbox(key="monitoring.run_id").value == app_env.queues.monitoring_run_id
    drift = "=".join(DRIFT_GROUP)
    last = f"simulated week {N_WEEKS}"
    failures = [e.value for e in at.error]
    # The drift starts in week 2; the window fails from week 3 and the alert holds by the
    # last week, not on one batch.
    assert any(drift in text and last in text for text in failures)
    stored = store.list_alerts(app_env.queues.monitoring_run_id)
    assert len(at.error) + len(at.success) == len(stored)
    opened = next(d.value for d in at.dataframe if "open since" in d.value.columns)
    assert drift in set(opened["group"])
    spec = chart_specs(at)[0]
    assert "rolling window" in spec["layout"]["title"]["text"]  # alerts follow the window
    x = spec["data"][0]["x"]
    assert x[0] == "baseline" and x[-1] == last
    crosses = [t for t in spec["data"] if t.get("name") == "new failure"]
    assert crosses and last in crosses[0]["x"]
    batches = next(d.value for d in at.dataframe if "sha256" in d.value.columns)
    assert batches["batch"].tolist() == [f"simulated week {i}" for i in range(1, N_WEEKS + 1)]


def test_monitoring_batch_view(app_env: QueueEnv) -> None:
    at = open_page(MONITORING)
    at.segmented_control(key="monitoring.view").set_value("batch").run()
    assert not at.exception, at.exception
    spec = chart_specs(at)[0]
    assert "each batch on its own" in spec["layout"]["title"]["text"]


@pytest.mark.parametrize("page", [QUEUE, DEFERRAL, MONITORING])
def test_reviewer_cannot_open(app_env: QueueEnv, page: str) -> None:
    assert page not in {p.path for p in pages_for(Role.REVIEWER)}
    at = app_support.open_page("app_pages/overview.py", "Dataset & model", Role.REVIEWER)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


def test_compliance_officer_sees_queue_and_monitoring_not_deferral() -> None:
    paths = {p.path for p in pages_for(Role.COMPLIANCE_OFFICER)}
    assert {QUEUE, MONITORING} <= paths and DEFERRAL not in paths
    for role in (Role.PANEL_LEAD, Role.DATA_SCIENTIST, Role.ADMIN):
        assert {QUEUE, DEFERRAL, MONITORING} <= {p.path for p in pages_for(role)}


# -- pure helpers on hand-built records --------------------------------------------------


NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def case(i: int, reason: str, group: str, *, batch: int | None = None, days: float = 0.0,
         reasons: tuple[str, ...] = ()) -> CaseRecord:
    return CaseRecord(
        id=i, audit_run_id=1, batch_id=batch, row_key=str(i), subject_group=group,
        primary_reason=reason,
        reasons=[{"reason": r, "score": 1.0, "explanation": f"because {r}"}
                 for r in (reason, *reasons)],
        priority=1.0, rank=i,
        snapshot={"features": {"x": i}, "sensitive": {"s": group}, "score": 0.25,
                  "decision": {"value": 0, "label": "declined"},
                  "hidden": {"gold_answer": SENTINEL}},
        snapshot_sha256="ab" * 32, status="queued", created_by="t",
        created_at=NOW - timedelta(days=days))


def test_helper_docstring_examples() -> None:
    for module in (queue_tables, queue_charts):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_case_table_never_carries_the_hidden_answer() -> None:
    cases = [case(1, "gold", "s=a"), case(2, "low_confidence", "s=b", reasons=("gold",))]
    table = queue_tables.case_table(cases, {None: queue_tables.INITIAL_BATCH})
    assert SENTINEL not in table.to_csv()
    assert table["all reasons"].tolist() == ["Gold (known answer)",
                                             "Low confidence, Gold (known answer)"]
    assert table["decision"].tolist() == ["declined", "declined"]
    assert SENTINEL not in queue_tables.feature_table(cases[0].snapshot).to_csv()
    assert "hidden" not in queue_tables.reviewer_snapshot(cases[0].snapshot)
    assert "hidden" in cases[0].snapshot, "the stored record is not changed"


def test_reason_group_counts_pools_small_groups() -> None:
    cases = ([case(i, "gold", "g1") for i in range(5)]
             + [case(10 + i, "low_confidence", "g2") for i in range(3)]
             + [case(20, "gold", "g3"), case(21, "disparity", "g4")])
    counts = queue_tables.reason_group_counts(cases, top=2)
    # Oracle: the same counts by a loop over the cases.
    pooled = {"g3": "other (2 groups)", "g4": "other (2 groups)"}
    expected: dict[tuple[str, str], int] = {}
    for c in cases:
        key = (c.primary_reason, pooled.get(c.subject_group, c.subject_group))
        expected[key] = expected.get(key, 0) + 1
    assert dict(zip(zip(counts["reason"].astype(str), counts["group"].astype(str),
                        strict=True), counts["n"], strict=True)) == expected
    assert counts["reason"].tolist()[0] == "low_confidence"  # the policy's order
    assert queue_tables.reason_group_counts([]).empty
    fig = queue_charts.reason_group_figure(counts)
    assert list(fig.data[0].y) == ["g1", "g2", "other (2 groups)"]


def test_age_and_batch_tables() -> None:
    cases = [case(1, "gold", "a", days=0.5), case(2, "gold", "a", days=3, batch=7),
             case(3, "gold", "a", days=10, batch=7), case(4, "gold", "a", days=1.0)]
    ages = queue_tables.age_table(cases, now=NOW)
    assert ages.to_dict("list") == {"age": ["< 1 day", "1-7 days", "> 7 days"],
                                    "cases": [1, 2, 1]}
    batches = queue_tables.queue_batch_table(cases, {None: "initial audit", 7: "week 1",
                                                     8: "week 2"})
    assert batches.to_dict("list") == {"batch": ["initial audit", "week 1", "week 2"],
                                       "cases": [2, 2, 0]}


def test_reasons_covered() -> None:
    policy = {"policy": {"quotas": {"gold": 0.5, "disparity": 0.5, "attribution": 0.0}}}
    cases = [case(1, "gold", "a", reasons=("low_confidence",))]
    assert queue_tables.reasons_covered(policy, cases) == (1, 2)
    assert queue_tables.reasons_covered({}, cases) == (2, 2)


def test_monitoring_helpers() -> None:
    history = pd.DataFrame({
        "position": [0, 1, 2, 0, 1, 2], "batch_id": [None, 5, 6, None, 5, 6],
        "label": ["baseline", "w1", "w2"] * 2, "metric": ["selection_rate"] * 6,
        "group": ["s=a"] * 3 + ["s=b"] * 3, "reference": ["s=c"] * 6,
        "ratio": [1.0, 0.9, 0.6, 1.0, 1.0, 1.1], "ratio_low": [0.9, 0.8, 0.5, 0.9, 0.9, 1.0],
        "ratio_high": [1.1, 1.0, 0.7, 1.1, 1.1, 1.2],
        "verdict": ["pass", "pass", "fail", "pass", "pass", "pass"]})
    alerts = pd.DataFrame({"batch_id": [6, 5], "metric": ["selection_rate"] * 2,
                           "group": ["s=a", "s=b"], "to_verdict": ["fail", "pass"]})
    marks = queue_tables.alert_points(history, alerts)
    assert marks[["position", "group"]].values.tolist() == [[2, "s=a"]]
    labels = queue_tables.position_labels(history)
    assert labels == ["baseline", "w1", "w2"]
    fig = queue_charts.monitoring_figure(history, "selection_rate", tau=0.8, labels=labels,
                                         alerts=marks, groups=["s=a"])
    assert [t.name for t in fig.data] == ["s=a vs s=c", "new failure"]
    assert list(fig.data[0].error_y.array) == pytest.approx([0.1, 0.1, 0.1])
    assert sorted(s.y0 for s in fig.layout.shapes if s.line.dash == "dash") == \
        pytest.approx([0.8, 1.25])
