"""``fairpanel systems``: register an organisation's own system, list, show, purge.

``systems add NAME`` copies a version of the system's decisions (a CSV or Parquet file,
a glob of Parquet files, or a SQL table or query) into the store's content-addressed
data folder with its column roles, optionally with sensitive data held apart and a skops
model, through :func:`audits.systems.registry.register_system` (one transaction: nothing
is half-registered). The same data again is the same version (``"created": false``).
``systems list`` and ``systems show NAME`` read what is registered; ``systems
purge-sensitive NAME`` deletes every sensitive file of the system and logs it
(:meth:`audits.store.Store.purge_sensitive`). The JSON
contracts are documented in docs/json-contracts.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from audits.cli.common import (
    EXIT_OK,
    ProgressBar,
    emit_json,
    group_help,
    open_store,
)
from audits.cli.signoff import acting_user, add_acting_options

if TYPE_CHECKING:
    from audits.store import DatasetRecord, ModelRecord, Store, SystemRecord

__all__ = ["add_systems_parsers", "system_model", "version_json"]

MSG_DATA_OR_SQL = "give --data PATH or --sql URL (with --table T or --query Q)"
MSG_SQL_NEEDS_SOURCE = "--sql URL needs --table T or --query Q (one of them)"
MSG_TABLE_WITHOUT_SQL = "{option} goes with --sql URL"
MSG_JOIN_WITHOUT_SENSITIVE = "--join names the id column of --sensitive-data; give both"
MSG_DECISIONS = "give --prediction COL, or --score COL with --threshold T"
MSG_IN_PLACE_NEEDS_SQL = "--in-place keeps decisions in a database: give --sql URL"
MSG_NOT_IN_PLACE = "{option} does not go with --in-place (the decisions stay in the database)"
MSG_THRESHOLD_NEEDS_SCORE = "--threshold needs --score (the column the threshold applies to)"
MSG_MIN_MATCH = "--min-match must lie from 0 to 1; got {value}"
MSG_UNKNOWN_SYSTEM = "no system named {name!r}; registered systems: {known}"


def add_systems_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``systems add|list|show|purge-sensitive`` on the top-level subparsers."""
    systems = sub.add_parser("systems", help="register and inspect your own systems",
                             description="A system is what is audited: its decisions data "
                                         "(versions), column roles, optional sensitive data "
                                         "kept apart, optional model.")
    ssub = systems.add_subparsers(title="systems commands", metavar="ACTION")
    _add_parser(ssub)
    lst = ssub.add_parser("list", help="list registered systems",
                          description="List registered systems with their latest version.")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_cmd_list)
    show = ssub.add_parser("show", help="a system's metadata, versions and card",
                           description="Print a system's metadata, every version (sha256, "
                                       "rows, sensitive data, models) and the latest card.")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_cmd_show)
    purge = ssub.add_parser(
        "purge-sensitive", help="delete a system's sensitive data, and log it",
        description="Delete the sensitive data files of every version of system NAME and "
                    "log the purge with its reason; audits that need them then say the "
                    "data are gone. Requires a compliance officer or admin.")
    purge.add_argument("name", metavar="NAME")
    purge.add_argument("--reason", required=True, help="why the data are deleted (logged)")
    add_acting_options(purge, who="a compliance officer or admin")
    purge.add_argument("--json", action="store_true", help="print JSON")
    purge.set_defaults(func=_cmd_purge)
    systems.set_defaults(func=lambda _args: group_help(systems))


def _add_parser(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add = ssub.add_parser(
        "add", help="register a system, or a new version of its data",
        description="Register system NAME (or a new version of its data): the data are read "
                    "once, checked, and copied into the store as Parquet with their sha256. "
                    "The same data again is the same version (created: false). Sensitive "
                    "data given apart are joined on --join and stored apart; under "
                    "--min-match of the ids matched, nothing is registered.")
    add.add_argument("name", metavar="NAME", help="the system's name (unique)")
    where = add.add_argument_group("where the decisions are")
    where.add_argument("--data", metavar="PATH",
                       help="CSV (.csv, .csv.gz), Parquet, or a glob of Parquet files")
    where.add_argument("--sql", metavar="URL", help="a SQLAlchemy database URL")
    where.add_argument("--table", metavar="T", help="table to read (with --sql)")
    where.add_argument("--query", metavar="Q", help="SELECT query to read (with --sql)")
    where.add_argument("--in-place", action="store_true",
                       help="keep the decisions in their database (with --sql): no copy; "
                            "each audit counts them there and records the query")
    roles = add.add_argument_group("column roles")
    roles.add_argument("--id", required=True, metavar="COL", help="unique id of a decision")
    roles.add_argument("--target", required=True, metavar="COL",
                       help="observed outcome (y_true)")
    roles.add_argument("--prediction", metavar="COL", help="logged decision (y_pred)")
    roles.add_argument("--score", metavar="COL", help="score (y_score)")
    roles.add_argument("--threshold", type=float, metavar="T",
                       help="decide y_pred = score >= T (with --score)")
    roles.add_argument("--sensitive", action="append", required=True, metavar="COL",
                       help="sensitive feature (repeat for several)")
    roles.add_argument("--features", action="append", metavar="COL",
                       help="model feature (repeat for several; default: the model's own, "
                            "else every other column)")
    roles.add_argument("--positive-label", metavar="V",
                       help="the target's positive label, when not 0/1")
    roles.add_argument("--time", metavar="COL", help="time of the decision")
    apart = add.add_argument_group("sensitive data kept apart")
    apart.add_argument("--sensitive-data", metavar="PATH",
                       help="a second file holding the sensitive columns")
    apart.add_argument("--join", metavar="COL",
                       help="its id column, matched to --id (default: the --id column)")
    apart.add_argument("--min-match", type=float, default=0.99, metavar="SHARE",
                       help="smallest share of decisions matched to sensitive data (0.99)")
    about = add.add_argument_group("the system")
    about.add_argument("--model", metavar="PATH.skops",
                       help="the model that made the decisions (skops; never pickle)")
    about.add_argument("--adverse", action="store_true",
                       help="a positive decision is unfavourable (e.g. 'high risk')")
    about.add_argument("--description", default="", metavar="TEXT")
    about.add_argument("--intended-use", default="", metavar="TEXT")
    about.add_argument("--owner", default="", metavar="NAME")
    add_acting_options(add, who="a data scientist or admin")
    add.add_argument("--json", metavar="PATH|-", help="write the result as JSON ('-': stdout)")
    add.set_defaults(func=_cmd_add)


def _cmd_add(args: argparse.Namespace) -> int:
    from audits.systems.registry import register_system

    data = _source(args)
    _check_roles(args)
    if args.in_place:
        return _add_in_place(args)
    with open_store() as store:
        actor = acting_user(store, args)
        done = register_system(
            store, actor, args.name, data, id=args.id, target=args.target,
            sensitive=list(args.sensitive), prediction=args.prediction, score=args.score,
            threshold=args.threshold, features=args.features,
            positive_label=args.positive_label, time=args.time,
            sensitive_data=args.sensitive_data, join=args.join, min_match=args.min_match,
            model=args.model, description=args.description,
            intended_use=args.intended_use, adverse=args.adverse, owner=args.owner,
            progress=ProgressBar(sys.stderr))
    result = added_json(done.system.name, done.dataset, done.model, done.created)
    text = (f"system {result['system']!r} version {result['version']}: {result['rows']:,} "
            f"rows, sha256 {result['sha256']}"
            + ("" if done.created else " (already registered; nothing added)"))
    if result.get("sensitive"):
        s = result["sensitive"]
        text += (f"\nsensitive data kept apart: {s['n_matched']:,} matched "
                 f"({s['match_rate']:.2%}), {s['n_unmatched_data']:,} decisions and "
                 f"{s['n_unmatched_sensitive']:,} sensitive rows unmatched")
    if done.model is not None:
        text += f"\nmodel #{done.model.id} ({done.model.kind}), sha256 {done.model.sha256}"
    emit_json(result, args.json, text, default=str)
    return EXIT_OK


def _add_in_place(args: argparse.Namespace) -> int:
    from audits.systems.in_place import register_in_place

    if args.sql is None:
        raise ValueError(MSG_IN_PLACE_NEEDS_SQL)
    for option in ("sensitive_data", "model", "features"):
        if getattr(args, option) is not None:
            raise ValueError(MSG_NOT_IN_PLACE.format(option="--" + option.replace("_", "-")))
    with open_store() as store:
        actor = acting_user(store, args)
        done = register_in_place(
            store, actor, args.name, args.sql, table=args.table, query=args.query,
            id=args.id, target=args.target, sensitive=list(args.sensitive),
            prediction=args.prediction, score=args.score, threshold=args.threshold,
            positive_label=args.positive_label, time=args.time,
            description=args.description, intended_use=args.intended_use,
            adverse=args.adverse, owner=args.owner, progress=ProgressBar(sys.stderr))
    result = added_json(done.system.name, done.dataset, None, done.created)
    text = (f"system {result['system']!r} version {result['version']}: {result['rows']:,} "
            f"rows kept in place ({done.dataset.source.removeprefix('in place: ')})"
            + ("" if done.created else " (already registered; nothing added)"))
    emit_json(result, args.json, text, default=str)
    return EXIT_OK


def added_json(name: str, dataset: DatasetRecord, model: ModelRecord | None,
               created: bool) -> dict[str, Any]:
    """Return the JSON contract of ``fairpanel systems add``."""
    out: dict[str, Any] = {"system": name, "version": dataset.version,
                           "sha256": dataset.sha256, "rows": dataset.n_rows,
                           "dataset_id": dataset.id,
                           "model_id": model.id if model is not None else None,
                           "created": created}
    if dataset.data_path is None and dict(dataset.roles or {}).get("in_place"):
        out["in_place"] = dataset.source.removeprefix("in place: ")
    if dataset.sensitive:
        out["sensitive"] = _sensitive_json(dataset.sensitive)
    return out


def _source(args: argparse.Namespace) -> Any:
    from audits.systems.sources import DataSource

    if (args.data is None) == (args.sql is None):
        raise ValueError(MSG_DATA_OR_SQL)
    if args.data is not None:
        for option in ("table", "query"):
            if getattr(args, option) is not None:
                raise ValueError(MSG_TABLE_WITHOUT_SQL.format(option=f"--{option}"))
        return args.data
    if (args.table is None) == (args.query is None):
        raise ValueError(MSG_SQL_NEEDS_SOURCE)
    return DataSource(url=args.sql, table=args.table, query=args.query)


def _check_roles(args: argparse.Namespace) -> None:
    if args.threshold is not None and args.score is None:
        raise ValueError(MSG_THRESHOLD_NEEDS_SCORE)
    if args.prediction is None and args.threshold is None:
        raise ValueError(MSG_DECISIONS)
    if args.join is not None and args.sensitive_data is None:
        raise ValueError(MSG_JOIN_WITHOUT_SENSITIVE)
    if not 0.0 <= args.min_match <= 1.0:
        raise ValueError(MSG_MIN_MATCH.format(value=args.min_match))


def _cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        rows = []
        for system in store.list_systems():
            versions = store.system_versions(system.name)
            latest = versions[-1] if versions else None
            rows.append({**system_json(system), "versions": len(versions),
                         "latest_version": latest.version if latest else None,
                         "latest_rows": latest.n_rows if latest else None,
                         "latest_sha256": latest.sha256 if latest else None})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no systems registered (fairpanel systems add NAME ...)")
    for r in rows:
        print(f"{r['name']:<24} v{r['latest_version']:<4} {r['latest_rows']:>10,} rows  "
              f"{'adverse' if not r['positive_is_favourable'] else 'favourable':<10} "
              f"{r['description'][:40]}")
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        system = _system(store, args.name)
        versions = store.system_versions(system.name)
        result: dict[str, Any] = {
            "system": system_json(system),
            "versions": [version_json(v, store.list_models(v.id)) for v in versions],
            "card": versions[-1].card if versions else None}
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    s = result["system"]
    print(f"system {s['name']!r}: {s['description'] or '(no description)'}")
    print(f"intended use: {s['intended_use'] or '-'}; owner: {s['owner'] or '-'}; a positive "
          f"decision is {'favourable' if s['positive_is_favourable'] else 'adverse'}")
    for v in result["versions"]:
        sensitive = v["sensitive"]
        apart = ("" if sensitive is None else
                 f", sensitive data apart purged {v['sensitive_purged_at']}"
                 if v["sensitive_purged_at"] else
                 f", sensitive data apart ({sensitive['match_rate']:.2%} matched)")
        models = ", ".join(f"#{m['id']} {m['kind']} {m['status']}" for m in v["models"])
        print(f"  version {v['version']}: {v['rows']:,} rows, sha256 {v['sha256'][:16]}"
              f"{apart}; models: {models or 'none (logged decisions)'}")
    if result["card"]:
        print()
        print(result["card"])
    return EXIT_OK


def _cmd_purge(args: argparse.Namespace) -> int:
    with open_store() as store:
        actor = acting_user(store, args)
        _system(store, args.name)
        purged = store.purge_sensitive(actor, args.name, args.reason)
    result = {"system": args.name, "versions": [v.version for v in purged],
              "sha256s": [(v.sensitive or {}).get("sha256") for v in purged],
              "purged_at": _iso(purged[0].sensitive_purged_at) if purged else None,
              "purged_by": purged[0].sensitive_purged_by if purged else None,
              "reason": args.reason}
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(f"sensitive data of system {args.name!r} purged (version(s) "
          f"{', '.join(map(str, result['versions']))}) by {result['purged_by']}; audits "
          "that need them will say they are gone")
    return EXIT_OK


def system_json(system: SystemRecord) -> dict[str, Any]:
    """Return a system's metadata as JSON (``systems list`` and ``systems show``)."""
    return {"name": system.name, "description": system.description,
            "intended_use": system.intended_use,
            "positive_is_favourable": system.positive_is_favourable, "owner": system.owner,
            "created_at": _iso(system.created_at), "created_by": system.created_by}


def version_json(version: DatasetRecord, models: list[ModelRecord]) -> dict[str, Any]:
    """Return one version of a system as JSON (``systems show``)."""
    return {"version": version.version, "dataset_id": version.id, "sha256": version.sha256,
            "rows": version.n_rows, "source": version.source, "roles": dict(version.roles),
            "created_at": _iso(version.created_at), "created_by": version.created_by,
            "sensitive": _sensitive_json(version.sensitive) if version.sensitive else None,
            "sensitive_purged_at": _iso(version.sensitive_purged_at),
            "sensitive_purged_by": version.sensitive_purged_by,
            "models": [{"id": m.id, "kind": m.kind, "sha256": m.sha256, "status": m.status,
                        "parent_id": m.parent_id} for m in models]}


def system_model(store: Store, dataset: DatasetRecord) -> ModelRecord | None:
    """Return the model a version's audit uses: its lineage's deployed model, else None.

    A version registered with a model has that model as the root of a lineage; after a
    retrained candidate is approved, the approved one is deployed. Without a model the
    version's logged decisions are audited.
    """
    roots = [m for m in store.list_models(dataset.id) if m.parent_id is None]
    if not roots:
        return None
    return store.deployed_version(max(roots, key=lambda m: m.id).id)


def find_version(store: Store, name: str, version: int | None) -> DatasetRecord:
    """Return version ``version`` of system ``name`` (None: the latest).

    Raises
    ------
    LookupError
        No such system, or no such version (the message names the known ones).
    """
    versions = store.system_versions(name)
    if version is None:
        return store.latest_version(name)
    for v in versions:
        if v.version == version:
            return v
    known = ", ".join(str(v.version) for v in versions)
    raise LookupError(f"system {name!r} has no version {version}; versions: {known}")


def _system(store: Store, name: str) -> SystemRecord:
    system = store.get_system(name)
    if system is None:
        known = ", ".join(s.name for s in store.list_systems()) or "none"
        raise LookupError(MSG_UNKNOWN_SYSTEM.format(name=name, known=known))
    return system


def _sensitive_json(sensitive: dict[str, Any]) -> dict[str, Any]:
    keys = ("sha256", "columns", "join", "n_matched", "n_unmatched_data",
            "n_unmatched_sensitive", "match_rate", "source")
    return {k: sensitive.get(k) for k in keys}


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


