"""My account: who you are, what your role may do, and signing out."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, loaders
from app.formatting import plain, plain_table
from app.navigation import pages_for
from app.state import SignedInUser
from audits.roles import PERMISSIONS, PermissionDenied, Role

PAGE = "app_pages/account.py"
MODE_LABELS = {"demo": "demo persona (no password)", "local": "local account",
               "oidc": "single sign-on"}
ROLE_DUTIES = {
    Role.DATA_SCIENTIST: "Loads decisions and models, chooses sensitive features, explores "
                         "per-group metrics and explanations, tunes the review policy.",
    Role.REVIEWER: "Works a personal queue of flagged decisions, blind to other reviewers; "
                   "decides, says how sure they are and why.",
    Role.PANEL_LEAD: "Registers reviewers, sets overlap and diversity rules, adjudicates "
                     "cases the panel disagrees on.",
    Role.COMPLIANCE_OFFICER: "Reads the audit report and the audit log, signs off or sends "
                             "back, exports the report.",
    Role.ADMIN: "Manages users and the deployment.",
}


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    st.title("My account")
    st.table(plain_table(pd.DataFrame([
        ("Name", user.display_name),
        ("Username", user.username),
        ("Role", user.role.label),
        ("Signed in with", MODE_LABELS.get(user.mode, user.mode)),
    ], columns=["", "you"])), hide_index=True, width="content")
    st.subheader("What your role does")
    st.write(ROLE_DUTIES[user.role])
    pages = ", ".join(p.title for p in pages_for(user.role))
    st.markdown(f"**Pages:** {pages}")
    allowed = sorted(action for action, roles in PERMISSIONS.items() if user.role in roles)
    st.markdown("**May change:** " + (", ".join(allowed) if allowed else "nothing (read only)"))
    if user.mode == "local":
        _change_password(user)
    label = "Switch persona" if user.mode == "demo" else "Sign out"
    if st.button(label, key="account.sign_out", icon=":material/logout:"):
        auth.sign_out(user)


def _change_password(user: SignedInUser) -> None:
    """Change your own password: the current one is checked first (a wrong one counts
    towards the sign-in lockout, so an unattended session cannot guess it)."""
    st.subheader("Change your password")
    with st.form("account.password", clear_on_submit=True):
        current = st.text_input("Current password", type="password",
                                key="account.password.current")
        first = st.text_input("New password (8+ characters)", type="password",
                              key="account.password.new")
        second = st.text_input("The same again", type="password",
                               key="account.password.again")
        submitted = st.form_submit_button("Change the password", icon=":material/key:")
    if not submitted:
        return
    if first != second:
        st.error("The two new passwords differ; type the same new password twice.")
        return
    store = loaders.get_store()
    if store.authenticate(user.username, current, method="password_change") is None:
        st.error("The current password is wrong (or the account is locked); nothing changed.")
        return
    try:
        store.set_password(user.actor, user.username, first)
    except (PermissionDenied, ValueError, LookupError, TypeError) as error:
        st.error(f"Not changed: {plain(error)}")
        return
    st.success("Your password is changed; use it the next time you sign in.")


render()
