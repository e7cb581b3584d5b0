"""The only module that reads or writes ``st.session_state``.

Keys are namespaced ``"<area>.<name>"`` (``"auth.user"``; widget keys such as
``"users.add.username"``) so pages never collide. What a session holds about its user
is the username, the role and the sign-in mode; the entry script re-reads the user
from the store on every run, so a deactivated user or a changed role takes effect at
once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from audits.roles import Actor, Role

__all__ = [
    "KEY_USER",
    "MODES",
    "SignedInUser",
    "current_actor",
    "current_user",
    "keep_choice",
    "preselect",
    "sign_in",
    "sign_out",
]

#: Session key of the signed-in user: a plain dict (username, role, mode, display_name).
KEY_USER = "auth.user"
#: The sign-in modes: OIDC through ``st.login``, local accounts, demo personas.
MODES = ("oidc", "local", "demo")

MSG_BAD_MODE = "unknown sign-in mode {mode!r}; choose one of: {choices}"


@dataclass(frozen=True)
class SignedInUser:
    """Who is signed in to this session, and how."""

    username: str
    role: Role
    mode: str
    display_name: str

    @property
    def actor(self) -> Actor:
        """The :class:`~audits.roles.Actor` the engine's write paths take."""
        return Actor(self.username, self.role)


def sign_in(actor: Actor, mode: str, *, display_name: str | None = None) -> None:
    """Record ``actor`` as this session's user, signed in through ``mode``.

    Everything a previous user left in the session is dropped first.
    """
    if mode not in MODES:
        raise ValueError(MSG_BAD_MODE.format(mode=mode, choices=", ".join(MODES)))
    st.session_state.clear()
    st.session_state[KEY_USER] = {
        "username": actor.username,
        "role": actor.role.value,
        "mode": mode,
        "display_name": display_name or actor.username,
    }


def sign_out() -> None:
    """Forget the user and every page's state (nothing leaks to the next persona)."""
    st.session_state.clear()


def current_user() -> SignedInUser | None:
    """Return the signed-in user, or None."""
    raw = st.session_state.get(KEY_USER)
    if not isinstance(raw, dict):
        return None
    try:
        role = Role.parse(raw["role"])
        return SignedInUser(username=str(raw["username"]), role=role, mode=str(raw["mode"]),
                            display_name=str(raw.get("display_name") or raw["username"]))
    except (KeyError, ValueError):
        return None


def current_actor() -> Actor | None:
    """Return the signed-in user as an :class:`~audits.roles.Actor`, or None."""
    user = current_user()
    return None if user is None else user.actor


def preselect(key: str, value: Any) -> None:
    """Make the widget ``key`` show ``value`` on this run; call before drawing it.

    E.g. the fairness page selects the run it has just stored. The widget must then be
    drawn without a default of its own (Streamlit warns when both are given).
    """
    st.session_state[key] = value


def keep_choice(key: str, options: Sequence[Any], default: Any) -> None:
    """Start the widget ``key`` at ``default`` unless it already holds one of ``options``.

    Call before drawing a keyed selectbox without a default: its first value is
    ``default``, and a value that is no longer an option (a run of another dataset, a
    deleted record) falls back to ``default`` instead of raising.
    """
    if st.session_state.get(key) not in options:
        st.session_state[key] = default
