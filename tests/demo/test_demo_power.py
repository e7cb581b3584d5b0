"""The demo panel's injected biases and how often the panel analysis finds them.

The fast tests check what :func:`audits.demo.panel.simulated_panel` injects and the power
statement the reviewer-bias page shows; the slow one is the acceptance test of issue 17:
it runs the power study of the documentation (``python -m audits.demo.power --seeds 10``)
on all 10 seeds of the default Adult demo and requires the severity flags to name the
injected reviewer and nobody else in every panel, automation bias found in every panel,
and the figures the page states to be the ones measured: the draws are seeded, so a
change that weakens a bias or flags an innocent shows here.
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
from audits.demo.power import MEASURED, demo_power, power_statement

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


def test_the_power_statement_states_the_measured_group_effect_power() -> None:
    text = power_statement()
    assert f"found in {MEASURED['group']} of {MEASURED['seeds']}" in text
    assert "log-odds" in text and "python -m audits.demo.power" in text
    assert f"{MEASURED['others']} other reviewer" in text


@pytest.mark.slow
def test_only_the_severe_reviewer_is_flagged_in_ten_seeded_panels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Issue 17's demo acceptance: the severity flags name the injected reviewer and
    # nobody else in every one of the 10 seeded panels, and the page's power statement
    # is what this run measures (the draws are seeded: about 1.5 minutes on one core).
    power = demo_power(list(range(MEASURED["seeds"])), dataset="adult", workdir=tmp_path)
    assert all(f.severe_flagged and f.other_flagged == 0 for f in power.findings), \
        power.summary()
    rates = power.rates()
    assert set(rates) == {"severe reviewer", "reviewer group x subject group",
                          "automation bias"}
    assert rates["automation bias"] == 1.0, power.summary()
    n = MEASURED["seeds"]
    found = {"group": round(rates["reviewer group x subject group"] * n),
             "severe": round(rates["severe reviewer"] * n),
             "others": sum(f.other_flagged for f in power.findings)}
    assert {"seeds": n, **found} == MEASURED, power.summary()
    # Where the group effect is found, it is the injected direction (harsher on women).
    assert all(f.drf_effect < 0 for f in power.findings if f.drf_flagged)
