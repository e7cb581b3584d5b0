"""Tests of audits.models.training: default training, decisions, persistence, safe loading."""

from __future__ import annotations

import bz2
import collections
import gzip
import io
import json
import lzma
import pathlib
import pickle
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree
from threadpoolctl import threadpool_limits

from audits.data.schema import ColumnRoles, DataValidationError, validate_frame
from audits.models.files import (
    MSG_BAD_TREE,
    MSG_NO_PREDICT_PROBA,
    MSG_NOT_BINARY_MODEL,
    MSG_NOT_SKOPS,
    MSG_PICKLE,
    MSG_UNTRUSTED,
    TRUSTED_TYPES,
    UnsafeModelError,
    file_sha256,
    load_model,
    save_model,
)
from audits.models.training import (
    KINDS,
    MSG_FEATURE_DTYPE,
    MSG_FEATURE_EMPTY,
    MSG_FEATURES_MISMATCH,
    MSG_NO_FEATURES,
    MSG_ONE_CLASS,
    MSG_TEST_SIZE,
    MSG_THRESHOLD,
    MSG_UNKNOWN_KIND,
    TrainedModel,
    predict_decisions,
    train_default_model,
)

FEATURES = ("age", "income", "job", "owns_home")
ROLES = ColumnRoles(target="y", sensitive_features=("sex",), features=FEATURES)


def _prefix(template: str, **known: str) -> str:
    """A regex for a message constant: its text up to the first unfilled field."""
    text = template
    for key, value in known.items():
        text = text.replace("{" + key + "!r}", repr(value)).replace("{" + key + "}", value)
    return re.escape(text.split("{", 1)[0])


def _raw_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], n)
    age = rng.normal(40, 10, n)
    age[::13] = np.nan
    job = rng.choice(["clerk", "manager", "nurse", "pilot"], n, p=[0.4, 0.3, 0.28, 0.02])
    income = rng.lognormal(10, 0.5, n) * np.where(sex == "m", 1.2, 1.0)
    signal = (np.nan_to_num(age, nan=40) - 40) / 10 + (job == "manager") + rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "job": pd.Categorical(job),
            "owns_home": rng.random(n) < 0.5,
            "sex": sex,
            "y": (signal > 0.3).astype(int),
        }
    )


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread() -> Iterator[None]:
    # On a busy machine HistGradientBoosting's OpenMP threads spin against other
    # processes and tiny fits take tens of seconds; one thread keeps them instant.
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return validate_frame(_raw_frame(), ROLES)


@pytest.fixture(scope="module")
def trained(frame: pd.DataFrame) -> dict[str, TrainedModel]:
    return {kind: train_default_model(frame, ROLES, kind=kind, random_state=3) for kind in KINDS}


def _binary_data(n: int = 200, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["u", "v", "w"], n)}
    )
    y = ((x["a"] + (x["c"] == "u") + rng.normal(0, 0.5, n)) > 0.5).astype(int).to_numpy()
    return x, y


def _pipeline(estimator: Any, *, ordinal: bool = False, scale: bool = False) -> Pipeline:
    numeric: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric.append(("scale", StandardScaler()))
    encoder: Any = (
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        if ordinal
        else OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    prep = ColumnTransformer([("num", Pipeline(numeric), ["a", "b"]), ("cat", encoder, ["c"])])
    return Pipeline([("preprocess", prep), ("model", estimator)])


# --- training -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_held_out_metrics_match_sklearn(
    frame: pd.DataFrame, trained: dict[str, TrainedModel], kind: str
) -> None:
    model = trained[kind]
    y_true = frame["y"].to_numpy()[model.test_rows]
    y_score = model.pipeline.predict_proba(frame.iloc[model.test_rows][list(FEATURES)])[:, 1]
    y_pred = (y_score >= 0.5).astype(int)
    expected = {
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "roc_auc": roc_auc_score(y_true, y_score),
        "log_loss": log_loss(y_true, y_score),
        "brier": brier_score_loss(y_true, y_score),
        "positive_rate": y_pred.mean(),
    }
    for name, value in expected.items():
        assert model.metrics[name] == pytest.approx(value, abs=1e-12), name
    assert model.metrics["n_test"] == len(model.test_rows)
    assert model.metrics["n_train"] == len(model.train_rows)
    assert model.metrics["roc_auc"] > 0.6  # the synthetic signal is learnable
    assert model.kind == kind
    assert model.threshold == 0.5
    assert model.params["kind"] == kind
    assert model.params["random_state"] == 3


def test_split_is_stratified_disjoint_and_complete(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    model = trained["gradient_boosting"]
    rows = np.concatenate([model.train_rows, model.test_rows])
    assert np.array_equal(np.sort(rows), np.arange(len(frame)))
    assert len(model.test_rows) == pytest.approx(0.3 * len(frame), abs=1)
    y = frame["y"].to_numpy()
    assert y[model.test_rows].mean() == pytest.approx(y.mean(), abs=0.02)
    assert not model.test_rows.flags.writeable


def test_same_seed_same_model_other_seed_other_split(frame: pd.DataFrame, tmp_path: Path) -> None:
    first = train_default_model(frame, ROLES, random_state=11)
    second = train_default_model(frame, ROLES, random_state=11)
    other = train_default_model(frame, ROLES, random_state=12)
    assert np.array_equal(first.test_rows, second.test_rows)
    assert first.metrics == second.metrics
    x = frame[list(FEATURES)]
    assert np.array_equal(first.pipeline.predict_proba(x), second.pipeline.predict_proba(x))
    assert not np.array_equal(first.test_rows, other.test_rows)
    # skops files are not byte-reproducible (entry names come from id(), plus zip
    # timestamps), so reproducibility is checked on what the saved models predict.
    save_model(first.pipeline, tmp_path / "a.skops")
    save_model(second.pipeline, tmp_path / "b.skops")
    loaded_a, loaded_b = load_model(tmp_path / "a.skops"), load_model(tmp_path / "b.skops")
    assert np.array_equal(loaded_a.predict_proba(x), loaded_b.predict_proba(x))


def test_sensitive_feature_is_not_a_model_input(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    for model in trained.values():
        assert list(model.pipeline.feature_names_in_) == list(FEATURES)
        assert model.features == FEATURES
        names_out = model.pipeline[:-1].get_feature_names_out()
        assert not any("sex" in name for name in names_out)
    with_sex = ColumnRoles(target="y", sensitive_features=("sex",), features=("age", "sex"))
    model = train_default_model(frame, with_sex, kind="logistic_regression")
    assert "sex" in list(model.pipeline.feature_names_in_)


def test_categories_are_one_hot_encoded_before_the_booster(
    trained: dict[str, TrainedModel],
) -> None:
    pipeline = trained["gradient_boosting"].pipeline
    names = list(pipeline[:-1].get_feature_names_out())
    assert "categorical__job_clerk" in names
    assert "categorical__owns_home_True" in names
    assert pipeline[-1].is_categorical_ is None
    assert pipeline[-1].n_features_in_ == len(names)


def test_progress_fractions_increase_to_one(frame: pd.DataFrame) -> None:
    calls: list[tuple[float, str]] = []
    train_default_model(frame, ROLES, kind="logistic_regression", progress=_recorder(calls))
    fractions = [f for f, _ in calls]
    assert len(fractions) >= 3
    assert all(a < b for a, b in zip(fractions, fractions[1:], strict=False))
    assert fractions[0] > 0 and fractions[-1] == 1.0
    assert all(isinstance(message, str) and message for _, message in calls)


def _recorder(calls: list[tuple[float, str]]) -> Any:
    def progress(fraction: float, message: str) -> None:
        calls.append((fraction, message))

    return progress


@pytest.mark.parametrize("kind", ["random_forest", "", "GRADIENT_BOOSTING"])
def test_unknown_kind_is_refused(frame: pd.DataFrame, kind: str) -> None:
    message = MSG_UNKNOWN_KIND.format(kind=kind, choices=", ".join(KINDS))
    with pytest.raises(ValueError, match=re.escape(message)):
        train_default_model(frame, ROLES, kind=kind)


@pytest.mark.parametrize("test_size", [0, 0.0, 1, 1.0, -0.2, 1.5, float("nan"), True])
def test_test_size_outside_unit_interval_is_refused(frame: pd.DataFrame, test_size: float) -> None:
    with pytest.raises(ValueError, match=_prefix(MSG_TEST_SIZE)):
        train_default_model(frame, ROLES, test_size=test_size)


def test_no_features_is_refused(frame: pd.DataFrame) -> None:
    roles = ColumnRoles(target="y", sensitive_features=("sex",))
    with pytest.raises(ValueError, match=re.escape(MSG_NO_FEATURES)):
        train_default_model(frame, roles)


def test_missing_feature_column_is_named(frame: pd.DataFrame) -> None:
    roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age", "zip"))
    with pytest.raises(DataValidationError, match="'zip'"):
        train_default_model(frame, roles)


def test_unusable_features_are_named(frame: pd.DataFrame) -> None:
    bad = frame.assign(when=pd.Timestamp("2024-01-01"), blank=np.nan)
    roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age", "when"))
    with pytest.raises(DataValidationError, match=_prefix(MSG_FEATURE_DTYPE, column="when")):
        train_default_model(bad, roles)
    roles = ColumnRoles(target="y", sensitive_features=("sex",), features=("age", "blank"))
    empty = re.escape(MSG_FEATURE_EMPTY.format(column="blank"))
    with pytest.raises(DataValidationError, match=empty):
        train_default_model(bad, roles)


def test_single_class_target_is_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=_prefix(MSG_ONE_CLASS, column="y")):
        train_default_model(frame.assign(y=0), ROLES)


# --- decisions -----------------------------------------------------------------------


def test_predict_decisions_keeps_index_and_thresholds(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    pipeline = trained["logistic_regression"].pipeline
    shuffled = frame.sample(frac=1.0, random_state=0).set_index(
        pd.Index([f"case-{i}" for i in range(len(frame))])
    )
    decisions = predict_decisions(pipeline, shuffled, features=FEATURES, threshold=0.3)
    assert list(decisions.columns) == ["y_score", "y_pred"]
    assert decisions.index.equals(shuffled.index)
    expected = pipeline.predict_proba(shuffled[list(FEATURES)])[:, 1]
    np.testing.assert_array_equal(decisions["y_score"].to_numpy(), expected)
    assert decisions["y_pred"].tolist() == (expected >= 0.3).astype(int).tolist()
    assert set(decisions["y_pred"].unique()) <= {0, 1}


def test_predict_decisions_names_a_missing_column(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    pipeline = trained["logistic_regression"].pipeline
    with pytest.raises(DataValidationError, match="'income'"):
        predict_decisions(pipeline, frame.drop(columns="income"), features=FEATURES)


def test_predict_decisions_refuses_other_features_and_bad_threshold(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    pipeline = trained["logistic_regression"].pipeline
    with pytest.raises(DataValidationError, match=_prefix(MSG_FEATURES_MISMATCH)):
        predict_decisions(pipeline, frame, features=("age", "income"))
    for threshold in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match=_prefix(MSG_THRESHOLD)):
            predict_decisions(pipeline, frame, features=FEATURES, threshold=threshold)


def test_shap_explains_the_encoded_booster_exactly(
    frame: pd.DataFrame, trained: dict[str, TrainedModel]
) -> None:
    shap = pytest.importorskip("shap")
    model = trained["gradient_boosting"]
    rows = frame.iloc[model.test_rows[:50]][list(FEATURES)]
    encoded = model.pipeline[:-1].transform(rows)
    booster = model.pipeline[-1]
    explainer = shap.TreeExplainer(booster)
    values = np.asarray(explainer.shap_values(encoded))
    assert values.shape == (50, len(model.pipeline[:-1].get_feature_names_out()))
    base = float(np.ravel(explainer.expected_value)[0])
    log_odds = booster.decision_function(encoded)
    np.testing.assert_allclose(values.sum(axis=1) + base, log_odds, rtol=0, atol=1e-6)


# --- persistence -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(
    frame: pd.DataFrame, trained: dict[str, TrainedModel], kind: str, tmp_path: Path
) -> None:
    pipeline = trained[kind].pipeline
    path = tmp_path / "model.skops"
    digest = save_model(pipeline, path)
    assert digest == file_sha256(path)
    assert re.fullmatch("[0-9a-f]{64}", digest)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    loaded = load_model(path)
    x = frame[list(FEATURES)]
    np.testing.assert_array_equal(loaded.predict_proba(x), pipeline.predict_proba(x))
    pd.testing.assert_frame_equal(
        predict_decisions(loaded, frame, features=FEATURES),
        predict_decisions(pipeline, frame, features=FEATURES),
    )


def _supported_models() -> dict[str, Any]:
    return {
        "hist_gradient_boosting": _pipeline(HistGradientBoostingClassifier(max_iter=10)),
        "hist_gradient_boosting_ordinal": _pipeline(
            HistGradientBoostingClassifier(max_iter=10), ordinal=True
        ),
        "gradient_boosting": _pipeline(GradientBoostingClassifier(n_estimators=5)),
        "gradient_boosting_exponential": _pipeline(
            GradientBoostingClassifier(n_estimators=5, loss="exponential", subsample=0.8)
        ),
        "random_forest": _pipeline(RandomForestClassifier(n_estimators=3), ordinal=True),
        "extra_trees": _pipeline(ExtraTreesClassifier(n_estimators=3)),
        "decision_tree": _pipeline(DecisionTreeClassifier(max_depth=4), ordinal=True),
        "logistic_regression": _pipeline(LogisticRegression(max_iter=1000), scale=True),
    }


@pytest.mark.parametrize("name", sorted(_supported_models()))
def test_every_supported_family_loads(name: str, tmp_path: Path) -> None:
    x, y = _binary_data()
    pipeline = _supported_models()[name]
    pipeline.set_params(model__random_state=0)
    pipeline.fit(x, y)
    path = tmp_path / f"{name}.skops"
    save_model(pipeline, path)
    assert set(sio.get_untrusted_types(file=path)) <= TRUSTED_TYPES
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), pipeline.predict_proba(x))


def test_bare_estimator_is_wrapped_in_a_pipeline(tmp_path: Path) -> None:
    x, y = _binary_data()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x[["a", "b"]], y)
    save_model(forest, tmp_path / "forest.skops")
    loaded = load_model(tmp_path / "forest.skops")
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(
        loaded.predict_proba(x[["a", "b"]]), forest.predict_proba(x[["a", "b"]])
    )


def test_model_without_predict_proba_is_refused(tmp_path: Path) -> None:
    x, _ = _binary_data()
    path = tmp_path / "scaler.skops"
    save_model(Pipeline([("scale", StandardScaler())]).fit(x[["a", "b"]]), path)
    with pytest.raises(ValueError, match=_prefix(MSG_NO_PREDICT_PROBA, path=str(path))):
        load_model(path)


def test_multiclass_model_is_refused(tmp_path: Path) -> None:
    x, _ = _binary_data()
    y = np.arange(len(x)) % 3
    path = tmp_path / "multi.skops"
    save_model(LogisticRegression().fit(x[["a", "b"]], y), path)
    with pytest.raises(ValueError, match=_prefix(MSG_NOT_BINARY_MODEL, where=f"in {path} ")):
        load_model(path)


# --- refusing pickle and joblib ------------------------------------------------------------


class _TouchOnUnpickle:
    """Unpickling this creates a marker file: stands in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (pathlib.Path.touch, (self.marker,))


def _fitted_model() -> LogisticRegression:
    x, y = _binary_data()
    return LogisticRegression().fit(x[["a", "b"]], y)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_of_a_real_model_is_refused(protocol: int, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_fitted_model(), protocol=protocol))
    with pytest.raises(UnsafeModelError, match=_prefix(MSG_PICKLE, path=str(path))) as info:
        load_model(path)
    message = str(info.value)
    assert "arbitrary code" in message
    assert 'skops.io.dump(model, "model.skops")' in message
    assert isinstance(info.value, ValueError)


def test_malicious_payload_is_real_but_never_runs(tmp_path: Path) -> None:
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(control)))
    assert control.exists(), "the payload must work for this test to mean anything"

    marker = tmp_path / "marker"
    evil = _TouchOnUnpickle(marker)
    files = {"evil.pkl": pickle.dumps(evil), "evil0.pkl": pickle.dumps(evil, protocol=0)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    joblib.dump(evil, tmp_path / "evil.joblib")
    joblib.dump(evil, tmp_path / "evil-z.joblib", compress=3)
    for name in [*files, "evil.joblib", "evil-z.joblib"]:
        with pytest.raises(UnsafeModelError, match="is a pickle/joblib file"):
            load_model(tmp_path / name)
    assert not marker.exists()


@pytest.mark.parametrize(
    "compress", [0, 3, ("zlib", 9), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)]
)
def test_joblib_files_are_refused(compress: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(_fitted_model(), path, compress=compress)
    with pytest.raises(UnsafeModelError, match=_prefix(MSG_PICKLE, path=str(path))):
        load_model(path)


@pytest.mark.parametrize(
    "compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bz2", "xz"]
)
def test_compressed_pickles_are_refused(compress: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(compress(pickle.dumps(_fitted_model())))
    with pytest.raises(UnsafeModelError, match="is a pickle/joblib file .*-compressed"):
        load_model(path)


# --- refusing other files and untrusted types ------------------------------------------


def _zip_with(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is not a model\n", b"a,b\n1,2\n", b"\x00\x01\x02\x03garbage"],
    ids=["empty", "text", "csv", "binary"],
)
def test_non_skops_content_is_refused(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(content)
    with pytest.raises(UnsafeModelError, match=_prefix(MSG_NOT_SKOPS, path=str(path))):
        load_model(path)


@pytest.mark.parametrize(
    "entries",
    [{"notes.txt": b"hi"}, {"schema.json": b"not json"}, {"schema.json": b"{}"}],
    ids=["no-schema", "bad-json", "empty-schema"],
)
def test_zip_that_is_not_skops_is_refused(entries: dict[str, bytes], tmp_path: Path) -> None:
    path = _zip_with(tmp_path / "model.skops", entries)
    with pytest.raises(UnsafeModelError, match=_prefix(MSG_NOT_SKOPS, path=str(path))):
        load_model(path)


def test_truncated_or_incomplete_skops_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.skops"
    save_model(_fitted_model(), good)
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(good.read_bytes()[:200])
    with zipfile.ZipFile(good) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    array = next(name for name in entries if name.endswith(".npy"))
    incomplete = _zip_with(
        tmp_path / "incomplete.skops", {k: v for k, v in entries.items() if k != array}
    )
    for path in (truncated, incomplete):
        with pytest.raises(UnsafeModelError, match=_prefix(MSG_NOT_SKOPS, path=str(path))):
            load_model(path)


class _Doubler(TransformerMixin, BaseEstimator):
    """A custom transformer: skops can store it, fairpanel must not load it."""

    def fit(self, x: Any, y: Any = None) -> _Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x, dtype=float) * 2


def _untrusted_match(*types: str) -> str:
    return re.escape(MSG_UNTRUSTED.split("{", 1)[0] + ", ".join(types))


def test_custom_transformer_is_refused_by_name(tmp_path: Path) -> None:
    x, y = _binary_data()
    pipeline = Pipeline([("double", _Doubler()), ("model", LogisticRegression())])
    pipeline.fit(x[["a", "b"]], y)
    path = tmp_path / "custom.skops"
    sio.dump(pipeline, path)
    name = f"{_Doubler.__module__}.{_Doubler.__name__}"
    with pytest.raises(UnsafeModelError, match=_untrusted_match(name)):
        load_model(path)


def test_ordered_dict_is_refused_although_skops_trusts_it(tmp_path: Path) -> None:
    model = _fitted_model()
    model.notes_ = collections.OrderedDict(author="someone")
    path = tmp_path / "odict.skops"
    sio.dump(model, path)
    assert sio.get_untrusted_types(file=path) == []
    with pytest.raises(UnsafeModelError, match=_untrusted_match("collections.OrderedDict")):
        load_model(path)


def test_other_sklearn_types_need_extra_trusted(tmp_path: Path) -> None:
    x, y = _binary_data()
    pipeline = Pipeline([("scale", MinMaxScaler()), ("model", LogisticRegression())])
    pipeline.fit(x[["a", "b"]], y)
    path = tmp_path / "minmax.skops"
    sio.dump(pipeline, path)
    name = "sklearn.preprocessing._data.MinMaxScaler"
    with pytest.raises(UnsafeModelError, match=_untrusted_match(name)):
        load_model(path)
    loaded = load_model(path, extra_trusted=[name])
    np.testing.assert_array_equal(
        loaded.predict_proba(x[["a", "b"]]), pipeline.predict_proba(x[["a", "b"]])
    )
    with pytest.raises(TypeError):
        load_model(path, extra_trusted=name)


# --- refusing crafted trees ----------------------------------------------------------------


def _rebuilt(tree: Any, *, n_features: int | None = None, **fields: Any) -> Any:
    """A copy of ``tree`` with node fields overwritten as ``field=(node, value)``."""
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    for field, (node, value) in fields.items():
        nodes[field][node] = value
    state["nodes"] = nodes
    width = tree.n_features if n_features is None else n_features
    copy = Tree(width, np.asarray(tree.n_classes), tree.n_outputs)
    copy.__setstate__(state)
    return copy


def _fitted(estimator: Any) -> Any:
    x, y = _binary_data()
    return estimator.fit(x[["a", "b"]], y)


def _tampered_trees() -> dict[str, Any]:
    def tree(**fields: Any) -> Any:
        model = _fitted(DecisionTreeClassifier(max_depth=3, random_state=0))
        model.tree_ = _rebuilt(model.tree_, **fields)
        return model

    def leaf_with_child() -> Any:
        model = _fitted(DecisionTreeClassifier(max_depth=3, random_state=0))
        leaf = int(np.flatnonzero(model.tree_.children_left == -1)[0])
        model.tree_ = _rebuilt(model.tree_, right_child=(leaf, leaf + 1))
        return model

    def forest_reads_past_its_columns() -> Any:
        model = _fitted(RandomForestClassifier(n_estimators=2, random_state=0))
        member = model.estimators_[0]
        member.tree_ = _rebuilt(member.tree_, n_features=100, feature=(0, 50))
        member.n_features_in_ = 100
        return model

    def boosting_with_two_columns_per_stage() -> Any:
        model = _fitted(GradientBoostingClassifier(n_estimators=4, random_state=0))
        model.estimators_ = model.estimators_.reshape(2, 2)
        return model

    def hist_boosting(field: str, value: int) -> Any:
        model = _fitted(HistGradientBoostingClassifier(max_iter=3, random_state=0))
        predictor = model._predictors[0][0]
        nodes = predictor.nodes.copy()
        nodes[field][0] = value
        predictor.nodes = nodes
        return model

    return {
        "child-out-of-range": lambda: tree(left_child=(0, 10**6)),
        "child-points-back": lambda: tree(right_child=(0, 0)),
        "feature-out-of-range": lambda: tree(feature=(0, 7)),
        "leaf-with-child": leaf_with_child,
        "forest-member-wider-than-forest": forest_reads_past_its_columns,
        "boosting-two-trees-per-stage": boosting_with_two_columns_per_stage,
        "hist-child-out-of-range": lambda: hist_boosting("left", 10**6),
        "hist-feature-out-of-range": lambda: hist_boosting("feature_idx", 9),
        "hist-native-categorical": lambda: hist_boosting("is_categorical", 1),
    }


@pytest.mark.parametrize("case", sorted(_tampered_trees()))
def test_crafted_tree_is_refused_before_any_prediction(case: str, tmp_path: Path) -> None:
    model = _tampered_trees()[case]()
    path = tmp_path / "crafted.skops"
    sio.dump(model, path)
    with pytest.raises(UnsafeModelError, match=_prefix(MSG_BAD_TREE, path=str(path))):
        load_model(path)


def _edit_schema(src: Path, dst: Path, edit: Any) -> Path:
    with zipfile.ZipFile(src) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(entries["schema.json"])
    edit(schema)
    entries["schema.json"] = json.dumps(schema).encode()
    return _zip_with(dst, entries)


def _tree_state(schema: Any) -> dict[str, Any]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__loader__") == "TreeNode":
                return node["content"]["content"]  # type: ignore[no-any-return]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError("no tree in schema")


@pytest.mark.parametrize("field,value", [("node_count", 0), ("node_count", 1), ("max_depth", 0)])
def test_crafted_tree_counts_are_refused(field: str, value: int, tmp_path: Path) -> None:
    # Edited in the file, as an attacker would. (scikit-learn clamps a node_count above
    # the node array's length on load; below it, children point past the last node.)
    model = _fitted(DecisionTreeClassifier(max_depth=3, random_state=0))
    sio.dump(model, tmp_path / "good.skops")

    def edit(schema: Any) -> None:
        node = _tree_state(schema)[field]
        node["content"] = json.dumps(value)
        # skops shares nodes by __id__ (small ints are one object), so unshare this one.
        node.pop("__id__", None)

    path = _edit_schema(tmp_path / "good.skops", tmp_path / "crafted.skops", edit)
    with pytest.raises(UnsafeModelError, match=_prefix(MSG_BAD_TREE, path=str(path))):
        load_model(path)


def test_schema_edit_helper_keeps_a_good_file_loadable(tmp_path: Path) -> None:
    model = _fitted(DecisionTreeClassifier(max_depth=3, random_state=0))
    sio.dump(model, tmp_path / "good.skops")
    path = _edit_schema(tmp_path / "good.skops", tmp_path / "same.skops", lambda s: None)
    x, _ = _binary_data()
    loaded = load_model(path)
    np.testing.assert_array_equal(
        loaded.predict_proba(x[["a", "b"]]), model.predict_proba(x[["a", "b"]])
    )


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = io.BytesIO(b"fairpanel" * 100_000).getvalue()
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
