"""``fairpanel tokens create|list|revoke``: bearer tokens of the decision API.

``tokens create --system NAME --scope decide|read [--label TEXT] [--json PATH|-]`` prints
the new token once, as ``{"id", "token"}`` with ``--json`` (a public contract, see the
README); the store keeps only its SHA-256. ``tokens list [--system NAME] [--json]``
shows each token's id, system, scope, prefix and whether it is revoked, never a token.
``tokens revoke ID`` stops a token at once. Each acts as the command line
(``system:cli``) or, with ``--user NAME``, as that admin, authenticated by password.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from audits.cli.common import EXIT_OK, emit_json, group_help, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_tokens_parser"]


def add_tokens_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fairpanel tokens``."""
    tokens = sub.add_parser("tokens", help="bearer tokens of the decision API",
                            description="Create, list and revoke the bearer tokens that "
                                        "open one system's decision API for one scope "
                                        "(decide: send decisions; read: read outcomes). "
                                        "A token is shown once; only its hash is stored.")
    tsub = tokens.add_subparsers(title="tokens commands", metavar="ACTION")
    create = tsub.add_parser("create", help="create a token and print it once",
                             description="Create a token for one system and scope. It is "
                                         "printed once and cannot be shown again.")
    create.add_argument("--system", required=True, metavar="NAME", help="the system")
    create.add_argument("--scope", required=True, choices=["decide", "read"],
                        help="decide: send decisions (and read them); read: read only")
    create.add_argument("--label", default="", help="what the token is for (shown in lists)")
    create.add_argument("--json", metavar="PATH|-", default=None,
                        help='write {"id", "token"} as JSON to PATH, or "-" for stdout')
    add_acting_options(create, who="an admin")
    create.set_defaults(func=_cmd_create)
    lst = tsub.add_parser("list", help="list tokens (never the tokens themselves)",
                          description="List tokens: id, system, scope, prefix, label, "
                                      "who created them and whether they are revoked.")
    lst.add_argument("--system", default=None, metavar="NAME", help="only this system's")
    lst.add_argument("--json", action="store_true", help="print JSON")
    add_acting_options(lst, who="an admin")
    lst.set_defaults(func=_cmd_list)
    revoke = tsub.add_parser("revoke", help="revoke a token at once",
                             description="Revoke a token: every request with it is refused "
                                         "from now on. Revoking twice changes nothing.")
    revoke.add_argument("id", type=int, help="the token's id (see tokens list)")
    add_acting_options(revoke, who="an admin")
    revoke.set_defaults(func=_cmd_revoke)
    tokens.set_defaults(func=lambda a: group_help(tokens))


def _cmd_create(args: argparse.Namespace) -> int:
    with open_store() as store:
        new = store.create_token(acting_user(store, args), args.system, args.scope,
                                 label=args.label)
    text = (f"token #{new.record.id} for system {new.record.system!r}, scope "
            f"{new.record.scope} (shown once; store it now):\n{new.token}")
    emit_json({"id": new.record.id, "token": new.token}, args.json, text)
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        listed = store.list_tokens(acting_user(store, args), args.system)
    rows: list[dict[str, Any]] = [
        {"id": t.id, "system": t.system, "scope": t.scope, "prefix": t.prefix,
         "label": t.label, "created_by": t.created_by, "created_at": t.created_at.isoformat(),
         "revoked_at": None if t.revoked_at is None else t.revoked_at.isoformat()}
        for t in listed]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        print(f"#{r['id']:<5} {r['system']:<24} {r['scope']:<7} {r['prefix']}…  {state:<8}"
              f" {r['label']}")
    if not rows:
        print("no tokens")
    return EXIT_OK


def _cmd_revoke(args: argparse.Namespace) -> int:
    with open_store() as store:
        record = store.revoke_token(acting_user(store, args), args.id)
    print(f"token #{record.id} ({record.system}, {record.scope}) revoked "
          f"{record.revoked_at.isoformat() if record.revoked_at else ''}")
    return EXIT_OK
