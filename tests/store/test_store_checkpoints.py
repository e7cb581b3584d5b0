"""The anchored log: signed checkpoints, the pinned key, and the four ways to rewrite a
hash-chained log (edit and re-chain, delete the tail, append a forgery, truncate), each
caught by ``log verify``, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from db_support import FAST_HASHER, SIGNING_KEY, Database, row_counts
from sqlalchemy import delete, select, update

from audits.cli import command as cli
from audits.roles import Actor
from audits.store import Store
from audits.store.checkpoints import (
    Checkpoint,
    CheckpointPolicy,
    KeyNotPinned,
    export_lines,
    read_checkpoint_lines,
)
from audits.store.tables import AuditLog, LogCheckpoint, LogHead, SigningKey

SYSTEM = Actor.system()
EVERY_5 = CheckpointPolicy(every_entries=5, every_minutes=60)


def _open(database: Database, policy: CheckpointPolicy = EVERY_5,
          key: Ed25519PrivateKey = SIGNING_KEY) -> Store:
    store = Store(database.url, password_hasher=FAST_HASHER, signing_key=key,
                  checkpoint_policy=policy)
    database._opened.append(store)  # closed with the database
    return store


def _users(store: Store, n: int, prefix: str = "u") -> None:
    for i in range(n):
        store.add_user(SYSTEM, f"{prefix}{i}", "reviewer")


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


def _signed_text(c: Checkpoint) -> bytes:
    # Oracle: the signed message spelt out with json.dumps, not canonical_json.
    body = {"kind": "fairpanel-log-checkpoint", "id": c.id, "entry_id": c.entry_id,
            "entry_hash": c.entry_hash, "ts": c.ts, "reason": c.reason,
            "report_id": c.report_id, "every_entries": c.every_entries,
            "every_minutes": c.every_minutes, "public_key": c.public_key}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _rechain(store: Store, first_id: int) -> None:
    """What an attacker with write access does: recompute every hash from ``first_id``
    on and move the head, so the chain alone looks intact."""
    with store.engine.begin() as conn:
        rows = conn.execute(select(AuditLog.__table__).order_by(AuditLog.id)).all()
        prev = "0" * 64
        for row in rows:
            if row.id >= first_id:
                body = {"id": row.id, "ts": row.ts, "actor": row.actor, "action": row.action,
                        "entity": row.entity, "entity_id": row.entity_id,
                        "payload": row.payload_json}
                text = prev + json.dumps(body, sort_keys=True, separators=(",", ":"))
                digest = hashlib.sha256(text.encode()).hexdigest()
                conn.execute(update(AuditLog).where(AuditLog.id == row.id).values(
                    prev_hash=prev, hash=digest))
                prev = digest
            else:
                prev = row.hash
        last = rows[-1].id if rows else 0
        conn.execute(update(LogHead).where(LogHead.id == 1).values(last_id=last,
                                                                   last_hash=prev))


def _truncate(store: Store, keep_up_to: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(AuditLog).where(AuditLog.id > keep_up_to))
    _rechain(store, keep_up_to + 1)


def _forge(store: Store, n: int) -> None:
    last_id, _ = store.log_head()
    with store.engine.begin() as conn:
        for i in range(1, n + 1):
            conn.execute(AuditLog.__table__.insert().values(
                id=last_id + i, ts="2026-12-04T10:00:00.000000+00:00", actor="mallory",
                action="add_user", entity="user", entity_id="99", payload_json={},
                prev_hash="0" * 64, hash=f"{last_id + i:064x}"))
    _rechain(store, last_id + 1)


def _log_verify(database: Database, capsys: pytest.CaptureFixture[str],
                *extra: str) -> tuple[int, dict[str, object]]:
    code = cli.main(["--database-url", database.url, "log", "verify", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_policy_checkpoints_every_n_entries_and_pins_the_key_once(database: Database) -> None:
    store = _open(database)
    _users(store, 12)
    checkpoints = store.list_checkpoints()
    # 5 users -> the 5th write pins the key (entry 6) and signs entry 6; then every 5.
    assert [(c.entry_id, c.reason) for c in checkpoints] == [(6, "entries"), (11, "entries")]
    pins = [e for e in store.log_entries(newest_first=False) if e.action == "pin_signing_key"]
    assert [e.id for e in pins] == [6]
    fingerprint = hashlib.sha256(_raw(SIGNING_KEY)).hexdigest()
    pinned = store.pinned_key()
    assert pinned is not None and pinned.fingerprint == fingerprint == pins[0].payload[
        "fingerprint"]
    public = SIGNING_KEY.public_key()
    for c in checkpoints:  # an independent check of every signature
        public.verify(bytes.fromhex(c.signature), _signed_text(c))
        entry = store.log_entry_at(c.entry_id)
        assert entry is not None and entry.hash == c.entry_hash
    result = store.verify_anchors()
    assert result.ok and result.status == "intact"
    assert (result.n_checkpoints, result.last_anchored_id, result.unanchored) == (2, 11, 2)


def test_minutes_policy_and_a_manual_checkpoint(database: Database) -> None:
    store = _open(database, CheckpointPolicy(every_entries=1000, every_minutes=1e-9))
    _users(store, 2)
    assert [c.reason for c in store.list_checkpoints()] == ["minutes", "minutes"]
    calm = _open(database, CheckpointPolicy(every_entries=1000, every_minutes=60))
    _users(calm, 1, "v")
    assert len(calm.list_checkpoints()) == 2  # one unanchored entry, an hour not yet gone
    manual = calm.write_checkpoint(SYSTEM)
    assert (manual.reason, manual.entry_id) == ("manual", calm.log_head()[0])


def test_a_second_key_is_refused_and_nothing_is_written(database: Database) -> None:
    store = _open(database)
    store.write_checkpoint(SYSTEM)
    intruder = _open(database, key=Ed25519PrivateKey.generate())
    before = row_counts(store)
    with pytest.raises(KeyNotPinned, match="not the deployment's pinned key"):
        intruder.write_checkpoint(SYSTEM)
    with pytest.raises(KeyNotPinned):
        _users(intruder, 5)  # the fifth write is due a checkpoint: the write is refused
    assert row_counts(store)["audit_log"] == before["audit_log"] + 4
    assert len(store.list_checkpoints()) == 1


def test_editing_an_entry_and_rechaining_is_caught_as_rewritten(
        database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    store = _open(database)
    _users(store, 7)
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == 2).values(actor="mallory"))
    _rechain(store, 2)
    assert store.verify_log().ok  # the chain alone is fooled
    result = store.verify_anchors()
    assert (result.ok, result.status) == (False, "rewritten")
    assert "entry 6 no longer has the hash checkpoint #1 signed" in result.reason
    code, out = _log_verify(database, capsys)
    assert code == 1 and out["status"] == "rewritten" and not out["ok"]


def test_deleting_the_last_anchored_entry_and_moving_the_head_is_caught_as_truncated(
        database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    store = _open(database)
    _users(store, 5)  # the checkpoint anchors entry 6, the last one
    assert store.list_checkpoints()[-1].entry_id == store.log_head()[0] == 6
    _truncate(store, 5)
    assert store.verify_log().ok
    result = store.verify_anchors()
    assert (result.status, result.ok) == ("truncated", False)
    assert "anchors entry 6 but the log now ends at entry 5" in result.reason
    code, out = _log_verify(database, capsys)
    assert code == 1 and out["status"] == "truncated"


def test_truncating_the_tail_past_a_checkpoint_is_caught(
        database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    store = _open(database)
    _users(store, 13)
    _truncate(store, 8)
    assert store.verify_log().ok
    assert store.verify_anchors().status == "truncated"
    assert _log_verify(database, capsys)[0] == 1


def test_appending_a_forged_entry_fails_under_the_default_policy(
        database: Database, capsys: pytest.CaptureFixture[str]) -> None:
    # The default anchors every write: one entry past the last checkpoint is a forgery.
    store = _open(database, CheckpointPolicy())
    _users(store, 3)
    assert store.verify_anchors().ok and store.verify_anchors().unanchored == 0
    _forge(store, 1)
    assert store.verify_log().ok  # the chain and head were fixed by the forger
    one = store.verify_anchors()
    assert (one.ok, one.status) == (False, "extended")
    assert one.reason.startswith("extended: 1 entries after the last checkpoint"), one.reason
    code, out = _log_verify(database, capsys)
    assert code == 1 and out["status"] == "extended"


def test_appending_forged_entries(database: Database,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    store = _open(database)  # a looser policy: a checkpoint every 5 entries
    _users(store, 5)
    _forge(store, 1)
    one = store.verify_anchors()
    # One entry after the last checkpoint cannot be told from a legitimate one: reported
    # as unanchored (not a failure), exactly as the documentation says.
    assert one.ok and one.unanchored == 1 and "1 entry after the last checkpoint" in one.reason
    _forge(store, 4)  # five unanchored: the store would have signed a checkpoint by now
    assert store.verify_log().ok
    many = store.verify_anchors()
    assert (many.ok, many.status) == (False, "extended")
    assert "were not written by fairpanel" in many.reason
    code, out = _log_verify(database, capsys)
    assert code == 1 and out["status"] == "extended"


def test_inserting_a_forged_entry_before_a_checkpoint_is_caught(database: Database) -> None:
    store = _open(database)
    _users(store, 7)
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id >= 3).values(id=AuditLog.id + 1000))
        conn.execute(AuditLog.__table__.insert().values(
            id=3, ts="2026-12-04T10:00:00.000000+00:00", actor="mallory", action="add_user",
            entity="user", entity_id="99", payload_json={}, prev_hash="", hash="f" * 64))
        for row in conn.execute(select(AuditLog.id).where(AuditLog.id > 1000)
                                .order_by(AuditLog.id)).all():
            conn.execute(update(AuditLog).where(AuditLog.id == row.id).values(
                id=row.id - 1000 + 1))
    _rechain(store, 3)
    assert store.verify_log().ok
    assert store.verify_anchors().status == "rewritten"


def test_checkpoints_resigned_with_another_key_are_caught(database: Database) -> None:
    store = _open(database)
    _users(store, 5)
    other = Ed25519PrivateKey.generate()
    public = _raw(other).hex()
    with store.engine.begin() as conn:
        conn.execute(update(SigningKey).values(public_key=public,
                                               fingerprint=hashlib.sha256(
                                                   bytes.fromhex(public)).hexdigest()))
        for c in store.list_checkpoints():
            forged = Checkpoint(**{**c.to_dict(), "public_key": public})
            conn.execute(update(LogCheckpoint).where(LogCheckpoint.id == c.id).values(
                public_key=public, signature=other.sign(_signed_text(forged)).hex()))
    result = store.verify_anchors()
    assert (result.ok, result.status) == (False, "key")
    assert "does not match its log entry" in result.reason


def test_a_tampered_checkpoint_signature_is_caught(database: Database) -> None:
    store = _open(database)
    _users(store, 5)
    with store.engine.begin() as conn:
        conn.execute(update(LogCheckpoint).values(entry_id=5))
    assert store.verify_anchors().status == "forged"


def test_an_exported_file_catches_what_the_database_alone_cannot(
        database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _open(database)
    _users(store, 12)
    exported = tmp_path / "checkpoints.jsonl"
    code = cli.main(["--database-url", database.url, "log", "checkpoints", "--export",
                     str(exported)])
    assert code == 0 and "2 checkpoint(s) up to log entry 11" in capsys.readouterr().out
    assert read_checkpoint_lines(exported.read_text()) == store.list_checkpoints()
    assert export_lines(store.list_checkpoints()) == exported.read_text()
    assert _log_verify(database, capsys, "--checkpoints", str(exported))[0] == 0

    # Someone who can write the database drops the last checkpoint and the tail behind
    # it: the database alone now looks consistent, the exported file does not.
    with store.engine.begin() as conn:
        conn.execute(delete(LogCheckpoint).where(LogCheckpoint.id == 2))
    _truncate(store, 8)
    assert store.verify_anchors().ok
    code, out = _log_verify(database, capsys, "--checkpoints", str(exported))
    assert code == 1 and out["status"] == "truncated" and out["checked_file"]
    assert "checkpoint #2 anchors entry 11 but the log now ends at entry 8" in str(
        out["reason"])


def test_log_key_prints_the_fingerprint(database: Database,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    store = _open(database)
    assert cli.main(["--database-url", database.url, "log", "key"]) == 0
    assert "no signing key pinned yet" in capsys.readouterr().out
    store.write_checkpoint(SYSTEM)
    assert cli.main(["--database-url", database.url, "log", "key", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fingerprint"] == hashlib.sha256(_raw(SIGNING_KEY)).hexdigest()
    assert out["public_key"] == _raw(SIGNING_KEY).hex()
