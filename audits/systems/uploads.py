"""A model uploaded with a system's version: checked, scored once, copied into the store.

The model file is loaded through :func:`audits.models.files.load_model` (skops, its
allow-list of types; pickle and joblib refused). :func:`check_model` checks that its
input columns are in the data and that it predicts the target's two values;
:func:`score_rows` scores every row once, on the frame audits will read, so a model that
cannot decide the version's rows is refused at registration, not at the first audit;
:func:`model_input` copies the file into ``data_dir()/models/<sha256>.skops`` (content
addressed) and describes it for the store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from audits.data.schema import DataValidationError
from audits.models.files import file_sha256, load_model
from audits.models.training import predict_decisions
from audits.store import ModelInput, data_dir
from audits.systems.mapping import ColumnMapping

__all__ = ["DEFAULT_THRESHOLD", "UPLOADED_SPLIT", "check_model", "model_input", "score_rows"]

#: The split stored with an uploaded model: it decided every row of its version.
UPLOADED_SPLIT = {"method": "none: every row of the version is a decision to audit"}
#: ``y_pred = y_score >= threshold`` unless a threshold is given.
DEFAULT_THRESHOLD = 0.5

MSG_MODEL_NO_NAMES = (
    "the model {path} was fitted without column names: give its input columns as "
    "features, in the order it was fitted on"
)
MSG_MODEL_FEATURES = (
    "the model {path} expects feature(s) that are not in the data: {missing}; columns "
    "present: {present}"
)
MSG_MODEL_CLASSES = (
    "the model {path} predicts classes {classes}, but target {target!r} holds {values} "
    "after binarising ({raw} in the data); fit the model on the 0/1 target"
)
MSG_MODEL_SCORING = "the model {path} could not score the registered rows: {error}"


def check_model(path: str | os.PathLike[str], table: pa.Table, sens: pa.Table | None,
                mapping: ColumnMapping, threshold: float | None) -> dict[str, Any]:
    """Load a user's model safely and check it against the version's data.

    Parameters
    ----------
    path : str or path-like
        The ``.skops`` file.
    table, sens : pyarrow.Table, pyarrow.Table or None
        The decisions, and sensitive data kept apart (its first column the id).
    mapping : ColumnMapping
        The version's mapping (``features`` name the inputs of a model fitted on arrays).
    threshold : float or None
        ``y_pred = y_score >= threshold``; None means :data:`DEFAULT_THRESHOLD`.

    Returns
    -------
    dict
        ``path``, ``pipeline``, ``features`` (in the order the model was fitted on) and
        ``threshold``; :func:`score_rows` adds ``metrics``.

    Raises
    ------
    UnsafeModelError
        A pickle or joblib file, or a type off the allow-list.
    DataValidationError
        Inputs missing from the data (named), classes other than the binarised target's
        0 and 1 (both named), or a model fitted without column names and no features.
    """
    pipeline = load_model(path)
    shown = os.fspath(path)
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None and mapping.features is None:
        raise DataValidationError(MSG_MODEL_NO_NAMES.format(path=shown))
    features = [str(c) for c in (names if names is not None else mapping.features or ())]
    present = table.column_names + ([] if sens is None else sens.column_names[1:])
    missing = [c for c in features if c not in present]
    if missing:
        raise DataValidationError(MSG_MODEL_FEATURES.format(
            path=shown, missing=", ".join(map(repr, missing)), present=", ".join(present)))
    classes = list(getattr(pipeline, "classes_", []))
    raw = sorted({str(v) for v in pc.unique(table.column(mapping.target)).to_pylist()})
    if not _zero_one(classes):
        raise DataValidationError(MSG_MODEL_CLASSES.format(
            path=shown, classes=[_plain(c) for c in classes], target=mapping.target,
            values=[0, 1], raw=", ".join(map(repr, raw))))
    cut = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    return {"path": shown, "pipeline": pipeline, "features": features, "threshold": cut}


def score_rows(model: dict[str, Any], frame: pd.DataFrame, target: str) -> None:
    """Score every row once, on the frame audits will read; keep what it decided.

    Raises
    ------
    DataValidationError
        The model fails on the rows (:data:`MSG_MODEL_SCORING`), naming its file.
    """
    try:
        scored = predict_decisions(model["pipeline"], frame, features=model["features"],
                                   threshold=model["threshold"])
    except Exception as error:  # any failure of the user's model is a refusal, named
        raise DataValidationError(MSG_MODEL_SCORING.format(path=model["path"],
                                                           error=error)) from None
    y_pred = scored["y_pred"].to_numpy()
    model["metrics"] = {"n_scored": len(y_pred), "positive_rate": float(y_pred.mean()),
                        "accuracy_on_registered_rows":
                            float((y_pred == frame[target].to_numpy()).mean())}


def _zero_one(classes: list[Any]) -> bool:
    """Whether a model's classes are exactly 0 and 1 (as numbers or booleans)."""
    numeric = all(isinstance(c, int | np.integer | bool | np.bool_ | float | np.floating)
                  for c in classes)
    return len(classes) == 2 and numeric and {float(c) for c in classes} == {0.0, 1.0}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def model_input(model: dict[str, Any], created: list[Path]) -> ModelInput:
    """Copy a checked model into ``data_dir()/models/<sha256>.skops`` and describe it.

    A file already there with that content is kept; a file this call writes is appended
    to ``created`` (removed by the caller if the store refuses the version).
    """
    sha = file_sha256(model["path"])
    folder = data_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha}.skops"
    if not target.is_file() or file_sha256(target) != sha:
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".skops")
        os.close(handle)
        shutil.copyfile(model["path"], temp)
        os.replace(temp, target)
        created.append(target)
    return ModelInput(kind="uploaded", sha256=sha, path=str(target),
                      params={"threshold": model["threshold"]}, metrics=model["metrics"],
                      feature_names=list(model["features"]), split=dict(UPLOADED_SPLIT))
