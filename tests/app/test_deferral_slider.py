"""The Deferral page's human-accuracy slider: live while the accuracy is assumed, disabled
at the measured value once the panel's reviews measure it (it would change nothing).

Runs the page in-process with ``AppTest`` on a private copy of the german_credit demo:
its review queue has ratings of gold cases (human accuracy measured), and the monitoring
example's audit has none (assumed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import app_support
import pytest
from demo_support import DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from audits.flagging.deferral import human_accuracy
from audits.monitoring.stored import reviewed_decisions
from audits.roles import Role
from audits.store import Store

DEFERRAL = "app_pages/deferral.py"


@pytest.fixture(scope="module")
def demo(demo_templates: DemoTemplates,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    with app_support.full_demo_copy(demo_templates, tmp_path_factory,
                                    "fairpanel-deferral") as copy:
        yield copy


@pytest.fixture
def page(demo: DemoCopy, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    for key, value in demo.env.items():
        monkeypatch.setenv(key, value)
    at = app_support.open_page(DEFERRAL, "Deferral", Role.PANEL_LEAD)
    assert not at.error, [e.value for e in at.error]
    return at


def titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"]
            for c in at.get("plotly_chart")]


def slider(at: AppTest, key: str) -> Any:
    return next(s for s in at.slider if s.key == key)


def test_measured_accuracy_disables_the_slider_at_the_measured_value(
        page: AppTest, demo: DemoCopy) -> None:
    run_id = page.selectbox(key="deferral.run_id").value
    assert run_id == demo.demo.queues.queue.audit_run.id
    with Store(demo.url) as store:
        known = reviewed_decisions(store, run_id)
    measured = human_accuracy(known)
    assert measured.source == "estimated"
    shown = slider(page, "deferral.measured")
    assert shown.proto.disabled
    assert shown.value == pytest.approx(round(measured.value, 2))
    assert "deferral.assumed" not in {s.key for s in page.slider}
    caption = next(c.value for c in page.caption if c.value.startswith("No assumption"))
    assert f"reviewed {len(known)} cases with a known answer" in caption
    assert f"[{measured.ci_low:.2f}, {measured.ci_high:.2f}]" in caption
    assert all(measured.statement in t for t in titles(page))


def test_assumed_accuracy_follows_the_slider(page: AppTest, demo: DemoCopy) -> None:
    monitored = demo.demo.queues.monitoring_run_id
    page.selectbox(key="deferral.run_id").set_value(monitored).run()
    live = slider(page, "deferral.assumed")
    assert not live.proto.disabled
    assert len(titles(page)) == 2
    assert all("Human accuracy assumed 0.90" in t for t in titles(page))
    live.set_value(0.7).run()
    assert not page.exception, page.exception
    # Below the engine's default range (0.80 to 0.98) the band widens to hold the
    # assumption; the page once drew no curve there.
    stated = "Human accuracy assumed 0.70, range 0.70 to 0.98"
    assert len(titles(page)) == 2 and all(stated in t for t in titles(page))
    assert any(i.value.startswith(stated) for i in page.info)
