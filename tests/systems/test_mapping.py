"""Column mappings: checks on names, checks on content, and suggestions from names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audits.data.datasets import BUNDLED, datasets_dir
from audits.data.schema import DataValidationError
from audits.data.synthetic import make_synthetic_loans
from audits.systems.mapping import (
    ColumnMapping,
    check_mapping,
    suggest_mapping,
    validate_sensitive_table,
    validate_table,
)

COLUMNS = ["applicant_id", "sex", "race", "income", "approved", "score", "repaid"]
MAPPING = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex", "race"),
                        prediction="approved")


def _table(**changes: list[object]) -> pa.Table:
    data: dict[str, list[object]] = {
        "applicant_id": [10, 11, 12, 13, 14, 15],
        "sex": ["f", "m", "f", "m", "f", "m"],
        "race": ["a", "b", "a", "a", "b", "b"],
        "income": [1.0, None, 3.0, 4.0, 5.0, 6.0],
        "approved": [1, 0, 1, 1, 0, 0],
        "score": [0.9, 0.2, 0.7, 0.8, 0.1, 0.3],
        "repaid": [1, 0, 0, 1, 1, 0],
    }
    data.update(changes)
    return pa.table(data)


# ---------------------------------------------------------------- the mapping itself


def test_mapping_normalises_and_round_trips() -> None:
    m = ColumnMapping(id="id", target="y", sensitive="sex", prediction="p",  # type: ignore[arg-type]
                      features=["x"], positive_label=1)  # type: ignore[arg-type]
    assert m.sensitive == ("sex",) and m.features == ("x",) and m.positive_label == "1"
    assert ColumnMapping.from_dict(m.as_dict()) == m
    roles = MAPPING.roles(COLUMNS)
    assert roles.features == ("income", "score") and roles.positive_label == "1"
    assert roles.sensitive_features == ("sex", "race") and roles.prediction == "approved"


# ---------------------------------------------------------------- check_mapping


def test_a_good_mapping_passes_on_names_and_on_a_schema() -> None:
    check_mapping(COLUMNS, MAPPING)
    check_mapping(_table().schema, MAPPING)
    check_mapping(COLUMNS, ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",),
                                         score="score", threshold=0.5))


def test_missing_column_names_close_names() -> None:
    m = ColumnMapping(id="applicant_id", target="repayed", sensitive=("Sex",),
                      prediction="approved")
    with pytest.raises(DataValidationError) as info:
        check_mapping(COLUMNS, m)
    assert str(info.value) == (
        "column 'repayed' (target) is not in the data; did you mean 'repaid'?; "
        "column 'Sex' (sensitive feature) is not in the data; did you mean 'sex'?")
    far = ColumnMapping(id="applicant_id", target="repaid", sensitive=("ethnicity",),
                        prediction="approved")
    with pytest.raises(DataValidationError, match="columns present: applicant_id, sex, race"):
        check_mapping(COLUMNS, far)
    feats = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",),
                          prediction="approved", features=("incme",))
    with pytest.raises(DataValidationError, match=r"'incme' \(feature\) .* did you mean 'income'"):
        check_mapping(COLUMNS, feats)


def test_sensitive_features_kept_elsewhere_are_not_required() -> None:
    m = ColumnMapping(id="applicant_id", target="repaid", sensitive=("religion",),
                      prediction="approved")
    check_mapping(COLUMNS, m, sensitive_elsewhere=["religion"])
    with pytest.raises(DataValidationError, match="'religion' .sensitive feature"):
        check_mapping(COLUMNS, m)


@pytest.mark.parametrize(("mapping", "message"), [
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",)),
     "map a prediction (the logged decision) or a score with a threshold: the audit "
     "needs the system's decisions"),
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",), score="score"),
     "score column 'score' needs a threshold (decision = score >= threshold) when no "
     "prediction column is mapped"),
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",),
                   prediction="approved", threshold=0.5),
     "threshold 0.5 is given but no score column is mapped"),
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=()),
     "at least one sensitive feature is required"),
    (ColumnMapping(id="repaid", target="repaid", sensitive=("sex",), prediction="approved"),
     "column 'repaid' is mapped twice: as id and as target"),
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex", "approved"),
                   prediction="approved"),
     "column 'approved' is mapped twice: as prediction and as sensitive feature"),
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex", "sex"),
                   prediction="approved"),
     "column 'sex' is mapped twice: as sensitive feature and as sensitive feature"),
    (ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",),
                   prediction="approved", features=("income", "repaid")),
     "column 'repaid' is mapped twice: as target and as feature"),
])
def test_bad_mappings_are_named(mapping: ColumnMapping, message: str) -> None:
    with pytest.raises(DataValidationError) as info:
        check_mapping(COLUMNS, mapping)
    assert str(info.value) == message


def test_a_sensitive_feature_may_also_be_a_model_input() -> None:
    check_mapping(COLUMNS, ColumnMapping(id="applicant_id", target="repaid",
                                         sensitive=("sex",), prediction="approved",
                                         features=("income", "sex")))


# ---------------------------------------------------------------- validate_table


def test_a_good_table_passes() -> None:
    validate_table(_table(), MAPPING)
    validate_table(_table(approved=[True, False, True, True, False, False],
                          repaid=[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]), MAPPING)
    labelled = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",),
                             score="score", threshold=0.5, positive_label="yes")
    validate_table(_table(repaid=["yes", "no", "no", "yes", "yes", "no"]), labelled)


def test_duplicate_ids_are_named_and_counted() -> None:
    ids = [10, 11, 10, 13, 11, 10]
    with pytest.raises(DataValidationError) as info:
        validate_table(_table(applicant_id=ids), MAPPING)
    duplicated = sorted(set(pd.Series(ids)[pd.Series(ids).duplicated()]))
    assert f"{len(duplicated)} id(s) occur more than once" in str(info.value)
    assert all(repr(i) in str(info.value) for i in duplicated)
    with pytest.raises(DataValidationError, match="'applicant_id' has 1 missing value.*row 2"):
        validate_table(_table(applicant_id=[10, 11, None, 13, 14, 15]), MAPPING)


def test_many_duplicates_show_the_first_five_at_scale() -> None:
    n = 200_000
    ids = np.arange(n)
    ids[100:150] = 7  # one id used 51 times
    ids[1000:1010] = np.arange(1000, 1010) - 1  # ten more ids used twice
    table = pa.table({"applicant_id": ids, "sex": np.full(n, "f"), "race": np.full(n, "a"),
                      "approved": np.ones(n, "int8"), "repaid": np.zeros(n, "int8")})
    expected = int(pd.Series(ids).value_counts().gt(1).sum())
    with pytest.raises(DataValidationError, match=f"{expected} id\\(s\\) occur more than once"):
        validate_table(table, MAPPING)


def test_duplicate_text_ids_are_named_in_sorted_order() -> None:
    ids = ["c-9", "a-1", "b-2", "a-1", "c-9", "c-9"]
    with pytest.raises(DataValidationError) as info:
        validate_table(_table(applicant_id=ids), MAPPING)
    assert str(info.value) == ("id column 'applicant_id' must be unique: 2 id(s) occur more "
                               "than once, e.g. 'a-1', 'c-9'")
    validate_table(_table(applicant_id=["f", "e", "d", "c", "b", "a"]), MAPPING)


def test_a_target_with_three_classes_names_them() -> None:
    with pytest.raises(DataValidationError) as info:
        validate_table(_table(repaid=["yes", "no", "maybe", "yes", "no", "no"]), MAPPING)
    assert str(info.value) == ("column 'repaid' (target) must be binary; found 3 distinct "
                               "values: 'maybe', 'no', 'yes'")


def test_a_labelled_target_needs_its_positive_label() -> None:
    words = ["yes", "no", "no", "yes", "yes", "no"]
    with pytest.raises(DataValidationError, match="holds 'no', 'yes': give positive_label"):
        validate_table(_table(repaid=words), MAPPING)
    wrong = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",),
                          prediction="approved", positive_label="Yes")
    with pytest.raises(DataValidationError) as info:
        validate_table(_table(repaid=words), wrong)
    assert str(info.value) == ("positive_label 'Yes' is not a value of target column "
                               "'repaid'; values: 'no', 'yes'")


def test_prediction_must_be_binary_and_complete() -> None:
    with pytest.raises(DataValidationError, match=r"'approved' \(prediction\) must be binary"):
        validate_table(_table(approved=[0, 1, 2, 1, 0, 0]), MAPPING)
    two = r"'approved' \(prediction\) has 2 missing value\(s\), at id\(s\) 11, 15"
    with pytest.raises(DataValidationError, match=two):
        validate_table(_table(approved=[1, None, 1, 1, 0, None]), MAPPING)


def test_score_must_be_numeric_complete_and_the_threshold_in_range() -> None:
    m = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",), score="score",
                      threshold=0.5)
    with pytest.raises(DataValidationError, match=r"'score' \(score\) must be numeric, not string"):
        validate_table(_table(score=["high", "low", "low", "high", "low", "low"]), m)
    with pytest.raises(DataValidationError, match=r"'score' \(score\) has 1 missing.*id\(s\) 12"):
        validate_table(_table(score=[0.9, 0.2, float("nan"), 0.8, 0.1, 0.3]), m)
    far = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex",), score="score",
                        threshold=50)
    with pytest.raises(DataValidationError, match=r"threshold 50 lies outside .* \[0.1, 0.9\]"):
        validate_table(_table(), far)


def test_missing_sensitive_values_are_named_by_id() -> None:
    sex = ["f", None, None, None, None, None]
    with pytest.raises(DataValidationError) as info:
        validate_table(_table(sex=sex), MAPPING)
    assert str(info.value) == ("column 'sex' (sensitive feature) has 5 missing value(s), "
                               "at id(s) 11, 12, 13, 14, 15")
    sex[1] = "m"
    with pytest.raises(DataValidationError, match="4 missing value.*12, 13, 14, 15$"):
        validate_table(_table(sex=sex), MAPPING)
    validate_table(_table(sex=sex).drop_columns(["sex"]), MAPPING, sensitive_elsewhere=["sex"])


def test_no_rows_is_refused() -> None:
    with pytest.raises(DataValidationError, match="the data has no rows"):
        validate_table(_table().slice(0, 0), MAPPING)


def test_sensitive_data_kept_apart_are_checked() -> None:
    apart = ColumnMapping(id="applicant_id", target="repaid", sensitive=("sex", "religion"),
                          prediction="approved")
    table = pa.table({"applicant_id": [1, 2, 3], "religion": ["a", "b", "a"]})
    assert validate_sensitive_table(table, apart) == ["religion"]
    with pytest.raises(DataValidationError) as info:
        validate_sensitive_table(table.rename_columns(["applicantid", "religion"]), apart)
    assert str(info.value) == ("in the sensitive data: column 'applicant_id' (id) is not in "
                               "the data; did you mean 'applicantid'?")
    with pytest.raises(DataValidationError, match="in the sensitive data: column 'sex' "):
        validate_sensitive_table(table.select(["applicant_id"]), apart)
    with pytest.raises(DataValidationError, match="1 id.s. occur more than once, e.g. 1"):
        validate_sensitive_table(pa.table({"applicant_id": [1, 1], "sex": ["f", "m"]}), apart)
    with pytest.raises(DataValidationError, match="'religion' .* 1 missing value.*id.s. 3$"):
        validate_sensitive_table(pa.table({"applicant_id": [1, 2, 3],
                                           "religion": ["a", "b", None]}), apart)
    with pytest.raises(DataValidationError, match="in the sensitive data: the data has no rows"):
        validate_sensitive_table(table.slice(0, 0), apart)


# ---------------------------------------------------------------- suggest_mapping


def _schema_columns(name: str) -> list[tuple[str, str]]:
    schema = pq.read_schema(datasets_dir() / f"{name}.parquet")
    return [(f.name, str(f.type)) for f in schema]


def test_suggestions_for_compas_match_its_bundled_roles() -> None:
    s = suggest_mapping(_schema_columns("compas"))
    roles = BUNDLED["compas"].roles
    assert (s["id"], s["target"], s["prediction"], s["score"]) == (
        "id", roles.target, roles.prediction, roles.score)
    assert set(roles.sensitive_features) <= set(s["sensitive"])
    assert s["time"] == "compas_screening_date" and s["threshold"] is None
    assert "age" in s["features"]  # a numeric age needs banding first


def test_suggestions_for_german_credit_and_adult() -> None:
    german = suggest_mapping(_schema_columns("german_credit"))
    assert german["target"] == "credit_good" and german["id"] is None
    assert german["sensitive"] == ["foreign_worker", "sex", "age_group"]
    adult = suggest_mapping(_schema_columns("adult"))
    assert adult["target"] == "income_over_50k"
    assert {"sex", "race"} <= set(adult["sensitive"])


def test_suggestions_for_the_synthetic_loans_with_pandas_type_names() -> None:
    frame = make_synthetic_loans(10)
    s = suggest_mapping([(c, str(t)) for c, t in frame.dtypes.items()])
    roles = BUNDLED["synthetic"].roles
    assert (s["target"], s["prediction"], s["score"]) == (roles.target, roles.prediction,
                                                          roles.score)
    assert s["sensitive"] == list(roles.sensitive_features)
    assert set(roles.features) <= set(s["features"])


def test_suggestions_for_a_bank_export() -> None:
    columns = [("ApplicationID", "int64"), ("CreatedAt", "timestamp[us]"),
               ("Gender", "string"), ("MaritalStatus", "string"), ("Nationality", "string"),
               ("Age", "int64"), ("AnnualIncome", "double"), ("risk_score", "double"),
               ("Defaulted", "bool"), ("notes", "string")]
    s = suggest_mapping(columns)
    assert s == {
        "id": "ApplicationID", "target": "Defaulted", "prediction": None,
        "score": "risk_score", "threshold": 0.5, "time": "CreatedAt",
        "sensitive": ["Gender", "MaritalStatus", "Nationality"],
        "features": ["Age", "AnnualIncome", "notes"],
    }


def test_suggestions_for_ml_style_names() -> None:
    columns = [("uuid", "string"), ("y_true", "int64"), ("y_pred", "int64"),
               ("y_proba", "float64"), ("decision_date", "object"), ("age_band", "object"),
               ("ethnicity", "object"), ("x1", "float64")]
    s = suggest_mapping(columns)
    assert (s["id"], s["target"], s["prediction"], s["score"], s["time"]) == (
        "uuid", "y_true", "y_pred", "y_proba", "decision_date")
    assert s["sensitive"] == ["age_band", "ethnicity"] and s["features"] == ["x1"]
    assert s["threshold"] is None


def test_a_score_name_on_text_is_not_a_score() -> None:
    s = suggest_mapping([("id", "int64"), ("score", "string"), ("label", "int64")])
    assert s["score"] is None and s["features"] == ["score"]


def test_every_column_gets_at_most_one_role() -> None:
    columns = [(n, "int64") for n in ("id", "y", "label", "target", "pred", "prediction",
                                      "score", "prob", "sex", "gender")]
    s = suggest_mapping(columns)
    single = [s[k] for k in ("id", "target", "prediction", "score", "time") if s[k]]
    every = single + s["sensitive"] + s["features"]
    assert sorted(every) == sorted(n for n, _ in columns)
