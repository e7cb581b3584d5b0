"""Sign in: demo personas, a local username/password form, or the identity provider."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from app import auth, loaders, state
from app.formatting import plain
from audits.demo.default import DEMO_PERSONAS
from audits.store import Store

MSG_BAD_LOGIN = (
    "Unknown user, wrong password, an inactive account, or too many wrong passwords "
    "(the account is then locked for a while)."
)
MSG_NOT_REGISTERED = (
    "You signed in as {email}, but that address is not registered in fairpanel (or its "
    "account is inactive). Ask an admin to add it as a user (username = your e-mail "
    "address)."
)
MSG_NO_EMAIL = (
    "Your identity provider did not share a verified e-mail address; fairpanel needs one "
    "to look you up."
)
MSG_DEMO_FAILED = "Preparing the demo failed: {error}"
MSG_NO_PERSONA = "The persona {username!r} is not a registered, active demo account."


def render() -> None:
    """Show the sign-in form of the configured mode."""
    mode = auth.auth_mode()
    store = loaders.get_store()
    st.title("fairpanel")
    st.caption("Bias auditing and human evaluation: model bias and reviewer bias, "
               "side by side, with the evidence stored.")
    if mode == "demo":
        _demo(store)
    elif mode == "local":
        _local(store)
    else:
        _oidc(store)


def _demo(store: Store) -> None:
    st.warning(
        "**DEMO** — a shared demo workspace. Pick a persona to see fairpanel as that role; "
        "there are no passwords, so do not load real data here.",
        icon=":material/science:",
    )
    if not loaders.demo_is_prepared(store):
        bar = st.progress(0.0, text="Preparing the demo (first run only)...")

        def report(fraction: float, message: str) -> None:
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

        try:
            loaders.prepare_demo(store, progress=report)
        except (ValueError, OSError, SQLAlchemyError) as error:
            st.error(MSG_DEMO_FAILED.format(error=plain(error)))
            st.stop()
        bar.empty()
    st.subheader("Choose a persona")
    for column, persona in zip(st.columns(len(DEMO_PERSONAS)), DEMO_PERSONAS, strict=True):
        with column.container(border=True):
            picked = st.button(persona.role.label, key=f"sign_in.persona.{persona.username}",
                               type="primary", width="stretch")
            st.markdown(f"**{persona.display_name}**")  # a constant, not data
            st.caption(persona.blurb)
        if picked:
            # Logged like any sign-in; refused for an account that is not a demo persona.
            record = store.record_sign_in(persona.username, method="demo")
            if record is None:
                st.error(MSG_NO_PERSONA.format(username=plain(persona.username)))
                st.stop()
            state.sign_in(record.actor, "demo", display_name=record.display_name)
            st.rerun()


def _local(store: Store) -> None:
    st.subheader("Sign in")
    with st.form("sign_in.local", clear_on_submit=False):
        username = st.text_input("Username", key="sign_in.username")
        password = st.text_input("Password", type="password", key="sign_in.password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        record = store.authenticate(username.strip(), password) if username.strip() else None
        if record is None:
            st.error(MSG_BAD_LOGIN)
            return
        state.sign_in(record.actor, "local", display_name=record.display_name)
        st.rerun()
    st.caption("No account? An admin adds users on the Users page, or with "
               "`fairpanel users add` at the command line.")


def _oidc(store: Store) -> None:
    if not st.user.get("is_logged_in", False):
        st.subheader("Sign in")
        providers = auth.oidc_providers()
        if not providers and st.button("Sign in", key="sign_in.oidc", type="primary"):
            st.login()
        for provider in providers:
            if st.button(f"Sign in with {provider}", key=f"sign_in.oidc.{provider}"):
                st.login(provider)
        return
    email = auth.oidc_email()
    if email is None:
        st.error(MSG_NO_EMAIL)
    else:
        st.error(MSG_NOT_REGISTERED.format(email=plain(email)))
    if st.button("Sign out", key="sign_in.oidc_logout"):
        st.logout()


render()
