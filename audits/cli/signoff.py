"""Sign-offs at the command line: the named person proves who they are before deciding.

Whoever runs ``fairpanel`` holds the database, so a ``--user NAME`` alone would let that
operator decide in anyone's name. Every command that approves or rejects therefore
authenticates NAME with the store's password check (:meth:`Store.authenticate`,
which logs the sign-in and applies its lockout): the password comes from the first line
of standard input with ``--password-stdin`` (as ``fairpanel users add`` reads it), else
from a prompt when standard input is a terminal, else the command is refused. The
decision's log entry then records the name as asserted, ``authenticated_by:
password``, ``via: cli`` and the operating-system account that ran the command.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TYPE_CHECKING

from audits.roles import Actor, Authentication, PermissionDenied

if TYPE_CHECKING:
    from audits.store import Store

__all__ = ["acting_user", "add_acting_options", "add_signoff_options", "authenticated_actor"]

MSG_NO_PASSWORD_SOURCE = (
    "{user} must be authenticated to decide: pass --password-stdin and give the password "
    "on standard input, or run the command at a terminal to be asked for it"
)
MSG_EMPTY_PASSWORD = "no password on standard input (--password-stdin reads its first line)"
MSG_PASSWORD_WITHOUT_USER = "--password-stdin needs --user NAME (whose password it is)"
MSG_NOT_AUTHENTICATED = (
    "could not authenticate {user!r}: wrong password, no such active user, no password "
    "set, or the account is locked after repeated failures; nothing was decided"
)


def add_signoff_options(parser: argparse.ArgumentParser, *, who: str) -> None:
    """Add ``--user NAME`` (required) and ``--password-stdin`` to a deciding command."""
    parser.add_argument("--user", required=True, metavar="NAME",
                        help=f"who decides ({who}); authenticated by password")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read NAME's password from the first line of standard input "
                             "(else it is prompted for at a terminal)")


def add_acting_options(parser: argparse._ActionsContainer, *, who: str) -> None:
    """Add an optional ``--user NAME`` and ``--password-stdin`` to a command that writes.

    Without ``--user`` the command acts as the operator at the command line
    (``system:cli``, who holds the database); with it, as the named person, authenticated
    by password, so the log names them and the store applies their role.
    """
    parser.add_argument("--user", default=None, metavar="NAME",
                        help=f"act as NAME ({who}), authenticated by password; default: the "
                             "command line (system:cli)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read NAME's password from the first line of standard input "
                             "(else it is prompted for at a terminal)")


def acting_user(store: Store, args: argparse.Namespace) -> Actor:
    """Return who a command acts as: ``--user NAME`` authenticated, else ``system:cli``.

    Raises
    ------
    ValueError
        ``--password-stdin`` without ``--user``, or no password can be read.
    PermissionDenied
        The store does not authenticate NAME with that password.
    """
    user = getattr(args, "user", None)
    if user is None:
        if getattr(args, "password_stdin", False):
            raise ValueError(MSG_PASSWORD_WITHOUT_USER)
        return Actor.system()
    return authenticated_actor(store, user, password_stdin=args.password_stdin)[0]


def authenticated_actor(store: Store, username: str, *,
                        password_stdin: bool) -> tuple[Actor, Authentication]:
    """Authenticate ``username`` by password; return who they are and how it was checked.

    Raises
    ------
    ValueError
        No password can be read (no ``--password-stdin`` and no terminal), or standard
        input is empty.
    PermissionDenied
        The store does not authenticate ``username`` with that password.
    """
    password = _read_password(username, password_stdin=password_stdin)
    user = store.authenticate(username, password)
    if user is None:
        raise PermissionDenied(MSG_NOT_AUTHENTICATED.format(user=username))
    how = Authentication("password", "cli", asserted=username, os_user=_os_user())
    return Actor(user.username, user.role), how


def _read_password(username: str, *, password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise ValueError(MSG_EMPTY_PASSWORD)
        return line
    if not sys.stdin.isatty():
        raise ValueError(MSG_NO_PASSWORD_SOURCE.format(user=username))
    return getpass.getpass(f"password for {username}: ")


def _os_user() -> str | None:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. a bare container)
        name = f"uid {os.getuid()}" if hasattr(os, "getuid") else ""
    return name[:200] or None
