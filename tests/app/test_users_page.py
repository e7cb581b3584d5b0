"""The Users page: deactivate, reactivate, change a role, set a password, and an add
form that keeps what was typed after an error. Each test asserts the page after the write.

The pages run in-process (``AppTest``) on a store of the test's own with local accounts.
"""

from __future__ import annotations

import app_support
import pytest
from streamlit.testing.v1 import AppTest

from audits.roles import Actor, Role
from audits.store import Store

PASSWORD = "correct horse battery"
PAGE = "app_pages/users.py"


@pytest.fixture
def staffed_store(real_store: Store) -> Store:
    """The fresh store with a local admin ``ada``, a reviewer ``rita`` and a lead ``lee``."""
    system = Actor.system()
    real_store.add_user(system, "ada", Role.ADMIN, password=PASSWORD, display_name="Ada")
    real_store.add_user(system, "rita", Role.REVIEWER, password=PASSWORD, display_name="Rita")
    real_store.add_user(system, "lee", Role.PANEL_LEAD, password=PASSWORD)
    return real_store


def signed_in(username: str = "ada") -> AppTest:
    at = app_support.new_app()
    at.run()
    at.text_input(key="sign_in.username").input(username)
    at.text_input(key="sign_in.password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def table_row(at: AppTest, username: str) -> dict[str, object]:
    table = at.dataframe[0].value
    return dict(table[table["username"] == username].iloc[0])


def choose(at: AppTest, username: str) -> None:
    at.selectbox(key="users.manage.username").set_value(username).run()
    assert not at.exception, at.exception


def click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


def test_deactivate_asks_then_shows_the_user_inactive_and_sign_in_fails(
        staffed_store: Store) -> None:
    at = signed_in()
    choose(at, "rita")
    click(at, "users.manage.deactivate")
    assert at.warning and "Deactivate rita?" in at.warning[0].value
    assert staffed_store.get_user("rita").active  # nothing happens before the confirmation
    click(at, "users.manage.deactivate.confirm")
    assert at.success and "rita is deactivated" in at.success[0].value
    assert not table_row(at, "rita")["active"]
    assert not staffed_store.get_user("rita").active
    assert staffed_store.authenticate("rita", PASSWORD) is None
    assert [b.key for b in at.button if b.key == "users.manage.reactivate"]
    click(at, "users.manage.reactivate")
    assert at.success and "rita can sign in again" in at.success[0].value
    assert table_row(at, "rita")["active"]
    assert staffed_store.authenticate("rita", PASSWORD) is not None
    actions = [e.action for e in staffed_store.log_entries() if e.actor == "ada"]
    assert {"deactivate_user", "reactivate_user"} <= set(actions)


def test_cancel_leaves_the_user_active(staffed_store: Store) -> None:
    at = signed_in()
    choose(at, "rita")
    click(at, "users.manage.deactivate")
    click(at, "users.manage.deactivate.cancel")
    assert not at.warning
    assert staffed_store.get_user("rita").active


def test_role_change_is_confirmed_and_shown(staffed_store: Store) -> None:
    at = signed_in()
    choose(at, "lee")
    at.selectbox(key="users.manage.role.lee").set_value(Role.COMPLIANCE_OFFICER).run()
    click(at, "users.manage.set_role")
    assert "Change lee from Panel lead to Compliance officer?" in at.warning[0].value
    click(at, "users.manage.set_role.confirm")
    assert at.success and "lee is now compliance officer" in at.success[0].value
    assert table_row(at, "lee")["role"] == "Compliance officer"
    assert staffed_store.get_user("lee").role is Role.COMPLIANCE_OFFICER
    entry = staffed_store.log_entries(limit=1)[0]
    assert (entry.action, entry.payload["old_role"], entry.payload["new_role"]) == (
        "set_role", "panel_lead", "compliance_officer")


def test_own_account_offers_no_role_change_or_deactivation(staffed_store: Store) -> None:
    at = signed_in()
    choose(at, "ada")
    assert at.info and "your own account" in at.info[0].value
    keys = {b.key for b in at.button}
    assert "users.manage.deactivate" not in keys and "users.manage.set_role" not in keys


def test_set_password_then_the_user_signs_in_with_it(staffed_store: Store) -> None:
    at = signed_in()
    choose(at, "rita")
    at.text_input(key="users.password.new").input("a brand new passphrase")
    at.text_input(key="users.password.again").input("a brand new passphrase")
    next(b for b in at.button if b.label == "Set the password").click().run()
    assert not at.exception, at.exception
    assert at.success and "New password set for rita" in at.success[0].value
    assert staffed_store.authenticate("rita", "a brand new passphrase") is not None


def test_mismatched_passwords_change_nothing(staffed_store: Store) -> None:
    at = signed_in()
    choose(at, "rita")
    at.text_input(key="users.password.new").input("a brand new passphrase")
    at.text_input(key="users.password.again").input("another passphrase!")
    next(b for b in at.button if b.label == "Set the password").click().run()
    assert at.error and "the two passwords differ" in at.error[0].value
    assert staffed_store.authenticate("rita", PASSWORD) is not None


def test_add_form_keeps_its_fields_after_an_error_and_clears_after_success(
        staffed_store: Store) -> None:
    at = signed_in()
    at.text_input(key="users.add.username").input("new-person")
    at.selectbox(key="users.add.role").set_value(Role.PANEL_LEAD)
    at.text_input(key="users.add.display_name").input("New Person")
    at.text_input(key="users.add.password").input("short")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert at.error and "password must be" in at.error[0].value
    assert at.text_input(key="users.add.username").value == "new-person"
    assert at.text_input(key="users.add.display_name").value == "New Person"
    assert at.selectbox(key="users.add.role").value is Role.PANEL_LEAD
    at.text_input(key="users.add.password").input("a long enough passphrase")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception, at.exception
    assert at.success and "Added new-person (Panel lead)" in at.success[0].value
    assert at.text_input(key="users.add.username").value == ""
    assert table_row(at, "new-person")["role"] == "Panel lead"


def test_non_admin_cannot_open_the_page(staffed_store: Store) -> None:
    at = app_support.new_app()
    at.run()
    at.text_input(key="sign_in.username").input("lee")
    at.text_input(key="sign_in.password").input(PASSWORD)
    at.button[0].click().run()
    with pytest.raises(Exception):  # noqa: B017, PT011 (AppTest: the page is not registered)
        at.switch_page(PAGE).run()


def test_a_local_user_changes_their_own_password_on_my_account(staffed_store: Store) -> None:
    at = app_support.new_app()
    at.run()
    at.text_input(key="sign_in.username").input("rita")
    at.text_input(key="sign_in.password").input(PASSWORD)
    at.button[0].click().run()
    at.switch_page("app_pages/account.py").run()
    assert not at.exception, at.exception
    for current, ok in (("not my password", False), (PASSWORD, True)):
        at.text_input(key="account.password.current").input(current)
        at.text_input(key="account.password.new").input("rita's own passphrase")
        at.text_input(key="account.password.again").input("rita's own passphrase")
        next(b for b in at.button if b.label == "Change the password").click().run()
        assert not at.exception, at.exception
        assert bool(at.success) is ok and bool(at.error) is not ok
    assert staffed_store.authenticate("rita", "rita's own passphrase") is not None
    assert staffed_store.authenticate("rita", PASSWORD) is None
