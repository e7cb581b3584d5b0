"""Roles, the acting user, and the permission checks of the engine's write paths.

Pages hide what a role may not do, but the engine is what refuses it: every
state-changing function of the store takes an :class:`Actor` and checks it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Actor", "PermissionDenied", "Role", "require_role", "PERMISSIONS"]

MSG_DENIED = "{actor} (role {role}) may not {action}; allowed roles: {allowed}"
MSG_UNKNOWN_ROLE = "unknown role {role!r}; choose one of: {choices}"


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
    "draft a report": frozenset({Role.DATA_SCIENTIST, Role.ADMIN}),
    "approve a report": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
    "approve a model": frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN}),
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
