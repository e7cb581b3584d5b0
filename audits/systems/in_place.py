"""Systems whose decisions stay where they live: a table or query in the organisation's
database, registered without a copy.

:func:`register_in_place` checks the column mapping against the source's columns, counts
the source once where it lives (one GROUP BY, :mod:`audits.fairness.pushdown`: the rows,
the groups and their sizes, which the data card shows) and stores a version that names
the source instead of a Parquet copy. An audit of such a version
(:func:`audits.fairness.stored.run_fairness_audit`, ``fairpanel audit --system NAME
--save``) counts the source again where it lives, so it audits the table as it is then;
each run records a fingerprint of the counts it read (a run is reused only while they are
the same) and the exact queries, which the report prints. Slice discovery is counted
there too (:func:`audits.slices.stored.count_version_in_place`). What needs the rows
themselves (explanations, review queues, retraining) refuses with a message that says to
register a copy.

fairpanel keeps no database password: a URL with one is refused, and the database driver
finds it itself (for PostgreSQL, ``PGPASSWORD`` or ``~/.pgpass``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from audits.data.encoding import MISSING as MISSING_GROUP
from audits.data.schema import MSG_MISSING_COLUMN, DataValidationError
from audits.fairness.count_types import GroupCounts
from audits.fairness.pushdown import (
    DIALECTS,
    Aggregation,
    _driver,
    _source_sql,
    count_groups_sql,
)
from audits.roles import Actor, require_role
from audits.store import DatasetRecord, RegisteredVersion, Store, SystemInput, VersionInput
from audits.store.db import redact_url
from audits.store.systems import check_system_name
from audits.systems.card import MISSING_CATEGORY
from audits.systems.mapping import ColumnMapping
from audits.systems.registry import _roles

__all__ = ["InPlace", "count_in_place", "in_place_source", "register_in_place"]

MSG_PASSWORD = (
    "{url} holds a password: fairpanel keeps no database password, so leave it out of the "
    "URL and let the driver find it (for PostgreSQL, PGPASSWORD or ~/.pgpass)"
)
MSG_BAD_URL = "not a database URL: {url!r}"
MSG_NO_DECISIONS = (
    "a system kept in place needs its logged decisions (a prediction column, or a score "
    "with a threshold): a model cannot score rows that stay in the database"
)
MSG_CANNOT_READ = "cannot read {source} on {url}: {error}"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class InPlace:
    """Where a version's decisions live: a database URL (no password) and a table or query."""

    url: str
    table: str | None = None
    query: str | None = None

    def describe(self) -> str:
        """The source in words: ``sqlite:///x.db, table decisions``."""
        what = f"table {self.table}" if self.table is not None else f"query {self.query}"
        return f"{redact_url(self.url)}, {what}"


def in_place_source(dataset: DatasetRecord) -> InPlace | None:
    """The version's source when its decisions stay in their database, else None."""
    place = dict(dataset.roles or {}).get("in_place")
    if not place:
        return None
    return InPlace(str(place["url"]), place.get("table"), place.get("query"))


def count_in_place(dataset: DatasetRecord, *, sensitive_features: Sequence[str],
                   intersections: bool = True) -> tuple[GroupCounts, Aggregation]:
    """Count a version kept in place where it lives (one GROUP BY on its database).

    Raises
    ------
    ValueError
        The version is a stored copy, not kept in place.
    """
    place = in_place_source(dataset)
    if place is None:
        raise ValueError(f"version {dataset.version} of {dataset.name!r} is a stored copy")
    return _count(place, ColumnMapping.from_dict(dict(dataset.roles)["mapping"]),
                  sensitive_features, intersections)


def _count(place: InPlace, mapping: ColumnMapping, sensitive_features: Sequence[str],
           intersections: bool, engine: Engine | None = None
           ) -> tuple[GroupCounts, Aggregation]:
    result: tuple[GroupCounts, Aggregation] = count_groups_sql(
        engine or place.url, table=place.table, query=place.query, y_true=mapping.target,
        y_pred=mapping.prediction, y_score=mapping.score,
        threshold=mapping.threshold if mapping.prediction is None else None,
        pos_label=mapping.positive_label, sensitive_features=list(sensitive_features),
        intersections=intersections, with_query=True)
    return result


def register_in_place(
    store: Store, actor: Actor, name: str, url: str, *, table: str | None = None,
    query: str | None = None, id: str, target: str,  # noqa: A002 - the column role
    sensitive: Sequence[str] | str, prediction: str | None = None, score: str | None = None,
    threshold: float | None = None, positive_label: str | None = None,
    time: str | None = None, description: str = "", intended_use: str = "",
    adverse: bool = False, owner: str = "", outcome_label: str | None = None,
    progress: Progress | None = None,
) -> RegisteredVersion:
    """Register a version of a system whose decisions stay in their database.

    Parameters are those of :func:`audits.systems.registry.register_system` for a SQL
    source, without a model or sensitive data kept apart (the sensitive columns are read
    where they are, in the same table or query).

    Returns
    -------
    RegisteredVersion
        ``created`` is False when the same source and mapping were registered before.

    Raises
    ------
    ValueError
        A URL with a password (:data:`MSG_PASSWORD`) or that does not parse, no logged
        decisions (:data:`MSG_NO_DECISIONS`).
    DataValidationError
        The source cannot be read, a column is not there, a missing outcome or decision,
        a score that is not a finite number: named, and nothing is stored.

    Examples
    --------
    >>> import sqlite3, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "loans.db"
    >>> with sqlite3.connect(path) as con:
    ...     _ = con.execute("CREATE TABLE d (id, y, p, sex)")
    ...     _ = con.executemany("INSERT INTO d VALUES (?, ?, ?, ?)",
    ...                         [(1, 0, 0, "f"), (2, 1, 1, "m"), (3, 1, 0, "f")])
    >>> with Store("sqlite://") as store:
    ...     done = register_in_place(store, Actor.system(), "loans", f"sqlite:///{path}",
    ...                              table="d", id="id", target="y", prediction="p",
    ...                              sensitive="sex")
    >>> done.dataset.n_rows, done.dataset.data_path, done.dataset.source[:22]
    (3, None, 'in place: sqlite:///...')
    """
    report = progress or (lambda fraction, message: None)
    require_role(actor, "register a dataset")
    check_system_name(name)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(MSG_BAD_URL.format(url=url)) from None
    if parsed.password is not None:
        raise ValueError(MSG_PASSWORD.format(url=redact_url(url)))
    if prediction is None and (score is None or threshold is None):
        raise ValueError(MSG_NO_DECISIONS)
    place = InPlace(url, table, query)
    mapping = ColumnMapping(
        id=id, target=target,
        sensitive=(sensitive,) if isinstance(sensitive, str) else tuple(sensitive),
        prediction=prediction, score=score,
        threshold=threshold if prediction is None else None, features=None,
        positive_label=positive_label, time=time)
    report(0.1, f"Reading the columns of {place.describe()}")
    engine = create_engine(_driver(url))  # one connection pool for the columns and counts
    try:
        columns = _columns(place, engine)
        for column, role in ((id, "id"), (time, "time")):
            if column is not None and column not in columns:
                raise DataValidationError(MSG_MISSING_COLUMN.format(
                    column=column, role=role, present=", ".join(columns[:30])))
        report(0.3, f"Counting {place.describe()} where it lives")
        counts, aggregation = _count(place, mapping, mapping.sensitive, False, engine)
    finally:
        engine.dispose()
    roles = _roles(mapping, columns, None, outcome_label)
    roles["in_place"] = {"url": url, "table": table, "query": query}
    report(0.8, "Writing the data card")
    facts = _card_facts(counts, place, aggregation)
    definition = json.dumps({"in_place": roles["in_place"], "mapping": roles["mapping"]},
                            sort_keys=True, separators=(",", ":"))
    version = VersionInput(
        source=f"in place: {place.describe()}",
        sha256=hashlib.sha256(definition.encode()).hexdigest(), n_rows=counts.rows,
        roles=roles, card=_card(name, description, intended_use, adverse, facts, place),
        card_data=facts, data_path=None)
    done = store.register_system_version(
        actor, SystemInput(name, description, intended_use, not adverse, owner), version, None)
    report(1.0, f"Version {done.dataset.version} of {name!r} "
                + ("registered, kept in place" if done.created else "was already registered"))
    return done


def _columns(place: InPlace, engine: Engine) -> list[str]:
    dialect = engine.dialect.name if engine.dialect.name in DIALECTS else "sql"
    source = _source_sql(DIALECTS[dialect].ident, place.table, place.query)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(f"SELECT * FROM {source} WHERE 1 = 0")).keys())
    except SQLAlchemyError as error:
        raise DataValidationError(MSG_CANNOT_READ.format(
            source=place.table or place.query, url=redact_url(place.url),
            error=getattr(error, "orig", error))) from None


def _card_facts(counts: GroupCounts, place: InPlace, aggregation: Aggregation
                ) -> dict[str, Any]:
    """The card's numbers, from the counts: rows, outcome and decision rates, and each
    sensitive feature's categories with their sizes (as the registry's cards name them)."""
    groups = counts.groups
    first = groups[groups["slice"] == counts.features[0]]
    positives, selected = (int((first[a] + first[b]).sum()) for a, b in (("tp", "fn"),
                                                                         ("tp", "fp")))
    sensitive = []
    for feature in counts.features:
        rows = groups[groups["slice"] == feature]
        sensitive.append({"feature": feature, "categories": [
            {"value": MISSING_CATEGORY if label == MISSING_GROUP else str(label),
             "n": int(n), "share": int(n) / counts.rows}
            for label, n in zip(rows["group_label"], rows["n"], strict=True)]})
    return {"rows": int(counts.rows), "in_place": {"source": place.describe(),
                                                   "backend": aggregation.backend},
            "outcome_rate": positives / counts.rows, "decision_rate": selected / counts.rows,
            "sensitive": sensitive}


def _card(name: str, description: str, intended_use: str, adverse: bool,
          facts: dict[str, Any], place: InPlace) -> str:
    lines = [f"# {name}", "", description or "_No description given._", "",
             f"**Intended use:** {intended_use or 'not stated'}", "",
             f"**Where the decisions are:** kept in place, in {place.describe()}. fairpanel "
             "holds no copy: each audit counts them where they live (one GROUP BY) and "
             "records the exact query.", "",
             f"**At registration:** {facts['rows']:,} decisions; a positive decision is "
             f"{'adverse' if adverse else 'favourable'} for the person.", ""]
    for feature in facts["sensitive"]:
        lines += [f"## {feature['feature']}", "", "| category | decisions | share |",
                  "|---|---|---|"]
        lines += [f"| {c['value']} | {c['n']:,} | {c['share']:.1%} |"
                  for c in feature["categories"]]
        lines.append("")
    return "\n".join(lines)
