"""``fairpanel log verify|key|checkpoints|checkpoint``: the anchored audit log.

``log verify`` recomputes the hash chain and checks it against every signed checkpoint
(and, with ``--checkpoints PATH``, against checkpoints exported earlier to a place the
database's owner cannot write); it tells a rewritten log from a truncated one and
reports entries after the last checkpoint as unanchored. ``log key`` prints the
deployment's pinned public key and its fingerprint, to record out of band.
``log checkpoints --export PATH`` writes every checkpoint as JSON lines;
``log checkpoint`` signs one now (for a scheduler).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from audits.cli.common import EXIT_CHECK_FAILED, EXIT_OK, open_store
from audits.roles import Actor

__all__ = ["add_log_commands", "cmd_log_verify"]

MSG_NO_KEY = "no signing key pinned yet: the first approval or checkpoint pins it"
MSG_NO_FILE = "cannot read the checkpoint file {path}: {error}"


def add_log_commands(lsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``key``, ``checkpoints`` and ``checkpoint`` under ``fairpanel log``."""
    key = lsub.add_parser("key", help="print the pinned signing key and its fingerprint",
                          description="Print the deployment's pinned Ed25519 public key and "
                                      "its sha256 fingerprint. Record the fingerprint "
                                      "somewhere the database's owner cannot change it.")
    key.add_argument("--json", action="store_true", help="print JSON")
    key.set_defaults(func=_cmd_key)
    cps = lsub.add_parser("checkpoints", help="list or export the signed checkpoints",
                          description="List the signed checkpoints of the log head, or "
                                      "write them all as JSON lines with --export.")
    cps.add_argument("--export", metavar="PATH", help="write every checkpoint to PATH")
    cps.set_defaults(func=_cmd_checkpoints)
    now = lsub.add_parser("checkpoint", help="sign a checkpoint of the log head now",
                          description="Sign and store a checkpoint of the current log head "
                                      "(e.g. from a scheduler); the first one pins the key.")
    now.set_defaults(func=_cmd_checkpoint)


def add_verify_options(verify: argparse.ArgumentParser) -> None:
    """Add ``--checkpoints PATH`` to ``fairpanel log verify``."""
    verify.add_argument("--checkpoints", metavar="PATH",
                        help="also verify against checkpoints exported to PATH earlier")


def cmd_log_verify(args: argparse.Namespace) -> int:
    """Check the chain against every checkpoint; exit 1 when rewritten or truncated."""
    from audits.store.checkpoints import format_fingerprint, read_checkpoint_lines

    extra = None
    if getattr(args, "checkpoints", None):
        try:
            text = Path(args.checkpoints).read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(MSG_NO_FILE.format(path=args.checkpoints, error=error)) from None
        extra = read_checkpoint_lines(text)
    with open_store() as store:
        result = store.verify_anchors(extra)
        chain = store.verify_log()
    if args.json:
        print(json.dumps({"ok": result.ok, "n_entries": result.n_entries,
                          "first_bad_id": chain.first_bad_id, "reason": result.reason,
                          "status": result.status, "n_checkpoints": result.n_checkpoints,
                          "last_anchored_id": result.last_anchored_id,
                          "unanchored": result.unanchored,
                          "key_fingerprint": result.fingerprint,
                          "checked_file": extra is not None}))
    elif result.ok:
        print(f"log intact: {result.reason}")
        if result.fingerprint:
            print(f"pinned key fingerprint: {format_fingerprint(result.fingerprint)}")
    elif result.status == "broken":
        print(f"log BROKEN at entry {chain.first_bad_id}: {chain.reason}")
    else:
        print(f"log {result.status.upper()}: {result.reason}")
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED


def _cmd_key(args: argparse.Namespace) -> int:
    from audits.store.checkpoints import format_fingerprint

    with open_store() as store:
        pinned = store.pinned_key()
    if pinned is None:
        print(json.dumps({"pinned": False}) if args.json else MSG_NO_KEY)
        return EXIT_OK
    if args.json:
        print(json.dumps({"pinned": True, "public_key": pinned.public_key,
                          "fingerprint": pinned.fingerprint,
                          "pinned_at": pinned.pinned_at.isoformat(),
                          "log_entry_id": pinned.log_entry_id}))
        return EXIT_OK
    print(f"public key (Ed25519): {pinned.public_key}")
    print(f"fingerprint (sha256): {format_fingerprint(pinned.fingerprint)}")
    print(f"pinned at {pinned.pinned_at.isoformat()} (log entry {pinned.log_entry_id})")
    print("Record the fingerprint where the database's owner cannot change it.")
    return EXIT_OK


def _cmd_checkpoints(args: argparse.Namespace) -> int:
    from audits.store.checkpoints import export_lines

    with open_store() as store:
        checkpoints = store.list_checkpoints()
    if args.export:
        Path(args.export).write_text(export_lines(checkpoints), encoding="utf-8")
        last = checkpoints[-1].entry_id if checkpoints else 0
        print(f"{len(checkpoints)} checkpoint(s) up to log entry {last} written to "
              f"{args.export}")
        return EXIT_OK
    for c in checkpoints:
        print(_line(c.to_dict()))
    return EXIT_OK


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    with open_store() as store:
        c = store.write_checkpoint(Actor.system())
    print(f"checkpoint #{c.id} signed: log entry {c.entry_id} has hash {c.entry_hash}")
    return EXIT_OK


def _line(c: dict[str, Any]) -> str:
    report = f"  report {c['report_id']}" if c["report_id"] is not None else ""
    return (f"#{c['id']:>4}  entry {c['entry_id']:>6}  {c['ts']}  {c['reason']:<9} "
            f"{c['entry_hash'][:12]}{report}")
