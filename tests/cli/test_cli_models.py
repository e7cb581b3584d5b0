"""``fairpanel models approve|reject``: the named person is authenticated by password.

Each refusal (wrong password, unknown user, deactivated user, a user without a password,
the system actor, the trainer and a case variant of the trainer's name, no password
source) exits 2 with the reason and leaves the candidate as it was; the right person
decides, and the log records the name as asserted, ``authenticated_by: password``,
``via: cli`` and the operating-system account. Through ``main()`` with a replaced
standard input on SQLite and PostgreSQL, and once as a real subprocess fed by a pipe.
"""

from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from db_support import FAST_HASHER, HANG_TIMEOUT_S

from audits.cli.command import main
from audits.cli.signoff import MSG_EMPTY_PASSWORD, MSG_NO_PASSWORD_SOURCE
from audits.roles import Actor, Role
from audits.store import Store

PASSWORDS = {"ada": "ada's passphrase", "casey": "casey's passphrase",
             "olga": "olga's passphrase", "wendy": "wendy's passphrase"}


def _store(url: str) -> Store:
    return Store(url, password_hasher=FAST_HASHER)


def _prepare(url: str) -> int:
    """Users, and a candidate model trained by the admin ada; return its id."""
    with _store(url) as store:
        for name, role in (("ada", Role.ADMIN), ("casey", Role.COMPLIANCE_OFFICER),
                           ("olga", Role.COMPLIANCE_OFFICER),
                           ("wendy", Role.COMPLIANCE_OFFICER)):
            store.add_user(Actor.system(), name, role, password=PASSWORDS[name])
        store.add_user(Actor.system(), "demo-compliance", Role.COMPLIANCE_OFFICER)  # no password
        store.deactivate_user(Actor.system(), "olga")
        dana = Actor("dana", Role.DATA_SCIENTIST)
        dataset = store.record_dataset(dana, name="adult", source="bundled", sha256="a" * 64,
                                       n_rows=10, roles={}, card="")
        common: dict[str, Any] = {"dataset_id": dataset.id, "kind": "logistic_regression",
                                  "path": "m.skops", "params": {}, "metrics": {},
                                  "feature_names": ["age"], "split": {}}
        root = store.record_model(dana, sha256="b" * 64, **common)
        ada = Actor("ada", Role.ADMIN)
        return store.record_model(ada, sha256="c" * 64, parent_id=root.id, **common).id


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         argv: list[str], stdin: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def candidate(database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    return database_url, _prepare(database_url)


def _state(url: str, model_id: int) -> tuple[str, int]:
    with _store(url) as store:
        model = store.get_model(model_id)
        assert model is not None
        return model.status, store.log_head()[0]


def test_every_unauthenticated_or_wrong_decider_is_refused(
        candidate: tuple[str, int], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, model = candidate
    approve = ["models", "approve", str(model), "--password-stdin", "--user"]
    reject = ["models", "reject", str(model), "--note", "no", "--password-stdin", "--user"]
    not_authenticated = "could not authenticate {!r}"
    refusals = [
        (approve + ["casey"], "wrong passphrase\n", not_authenticated.format("casey")),
        (reject + ["casey"], PASSWORDS["ada"] + "\n", not_authenticated.format("casey")),
        (approve + ["nobody"], "anything at all\n", not_authenticated.format("nobody")),
        (approve + ["olga"], PASSWORDS["olga"] + "\n", not_authenticated.format("olga")),
        (reject + ["demo-compliance"], "\n", MSG_EMPTY_PASSWORD),
        (approve + ["demo-compliance"], "guessed password\n",
         not_authenticated.format("demo-compliance")),
        (approve + ["system:cli"], PASSWORDS["ada"] + "\n",
         not_authenticated.format("system:cli")),
        # The trainer, rightly authenticated: refused by the engine as the author.
        (approve + ["ada"], PASSWORDS["ada"] + "\n",
         f"ada registered model {model} and cannot approve it"),
        # A case variant of the trainer's name is not authenticated as anyone.
        (approve + ["ADA"], PASSWORDS["ada"] + "\n", not_authenticated.format("ADA")),
        # No --password-stdin and standard input is no terminal: nothing to ask.
        (approve[:-2] + ["--user", "wendy"], PASSWORDS["wendy"] + "\n",
         MSG_NO_PASSWORD_SOURCE.format(user="wendy")),
    ]
    status_before, _ = _state(url, model)
    for argv, stdin, message in refusals:
        code, out, err = _run(capsys, monkeypatch, argv, stdin)
        assert (code, out) == (2, ""), (argv, err)
        assert message in err, (argv, err)
        assert _state(url, model)[0] == status_before == "candidate"
    with _store(url) as store:
        entries = store.log_entries()
        assert not [e for e in entries if e.entity == "model" and e.action != "record_model"]
        failed = [e for e in entries if e.action == "sign_in_failed"]
        assert len(failed) >= 6  # every failed password check is in the log
        assert all(PASSWORDS["ada"] not in str(e.payload) for e in entries)
        assert store.verify_log().ok


@pytest.mark.parametrize(("action", "status"), [("approve", "deployed"), ("reject", "rejected")])
def test_the_authenticated_person_decides_and_the_log_says_how(
        candidate: tuple[str, int], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, action: str, status: str) -> None:
    url, model = candidate
    argv = ["models", action, str(model), "--user", "casey", "--password-stdin",
            "--note", "read the comparison"]
    code, out, err = _run(capsys, monkeypatch, argv, PASSWORDS["casey"] + "\n")
    assert code == 0, err
    assert out == f"model #{model} is now {status} (decided by casey)\n"
    with _store(url) as store:
        decided, sign_in = store.log_entries(limit=2)
        assert (decided.action, decided.actor, decided.entity_id) == (
            f"{action}_model", "casey", str(model))
        assert decided.payload["authentication"] == {
            "authenticated_by": "password", "via": "cli", "asserted_user": "casey",
            "os_user": getpass.getuser()}
        # The password check itself is the entry just before, by the same person.
        assert (sign_in.action, sign_in.actor) == ("sign_in", "casey")
        record = store.get_model(model)
        assert record is not None and (record.status, record.decided_by) == (status, "casey")


def test_at_a_terminal_the_password_is_prompted_for(
        candidate: tuple[str, int], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, model = candidate
    prompts: list[str] = []

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def typed(prompt: str = "") -> str:  # what getpass would read from the terminal
        prompts.append(prompt)
        return PASSWORDS["casey"]

    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr(getpass, "getpass", typed)
    assert main(["models", "approve", str(model), "--user", "casey"]) == 0
    assert prompts == ["password for casey: "]
    assert "is now deployed (decided by casey)" in capsys.readouterr().out
    assert _state(url, model)[0] == "deployed"


def test_a_piped_password_in_a_real_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fairpanel.db'}"
    model = _prepare(url)
    # The session's FAIRPANEL_HOME: the process signs its checkpoint with the key that
    # pinned this store (a deployment's processes share one key).
    env = {**os.environ, "FAIRPANEL_DATABASE_URL": url}
    command = [sys.executable, "-m", "audits.cli", "models", "approve", str(model),
               "--user", "casey"]
    piped = subprocess.run(command, input=PASSWORDS["casey"] + "\n", env=env,
                           capture_output=True, text=True, timeout=HANG_TIMEOUT_S, check=False)
    assert piped.returncode == 2
    assert MSG_NO_PASSWORD_SOURCE.format(user="casey") in piped.stderr
    done = subprocess.run([*command, "--password-stdin"], input=PASSWORDS["casey"] + "\n",
                          env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"model #{model} is now deployed (decided by casey)\n"
    assert _state(url, model)[0] == "deployed"
