"""User accounts: creation, passwords (argon2), deactivation and sign-in."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audits.roles import Actor, Role, require_role
from audits.store.accounts import MSG_UNKNOWN_USER, AccountOps, _find_user
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

__all__ = ["ENV_LOCK_SECONDS", "ENV_MAX_FAILURES", "MSG_UNKNOWN_USER", "SignInPolicy", "UserOps"]

MSG_DUPLICATE_USERNAME = "username {username!r} is already taken"
MSG_AUTH_NOT_STRING = "username and password must be strings"
MSG_DEMO_REAL_USERS = (
    "this store holds {n} user(s) who are not demo accounts (e.g. {example!r}); demo "
    "personas are never added to it. Use a new store for the demo (--database-url or "
    "FAIRPANEL_HOME), or sign in with a local account"
)
MSG_DEMO_PASSWORD = "a demo account has no password"
MSG_BAD_METHOD = "sign-in method must be 1 to 32 characters of a-z, 0-9, '_' or '-'; got {value!r}"
MSG_BAD_POLICY = "{name} must be a positive integer; got {value!r}"
ENV_MAX_FAILURES = "FAIRPANEL_SIGN_IN_MAX_FAILURES"
ENV_LOCK_SECONDS = "FAIRPANEL_SIGN_IN_LOCK_SECONDS"

ANONYMOUS = "anonymous"
_METHOD = re.compile(r"[a-z0-9_-]{1,32}")
# Verified against when there is no real hash, so every attempt costs one argon2 check.
_DUMMY_PASSWORD = "fairpanel: no such account"


@dataclass(frozen=True)
class SignInPolicy:
    """When repeated wrong passwords lock an account, and for how long.

    After ``max_failures`` consecutive wrong passwords the account is locked for
    ``lock_seconds``; each further lockout before a successful sign-in doubles the lock,
    up to ``max_lock_seconds``. While locked, even the right password is refused.

    Examples
    --------
    >>> policy = SignInPolicy(max_failures=5, lock_seconds=60)
    >>> [policy.lock_for(n).total_seconds() for n in (1, 2, 3)]
    [60.0, 120.0, 240.0]
    """

    max_failures: int = 5
    lock_seconds: int = 60
    max_lock_seconds: int = 24 * 3600

    def __post_init__(self) -> None:
        for name in ("max_failures", "lock_seconds", "max_lock_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(MSG_BAD_POLICY.format(name=name, value=value))

    @classmethod
    def from_env(cls) -> SignInPolicy:
        """The policy of ``FAIRPANEL_SIGN_IN_MAX_FAILURES`` and ``..._LOCK_SECONDS``."""
        return cls(max_failures=_env_int(ENV_MAX_FAILURES, 5),
                   lock_seconds=_env_int(ENV_LOCK_SECONDS, 60))

    def lock_for(self, lockouts: int) -> timedelta:
        """Return how long the ``lockouts``-th lockout (1, 2, ...) lasts."""
        seconds = self.lock_seconds * 2 ** min(max(lockouts - 1, 0), 30)
        return timedelta(seconds=min(seconds, self.max_lock_seconds))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(MSG_BAD_POLICY.format(name=name, value=raw)) from None


class UserOps(AccountOps):
    """The user-account methods of :class:`~audits.store.Store`."""

    def add_user(
        self,
        actor: Actor,
        username: str,
        role: Role | str,
        *,
        password: str | None = None,
        display_name: str | None = None,
        demo: bool = False,
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
        demo : bool, default False
            A demo persona or simulated reviewer: no password, signs in only through the
            persona picker. Refused (``ValueError``) in a store that holds any user who
            is not a demo account, so demo accounts never enter a real store. Accounts
            created by a demo account are demo accounts whatever this says.

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
        if demo and password is not None:
            raise ValueError(MSG_DEMO_PASSWORD)
        hashed = None if password is None else self._hasher.hash(check_password(password))
        with self._write() as (session, head):
            taken = select(User.id).where(func.lower(User.username) == username.lower())
            if session.scalar(taken) is not None:
                raise ValueError(MSG_DUPLICATE_USERNAME.format(username=username))
            # An account a demo persona creates is a demo account too: it can never sign
            # in with a password, nor turn the demo store into a real one.
            by_demo = session.scalar(select(User.demo).where(User.username == actor.username))
            demo = bool(demo or by_demo)
            if demo:
                _refuse_real_users(session)
            user = User(username=username, display_name=display, role=role.value,
                        password_hash=hashed, active=True, created_at=utcnow(),
                        demo=bool(demo), failed_sign_ins=0, lockouts=0)
            session.add(user)
            session.flush()
            payload = {"username": username, "role": role.value, "display_name": display,
                       "has_password": hashed is not None}
            if demo:
                payload["demo"] = True
            append_entry(session, head, actor=actor.username, action="add_user",
                         entity="user", entity_id=user.id, payload=payload)
            return user_record(user)

    def set_password(self, actor: Actor, username: str, password: str) -> None:
        """Set a user's password (their own, or anyone's with "manage users").

        It also ends a sign-in lockout of the account.

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
            # A new password ends a lockout (the way an admin lets a locked-out user in).
            user.failed_sign_ins, user.lockouts, user.locked_until = 0, 0, None
            append_entry(session, head, actor=actor.username, action="set_password",
                         entity="user", entity_id=user.id, payload={"username": username})

    def authenticate(self, username: str, password: str, *,
                     policy: SignInPolicy | None = None,
                     method: str = "password") -> UserRecord | None:
        """Return the user if the password is right, the account active and not locked.

        Every attempt is logged: ``sign_in`` (actor: the user; ``method``; ``rehashed``
        says whether the stored hash was upgraded to the hasher's current parameters) or
        ``sign_in_failed`` (actor: ``"anonymous"``, with the reason). Neither the password
        nor a username that names no account is ever written: an unknown name is logged
        as ``reason: "unknown_user"`` alone. Unknown users cost one argon2 verification
        like known ones, so timing does not reveal which names exist.

        After ``policy.max_failures`` consecutive wrong passwords the account is locked
        (see :class:`SignInPolicy`, default :meth:`SignInPolicy.from_env`); while locked,
        every attempt fails with reason ``locked``, the right password included.

        Parameters
        ----------
        username, password : str
            What was typed.
        policy : SignInPolicy or None, keyword-only
            The lockout rule (default: from the environment).
        method : str, default "password", keyword-only
            How the person signed in, recorded in the log (e.g. ``"cli_password"``).

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
        method = _check_method(method)
        rule = policy if policy is not None else SignInPolicy.from_env()
        user_id, stored = self._credentials(username)
        matches = self._password_matches(stored, password)
        rehashed = None
        if matches and stored is not None and self._hasher.check_needs_rehash(stored):
            rehashed = self._hasher.hash(password)
        with self._write() as (session, head):
            row = None if user_id is None else session.get(User, user_id)
            now = utcnow()
            reason = _failure(row, stored, matches, now)
            if reason is not None or row is None:
                payload = _failed(row, reason, rule, now)
                append_entry(session, head, actor=ANONYMOUS, action="sign_in_failed",
                             entity="user", entity_id=None if row is None else row.id,
                             payload=payload)
                return None
            if rehashed is not None:
                row.password_hash = rehashed
            row.failed_sign_ins, row.lockouts, row.locked_until = 0, 0, None
            payload = {"username": row.username, "method": method,
                       "rehashed": rehashed is not None}
            append_entry(session, head, actor=row.username, action="sign_in",
                         entity="user", entity_id=row.id, payload=payload)
            return user_record(row)

    def record_sign_in(self, username: str, *, method: str) -> UserRecord | None:
        """Log a sign-in that needed no password here; return the user, or None.

        For the demo persona picker (``method="demo"``: only demo accounts) and for an
        identity provider's login (``method="oidc"``). An unknown or inactive user, an
        imported annotator (who never signs in) or a non-demo account picked as a persona
        is logged as ``sign_in_failed`` and gets None.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "demo-admin", "admin", demo=True)
        ...     store.record_sign_in("demo-admin", method="demo").username
        'demo-admin'
        """
        method = _check_method(method)
        with self._write() as (session, head):
            row = session.scalar(select(User).where(User.username == username))
            if row is None:
                append_entry(session, head, actor=ANONYMOUS, action="sign_in_failed",
                             entity="user", entity_id=None,
                             payload={"method": method, "reason": "unknown_user"})
                return None
            reason = "inactive" if not row.active else "imported_account" if row.imported \
                else "not_demo" if method == "demo" and not row.demo else None
            if reason is not None:
                append_entry(session, head, actor=ANONYMOUS, action="sign_in_failed",
                             entity="user", entity_id=row.id,
                             payload={"username": row.username, "method": method,
                                      "reason": reason})
                return None
            append_entry(session, head, actor=row.username, action="sign_in", entity="user",
                         entity_id=row.id, payload={"username": row.username,
                                                    "method": method})
            return user_record(row)

    def check_demo_store(self) -> None:
        """Raise ``ValueError`` unless every user of the store is a demo account.

        The demo mode (persona picker, no passwords) runs only on such a store; call this
        before preparing or serving the demo.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     store.check_demo_store()
        ...     _ = store.add_user(Actor.system(), "ada", "admin", password="correct horse")
        ...     store.check_demo_store()
        Traceback (most recent call last):
        ...
        ValueError: this store holds 1 user(s) who are not demo accounts (e.g. 'ada'); ...
        """
        with self._read() as session:
            _refuse_real_users(session)

    def non_demo_usernames(self, limit: int = 3) -> tuple[int, list[str]]:
        """Return how many users are not demo accounts, and up to ``limit`` of their names.

        Examples
        --------
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "ada", "admin", password="correct horse")
        ...     store.non_demo_usernames()
        (1, ['ada'])
        """
        with self._read() as session:
            return _real_users(session, limit)

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


def _real_users(session: Session, limit: int) -> tuple[int, list[str]]:
    real = User.demo.is_(False)
    n = session.scalar(select(func.count()).select_from(User).where(real)) or 0
    names = session.scalars(select(User.username).where(real).order_by(User.id).limit(limit))
    return int(n), list(names)


def _refuse_real_users(session: Session) -> None:
    n, names = _real_users(session, 1)
    if n:
        raise ValueError(MSG_DEMO_REAL_USERS.format(n=n, example=names[0]))


def _check_method(value: object) -> str:
    if not isinstance(value, str) or _METHOD.fullmatch(value) is None:
        raise ValueError(MSG_BAD_METHOD.format(value=value))
    return value


def _failed(row: User | None, reason: str | None, rule: SignInPolicy,
            now: datetime) -> dict[str, object]:
    """Count a failure on the account (locking it at the limit); return the log payload."""
    if row is None:
        return {"reason": "unknown_user"}  # never the typed name: it may be a password
    payload: dict[str, object] = {"username": row.username, "reason": reason}
    if reason == "wrong_password":
        row.failed_sign_ins += 1
        payload["failures"] = row.failed_sign_ins
        if row.failed_sign_ins >= rule.max_failures:
            row.lockouts += 1
            row.failed_sign_ins = 0
            row.locked_until = now + rule.lock_for(row.lockouts)
            payload["locked_until"] = row.locked_until.isoformat()
    return payload


def _failure(row: User | None, stored: str | None, matches: bool,
             now: datetime) -> str | None:
    if row is None:
        return "unknown_user"
    if not row.active:
        return "inactive"
    if row.demo:
        return "demo_account"
    if row.imported:
        return "imported_account"  # an annotator of another tool never signs in here
    if row.locked_until is not None and row.locked_until > now:
        return "locked"
    if row.password_hash is None:
        return "no_password"
    if not matches or row.password_hash != stored:
        return "wrong_password"
    return None
