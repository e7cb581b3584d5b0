"""The bundled default: a dataset, a trained default model and a first audit run.

``fairpanel demo`` and the dashboard's first run call :func:`ensure_demo`, which is
idempotent: it prepares what is missing and returns what is already stored. The bundled
dataset is registered as a system like any other (:func:`register_bundled`, through
:func:`audits.systems.registry.register_system`): its frame is copied into the store as
Parquet with a ``row_id`` column as the decisions' id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from audits.data.datasets import BUNDLED, LoadedDataset, load_dataset
from audits.fairness.counts import group_counts
from audits.models.training import (
    TrainedModel,
    held_out_decisions,
    predict_decisions,
    save_model,
    train_default_model,
)
from audits.roles import Actor, Role
from audits.store import (
    AuditRunRecord,
    DatasetRecord,
    ModelRecord,
    RegisteredVersion,
    Store,
    data_dir,
)
from audits.systems.registry import register_system
from audits.versions import library_versions

__all__ = ["DEFAULT_DECISION", "DEMO_PERSONAS", "ROW_ID", "DemoState", "Persona", "ensure_demo",
           "register_bundled"]

#: The id column added to a bundled dataset when it is registered as a system.
ROW_ID = "row_id"
#: The prediction column of a bundled dataset decided by the default model.
DEFAULT_DECISION = "default_model_decision"
MSG_NO_DECISIONS = (
    "bundled dataset {name!r} has no logged decisions: give the default model's decisions"
)

Progress = Callable[[float, str], None]

DEFAULT_DATASET = "adult"
MSG_UNKNOWN = "FAIRPANEL_DEMO_DATASET={name!r} is not a bundled dataset; choose one of: {choices}"


@dataclass(frozen=True)
class Persona:
    """A demo user: one per role, no password, clearly labelled as a demo."""

    username: str
    role: Role
    display_name: str
    blurb: str


DEMO_PERSONAS: tuple[Persona, ...] = (
    Persona("demo-data-scientist", Role.DATA_SCIENTIST, "Dana (data scientist)",
            "Loads decisions and models, explores metrics and explanations."),
    Persona("demo-reviewer", Role.REVIEWER, "Riley (reviewer)",
            "Works a personal queue of flagged decisions, blind to other reviewers."),
    Persona("demo-panel-lead", Role.PANEL_LEAD, "Pat (panel lead)",
            "Runs the panel: reviewers, assignment rules, adjudication."),
    Persona("demo-compliance", Role.COMPLIANCE_OFFICER, "Casey (compliance officer)",
            "Reads audit reports and the audit log; signs off or sends back."),
    Persona("demo-admin", Role.ADMIN, "Alex (admin)",
            "Manages users and the deployment."),
)


@dataclass(frozen=True)
class DemoState:
    """What the demo stored: the dataset, the model (None for logged decisions), the run."""

    dataset: DatasetRecord
    model: ModelRecord | None
    audit_run: AuditRunRecord


def ensure_demo(
    store: Store,
    *,
    dataset: str | None = None,
    kind: str = "gradient_boosting",
    random_state: int = 0,
    progress: Progress | None = None,
) -> DemoState:
    """Prepare the bundled default in ``store`` unless it is already there.

    Parameters
    ----------
    store : Store
        Where to record the dataset, model, audit run and demo personas.
    dataset : str or None, default None
        A bundled dataset name; ``None`` reads ``FAIRPANEL_DEMO_DATASET`` (default adult).
        Datasets that carry logged decisions (compas, synthetic) are audited as they are,
        with no model of ours.
    kind : {"gradient_boosting", "logistic_regression"}, default "gradient_boosting"
        The default model's kind.
    random_state : int, default 0
        Seed of the train/held-out split and of the model.
    progress : callable (fraction, message) or None
        Called as the preparation advances.

    Returns
    -------
    DemoState
    """
    report = progress or (lambda fraction, message: None)
    name = dataset or os.environ.get("FAIRPANEL_DEMO_DATASET", DEFAULT_DATASET)
    if name not in BUNDLED:
        raise ValueError(MSG_UNKNOWN.format(name=name, choices=", ".join(BUNDLED)))
    _ensure_personas(store)
    report(0.02, f"Loading the bundled dataset {name!r}")
    loaded = load_dataset(name, random_state=random_state)
    existing = _find_demo_run(store, loaded.sha256)
    if existing is not None:
        report(1.0, "Demo already prepared")
        return existing
    actor = Actor(DEMO_PERSONAS[0].username, Role.DATA_SCIENTIST)
    if loaded.roles.prediction is not None:
        ds = register_bundled(store, actor, loaded).dataset
        model, results = None, _logged_results(loaded, loaded.roles.prediction)
    else:
        ds, model, results = _train_and_score(store, actor, loaded, kind, random_state, report)
    report(0.9, "Recording the first audit run")
    config = {
        "demo": True, "dataset": loaded.name, "dataset_sha256": ds.sha256,
        "bundled_sha256": loaded.sha256,
        "model_sha256": model.sha256 if model else None,
        "decisions": "held-out split of the default model" if model else "logged decisions",
        "sensitive_features": list(loaded.roles.sensitive_features),
        "random_state": random_state, "library_versions": library_versions(),
    }
    run = store.create_audit_run(actor, dataset_id=ds.id, model_id=model.id if model else None,
                                 config=config)
    run = store.finish_audit_run(actor, run.id, results=results)
    report(1.0, "Demo ready")
    return DemoState(dataset=ds, model=model, audit_run=run)


def register_bundled(store: Store, actor: Actor, loaded: LoadedDataset, *,
                     decisions: npt.NDArray[Any] | None = None) -> RegisteredVersion:
    """Register a loaded bundled dataset as the system of its name (idempotent).

    The frame, with a ``row_id`` column (0 to n - 1) as the id, is copied into the
    store as Parquet, in the same column and row order, so the registered version loads
    back as the frame a model was trained on; the bundled card is the version's card.
    A dataset with no logged decisions (adult, german_credit) takes ``decisions``, the
    default model's 0/1 decision on every row, as its prediction column
    ``default_model_decision``.
    """
    info = BUNDLED[loaded.name]
    roles = loaded.roles
    frame = loaded.frame.assign(**{ROW_ID: np.arange(len(loaded.frame), dtype=np.int64)})
    prediction = roles.prediction
    if prediction is None:
        if decisions is None:
            raise ValueError(MSG_NO_DECISIONS.format(name=loaded.name))
        prediction = DEFAULT_DECISION
        frame[prediction] = np.asarray(decisions, dtype=np.int8)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return register_system(
        store, actor, loaded.name, table, id=ROW_ID, target=roles.target,
        sensitive=list(roles.sensitive_features),
        prediction=prediction,
        score=roles.score, features=list(roles.features),
        description=f"{info.title}. {info.description}",
        intended_use="Bundled example data for trying fairpanel.",
        adverse=not info.positive_is_favourable, card=loaded.card, source=loaded.source,
        outcome_label=roles.positive_label)


def _ensure_personas(store: Store) -> None:
    # Never on a store with real users: the personas sign in without a password.
    store.check_demo_store()
    system = Actor.system()
    for persona in DEMO_PERSONAS:
        if store.get_user(persona.username) is None:
            store.add_user(system, persona.username, persona.role,
                           display_name=persona.display_name, demo=True)


def _find_demo_run(store: Store, sha256: str) -> DemoState | None:
    for run in store.list_audit_runs():
        config = run.config or {}
        found = config.get("bundled_sha256", config.get("dataset_sha256"))
        if config.get("demo") and found == sha256 and (
            run.status == "completed"
        ):
            ds = store.get_dataset(run.dataset_id)
            model = store.get_model(run.model_id) if run.model_id is not None else None
            if ds is not None:
                return DemoState(dataset=ds, model=model, audit_run=run)
    return None


def _train_and_score(
    store: Store, actor: Actor, loaded: LoadedDataset, kind: str, random_state: int,
    report: Progress,
) -> tuple[DatasetRecord, ModelRecord, dict[str, Any]]:
    def sub(fraction: float, message: str) -> None:
        report(0.05 + 0.75 * fraction, f"Training the default model: {message}")

    trained = train_default_model(loaded.frame, loaded.roles, kind=kind,
                                  random_state=random_state, progress=sub)
    report(0.82, "Saving the model (skops)")
    models = data_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    path = models / f"{loaded.name}-{kind}-seed{random_state}.skops"
    sha = save_model(trained.pipeline, path)
    report(0.85, "Registering the dataset with the default model's decisions")
    decided = predict_decisions(trained.pipeline, loaded.frame, features=trained.features,
                                threshold=trained.threshold)["y_pred"].to_numpy()
    ds = register_bundled(store, actor, loaded, decisions=decided).dataset
    model = store.record_model(
        actor, dataset_id=ds.id, kind=kind, sha256=sha, path=str(path),
        params=dict(trained.params), metrics=dict(trained.metrics),
        feature_names=list(trained.features), split=_split(trained),
    )
    return ds, model, _model_results(loaded, trained)


def _split(trained: TrainedModel) -> dict[str, Any]:
    return {"method": "stratified random split", "random_state": trained.random_state,
            "n_train": len(trained.train_rows), "n_test": len(trained.test_rows),
            "test_size": len(trained.test_rows) / (len(trained.train_rows)
                                                   + len(trained.test_rows))}


def _model_results(loaded: LoadedDataset, trained: TrainedModel) -> dict[str, Any]:
    held_out = held_out_decisions(loaded.frame, trained)
    counts = group_counts(held_out, y_true=loaded.roles.target, y_pred="y_pred",
                          sensitive_features=loaded.roles.sensitive_features)
    return {"n_decisions": len(held_out), "held_out_metrics": dict(trained.metrics),
            "group_counts": counts.to_dict(orient="records")}


def _logged_results(loaded: LoadedDataset, prediction: str) -> dict[str, Any]:
    roles = loaded.roles
    counts = group_counts(loaded.frame, y_true=roles.target, y_pred=prediction,
                          sensitive_features=roles.sensitive_features)
    return {"n_decisions": len(loaded.frame), "held_out_metrics": {},
            "group_counts": counts.to_dict(orient="records")}
