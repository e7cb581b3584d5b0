"""Data sets, models and audit runs: round trips, idempotence, validation, permissions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from db_support import (
    ADMIN,
    REVIEWER,
    SCIENTIST,
    SHA_A,
    SHA_B,
    SHA_C,
    add_dataset,
    row_counts,
)

from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.provenance import (
    MSG_BAD_FINAL_STATUS,
    MSG_MODEL_DATASET,
    MSG_RESULTS_REQUIRED,
    MSG_RUN_FINISHED,
    MSG_RUN_NOT_CREATED,
    MSG_UNKNOWN_DATASET,
    MSG_UNKNOWN_MODEL,
    MSG_UNKNOWN_RUN,
)
from audits.store.validation import (
    MSG_BAD_COUNT,
    MSG_BAD_ID,
    MSG_BAD_SHA256,
    MSG_EMPTY_TEXT,
    MSG_NOT_JSON_FIELD,
    MSG_NOT_NAMES,
    MSG_NOT_OBJECT,
)

DATASET: dict[str, Any] = {
    "name": "adult",
    "source": "datasets/adult.parquet",
    "sha256": SHA_A,
    "n_rows": 48842,
    "roles": {"target": "income", "sensitive_features": ["sex", "race"]},
    "card": "# Adult census income\n",
}


def _model(store: Store, dataset_id: Any, sha256: str = SHA_B, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "dataset_id": dataset_id,
        "kind": "logistic_regression",
        "sha256": sha256,
        "path": "models/lr.skops",
        "params": {"C": 1.0},
        "metrics": {"accuracy": 0.85},
        "feature_names": ["age", "hours_per_week"],
        "split": {"test_size": 0.3, "random_state": 0},
    }
    return store.record_model(SCIENTIST, **{**kwargs, **overrides})


def test_dataset_round_trip(store: Store) -> None:
    record = store.record_dataset(SCIENTIST, **DATASET)
    assert (record.name, record.sha256, record.n_rows) == ("adult", SHA_A, 48842)
    assert record.roles == DATASET["roles"] and record.card == "# Adult census income"
    assert record.created_by == "dana" and record.created_at.utcoffset() is not None
    assert store.get_dataset(record.id) == record
    assert store.list_datasets() == [record]
    assert store.get_dataset(record.id + 1) is None


def test_dataset_is_idempotent_on_name_and_hash(store: Store) -> None:
    first = store.record_dataset(SCIENTIST, **DATASET)
    before = row_counts(store)
    again = store.record_dataset(ADMIN, **{**DATASET, "sha256": SHA_A.upper(), "card": "new"})
    assert again == first
    assert row_counts(store) == before
    changed = store.record_dataset(SCIENTIST, **{**DATASET, "sha256": SHA_C})
    assert changed.id != first.id and len(store.list_datasets()) == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "  ", MSG_EMPTY_TEXT.format(field="name")),
        ("sha256", "abc", MSG_BAD_SHA256.format(field="sha256", value="abc")),
        ("n_rows", -1, MSG_BAD_COUNT.format(field="n_rows", value=-1)),
        ("n_rows", True, MSG_BAD_COUNT.format(field="n_rows", value=True)),
        ("roles", ["target"], MSG_NOT_OBJECT.format(field="roles", type="list")),
        ("roles", {1: "y"}, MSG_NOT_OBJECT.format(field="roles", type="dict")),
    ],
)
def test_dataset_validation_names_the_field(
    store: Store, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        store.record_dataset(SCIENTIST, **{**DATASET, field: value})
    assert str(info.value) == message
    assert row_counts(store)["datasets"] == 0 and row_counts(store)["audit_log"] == 0


def test_non_finite_json_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match=MSG_NOT_JSON_FIELD.split(":")[0].format(field="roles")):
        store.record_dataset(SCIENTIST, **{**DATASET, "roles": {"tau": math.nan}})


def test_model_round_trip_and_listing(store: Store) -> None:
    first, second = add_dataset(store), add_dataset(store, "compas", SHA_C)
    model = _model(store, first)
    assert model.feature_names == ("age", "hours_per_week") and model.metrics["accuracy"] == 0.85
    assert store.get_model(model.id) == model
    other = _model(store, second, sha256="d" * 64)
    assert store.list_models() == [model, other]
    assert store.list_models(dataset_id=second) == [other]


def test_model_is_idempotent_on_hash(store: Store) -> None:
    model = _model(store, add_dataset(store))
    before = row_counts(store)
    assert _model(store, model.dataset_id, path="elsewhere") == model
    assert row_counts(store) == before


def test_model_of_unknown_dataset_is_a_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match=MSG_UNKNOWN_DATASET.format(id=7)):
        _model(store, 7)
    assert row_counts(store)["models"] == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dataset_id", 0, MSG_BAD_ID.format(field="dataset_id", value=0)),
        ("feature_names", "age", MSG_NOT_NAMES.format(field="feature_names", problem="got str")),
        ("feature_names", ["a", "a"],
         MSG_NOT_NAMES.format(field="feature_names", problem="repeated ['a']")),
        ("metrics", None, MSG_NOT_OBJECT.format(field="metrics", type="NoneType")),
    ],
)
def test_model_validation_names_the_field(
    store: Store, field: str, value: object, message: str
) -> None:
    arguments: dict[str, Any] = {"dataset_id": add_dataset(store), field: value}
    with pytest.raises(ValueError) as info:
        _model(store, **arguments)
    assert str(info.value) == message
    assert row_counts(store)["models"] == 0


def test_audit_run_lifecycle(store: Store) -> None:
    dataset_id = add_dataset(store)
    model = _model(store, dataset_id)
    run = store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=model.id,
                                 config={"tau": 0.8, "reference_group": {"sex": "Male"}})
    assert (run.status, run.results, run.model_id) == ("created", None, model.id)
    running = store.start_audit_run(SCIENTIST, run.id)
    assert running.status == "running" and running.updated_at >= run.updated_at
    done = store.finish_audit_run(SCIENTIST, run.id, results={"selection_rate": {"F": 0.1}})
    assert done.status == "completed" and done.results == {"selection_rate": {"F": 0.1}}
    assert store.get_audit_run(run.id) == done
    assert store.list_audit_runs() == [done] and store.latest_audit_run() == done


def test_latest_audit_run_is_the_newest(store: Store) -> None:
    assert store.latest_audit_run() is None
    dataset_id = add_dataset(store)
    store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=None, config={})
    newest = store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=None, config={})
    assert store.latest_audit_run() == newest


def test_a_run_can_fail_without_results(store: Store) -> None:
    run = store.create_audit_run(SCIENTIST, dataset_id=add_dataset(store), model_id=None,
                                 config={})
    failed = store.finish_audit_run(SCIENTIST, run.id, results=None, status="failed")
    assert (failed.status, failed.results) == ("failed", None)


@pytest.mark.parametrize("final", ["completed", "failed"])
def test_a_finished_run_cannot_change(store: Store, final: str) -> None:
    run = store.create_audit_run(SCIENTIST, dataset_id=add_dataset(store), model_id=None,
                                 config={})
    store.finish_audit_run(SCIENTIST, run.id, results={"x": 1}, status=final)
    before = row_counts(store)
    with pytest.raises(ValueError, match=MSG_RUN_FINISHED.format(id=run.id, status=final)):
        store.finish_audit_run(SCIENTIST, run.id, results={"x": 2})
    with pytest.raises(ValueError, match=MSG_RUN_NOT_CREATED.format(id=run.id, status=final)):
        store.start_audit_run(SCIENTIST, run.id)
    assert row_counts(store) == before
    assert store.get_audit_run(run.id).results == {"x": 1}  # type: ignore[union-attr]


def test_finishing_an_unknown_run_is_a_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match=MSG_UNKNOWN_RUN.format(id=42)):
        store.finish_audit_run(SCIENTIST, 42, results={})
    with pytest.raises(LookupError, match=MSG_UNKNOWN_RUN.format(id=42)):
        store.start_audit_run(SCIENTIST, 42)


def test_finish_checks_status_and_results(store: Store) -> None:
    run = store.create_audit_run(SCIENTIST, dataset_id=add_dataset(store), model_id=None,
                                 config={})
    with pytest.raises(ValueError) as info:
        store.finish_audit_run(SCIENTIST, run.id, results={}, status="running")
    assert str(info.value) == MSG_BAD_FINAL_STATUS.format(
        choices=("completed", "failed"), status="running"
    )
    with pytest.raises(ValueError, match=MSG_RESULTS_REQUIRED):
        store.finish_audit_run(SCIENTIST, run.id, results=None)
    assert store.get_audit_run(run.id).status == "created"  # type: ignore[union-attr]


def test_audit_run_checks_its_dataset_and_model(store: Store) -> None:
    first, second = add_dataset(store), add_dataset(store, "compas", SHA_C)
    model = _model(store, first)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_DATASET.format(id=99)):
        store.create_audit_run(SCIENTIST, dataset_id=99, model_id=None, config={})
    with pytest.raises(LookupError, match=MSG_UNKNOWN_MODEL.format(id=99)):
        store.create_audit_run(SCIENTIST, dataset_id=first, model_id=99, config={})
    with pytest.raises(ValueError) as info:
        store.create_audit_run(SCIENTIST, dataset_id=second, model_id=model.id, config={})
    assert str(info.value) == MSG_MODEL_DATASET.format(
        model_id=model.id, actual=first, dataset_id=second
    )
    assert row_counts(store)["audit_runs"] == 0


WRITES: dict[str, Callable[[Store, Actor, int], object]] = {
    "record_dataset": lambda s, a, _: s.record_dataset(a, **{**DATASET, "sha256": SHA_C}),
    "record_model": lambda s, a, d: _model_as(s, a, d),
    "create_audit_run": lambda s, a, d: s.create_audit_run(a, dataset_id=d, model_id=None,
                                                           config={}),
    "start_audit_run": lambda s, a, _: s.start_audit_run(a, 1),
    "finish_audit_run": lambda s, a, _: s.finish_audit_run(a, 1, results={}),
}


def _model_as(store: Store, actor: Actor, dataset_id: int) -> object:
    return store.record_model(actor, dataset_id=dataset_id, kind="lr", sha256=SHA_B, path="p",
                              params={}, metrics={}, feature_names=[], split={})


@pytest.mark.parametrize("method", sorted(WRITES))
@pytest.mark.parametrize("role", [Role.REVIEWER, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER])
def test_roles_without_permission_write_nothing(store: Store, method: str, role: Role) -> None:
    dataset_id = add_dataset(store)
    store.create_audit_run(SCIENTIST, dataset_id=dataset_id, model_id=None, config={})
    before = row_counts(store)
    with pytest.raises(PermissionDenied, match="may not"):
        WRITES[method](store, Actor("someone", role), dataset_id)
    assert row_counts(store) == before


def test_reviewer_message_names_actor_and_action(store: Store) -> None:
    with pytest.raises(PermissionDenied, match="rita \\(role reviewer\\) may not register a"):
        store.record_dataset(REVIEWER, **DATASET)
