"""User accounts: creation, validation, passwords, sign-in and permissions."""

from __future__ import annotations

from dataclasses import fields

import pytest
from argon2 import PasswordHasher
from db_support import ADMIN, REVIEWER, SIGNING_KEY, Database, row_counts
from sqlalchemy import select

from audits.roles import MSG_DENIED, MSG_UNKNOWN_ROLE, Actor, PermissionDenied, Role
from audits.store import Store, UserRecord
from audits.store.tables import User
from audits.store.users import MSG_DUPLICATE_USERNAME, MSG_UNKNOWN_USER
from audits.store.validation import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    MSG_BAD_USERNAME,
    MSG_EMPTY_TEXT,
    MSG_PASSWORD_LENGTH,
)

PASSWORD = "correct horse battery"


def test_add_user_returns_a_record_without_the_hash(store: Store) -> None:
    user = store.add_user(ADMIN, "ada", Role.DATA_SCIENTIST, password=PASSWORD,
                          display_name="Ada Lovelace")
    assert (user.username, user.display_name, user.role) == ("ada", "Ada Lovelace",
                                                            Role.DATA_SCIENTIST)
    assert user.active and user.has_password
    assert user.created_at.utcoffset() is not None
    assert user.actor == Actor("ada", Role.DATA_SCIENTIST)
    assert not any("hash" in f.name for f in fields(UserRecord))
    assert store.get_user("ada") == user
    assert store.list_users() == [user]


def test_role_is_parsed_from_text_and_display_name_defaults(store: Store) -> None:
    user = store.add_user(ADMIN, "bo", "Panel lead")
    assert user.role is Role.PANEL_LEAD and user.display_name == "bo"
    assert not user.has_password


def test_password_is_stored_as_argon2(store: Store) -> None:
    store.add_user(ADMIN, "ada", "admin", password=PASSWORD)
    with store.engine.connect() as conn:
        stored = conn.scalar(select(User.password_hash).where(User.username == "ada"))
        conn.rollback()
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_authenticate_accepts_the_right_password(store: Store) -> None:
    added = store.add_user(ADMIN, "ada", "admin", password=PASSWORD)
    assert store.authenticate("ada", PASSWORD) == added
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor) == ("sign_in", "ada")
    assert entry.payload == {"username": "ada", "method": "password", "rehashed": False}


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("ada", "wrong password", "wrong_password"),
        ("nobody", PASSWORD, "unknown_user"),
        ("bo", PASSWORD, "no_password"),
        ("not a name!", PASSWORD, "unknown_user"),
        ("ada", "", "wrong_password"),
    ],
)
def test_authenticate_refuses_and_logs_the_failure(
    store: Store, username: str, password: str, reason: str
) -> None:
    store.add_user(ADMIN, "ada", "admin", password=PASSWORD)
    store.add_user(ADMIN, "bo", "reviewer")
    assert store.authenticate(username, password) is None
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor) == ("sign_in_failed", "anonymous")
    # An unknown name is never written (it may be a mistyped password); a known one is.
    expected = {"reason": reason} if reason == "unknown_user" else {
        "username": username, "reason": reason}
    if reason == "wrong_password":
        expected["failures"] = 1
    assert entry.payload == expected


def test_deactivated_user_cannot_sign_in(store: Store) -> None:
    store.add_user(ADMIN, "ada", "reviewer", password=PASSWORD)
    store.deactivate_user(ADMIN, "ada")
    user = store.get_user("ada")
    assert user is not None and not user.active
    assert store.authenticate("ada", PASSWORD) is None
    assert store.log_entries(limit=1)[0].payload["reason"] == "inactive"


def test_deactivating_twice_changes_and_logs_nothing(store: Store) -> None:
    store.add_user(ADMIN, "ada", "reviewer")
    store.deactivate_user(ADMIN, "ada")
    before = row_counts(store)
    store.deactivate_user(ADMIN, "ada")
    assert row_counts(store) == before


def test_set_password_replaces_the_old_one(store: Store) -> None:
    store.add_user(ADMIN, "ada", "reviewer", password=PASSWORD)
    store.set_password(ADMIN, "ada", "another passphrase")
    assert store.authenticate("ada", PASSWORD) is None
    assert store.authenticate("ada", "another passphrase") is not None


def test_users_may_change_their_own_password_only(store: Store) -> None:
    store.add_user(ADMIN, "rita", "reviewer", password=PASSWORD)
    store.add_user(ADMIN, "ada", "reviewer", password=PASSWORD)
    store.set_password(REVIEWER, "rita", "rita's new passphrase")
    assert store.authenticate("rita", "rita's new passphrase") is not None
    with pytest.raises(PermissionDenied):
        store.set_password(REVIEWER, "ada", "hijacked password")
    assert store.authenticate("ada", PASSWORD) is not None


def test_unknown_user_is_a_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match=MSG_UNKNOWN_USER.format(username="ghost")):
        store.set_password(ADMIN, "ghost", PASSWORD)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_USER.format(username="ghost")):
        store.deactivate_user(ADMIN, "ghost")


@pytest.mark.parametrize("second", ["ada", "ADA", "Ada"])
def test_duplicate_username_is_refused_ignoring_case(store: Store, second: str) -> None:
    store.add_user(ADMIN, "ada", "admin")
    before = row_counts(store)
    with pytest.raises(ValueError) as info:
        store.add_user(ADMIN, second, "reviewer")
    assert str(info.value) == MSG_DUPLICATE_USERNAME.format(username=second)
    assert row_counts(store) == before


def test_bad_role_is_refused(store: Store) -> None:
    with pytest.raises(ValueError) as info:
        store.add_user(ADMIN, "ada", "superuser")
    choices = ", ".join(r.value for r in Role)
    assert str(info.value) == MSG_UNKNOWN_ROLE.format(role="superuser", choices=choices)
    assert row_counts(store)["users"] == 0


@pytest.mark.parametrize("username", ["", "a b", "x" * 65, "semi;colon", "system:cli", "é"])
def test_bad_username_is_refused(store: Store, username: str) -> None:
    with pytest.raises(ValueError) as info:
        store.add_user(ADMIN, username, "reviewer")
    assert str(info.value) == MSG_BAD_USERNAME.format(username=username)
    assert set(row_counts(store).values()) == {0}


def test_username_of_64_allowed_characters_is_accepted(store: Store) -> None:
    name = "A.b_c-d@e" + "9" * 55
    assert store.add_user(ADMIN, name, "reviewer").username == name


@pytest.mark.parametrize("length", [MIN_PASSWORD_LENGTH - 1, MAX_PASSWORD_LENGTH + 1])
def test_password_length_is_checked(store: Store, length: int) -> None:
    with pytest.raises(ValueError) as info:
        store.add_user(ADMIN, "ada", "reviewer", password="p" * length)
    expected = MSG_PASSWORD_LENGTH.format(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH,
                                          n=length)
    assert str(info.value) == expected
    assert row_counts(store)["users"] == 0


def test_blank_display_name_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match=MSG_EMPTY_TEXT.format(field="display_name")):
        store.add_user(ADMIN, "ada", "reviewer", display_name="   ")


def test_non_actor_is_a_type_error(store: Store) -> None:
    with pytest.raises(TypeError, match="Actor"):
        store.add_user("root_admin", "ada", "reviewer")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_user(REVIEWER, "eve", "admin"),
        lambda s: s.deactivate_user(REVIEWER, "ada"),
    ],
    ids=["add_user", "deactivate_user"],
)
def test_reviewer_cannot_manage_users(store: Store, call: object) -> None:
    store.add_user(ADMIN, "ada", "admin")
    before = row_counts(store)
    with pytest.raises(PermissionDenied) as info:
        call(store)  # type: ignore[operator]
    assert str(info.value) == MSG_DENIED.format(
        actor="rita", role="reviewer", action="manage users", allowed="admin"
    )
    assert row_counts(store) == before


def test_sign_in_upgrades_an_outdated_hash(database: Database) -> None:
    old = database.open()
    old.add_user(ADMIN, "ada", "reviewer", password=PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    with Store(database.url, password_hasher=stronger, signing_key=SIGNING_KEY) as new:
        assert new.authenticate("ada", PASSWORD) is not None
        with new.engine.connect() as conn:
            stored = conn.scalar(select(User.password_hash).where(User.username == "ada"))
            conn.rollback()
        assert stored is not None and not stronger.check_needs_rehash(stored)
        assert new.log_entries(limit=1)[0].payload == {"username": "ada", "method": "password",
                                                            "rehashed": True}
        assert new.authenticate("ada", PASSWORD) is not None
        assert new.verify_log().ok
