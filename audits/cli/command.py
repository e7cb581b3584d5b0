"""The ``fairpanel`` command: the same engine as the dashboard, headless.

Every subcommand has ``--help``. Exit codes (:mod:`audits.cli.common` names them):

- 0: success.
- 1: a gate or a verification failed (``audit --fail-on``, ``log verify``,
  ``report verify``, ``evidence verify``, ``retention check``).
- 2: bad usage or bad input: an argument argparse refuses, a bad value, a missing file,
  a name that is not found, an action the role may not take (the message names what is
  wrong).
- 3: the database cannot be reached or opened (one line naming host and port, never the
  password), or an unexpected error, a bug to report; ``FAIRPANEL_DEBUG=1`` prints its
  traceback.
- 130: interrupted (Ctrl-C).
- 141: the reader of standard output closed it early (``fairpanel monitor | head``); the
  command stops quietly, as ``yes | head`` does.

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

from audits.cli.api import add_api_parser
from audits.cli.audit import add_audit_parser
from audits.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME_ERROR,
    EXIT_USAGE,
    ProgressBar,
    check_arguments,
    database_error_message,
    group_help,
    open_store,
    silence_stdout,
)
from audits.cli.conversations import add_conversations_parsers
from audits.cli.evidence import add_evidence_parser, evidence_argv
from audits.cli.explain import add_explain_parser
from audits.cli.interchange import add_interchange_parsers
from audits.cli.judges import add_judges_parser
from audits.cli.live import add_live_parser
from audits.cli.log import add_log_commands, add_verify_options, cmd_log_verify
from audits.cli.panel import add_panel_parsers
from audits.cli.panel_store import add_panel_store_parsers
from audits.cli.queue import add_queue_parsers
from audits.cli.report import add_report_parser, report_argv
from audits.cli.retention import add_retention_parser
from audits.cli.retrain import add_retrain_parsers
from audits.cli.slices import add_slices_parser
from audits.cli.systems import add_systems_parsers
from audits.cli.tokens import add_tokens_parser
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
MSG_DEMO_HOST = (
    "demo mode (personas without passwords) is served only on a loopback address; "
    "--host {host!r} would open it to the network. Use --host 127.0.0.1, or serve with "
    "--auth local"
)

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
        words = sys.argv[1:] if argv is None else list(argv)
        # Bad usage: argparse exits 2 itself.
        args = parser.parse_args(evidence_argv(report_argv(words)))
        if args.database_url:
            os.environ["FAIRPANEL_DATABASE_URL"] = args.database_url
        if not hasattr(args, "func"):
            parser.print_help()
            return EXIT_USAGE
        check_arguments(args)
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(MSG_INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except USAGE_ERRORS as exc:
        print(MSG_ERROR.format(error=exc), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        message = database_error_message(exc)
        if message is None:
            return _internal_error(exc)
        print(message, file=sys.stderr)
        return EXIT_RUNTIME_ERROR


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
                                      "dashboard in demo mode (personas without passwords)."
                                      " Refused on a store that holds any user who is not "
                                      "a demo account, and on a non-loopback --host.")
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
                       help="sign-in mode (default: FAIRPANEL_AUTH, else local accounts; "
                            "OIDC is used when Streamlit auth is configured in secrets.toml;"
                            " demo only on a loopback --host and a store of demo accounts)")
    serve.set_defaults(func=_cmd_serve)

    add_systems_parsers(sub)
    add_evidence_parser(sub)
    add_audit_parser(sub)
    add_slices_parser(sub)
    add_judges_parser(sub)
    add_conversations_parsers(sub)
    add_explain_parser(sub)
    add_queue_parsers(sub)
    add_interchange_parsers(sub)
    add_panel_store_parsers(sub)
    add_panel_parsers(sub)
    add_report_parser(sub)
    add_retrain_parsers(sub)
    _users_parser(sub)
    add_retention_parser(sub)
    add_tokens_parser(sub)
    add_api_parser(sub)
    add_live_parser(sub)
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
    users.set_defaults(func=lambda a: group_help(users))


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
    ds.set_defaults(func=lambda a: group_help(ds))


def _log_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log = sub.add_parser("log", help="the hash-chained audit log",
                         description="Inspect and verify the tamper-evident audit log.")
    lsub = log.add_subparsers(title="log commands", metavar="ACTION")
    verify = lsub.add_parser("verify", help="check the hash chain against its signed "
                             "checkpoints; exit 1 if broken",
                             description="Recompute every entry's hash and link and check "
                                         "them against every signed checkpoint; exit 0 "
                                         "when intact, 1 when any entry was altered, "
                                         "removed or reordered, or the log was rewritten "
                                         "or truncated behind a checkpoint. Entries after "
                                         "the last checkpoint are reported as unanchored.")
    verify.add_argument("--json", action="store_true", help="print JSON")
    add_verify_options(verify)
    verify.set_defaults(func=cmd_log_verify)
    show = lsub.add_parser("show", help="print the newest entries",
                           description="Print the newest log entries.")
    show.add_argument("--limit", type=int, default=20)
    show.set_defaults(func=_cmd_log_show)
    add_log_commands(lsub)
    log.set_defaults(func=lambda a: group_help(log))



def _cmd_demo(args: argparse.Namespace) -> int:
    from audits.demo.conversations import SYSTEM as CONVERSATION_SYSTEM
    from audits.demo.panel import ensure_full_demo

    if not args.no_serve:
        _check_demo_host(args.host)
    with open_store() as store:
        store.check_demo_store()  # before anything is written
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
    if demo.conversations is not None:
        print(f"conversation system {CONVERSATION_SYSTEM} (simulated chatbot): audit run "
              f"{demo.conversations.audit_run_id}, {demo.conversations.cases} conversations "
              f"queued, {demo.conversations.assignments} assignments, "
              f"{demo.conversations.ratings} rubric ratings")
    if args.no_serve:
        return EXIT_OK
    return _serve(args, auth="demo")


def _cmd_serve(args: argparse.Namespace) -> int:
    auth = args.auth or os.environ.get("FAIRPANEL_AUTH", "").strip().lower() or None
    if auth == "demo":
        _check_demo_host(args.host)
        with open_store() as store:
            store.check_demo_store()
    return _serve(args, auth=args.auth)


def _check_demo_host(host: str) -> None:
    import ipaddress

    name = host.strip().strip("[]").lower()
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(MSG_DEMO_HOST.format(host=host))


def _serve(args: argparse.Namespace, *, auth: str | None) -> int:
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
    return _run_child(cmd, env)


def _run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run the server in its own process group; SIGTERM, SIGINT or SIGHUP stop it too.

    The child is never left running: a signal to this process is passed on to the
    child's whole group, and on any way out the group is terminated (killed after 10 s).
    """
    import signal
    import subprocess

    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        _signal_group(proc.pid, signal.SIGTERM if signum == signal.SIGHUP else signum)

    caught = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
    previous = {s: signal.signal(s, forward) for s in caught}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
    if received:
        return EXIT_INTERRUPTED if received[0] == signal.SIGINT else EXIT_OK
    return code if code >= 0 else 128 - code


def _signal_group(pid: int, signum: int) -> None:
    import contextlib

    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, signum)


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
             "has_password": u.has_password, "active": u.active, "demo": u.demo,
             "locked_until": None if u.locked_until is None else u.locked_until.isoformat()}
            for u in users]
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


def _cmd_log_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        entries = store.log_entries(limit=args.limit)
    for e in entries:
        print(f"{e.id:>6}  {e.ts}  {e.actor:<24} {e.action:<22} {e.entity}:{e.entity_id}  "
              f"{e.hash[:12]}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
