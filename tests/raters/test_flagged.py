"""Flagged reviewers of a stored audit: the Reviewer bias page's severity test, alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from demo_support import DemoTemplates

from audits.raters.flagged import flagged_reviewers
from audits.raters.human_bias import reviewer_severity
from audits.raters.stored import analyse_panel
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store

LEAD = Actor("demo-panel-lead", Role.PANEL_LEAD)
COMPLIANCE = Actor("demo-compliance", Role.COMPLIANCE_OFFICER)


@pytest.fixture
def store(demo_templates: DemoTemplates, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    copy = demo_templates.copy(tmp_path / "home")
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    with Store(copy.url) as opened:
        yield opened


def _rated_run(store: Store) -> int:
    return next(i for i in store.queued_audit_runs()
                if store.panel_progress(LEAD, i)["assignments_rated"] > 0)


def test_flagged_are_the_severity_tests_flags_named(store: Store) -> None:
    run_id = _rated_run(store)
    found = flagged_reviewers(store, LEAD, run_id)
    ratings = pd.DataFrame(store.ratings_for_analysis(LEAD, run_id))
    severity = reviewer_severity(ratings[["case_id", "reviewer_id", "label"]])
    expected = severity[severity["flagged"]]
    assert found.n_reviewers == ratings["reviewer_id"].nunique()
    assert found.n_flagged == len(expected) > 0  # the demo panel has a harsh reviewer
    names = {r.id: r.display_name for r in store.list_reviewers(LEAD)}
    assert found.flagged is not None
    assert set(found.flagged["reviewer"]) == {names[i] for i in expected["reviewer_id"]}
    by_name = found.flagged.set_index("reviewer")
    for row in expected.itertuples():
        assert by_name.loc[names[row.reviewer_id], "severity"] == pytest.approx(row.severity)
        assert by_name.loc[names[row.reviewer_id], "p_adjusted"] == pytest.approx(
            row.p_adjusted)
    sizes = found.flagged["severity"].abs().tolist()
    assert sizes == sorted(sizes, reverse=True)


def test_the_count_agrees_with_the_reviewer_bias_page(store: Store) -> None:
    run_id = _rated_run(store)
    analysis = analyse_panel(store, LEAD, run_id, n_boot=50, n_permutations=50)
    assert flagged_reviewers(store, LEAD, run_id).n_flagged == analysis.n_flagged_reviewers


def test_names_only_for_those_who_read_every_rating(store: Store) -> None:
    run_id = _rated_run(store)
    aggregate = flagged_reviewers(store, COMPLIANCE, run_id)
    assert aggregate.flagged is None
    assert aggregate.n_flagged == flagged_reviewers(store, LEAD, run_id).n_flagged
    with pytest.raises(PermissionDenied):
        flagged_reviewers(store, Actor("demo-reviewer", Role.REVIEWER), run_id)


def test_a_queue_without_ratings_flags_nobody(store: Store) -> None:
    empty = next(i for i in store.queued_audit_runs()
                 if store.panel_progress(LEAD, i)["assignments_rated"] == 0)
    found = flagged_reviewers(store, LEAD, empty)
    assert (found.n_reviewers, found.n_flagged) == (0, 0)
    assert found.flagged is not None and found.flagged.empty
