"""Systems and their versions: registration in one transaction, idempotence, version
numbers, sensitive data behind a permission, purging, and the 0008 migration."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from db_support import ADMIN, REVIEWER, SCIENTIST, SHA_A, SHA_B, SHA_C, Database, row_counts
from sqlalchemy import func, inspect, select, text, update

from audits.roles import Actor, PermissionDenied, Role
from audits.store import (
    ModelInput,
    RegisteredVersion,
    SensitiveDataPurged,
    Store,
    SystemInput,
    VersionInput,
)
from audits.store import systems as systems_module
from audits.store.db import alembic_config, make_engine
from audits.store.log import append_entry
from audits.store.provenance import MSG_UNKNOWN_DATASET
from audits.store.systems import (
    MSG_BAD_STORED_PATH,
    MSG_BAD_SYSTEM_NAME,
    MSG_NOTHING_TO_PURGE,
    MSG_SENSITIVE_KEY,
    MSG_UNKNOWN_SYSTEM,
)
from audits.store.tables import System, User
from audits.store.validation import MSG_BAD_SHA256

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
LEAD = Actor("lena", Role.PANEL_LEAD)
SHA_D, SHA_E = "d" * 64, "e" * 64
ROLES = {"id": "applicant_id", "target": "repaid", "prediction": "approved",
         "sensitive": ["sex"]}
CREDIT = SystemInput("credit", description="Loan approvals", intended_use="consumer credit",
                     owner="risk team")
SPLIT = {"method": "none: every row of the version is a decision to audit"}


def _sensitive(sha: str = SHA_C, **extra: Any) -> dict[str, Any]:
    return {"path": f"sensitive/{sha}.parquet", "sha256": sha, "columns": ["sex"],
            "join": "applicant_id", "n_matched": 99, "n_unmatched_data": 1,
            "n_unmatched_sensitive": 0, "match_rate": 0.99,
            "source": "postgresql://ada:***@db/hr table people", **extra}


def _version(sha: str = SHA_A, **changes: Any) -> VersionInput:
    base = VersionInput(source="loans.csv", sha256=sha, n_rows=100, roles=dict(ROLES),
                        card="# credit\n", card_data={"n_rows": 100},
                        data_path=f"data/{sha}.parquet", source_sha256=SHA_E)
    return replace(base, **changes)


def _model(sha: str = SHA_B, **changes: Any) -> ModelInput:
    base = ModelInput(kind="uploaded", sha256=sha, path=f"models/{sha}.skops", params={},
                      metrics={}, feature_names=["income", "age"], split=dict(SPLIT))
    return replace(base, **changes)


def _n_systems(store: Store) -> int:
    with store.engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(System)) or 0
        conn.rollback()
    return n


def _actions(store: Store) -> list[str]:
    return [e.action for e in store.log_entries(newest_first=False)
            if not e.actor.startswith("system:signing")]


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data folder of this test's own, holding one sensitive file per sha."""
    folder = tmp_path / "home"
    monkeypatch.setenv("FAIRPANEL_HOME", str(folder))
    (folder / "sensitive").mkdir(parents=True)
    for sha in (SHA_C, SHA_D):
        (folder / "sensitive" / f"{sha}.parquet").write_bytes(sha.encode())
    return folder


def test_register_creates_the_system_its_first_version_and_model(store: Store) -> None:
    made = store.register_system_version(SCIENTIST, CREDIT, _version(sensitive=_sensitive()),
                                         _model())
    assert isinstance(made, RegisteredVersion) and made.created
    system, dataset, model = made.system, made.dataset, made.model
    assert (system.name, system.description, system.intended_use, system.owner,
            system.positive_is_favourable, system.created_by) == (
        "credit", "Loan approvals", "consumer credit", "risk team", True, "dana")
    assert (dataset.name, dataset.source, dataset.sha256, dataset.n_rows, dataset.version,
            dataset.system_id, dataset.data_path, dataset.source_sha256) == (
        "credit", "loans.csv", SHA_A, 100, 1, system.id, f"data/{SHA_A}.parquet", SHA_E)
    assert dataset.roles == ROLES and dataset.card_data == {"n_rows": 100}
    assert dataset.sensitive == _sensitive() and dataset.sensitive_purged_at is None
    assert model is not None
    assert (model.dataset_id, model.kind, model.sha256, model.split, model.status) == (
        dataset.id, "uploaded", SHA_B, SPLIT, "deployed")
    assert _actions(store) == ["register_system", "record_dataset", "record_model"]
    logged = store.log_entries(newest_first=False)[1].payload
    assert (logged["system"], logged["version"], logged["sha256"], logged["n_rows"],
            logged["data_path"]) == ("credit", 1, SHA_A, 100, f"data/{SHA_A}.parquet")
    assert (logged["sensitive"]["sha256"], logged["sensitive"]["n_matched"],
            logged["sensitive"]["match_rate"]) == (SHA_C, 99, 0.99)
    assert store.get_system("credit") == system and store.list_systems() == [system]
    assert store.get_dataset(dataset.id) == dataset and store.get_model(model.id) == model
    assert store.system_of(dataset.id) == system
    assert store.verify_log().ok


def test_the_same_content_again_is_found_and_writes_nothing(store: Store) -> None:
    first = store.register_system_version(SCIENTIST, CREDIT, _version(sensitive=_sensitive()),
                                          _model())
    before, log_before = row_counts(store), store.log_head()
    again = store.register_system_version(ADMIN, replace(CREDIT, description=""),
                                          _version(sensitive=_sensitive()), _model())
    assert again == replace(first, created=False)
    assert row_counts(store) == before and store.log_head() == log_before
    assert _n_systems(store) == 1 and store.verify_log().ok


def test_new_content_makes_the_next_version(store: Store) -> None:
    v1 = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_A)).dataset
    v2 = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_B)).dataset
    # Same data, other roles; then same data and roles with separate sensitive data.
    v3 = store.register_system_version(SCIENTIST, CREDIT,
                                       _version(SHA_A, roles={**ROLES, "target": "late"})).dataset
    v4 = store.register_system_version(SCIENTIST, CREDIT,
                                       _version(SHA_A, sensitive=_sensitive())).dataset
    other = store.register_system_version(SCIENTIST, SystemInput("hiring"), _version(SHA_A))
    assert [v.version for v in (v1, v2, v3, v4)] == [1, 2, 3, 4]
    assert [v.id for v in store.system_versions("credit")] == [v1.id, v2.id, v3.id, v4.id]
    assert store.latest_version("credit") == v4
    assert (other.dataset.version, other.created) == (1, True)
    assert [s.name for s in store.list_systems()] == ["credit", "hiring"]
    assert store.system_of(other.dataset.id) == other.system
    assert _actions(store).count("record_dataset") == 5
    assert store.verify_log().ok


def test_one_model_file_serves_several_versions_once_each(store: Store) -> None:
    a = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_A), _model())
    b = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_C), _model())
    again = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_C), _model())
    assert a.model is not None and b.model is not None
    assert a.model.id != b.model.id and b.model.dataset_id == b.dataset.id
    assert (again.created, again.model) == (False, b.model)
    # A new model file for an existing version is stored; the version is not repeated.
    newer = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_C), _model(SHA_D))
    assert newer.created and newer.dataset == b.dataset and newer.model is not None
    assert [m.sha256 for m in store.list_models(b.dataset.id)] == [SHA_B, SHA_D]
    assert store.verify_log().ok


def test_changed_metadata_are_updated_and_logged(store: Store) -> None:
    store.register_system_version(SCIENTIST, CREDIT, _version())
    made = store.register_system_version(
        SCIENTIST, SystemInput("credit", description="Loan approvals, 2027",
                               positive_is_favourable=False), _version())
    assert not made.created
    assert (made.system.description, made.system.intended_use, made.system.owner,
            made.system.positive_is_favourable) == (
        "Loan approvals, 2027", "consumer credit", "risk team", False)
    entry = store.log_entries(limit=1)[0]
    assert entry.action == "update_system"
    assert entry.payload == {"system": "credit", "changes": {
        "description": {"old": "Loan approvals", "new": "Loan approvals, 2027"},
        "positive_is_favourable": {"old": True, "new": False}}}
    assert store.get_system("credit") == made.system and store.verify_log().ok


def test_a_failure_inside_the_transaction_stores_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, log_before = row_counts(store), store.log_head()
    real = append_entry

    def failing(*args: Any, **kwargs: Any) -> Any:
        if kwargs["action"] == "record_model":
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(systems_module, "append_entry", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        store.register_system_version(SCIENTIST, CREDIT, _version(), _model())
    assert row_counts(store) == before and store.log_head() == log_before
    assert _n_systems(store) == 0 and store.get_system("credit") is None


def test_a_bad_model_sha256_stores_no_system_and_no_dataset(store: Store) -> None:
    before = row_counts(store)
    with pytest.raises(ValueError, match=re.escape(
            MSG_BAD_SHA256.format(field="model sha256", value="nope"))):
        store.register_system_version(SCIENTIST, CREDIT, _version(), _model("nope"))
    assert row_counts(store) == before and _n_systems(store) == 0


@pytest.mark.parametrize("name", ["", "-credit", ".x", "two words", "x" * 101, "crédit",
                                  "a/b", "credit\n"])
def test_bad_system_names_are_refused_by_name(store: Store, name: str) -> None:
    with pytest.raises(ValueError) as info:
        store.register_system_version(SCIENTIST, SystemInput(name), _version())
    assert str(info.value) == MSG_BAD_SYSTEM_NAME.format(name=name)
    assert _n_systems(store) == 0


def test_a_long_valid_name_is_accepted(store: Store) -> None:
    name = "C" + "r_e-d.i" * 14 + "t"
    assert store.register_system_version(SCIENTIST, SystemInput(name), _version()).system.name \
        == name


@pytest.mark.parametrize("path", ["/srv/data/x.parquet", "data/../keys/x", "x.parquet",
                                  "data", "data/", "sensitive/x.parquet", "data\\x.parquet",
                                  "./data/x.parquet", "C:/data/x"])
def test_a_data_path_outside_data_is_refused(store: Store, path: str) -> None:
    with pytest.raises(ValueError) as info:
        store.register_system_version(SCIENTIST, CREDIT, _version(data_path=path))
    assert str(info.value) == MSG_BAD_STORED_PATH.format(field="data_path", folder="data",
                                                         value=path)
    assert row_counts(store)["datasets"] == 0


@pytest.mark.parametrize("path", ["/tmp/s.parquet", "sensitive/../../s", "data/s.parquet"])
def test_a_sensitive_path_outside_sensitive_is_refused(store: Store, path: str) -> None:
    with pytest.raises(ValueError) as info:
        store.register_system_version(SCIENTIST, CREDIT,
                                      _version(sensitive=_sensitive(path=path)))
    assert str(info.value) == MSG_BAD_STORED_PATH.format(field="sensitive.path",
                                                         folder="sensitive", value=path)


def test_sensitive_data_must_say_how_they_join(store: Store) -> None:
    bad = {k: v for k, v in _sensitive().items() if k != "join"}
    with pytest.raises(ValueError, match=re.escape(
            MSG_SENSITIVE_KEY.format(key="join", keys=sorted(bad)))):
        store.register_system_version(SCIENTIST, CREDIT, _version(sensitive=bad))


@pytest.mark.parametrize("actor", [REVIEWER, LEAD, CASEY])
def test_only_dataset_registrars_register_a_system(store: Store, actor: Actor) -> None:
    with pytest.raises(PermissionDenied, match="may not register a dataset"):
        store.register_system_version(actor, CREDIT, _version())
    assert _n_systems(store) == 0 and row_counts(store)["audit_log"] == 0


def test_sensitive_path_is_for_those_who_may_read_sensitive_data(
    store: Store, home: Path
) -> None:
    with_sensitive = store.register_system_version(
        SCIENTIST, CREDIT, _version(sensitive=_sensitive())).dataset
    without = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_B)).dataset
    for actor in (REVIEWER, LEAD):
        with pytest.raises(PermissionDenied, match="may not read sensitive data"):
            store.sensitive_path(actor, with_sensitive.id)
    for actor in (SCIENTIST, CASEY, ADMIN):
        path = store.sensitive_path(actor, with_sensitive.id)
        assert path == home / "sensitive" / f"{SHA_C}.parquet" and path.read_bytes()
    assert store.sensitive_path(SCIENTIST, without.id) is None
    with pytest.raises(LookupError, match=MSG_UNKNOWN_DATASET.format(id=99)):
        store.sensitive_path(SCIENTIST, 99)


def test_purge_deletes_the_files_marks_the_versions_and_logs_once(
    store: Store, home: Path
) -> None:
    v1 = store.register_system_version(SCIENTIST, CREDIT,
                                       _version(SHA_A, sensitive=_sensitive(SHA_C))).dataset
    # Two versions share one sensitive file; a third has its own; a fourth has none.
    v2 = store.register_system_version(SCIENTIST, CREDIT,
                                       _version(SHA_B, sensitive=_sensitive(SHA_C))).dataset
    v3 = store.register_system_version(SCIENTIST, CREDIT,
                                       _version(SHA_E, sensitive=_sensitive(SHA_D))).dataset
    store.register_system_version(SCIENTIST, CREDIT, _version(SHA_C))
    (home / "sensitive" / f"{SHA_D}.parquet").unlink()  # already gone: no error
    with pytest.raises(PermissionDenied, match="may not purge sensitive data"):
        store.purge_sensitive(SCIENTIST, "credit", "retention period over")
    with pytest.raises(ValueError, match="reason must not be empty"):
        store.purge_sensitive(CASEY, "credit", "  ")
    purged = store.purge_sensitive(CASEY, "credit", "retention period over")
    assert [d.id for d in purged] == [v1.id, v2.id, v3.id]
    assert {(d.sensitive_purged_by, d.sensitive_purged_at is not None) for d in purged} == {
        ("casey", True)}
    assert not list((home / "sensitive").iterdir())
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.entity) == ("purge_sensitive", "casey", "system")
    assert entry.payload == {"system": "credit", "versions": [1, 2, 3],
                             "sha256s": [SHA_C, SHA_D], "reason": "retention period over"}
    assert store.system_versions("credit")[:3] == purged
    with pytest.raises(ValueError) as info:
        store.purge_sensitive(ADMIN, "credit", "again")
    assert str(info.value) == MSG_NOTHING_TO_PURGE.format(name="credit")
    assert store.verify_log().ok


def test_a_purged_version_says_who_purged_it_and_when(store: Store, home: Path) -> None:
    version = store.register_system_version(SCIENTIST, CREDIT,
                                            _version(sensitive=_sensitive())).dataset
    store.purge_sensitive(CASEY, "credit", "subject asked for erasure")
    with pytest.raises(SensitiveDataPurged) as info:
        store.sensitive_path(SCIENTIST, version.id)
    today = datetime.now(UTC).date().isoformat()
    assert str(info.value) == (
        f"the sensitive data of system 'credit' (version 1) were purged on {today} by casey: "
        "audits that need them cannot run; register the sensitive data again to audit this "
        "system")
    assert isinstance(info.value, ValueError)
    assert (info.value.system, info.value.version, info.value.purged_by) == ("credit", 1, "casey")


def test_registering_purged_sensitive_data_again_makes_a_new_version(
    store: Store, home: Path
) -> None:
    store.register_system_version(SCIENTIST, CREDIT, _version(sensitive=_sensitive()))
    store.purge_sensitive(CASEY, "credit", "erasure")
    (home / "sensitive" / f"{SHA_C}.parquet").write_bytes(b"again")
    made = store.register_system_version(SCIENTIST, CREDIT, _version(sensitive=_sensitive()))
    assert made.created and made.dataset.version == 2 and made.dataset.sha256 == SHA_A
    assert store.sensitive_path(SCIENTIST, made.dataset.id) == (
        home / "sensitive" / f"{SHA_C}.parquet")
    assert store.verify_log().ok


def test_purge_keeps_a_file_another_system_still_uses(store: Store, home: Path) -> None:
    store.register_system_version(SCIENTIST, CREDIT, _version(sensitive=_sensitive()))
    hiring = store.register_system_version(SCIENTIST, SystemInput("hiring"),
                                           _version(sensitive=_sensitive())).dataset
    store.purge_sensitive(CASEY, "credit", "erasure")
    assert store.sensitive_path(CASEY, hiring.id).is_file()  # type: ignore[union-attr]


def test_purge_needs_sensitive_data_and_a_known_system(store: Store, home: Path) -> None:
    store.register_system_version(SCIENTIST, CREDIT, _version())
    with pytest.raises(ValueError, match=re.escape(MSG_NOTHING_TO_PURGE.format(name="credit"))):
        store.purge_sensitive(CASEY, "credit", "erasure")
    with pytest.raises(LookupError, match=re.escape(
            MSG_UNKNOWN_SYSTEM.format(name="loans", known="credit"))):
        store.purge_sensitive(CASEY, "loans", "erasure")
    assert _actions(store) == ["register_system", "record_dataset"]


def test_unknown_systems_are_lookup_errors_naming_the_known_ones(store: Store) -> None:
    with pytest.raises(LookupError, match=re.escape(
            MSG_UNKNOWN_SYSTEM.format(name="credit", known="none"))):
        store.latest_version("credit")
    store.register_system_version(SCIENTIST, SystemInput("hiring"), _version())
    store.register_system_version(SCIENTIST, SystemInput("credit"), _version())
    with pytest.raises(LookupError, match=re.escape(
            MSG_UNKNOWN_SYSTEM.format(name="loans", known="credit, hiring"))):
        store.system_versions("loans")
    assert store.get_system("loans") is None
    legacy = store.record_dataset(SCIENTIST, name="adult", source="bundled", sha256=SHA_D,
                                  n_rows=1, roles={}, card="")
    assert store.system_of(legacy.id) is None and legacy.version is None


def test_an_imported_annotator_never_signs_in(store: Store) -> None:
    store.add_user(ADMIN, "ext.ann", "reviewer", password="correct horse")
    with store.engine.begin() as conn:
        conn.execute(update(User).where(User.username == "ext.ann").values(imported=True))
    assert store.get_user("ext.ann").imported  # type: ignore[union-attr]
    assert store.authenticate("ext.ann", "correct horse") is None
    assert store.log_entries(limit=1)[0].payload["reason"] == "imported_account"
    assert store.record_sign_in("ext.ann", method="oidc") is None
    assert store.log_entries(limit=1)[0].payload["reason"] == "imported_account"


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def _insert_0007_rows(url: str) -> None:
    engine = make_engine(url)
    stamp = "2026-01-01T00:00:00+00:00"
    try:
        with engine.begin() as conn:
            for name, sha in (("adult", SHA_A), ("german", SHA_B)):
                conn.execute(text(
                    "INSERT INTO datasets (name, source, sha256, n_rows, roles_json, card,"
                    " created_at, created_by) VALUES (:n, 'bundled', :h, 10, '{}', '', :t,"
                    " 'dana')"), {"n": name, "h": sha, "t": stamp})
            conn.execute(text(
                "INSERT INTO models (dataset_id, kind, sha256, path, params_json, metrics_json,"
                " feature_names_json, split_json, created_at, created_by) VALUES (2, 'lr', :h,"
                " 'm.skops', '{}', '{}', '[\"age\"]', '{}', :t, 'dana')"), {"h": SHA_C, "t": stamp})
            conn.execute(text(
                "INSERT INTO audit_runs (dataset_id, model_id, config_json, status, created_by,"
                " created_at, updated_at) VALUES (2, 1, '{}', 'created', 'dana', :t, :t)"),
                {"t": stamp})
    finally:
        engine.dispose()


def test_upgrade_from_0007_keeps_data_sets_models_and_runs(database: Database) -> None:
    _migrate(database.url, "0007")
    _insert_0007_rows(database.url)
    store = database.open()  # migrates to the head, rebuilding referenced tables
    assert [(d.id, d.name, d.system_id, d.version) for d in store.list_datasets()] == [
        (1, "adult", None, None), (2, "german", None, None)]
    model = store.get_model(1)
    assert model is not None and model.dataset_id == 2 and model.sha256 == SHA_C
    assert store.get_audit_run(1).model_id == 1
    assert store.list_users() == [] and store.list_systems() == []
    # The same model file may now serve another data set; ids continue after the old.
    made = store.register_system_version(SCIENTIST, CREDIT, _version(SHA_A), _model(SHA_C))
    assert made.dataset.id == 3 and made.model is not None and made.model.id == 2
    engine = make_engine(database.url)
    try:
        foreign = {fk["referred_table"] for fk in inspect(engine).get_foreign_keys("audit_runs")}
        assert foreign == {"datasets", "models"}
    finally:
        engine.dispose()
    assert store.verify_log().ok


def test_downgrade_to_0007_drops_systems_unless_duplicates_remain(database: Database) -> None:
    store = database.open()
    store.register_system_version(SCIENTIST, CREDIT, _version(SHA_A), _model(SHA_B))
    store.register_system_version(SCIENTIST, CREDIT, _version(SHA_C), _model(SHA_B))
    with pytest.raises(RuntimeError, match="two models share a sha256"):
        _migrate(database.url, "0007", down=True)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM models WHERE id = 2"))
    _migrate(database.url, "0007", down=True)
    engine = make_engine(database.url)
    try:
        names = inspect(engine).get_table_names()
        columns = {c["name"] for c in inspect(engine).get_columns("datasets")}
        user_columns = {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
    assert "systems" not in names and "system_id" not in columns
    assert "imported" not in user_columns
    again = database.open()  # up to the head again
    assert [d.version for d in again.list_datasets()] == [None, None]
    assert again.verify_log().ok
