"""Sign-in protection in the store: lockout after repeated wrong passwords, every sign-in
logged (demo and identity-provider ones too) without the typed secret, and demo accounts
kept out of stores with real users."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from db_support import ADMIN
from sqlalchemy import update

from audits.roles import Actor, Role
from audits.store import Store
from audits.store.tables import User, utcnow
from audits.store.users import MSG_DEMO_PASSWORD, SignInPolicy

PASSWORD = "correct horse battery"
POLICY = SignInPolicy(max_failures=5, lock_seconds=60, max_lock_seconds=3600)


def fail(store: Store, n: int, username: str = "ada", password: str = "wrong guess") -> None:
    for _ in range(n):
        assert store.authenticate(username, password, policy=POLICY) is None


def age_lock(store: Store, username: str = "ada") -> None:
    """Let the account's lock run out (moving it into the past, not waiting)."""
    with store.engine.begin() as conn:
        conn.execute(update(User).where(User.username == username)
                     .values(locked_until=utcnow() - timedelta(seconds=1)))


def log_text(store: Store) -> str:
    return "\n".join(json.dumps([e.actor, e.entity_id, e.payload]) for e in store.log_entries())


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(store: Store) -> None:
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    fail(store, 4)
    assert store.get_user("ada").locked_until is None  # type: ignore[union-attr]
    fail(store, 1)
    locked = store.get_user("ada").locked_until  # type: ignore[union-attr]
    assert locked is not None
    assert timedelta(seconds=55) < locked - utcnow() <= timedelta(seconds=60)
    # The right password during the lock does not sign in, and says why in the log.
    assert store.authenticate("ada", PASSWORD, policy=POLICY) is None
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.payload["reason"]) == ("sign_in_failed", "locked")
    age_lock(store)
    assert store.authenticate("ada", PASSWORD, policy=POLICY) is not None
    assert store.get_user("ada").locked_until is None  # type: ignore[union-attr]


def test_each_lockout_before_a_success_doubles_the_lock(store: Store) -> None:
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    lengths = []
    for _ in range(3):
        fail(store, 5)
        locked = store.get_user("ada").locked_until  # type: ignore[union-attr]
        assert locked is not None
        lengths.append(round((locked - utcnow()).total_seconds() / 60))
        age_lock(store)
    assert lengths == [1, 2, 4]
    # A success resets the count: the next lockout is the short one again.
    assert store.authenticate("ada", PASSWORD, policy=POLICY) is not None
    fail(store, 5)
    locked = store.get_user("ada").locked_until  # type: ignore[union-attr]
    assert locked is not None and round((locked - utcnow()).total_seconds() / 60) == 1


def test_an_admin_setting_a_password_ends_the_lock(store: Store) -> None:
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    fail(store, 5)
    store.set_password(ADMIN, "ada", "a brand new passphrase")
    assert store.get_user("ada").locked_until is None  # type: ignore[union-attr]
    assert store.authenticate("ada", "a brand new passphrase", policy=POLICY) is not None


def test_a_success_resets_the_failure_count(store: Store) -> None:
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    fail(store, 4)
    assert store.authenticate("ada", PASSWORD, policy=POLICY) is not None
    fail(store, 4)
    assert store.authenticate("ada", PASSWORD, policy=POLICY) is not None


def test_the_policy_comes_from_the_environment(store: Store,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_SIGN_IN_MAX_FAILURES", "2")
    monkeypatch.setenv("FAIRPANEL_SIGN_IN_LOCK_SECONDS", "600")
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    for _ in range(2):
        assert store.authenticate("ada", "wrong guess") is None
    locked = store.get_user("ada").locked_until  # type: ignore[union-attr]
    assert locked is not None and locked - utcnow() > timedelta(seconds=590)
    monkeypatch.setenv("FAIRPANEL_SIGN_IN_MAX_FAILURES", "none")
    with pytest.raises(ValueError, match="FAIRPANEL_SIGN_IN_MAX_FAILURES"):
        store.authenticate("ada", PASSWORD)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_a_bad_policy_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="max_failures must be a positive integer"):
        SignInPolicy(max_failures=bad)  # type: ignore[arg-type]


def test_failures_log_neither_the_password_nor_an_unknown_name(store: Store) -> None:
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    secret = "hunter2-typed-in-the-username-box"
    assert store.authenticate(secret, PASSWORD, policy=POLICY) is None  # unknown user
    assert store.authenticate("ada", "my-real-bank-password", policy=POLICY) is None
    assert store.authenticate("ada", PASSWORD, policy=POLICY) is not None
    text = log_text(store)
    assert secret not in text and "hunter2" not in text
    assert "my-real-bank-password" not in text and PASSWORD not in text
    ok, wrong, unknown = store.log_entries(limit=3)  # newest first
    assert (unknown.action, unknown.actor, unknown.payload) == (
        "sign_in_failed", "anonymous", {"reason": "unknown_user"})
    assert wrong.payload == {"username": "ada", "reason": "wrong_password", "failures": 1}
    assert (ok.action, ok.actor, ok.payload["method"]) == ("sign_in", "ada", "password")


def test_the_sign_in_method_is_recorded(store: Store) -> None:
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)
    assert store.authenticate("ada", PASSWORD, method="cli_password") is not None
    assert store.log_entries(limit=1)[0].payload["method"] == "cli_password"
    with pytest.raises(ValueError, match="sign-in method"):
        store.authenticate("ada", PASSWORD, method="Bad Method!")


def test_demo_sign_ins_are_logged_and_only_for_demo_accounts(store: Store) -> None:
    store.add_user(Actor.system(), "demo-admin", Role.ADMIN, demo=True)
    record = store.record_sign_in("demo-admin", method="demo")
    assert record is not None and record.demo
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.payload) == (
        "sign_in", "demo-admin", {"username": "demo-admin", "method": "demo"})
    # A demo account never signs in with a password, even one it was given.
    assert store.authenticate("demo-admin", "anything at all", policy=POLICY) is None
    assert store.log_entries(limit=1)[0].payload["reason"] == "demo_account"
    assert store.record_sign_in("nobody", method="demo") is None
    assert store.log_entries(limit=1)[0].payload == {"method": "demo",
                                                     "reason": "unknown_user"}


def test_demo_accounts_never_enter_a_store_with_real_users(store: Store) -> None:
    store.check_demo_store()  # empty: fine
    store.add_user(Actor.system(), "demo-admin", Role.ADMIN, demo=True)
    store.check_demo_store()  # only demo accounts: fine
    # An account a demo persona creates is a demo account, password or not.
    created = store.add_user(Actor("demo-admin", Role.ADMIN), "mallory", Role.ADMIN,
                             password=PASSWORD)
    assert created.demo and created.has_password
    assert store.authenticate("mallory", PASSWORD, policy=POLICY) is None
    store.check_demo_store()
    store.add_user(ADMIN, "ada", Role.ADMIN, password=PASSWORD)  # a real user
    with pytest.raises(ValueError, match=re.escape("1 user(s) who are not demo accounts")):
        store.check_demo_store()
    n_users = len(store.list_users())
    with pytest.raises(ValueError, match="demo personas are never added"):
        store.add_user(Actor.system(), "demo-reviewer", Role.REVIEWER, demo=True)
    assert len(store.list_users()) == n_users
    assert store.record_sign_in("ada", method="demo") is None  # a real user is no persona
    assert store.log_entries(limit=1)[0].payload["reason"] == "not_demo"
    with pytest.raises(ValueError, match=re.escape(MSG_DEMO_PASSWORD)):
        store.add_user(Actor.system(), "demo-x", Role.ADMIN, demo=True, password=PASSWORD)


def test_the_migration_marks_only_the_demos_own_accounts(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from audits.store.db import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # a store as 0006 left it
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
        insert = text("INSERT INTO users (username, display_name, role, password_hash, "
                      "active, created_at) VALUES (:u, :u, 'admin', :h, 1, '2026-01-01')")
        for username, hashed in [("demo-admin", None), ("sim-reviewer-03", None),
                                 ("demo-reviewer", "$argon2id$x"), ("ada", None),
                                 ("ada-sim-reviewer-1", None)]:
            conn.execute(insert, {"u": username, "h": hashed})
    engine.dispose()
    with Store(f"sqlite:///{tmp_path / 'old.db'}") as store:  # migrates to the head
        demo = {u.username: u.demo for u in store.list_users()}
        assert demo == {"demo-admin": True, "sim-reviewer-03": True,
                        "demo-reviewer": False,  # it has a password: a real account
                        "ada": False, "ada-sim-reviewer-1": False}
        assert all(u.locked_until is None for u in store.list_users())
