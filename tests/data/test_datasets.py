"""Bundled datasets, cards, user files and what each kind of bad input gets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits.data import schema
from audits.data.datasets import (
    BUNDLED,
    MSG_BAD_SUFFIX,
    MSG_EMPTY_FILE,
    MSG_NO_FILE,
    MSG_POSITIVE_LABEL,
    MSG_UNKNOWN_DATASET,
    datasets_dir,
    frame_sha256,
    list_datasets,
    load_dataset,
    load_file,
    read_card,
)
from audits.data.schema import ColumnRoles, DataValidationError, validate_frame


def _prefix(template: str) -> str:
    """The literal start of a message template, before its first placeholder."""
    return re.escape(template.split("{")[0])


EXPECTED_ROWS = {"adult": 48842, "compas": 6172, "german_credit": 1000, "synthetic": 20000}


def test_registry_lists_the_four_datasets_with_rows() -> None:
    assert {d.name: d.n_rows for d in list_datasets()} == EXPECTED_ROWS


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_each_bundled_dataset_loads_validated_with_its_roles(name: str) -> None:
    loaded = load_dataset(name)
    frame, roles = loaded.frame, loaded.roles
    assert len(frame) == EXPECTED_ROWS[name] == BUNDLED[name].n_rows
    assert set(frame[roles.target].unique()) == {0, 1}
    for col in roles.sensitive_features:
        assert frame[col].notna().all()
        assert frame[col].nunique() >= 2
    assert not set(roles.sensitive_features) & set(roles.features)
    assert loaded.sha256 == frame_sha256(frame)


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_each_dataset_has_a_complete_card(name: str) -> None:
    card = read_card(name)
    for field in ("source", "licence", "citation", "rows", "columns", "target",
                  "sensitive features", "Known issues"):
        assert field in card, f"{name} card lacks {field!r}"
    assert f"{EXPECTED_ROWS[name]:,}" in card
    for original, digest in BUNDLED[name].source_sha256.items():
        assert original in card and digest in card


def test_adult_is_the_full_uci_data_both_files() -> None:
    frame = load_dataset("adult").frame
    assert frame["original_split"].value_counts().to_dict() == {"train": 32561, "test": 16281}
    # Published class balance: 11,687 of 48,842 earn >50K.
    assert int(frame["income_over_50k"].sum()) == 11687


def test_compas_keeps_the_deployed_systems_score_and_propublicas_filter() -> None:
    loaded = load_dataset("compas")
    assert loaded.roles.prediction == "high_risk" and loaded.roles.score == "decile_score"
    frame = loaded.frame
    assert frame["decile_score"].between(1, 10).all()
    # ProPublica's notebook: 6,172 rows, 3,175 African-American, 2,103 Caucasian.
    counts = frame["race"].value_counts()
    assert counts["African-American"] == 3175 and counts["Caucasian"] == 2103
    raw = pd.read_parquet(datasets_dir() / "compas.parquet")
    assert len(raw) == 7214
    assert not {"name", "first", "last", "dob"} & set(raw.columns)


def test_german_credit_matches_the_uci_description() -> None:
    frame = load_dataset("german_credit").frame
    assert int(frame["credit_good"].sum()) == 700
    assert frame["sex"].value_counts().to_dict() == {"male": 690, "female": 310}


def test_bundled_files_are_stored_compressed() -> None:
    for info in BUNDLED.values():
        if info.file:
            path = datasets_dir() / info.file
            assert path.read_bytes()[:4] == b"PAR1"
            assert path.stat().st_size < 1_000_000


def test_unknown_dataset_is_named() -> None:
    with pytest.raises(ValueError, match=_prefix(MSG_UNKNOWN_DATASET)) as err:
        load_dataset("iris")
    assert "'iris'" in str(err.value) and "adult" in str(err.value)


def test_frame_hash_changes_with_any_value() -> None:
    frame = load_dataset("german_credit").frame
    changed = frame.copy()
    changed.loc[17, "duration"] = changed.loc[17, "duration"] + 1
    assert frame_sha256(frame) != frame_sha256(changed)
    assert frame_sha256(frame) == frame_sha256(frame.copy())


# --- user files --------------------------------------------------------------------------

@pytest.fixture
def decisions() -> pd.DataFrame:
    return pd.DataFrame({
        "outcome": [1, 0, 1, 0, 1, 0],
        "decision": [1, 0, 0, 0, 1, 1],
        "score": [0.9, 0.2, 0.4, 0.1, 0.8, 0.6],
        "sex": ["f", "m", "f", "m", "f", "m"],
        "income": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    })


def _roles_kwargs() -> dict[str, object]:
    return {"target": "outcome", "sensitive_features": ["sex"], "prediction": "decision",
            "score": "score"}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_user_file_round_trip(tmp_path: Path, decisions: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"d{suffix}"
    if suffix == ".parquet":
        decisions.to_parquet(path)
    else:
        decisions.to_csv(path, index=False)
    loaded = load_file(path, **_roles_kwargs())  # type: ignore[arg-type]
    assert loaded.roles.features == ("income",)
    assert loaded.frame["outcome"].tolist() == [1, 0, 1, 0, 1, 0]
    assert loaded.frame["sex"].dtype == "category"


def test_missing_column_is_named(tmp_path: Path, decisions: pd.DataFrame) -> None:
    path = tmp_path / "d.csv"
    decisions.drop(columns=["sex"]).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"column 'sex' \(sensitive feature\) is not"):
        load_file(path, **_roles_kwargs())  # type: ignore[arg-type]


def test_non_binary_target_is_refused(tmp_path: Path, decisions: pd.DataFrame) -> None:
    path = tmp_path / "d.csv"
    decisions.assign(outcome=[0, 1, 2, 0, 1, 2]).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"'outcome' \(target\) must be binary.*3"):
        load_file(path, **_roles_kwargs())  # type: ignore[arg-type]


def test_two_string_labels_need_a_positive_label(tmp_path: Path,
                                                  decisions: pd.DataFrame) -> None:
    path = tmp_path / "d.csv"
    labelled = decisions.assign(outcome=np.where(decisions["outcome"] == 1, "good", "bad"))
    labelled.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match="encode the positive class as 1"):
        load_file(path, **_roles_kwargs())  # type: ignore[arg-type]
    loaded = load_file(path, positive_label="good", **_roles_kwargs())  # type: ignore[arg-type]
    assert loaded.frame["outcome"].tolist() == decisions["outcome"].tolist()
    with pytest.raises(DataValidationError, match=_prefix(MSG_POSITIVE_LABEL)):
        load_file(path, positive_label="yes", **_roles_kwargs())  # type: ignore[arg-type]


def test_empty_files_are_refused(tmp_path: Path, decisions: pd.DataFrame) -> None:
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(DataValidationError, match=_prefix(MSG_EMPTY_FILE)):
        load_file(blank, **_roles_kwargs())  # type: ignore[arg-type]
    header_only = tmp_path / "header.csv"
    decisions.iloc[:0].to_csv(header_only, index=False)
    with pytest.raises(DataValidationError, match=_prefix(MSG_EMPTY_FILE)):
        load_file(header_only, **_roles_kwargs())  # type: ignore[arg-type]


def test_wrong_type_in_score_names_the_row(tmp_path: Path, decisions: pd.DataFrame) -> None:
    path = tmp_path / "d.csv"
    decisions.assign(score=["0.9", "0.2", "high", "0.1", "0.8", "0.6"]).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"'score' \(score\) must be numeric; row 2"):
        load_file(path, **_roles_kwargs())  # type: ignore[arg-type]


def test_nan_in_sensitive_column_is_refused_with_row(tmp_path: Path,
                                                     decisions: pd.DataFrame) -> None:
    path = tmp_path / "d.csv"
    decisions.assign(sex=["f", "m", None, "m", "f", None]).to_csv(path, index=False)
    with pytest.raises(DataValidationError,
                       match=r"sensitive feature 'sex' has 2 missing value\(s\), first at row 2"):
        load_file(path, **_roles_kwargs())  # type: ignore[arg-type]


def test_missing_target_value_is_refused(tmp_path: Path, decisions: pd.DataFrame) -> None:
    path = tmp_path / "d.csv"
    decisions.assign(outcome=[1, 0, None, 0, 1, 0]).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"'outcome' \(target\) has 1 missing"):
        load_file(path, **_roles_kwargs())  # type: ignore[arg-type]


def test_bad_paths_and_formats(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=_prefix(MSG_NO_FILE)):
        load_file(tmp_path / "nope.csv", **_roles_kwargs())  # type: ignore[arg-type]
    xlsx = tmp_path / "d.xlsx"
    xlsx.write_bytes(b"not a table")
    with pytest.raises(DataValidationError, match=_prefix(MSG_BAD_SUFFIX)):
        load_file(xlsx, **_roles_kwargs())  # type: ignore[arg-type]
    corrupt = tmp_path / "d.parquet"
    corrupt.write_bytes(b"garbage that is not parquet")
    with pytest.raises(DataValidationError, match="could not be read as Parquet"):
        load_file(corrupt, **_roles_kwargs())  # type: ignore[arg-type]


def test_roles_refuse_overlaps_and_no_sensitive_feature() -> None:
    with pytest.raises(DataValidationError, match=_prefix(schema.MSG_NO_SENSITIVE)):
        ColumnRoles(target="y", sensitive_features=())
    with pytest.raises(DataValidationError, match="cannot be both target and sensitive"):
        ColumnRoles(target="y", sensitive_features=("y",))


def test_validation_does_not_modify_the_input(decisions: pd.DataFrame) -> None:
    before = decisions.copy()
    roles = ColumnRoles(target="outcome", sensitive_features=("sex",), features=("income",))
    validate_frame(decisions, roles)
    pd.testing.assert_frame_equal(decisions, before)
