"""The Live decisions page on the prepared demo with a live stream: the figures are the
engine's (audits.live.monitor.live_overview, itself checked here against counts made by
hand from the stored decisions), every role that reads it sees the same, reviewers do
not see it."""

from __future__ import annotations

from collections.abc import Iterator

import app_support
import pytest
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app.navigation import pages_for
from audits.live.monitor import live_overview
from audits.live.policy import LivePolicy
from audits.live.stored import DecisionRequest, decide, live_system
from audits.roles import Actor, Role
from audits.store import Store

PAGE = "app_pages/live.py"
SCIENTIST = Actor(app_support.PERSONAS[Role.DATA_SCIENTIST].username, Role.DATA_SCIENTIST)


@pytest.fixture(scope="module")
def live_env(demo_templates: DemoTemplates,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo with 80 live decisions of german_credit (a quarter held at random)."""
    with app_support.demo_copy(demo_templates, tmp_path_factory, "fairpanel-live") as copy:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in copy.env.items():
                mp.setenv(key, value)
            with Store(copy.url) as store:
                live = live_system(store, "german_credit")
                context = live.context
                rows = live.reference.sample(80, random_state=4)
                requests = [DecisionRequest(
                    id=f"l-{i}", idempotency_key=f"l-{i}",
                    features={f: _plain(r[f]) for f in context.features
                              if f not in context.sensitive_features},
                    sensitive={s: _plain(r[s]) for s in context.sensitive_features})
                    for i, (_, r) in enumerate(rows.iterrows())]
                decide(store, SCIENTIST, live, requests,
                       policy=LivePolicy(random_rate=0.25, random_state=3))
        yield copy.env


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value  # type: ignore[union-attr]


@pytest.fixture
def env(live_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in live_env.items():
        monkeypatch.setenv(key, value)
    return live_env


def open_page(role: Role) -> AppTest:
    at = app_support.open_page(PAGE, "Live decisions", role)
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("role", [Role.DATA_SCIENTIST, Role.PANEL_LEAD,
                                  Role.COMPLIANCE_OFFICER, Role.ADMIN])
def test_the_page_shows_the_engines_figures(env: dict[str, str], role: Role) -> None:
    with Store(env["FAIRPANEL_DATABASE_URL"]) as store:
        records = store.live_decisions("german_credit")
    overview = live_overview(records)
    # The engine against counts made by hand from the stored decisions.
    assert overview.n == len(records) == 80
    assert overview.n_held == sum(r.outcome == "held" for r in records) > 0
    assert overview.by_group["n"].sum() == 80
    assert overview.by_group["held"].sum() == overview.n_held
    assert overview.per_hour["decisions"].sum() == 80
    at = open_page(role)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Decisions"] == "80"
    assert metrics["Held for a person"].startswith(f"{overview.n_held:,} (")
    groups = next(d.value for d in at.dataframe if "overridden" in d.value.columns)
    assert len(groups) == len(overview.by_group)
    assert at.get("plotly_chart")  # decisions per hour
    at.selectbox(key="live.attribute").set_value("sex").run()
    assert not at.exception, at.exception
    groups = next(d.value for d in at.dataframe if "overridden" in d.value.columns)
    assert sorted(groups["group"]) == sorted(live_overview(records, attribute="sex")
                                             .by_group["group"])


def test_reviewers_do_not_see_the_page() -> None:
    assert PAGE not in {p.path for p in pages_for(Role.REVIEWER)}
    assert PAGE in {p.path for p in pages_for(Role.COMPLIANCE_OFFICER)}
