"""Administering accounts: deactivate, reactivate and change the role of a user.

Each change is refused for the actor's own account and whenever it would leave no
active admin, and logged in the same transaction as the change. A reviewer on the panel
who is deactivated or given another role is marked unavailable there and their open
assignments are withdrawn (their ratings stay), so no case waits on someone who can no
longer rate it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, PermissionDenied, Role, require_role, same_person
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.tables import AssignmentRow, ReviewerRow, User, utcnow
from audits.store.validation import check_actor, check_username

__all__ = ["MSG_LAST_ADMIN", "MSG_OWN_ACCOUNT", "MSG_UNKNOWN_USER", "AccountOps"]

MSG_UNKNOWN_USER = "no user named {username!r}"
MSG_OWN_ACCOUNT = "{actor} may not {action} their own account; another admin must do it"
MSG_LAST_ADMIN = (
    "{username!r} is the last active admin: {change} would leave nobody to manage users; "
    "make another user an admin first"
)


class AccountOps(StoreBase):
    """The account-administration methods of :class:`~audits.store.Store`."""

    def deactivate_user(self, actor: Actor, username: str) -> int:
        """Stop a user from signing in (requires "manage users"); no-op if already inactive.

        Refused for the actor's own account (:class:`~audits.roles.PermissionDenied`) and
        for the last active admin (``ValueError``): either would lock the deployment's
        administration out. A reviewer on the panel is marked unavailable and their open
        (unrated) assignments are withdrawn in the same transaction, so no case waits on
        someone who cannot sign in; their ratings stay. A panel lead gives the withdrawn
        cases to other reviewers with "Assign the queue". The log entry carries how many
        assignments were withdrawn, never which cases (that would tie a reviewer to cases).

        Returns
        -------
        int
            How many open assignments were withdrawn (0 when not on the panel).

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "bob", "reviewer")
        ...     store.deactivate_user(Actor.system(), "bob")
        ...     store.get_user("bob").active
        0
        False
        """
        require_role(check_actor(actor), "manage users")
        username = check_username(username)
        _refuse_own(actor, username, "deactivate")
        with self._write() as (session, head):
            user = _find_user(session, username)
            if not user.active:
                return 0
            _refuse_last_admin(session, user, "deactivating them")
            user.active = False
            payload: dict[str, object] = {"username": username}
            withdrawn = _leave_panel(session, user)
            if withdrawn is not None:
                payload["withdrawn_assignments"] = withdrawn
            append_entry(session, head, actor=actor.username, action="deactivate_user",
                         entity="user", entity_id=user.id, payload=payload)
            return withdrawn or 0

    def reactivate_user(self, actor: Actor, username: str) -> None:
        """Let a deactivated user sign in again (requires "manage users"); no-op if active.

        Their password, role and (for a reviewer) panel membership are as they were; a
        reviewer stays unavailable until a panel lead turns them back on, so cases are
        not assigned to someone the panel lead has not planned for.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "bob", "reviewer")
        ...     _ = store.deactivate_user(Actor.system(), "bob")
        ...     store.reactivate_user(Actor.system(), "bob")
        ...     store.get_user("bob").active
        True
        """
        require_role(check_actor(actor), "manage users")
        username = check_username(username)
        with self._write() as (session, head):
            user = _find_user(session, username)
            if user.active:
                return
            user.active = True
            append_entry(session, head, actor=actor.username, action="reactivate_user",
                         entity="user", entity_id=user.id, payload={"username": username})

    def set_role(self, actor: Actor, username: str, role: Role | str) -> int:
        """Change a user's role (requires "manage users"); no-op if it is already ``role``.

        Refused for the actor's own account (:class:`~audits.roles.PermissionDenied`):
        nobody raises or lowers their own rights. Refused (``ValueError``) when it would
        leave no active admin. A reviewer on the panel who gets another role is marked
        unavailable and their open assignments are withdrawn (only reviewers rate); the
        log entry carries the old and new role and how many were withdrawn.

        Returns
        -------
        int
            How many open assignments were withdrawn.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "bob", "reviewer")
        ...     store.set_role(Actor.system(), "bob", "panel_lead")
        ...     store.get_user("bob").role
        0
        <Role.PANEL_LEAD: 'panel_lead'>
        """
        require_role(check_actor(actor), "manage users")
        username, new = check_username(username), Role.parse(role)
        _refuse_own(actor, username, "change the role of")
        with self._write() as (session, head):
            user = _find_user(session, username)
            if user.role == new.value:
                return 0
            if new is not Role.ADMIN:
                _refuse_last_admin(session, user, f"making them a {new.label.lower()}")
            payload: dict[str, object] = {"username": username, "old_role": user.role,
                                          "new_role": new.value}
            withdrawn = _leave_panel(session, user) if new is not Role.REVIEWER else None
            if withdrawn is not None:
                payload["withdrawn_assignments"] = withdrawn
            user.role = new.value
            append_entry(session, head, actor=actor.username, action="set_role",
                         entity="user", entity_id=user.id, payload=payload)
            return withdrawn or 0


def _find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(MSG_UNKNOWN_USER.format(username=username))
    return user


def _refuse_own(actor: Actor, username: str, action: str) -> None:
    if same_person(actor.username, username):
        raise PermissionDenied(MSG_OWN_ACCOUNT.format(actor=actor.username, action=action))


def _refuse_last_admin(session: Session, user: User, change: str) -> None:
    """Raise ``ValueError`` when ``user`` is the only active admin left."""
    if user.role != Role.ADMIN.value or not user.active:
        return
    others = select(func.count()).select_from(User).where(
        User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id)
    if not session.scalar(others):
        raise ValueError(MSG_LAST_ADMIN.format(username=user.username, change=change))


def _leave_panel(session: Session, user: User) -> int | None:
    """Mark ``user`` unavailable on the panel and withdraw their open assignments.

    Returns how many were withdrawn, or None when the user is not on the panel.
    """
    reviewer = session.scalar(select(ReviewerRow).where(ReviewerRow.user_id == user.id))
    if reviewer is None:
        return None
    reviewer.available = False
    rows = list(session.scalars(select(AssignmentRow).where(
        AssignmentRow.reviewer_id == reviewer.id, AssignmentRow.status == "open")))
    now = utcnow()
    for row in rows:
        row.status, row.updated_at = "withdrawn", now
    return len(rows)
