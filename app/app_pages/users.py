"""Users (admin): who can sign in, with which role; add a local account."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, loaders
from app.formatting import plain, when
from audits.roles import PermissionDenied, Role

PAGE = "app_pages/users.py"


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Users")
    with st.form("users.add", clear_on_submit=True, border=True):
        st.subheader("Add a user")
        a, b = st.columns(2)
        username = a.text_input("Username", key="users.add.username", max_chars=64,
                                help="Letters, digits and . _ @ -. With single sign-on, "
                                     "use the person's e-mail address.")
        role = b.selectbox("Role", list(Role), key="users.add.role",
                           format_func=lambda r: r.label)
        display_name = a.text_input("Display name (optional)", key="users.add.display_name")
        password = b.text_input("Password (optional, 8+ characters)", type="password",
                                key="users.add.password",
                                help="Leave empty for single sign-on accounts; they cannot "
                                     "sign in with a password.")
        submitted = st.form_submit_button("Add user", type="primary",
                                          icon=":material/person_add:")
    if submitted:
        try:
            added = store.add_user(user.actor, username.strip(), role,
                                   password=password or None,
                                   display_name=display_name.strip() or None)
        except (PermissionDenied, ValueError, TypeError) as error:
            st.error(plain(error))
        else:
            st.success(f"Added {plain(added.username)} ({added.role.label}).")
    st.subheader("Registered users")
    users = store.list_users()
    st.dataframe(pd.DataFrame([
        {"username": u.username, "display name": u.display_name, "role": u.role.label,
         "has password": u.has_password, "active": u.active, "created": when(u.created_at),
         "demo account": u.demo,
         "locked until": when(u.locked_until) if u.locked_until else ""}
        for u in users
    ]), hide_index=True, width="stretch", key="users.table")


render()
