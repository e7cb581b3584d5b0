"""A stored run's configuration as readable settings, and the difference of two runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audits.fairness.run_config import (
    ABSENT,
    DIFF_COLUMNS,
    MSG_NOT_MAPPING,
    diff_settings,
    run_settings,
)

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = {"kind": "fairness", "dataset_sha256": "a" * 64, "model_sha256": None,
          "sensitive_features": ["sex", "age_band"], "intersections": False,
          "reference": {"sex": "male"}, "rule": "ratio within [0.8, 1.25]", "tau": 0.8,
          "favourable": True, "n_boot": 1000, "random_state": 0, "min_n": 30,
          "config_sha256": "c" * 64, "decisions": "logged column approved",
          "library_versions": {"numpy": "2.1.0", "pandas": "2.2.3"}}


def settings(config: dict[str, object] = CONFIG, **changes: object) -> dict[str, str]:
    args = {"dataset": "credit v1", "model": "logged decisions", "created_by": "dana",
            "created_at": WHEN, **changes}
    return run_settings(config, **args)  # type: ignore[arg-type]


def test_settings_read_as_words_in_a_fixed_order() -> None:
    got = settings(metrics=["selection_rate", "tpr"])
    assert list(got)[:2] == ["Data (system, version)", "Model"]
    assert list(got)[-2:] == ["Run by", "When"]
    assert got["Groups (sensitive features)"] == "sex, age_band"
    assert got["Reference group"] == "sex = male"
    assert got["Threshold (parity rule)"] == "ratio within [0.8, 1.25]"
    assert got["Intersectional groups"] == "no" and got["Seed"] == "0"
    assert got["Model sha256"] == ABSENT
    assert got["Library versions"] == "numpy = 2.1.0, pandas = 2.2.3"
    assert got["Metrics"] == "selection_rate, tpr"
    assert got["When"] == "2026-03-01 12:00:00 UTC"
    assert "tau" not in got and all(not k.startswith("{") for k in got)


def test_an_unknown_key_is_kept_under_a_readable_label() -> None:
    got = settings({"kind": "explanations", "background_rows": 200, "exclude_rows": [3, 9]})
    assert got["Background rows"] == "200" and got["Rows excluded"] == "2 rows"
    assert settings({"reference": None})["Reference group"] == "largest group"


def test_diff_marks_exactly_the_settings_that_differ() -> None:
    other = dict(CONFIG, random_state=7, n_boot=2000)
    table = diff_settings(settings(), settings(other, created_by="ada"))
    assert list(table.columns) == DIFF_COLUMNS
    differs = table[table["differs"]]
    assert differs["setting"].tolist() == ["Bootstrap resamples", "Seed", "Run by"]
    assert differs.set_index("setting").loc["Seed", ["first", "second"]].tolist() == ["0", "7"]
    assert len(table) == len(settings())


def test_identical_runs_differ_nowhere_and_order_is_first_then_second_only() -> None:
    assert not diff_settings(settings(), settings())["differs"].any()
    table = diff_settings({"A": "1"}, {"B": "2", "A": "1"})
    assert table.values.tolist() == [["A", "1", "1", False], ["B", ABSENT, "2", True]]


def test_diff_is_symmetric_in_what_differs() -> None:
    a, b = settings(), settings(dict(CONFIG, min_n=50))
    one, two = diff_settings(a, b), diff_settings(b, a)
    assert set(one.loc[one["differs"], "setting"]) == set(two.loc[two["differs"], "setting"])


@pytest.mark.parametrize("bad", [None, [("Seed", "1")], "Seed"])
def test_bad_inputs_are_named(bad: object) -> None:
    with pytest.raises(TypeError) as refused:
        diff_settings(bad, {})  # type: ignore[arg-type]
    assert str(refused.value) == MSG_NOT_MAPPING.format(name="first", type=type(bad).__name__)
    with pytest.raises(TypeError, match="config must be a mapping"):
        run_settings(bad, dataset="d", model="m", created_by="x",  # type: ignore[arg-type]
                     created_at=WHEN)
