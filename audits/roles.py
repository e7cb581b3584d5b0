"""Roles, the acting user, and the permission checks of the engine's write paths.

Pages hide what a role may not do, but the engine is what refuses it: every
state-changing function of the store takes an :class:`Actor` and checks it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AUTH_CHANNELS",
    "AUTH_METHODS",
    "Actor",
    "Authentication",
    "PERMISSIONS",
    "PermissionDenied",
    "Role",
    "is_system_actor",
    "require_role",
    "same_person",
]

MSG_DENIED = "{actor} (role {role}) may not {action}; allowed roles: {allowed}"
MSG_UNKNOWN_ROLE = "unknown role {role!r}; choose one of: {choices}"
MSG_AUTH_CHOICE = "authentication {field} must be one of {choices}; got {value!r}"
MSG_AUTH_TEXT = (
    "authentication {field} must be a string of 1 to 200 characters or None; got {value!r}"
)

#: Prefix of the names the engine acts under when no person does (``system:cli``).
SYSTEM_PREFIX = "system:"
#: Other log actors that are no person (a failed sign-in is logged as ``anonymous``).
SYSTEM_NAMES = frozenset({"anonymous"})
#: How a person was authenticated before a sign-off (``authenticated_by`` in the log):
#: ``password`` checked just now (the command line), ``session`` a dashboard session
#: opened with a local password, ``oidc`` the identity provider's sign-in, ``demo`` a
#: demo persona picked without a password, ``none`` a library call that asserted the
#: actor and authenticated nobody.
AUTH_METHODS = ("password", "session", "oidc", "demo", "none")
#: Where the sign-off came from (``via`` in the log).
AUTH_CHANNELS = ("cli", "dashboard", "python")


class Role(StrEnum):
    """The five roles of fairpanel."""

    DATA_SCIENTIST = "data_scientist"
    REVIEWER = "reviewer"
    PANEL_LEAD = "panel_lead"
    COMPLIANCE_OFFICER = "compliance_officer"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"Data scientist"``."""
        return self.value.replace("_", " ").capitalize()

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """Return the role named ``value``, or raise ``ValueError`` naming the choices."""
        try:
            return cls(str(value).strip().lower().replace(" ", "_").replace("-", "_"))
        except ValueError:
            choices = ", ".join(r.value for r in cls)
            raise ValueError(MSG_UNKNOWN_ROLE.format(role=value, choices=choices)) from None


#: Which roles may perform each state-changing action of the engine.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "manage users": frozenset({Role.ADMIN}),
    "register a dataset": frozenset({Role.DATA_SCIENTIST, Role.ADMIN}),
    "register a model": frozenset({Role.DATA_SCIENTIST, Role.ADMIN}),
    "run an audit": frozenset({Role.DATA_SCIENTIST, Role.ADMIN}),
    "manage the panel": frozenset({Role.PANEL_LEAD, Role.ADMIN}),
    "rate a case": frozenset({Role.REVIEWER}),
    "adjudicate": frozenset({Role.PANEL_LEAD, Role.ADMIN}),
    "read every rating": frozenset({Role.PANEL_LEAD, Role.ADMIN}),
    "read panel aggregates": frozenset({Role.PANEL_LEAD, Role.ADMIN, Role.COMPLIANCE_OFFICER,
                                        Role.DATA_SCIENTIST}),
    # Whole entries for those who may read every rating; redacted for the others.
    "read the audit log": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN, Role.PANEL_LEAD}),
    "draft a report": frozenset({Role.DATA_SCIENTIST, Role.ADMIN}),
    "approve a report": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
    "approve a model": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
    # A system's sensitive attributes kept apart from its decisions (see audits.store).
    "read sensitive data": frozenset({Role.DATA_SCIENTIST, Role.COMPLIANCE_OFFICER,
                                      Role.ADMIN}),
    "purge sensitive data": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
    # How long logs and oversight records are kept, and when sensitive data are deleted.
    "set retention": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
    # Every person's touch of a case (who, what they saw and did, why, how long): the
    # human-oversight record of the evidence pack.
    "read the oversight record": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN,
                                            Role.PANEL_LEAD}),
    "build an evidence pack": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
}


class PermissionDenied(PermissionError):
    """Raised when an actor's role does not allow a state-changing action."""


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a user name and a role.

    Examples
    --------
    >>> Actor("ada", Role.ADMIN).role.label
    'Admin'
    """

    username: str
    role: Role

    @classmethod
    def system(cls) -> Actor:
        """The operator at the command line (has the database, so acts as admin)."""
        return cls("system:cli", Role.ADMIN)


@dataclass(frozen=True)
class Authentication:
    """How the person behind a sign-off was authenticated, as the audit log records it.

    The actor of a log entry is who the engine checked; this says how that identity was
    established and who asserted it, so a reader can tell a password checked at the
    command line from a name typed by whoever held the database.

    Parameters
    ----------
    method : str
        One of :data:`AUTH_METHODS`.
    via : str
        One of :data:`AUTH_CHANNELS`.
    asserted : str or None, default None
        The identity as the caller asserted it (e.g. ``--user`` as typed).
    os_user : str or None, default None
        The operating-system account that ran the command, when there is one.

    Examples
    --------
    >>> Authentication("password", "cli", asserted="casey", os_user="ops").as_log()
    {'authenticated_by': 'password', 'via': 'cli', 'asserted_user': 'casey', 'os_user': 'ops'}
    """

    method: str
    via: str
    asserted: str | None = None
    os_user: str | None = None

    def __post_init__(self) -> None:
        for field, value, choices in (("method", self.method, AUTH_METHODS),
                                      ("via", self.via, AUTH_CHANNELS)):
            if value not in choices:
                raise ValueError(MSG_AUTH_CHOICE.format(field=field, choices=choices,
                                                        value=value))
        for field, text in (("asserted", self.asserted), ("os_user", self.os_user)):
            if text is not None and (not isinstance(text, str) or not 0 < len(text) <= 200):
                raise ValueError(MSG_AUTH_TEXT.format(field=field, value=text))

    @classmethod
    def unverified(cls) -> Authentication:
        """A library call that asserted its actor and authenticated nobody."""
        return cls("none", "python")

    def as_log(self) -> dict[str, str | None]:
        """The fields the log entry of a sign-off carries under ``"authentication"``."""
        return {"authenticated_by": self.method, "via": self.via,
                "asserted_user": self.asserted, "os_user": self.os_user}


def is_system_actor(username: str) -> bool:
    """True for a name the engine acts under when no person does.

    Examples
    --------
    >>> is_system_actor("system:cli"), is_system_actor("Anonymous"), is_system_actor("ada")
    (True, True, False)
    """
    name = username.strip().lower()
    return name.startswith(SYSTEM_PREFIX) or name in SYSTEM_NAMES


def same_person(a: str | None, b: str | None) -> bool:
    """True when two usernames name one account: the store's names are unique ignoring case.

    Examples
    --------
    >>> same_person("ADA", "ada"), same_person("ada", "adam"), same_person(None, "ada")
    (True, False, False)
    """
    if a is None or b is None:
        return False
    return a.strip().casefold() == b.strip().casefold()


def require_role(actor: Actor, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may perform ``action``.

    Parameters
    ----------
    actor : Actor
        Who acts.
    action : str
        A key of :data:`PERMISSIONS`.

    Examples
    --------
    >>> require_role(Actor("ada", Role.ADMIN), "manage users")
    """
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}")
    allowed = PERMISSIONS[action]
    if actor.role not in allowed:
        raise PermissionDenied(
            MSG_DENIED.format(
                actor=actor.username,
                role=actor.role.value,
                action=action,
                allowed=", ".join(sorted(r.value for r in allowed)),
            )
        )
