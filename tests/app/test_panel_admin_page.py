"""Administering the Reviewer panel page: putting a reviewer account on the panel, the
confirmation before a reviewer's cases move, guidance on a suppressed composition, and
the page showing an assignment at once (no stale "not assigned").

The page runs in-process (``AppTest``) on a private copy of the german_credit demo; each
assertion reads the page after the write, and the store independently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import app_support
import pytest
from demo_support import DemoTemplates
from streamlit.testing.v1 import AppTest

from audits.roles import Actor, Role
from audits.store import Store

PANEL = "app_pages/panel.py"
LEAD = Actor(app_support.PERSONAS[Role.PANEL_LEAD].username, Role.PANEL_LEAD)
ADMIN = Actor(app_support.PERSONAS[Role.ADMIN].username, Role.ADMIN)


@dataclass(frozen=True)
class Env:
    env: dict[str, str]
    url: str
    run_id: int


@pytest.fixture(scope="module")
def module_env(demo_templates: DemoTemplates,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with app_support.full_demo_copy(demo_templates, tmp_path_factory,
                                    "fairpanel-panel-admin") as copy:
        yield Env(copy.env, copy.url, copy.demo.panel.audit_run_id)


@pytest.fixture
def store(module_env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for key, value in module_env.env.items():
        monkeypatch.setenv(key, value)
    with Store(module_env.url) as opened:
        yield opened


def lead_page(run_id: int | None = None) -> AppTest:
    at = app_support.open_page(PANEL, "Reviewer panel", Role.PANEL_LEAD)
    if run_id is not None:
        at.selectbox(key="panel.run_id").set_value(run_id).run()
    assert not at.exception, at.exception
    return at


def questions(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "unavailable?" in w.value]


def test_a_new_reviewer_account_is_put_on_the_panel(store: Store) -> None:
    store.add_user(ADMIN, "new-reviewer", Role.REVIEWER, display_name="Nia New")
    at = lead_page()
    assert "Nia New (new-reviewer)" in at.selectbox(key="panel.add.username").options
    at.selectbox(key="panel.add.username").set_value("new-reviewer")
    at.text_input(key="panel.add.expertise").input("lending, law")
    at.number_input(key="panel.add.capacity").set_value(30)
    at.button(key="panel.add.submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "Nia New is on the panel" in at.success[0].value
    table = next(d.value for d in at.dataframe if "username" in d.value.columns)
    assert "new-reviewer" in table["username"].tolist()
    record = next(r for r in store.list_reviewers(LEAD) if r.username == "new-reviewer")
    assert (record.capacity, record.expertise, record.available) == (30, ("lending", "law"),
                                                                     True)
    assert at.toggle(key="panel.available.new-reviewer").value is True
    # Once on the panel, they are no longer offered.
    assert not [s for s in at.selectbox if s.key == "panel.add.username"
                and "new-reviewer" in s.options]


def test_turning_a_reviewer_off_asks_first_and_says_how_many_cases_move(
        store: Store, module_env: Env) -> None:
    at = lead_page(module_env.run_id)
    open_here = [a for a in store.assignment_table(LEAD, module_env.run_id)
                 if a["status"] == "open"]
    reviewers = {r.id: r for r in store.list_reviewers(LEAD)}
    busy = max(reviewers.values(),
               key=lambda r: sum(a["reviewer_id"] == r.id for a in open_here))
    n_open = sum(a["reviewer_id"] == busy.id for a in open_here)
    assert n_open > 0
    key = f"panel.available.{busy.username}"
    at.toggle(key=key).set_value(False).run()
    assert not at.exception, at.exception
    assert len(questions(at)) == 1
    assert f"their {n_open:,} open case(s) of audit #{module_env.run_id} move to other " \
        "reviewers" in questions(at)[0].lower()
    assert next(r for r in store.list_reviewers(LEAD) if r.id == busy.id).available
    at.button(key=f"{key}.cancel").click().run()
    assert not questions(at) and at.toggle(key=key).value is True
    assert next(r for r in store.list_reviewers(LEAD) if r.id == busy.id).available
    at.toggle(key=key).set_value(False).run()
    at.button(key=f"{key}.confirm").click().run()
    assert not at.exception, at.exception
    assert any("is unavailable" in s.value for s in at.success)
    assert not next(r for r in store.list_reviewers(LEAD) if r.id == busy.id).available
    assert at.toggle(key=key).value is False
    still = [a for a in store.assignment_table(LEAD, module_env.run_id)
             if a["status"] == "open" and a["reviewer_id"] == busy.id]
    assert still == []
    at.toggle(key=key).set_value(True).run()  # on again: no question, nothing moves
    assert next(r for r in store.list_reviewers(LEAD) if r.id == busy.id).available


def test_suppressed_composition_comes_with_guidance(store: Store) -> None:
    at = lead_page()
    table_cells = [row for d in at.dataframe if list(d.value.columns) == ["value", "reviewers"]
                   for row in d.value["reviewers"]]
    hidden = sum(cell == "fewer than 5" for cell in table_cells)
    assert hidden * 2 >= len(table_cells)  # the demo's 15-person panel
    note = next(i.value for i in at.info if "Why most counts" in i.value)
    assert f"{hidden} of the {len(table_cells)} answers" in note
    assert "What you can do" in note


def test_assigning_a_queue_shows_it_assigned_in_the_same_run(store: Store) -> None:
    unassigned = [i for i in store.queued_audit_runs()
                  if not store.assignment_table(LEAD, i)]
    if not unassigned:
        pytest.skip("the demo assigned every queue")
    run_id = unassigned[0]
    at = lead_page(run_id)
    line = next(m.value for m in at.markdown if m.value.startswith(f"**Audit `#{run_id} ·"))
    assert "not assigned to the panel yet" in line
    at.button(key="panel.assign.submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    n_open = sum(a["status"] == "open" for a in store.assignment_table(LEAD, run_id))
    assert n_open > 0
    line = next(m.value for m in at.markdown if m.value.startswith(f"**Audit `#{run_id} ·"))
    assert "not assigned" not in line and f"{n_open:,} still open" in line


def test_a_training_is_recorded_from_the_page_and_named_in_the_oversight_record(
        store: Store) -> None:
    at = lead_page()
    before = [w.value for w in at.warning if "no current training" in w.value]
    # The demo's two untrained reviewers (and any account an earlier test put on the panel).
    assert len(before) == 1 and "sim-reviewer-13, sim-reviewer-14" in before[0]
    n_before = int(before[0].split(" ")[0])
    name = "sim-reviewer-14"
    at.selectbox(key="panel.qualify.user").set_value(name)
    at.text_input(key="panel.qualify.title").set_value("Credit review course")
    at.text_input(key="panel.qualify.evidence").set_value("certificate 7")
    at.button(key="panel.qualify.submit").click().run()
    assert not at.exception, at.exception
    assert any("recorded for" in s.value for s in at.success)
    stored = store.qualifications(ADMIN)
    assert [(q.username, q.kind, q.title, q.evidence, q.recorded_by) for q in stored][-1] == (
        name, "training", "Credit review course", "certificate 7", LEAD.username)
    table = next(d.value for d in at.dataframe if "title" in d.value.columns)
    assert table["title"].tolist()[-1] == "Credit review course"
    after = [w.value for w in at.warning if "no current training" in w.value]
    assert len(after) == 1 and after[0].startswith(f"{n_before - 1} reviewer(s)")
    assert name not in after[0]
    # An empty title is refused by the store; nothing more is written.
    at.text_input(key="panel.qualify.title").set_value("")
    at.button(key="panel.qualify.submit").click().run()
    assert any("title must not be empty" in e.value for e in at.error)
    assert len(store.qualifications(ADMIN)) == len(stored)
