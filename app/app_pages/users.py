"""Users (admin): who can sign in, with which role; add, deactivate, reactivate, change
a role and set a new password.

The engine refuses what would lock the deployment out (your own account's role or
deactivation, the last active admin) and logs every change; this page asks before a
change that withdraws a reviewer's open cases and says how many.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from app import auth, loaders, state
from app.formatting import plain, when
from app.state import SignedInUser
from audits.roles import PermissionDenied, Role, same_person
from audits.store import Store, UserRecord

PAGE = "app_pages/users.py"
AREA = "users"
ADD_KEYS = ("users.add.username", "users.add.role", "users.add.display_name",
            "users.add.password")
KEY_CHOSEN = "users.manage.username"
KEY_PENDING = "users.manage.pending"
#: The user to select on the next run: the browser keeps a selectbox's choice as its
#: label ("... · Reviewer"), which no longer names an option after a role or status
#: change, so the page sets the choice again after each write.
KEY_RESELECT = "users.manage.reselect"
MSG_PASSWORDS_DIFFER = "the two passwords differ; type the same new password twice"
MSG_OWN = ("This is your own account: another admin changes its role or deactivates it. "
           "Change your own password on My account.")


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Users")
    kept = state.take_flash(AREA)
    if kept is not None:
        (st.success if kept[0] == "success" else st.error)(kept[1])
    users = store.list_users()
    st.subheader("Registered users")
    st.dataframe(_users_table(users), hide_index=True, width="stretch", key="users.table")
    _manage(store, user, users)
    _add(store, user)


def _users_table(users: list[UserRecord]) -> pd.DataFrame:
    return pd.DataFrame([
        {"username": u.username, "display name": u.display_name, "role": u.role.label,
         "active": u.active, "has password": u.has_password, "created": when(u.created_at),
         "demo account": u.demo,
         "locked until": when(u.locked_until) if u.locked_until else ""}
        for u in users
    ])


# -- one user ----------------------------------------------------------------------------


def _manage(store: Store, user: SignedInUser, users: list[UserRecord]) -> None:
    st.subheader("Manage a user")
    by_name = {u.username: u for u in users}
    if state.recall(KEY_RESELECT) is not None:
        state.preselect(KEY_CHOSEN, state.recall(KEY_RESELECT))
        state.forget(KEY_RESELECT)
    others = [n for n in by_name if not same_person(n, user.username)]
    state.keep_choice(KEY_CHOSEN, list(by_name), next(iter(others or by_name), None))
    chosen = st.selectbox("User", list(by_name), key=KEY_CHOSEN,
                          format_func=lambda n: f"{by_name[n].display_name} ({n}) · "
                          f"{by_name[n].role.label}"
                          + ("" if by_name[n].active else " · deactivated"))
    if chosen is None:
        return
    target = by_name[chosen]
    if same_person(target.username, user.username):
        st.info(MSG_OWN, icon=":material/person:")
        return
    open_cases = _open_cases(store, user, target.username)
    left, middle, right = st.columns(3, gap="large")
    with left:
        _activation(store, user, target, open_cases)
    with middle:
        _role(store, user, target, open_cases)
    with right:
        _password(store, user, target)


def _open_cases(store: Store, user: SignedInUser, username: str) -> int | None:
    """Return the user's open review assignments, or None when not on the panel."""
    try:
        panel = store.list_reviewers(user.actor)
    except PermissionDenied:
        return None
    return next((r.open_assignments for r in panel if r.username == username), None)


def _activation(store: Store, user: SignedInUser, target: UserRecord,
                open_cases: int | None) -> None:
    st.markdown("**Sign-in**")
    if not target.active:
        st.caption("Deactivated: cannot sign in. Reactivating restores the same role and "
                   "password; a reviewer stays unavailable on the panel until a panel lead "
                   "turns them back on.")
        if st.button("Reactivate", key="users.manage.reactivate", icon=":material/person_check:"):
            _act(lambda: store.reactivate_user(user.actor, target.username),
                 f"{plain(target.username)} can sign in again.")
        return
    st.caption("Deactivating stops sign-in at once (an open session ends on its next "
               "click); the account and everything it did stay in the log.")
    moves = _moves(open_cases)
    if st.button("Deactivate", key="users.manage.deactivate", icon=":material/person_off:"):
        state.remember(KEY_PENDING, ("deactivate", target.username))
    if state.recall(KEY_PENDING) == ("deactivate", target.username):
        _confirm(f"Deactivate {plain(target.username)}?{moves}", "users.manage.deactivate",
                 lambda: store.deactivate_user(user.actor, target.username),
                 f"{plain(target.username)} is deactivated and can no longer sign in.{moves}")


def _role(store: Store, user: SignedInUser, target: UserRecord,
          open_cases: int | None) -> None:
    st.markdown("**Role**")
    roles = list(Role)
    key = f"users.manage.role.{target.username}"
    new = st.selectbox("New role", roles, index=roles.index(target.role), key=key,
                       format_func=lambda r: r.label)
    if new is target.role:
        st.caption(f"Currently {target.role.label.lower()}.")
        return
    moves = _moves(open_cases) if target.role is Role.REVIEWER else ""
    if st.button(f"Make {target.role.label.lower()} a {new.label.lower()}",
                 key="users.manage.set_role", icon=":material/badge:"):
        state.remember(KEY_PENDING, ("set_role", target.username, new.value))
    if state.recall(KEY_PENDING) == ("set_role", target.username, new.value):
        _confirm(f"Change {plain(target.username)} from {target.role.label} to "
                 f"{new.label}?{moves}", "users.manage.set_role",
                 lambda: store.set_role(user.actor, target.username, new),
                 f"{plain(target.username)} is now {new.label.lower()}.{moves}", forget=key)


def _password(store: Store, user: SignedInUser, target: UserRecord) -> None:
    st.markdown("**Password**")
    if target.demo:
        st.caption("A demo account has no password.")
        return
    with st.form("users.password", clear_on_submit=True, border=False):
        first = st.text_input("New password (8+ characters)", type="password",
                              key="users.password.new")
        second = st.text_input("The same again", type="password", key="users.password.again")
        submitted = st.form_submit_button("Set the password", icon=":material/key:")
    st.caption("Give it to the person by another channel and ask them to change it on "
               "My account. Setting it also ends a sign-in lockout.")
    if not submitted:
        return
    if first != second:
        st.error(MSG_PASSWORDS_DIFFER)
        return
    _act(lambda: store.set_password(user.actor, target.username, first),
         f"New password set for {plain(target.username)}.")


def _moves(open_cases: int | None) -> str:
    if not open_cases:
        return ""
    return (f" Their {open_cases:,} open review case(s) are withdrawn and wait for a panel "
            "lead to assign them to other reviewers (Panel page, Assign the queue).")


def _confirm(question: str, key: str, action: Callable[[], object], message: str, *,
             forget: str | None = None) -> None:
    st.warning(question, icon=":material/help:")
    yes, no = st.columns(2)
    if yes.button("Confirm", key=f"{key}.confirm", type="primary"):
        state.forget(KEY_PENDING)
        if forget is not None:
            state.forget(forget)
        _act(action, message)
    if no.button("Cancel", key=f"{key}.cancel"):
        state.forget(KEY_PENDING)
        st.rerun()


def _act(action: Callable[[], object], message: str) -> None:
    """Run a change: on success keep ``message`` and rerun; else show the engine's refusal."""
    try:
        action()
    except (PermissionDenied, ValueError, LookupError, TypeError) as error:
        st.error(f"Not changed: {plain(error)}")
        return
    chosen = state.recall(KEY_CHOSEN)
    if chosen is not None:
        state.remember(KEY_RESELECT, chosen)
    state.flash(AREA, "success", message)
    st.rerun()


# -- adding a user -----------------------------------------------------------------------


def _add(store: Store, user: SignedInUser) -> None:
    # Fields keep what was typed after an error (no clear_on_submit); only a success
    # clears them, on the rerun that shows the new user.
    with st.form("users.add", border=True):
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
    if not submitted:
        return
    try:
        added = store.add_user(user.actor, username.strip(), role,
                               password=password or None,
                               display_name=display_name.strip() or None)
    except (PermissionDenied, ValueError, TypeError) as error:
        st.error(plain(error))
        return
    for key in ADD_KEYS:
        state.forget(key)
    note = " A reviewer joins the panel on the Panel page." if added.role is Role.REVIEWER else ""
    state.flash(AREA, "success", f"Added {plain(added.username)} ({added.role.label}).{note}")
    st.rerun()


render()
