"""The demo panel's injected biases and how often the panel analysis finds them.

The fast tests check what :func:`audits.demo.panel.simulated_panel` injects; the slow one
runs the power study of the documentation (``python -m audits.demo.power --seeds 10``,
which found each bias in 10 of 10 panels) on its first 5 seeds of the default Adult demo
(a few minutes) and requires each bias found in every one: the draws are seeded, so a
change that weakens a bias shows here.
"""

from __future__ import annotations

import pytest

from audits.demo.panel import (
    FAVOUR,
    HARSH_GROUP,
    LENIENCY,
    N_SIMULATED,
    OTHER_GROUP,
    SEVERE_REVIEWER,
    SEVERITY,
    simulated_panel,
)
from audits.demo.power import demo_power

SCHEMA = {"gender": ["man", "woman"], "age_band": ["18-29", "30-49", "50+"]}
ADULT = ["sex=Female & race=White", "sex=Male & race=Black", "sex=Female & race=Other"]
CREDIT = ["sex=female & age_group=under 25", "sex=male & age_group=25+"]


@pytest.mark.parametrize("seed", [0, 7])
def test_the_harsh_group_favours_men_and_the_severe_reviewer_is_apart(seed: int) -> None:
    plan = simulated_panel(SCHEMA, ADULT + CREDIT, random_state=seed)
    assert len(plan) == N_SIMULATED
    by_group: dict[str, list[str]] = {}
    for username, background, sim in plan:
        by_group.setdefault(background[HARSH_GROUP[0]], []).append(username)
        harsh = background[HARSH_GROUP[0]] == HARSH_GROUP[1]
        expected = {g: LENIENCY if "sex=female" in g.lower() else FAVOUR
                    for g in ADULT + CREDIT} if harsh else {}
        assert dict(sim.leniency) == expected  # the label's case does not matter
        assert sim.severity == (SEVERITY if username == SEVERE_REVIEWER else 0.0)
    assert len(by_group[HARSH_GROUP[1]]) == len(by_group[OTHER_GROUP[1]]) == N_SIMULATED // 2
    assert SEVERE_REVIEWER in by_group[OTHER_GROUP[1]]
    assert LENIENCY < 0 < FAVOUR


@pytest.mark.parametrize("seeds", [[], [1.5], [True]])
def test_the_power_study_needs_integer_seeds(seeds: list[object]) -> None:
    with pytest.raises(ValueError, match="seeds must be a non-empty list of integers"):
        demo_power(seeds)  # type: ignore[arg-type]


@pytest.mark.slow
def test_each_injected_bias_is_found_in_every_seeded_adult_panel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    power = demo_power(list(range(5)), dataset="adult", workdir=tmp_path)
    rates = power.rates()
    assert set(rates) == {"severe reviewer", "reviewer group x subject group",
                          "automation bias"}
    assert all(rate == 1.0 for rate in rates.values()), power.summary()
    assert power.summary().count("found in") == 3
    assert all(f.drf_effect < 0 for f in power.findings)
