"""Sign-in and exposure of the dashboard: no demo door on a real store or off loopback, a
lockout after repeated wrong passwords, every sign-in logged, and data shown as text.

The pages run in-process (``AppTest``) on stores of the tests' own; the demo store is a
copy of the session's prepared demo.
"""

from __future__ import annotations

import re
from pathlib import Path

import app_support
import pytest
from app_support import demo_copy
from demo_support import DemoTemplates
from streamlit import config
from streamlit.testing.v1 import AppTest

from app import loaders
from app.auth import MSG_DEMO_HOST
from audits.demo.default import DEMO_PERSONAS
from audits.roles import Actor, Role
from audits.store import CaseInput, Store

PASSWORD = "correct horse battery"
#: A group value and a note an attacker could put in the data: an image that would be
#: fetched from their host when rendered, a link, an icon and an address.
IMAGE = "![x](http://203.0.113.9/pixel.png)"
HOSTILE = f"{IMAGE} [click](http://203.0.113.9/a) :material/home: ops@203.0.113.9.example"


@pytest.fixture
def admin_store(real_store: Store) -> Store:
    """The fresh store holding one local admin ``ada``."""
    real_store.add_user(Actor.system(), "ada", Role.ADMIN, password=PASSWORD)
    return real_store


def test_a_process_without_the_pinned_key_is_refused_before_any_write(
        admin_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = admin_store.pinned_key()
    assert pinned is not None  # the first write pinned the key of FAIRPANEL_HOME
    before = (admin_store.log_head(), len(admin_store.list_checkpoints()))
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "another_home"))  # another key
    at = app_support.new_app()
    at.run()
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in at.error)
    assert "cannot write to the store" in shown and pinned.fingerprint in shown
    assert not [b for b in at.button if str(b.key).startswith("sign_in.")]  # no sign-in form
    assert (admin_store.log_head(), len(admin_store.list_checkpoints())) == before


def opened() -> AppTest:
    at = app_support.new_app()
    at.run()
    assert not at.exception, at.exception
    return at


def persona_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if str(b.key).startswith("sign_in.persona.")]


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="sign_in.username").input(username)
    at.text_input(key="sign_in.password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_serve_on_a_store_with_a_local_user_offers_no_persona(admin_store: Store) -> None:
    n_log = len(admin_store.log_entries())
    at = opened()  # the default mode: local accounts
    assert persona_buttons(at) == []
    assert not any("DEMO" in w.value for w in at.warning)
    assert at.text_input(key="sign_in.password").label == "Password"
    assert [u.username for u in admin_store.list_users()] == ["ada"]  # nothing written
    assert len(admin_store.log_entries()) == n_log


def test_demo_asked_for_on_a_store_with_a_local_user_is_refused(
        admin_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_AUTH", "demo")
    n_log = len(admin_store.log_entries())
    at = opened()
    assert persona_buttons(at) == []
    assert at.error and "Demo mode is refused on this store" in at.error[0].value
    assert [u.username for u in admin_store.list_users()] == ["ada"]  # no persona written
    assert len(admin_store.log_entries()) == n_log
    assert admin_store.list_audit_runs() == []  # and no demo prepared


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.1.2.3", None])
def test_demo_off_loopback_is_refused_by_the_app_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str | None) -> None:
    # As `streamlit run` started directly with FAIRPANEL_AUTH=demo, bypassing the CLI.
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", url)
    monkeypatch.setenv("FAIRPANEL_AUTH", "demo")
    before = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        at = opened()
    finally:
        config.set_option("server.address", before)
        loaders.close_stores()
    assert persona_buttons(at) == []
    host = address or "every interface"
    assert at.error and at.error[0].value == MSG_DEMO_HOST.format(host=host,
                                                                  env="FAIRPANEL_AUTH")
    with Store(url) as store:
        assert store.list_users() == [] and store.list_audit_runs() == []


def test_the_sign_in_form_locks_after_five_wrong_passwords(admin_store: Store) -> None:
    at = opened()
    for _ in range(5):
        sign_in(at, "ada", "not the password")
        assert at.error and "too many wrong passwords" in at.error[0].value
    sign_in(at, "ada", PASSWORD)  # the right one, during the lock
    assert [t.value for t in at.title] == ["fairpanel"]  # still on the sign-in page
    reasons = [e.payload.get("reason") for e in admin_store.log_entries()
               if e.action == "sign_in_failed"]
    assert reasons == ["locked"] + ["wrong_password"] * 5  # newest first
    assert admin_store.get_user("ada").locked_until is not None  # type: ignore[union-attr]
    text = str([(e.actor, e.payload) for e in admin_store.log_entries()])
    assert "not the password" not in text and PASSWORD not in text


def test_local_sign_in_is_logged(admin_store: Store) -> None:
    at = sign_in(opened(), "ada", PASSWORD)
    assert [t.value for t in at.title] == ["Findings"]
    entry = admin_store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.payload["method"]) == ("sign_in", "ada",
                                                                    "password")


def test_demo_persona_sign_ins_are_logged(demo_templates: DemoTemplates,
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    with demo_copy(demo_templates, tmp_path_factory, "fairpanel-demo-sign-in") as copy:
        at = opened()
        persona = next(p for p in DEMO_PERSONAS if p.role is Role.COMPLIANCE_OFFICER)
        at.button(key=f"sign_in.persona.{persona.username}").click().run()
        assert not at.exception, at.exception
        with Store(copy.url) as store:
            entry = store.log_entries(limit=1)[0]
            assert all(u.demo for u in store.list_users())
    assert (entry.action, entry.actor, entry.payload) == (
        "sign_in", persona.username, {"username": persona.username, "method": "demo"})


def test_markdown_in_the_data_is_shown_as_text(admin_store: Store) -> None:
    run_id = _queue_with_hostile_values(admin_store)
    at = sign_in(opened(), "ada", PASSWORD)
    at.switch_page("app_pages/review_queue.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="review_queue.run_id").set_value(run_id).run()
    assert not at.exception, at.exception
    shown = _markdown_sources(at)
    # The hostile values are on the page, each inside a code span: shown, not rendered.
    assert f"**Subject group**  \n`{HOSTILE}`" in shown
    assert any(f"`{HOSTILE}`" in s and "Queued" in s for s in shown)
    for source in shown:
        outside = re.sub(r"(`+)(?:(?!\1).)*?\1", "", source, flags=re.S)  # code spans out
        assert "](http" not in outside and ":material/home:" not in outside, source
        assert "203.0.113.9" not in outside, source


def _queue_with_hostile_values(store: Store) -> int:
    scientist = Actor("dana", Role.DATA_SCIENTIST)
    store.add_user(Actor.system(), "dana", Role.DATA_SCIENTIST)
    dataset = store.record_dataset(scientist, name="loans", source=HOSTILE, sha256="a" * 64,
                                   n_rows=1, roles={"target": "y"}, card=f"# {IMAGE}")
    run = store.create_audit_run(scientist, dataset_id=dataset.id, model_id=None,
                                 config={"kind": "fairness", "decisions": HOSTILE})
    store.finish_audit_run(scientist, run.id, results={"rows": 1})
    snapshot = {"features": {"group": HOSTILE}, "decision": {"value": 1, "label": HOSTILE},
                "score": 0.5, "threshold": 0.5, "provenance": {"decisions": HOSTILE},
                "explanation": {"available": False, "note": HOSTILE}}
    case = CaseInput(row_key="0", subject_group=HOSTILE, primary_reason="random",
                     reasons=[{"reason": "random", "score": 0.1, "explanation": HOSTILE}],
                     priority=0.1, rank=1, snapshot=snapshot)
    store.record_queue(scientist, run.id, policy={"budget": 1, "gold_source": HOSTILE},
                       cases=[case])
    return run.id


def _markdown_sources(at: AppTest) -> list[str]:
    """Every Markdown source on the page: text elements, alerts and widget labels."""
    out: list[str] = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "success",
                 "warning", "error", "expander"):
        out += [str(getattr(e, "value", None) or getattr(e, "label", "")) for e in at.get(kind)]
    for kind in ("selectbox", "radio", "button", "checkbox", "toggle", "text_input",
                 "multiselect", "metric"):
        out += [str(e.label) for e in at.get(kind)]
    return out
