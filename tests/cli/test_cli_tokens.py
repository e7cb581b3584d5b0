"""``fairpanel tokens create|list|revoke``: the JSON contract ``{"id", "token"}``, the token
shown once and stored as a hash, revocation at once, and what bad input gets (exit 2 with
the message naming what is wrong, nothing written).

Runs on SQLite and PostgreSQL (the ``database_url`` fixture), in-process.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from own_system_support import (
    add_user,
    fairpanel,
    fairpanel_json,
    fairpanel_refused,
    store_with_a_system,
)

from audits.roles import Actor
from audits.store import Store
from audits.store.api_tokens import TOKEN_PREFIX, TokenRefused

PASSWORD = "correct horse battery"


@pytest.fixture
def store_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store holding one system, ``credit``."""
    return store_with_a_system(database_url, tmp_path / "home", monkeypatch)


def test_create_prints_the_contract_once_and_the_store_keeps_the_hash(
        store_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    made = fairpanel_json(capsys, "tokens", "create", "--system", "credit", "--scope",
                          "decide", "--label", "loan service", "--json", "-")
    assert set(made) == {"id", "token"} and made["token"].startswith(TOKEN_PREFIX)
    with Store(store_url) as store:
        record = store.check_token(made["token"], "credit", "decide")
        assert record.id == made["id"] and record.created_by == "system:cli"
        with store.engine.connect() as conn:
            hashes = [r[0] for r in conn.exec_driver_sql("SELECT token_sha256 FROM api_tokens")]
    assert hashes == [hashlib.sha256(made["token"].encode()).hexdigest()]
    # --json PATH writes the contract there and prints the token with a warning.
    code, out, err = fairpanel(capsys, "tokens", "create", "--system", "credit", "--scope",
                               "read", "--json", str(tmp_path / "t.json"))
    written = json.loads((tmp_path / "t.json").read_text())
    assert code == 0 and set(written) == {"id", "token"} and written["token"] in out
    assert "shown once" in out
    listed = fairpanel_json(capsys, "tokens", "list", "--json")
    assert [(t["id"], t["scope"], t["revoked_at"]) for t in listed] == [
        (made["id"], "decide", None), (written["id"], "read", None)]
    assert made["token"] not in json.dumps(listed) and written["token"] not in json.dumps(listed)
    code, out, _ = fairpanel(capsys, "tokens", "list")
    assert code == 0 and "loan service" in out and made["token"] not in out


def test_revoke_stops_the_token_at_once(store_url: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    made = fairpanel_json(capsys, "tokens", "create", "--system", "credit", "--scope",
                          "decide", "--json", "-")
    code, out, err = fairpanel(capsys, "tokens", "revoke", str(made["id"]))
    assert code == 0, err
    assert f"token #{made['id']} (credit, decide) revoked" in out
    with Store(store_url) as store, pytest.raises(TokenRefused):
        store.check_token(made["token"], "credit", "decide")
    listed = fairpanel_json(capsys, "tokens", "list", "--system", "credit", "--json")
    assert listed[0]["revoked_at"] is not None


def test_an_authenticated_admin_may_create_and_others_may_not(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    add_user(capsys, "ada", "admin", PASSWORD)
    add_user(capsys, "dana", "data_scientist", PASSWORD)
    made = fairpanel_json(capsys, "tokens", "create", "--system", "credit", "--scope", "read",
                          "--json", "-", "--user", "ada", "--password-stdin",
                          stdin=PASSWORD + "\n")
    with Store(store_url) as store:
        assert store.check_token(made["token"], "credit", "read").created_by == "ada"
        n_tokens = len(store.list_tokens(Actor.system()))
    code, _, err = fairpanel(capsys, "tokens", "create", "--system", "credit", "--scope",
                             "read", "--user", "dana", "--password-stdin",
                             stdin=PASSWORD + "\n")
    assert code == 2 and "may not manage users" in err
    with Store(store_url) as store:
        assert len(store.list_tokens(Actor.system())) == n_tokens


@pytest.mark.parametrize(("argv", "message"), [
    (["tokens", "create", "--system", "loans", "--scope", "read"],
     "no system named 'loans'; known systems: credit"),
    (["tokens", "create", "--system", "credit", "--scope", "write"], "invalid choice: 'write'"),
    (["tokens", "create", "--scope", "read"], "the following arguments are required: --system"),
    (["tokens", "revoke", "42"], "no API token with id 42"),
    (["tokens", "revoke", "x"], "invalid int value: 'x'"),
    (["tokens", "list", "--system", "loans"], "no system named 'loans'"),
])
def test_bad_input_exits_2_naming_it_and_writes_nothing(
        store_url: str, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    with Store(store_url) as store:
        before = store.log_head()
    code, err = fairpanel_refused(capsys, *argv)
    assert code == 2 and message in err, err
    with Store(store_url) as store:
        assert store.log_head() == before
