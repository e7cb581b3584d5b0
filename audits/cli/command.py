"""The ``fairpanel`` command: the same engine as the dashboard, headless.

Every subcommand has ``--help``. Exit codes (:mod:`audits.cli.common` names them):

- 0: success.
- 1: a gate or a verification failed (``audit --fail-on``, ``log verify``,
  ``report verify``).
- 2: bad usage or bad input: an argument argparse refuses, a bad value, a missing file,
  a name that is not found, an action the role may not take (the message names what is
  wrong).
- 3: an unexpected error, a bug to report; ``FAIRPANEL_DEBUG=1`` prints its traceback.
- 130: interrupted (Ctrl-C).

The parser is built from light modules only (the bundled datasets' names come from
:mod:`audits.data.catalog`); each command imports the engine it needs when it runs, so
``fairpanel --help`` and ``fairpanel datasets list`` never load pandas or scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from audits.cli.audit import add_audit_parser
from audits.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ProgressBar,
    open_store,
)
from audits.cli.panel import add_panel_parsers
from audits.cli.queue import add_queue_parsers
from audits.cli.report import add_report_parser
from audits.cli.retrain import add_retrain_parsers
from audits.data.catalog import CATALOG, DATASET_NAMES
from audits.roles import Actor, PermissionDenied, Role

__all__ = ["main"]

MSG_ERROR = "fairpanel: error: {error}"
MSG_INTERNAL_ERROR = "fairpanel: internal error: {kind}: {error}"
MSG_REPORT_BUG = (
    "fairpanel: this is a bug in fairpanel; please report it with the command that caused "
    "it (set FAIRPANEL_DEBUG=1 to print the traceback)"
)
MSG_INTERRUPTED = "fairpanel: interrupted"
MSG_PASSWORDS_DIFFER = "the passwords differ"

#: What the engine raises for bad input: exit 2 with the message, no traceback.
#: ``DataValidationError`` is a ``ValueError``, ``PermissionDenied`` a ``PermissionError``;
#: the other ``OSError`` subclasses name a path that is missing or cannot be used.
USAGE_ERRORS: tuple[type[Exception], ...] = (
    ValueError, LookupError, PermissionDenied, FileNotFoundError, FileExistsError,
    IsADirectoryError, NotADirectoryError, PermissionError,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    try:
        parser = _parser()
        args = parser.parse_args(argv)  # bad usage: argparse exits 2 itself
        if args.database_url:
            os.environ["FAIRPANEL_DATABASE_URL"] = args.database_url
        if not hasattr(args, "func"):
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args))
    except KeyboardInterrupt:
        print(MSG_INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except USAGE_ERRORS as exc:
        print(MSG_ERROR.format(error=exc), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    if os.environ.get("FAIRPANEL_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(MSG_INTERNAL_ERROR.format(kind=type(exc).__name__, error=exc), file=sys.stderr)
    print(MSG_REPORT_BUG, file=sys.stderr)
    return EXIT_INTERNAL_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fairpanel",
        description="Bias auditing and human evaluation: audits, reviewer panels, reports.",
    )
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL of the store (default: FAIRPANEL_DATABASE_URL, "
                             "else a SQLite file in the user data directory)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = sub.add_parser("demo", help="prepare the bundled default and open the dashboard",
                          description="Prepare the bundled default (dataset, default model, "
                                      "a first audit run, demo personas), then start the "
                                      "dashboard in demo mode.")
    demo.add_argument("--dataset", choices=list(DATASET_NAMES), default=None,
                      help="bundled dataset (default: FAIRPANEL_DEMO_DATASET or adult)")
    demo.add_argument("--no-serve", action="store_true",
                      help="only prepare; do not start the dashboard")
    _serve_options(demo)
    demo.set_defaults(func=_cmd_demo)

    serve = sub.add_parser("serve", help="start the dashboard",
                           description="Start the Streamlit dashboard on this store.")
    _serve_options(serve)
    serve.add_argument("--auth", choices=["demo", "local"], default=None,
                       help="sign-in mode (default: FAIRPANEL_AUTH, else demo; OIDC is used "
                            "when Streamlit auth is configured in secrets.toml)")
    serve.set_defaults(func=_cmd_serve)

    add_audit_parser(sub)
    add_queue_parsers(sub)
    add_panel_parsers(sub)
    add_report_parser(sub)
    add_retrain_parsers(sub)
    _users_parser(sub)
    _datasets_parser(sub)
    _log_parser(sub)
    return parser


def _serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--browser", action="store_true", help="open a web browser")


def _users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage local accounts",
                           description="Manage local accounts (argon2-hashed passwords).")
    usub = users.add_subparsers(title="users commands", metavar="ACTION")
    add = usub.add_parser("add", help="add a user", description="Add a local user. The "
                          "password is prompted for, or read from stdin with --password-stdin;"
                          " it is never taken from the command line.")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--display-name", default=None)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.add_argument("--no-password", action="store_true",
                     help="no local password (for OIDC sign-in)")
    add.set_defaults(func=_cmd_users_add)
    lst = usub.add_parser("list", help="list users", description="List users.")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_cmd_users_list)
    users.set_defaults(func=lambda a: _help(users))


def _datasets_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ds = sub.add_parser("datasets", help="list or show bundled datasets",
                        description="Bundled datasets and their cards.")
    dsub = ds.add_subparsers(title="datasets commands", metavar="ACTION")
    lst = dsub.add_parser("list", help="list bundled datasets with row counts",
                          description="List bundled datasets with row counts.")
    lst.add_argument("--json", action="store_true", help="print JSON (see docs/json-contracts.md)")
    lst.set_defaults(func=_cmd_datasets_list)
    show = dsub.add_parser("show", help="print a dataset's card and roles",
                           description="Print a dataset's card and column roles.")
    show.add_argument("name", choices=list(DATASET_NAMES))
    show.set_defaults(func=_cmd_datasets_show)
    ds.set_defaults(func=lambda a: _help(ds))


def _log_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log = sub.add_parser("log", help="the hash-chained audit log",
                         description="Inspect and verify the tamper-evident audit log.")
    lsub = log.add_subparsers(title="log commands", metavar="ACTION")
    verify = lsub.add_parser("verify", help="recompute the hash chain; exit 1 if broken",
                             description="Recompute every entry's hash and link; exit 0 "
                                         "when intact, 1 when any entry was altered, "
                                         "removed or reordered.")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(func=_cmd_log_verify)
    show = lsub.add_parser("show", help="print the newest entries",
                           description="Print the newest log entries.")
    show.add_argument("--limit", type=int, default=20)
    show.set_defaults(func=_cmd_log_show)
    log.set_defaults(func=lambda a: _help(log))


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return EXIT_USAGE


def _cmd_demo(args: argparse.Namespace) -> int:
    from audits.demo.panel import ensure_full_demo

    with open_store() as store:
        demo = ensure_full_demo(store, dataset=args.dataset, progress=ProgressBar(sys.stderr))
    state, queues = demo.state, demo.queues
    print(f"dataset {state.dataset.name}: {state.dataset.n_rows} rows, "
          f"sha256 {state.dataset.sha256[:16]}")
    if state.model is not None:
        print(f"model {state.model.kind}: sha256 {state.model.sha256[:16]}")
    print(f"audit run {state.audit_run.id}: {state.audit_run.status}")
    print(f"review queue of fairness audit run {queues.queue.audit_run.id}: "
          f"{len(queues.queue.cases)} cases")
    print(f"monitoring example (simulated weekly batches): audit run {queues.monitoring_run_id}")
    print(f"reviewer panel: {demo.panel.reviewers} reviewers ({demo.panel.reviewers - 1} "
          f"simulated), {demo.panel.assignments} assignments")
    if args.no_serve:
        return EXIT_OK
    return _serve(args, auth="demo")


def _cmd_serve(args: argparse.Namespace) -> int:
    return _serve(args, auth=args.auth)


def _serve(args: argparse.Namespace, *, auth: str | None) -> int:
    import subprocess
    from importlib import resources

    script = resources.files("app").joinpath("streamlit_app.py")
    env = dict(os.environ)
    if auth:
        env["FAIRPANEL_AUTH"] = auth
    cmd = [sys.executable, "-m", "streamlit", "run", str(script),
           "--server.port", str(args.port), "--server.address", args.host,
           "--server.headless", "false" if args.browser else "true",
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    print(f"fairpanel dashboard: http://{args.host}:{args.port}", file=sys.stderr)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return EXIT_OK


def _cmd_users_add(args: argparse.Namespace) -> int:
    import getpass

    password: str | None = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not args.no_password:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print(MSG_ERROR.format(error=MSG_PASSWORDS_DIFFER), file=sys.stderr)
            return EXIT_USAGE
    with open_store() as store:
        user = store.add_user(Actor.system(), args.username, Role.parse(args.role),
                              password=password, display_name=args.display_name)
    print(f"added {user.username} ({user.role})")
    return EXIT_OK


def _cmd_users_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        users = store.list_users()
    rows = [{"username": u.username, "display_name": u.display_name, "role": str(u.role),
             "has_password": u.has_password, "active": u.active} for u in users]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['username']:<28} {r['role']:<20} "
                  f"{'password' if r['has_password'] else '-':<9} "
                  f"{'active' if r['active'] else 'inactive'}")
    return EXIT_OK


def _cmd_datasets_list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [{"name": d.name, "title": d.title, "rows": d.n_rows,
             "target": d.target, "sensitive_features": list(d.sensitive_features),
             "prediction": d.prediction, "score": d.score}
            for d in CATALOG.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{'name':<15} {'rows':>7}  {'target':<17} sensitive features")
    for r in rows:
        print(f"{r['name']:<15} {r['rows']:>7}  {r['target']:<17} "
              f"{', '.join(r['sensitive_features'])}")
    return EXIT_OK


def _cmd_datasets_show(args: argparse.Namespace) -> int:
    from audits.data.datasets import load_dataset, read_card

    loaded = load_dataset(args.name)
    print(read_card(args.name))
    print("## Loaded\n")
    print(f"- rows: {len(loaded.frame)}")
    print(f"- content sha256: {loaded.sha256}")
    print(f"- roles: {json.dumps(loaded.roles.as_dict())}")
    return EXIT_OK


def _cmd_log_verify(args: argparse.Namespace) -> int:
    with open_store() as store:
        result = store.verify_log()
    if args.json:
        print(json.dumps({"ok": result.ok, "n_entries": result.n_entries,
                          "first_bad_id": result.first_bad_id, "reason": result.reason}))
    elif result.ok:
        print(f"log intact: {result.n_entries} entries, chain verified")
    else:
        print(f"log BROKEN at entry {result.first_bad_id}: {result.reason}")
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED


def _cmd_log_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        entries = store.log_entries(limit=args.limit)
    for e in entries:
        print(f"{e.id:>6}  {e.ts}  {e.actor:<24} {e.action:<22} {e.entity}:{e.entity_id}  "
              f"{e.hash[:12]}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
