"""The frozen inputs of a report: every store read its body was built from.

A report's body reads more than its audit run's stored results: the panel's ratings, the
queue's cases, the panel's composition, the newest explanation run. Those change with
ordinary work, so a report rebuilt from the live store stops matching once a reviewer
rates another case. :class:`RecordingStore` wraps the store while a draft is built and
records each read (method, arguments, answer) as JSON; the draft is stored with that
snapshot, an approval signs its sha256, and :func:`rebuild` builds the body again from
the snapshot alone, so "the numbers behind this report" stay checkable after the panel
moves on. A later state of the panel is a new report version.

Audit runs (their results can be large) are recorded by reference: the run's id and the
sha256 of its configuration and results. Replaying fetches the run from the store and
refuses it when either hash differs, so a stored result edited after approval still
fails the rebuild.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from audits.reports.report import Report, build_report
from audits.roles import Actor
from audits.store import AuditRunRecord, Store
from audits.store.log import canonical_json

__all__ = ["MSG_NOT_RECORDED", "RecordingStore", "inputs_sha256", "rebuild",
           "record_report"]

SNAPSHOT_SCHEMA = 1
MSG_NOT_RECORDED = "the frozen inputs hold no answer to store.{call}"
MSG_RUN_CHANGED = ("audit run {id} changed since the report's inputs were frozen "
                   "(its configuration or results no longer hash as recorded)")
MSG_BAD_TYPE = "cannot freeze a value of type {type} in a report's inputs"
MSG_BAD_RECORD = "the frozen inputs name {name!r}, which is not a record type of fairpanel"
MSG_SCHEMA = "the frozen inputs have schema {schema!r}; this version reads {expected}"
#: Modules whose dataclasses and enums may be rebuilt from a snapshot.
RECORD_MODULES = ("audits.store.", "audits.roles")


class RecordingStore:
    """A read-through wrapper of a :class:`Store` that records every call's answer.

    Examples
    --------
    >>> with Store("sqlite://") as store:
    ...     recorder = RecordingStore(store)
    ...     recorder.get_audit_run(1) is None, len(recorder.calls)
    (True, 1)
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = target(*args, **kwargs)
            self.calls[_call_key(name, args, kwargs)] = _encode(answer)
            return answer

        return call


class _FrozenStore:
    """Answers the recorded calls from a snapshot; anything else is refused."""

    def __init__(self, store: Store, calls: dict[str, Any]) -> None:
        self._store, self._calls = store, calls

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            key = _call_key(name, args, kwargs)
            if key not in self._calls:
                raise LookupError(MSG_NOT_RECORDED.format(call=f"{name}(...)"))
            return _decode(self._calls[key], self._store)

        return call


def record_report(store: Store, actor: Actor, audit_run_id: int, *,
                  progress: Callable[[float, str], None] | None = None,
                  ) -> tuple[Report, dict[str, Any]]:
    """Build a report from the live store and return it with its frozen inputs."""
    recorder = RecordingStore(store)
    report = build_report(cast(Store, recorder), actor, audit_run_id, progress=progress)
    snapshot = {"schema": SNAPSHOT_SCHEMA, "actor": _encode(actor),
                "audit_run_id": audit_run_id, "calls": recorder.calls}
    return report, snapshot


def rebuild(store: Store, snapshot: dict[str, Any]) -> Report:
    """Build the report again from its frozen inputs (audit runs checked by hash).

    Raises
    ------
    LookupError
        The build asked for something the snapshot does not hold.
    ValueError
        A referenced audit run changed, or the snapshot is malformed.
    """
    if snapshot.get("schema") != SNAPSHOT_SCHEMA:
        raise ValueError(MSG_SCHEMA.format(schema=snapshot.get("schema"),
                                           expected=SNAPSHOT_SCHEMA))
    actor = _decode(snapshot["actor"], store)
    frozen = _FrozenStore(store, dict(snapshot["calls"]))
    return build_report(cast(Store, frozen), actor, int(snapshot["audit_run_id"]))


def inputs_sha256(snapshot: dict[str, Any]) -> str:
    """Return the sha256 of a snapshot's canonical JSON (what an approval signs)."""
    return hashlib.sha256(canonical_json(snapshot).encode("utf-8")).hexdigest()


def _call_key(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return canonical_json([name, _encode(list(args)), _encode(kwargs)])


def _run_sha(run: AuditRunRecord) -> str:
    text = canonical_json({"config": run.config, "results": run.results})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, AuditRunRecord):
        return {"$run": value.id, "sha256": _run_sha(value)}
    if isinstance(value, enum.Enum):
        return {"$enum": _name(type(value)), "value": _encode(value.value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$record": _name(type(value)), "fields": fields}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return _encode(value.item())
    raise TypeError(MSG_BAD_TYPE.format(type=type(value).__name__))


def _decode(value: Any, store: Store) -> Any:
    if isinstance(value, list):
        return [_decode(v, store) for v in value]
    if not isinstance(value, dict):
        return value
    if "$float" in value:
        return float(value["$float"])
    if "$run" in value:
        run = store.get_audit_run(int(value["$run"]))
        if run is None or _run_sha(run) != value["sha256"]:
            raise ValueError(MSG_RUN_CHANGED.format(id=value["$run"]))
        return run
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$tuple" in value:
        return tuple(_decode(v, store) for v in value["$tuple"])
    if "$dict" in value:
        return {_decode(k, store): _decode(v, store) for k, v in value["$dict"]}
    if "$enum" in value:
        return _type(value["$enum"])(_decode(value["value"], store))
    if "$record" in value:
        fields = {k: _decode(v, store) for k, v in value["fields"].items()}
        return _type(value["$record"])(**fields)
    raise ValueError(MSG_BAD_RECORD.format(name=sorted(value)))


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _type(name: str) -> Callable[..., Any]:
    module, _, qualname = str(name).partition(":")
    if not module.startswith(RECORD_MODULES) or "." in qualname:
        raise ValueError(MSG_BAD_RECORD.format(name=name))
    found = getattr(importlib.import_module(module), qualname, None)
    if not isinstance(found, type) or not (dataclasses.is_dataclass(found)
                                           or issubclass(found, enum.Enum)):
        raise ValueError(MSG_BAD_RECORD.format(name=name))
    return found
