"""Fairness audit runs from stored provenance: computed once, stored, permission-checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audits.demo.default import ensure_demo
from audits.fairness.stored import decisions_for, run_fairness_audit
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as opened:
        yield opened


def test_audit_is_computed_once_per_configuration(store: Store) -> None:
    state = ensure_demo(store, dataset="german_credit")
    assert state.model is not None
    calls: list[str] = []
    first = run_fairness_audit(store, SCIENTIST, state.dataset, state.model, n_boot=50,
                               progress=lambda f, m: calls.append(m))
    assert first.status == "completed" and first.results is not None
    assert first.config["config_sha256"] and first.config["n_boot"] == 50
    log_size = len(store.log_entries())
    again = run_fairness_audit(store, SCIENTIST, state.dataset, state.model, n_boot=50)
    assert again.id == first.id
    assert len(store.log_entries()) == log_size  # nothing recomputed or written
    other = run_fairness_audit(store, SCIENTIST, state.dataset, state.model, n_boot=60)
    assert other.id != first.id
    held_out = state.model.split["n_test"]
    assert first.results["rows"] == held_out
    assert "threshold_curves" in first.results
    assert any("Bootstrap" in m or "bootstrap" in m for m in calls)


def test_decisions_match_the_demo_held_out_split(store: Store) -> None:
    state = ensure_demo(store, dataset="german_credit")
    decisions = decisions_for(store, SCIENTIST, state.dataset, state.model)
    assert len(decisions.frame) == state.model.split["n_test"]
    assert decisions.frame["y_pred"].mean() == pytest.approx(
        state.model.metrics["positive_rate"], abs=1e-12)


def test_logged_decisions_need_no_model(store: Store) -> None:
    state = ensure_demo(store, dataset="compas")
    assert state.model is None
    run = run_fairness_audit(store, SCIENTIST, state.dataset, None,
                             sensitive_features=["race"], n_boot=20)
    assert run.results["rows"] == 6172


def test_only_data_scientists_and_admins_run_audits(store: Store) -> None:
    state = ensure_demo(store, dataset="german_credit")
    before = len(store.list_audit_runs())
    with pytest.raises(PermissionDenied, match="may not run an audit"):
        run_fairness_audit(store, Actor("casey", Role.COMPLIANCE_OFFICER), state.dataset,
                           state.model, n_boot=20)
    assert len(store.list_audit_runs()) == before


def test_bad_sensitive_feature_and_tampered_model(store: Store) -> None:
    state = ensure_demo(store, dataset="german_credit")
    assert state.model is not None
    with pytest.raises(ValueError, match="sensitive feature 'income'"):
        run_fairness_audit(store, SCIENTIST, state.dataset, state.model,
                           sensitive_features=["income"])
    Path(state.model.path).write_bytes(Path(state.model.path).read_bytes() + b"\0")
    with pytest.raises(ValueError, match="does not match the registered sha256"):
        decisions_for(store, SCIENTIST, state.dataset, state.model)
