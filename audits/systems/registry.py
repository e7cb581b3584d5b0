"""Register a system's version from its data (and model), and load a version back.

:func:`register_system` reads the decisions once (:func:`~audits.systems.sources.read_source`),
checks the column mapping and the content, joins and counts sensitive data kept in a
separate file, checks and scores an uploaded model, writes the data card, copies the
tables into the store's content-addressed Parquet folders and registers the version in
one store transaction. :func:`load_version` reads a version back as the frame every
audit uses, checking the stored files' hashes and the permission to read sensitive data.
The bundled demo datasets go through the very same path (:mod:`audits.demo.default`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from audits.data.datasets import BUNDLED, LoadedDataset, load_dataset
from audits.data.schema import ColumnRoles, DataValidationError, validate_frame
from audits.models.files import file_sha256
from audits.roles import Actor, require_role
from audits.store import (
    DatasetRecord,
    RegisteredVersion,
    Store,
    SystemInput,
    VersionInput,
    data_dir,
)
from audits.store.systems import check_system_name
from audits.systems.card import MISSING_CATEGORY, card_data, card_markdown
from audits.systems.files import read_stored, store_parquet
from audits.systems.mapping import (
    ColumnMapping,
    check_mapping,
    validate_sensitive_table,
    validate_table,
)
from audits.systems.sources import DataSource, as_source, read_source
from audits.systems.uploads import check_model, model_input, score_rows

__all__ = ["decisions_frame", "load_version", "purge_sensitive", "register_system"]

Progress = Callable[[float, str], None]

MSG_MIN_MATCH = "min_match must be a number in [0, 1]; got {value!r}"
MSG_JOIN_WITHOUT_DATA = "join {join!r} is given without sensitive_data"
MSG_NO_JOIN = "the sensitive data ({source}) have no join column {join!r}; columns: {columns}"
MSG_JOIN_TYPES = (
    "join column {join!r} of the sensitive data holds {sens_type} values and id column "
    "{id!r} of the decisions {data_type} values; they cannot be matched"
)
MSG_IN_BOTH = (
    "column(s) {columns} are in both the decisions and the sensitive data ({source}); "
    "keep each sensitive column in one file only"
)
MSG_MATCH = (
    "only {n_matched:,} of the {n_data:,} decisions ({rate:.2%}) have a row in the "
    "sensitive data ({source}) joined on {join!r}; {n_unmatched_data:,} decisions and "
    "{n_unmatched_sensitive:,} sensitive rows are unmatched, and at least {min_match:.2%} "
    "must match: check the join column, or lower min_match (--min-match) to accept it"
)
MSG_LEGACY = (
    "dataset {name!r} (id {id}) was registered before systems kept a copy of their data "
    "and is not a bundled dataset; register it again with register_system"
)
MSG_IN_PLACE = (
    "version {version} of {name!r} stays in its database ({source}): only audits and slice "
    "discovery read it there (fairpanel audit --system {name} --save, fairpanel slices "
    "--system {name}); register a copy (systems add without --in-place) to explain, flag, "
    "review or retrain on its decisions"
)
MSG_DATA_CHANGED = (
    "dataset {name!r} no longer matches what was registered (stored sha256 {stored}, "
    "now {now}); register it again before auditing"
)


def register_system(
    store: Store, actor: Actor, name: str,
    data: DataSource | str | os.PathLike[str] | pa.Table | pd.DataFrame, *,
    id: str, target: str, sensitive: Sequence[str] | str,  # noqa: A002 - the column role
    prediction: str | None = None, score: str | None = None, threshold: float | None = None,
    features: Sequence[str] | None = None, positive_label: str | None = None,
    time: str | None = None, sensitive_data: DataSource | str | os.PathLike[str] | None = None,
    join: str | None = None, min_match: float = 0.99, model: str | os.PathLike[str] | None = None,
    description: str = "", intended_use: str = "", adverse: bool = False, owner: str = "",
    max_bytes: int | None = None, progress: Progress | None = None, source: str | None = None,
    card: str | None = None, outcome_label: str | None = None,
    extra_roles: dict[str, Any] | None = None,
) -> RegisteredVersion:
    """Register a version of a system: its decisions, sensitive data and model.

    Parameters
    ----------
    store, actor : Store, Actor
        The actor needs "register a dataset" (and "register a model" with ``model``).
    name : str
        The system's unique name (letters, digits, ``-_.``).
    data : DataSource, str, path, pyarrow.Table or pandas.DataFrame
        The decisions: a file, a glob of Parquet files, a SQL source, or a table in memory.
    id, target, sensitive, prediction, score, threshold, features, positive_label, time
        The column mapping (:class:`~audits.systems.mapping.ColumnMapping`). With a model,
        ``threshold`` (default 0.5) also turns its scores into decisions.
    sensitive_data : DataSource, str, path or None, default None
        Sensitive features kept in a separate file, joined on ``join`` (default ``id``).
    min_match : float, default 0.99
        Smallest share of decisions that must have a row in ``sensitive_data``.
    model : str, path or None, default None
        A ``.skops`` file of the model that made the decisions (never pickle/joblib).
    description, intended_use, owner : str
        What the system is and is for, and who answers for it.
    adverse : bool, default False
        True when a positive decision is adverse for the person (a "high risk" label).
    max_bytes : int or None
        Refuse larger sources (see :func:`~audits.systems.sources.read_source`).
    progress : callable ``(fraction, message) -> None`` or None
    source : str or None
        Where the data came from, in words (default: the source's own description).
    card : str or None
        Markdown stored as the card instead of the generated one (the bundled cards).
    outcome_label : str or None
        What an outcome of 1 means, in words, shown on pages (default ``positive_label``).
    extra_roles : dict or None
        Kept with the version's roles beside the mapping: a conversation system's
        ``{"conversations": {...}}`` (its rubric and user attributes; see
        :func:`audits.conversations.register_conversations`).

    Returns
    -------
    RegisteredVersion
        ``created`` is False when the same data, sensitive data and mapping were
        registered before (nothing is written then).

    Raises
    ------
    DataValidationError, UnsafeModelError, ValueError, PermissionDenied
        Naming the file, column, ids or counts at fault; nothing is stored then.

    Examples
    --------
    >>> table = pa.table({"id": [1, 2, 3, 4], "y": [0, 1, 1, 0], "p": [0, 1, 0, 0],
    ...                   "sex": ["f", "m", "f", "m"], "income": [1.0, 2.0, 3.0, 4.0]})
    >>> with Store("sqlite://") as store:
    ...     done = register_system(store, Actor.system(), "loans", table, id="id",
    ...                            target="y", sensitive=["sex"], prediction="p")
    ...     frame = load_version(store, Actor.system(), done.dataset).frame
    >>> done.dataset.version, done.created, frame["p"].tolist()
    (1, True, [0, 1, 0, 0])
    """
    report = progress or _no_progress
    require_role(actor, "register a dataset")
    if model is not None:
        require_role(actor, "register a model")
    check_system_name(name)
    if isinstance(min_match, bool) or not isinstance(min_match, int | float) \
            or not 0.0 <= min_match <= 1.0:
        raise ValueError(MSG_MIN_MATCH.format(value=min_match))
    if join is not None and sensitive_data is None:
        raise ValueError(MSG_JOIN_WITHOUT_DATA.format(join=join))
    mapping = ColumnMapping(
        id=id, target=target,
        sensitive=(sensitive,) if isinstance(sensitive, str) else tuple(sensitive),
        prediction=prediction, score=score,
        threshold=threshold if score is not None or model is None else None,
        features=None if features is None else tuple(features),
        positive_label=positive_label, time=time)
    table, described, source_sha = _read(data, max_bytes, report)
    sens: pa.Table | None = None
    held: list[str] = []
    sens_facts: dict[str, Any] | None = None
    if sensitive_data is not None:
        report(0.3, "Reading the sensitive data")
        sens, held, sens_facts = _sensitive(table, mapping, sensitive_data, join or mapping.id,
                                            min_match, max_bytes)
    report(0.4, "Checking the columns and their content")
    _validate(table, mapping, held)
    loaded_model = None
    if model is not None:
        report(0.5, "Checking the model")
        loaded_model = check_model(model, table, sens, mapping, threshold)
    roles = {**_roles(mapping, table.column_names + held, loaded_model, outcome_label),
             **(extra_roles or {})}
    if loaded_model is not None:
        report(0.55, "Scoring every row with the model")
        score_rows(loaded_model, decisions_frame(table, sens, mapping, roles)[0],
                   mapping.target)
    report(0.65, "Writing the data card")
    facts = _card_facts(table, mapping, sens)
    markdown = card if card is not None else card_markdown(name, description, intended_use,
                                                           not adverse, facts)
    return _store(store, actor, SystemInput(name, description, intended_use, not adverse, owner),
                  table, sens, sens_facts, loaded_model, roles, facts, markdown,
                  source or described, source_sha, report)


def load_version(store: Store, actor: Actor, dataset: DatasetRecord) -> LoadedDataset:
    """Read a registered version back as the validated frame audits use.

    The stored Parquet file is checked against its sha256; separate sensitive data are
    read through the store's permission check and joined on the id (a decision without
    a match falls in the group ``"(missing)"``); the target (and a prediction holding
    the positive label) is binarised; with only a score mapped, the decision is
    ``score >= threshold``. A record made before systems kept their data (no
    ``data_path``) is read the old way when it is a bundled dataset whose content hash
    still matches: a compatibility path for older stores.

    Raises
    ------
    SensitiveDataPurged
        The version's sensitive data were purged.
    PermissionDenied
        The actor may not read the version's sensitive data.
    ValueError
        A stored file is missing or changed, or a legacy record cannot be read.

    Examples
    --------
    >>> table = pa.table({"id": ["a", "b"], "y": [1, 0], "score": [0.8, 0.3],
    ...                   "sex": ["f", "m"]})
    >>> with Store("sqlite://") as store:
    ...     done = register_system(store, Actor.system(), "scores", table, id="id",
    ...                            target="y", sensitive="sex", score="score",
    ...                            threshold=0.5)
    ...     loaded = load_version(store, Actor.system(), done.dataset)
    >>> loaded.roles.prediction, loaded.frame["y_pred"].tolist()
    ('y_pred', [1, 0])
    """
    if dataset.data_path is None:
        place = dict(dataset.roles or {}).get("in_place")
        if place:
            raise ValueError(MSG_IN_PLACE.format(version=dataset.version, name=dataset.name,
                                                 source=dataset.source))
        return _legacy(dataset)
    roles = dict(dataset.roles)
    mapping = ColumnMapping.from_dict(roles["mapping"])
    table = read_stored(dataset.data_path, dataset.sha256)
    sens = None
    if dataset.sensitive is not None:
        store.sensitive_path(actor, dataset.id)  # the permission and purge check
        sens = read_stored(str(dataset.sensitive["path"]), str(dataset.sensitive["sha256"]))
    frame, column_roles = decisions_frame(table, sens, mapping, roles)
    return LoadedDataset(name=dataset.name, frame=frame, roles=column_roles, card=dataset.card,
                         sha256=dataset.sha256, source=dataset.source)


def purge_sensitive(store: Store, actor: Actor, name: str, reason: str) -> list[DatasetRecord]:
    """Delete the separate sensitive data of every version of a system (see
    :meth:`audits.store.Store.purge_sensitive`); audits that need them then refuse."""
    return store.purge_sensitive(actor, name, reason)


def decisions_frame(table: pa.Table, sens: pa.Table | None, mapping: ColumnMapping,
                    roles: dict[str, Any]) -> tuple[pd.DataFrame, ColumnRoles]:
    """Return a version's validated frame and roles from its stored tables."""
    raw = table.to_pandas()
    if sens is not None:
        extra = sens.to_pandas()
        raw = raw.merge(extra, how="left", on=mapping.id, validate="one_to_one", sort=False)
        for column in extra.columns:
            if column != mapping.id:
                raw[column] = raw[column].astype(object).where(raw[column].notna(),
                                                                MISSING_CATEGORY)
    label = mapping.positive_label
    if label is not None:
        for column in (mapping.target, mapping.prediction):
            if column is not None and label in set(raw[column].astype(str).str.strip()):
                raw[column] = (raw[column].astype(str).str.strip() == label).astype(np.int8)
    prediction = roles.get("prediction")
    if mapping.prediction is None and prediction is not None:
        raw[prediction] = (pd.to_numeric(raw[str(mapping.score)])
                           >= float(mapping.threshold or 0.0)).astype(np.int8)
    column_roles = ColumnRoles(
        target=mapping.target, sensitive_features=tuple(mapping.sensitive),
        prediction=prediction, score=mapping.score, features=tuple(roles["features"]),
        positive_label=str(roles.get("positive_label") or "1"))
    frame = validate_frame(raw, column_roles)
    for column in raw.columns:  # the id, the time and the other columns, for context
        if column not in frame.columns:
            frame[column] = raw[column].to_numpy()
    return frame, column_roles


# ---------------------------------------------------------------- registration steps


def _no_progress(fraction: float, message: str) -> None:
    """Ignore progress."""


def _read(data: DataSource | str | os.PathLike[str] | pa.Table | pd.DataFrame,
          max_bytes: int | None, report: Progress) -> tuple[pa.Table, str, str | None]:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, pa.Table):
        report(0.25, f"Using the table in memory ({data.num_rows:,} rows)")
        return data, "a table in memory", None
    src = as_source(data)
    table = read_source(src, max_bytes=max_bytes,
                        progress=lambda f, m: report(0.02 + 0.25 * f, f"Reading: {m}"))
    single = src.path is not None and Path(src.path).is_file()
    return table, src.describe(), file_sha256(str(src.path)) if single else None


def _validate(table: pa.Table, mapping: ColumnMapping, held: list[str]) -> None:
    """Check the mapping and the content; decisions may come later, from a model."""
    table, mapping, _ = _stand_in(table, mapping)
    check_mapping(table.schema, mapping, sensitive_elsewhere=held)
    validate_table(table, mapping, sensitive_elsewhere=held)


def _card_facts(table: pa.Table, mapping: ColumnMapping,
                sens: pa.Table | None) -> dict[str, Any]:
    table, mapping, stand_in = _stand_in(table, mapping)
    facts = card_data(table, mapping, sensitive=sens)
    facts["columns"] = [c for c in facts["columns"] if c["name"] != stand_in]
    return facts


def _stand_in(table: pa.Table, mapping: ColumnMapping
              ) -> tuple[pa.Table, ColumnMapping, str | None]:
    """With no logged decision, a model registered with the version (or trained on it
    later, as the demo does) makes them: the checks, which want a decision column, see a
    stand-in column of zeros instead (never stored)."""
    if mapping.prediction is not None or mapping.score is not None:
        return table, mapping, None
    name = _free_name("__fairpanel_no_decision", table.column_names)
    table = table.append_column(name, pa.array(np.zeros(table.num_rows, np.int8)))
    return table, replace(mapping, prediction=name), name


def _free_name(name: str, taken: Sequence[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _sensitive(table: pa.Table, mapping: ColumnMapping,
               data: DataSource | str | os.PathLike[str], join: str, min_match: float,
               max_bytes: int | None) -> tuple[pa.Table, list[str], dict[str, Any]]:
    src = as_source(data)
    sens = read_source(src, max_bytes=max_bytes)
    shown = src.describe()
    if join not in sens.column_names:
        raise DataValidationError(MSG_NO_JOIN.format(source=shown, join=join,
                                                     columns=", ".join(sens.column_names)))
    both = [c for c in sens.column_names if c not in (join, mapping.id)
            and c in table.column_names]
    if both:
        raise DataValidationError(MSG_IN_BOTH.format(columns=", ".join(map(repr, both)),
                                                     source=shown))
    held = validate_sensitive_table(sens, replace(mapping, id=join))  # errors name the join
    # Only the join and the sensitive features are kept, the join under the id's name.
    sens = sens.select([join, *held]).rename_columns([mapping.id, *held])
    sens = _same_id_type(sens, table, mapping.id, join)
    data_ids, sens_ids = table.column(mapping.id), sens.column(mapping.id)
    n_matched = int(pc.sum(pc.is_in(data_ids, value_set=sens_ids.combine_chunks())).as_py() or 0)
    n_sens_matched = int(pc.sum(pc.is_in(sens_ids, value_set=data_ids.combine_chunks()))
                         .as_py() or 0)
    facts: dict[str, Any] = {
        "columns": held, "join": join, "n_matched": n_matched,
        "n_unmatched_data": table.num_rows - n_matched,
        "n_unmatched_sensitive": sens.num_rows - n_sens_matched,
        "match_rate": n_matched / table.num_rows, "source": shown}
    if facts["match_rate"] < min_match:
        raise DataValidationError(MSG_MATCH.format(
            n_data=table.num_rows, rate=facts["match_rate"], min_match=min_match, **facts))
    return sens, held, facts


def _same_id_type(sens: pa.Table, table: pa.Table, id_column: str, join: str) -> pa.Table:
    wanted, found = table.schema.field(id_column).type, sens.schema.field(id_column).type
    if wanted == found:
        return sens
    try:
        cast = pc.cast(sens.column(id_column), wanted)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataValidationError(MSG_JOIN_TYPES.format(join=join, sens_type=found,
                                                        id=id_column, data_type=wanted)) from None
    return sens.set_column(sens.schema.get_field_index(id_column), id_column, cast)


def _roles(mapping: ColumnMapping, columns: list[str], model: dict[str, Any] | None,
           outcome_label: str | None) -> dict[str, Any]:
    """The version's roles: the engine's :class:`ColumnRoles` fields and the mapping."""
    prediction = mapping.prediction
    if prediction is None and mapping.score is not None:  # score >= threshold when loaded
        prediction = _free_name("y_pred", columns)
    features = (list(model["features"]) if model is not None and mapping.features is None
                else list(mapping.resolved_features(columns)))
    return {"target": mapping.target, "sensitive_features": list(mapping.sensitive),
            "prediction": prediction, "score": mapping.score, "features": features,
            "positive_label": outcome_label or mapping.positive_label or "1",
            "id": mapping.id, "threshold": mapping.threshold, "time": mapping.time,
            "mapping": mapping.as_dict()}


def _store(store: Store, actor: Actor, system: SystemInput, table: pa.Table,
           sens: pa.Table | None, sens_facts: dict[str, Any] | None,
           model: dict[str, Any] | None, roles: dict[str, Any], facts: dict[str, Any],
           markdown: str, source: str, source_sha: str | None,
           report: Progress) -> RegisteredVersion:
    created: list[Path] = []
    try:
        report(0.75, "Copying the data into the store (Parquet)")
        sha, relative = _stored(table, "data", created)
        sensitive = None
        if sens is not None and sens_facts is not None:
            sens_sha, sens_relative = _stored(sens, "sensitive", created)
            sensitive = {"path": sens_relative, "sha256": sens_sha, **sens_facts}
        uploaded = None if model is None else model_input(model, created)
        report(0.9, "Registering the version")
        version = VersionInput(source=source, sha256=sha, n_rows=table.num_rows, roles=roles,
                               card=markdown, card_data=facts, data_path=relative,
                               source_sha256=source_sha, sensitive=sensitive)
        done = store.register_system_version(actor, system, version, uploaded)
    except BaseException:
        for path in created:  # only files this call created: content-addressed, shared
            path.unlink(missing_ok=True)
        raise
    report(1.0, f"Version {done.dataset.version} of {system.name!r} "
                + ("registered" if done.created else "was already registered"))
    return done


def _stored(table: pa.Table, kind: str, created: list[Path]) -> tuple[str, str]:
    folder = data_dir() / kind
    before = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    sha, relative = store_parquet(table, kind)
    if f"{sha}.parquet" not in before:
        created.append(folder / f"{sha}.parquet")
    return sha, relative


def _legacy(dataset: DatasetRecord) -> LoadedDataset:
    if dataset.name not in BUNDLED:
        raise ValueError(MSG_LEGACY.format(name=dataset.name, id=dataset.id))
    loaded = load_dataset(dataset.name)
    if loaded.sha256 != dataset.sha256:
        raise ValueError(MSG_DATA_CHANGED.format(name=dataset.name, stored=dataset.sha256,
                                                 now=loaded.sha256))
    return loaded
