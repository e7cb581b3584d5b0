"""User accounts: creation, passwords (argon2), deactivation and sign-in."""

from __future__ import annotations

from functools import cached_property

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, Role, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.records import UserRecord, user_record
from audits.store.tables import User, utcnow
from audits.store.validation import (
    USERNAME_PATTERN,
    check_actor,
    check_password,
    check_text,
    check_username,
)

__all__ = ["UserOps"]

MSG_DUPLICATE_USERNAME = "username {username!r} is already taken"
MSG_UNKNOWN_USER = "no user named {username!r}"
MSG_AUTH_NOT_STRING = "username and password must be strings"

ANONYMOUS = "anonymous"
# Verified against when there is no real hash, so every attempt costs one argon2 check.
_DUMMY_PASSWORD = "fairpanel: no such account"


class UserOps(StoreBase):
    """The user-account methods of :class:`~audits.store.Store`."""

    def add_user(
        self,
        actor: Actor,
        username: str,
        role: Role | str,
        *,
        password: str | None = None,
        display_name: str | None = None,
    ) -> UserRecord:
        """Create a user (requires the role to "manage users").

        Parameters
        ----------
        actor : Actor
            Who creates the account.
        username : str
            1 to 64 of ``A-Z a-z 0-9 _ . @ -``; unique, ignoring case.
        role : Role or str
            One of :class:`~audits.roles.Role`.
        password : str or None, default None
            8 to 1024 characters; None creates an account that cannot sign in yet.
        display_name : str or None, default None
            Defaults to ``username``.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.add_user(Actor.system(), "ada", "admin", password="correct horse").role
        <Role.ADMIN: 'admin'>
        """
        require_role(check_actor(actor), "manage users")
        username, role = check_username(username), Role.parse(role)
        display = username if display_name is None else display_name
        display = check_text(display, "display_name", 200)
        hashed = None if password is None else self._hasher.hash(check_password(password))
        with self._write() as (session, head):
            taken = select(User.id).where(func.lower(User.username) == username.lower())
            if session.scalar(taken) is not None:
                raise ValueError(MSG_DUPLICATE_USERNAME.format(username=username))
            user = User(username=username, display_name=display, role=role.value,
                        password_hash=hashed, active=True, created_at=utcnow())
            session.add(user)
            session.flush()
            payload = {"username": username, "role": role.value, "display_name": display,
                       "has_password": hashed is not None}
            append_entry(session, head, actor=actor.username, action="add_user",
                         entity="user", entity_id=user.id, payload=payload)
            return user_record(user)

    def set_password(self, actor: Actor, username: str, password: str) -> None:
        """Set a user's password (their own, or anyone's with "manage users").

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "ada", "reviewer")
        ...     store.set_password(Actor("ada", Role.REVIEWER), "ada", "a new passphrase")
        ...     store.get_user("ada").has_password
        True
        """
        if check_actor(actor).username != username:
            require_role(actor, "manage users")
        username = check_username(username)
        hashed = self._hasher.hash(check_password(password))
        with self._write() as (session, head):
            user = _find_user(session, username)
            user.password_hash = hashed
            append_entry(session, head, actor=actor.username, action="set_password",
                         entity="user", entity_id=user.id, payload={"username": username})

    def deactivate_user(self, actor: Actor, username: str) -> None:
        """Stop a user from signing in (requires "manage users"); no-op if already inactive.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "bob", "reviewer")
        ...     store.deactivate_user(Actor.system(), "bob")
        ...     store.get_user("bob").active
        False
        """
        require_role(check_actor(actor), "manage users")
        username = check_username(username)
        with self._write() as (session, head):
            user = _find_user(session, username)
            if not user.active:
                return
            user.active = False
            append_entry(session, head, actor=actor.username, action="deactivate_user",
                         entity="user", entity_id=user.id, payload={"username": username})

    def authenticate(self, username: str, password: str) -> UserRecord | None:
        """Return the user if the password is right and the account active, else None.

        Every attempt is logged: ``sign_in`` (actor: the user; ``rehashed`` says whether
        the stored hash was upgraded to the hasher's current parameters) or ``sign_in_failed``
        (actor: ``"anonymous"``, with the reason). Unknown users cost one argon2
        verification like known ones, so timing does not reveal which names exist.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "ada", "admin", password="correct horse")
        ...     store.authenticate("ada", "correct horse").username, store.authenticate("ada", "x")
        ('ada', None)
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError(MSG_AUTH_NOT_STRING)
        user_id, stored = self._credentials(username)
        matches = self._password_matches(stored, password)
        rehashed = None
        if matches and stored is not None and self._hasher.check_needs_rehash(stored):
            rehashed = self._hasher.hash(password)
        with self._write() as (session, head):
            row = None if user_id is None else session.get(User, user_id)
            reason = _failure(row, stored, matches)
            if reason is not None or row is None:
                append_entry(session, head, actor=ANONYMOUS, action="sign_in_failed",
                             entity="user", entity_id=None if row is None else row.id,
                             payload={"username": username[:64], "reason": reason})
                return None
            if rehashed is not None:
                row.password_hash = rehashed
            payload = {"username": row.username, "rehashed": rehashed is not None}
            append_entry(session, head, actor=row.username, action="sign_in",
                         entity="user", entity_id=row.id, payload=payload)
            return user_record(row)

    def get_user(self, username: str) -> UserRecord | None:
        """Return the user named ``username`` (exact match), or None.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.get_user("nobody") is None
        True
        """
        with self._read() as session:
            row = session.scalar(select(User).where(User.username == username))
            return None if row is None else user_record(row)

    def list_users(self) -> list[UserRecord]:
        """Return every user, by username.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "bo", "reviewer")
        ...     _ = store.add_user(Actor.system(), "al", "admin")
        ...     [u.username for u in store.list_users()]
        ['al', 'bo']
        """
        with self._read() as session:
            return [user_record(u) for u in session.scalars(select(User).order_by(User.username))]

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash(_DUMMY_PASSWORD)

    def _credentials(self, username: str) -> tuple[int | None, str | None]:
        if USERNAME_PATTERN.fullmatch(username) is None:
            return None, None
        with self._read() as session:
            query = select(User.id, User.active, User.password_hash)
            row = session.execute(query.where(User.username == username)).first()
        if row is None:
            return None, None
        return row.id, row.password_hash if row.active else None

    def _password_matches(self, stored: str | None, password: str) -> bool:
        try:
            self._hasher.verify(stored if stored is not None else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None


def _find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(MSG_UNKNOWN_USER.format(username=username))
    return user


def _failure(row: User | None, stored: str | None, matches: bool) -> str | None:
    if row is None:
        return "unknown_user"
    if not row.active:
        return "inactive"
    if row.password_hash is None:
        return "no_password"
    if not matches or row.password_hash != stored:
        return "wrong_password"
    return None
