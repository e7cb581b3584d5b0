"""The Conversations page on the demo with its conversation system (helpdesk-chat).

The page runs in-process with ``streamlit.testing.v1.AppTest`` on a private copy of the
demo store with :func:`audits.demo.conversations.ensure_conversation_demo` added. For
every role that may open it: the bot's rates with the planted escalation gap failing
(by language), the judge's scores, the judge against the panel (agreement, the
alternative annotator test, the offsets, automation bias), and the knowledge gaps with
the JSONL downloads only for those who may read every rating. Oracle: the tables hold
what :func:`audits.conversations.conversation_findings` computes.
"""

from __future__ import annotations

from collections.abc import Iterator

import app_support
import pytest
from demo_support import DemoCopy, DemoTemplates

from app import conversation_tables
from app.navigation import pages_for
from audits.conversations.findings import conversation_findings
from audits.conversations.simulated import simulate_conversations, write_jsonl
from audits.demo.conversations import SYSTEM, ensure_conversation_demo
from audits.roles import PERMISSIONS, Actor, Role
from audits.store import Store

PAGE = "app_pages/conversations.py"
NEW_SYSTEM = "app_pages/new_system.py"
#: The New system page's message (pages are not imported: importing one draws it).
MSG_CHAT_NEEDS = "Give the system's name and a conversation log (uploaded or on the server)."
ROLES = [r for r in Role if PAGE in {p.path for p in pages_for(r)}]


@pytest.fixture(scope="module")
def copy(demo_templates: DemoTemplates,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    with app_support.full_demo_copy(demo_templates, tmp_path_factory, "chat") as made:
        with Store(made.url) as store:
            ensure_conversation_demo(store)
        yield made


@pytest.fixture
def app_env(copy: DemoCopy, monkeypatch: pytest.MonkeyPatch) -> DemoCopy:
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    return copy


def test_the_roles_that_read_panel_aggregates_see_the_page() -> None:
    assert set(ROLES) == set(PERMISSIONS["read panel aggregates"])


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_the_page_shows_the_findings(app_env: DemoCopy, role: Role) -> None:
    at = app_support.open_page(PAGE, "Conversations", role)
    assert at.selectbox(key="conversations.system").value == SYSTEM
    at.selectbox(key="conversations.by").set_value("language").run()
    assert not at.exception, at.exception
    failing = [e.value for e in at.error]
    assert len(failing) == 1 and "- Escalated to a person: es users 43.8%" in failing[0]
    marks = {"rates": "Rate [95% CI]", "scores": "Mean [95% CI]",
             "agreement": "Alpha [95% CI]", "alt_test": "Winning rate (omega)",
             "bias": "Judge minus panel [95% CI]",
             "automation": "Agreement, judge shown vs hidden", "gaps": "Need correcting"}
    frames = {name: d.value for d in at.dataframe for name, column in marks.items()
              if column in d.value.columns}
    assert set(marks) - {"gaps"} <= set(frames)
    with Store(app_env.url) as store:
        oracle = conversation_findings(store, Actor("x", role), SYSTEM, by="language")
    expected = conversation_tables.rates_table(oracle.rates, "language", oracle.groups)
    assert frames["rates"].reset_index(drop=True).equals(
        expected.reset_index(drop=True))
    assert frames["bias"].equals(conversation_tables.bias_table(oracle.judges))
    downloads = list(at.get("download_button"))
    reads_all = role in PERMISSIONS["read every rating"]
    assert ("gaps" in frames) is reads_all
    assert len(downloads) == (2 if reads_all else 0)


def test_a_log_is_registered_and_queued_from_the_pages(
        app_env: DemoCopy, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("chat-log")
    log = write_jsonl(simulate_conversations(300, seed=8).records, folder / "week.jsonl")
    at = app_support.open_page(NEW_SYSTEM, "New system", Role.DATA_SCIENTIST)
    at.text_input(key="new_system.chat.name").set_value("support-bot")
    at.text_input(key="new_system.chat.path").set_value(str(log))
    at.button(key="new_system.chat.submit").click().run()
    assert not at.exception, at.exception
    assert any("Conversation system `support-bot` version 1: 300 conversations" in s.value
               or "Conversation system support-bot version 1: 300 conversations" in s.value
               for s in at.success), [s.value for s in at.success]
    # Bad input: the same batch again, no log, a broken log; each says why, stores nothing.
    at.button(key="new_system.chat.submit").click().run()
    assert any("nothing to add" in e.value for e in at.error)
    at.text_input(key="new_system.chat.path").set_value("")
    at.button(key="new_system.chat.submit").click().run()
    assert [e.value for e in at.error] == [MSG_CHAT_NEEDS]
    broken = folder / "broken.jsonl"
    broken.write_text('{"conversation_id": "x", "turns": "hello"}\n', encoding="utf-8")
    at.text_input(key="new_system.chat.name").set_value("other-bot")
    at.text_input(key="new_system.chat.path").set_value(str(broken))
    at.button(key="new_system.chat.submit").click().run()
    assert any("line 1: turns must be a non-empty list" in e.value for e in at.error)
    with Store(app_env.url) as store:
        assert "other-bot" not in {s.name for s in store.list_systems()}

    page = app_support.open_page(PAGE, "Conversations", Role.DATA_SCIENTIST)
    page.selectbox(key="conversations.system").set_value("support-bot").run()
    page.number_input(key="conversations.queue.budget").set_value(30)
    page.button(key="conversations.queue.submit").click().run()
    assert not page.exception, page.exception
    assert any(s.value.startswith("Queued 30 conversations") for s in page.success)
    lead = app_support.open_page(PAGE, "Conversations", Role.COMPLIANCE_OFFICER)
    lead.selectbox(key="conversations.system").set_value("support-bot").run()
    assert "conversations.queue.submit" not in [b.key for b in lead.button]
