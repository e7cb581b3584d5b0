"""The Worst-off subgroups page for every role that sees it, and its table helpers.

The page runs in-process with ``streamlit.testing.v1.AppTest`` against a private copy of
the german_credit demo (300 held-out decisions, so the smallest subgroup is set to 20).
A data scientist's discovery is stored (the report reads it) and shown as the engine
found it; a compliance officer's is shown and not stored; no column, no run.
"""

from __future__ import annotations

import doctest
from collections.abc import Iterator

import app_support
import pytest
from app_support import DemoCopy, demo_copy
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from app import slice_tables
from app.navigation import pages_for
from audits.roles import Role
from audits.slices.stored import SLICES_KIND, find_audit_slices
from audits.store import AuditRunRecord, Store

PAGE = "app_pages/slices.py"
TITLE = "Worst-off subgroups"
SUPPORT = 20


@pytest.fixture(scope="module")
def copy(demo_templates: DemoTemplates,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    with demo_copy(demo_templates, tmp_path_factory, "fairpanel-slices") as made:
        yield made


@pytest.fixture
def store(copy: DemoCopy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    with Store(copy.url) as opened:
        yield opened


def slice_runs(store: Store) -> list[AuditRunRecord]:
    return [r for r in store.list_audit_runs() if r.config.get("kind") == SLICES_KIND]


def run_discovery(at: AppTest) -> AppTest:
    at.number_input(key="slices.min_support").set_value(SUPPORT).run()
    at.button(key="slices.run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_roles_that_see_the_fairness_audit_see_this_page() -> None:
    for role in Role:
        titles = [p.title for p in pages_for(role)]
        assert (TITLE in titles) is ("Fairness audit" in titles), role


def test_a_data_scientist_runs_and_stores_a_discovery(store: Store) -> None:
    before = slice_runs(store)
    at = app_support.open_page(PAGE, TITLE, Role.DATA_SCIENTIST)
    audit_id = at.selectbox(key="slices.audit_run_id").value
    assert audit_id is not None
    if not before:
        assert any("No slice discovery is stored" in i.value for i in at.info)
    run_discovery(at)
    after = slice_runs(store)
    assert len(after) == len(before) + 1
    stored = after[-1]
    assert stored.config["audit_run_id"] == audit_id
    assert stored.config["min_support"] == SUPPORT and stored.config["columns"] is None
    results = stored.results
    assert results["n_tested"] > 0
    shown = {m.label: m.value for m in at.metric}
    assert shown["Subgroups tested"] == f"{results['n_tested']:,}"
    assert shown["Confirmed on the other half"] == str(len(results["slices"]))
    assert slice_tables.what_was_tested(results) in [m.value for m in at.markdown]
    assert any(f"run #{stored.id}" in c.value for c in at.caption)
    # The engine alone, on the same settings, finds the same slices.
    oracle = find_audit_slices(store, app_support.DATA_SCIENTIST, audit_id,
                               min_support=SUPPORT)
    assert [s.to_dict() for s in oracle.slices] == results["slices"]
    if results["slices"]:
        table = at.dataframe(key="slices.table").value
        assert table["n"].tolist() == [s["n"] for s in results["slices"]]
    # Shown again on the next visit, without running anything.
    again = app_support.open_page(PAGE, TITLE, Role.DATA_SCIENTIST)
    assert {m.label: m.value for m in again.metric}["Subgroups tested"] == \
        f"{results['n_tested']:,}"
    assert len(slice_runs(store)) == len(after)


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.PANEL_LEAD])
def test_other_roles_run_it_without_storing(store: Store, role: Role) -> None:
    before = len(slice_runs(store))
    at = run_discovery(app_support.open_page(PAGE, TITLE, role))
    assert len(slice_runs(store)) == before
    assert any(c.value.startswith("Not stored") for c in at.caption)
    assert "Subgroups tested" in {m.label for m in at.metric}


def test_no_column_no_run(store: Store) -> None:
    at = app_support.open_page(PAGE, TITLE, Role.DATA_SCIENTIST)
    audit_id = at.selectbox(key="slices.audit_run_id").value
    at.multiselect(key=f"slices.columns.{audit_id}").set_value([]).run()
    assert any("at least one column" in w.value for w in at.warning)
    assert "slices.run" not in [b.key for b in at.button]


def test_a_chosen_subset_of_columns_is_what_is_sliced(store: Store) -> None:
    at = app_support.open_page(PAGE, TITLE, Role.ADMIN)
    audit_id = at.selectbox(key="slices.audit_run_id").value
    at.multiselect(key=f"slices.columns.{audit_id}").set_value(["sex", "age_group"]).run()
    at.selectbox(key="slices.depth").set_value(2).run()
    run_discovery(at)
    stored = slice_runs(store)[-1]
    assert stored.config["columns"] == ["sex", "age_group"]
    assert stored.results["columns"] == ["sex", "age_group"]
    assert stored.config["max_depth"] == 2


def test_table_helpers_examples() -> None:
    failed, tried = doctest.testmod(slice_tables, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 3 and failed == 0
