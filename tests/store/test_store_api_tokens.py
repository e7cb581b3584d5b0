"""API tokens in the store: created by admins only, stored as a hash, shown once, checked
per system and scope, revoked at once; every write logged without the token.

Every test runs on SQLite and PostgreSQL (the ``store`` fixture). What each bad input
gets: an unknown system a ``LookupError`` naming the known ones; a bad scope, label or
token id a ``ValueError`` naming the field; a non-admin ``PermissionDenied``; a token that
opens nothing a ``TokenRefused`` with one message whatever the reason. Nothing is written
on any refusal.
"""

from __future__ import annotations

import hashlib

import pytest
from db_support import ADMIN, SCIENTIST, SHA_A, SHA_B, row_counts

from audits.roles import PermissionDenied
from audits.store import Store, SystemInput, VersionInput
from audits.store.api_tokens import (
    MSG_BAD_SCOPE,
    MSG_TOKEN_REFUSED,
    MSG_UNKNOWN_TOKEN,
    TOKEN_PREFIX,
    TokenRefused,
)


@pytest.fixture
def systems(store: Store) -> Store:
    for name, sha in (("credit", SHA_A), ("hiring", SHA_B)):
        store.register_system_version(SCIENTIST, SystemInput(name), VersionInput(
            source=f"{name}.csv", sha256=sha, n_rows=10, roles={}, card="", card_data={},
            data_path=f"data/{sha}.parquet"))
    return store


def test_a_token_is_stored_only_as_its_hash_and_logged_without_it(systems: Store) -> None:
    new = systems.create_token(ADMIN, "credit", "decide", label="loan service")
    assert new.token.startswith(TOKEN_PREFIX) and len(new.token) >= 40
    assert (new.record.system, new.record.scope, new.record.label) == ("credit", "decide",
                                                                         "loan service")
    assert new.record.prefix == new.token[:12] and new.record.active
    with systems.engine.connect() as conn:
        stored = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT token_sha256, prefix FROM api_tokens")]
    assert stored == [(hashlib.sha256(new.token.encode()).hexdigest(), new.token[:12])]
    entry = systems.log_entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.entity_id) == ("create_api_token",
                                                            ADMIN.username, str(new.record.id))
    assert new.token not in str(entry.payload) and entry.payload["prefix"] == new.token[:12]
    assert systems.verify_log().ok


def test_two_tokens_differ_and_are_listed_without_the_token(systems: Store) -> None:
    a = systems.create_token(ADMIN, "credit", "decide")
    b = systems.create_token(ADMIN, "hiring", "read")
    assert a.token != b.token
    listed = systems.list_tokens(ADMIN)
    assert [(t.id, t.system, t.scope) for t in listed] == [(a.record.id, "credit", "decide"),
                                                           (b.record.id, "hiring", "read")]
    assert [t.id for t in systems.list_tokens(ADMIN, "hiring")] == [b.record.id]
    assert not any(hasattr(t, "token") for t in listed)


def test_a_token_opens_only_its_system_and_scope(systems: Store) -> None:
    decide = systems.create_token(ADMIN, "credit", "decide").token
    read = systems.create_token(ADMIN, "credit", "read").token
    assert systems.check_token(decide, "credit", "decide").scope == "decide"
    assert systems.check_token(decide, "credit", "read").scope == "decide"  # decide reads
    assert systems.check_token(read, "credit", "read").scope == "read"
    refusals = [(read, "credit", "decide"),                       # read never decides
                (decide, "hiring", "decide"),                     # another system
                (decide[:-1] + ("A" if decide[-1] != "A" else "B"), "credit", "decide"),
                (TOKEN_PREFIX + "x" * 43, "credit", "decide"),    # never issued
                ("Bearer " + decide, "credit", "decide"),         # not a token
                (None, "credit", "decide"), ("", "credit", "decide")]
    for token, system, scope in refusals:
        with pytest.raises(TokenRefused) as refused:
            systems.check_token(token, system, scope)
        assert str(refused.value) == MSG_TOKEN_REFUSED  # one message, whatever the reason


def test_a_revoked_token_is_refused_at_once_and_revoking_twice_writes_nothing(
        systems: Store) -> None:
    new = systems.create_token(ADMIN, "credit", "decide")
    revoked = systems.revoke_token(ADMIN, new.record.id)
    assert not revoked.active and revoked.revoked_by == ADMIN.username
    with pytest.raises(TokenRefused):
        systems.check_token(new.token, "credit", "decide")
    entry = systems.log_entries(limit=1)[0]
    assert (entry.action, entry.entity_id) == ("revoke_api_token", str(new.record.id))
    before = row_counts(systems)
    again = systems.revoke_token(ADMIN, new.record.id)
    assert again.revoked_at == revoked.revoked_at and row_counts(systems) == before


def test_only_admins_manage_tokens_and_bad_input_is_named(systems: Store) -> None:
    new = systems.create_token(ADMIN, "credit", "read")
    before = row_counts(systems)
    with pytest.raises(PermissionDenied):
        systems.create_token(SCIENTIST, "credit", "decide")
    with pytest.raises(PermissionDenied):
        systems.list_tokens(SCIENTIST)
    with pytest.raises(PermissionDenied):
        systems.revoke_token(SCIENTIST, new.record.id)
    with pytest.raises(ValueError) as bad_scope:
        systems.create_token(ADMIN, "credit", "write")
    assert str(bad_scope.value) == MSG_BAD_SCOPE.format(choices="decide, read", value="write")
    with pytest.raises(LookupError, match="no system named 'loans'; known systems: "
                                          "credit, hiring"):
        systems.create_token(ADMIN, "loans", "read")
    with pytest.raises(ValueError, match="label"):
        systems.create_token(ADMIN, "credit", "read", label="x" * 201)
    with pytest.raises(LookupError, match=MSG_UNKNOWN_TOKEN.format(id=999)):
        systems.revoke_token(ADMIN, 999)
    for bad in (0, -1, "1", True, 1.0):
        with pytest.raises(ValueError, match="token id must be a positive integer"):
            systems.revoke_token(ADMIN, bad)  # type: ignore[arg-type]
    assert row_counts(systems) == before
    assert systems.check_token(new.token, "credit", "read").active  # untouched
