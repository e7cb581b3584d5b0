"""Systems brought by their owners: read, checked, copied into the store, loaded back.

A *system* is what is audited (a credit scorer, a screening tool); each of its versions
is a data set of decisions read once from a file, a glob of Parquet files or a SQL table
(:mod:`~audits.systems.sources`), checked against a column mapping
(:mod:`~audits.systems.mapping`), described by a data card (:mod:`~audits.systems.card`)
and copied into the store's content-addressed Parquet folder
(:mod:`~audits.systems.files`), with sensitive data given apart kept apart.
:mod:`~audits.systems.registry` ties these together: :func:`register_system` registers a
version (and the model that made its decisions), :func:`load_version` loads one back for
an audit, :func:`purge_sensitive` deletes a system's sensitive data.
:mod:`~audits.systems.in_place` registers a system whose decisions stay in their database
(:func:`register_in_place`): audits count them there, and no copy is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.systems.card import card_data, card_markdown
    from audits.systems.in_place import count_in_place, in_place_source, register_in_place
    from audits.systems.mapping import ColumnMapping, check_mapping, suggest_mapping
    from audits.systems.registry import load_version, purge_sensitive, register_system
    from audits.systems.sources import DataSource, read_source

__all__ = [
    "ColumnMapping",
    "DataSource",
    "card_data",
    "card_markdown",
    "check_mapping",
    "count_in_place",
    "in_place_source",
    "load_version",
    "purge_sensitive",
    "read_source",
    "register_in_place",
    "register_system",
    "suggest_mapping",
]

__getattr__ = lazy_getattr(__name__, __file__)
