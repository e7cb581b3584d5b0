"""Data cards: every number recomputed independently with pandas."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from audits.data.schema import DataValidationError
from audits.systems.card import MISSING_CATEGORY, card_data, card_markdown
from audits.systems.mapping import ColumnMapping

N = 5000
MAPPING = ColumnMapping(id="id", target="repaid", sensitive=("sex", "region"),
                        prediction="approved", score="score")


def _frame(seed: int = 3) -> pd.DataFrame:
    """Decisions whose missing values fall unevenly on the groups."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m", "x"], N, p=[0.49, 0.5, 0.01])
    region = rng.choice(["north", "south", "east|west"], N, p=[0.5, 0.3, 0.2])
    income = rng.normal(50, 10, N)
    income[rng.random(N) < np.where(sex == "f", 0.2, 0.05)] = np.nan
    employer = rng.choice(["acme", "globex", "initech"], N).astype(object)
    employer[rng.random(N) < np.where(region == "south", 0.3, 0.01)] = None
    return pd.DataFrame({
        "id": np.arange(N) + 1000, "sex": sex, "region": region, "income": income,
        "employer": employer, "approved": (rng.random(N) < 0.6).astype("int8"),
        "score": rng.random(N), "repaid": (rng.random(N) < np.where(sex == "m", 0.7, 0.6))
        .astype("int8"),
    })


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _check_against_pandas(card: dict, df: pd.DataFrame, target_positive: pd.Series,
                          small: int) -> None:
    assert card["n_rows"] == len(df)
    known = df["repaid"].notna()
    assert card["target"]["n_known"] == int(known.sum())
    assert card["target"]["positive_rate"] == pytest.approx(target_positive[known].mean())
    for feature in card["sensitive"]:
        f = feature["feature"]
        groups = df[f].fillna(MISSING_CATEGORY)
        counts = groups.value_counts()
        assert {c["value"]: c["count"] for c in feature["categories"]} == counts.to_dict()
        assert [c["count"] for c in feature["categories"]] == sorted(counts, reverse=True)
        rates = target_positive[known].groupby(groups[known]).mean()
        for cat in feature["categories"]:
            assert cat["share"] == pytest.approx(counts[cat["value"]] / len(df))
            assert cat["small"] == (counts[cat["value"]] < small)
            assert cat["positive_rate"] == pytest.approx(rates[cat["value"]])
    missing_columns = [c for c in df.columns if df[c].isna().any() and c not in MAPPING.sensitive]
    expected = {(f, str(v), c): (int(g[c].isna().sum()), len(g))
                for f in MAPPING.sensitive for v, g in df.groupby(df[f].fillna(MISSING_CATEGORY))
                for c in missing_columns}
    got = {(r["feature"], r["value"], r["column"]): (r["n_missing"], r["n"])
           for r in card["missing_by_group"]}
    assert got == expected
    for r in card["missing_by_group"]:
        assert r["missing_rate"] == pytest.approx(r["n_missing"] / r["n"])


def test_card_numbers_match_pandas() -> None:
    df = _frame()
    card = card_data(_table(df), MAPPING, small_group=100)
    _check_against_pandas(card, df, df["repaid"].astype(float), small=100)
    by_name = {c["name"]: c for c in card["columns"]}
    assert list(by_name) == list(df.columns)
    for name, column in by_name.items():
        assert column["n_missing"] == int(df[name].isna().sum())
        assert column["missing_rate"] == pytest.approx(df[name].isna().mean())
    assert {n: c["role"] for n, c in by_name.items()} == {
        "id": "id", "sex": "sensitive feature", "region": "sensitive feature",
        "income": "feature", "employer": "feature", "approved": "prediction",
        "score": "score", "repaid": "target"}
    assert by_name["income"]["type"] == "double"
    # "x" holds about 1% of 5,000 rows: small at 100, not at 10.
    x = next(c for c in card["sensitive"][0]["categories"] if c["value"] == "x")
    assert x["small"] and not next(
        c for c in card_data(_table(df), MAPPING, small_group=10)["sensitive"][0]["categories"]
        if c["value"] == "x")["small"]


def test_card_is_json_safe() -> None:
    card = card_data(_table(_frame()), MAPPING)
    assert json.loads(json.dumps(card, allow_nan=False)) == card


def test_labelled_target_dictionary_columns_and_unused_columns() -> None:
    df = _frame()
    df["repaid"] = np.where(df["repaid"] == 1, "good", "bad")
    df.loc[[3, 7], "repaid"] = None
    df["sex"] = df["sex"].astype("category")
    mapping = ColumnMapping(id="id", target="repaid", sensitive=("sex", "region"),
                            prediction="approved", features=("income",),
                            positive_label="good")
    card = card_data(_table(df), mapping)
    positive = (df["repaid"] == "good").astype(float)
    _check_against_pandas(card, df, positive, small=30)
    roles = {c["name"]: c["role"] for c in card["columns"]}
    assert roles["employer"] == roles["score"] == "not used" and roles["income"] == "feature"
    assert card["target"]["n_positive"] == int(positive.sum())
    assert card["target"]["positive_label"] == "good"


def test_sensitive_data_kept_apart_are_joined_on_the_id() -> None:
    df = _frame()
    rng = np.random.default_rng(11)
    kept = df.loc[rng.random(N) < 0.97, ["id", "sex", "region"]].sample(frac=1, random_state=1)
    extra = pd.DataFrame({"id": [-1, -2], "sex": ["f", "m"], "region": ["north", "north"]})
    sensitive = pd.concat([kept, extra], ignore_index=True)
    data = df.drop(columns=["sex", "region"])
    card = card_data(_table(data), MAPPING, sensitive=_table(sensitive))
    joined = data.merge(sensitive, on="id", how="left")
    _check_against_pandas(card, joined, joined["repaid"].astype(float), small=30)
    unmatched = next(c for c in card["sensitive"][0]["categories"]
                     if c["value"] == MISSING_CATEGORY)
    assert unmatched["count"] == len(df) - len(kept)
    apart = [c for c in card["columns"] if c["location"] == "sensitive"]
    assert [c["name"] for c in apart] == ["sex", "region"]
    assert [c["name"] for c in card["columns"]].count("id") == 1


def test_sensitive_ids_of_another_type_still_join() -> None:
    df = _frame().head(50)
    sensitive = df[["id", "sex", "region"]].astype({"id": str})
    card = card_data(_table(df.drop(columns=["sex", "region"])), MAPPING,
                     sensitive=_table(sensitive))
    assert sum(c["count"] for c in card["sensitive"][0]["categories"]) == 50
    assert all(c["value"] != MISSING_CATEGORY for c in card["sensitive"][0]["categories"])


def test_bad_arguments_are_named() -> None:
    table = _table(_frame().head(20))
    with pytest.raises(ValueError, match="small_group must be a positive integer, not 0"):
        card_data(table, MAPPING, small_group=0)
    with pytest.raises(DataValidationError, match="'sexe' .sensitive feature. is not in"):
        card_data(table, ColumnMapping(id="id", target="repaid", sensitive=("sexe",),
                                       prediction="approved"))
    sensitive = pa.table({"key": [1], "sex": ["f"], "region": ["north"]})
    with pytest.raises(ValueError, match="no id column 'id' to join on; columns: key, sex"):
        card_data(table.drop_columns(["sex", "region"]), MAPPING, sensitive=sensitive)


def test_markdown_card_reads_well() -> None:
    df = _frame()
    card = card_data(_table(df), MAPPING, small_group=100)
    text = card_markdown("credit", "Loan approvals, 2025.", "Audit only.", True, card)
    lines = text.splitlines()
    assert lines[0] == "# credit" and "Loan approvals, 2025." in lines
    assert f"- Rows: {N:,}" in lines
    rate = df["repaid"].mean()
    assert f"positive (1) in {100 * rate:.1f}% of {N:,} rows" in text
    assert "favourable (e.g. an approval)" in text
    n_income = int(df["income"].isna().sum())
    assert (f"| income | double | feature | {n_income:,} "
            f"({100 * n_income / N:.1f}%) |") in lines
    x_rows = int((df["sex"] == "x").sum())
    assert any(line.startswith(f"| x | {x_rows:,} |") and line.endswith("| **small** |")
               for line in lines)
    assert "| east\\|west |" in text  # a pipe in a value does not break the table
    f_income = df.loc[df["sex"] == "f", "income"]
    assert (f"| income | sex | f | {int(f_income.isna().sum()):,} of {len(f_income):,} "
            f"({100 * f_income.isna().mean():.1f}%) |") in lines
    adverse = card_markdown("risk", "", "", False, card)
    assert "adverse" in adverse and "_No description given._" in adverse


def test_markdown_without_missing_values_says_so() -> None:
    df = _frame().drop(columns=["income", "employer"])
    text = card_markdown("c", "d", "u", True, card_data(_table(df), MAPPING))
    assert "No column has missing values." in text
    assert not math.isnan(card_data(_table(df), MAPPING)["target"]["positive_rate"])
