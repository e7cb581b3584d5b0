"""``fairpanel live set|show``: a system's live policy and webhook from the command line;
the signing secret printed once, every bad value named (exit 2, nothing written).

Runs on SQLite and PostgreSQL (the ``database_url`` fixture), in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from own_system_support import (
    fairpanel,
    fairpanel_json,
    fairpanel_refused,
    store_with_a_system,
)

from audits.store import Store


@pytest.fixture
def store_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store holding one system, ``credit``."""
    return store_with_a_system(database_url, tmp_path / "home", monkeypatch)


def test_set_then_show_keeps_what_was_not_given(store_url: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    shown = fairpanel_json(capsys, "live", "show", "credit", "--json")
    assert shown["stored"] is False and shown["policy"]["random_rate"] == 0.02
    made = fairpanel_json(capsys, "live", "set", "credit", "--random-rate", "0.1",
                          "--sla-hours", "2", "--fallback", "negative", "--webhook",
                          "http://127.0.0.1:9100/hook", "--json", "-")
    assert made["secret"] and made["policy"]["random_rate"] == 0.1
    assert made["policy"]["fallback"] == "negative" and made["notify"] == "held"
    again = fairpanel_json(capsys, "live", "set", "credit", "--when-spent", "hold",
                           "--json", "-")
    assert again["secret"] is None  # same URL: the secret stays, never shown again
    assert (again["policy"]["random_rate"], again["policy"]["sla_hours"],
            again["policy"]["when_spent"]) == (0.1, 2.0, "hold")
    assert again["webhook_url"] == "http://127.0.0.1:9100/hook"
    shown = fairpanel_json(capsys, "live", "show", "credit", "--json")
    assert shown["stored"] is True and "secret" not in shown
    code, out, _ = fairpanel(capsys, "live", "set", "credit", "--no-webhook")
    assert code == 0 and "webhook: none" in out
    with Store(store_url) as store:
        entries = [e for e in store.log_entries() if e.action == "set_live_settings"]
        assert len(entries) == 3 and made["secret"] not in str([e.payload for e in entries])


@pytest.mark.parametrize(("argv", "message"), [
    (["live", "set", "credit", "--random-rate", "1.5"], "random_rate must lie in [0, 1]"),
    (["live", "set", "credit", "--sla-hours", "0"], "sla_hours must be a finite number > 0"),
    (["live", "set", "credit", "--webhook", "ftp://x.example/h"],
     "webhook_url must be an http(s) URL with a host"),
    (["live", "set", "loans"], "no system named 'loans'"),
    (["live", "set", "credit", "--fallback", "maybe"], "invalid choice: 'maybe'"),
])
def test_bad_values_exit_2_naming_them_and_write_nothing(
        store_url: str, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    with Store(store_url) as store:
        before = store.log_head()
    code, err = fairpanel_refused(capsys, *argv)
    assert code == 2 and message in err, err
    with Store(store_url) as store:
        assert store.log_head() == before
