"""Registering a system's versions, sensitive data apart, and refusals that store nothing.

The decisions are a synthetic credit frame made here (2,000 rows); every refusal is
checked by its message and by the store's row counts and data folder, unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from db_support import row_counts
from sklearn.linear_model import LogisticRegression

from audits.data.datasets import load_dataset
from audits.data.schema import DataValidationError
from audits.fairness.stored import run_fairness_audit
from audits.roles import Actor, Role
from audits.store import SensitiveDataPurged, Store, data_dir
from audits.systems.registry import load_version, purge_sensitive, register_system
from audits.systems.sources import DataSource

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
COMPLIANCE = Actor("casey", Role.COMPLIANCE_OFFICER)
N = 2000


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store(database_url) as opened:
        yield opened


def credit(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    income = rng.gamma(4.0, 10.0, n) * np.where(sex == "male", 1.2, 1.0)
    repaid = (rng.random(n) < 1 / (1 + np.exp(2.0 - 0.06 * income))).astype(int)
    return pd.DataFrame({"applicant_id": np.arange(1000, 1000 + n), "income": income.round(1),
                         "debt": rng.gamma(2.0, 8.0, n).round(1), "sex": sex,
                         "age_band": rng.choice(["18-29", "30-44", "45+"], n),
                         "repaid": repaid, "approved": (income > 38).astype(int)})


def roles() -> dict[str, object]:
    return {"id": "applicant_id", "target": "repaid", "sensitive": ["sex", "age_band"],
            "prediction": "approved"}


def snapshot(store: Store) -> tuple[dict[str, int], int, set[str]]:
    files = {str(p.relative_to(data_dir())) for kind in ("data", "sensitive", "models")
             if (data_dir() / kind).is_dir() for p in (data_dir() / kind).iterdir()}
    return row_counts(store), len(store.list_systems()), files


def test_register_from_csv_then_same_and_changed_data(store: Store, tmp_path: Path) -> None:
    frame = credit()
    path = tmp_path / "decisions.csv"
    frame.to_csv(path, index=False)
    first = register_system(store, SCIENTIST, "credit", str(path), **roles())
    assert first.created and first.dataset.version == 1
    stored = data_dir() / str(first.dataset.data_path)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == first.dataset.sha256
    assert first.dataset.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = load_version(store, SCIENTIST, first.dataset)
    assert loaded.frame["applicant_id"].tolist() == frame["applicant_id"].tolist()
    assert loaded.frame["approved"].tolist() == frame["approved"].tolist()
    run1 = run_fairness_audit(store, SCIENTIST, first.dataset, None, n_boot=20)
    log_before = row_counts(store)["audit_log"]
    again = register_system(store, SCIENTIST, "credit", str(path), **roles())
    assert not again.created and again.dataset.id == first.dataset.id
    assert row_counts(store)["audit_log"] == log_before
    changed = frame.iloc[:-10]
    changed.to_csv(path, index=False)
    second = register_system(store, SCIENTIST, "credit", str(path), **roles())
    assert second.created and second.dataset.version == 2
    assert [v.version for v in store.system_versions("credit")] == [1, 2]
    kept = store.get_audit_run(run1.id)
    assert kept is not None and kept.dataset_id == first.dataset.id
    assert kept.results["rows"] == N


def test_sensitive_data_apart_match_counts_and_min_match(store: Store, tmp_path: Path) -> None:
    frame = credit()
    decisions, apart = tmp_path / "decisions.csv", tmp_path / "demographics.csv"
    frame.drop(columns=["sex", "age_band"]).to_csv(decisions, index=False)
    sensitive = frame[["applicant_id", "sex", "age_band"]].rename(
        columns={"applicant_id": "person"})
    missing = sensitive.iloc[40:].reset_index(drop=True)  # 40 of 2,000 unmatched: 98%
    missing.to_csv(apart, index=False)
    before = snapshot(store)
    with pytest.raises(DataValidationError) as refused:
        register_system(store, SCIENTIST, "credit", str(decisions), **roles(),
                        sensitive_data=str(apart), join="person")
    message = str(refused.value)
    assert "1,960 of the 2,000 decisions (98.00%)" in message and "min_match" in message
    assert snapshot(store) == before
    done = register_system(store, SCIENTIST, "credit", str(decisions), **roles(),
                           sensitive_data=str(apart), join="person", min_match=0.9)
    facts = done.dataset.sensitive
    assert facts is not None
    assert (facts["n_matched"], facts["n_unmatched_data"], facts["n_unmatched_sensitive"]) \
        == (1960, 40, 0)
    assert facts["match_rate"] == pytest.approx(0.98)
    stored = data_dir() / str(facts["path"])
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == facts["sha256"]
    loaded = load_version(store, SCIENTIST, done.dataset)
    assert (loaded.frame["sex"].astype(str) == "(missing)").sum() == 40
    assert loaded.frame["sex"].astype(str).iloc[50] == frame["sex"].iloc[50]
    purged = purge_sensitive(store, COMPLIANCE, "credit", "retention period over")
    assert [v.version for v in purged] == [1] and not stored.exists()
    with pytest.raises(SensitiveDataPurged, match="were purged"):
        run_fairness_audit(store, SCIENTIST, done.dataset, None, n_boot=20)


def test_refusals_name_the_problem_and_store_nothing(store: Store, tmp_path: Path) -> None:
    frame = credit()
    before = snapshot(store)

    def refused(data: pd.DataFrame | DataSource | str, match: str, **changes: object) -> None:
        if isinstance(data, pd.DataFrame):
            path = tmp_path / "bad.csv"
            data.to_csv(path, index=False)
            data = str(path)
        with pytest.raises((ValueError, TypeError), match=match):
            register_system(store, SCIENTIST, "credit", data, **{**roles(), **changes})
        assert snapshot(store) == before

    dup = frame.copy()
    dup.loc[5, "applicant_id"] = dup.loc[4, "applicant_id"]
    refused(dup, "applicant_id")
    apart = tmp_path / "other-ids.csv"
    frame[["applicant_id", "sex"]].assign(applicant_id=lambda f: f["applicant_id"] + 10**6) \
        .to_csv(apart, index=False)
    refused(frame.drop(columns=["sex"]), r"only 0 of the 2,000 decisions",
            sensitive_data=str(apart))
    refused(frame.assign(sex_again=frame["sex"]), "mapped twice",
            sensitive=["sex", "sex"])
    three = frame.assign(repaid=np.arange(N) % 3)
    refused(three, "repaid")
    refused(DataSource(url=f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}", table="t"),
            "could not connect|does not exist")
    model_path = tmp_path / "model.skops"
    other = pd.DataFrame({"salary": frame["income"], "debt": frame["debt"]})
    sio.dump(LogisticRegression().fit(other, frame["repaid"]), model_path)
    refused(frame, "salary", model=str(model_path))
    labels = np.where(frame["repaid"] == 1, "yes", "no")
    sio.dump(LogisticRegression().fit(frame[["income", "debt"]], labels), model_path)
    refused(frame, r"classes \['no', 'yes'\]", model=str(model_path))


def test_a_record_from_before_systems_loads_only_if_it_is_a_bundled_dataset(
        store: Store) -> None:
    bundled = load_dataset("german_credit")
    legacy = store.record_dataset(SCIENTIST, name="german_credit", source="bundled",
                                  sha256=bundled.sha256, n_rows=len(bundled.frame),
                                  roles=bundled.roles.as_dict(), card=bundled.card)
    assert legacy.data_path is None
    loaded = load_version(store, SCIENTIST, legacy)
    assert loaded.sha256 == bundled.sha256 and loaded.frame.equals(bundled.frame)
    other = store.record_dataset(SCIENTIST, name="loans", source="upload", sha256="ab" * 32,
                                 n_rows=10, roles={"target": "y"}, card="")
    with pytest.raises(ValueError, match=r"dataset 'loans' \(id \d+\) was registered before "
                                         r"systems kept a copy of their data"):
        load_version(store, SCIENTIST, other)
    changed = store.record_dataset(SCIENTIST, name="german_credit", source="bundled",
                                   sha256="cd" * 32, n_rows=1000, roles={}, card="")
    with pytest.raises(ValueError, match="no longer matches what was registered"):
        load_version(store, SCIENTIST, changed)
