"""A stored audit run's configuration as a reader reads it, and the difference of two.

A run's configuration is JSON (:func:`audits.fairness.stored.stored_or_computed` writes
it): hashes, option names and nested library versions. :func:`run_settings` turns it,
with what the store knows about the run (data set, model, who and when), into named
settings in a fixed order; :func:`diff_settings` lines two runs' settings up and marks
what differs, so two runs that look alike in a list can be told apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["DIFF_COLUMNS", "MSG_NOT_MAPPING", "diff_settings", "run_settings"]

MSG_NOT_MAPPING = "{name} must be a mapping of setting to text; got {type}"
#: The columns of :func:`diff_settings`.
DIFF_COLUMNS = ["setting", "first", "second", "differs"]
#: A setting neither run has.
ABSENT = "-"

# Configuration keys in reading order, with their labels. Keys not listed follow, in
# alphabetical order, labelled from their names; keys listed with None are not shown
# (another setting already says the same in words).
_LABELS: dict[str, str | None] = {
    "kind": "Kind of run",
    "dataset_sha256": "Data sha256",
    "sensitive_sha256": "Sensitive data sha256",
    "model_sha256": "Model sha256",
    "decisions": "Decisions from",
    "sensitive_features": "Groups (sensitive features)",
    "intersections": "Intersectional groups",
    "reference": "Reference group",
    "rule": "Threshold (parity rule)",
    "tau": None,
    "favourable": "A positive decision is favourable",
    "min_n": "Smallest group judged (rows)",
    "n_boot": "Bootstrap resamples",
    "random_state": "Seed",
    "exclude_rows": "Rows excluded",
    "config_sha256": "Configuration sha256",
    "library_versions": "Library versions",
}


def run_settings(config: Mapping[str, Any], *, dataset: str, model: str,
                 created_by: str, created_at: datetime,
                 metrics: list[str] | None = None) -> dict[str, str]:
    """Return a run's settings as label -> text, in reading order.

    Parameters
    ----------
    config : mapping
        The run's stored configuration (``AuditRunRecord.config``).
    dataset : str
        How the data set is named (system and version).
    model : str
        How the model is named (``"logged decisions"`` when the run audited decisions
        without a model).
    created_by : str
        Who ran it.
    created_at : datetime
        When.
    metrics : list of str or None, default None
        The metrics the run computed (from its results), when known.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> settings = run_settings({"reference": {"sex": "male"}, "tau": 0.8,
    ...                          "rule": "ratio within [0.8, 1.25]", "random_state": 7},
    ...                         dataset="credit v2", model="#3 logistic", created_by="ds",
    ...                         created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    >>> settings["Reference group"], settings["Seed"], "tau" in settings
    ('sex = male', '7', False)
    """
    if not isinstance(config, Mapping):
        raise TypeError(MSG_NOT_MAPPING.format(name="config", type=type(config).__name__))
    out = {"Data (system, version)": dataset, "Model": model}
    known = [k for k in _LABELS if k in config]
    others = sorted(k for k in config if k not in _LABELS)
    for key in known + others:
        label = _LABELS.get(key, key.replace("_", " ").capitalize())
        if label is not None:
            out[label] = _text(key, config[key])
    if metrics is not None:
        out["Metrics"] = ", ".join(metrics) or ABSENT
    out["Run by"] = created_by
    out["When"] = created_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return out


def diff_settings(first: Mapping[str, str], second: Mapping[str, str]) -> pd.DataFrame:
    """Line up two runs' settings; ``differs`` marks those whose text differs.

    Rows follow ``first``'s order, then settings only ``second`` has; a setting one run
    lacks reads :data:`ABSENT`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DIFF_COLUMNS`, one row per setting.

    Examples
    --------
    >>> table = diff_settings({"Seed": "1", "Model": "m"}, {"Seed": "2", "Model": "m"})
    >>> table[table["differs"]][["setting", "first", "second"]].values.tolist()
    [['Seed', '1', '2']]
    """
    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, Mapping):
            raise TypeError(MSG_NOT_MAPPING.format(name=name, type=type(value).__name__))
    names = list(dict.fromkeys([*first, *second]))
    rows = [(n, first.get(n, ABSENT), second.get(n, ABSENT)) for n in names]
    return pd.DataFrame([(n, a, b, a != b) for n, a, b in rows], columns=DIFF_COLUMNS)


def _text(key: str, value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "largest group" if key == "reference" else ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "exclude_rows" and isinstance(value, list):
        return f"{len(value):,} rows"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {_scalar(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value)
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, bool)) or value is None:
        return str(value)
    return json.dumps(value, sort_keys=True)
