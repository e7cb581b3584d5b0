"""The Audit log page's filters and pages, and the Audit runs page's readable settings and
diff, against a private copy of the german_credit demo. What the pages show is compared
with the engine's own answers (:func:`audits.store.log_search.search_log`,
:func:`audits.fairness.run_config.diff_settings`)."""

from __future__ import annotations

from collections.abc import Iterator

import app_support
import pytest
from demo_support import DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from audits.roles import Actor, Role
from audits.store import Store
from audits.store.log import LogFilter
from audits.store.log_search import search_log

LOG, RUNS = "app_pages/audit_log.py", "app_pages/audit_runs.py"
ADMIN = Actor(app_support.PERSONAS[Role.ADMIN].username, Role.ADMIN)
COMPLIANCE = Actor(app_support.PERSONAS[Role.COMPLIANCE_OFFICER].username,
                   Role.COMPLIANCE_OFFICER)


@pytest.fixture(scope="module")
def module_copy(demo_templates: DemoTemplates,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    with app_support.full_demo_copy(demo_templates, tmp_path_factory, "log-runs") as copy:
        yield copy


@pytest.fixture
def store(module_copy: DemoCopy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for key, value in module_copy.env.items():
        monkeypatch.setenv(key, value)
    with Store(module_copy.url) as opened:
        yield opened


def entries(at: AppTest) -> list[int]:
    return at.dataframe[0].value["id"].tolist()


def caption(at: AppTest, text: str) -> str:
    return next(c.value for c in at.caption if text in c.value)


def test_action_filter_and_pages_match_the_engine(store: Store) -> None:
    at = app_support.open_page(LOG, "Audit log", Role.ADMIN)
    at.selectbox(key="audit_log.filter.action").set_value("rating_created").run()
    assert not at.exception, at.exception
    chosen = LogFilter(action="rating_created")
    expected = search_log(store.engine, ADMIN, chosen, page_size=25)
    at.selectbox(key="audit_log.page_size").set_value(25).run()
    assert entries(at) == [e.id for e in expected.entries]
    assert set(at.dataframe[0].value["action"]) == {"rating_created"}
    assert f"Entries 1 to 25 of {expected.total:,} matching" in caption(at, "matching")
    assert expected.n_pages > 2
    at.number_input(key="audit_log.page").set_value(3).run()
    third = search_log(store.engine, ADMIN, chosen, page=3, page_size=25)
    assert entries(at) == [e.id for e in third.entries]
    assert f"Entries 51 to 75 of {expected.total:,}" in caption(at, "matching")
    # A new filter starts again at page 1.
    at.selectbox(key="audit_log.filter.entity").set_value("user").run()
    assert at.number_input(key="audit_log.page").value == 1


def test_object_and_actor_filters_and_no_match(store: Store) -> None:
    at = app_support.open_page(LOG, "Audit log", Role.ADMIN)
    at.selectbox(key="audit_log.filter.entity").set_value("user")
    at.text_input(key="audit_log.filter.entity_id").input("1").run()
    expected = search_log(store.engine, ADMIN, LogFilter(entity="user", entity_id="1"),
                          page_size=50)
    assert entries(at) == [e.id for e in expected.entries] and expected.total > 0
    at.selectbox(key="audit_log.filter.actor").set_value(ADMIN.username).run()
    assert any("No entry matches these filters" in i.value for i in at.info)


def test_compliance_filters_by_the_redacted_actor_only(store: Store) -> None:
    at = app_support.open_page(LOG, "Audit log", Role.COMPLIANCE_OFFICER)
    actors = at.selectbox(key="audit_log.filter.actor").options
    assert "reviewer" in actors
    assert not [a for a in actors if a.startswith("sim-reviewer")]
    at.selectbox(key="audit_log.filter.actor").set_value("reviewer")
    at.selectbox(key="audit_log.filter.action").set_value("rating_created").run()
    shown = at.dataframe[0].value
    assert set(shown["actor"]) == {"reviewer"}
    assert all("redacted" in p for p in shown["payload"])


def settings_shown(at: AppTest) -> dict[str, str]:
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["setting", "value"])
    return dict(zip(table["setting"], table["value"], strict=True))


def test_runs_read_as_settings_and_two_runs_are_diffed(store: Store) -> None:
    runs = sorted((r.id for r in store.list_audit_runs()), reverse=True)
    assert len(runs) >= 2
    at = app_support.open_page(RUNS, "Audit runs", Role.DATA_SCIENTIST)
    listed = at.dataframe[0].value
    assert {"Groups (sensitive features)", "Reference group", "Seed", "Run by"} <= set(
        listed.columns)
    assert not any("{" in str(v) for v in listed.to_numpy().ravel())  # no raw JSON
    newest = store.get_audit_run(runs[0])
    assert newest is not None
    first = settings_shown(at)
    assert first["Seed"] == str(newest.config["random_state"])
    assert first["Run by"] == newest.created_by
    at.selectbox(key="audit_runs.selected").set_value(runs[1]).run()
    second = settings_shown(at)
    at.selectbox(key="audit_runs.selected").set_value(runs[0]).run()
    at.selectbox(key="audit_runs.compare_with").set_value(runs[1]).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader if "against" in h.value] == [
        f"Run #{runs[0]} against run #{runs[1]}"]
    diff = at.dataframe[1].value
    assert list(diff.columns) == ["setting", f"run #{runs[0]}", f"run #{runs[1]}"]
    differing = [k for k in dict.fromkeys([*first, *second])
                 if first.get(k, "-") != second.get(k, "-")]
    assert diff["setting"].tolist() == differing and differing
    at.selectbox(key="audit_runs.compare_with").set_value(None).run()
    assert not [h for h in at.subheader if "against" in h.value]
