"""Who may sign off: the one approver check behind every approval, rejection and return.

Every status-changing decision of a person on someone else's work (approving or
returning a report, approving or rejecting a model version) calls
:func:`check_approver` inside its write transaction, before it changes anything. The
approver must be

1. a named person: never ``system:*`` (the command-line operator) or another name the
   engine acts under (:func:`audits.roles.is_system_actor`);
2. a user of this store, under the name the store holds (not another spelling of it);
3. active (not deactivated);
4. holding the permission in the store now, not only in the role the caller claims;
5. none of the work's authors (who ran the audit, drafted or submitted the report,
   trained the model), names compared ignoring case since the store's are unique so.

How the person was authenticated is the caller's to state
(:class:`audits.roles.Authentication`); :func:`authentication_log` is what the decision's
log entry records of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import (
    Actor,
    Authentication,
    PermissionDenied,
    is_system_actor,
    require_role,
    same_person,
)
from audits.store.records import user_record
from audits.store.tables import User

__all__ = [
    "MSG_INACTIVE_USER",
    "MSG_NOT_A_PERSON",
    "MSG_OTHER_SPELLING",
    "MSG_SAME_ACCOUNT",
    "MSG_UNKNOWN_USER",
    "authentication_log",
    "check_approver",
]

MSG_NOT_A_PERSON = (
    "{actor} is a system actor, not a person: only a named, signed-in user may {action}"
)
MSG_UNKNOWN_USER = "{actor} is not a user of this store: only a named, signed-in user may {action}"
MSG_OTHER_SPELLING = (
    "{actor} is not how this store spells the user: act as {stored!r} to {action}"
)
MSG_INACTIVE_USER = "{actor} is deactivated in this store and may not {action}"
MSG_SAME_ACCOUNT = " ({actor!r} and {author!r} are one account: usernames compare ignoring case)"
MSG_NOT_AUTHENTICATION = "authentication must be an audits.roles.Authentication or None; got {type}"

#: An author of the work and the refusal to raise if the approver is that author.
Author = tuple[str | None, str]


def check_approver(session: Session, actor: Actor, permission: str, *,
                   authors: Sequence[Author] = ()) -> User:
    """Return the approver's user row, or raise :class:`PermissionDenied` naming why not.

    Parameters
    ----------
    session : Session
        The decision's write transaction (the user is read where the decision commits).
    actor : Actor
        Who decides.
    permission : str
        The key of :data:`audits.roles.PERMISSIONS` the decision needs.
    authors : sequence of (username or None, refusal message), default ()
        Who made the work; the approver may be none of them (compared ignoring case).

    Raises
    ------
    PermissionDenied
        The claimed role lacks ``permission``; a system actor (:data:`MSG_NOT_A_PERSON`);
        an author (their refusal message); no such user (:data:`MSG_UNKNOWN_USER`),
        another spelling (:data:`MSG_OTHER_SPELLING`) or deactivated
        (:data:`MSG_INACTIVE_USER`); or the role the store holds lacks ``permission``.

    Examples
    --------
    >>> from audits.store import Store
    >>> with Store("sqlite://") as store, Session(store.engine) as session:
    ...     check_approver(session, Actor.system(), "approve a report")
    Traceback (most recent call last):
    audits.roles.PermissionDenied: system:cli is a system actor, not a person: ...
    """
    require_role(actor, permission)
    action = permission
    if is_system_actor(actor.username):
        raise PermissionDenied(MSG_NOT_A_PERSON.format(actor=actor.username, action=action))
    for author, refusal in authors:
        if same_person(author, actor.username):
            same = "" if author == actor.username else MSG_SAME_ACCOUNT.format(
                actor=actor.username, author=author)
            raise PermissionDenied(refusal + same)
    query = select(User).where(func.lower(User.username) == actor.username.strip().lower())
    user = session.scalar(query)
    if user is None:
        raise PermissionDenied(MSG_UNKNOWN_USER.format(actor=actor.username, action=action))
    if user.username != actor.username:
        raise PermissionDenied(MSG_OTHER_SPELLING.format(actor=actor.username,
                                                         stored=user.username, action=action))
    if not user.active:
        raise PermissionDenied(MSG_INACTIVE_USER.format(actor=actor.username, action=action))
    # The role the store holds now, not only the one the caller's Actor claims.
    require_role(user_record(user).actor, permission)
    return user


def authentication_log(authentication: Authentication | None) -> dict[str, str | None]:
    """What a sign-off's log entry records of how its person was authenticated.

    None (a library call that stated nothing) is recorded as
    :meth:`Authentication.unverified`: authenticated by ``none``, via ``python``.

    Examples
    --------
    >>> authentication_log(None)["authenticated_by"]
    'none'
    """
    if authentication is None:
        authentication = Authentication.unverified()
    if not isinstance(authentication, Authentication):
        raise TypeError(MSG_NOT_AUTHENTICATION.format(type=type(authentication).__name__))
    return authentication.as_log()
