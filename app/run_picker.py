"""Choosing what a run-based page shows: the data to run on, and a stored run to read.

The fairness and explanations pages both list registered (dataset, model) pairs, default
to the demo's, and let the reader pick one stored completed run of their kind; this is
that one piece, so pages never import each other.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import state
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store

__all__ = ["Pair", "choose_run", "data_pairs", "default_pair"]

Pair = tuple[DatasetRecord, ModelRecord | None]


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
    datasets = {d.id: d.name for d in store.list_datasets()}
    by_id = {r.id: r for r in stored}
    state.keep_choice(key, list(by_id), stored[0].id)
    chosen = st.selectbox(label, list(by_id), key=key,
                          format_func=lambda i: run_label(by_id[i], datasets))
    return by_id[chosen]
