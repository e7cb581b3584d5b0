"""register_system's checks one by one: each refusal named, nothing stored, files private.

Complements ``test_registry.py`` (versions, sensitive data apart, purge): here every bad
input of the issue is its own case, checked by its message and by the store (every
table, the systems and the data folder) exactly as it was; a store transaction that fails
leaves no file behind; stored files are content-addressed and private.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from db_support import row_counts
from systems_support import FEATURES, MAPPING, credit_frame, fit_model, save_skops

from audits.roles import Actor, Role
from audits.store import Store, data_dir
from audits.systems.registry import load_version, register_system
from audits.systems.sources import DataSource

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as opened:
        yield opened


@pytest.fixture
def frame() -> pd.DataFrame:
    return credit_frame()


def _csv(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def _state(store: Store) -> tuple[dict[str, int], int, list[str]]:
    """Every table's row count, the systems, and the files of the data folder."""
    files = sorted(str(p.relative_to(data_dir())) for p in data_dir().rglob("*") if p.is_file())
    return row_counts(store), len(store.list_systems()), files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _apart(frame: pd.DataFrame, tmp_path: Path) -> tuple[str, str]:
    """The decisions without sex and race, and those in a second file (in another order),
    keyed by ``person``."""
    decisions = frame.drop(columns=["sex", "race"])
    sensitive = frame.loc[::-1, ["id", "sex", "race"]].rename(columns={"id": "person"})
    return (_csv(decisions, tmp_path / "decisions.csv"),
            _csv(sensitive, tmp_path / "sensitive.csv"))


def test_stored_files_are_content_addressed_and_private(store: Store, frame: pd.DataFrame,
                                                        tmp_path: Path) -> None:
    data, sensitive = _apart(frame, tmp_path)
    model = save_skops(fit_model(frame), tmp_path / "m.skops")
    done = register_system(store, SCIENTIST, "credit", data, **MAPPING,  # type: ignore[arg-type]
                           sensitive_data=sensitive, join="person", model=str(model))
    ds, facts = done.dataset, done.dataset.sensitive
    assert facts is not None and done.model is not None
    assert facts["columns"] == ["sex", "race"] and facts["n_matched"] == 2000
    for relative, sha in ((ds.data_path, ds.sha256), (facts["path"], facts["sha256"])):
        file = data_dir() / str(relative)
        assert file.name == f"{sha}.parquet" and _sha256(file) == sha
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert re.fullmatch(r"[0-9a-f]{64}\.skops", Path(done.model.path).name)
    assert _sha256(Path(done.model.path)) == done.model.sha256 == _sha256(model)
    assert done.model.kind == "uploaded" and list(done.model.feature_names) == list(FEATURES)
    loaded = load_version(store, SCIENTIST, ds).frame
    assert loaded["id"].tolist() == frame["id"].tolist()
    assert loaded["race"].astype(str).tolist() == frame["race"].tolist()


def test_a_failed_store_transaction_removes_the_files_it_wrote(
        store: Store, frame: pd.DataFrame, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    data, sensitive = _apart(frame, tmp_path)
    model = save_skops(fit_model(frame), tmp_path / "m.skops")
    before = _state(store)
    original = store.register_system_version

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "register_system_version", fail)
    with pytest.raises(RuntimeError, match="went away"):
        register_system(store, SCIENTIST, "credit", data, **MAPPING,  # type: ignore[arg-type]
                        sensitive_data=sensitive, join="person", model=str(model))
    assert _state(store) == before
    monkeypatch.setattr(store, "register_system_version", original)
    done = register_system(store, SCIENTIST, "credit", data, **MAPPING,  # type: ignore[arg-type]
                           sensitive_data=sensitive, join="person", model=str(model))
    assert done.created and done.model is not None
    # A file another version already uses is never removed by a failed registration.
    monkeypatch.setattr(store, "register_system_version", fail)
    with pytest.raises(RuntimeError, match="went away"):
        register_system(store, SCIENTIST, "credit-copy", data, **MAPPING,  # type: ignore[arg-type]
                        sensitive_data=sensitive, join="person", model=str(model))
    assert (data_dir() / str(done.dataset.data_path)).is_file()
    assert Path(done.model.path).is_file()


# ---------------------------------------------------------------- refusals


def _case_duplicate_id(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    bad = frame.copy()
    bad.loc[5, "id"] = bad.loc[4, "id"]
    return {"data": _csv(bad, tmp_path / "d.csv")}


def _case_unmatched_ids(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    data, _ = _apart(frame, tmp_path)
    other = frame.loc[:, ["id", "sex", "race"]].assign(id=frame["id"] + 50_000)
    return {"data": data, "sensitive_data": _csv(other, tmp_path / "s.csv"), "join": "id"}


def _case_join_not_unique(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    data, _ = _apart(frame, tmp_path)
    people = frame.loc[:, ["id", "sex", "race"]].rename(columns={"id": "person"})
    people.loc[7, "person"] = people.loc[3, "person"]
    return {"data": data, "sensitive_data": _csv(people, tmp_path / "s.csv"), "join": "person"}


def _case_in_both(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    data = _csv(frame.drop(columns=["race"]), tmp_path / "d.csv")
    people = frame.loc[:, ["id", "sex", "race"]]
    return {"data": data, "sensitive_data": _csv(people, tmp_path / "s.csv")}


def _case_model_features(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    trained = frame.assign(bureau_score=frame["income"] * 2)
    model = fit_model(trained, (*FEATURES, "bureau_score"))
    return {"data": _csv(frame, tmp_path / "d.csv"),
            "model": str(save_skops(model, tmp_path / "m.skops"))}


def _case_model_classes(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    model = fit_model(frame.assign(repaid=frame["repaid"].map({0: "bad", 1: "good"})))
    return {"data": _csv(frame, tmp_path / "d.csv"),
            "model": str(save_skops(model, tmp_path / "m.skops"))}


def _case_pickle(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fit_model(frame)))
    return {"data": _csv(frame, tmp_path / "d.csv"), "model": str(path)}


def _case_mapped_twice(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    return {"data": _csv(frame, tmp_path / "d.csv"), "prediction": "repaid"}


def _case_three_classes(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    bad = frame.copy()
    bad.loc[:99, "repaid"] = 2
    return {"data": _csv(bad, tmp_path / "d.csv")}


def _case_sql(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    # Port 9 (discard) on the loopback: nothing listens, the connection is refused.
    return {"data": DataSource(url="postgresql+psycopg://auditor:s3cret@127.0.0.1:9/credit",
                               table="decisions")}


BAD_INPUTS: dict[str, tuple[Callable[[pd.DataFrame, Path], dict[str, Any]], str]] = {
    "id not unique": (_case_duplicate_id,
                      r"id column 'id' must be unique: 1 id\(s\) occur more than once, "
                      r"e.g. 1004"),
    "sensitive ids do not match": (_case_unmatched_ids,
                                   r"only 0 of the 2,000 decisions \(0.00%\) have a row in "
                                   r"the sensitive data"),
    "sensitive join not unique": (_case_join_not_unique,
                                  r"id column 'person' must be unique: 1 id\(s\) occur more "
                                  r"than once, e.g. 1003"),
    "sensitive column in both files": (_case_in_both,
                                       r"column\(s\) 'sex' are in both the decisions and the "
                                       r"sensitive data"),
    "model features missing": (_case_model_features,
                               r"expects feature\(s\) that are not in the data: "
                               r"'bureau_score'"),
    "model classes not the target's": (_case_model_classes,
                                       r"predicts classes \['bad', 'good'\], but target "
                                       r"'repaid' holds \[0, 1\] after binarising"),
    "pickle model": (_case_pickle, r"is a pickle/joblib file.*never loads pickle"),
    "column mapped twice": (_case_mapped_twice,
                            r"column 'repaid' is mapped twice: as target and as prediction"),
    "target with three classes": (_case_three_classes,
                                  r"column 'repaid' \(target\) must be binary; found 3 "
                                  r"distinct values"),
    "unreachable SQL URL": (_case_sql,
                            r"could not connect to postgresql\+psycopg://auditor:\*\*\*@"
                            r"127.0.0.1:9/credit"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_nothing_is_stored(store: Store, frame: pd.DataFrame,
                                                     tmp_path: Path, case: str) -> None:
    make, message = BAD_INPUTS[case]
    register_system(store, SCIENTIST, "existing", _csv(frame, tmp_path / "ok.csv"),
                    **MAPPING)  # type: ignore[arg-type]
    arguments = {**MAPPING, **make(frame, tmp_path)}
    data = arguments.pop("data")
    before = _state(store)
    with pytest.raises(ValueError, match=message) as raised:
        register_system(store, SCIENTIST, "credit", data, **arguments)
    assert "s3cret" not in str(raised.value)
    assert _state(store) == before
