"""``fairpanel retention show|set|schedule|apply|check``: the JSON contracts, the exit codes
(``check`` exits 1 on a broken rule, like ``log verify``), and refusals that write nothing.
Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from db_support import FAST_HASHER
from own_system_support import fairpanel, fairpanel_json, fairpanel_refused

from audits.cli.retention import MSG_BAD_DATE
from audits.roles import Actor, Role
from audits.store import Store, SystemInput, VersionInput

SHA_DATA, SHA_SENSITIVE = "a" * 64, "c" * 64
#: The keys of each JSON object the commands print (the documented contract).
POLICY_KEYS = {"log_months", "oversight_months", "minimum_months", "updated_by", "updated_at"}
CHECK_KEYS = {"ok", "checked_at", "policy", "rules", "violations"}
VIOLATION_KEYS = {"rule", "subject", "detail", "since"}
SHOW_KEYS = {"policy", "schedules", "purges", "check"}
SCHEDULE_KEYS = {"system", "delete_at", "reason", "set_by", "set_at", "purged", "purged_at",
                 "due"}
PURGE_KEYS = {"log_entry_id", "purged_at", "purged_by", "system", "versions", "sha256s",
              "reason", "scheduled", "delete_at"}
RULES = ["sensitive_overdue", "sensitive_unscheduled", "log_broken", "oversight_missing",
         "policy_below_minimum"]


@pytest.fixture
def store_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store holding system ``credit`` with sensitive data kept apart."""
    home = tmp_path / "home"
    monkeypatch.setenv("FAIRPANEL_HOME", str(home))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", database_url)
    (home / "sensitive").mkdir(parents=True)
    (home / "sensitive" / f"{SHA_SENSITIVE}.parquet").write_bytes(b"sex")
    sensitive = {"path": f"sensitive/{SHA_SENSITIVE}.parquet", "sha256": SHA_SENSITIVE,
                 "columns": ["sex"], "join": "id"}
    with Store(database_url) as store:
        store.register_system_version(
            Actor("dana", Role.DATA_SCIENTIST), SystemInput("credit"),
            VersionInput(source="s.csv", sha256=SHA_DATA, n_rows=1, roles={}, card="",
                         card_data={}, data_path=f"data/{SHA_DATA}.parquet",
                         sensitive=sensitive))
    return database_url


def _n_log(url: str) -> int:
    with Store(url) as store:
        return len(store.log_entries())


def _check(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code, out, err = fairpanel(capsys, "retention", "check", "--json")
    assert code in (0, 1), err
    result = json.loads(out)
    assert isinstance(result, dict)
    return code, result


def test_check_exits_1_on_unscheduled_sensitive_data_and_show_has_every_key(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, check = _check(capsys)
    assert code == 1 and set(check) == CHECK_KEYS and check["ok"] is False
    assert check["rules"] == RULES and set(check["policy"]) == POLICY_KEYS
    assert check["policy"] == {"log_months": 6, "oversight_months": 6, "minimum_months": 6,
                               "updated_by": None, "updated_at": None}
    (violation,) = check["violations"]
    assert set(violation) == VIOLATION_KEYS
    assert (violation["rule"], violation["subject"]) == ("sensitive_unscheduled", "credit")
    show = fairpanel_json(capsys, "retention", "show", "--json")
    assert set(show) == SHOW_KEYS and show["schedules"] == [] and show["purges"] == []
    assert set(show["check"]) == CHECK_KEYS and show["check"]["ok"] is False
    code, out, _ = fairpanel(capsys, "retention", "check")
    assert code == 1 and "[sensitive_unscheduled] credit:" in out
    code, out, _ = fairpanel(capsys, "retention", "show")
    assert code == 0 and out.startswith("retention policy: logs 6 months")


def test_a_schedule_that_has_come_is_applied_once_and_the_check_passes(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fairpanel(capsys, "retention", "schedule", "credit", "--delete-on",
                               "2020-01-01", "--reason", "audit of 2019 closed")
    assert code == 0, err
    assert "'credit' to be deleted on 2020-01-01" in out
    code, check = _check(capsys)
    assert code == 1 and [v["rule"] for v in check["violations"]] == ["sensitive_overdue"]
    code, out, err = fairpanel(capsys, "retention", "apply")
    assert code == 0 and "purged the sensitive data of system 'credit' (version(s) 1)" in out
    n = _n_log(store_url)
    code, out, _ = fairpanel(capsys, "retention", "apply")
    assert code == 0 and out.startswith("nothing due") and _n_log(store_url) == n
    code, check = _check(capsys)
    assert (code, check["ok"], check["violations"]) == (0, True, [])
    show = fairpanel_json(capsys, "retention", "show", "--json")
    (schedule,) = show["schedules"]
    assert set(schedule) == SCHEDULE_KEYS
    assert (schedule["system"], schedule["delete_at"], schedule["reason"], schedule["set_by"],
            schedule["purged"], schedule["due"]) == (
        "credit", "2020-01-01T00:00:00+00:00", "audit of 2019 closed", "system:cli", True,
        False)
    (purge,) = show["purges"]
    assert set(purge) == PURGE_KEYS
    assert (purge["system"], purge["versions"], purge["sha256s"], purge["scheduled"],
            purge["delete_at"], purge["purged_by"]) == (
        "credit", [1], [SHA_SENSITIVE], True, "2020-01-01T00:00:00+00:00", "system:cli")
    assert purge["reason"].startswith("retention schedule: deletion due 2020-01-01")


def test_set_changes_the_policy_and_bad_input_or_role_writes_nothing(
        store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = fairpanel(capsys, "retention", "set", "--log-months", "12",
                               "--oversight-months", "9")
    assert code == 0 and "logs 12 months, oversight records 9 months" in out, err
    with Store(store_url, password_hasher=FAST_HASHER) as store:
        store.add_user(Actor.system(), "rita", Role.REVIEWER, password="reviewer-password-1")
    n = _n_log(store_url)
    refusals = [
        (("set", "--log-months", "5", "--oversight-months", "9"), "log_months must be at "
         "least 6 months: the EU AI Act requires logs to be kept at least six months"),
        (("set", "--log-months", "six", "--oversight-months", "9"), "invalid int value"),
        (("set", "--log-months", "12"), "--oversight-months"),
        (("schedule", "credit", "--delete-on", "2030-13-01", "--reason", "r"),
         MSG_BAD_DATE.format(value="2030-13-01")),
        (("schedule", "credit", "--delete-on", "01/02/2030", "--reason", "r"),
         MSG_BAD_DATE.format(value="01/02/2030")),
        (("schedule", "credit", "--delete-on", "2030-01-01", "--reason", " "),
         "reason must not be empty"),
        (("schedule", "nope", "--delete-on", "2030-01-01", "--reason", "r"),
         "no system named 'nope'"),
        (("schedule", "credit", "--delete-on", "2030-01-01"), "--reason"),
    ]
    for argv, message in refusals:
        code, err = fairpanel_refused(capsys, "retention", *argv)
        assert code == 2 and message in err, (argv, err)
    code, _, err = fairpanel(capsys, "retention", "set", "--log-months", "24",
                             "--oversight-months", "24", "--user", "rita",
                             "--password-stdin", stdin="reviewer-password-1\n")
    assert code == 2 and "may not set retention" in err
    with Store(store_url) as store:  # only rita's sign-in was written
        assert [e.action for e in store.log_entries(limit=2)] == ["sign_in", "add_user"]
        assert len(store.log_entries()) == n + 1
    show = fairpanel_json(capsys, "retention", "show", "--json")
    assert (show["policy"]["log_months"], show["policy"]["oversight_months"]) == (12, 9)
    code, out, _ = fairpanel(capsys, "retention")
    assert code == 2 and "retention commands" in out
