"""Choosing what a run-based page shows: the data to run on, and a stored run to read.

The fairness and explanations pages both list registered (dataset, model) pairs, default
to the demo's, and let the reader pick one stored completed run of their kind; this is
that one piece, so pages never import each other. Every picker names a registered
dataset the same way, as a version of its system (:func:`version_label`:
``credit · v2 · 2,000 rows``).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import state
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store

__all__ = ["MSG_NEEDS_MODEL", "Pair", "choose_run", "data_pairs", "dataset_labels",
           "default_pair", "logged_only", "needs_model_note", "version_label"]

#: Said by a page that needs a model when some systems have logged decisions only.
MSG_NEEDS_MODEL = (
    "{what} need a model, and {systems} {verb} logged decisions only, with no model: "
    "{they} are not offered here. Register a version with its model (a .skops file) on "
    "the New system page to {do} {it}."
)

Pair = tuple[DatasetRecord, ModelRecord | None]


def version_label(dataset: DatasetRecord) -> str:
    """How pickers name a registered dataset: its system, version and rows.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> record = DatasetRecord(id=4, name="credit", source="credit.csv", sha256="0" * 64,
    ...                        n_rows=2000, roles={}, card="",
    ...                        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    ...                        created_by="dana", version=2)
    >>> version_label(record)
    'credit · v2 · 2,000 rows'
    """
    version = f" · v{dataset.version}" if dataset.version is not None else ""
    return f"{dataset.name}{version} · {dataset.n_rows:,} rows"


def dataset_labels(store: Store) -> dict[int, str]:
    """:func:`version_label` of every registered dataset, by dataset id."""
    return {d.id: version_label(d) for d in store.list_datasets()}


def logged_only(store: Store) -> list[str]:
    """Names of the systems whose latest version has no registered model."""
    names = []
    for system in store.list_systems():
        latest = store.latest_version(system.name)
        if not store.list_models(latest.id):
            names.append(system.name)
    return names


def needs_model_note(store: Store, what: str, do: str) -> None:
    """Say, with ``st.info``, which systems a page needing a model cannot offer.

    ``what`` is what needs the model ("Explanations"), ``do`` what registering one
    would let the reader do ("explain"). Draws nothing when every system has a model.
    """
    names = logged_only(store)
    if not names:
        return
    listed = ", ".join(f"'{n}'" for n in names)
    many = len(names) > 1
    st.info(MSG_NEEDS_MODEL.format(
        what=what, systems=("systems " if many else "system ") + listed,
        verb="record" if many else "records", they="they" if many else "it", do=do,
        it="them" if many else "it"), icon=":material/info:")


def data_pairs(store: Store, *, logged: bool) -> list[Pair]:
    """Every registered (dataset, model) pair; with ``logged``, also (dataset, None) for
    datasets that carry logged decisions of their own."""
    pairs: list[Pair] = []
    for dataset in store.list_datasets():
        pairs += [(dataset, m) for m in store.list_models(dataset.id)]
        if logged and dataset.roles.get("prediction"):
            pairs.append((dataset, None))
    return pairs


def default_pair(keys: list[tuple[int, int | None]],
                 runs: list[AuditRunRecord]) -> tuple[int, int | None]:
    """The demo's latest pair, else the latest pair with a run, else the newest pair."""
    for wanted in (lambda r: bool(r.config.get("demo")), lambda r: True):
        for run in reversed(runs):
            if wanted(run) and (run.dataset_id, run.model_id) in keys:
                return (run.dataset_id, run.model_id)
    return keys[-1]


def choose_run(store: Store, runs: list[AuditRunRecord], *, kind: str, key: str, label: str,
               run_label: Callable[[AuditRunRecord, dict[int, str]], str],
               ) -> AuditRunRecord | None:
    """A selectbox of the stored completed runs of ``kind``, newest first; None if none."""
    stored = [r for r in reversed(runs) if r.status == "completed" and r.results
              and r.config.get("kind") == kind]
    if not stored:
        return None
    datasets = dataset_labels(store)
    by_id = {r.id: r for r in stored}
    state.keep_choice(key, list(by_id), stored[0].id)
    chosen = st.selectbox(label, list(by_id), key=key,
                          format_func=lambda i: run_label(by_id[i], datasets))
    return by_id[chosen]
