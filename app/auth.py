"""Sign-in modes and who the signed-in user is, re-checked against the store every run.

Three modes:

- ``oidc``: Streamlit's ``st.login`` when ``secrets.toml`` has an ``[auth]`` section. The
  identity provider's e-mail address is looked up as a username in the store; an
  address nobody registered gets no access. A configured identity provider always wins,
  so an environment variable cannot open a demo door on a real deployment.
- ``local``: ``FAIRPANEL_AUTH=local``; a username/password form checked by
  ``Store.authenticate``.
- ``demo`` (the default): one button per demo persona, no password, clearly labelled.
"""

from __future__ import annotations

import os

import streamlit as st

from app import state
from app.navigation import PAGES
from app.state import SignedInUser
from audits.roles import Actor
from audits.store import Store

__all__ = [
    "ENV_AUTH",
    "auth_mode",
    "oidc_email",
    "oidc_providers",
    "require_page",
    "resolve_user",
    "sign_out",
]

ENV_AUTH = "FAIRPANEL_AUTH"
MSG_BAD_AUTH = "{env}={value!r} is not a sign-in mode; use 'local' or 'demo' (or leave it unset)"
MSG_OIDC_UNCONFIGURED = (
    "{env}=oidc needs an [auth] section in .streamlit/secrets.toml (see st.login)"
)
MSG_PAGE_DENIED = "Your role ({role}) cannot open this page."


def auth_mode() -> str:
    """Return the sign-in mode: ``"oidc"``, ``"local"`` or ``"demo"``.

    Raises
    ------
    ValueError
        When ``FAIRPANEL_AUTH`` names no mode, or asks for OIDC that is not configured.
    """
    if _oidc_configured():
        return "oidc"
    value = os.environ.get(ENV_AUTH, "").strip().lower()
    if value in ("", "demo"):
        return "demo"
    if value == "local":
        return "local"
    if value == "oidc":
        raise ValueError(MSG_OIDC_UNCONFIGURED.format(env=ENV_AUTH))
    raise ValueError(MSG_BAD_AUTH.format(env=ENV_AUTH, value=value))


def oidc_providers() -> list[str]:
    """Return the named providers of ``[auth]`` (``[auth.google]`` ...), or ``[]``.

    An empty list means the single provider configured in ``[auth]`` itself.
    """
    section = st.secrets.get("auth", {})
    if "client_id" in section:
        return []
    return sorted(k for k, v in section.items() if hasattr(v, "keys"))


def oidc_email() -> str | None:
    """Return the verified e-mail address of the identity-provider login, or None.

    An address the provider marks ``email_verified: false`` is not trusted as a
    username (anyone could have typed it).
    """
    if not st.user.get("is_logged_in", False) or st.user.get("email_verified") is False:
        return None
    email = st.user.get("email")
    return str(email) if email else None


def resolve_user(store: Store, mode: str) -> SignedInUser | None:
    """Return this session's user, checked against the store; None signs the session out.

    The role and display name always come from the store, so an admin's change (or a
    deactivation) applies on the user's next interaction.
    """
    if mode == "oidc":
        username = oidc_email()
    else:
        current = state.current_user()
        username = current.username if current is not None and current.mode == mode else None
    record = store.get_user(username) if username else None
    if record is None or not record.active:
        if state.current_user() is not None:
            state.sign_out()
        return None
    current = state.current_user()
    expected = SignedInUser(record.username, record.role, mode, record.display_name)
    if current != expected:
        state.sign_in(Actor(record.username, record.role), mode,
                      display_name=record.display_name)
    return state.current_user()


def require_page(path: str) -> SignedInUser:
    """Return the signed-in user if their role may open the page ``path``; else stop.

    ``st.navigation`` already offers each role only its pages; this is the second lock
    on the door, for a page reached some other way.
    """
    user = state.current_user()
    spec = next((p for p in PAGES if p.path == path), None)
    if user is None or spec is None or user.role not in spec.roles:
        role = user.role.label if user is not None else "not signed in"
        st.error(MSG_PAGE_DENIED.format(role=role))
        st.stop()
    return user


def sign_out(user: SignedInUser) -> None:
    """Sign ``user`` out of this session (and out of the identity provider's cookie)."""
    state.sign_out()
    if user.mode == "oidc":
        st.logout()
    else:
        st.rerun()


def _oidc_configured() -> bool:
    # load_if_toml_exists() is False (never raises) when there is no secrets file.
    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)
