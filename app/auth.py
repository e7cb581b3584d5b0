"""Sign-in modes and who the signed-in user is, re-checked against the store every run.

Three modes:

- ``oidc``: Streamlit's ``st.login`` when ``secrets.toml`` has an ``[auth]`` section. The
  identity provider's e-mail address is looked up as a username in the store; an
  address nobody registered gets no access. A configured identity provider always wins,
  so an environment variable cannot open a demo door on a real deployment.
- ``local`` (the default): a username/password form checked by ``Store.authenticate``,
  with its lockout after repeated wrong passwords.
- ``demo``: one button per demo persona, no password, clearly labelled. Only when asked
  for (``FAIRPANEL_AUTH=demo``, as ``fairpanel demo`` and ``fairpanel serve --auth demo``
  set it), only while Streamlit is bound to a loopback address, and only on a store whose
  every user is a demo account (:func:`demo_refusal`).

Every sign-in is logged in the store, demo and identity-provider ones included.
"""

from __future__ import annotations

import ipaddress
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
    "demo_refusal",
    "is_loopback",
    "oidc_email",
    "oidc_providers",
    "require_page",
    "resolve_user",
    "sign_out",
]

ENV_AUTH = "FAIRPANEL_AUTH"
MSG_BAD_AUTH = (
    "{env}={value!r} is not a sign-in mode; use 'local' (the default) or 'demo'"
)
MSG_DEMO_HOST = (
    "Demo mode (personas without passwords) runs only on a loopback address, and this "
    "server is bound to {host}. Serve it with --host 127.0.0.1, or sign in with local "
    "accounts (unset {env})."
)
MSG_DEMO_STORE = (
    "Demo mode is refused on this store: {error}. Unset {env} to sign in with a password."
)
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
    if value == "demo":
        return "demo"
    if value in ("", "local"):
        return "local"
    if value == "oidc":
        raise ValueError(MSG_OIDC_UNCONFIGURED.format(env=ENV_AUTH))
    raise ValueError(MSG_BAD_AUTH.format(env=ENV_AUTH, value=value))


def is_loopback(host: str | None) -> bool:
    """Return True when ``host`` binds only this machine (``127.0.0.1``, ``::1``, ``localhost``).

    An empty or missing address is not loopback: Streamlit then listens on every
    interface.

    Examples
    --------
    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "", None)]
    [True, True, True, False, False, False]
    """
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def demo_refusal(store: Store) -> str | None:
    """Return why demo mode may not run here (a message to show), or None when it may.

    Refused when Streamlit's ``server.address`` is not a loopback address (so starting
    ``streamlit run`` directly, bound to every interface, does not open the persona
    picker to the network), and on a store holding any user who is not a demo account.
    """
    host = st.get_option("server.address")
    if not is_loopback(host):
        return MSG_DEMO_HOST.format(host=host or "every interface", env=ENV_AUTH)
    try:
        store.check_demo_store()
    except ValueError as error:
        return MSG_DEMO_STORE.format(error=error, env=ENV_AUTH)
    return None


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
    if record is None or not record.active or (mode == "demo") != record.demo:
        # A demo persona signs in only in demo mode, and demo mode takes only personas.
        if state.current_user() is not None:
            state.sign_out()
        return None
    current = state.current_user()
    # The identity provider signed this session in: log it once, like any sign-in.
    first = mode == "oidc" and (current is None or current.username != record.username)
    if first and store.record_sign_in(record.username, method="oidc") is None:
        return None
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
