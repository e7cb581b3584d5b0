"""The threshold explorer of a model with per-group thresholds agrees with its own audit.

A model retrained under a demographic-parity constraint decides each sex by its own
randomised rule. One global threshold of 0.5 on its scores describes another model (the
unconstrained one): its selection rates differ from the audit's. The explorer moves the
deployed rules by an offset instead; at offset 0 every group's metrics must equal the
audit's, read from the stored audit run. The same holds on the Fairness audit page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import app_support
import numpy as np
import pandas as pd
import pytest
from demo_support import DemoTemplates

from app import fairness_tables
from audits.fairness.stored import decisions_for
from audits.fairness.thresholds import (
    group_threshold_curves,
    shift_rules,
    threshold_curves,
)
from audits.models.group_thresholds import apply_thresholds
from audits.retrain.stored import retrain_from_panel
from audits.roles import Role
from audits.store import Store

N_BOOT = 100


@dataclass(frozen=True)
class Constrained:
    url: str
    env: dict[str, str]
    frame: pd.DataFrame
    results: dict[str, Any]
    params: dict[str, Any]
    run_id: int


@pytest.fixture(scope="module")
def constrained(demo_templates: DemoTemplates,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Constrained]:
    """A demographic-parity retrain of the german_credit demo model and its audit."""
    with app_support.full_demo_copy(demo_templates, tmp_path_factory,
                                    "fairpanel-group-thresholds") as copy:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in copy.env.items():
                mp.setenv(key, value)
            with Store(copy.url) as store:
                done = retrain_from_panel(store, app_support.DATA_SCIENTIST,
                                          copy.demo.queues.queue.audit_run.id,
                                          constraint="demographic_parity", n_boot=N_BOOT)
                dataset = store.get_dataset(done.candidate.dataset_id)
                assert dataset is not None
                run = done.after_run
                decisions = decisions_for(store, app_support.DATA_SCIENTIST, dataset,
                                          done.candidate,
                                          exclude_rows=run.config.get("exclude_rows", ()))
        yield Constrained(copy.url, copy.env, decisions.frame, run.results,
                          done.candidate.params, run.id)


def _audited(results: dict[str, Any], metric: str) -> dict[str, float]:
    features = list(results["config"]["sensitive_features"])
    return {fairness_tables.group_name(g["attributes"], features): g["metrics"][metric]["value"]
            for g in results["groups"]}


def _explored(c: Constrained, offsets: tuple[float, ...] = (0.0,)) -> pd.DataFrame:
    config = c.results["config"]
    return group_threshold_curves(
        c.frame, y_true=config["y_true"], y_score="y_score",
        sensitive_features=config["sensitive_features"], rules=c.params["thresholds"],
        rule_feature=c.params["sensitive_feature"],
        random_state=int(c.params.get("random_state", 0)), offsets=offsets,
        intersections=bool(config.get("intersections", True)))


def test_at_the_deployed_setting_the_explorer_equals_the_audit(constrained: Constrained) -> None:
    curves = _explored(constrained, (-0.1, 0.0, 0.1))
    named = fairness_tables.threshold_records(
        {**constrained.results, "threshold_curves": curves.drop(columns="offset").to_dict(
            "list")})
    for metric in ("selection_rate", "true_positive_rate", "false_positive_rate"):
        audited = _audited(constrained.results, metric)
        at_zero = named[(named["threshold"] == 0.0) & (named["metric"] == metric)]
        explored = dict(zip(at_zero["name"], at_zero["value"], strict=True))
        assert set(explored) == set(audited)
        for name, value in audited.items():
            if value is None:
                assert np.isnan(explored[name])
            else:
                assert explored[name] == pytest.approx(value, abs=1e-12), (metric, name)


def test_a_global_threshold_describes_another_model(constrained: Constrained) -> None:
    # The reported contradiction: at 0.5, one global threshold gives other rates.
    config = constrained.results["config"]
    from audits.fairness.counts import count_groups

    counts = count_groups(constrained.frame, y_true=config["y_true"], y_pred="y_pred",
                          sensitive_features=config["sensitive_features"], y_score="y_score",
                          intersections=bool(config.get("intersections", True)))
    glob = threshold_curves(counts, thresholds=[0.5], metrics=["selection_rate"])
    feature = constrained.params["sensitive_feature"]
    audited = _audited(constrained.results, "selection_rate")
    sexes = glob[glob["slice"] == feature]
    gaps = [abs(v - audited[f"{feature}={label.split('=')[-1]}"])
            for label, v in zip(sexes["group_label"], sexes["value"], strict=True)]
    assert max(gaps) > 0.01


def test_offsets_move_each_rule_and_reuse_the_draws(constrained: Constrained) -> None:
    c = constrained
    feature, rules = c.params["sensitive_feature"], c.params["thresholds"]
    seed = int(c.params.get("random_state", 0))
    curves = _explored(c, (0.0, 0.05))
    rates = curves[(curves["metric"] == "selection_rate") & (curves["slice"] == feature)]
    for offset in (0.0, 0.05):
        decided = apply_thresholds(c.frame["y_score"], c.frame[feature],
                                   shift_rules(rules, offset), random_state=seed)
        expected = pd.Series(decided, index=c.frame.index).groupby(
            c.frame[feature].astype(str)).mean()
        got = rates[rates["offset"] == offset]
        for label, value in zip(got["group_label"], got["value"], strict=True):
            assert value == pytest.approx(expected[label.split("=")[-1]])
    with pytest.raises(ValueError, match="offsets must include 0"):
        _explored(c, (0.1,))


def test_the_fairness_page_shows_the_rules_and_the_audit_at_offset_zero(
        constrained: Constrained, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in constrained.env.items():
        monkeypatch.setenv(key, value)
    at = app_support.open_page("app_pages/fairness.py", "Fairness audit", Role.DATA_SCIENTIST)
    at.selectbox(key="fairness.run_id").set_value(constrained.run_id).run()
    assert not at.exception, at.exception
    rules = next(d.value for d in at.dataframe if "rule" in d.value.columns)
    feature = constrained.params["sensitive_feature"]
    assert set(rules["group"]) == {f"{feature}={g}" for g in constrained.params["thresholds"]}
    assert at.slider(key=f"fairness.offset.{constrained.run_id}").value == 0.0
    table = next(d.value for d in at.dataframe
                 if "Selection rate" in d.value.columns and "group" in d.value.columns)
    audited = _audited(constrained.results, "selection_rate")
    for name, value in zip(table["group"], table["Selection rate"], strict=True):
        assert value == pytest.approx(audited[name])
    headers = " ".join(h.value for h in (*at.subheader, *at.header))
    assert "single global threshold" in headers
