"""Every page for every role that may open it, sign-in in each mode, and the Users form.

The dashboard runs in-process with ``streamlit.testing.v1.AppTest`` against a demo store
prepared once per session (german_credit, in a temporary ``FAIRPANEL_HOME``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import app_support
import pytest
from app_support import demo_copy
from demo_support import DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from app import loaders, state
from app.navigation import PAGES, PageSpec, pages_for
from audits.demo.default import DEMO_PERSONAS, DemoState
from audits.demo.panel import full_demo_prepared
from audits.roles import PERMISSIONS, Actor, PermissionDenied, Role
from audits.store import Store

PERSONAS = {p.role: p for p in DEMO_PERSONAS}
ROLE_PAGES = [(role, spec) for role in Role for spec in pages_for(role)]


@dataclass(frozen=True)
class DemoEnv:
    """The environment of a prepared demo store."""

    env: dict[str, str]
    url: str
    demo: DemoState


@pytest.fixture(scope="module")
def demo_env(demo_templates: DemoTemplates,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnv]:
    """A private copy of the session's german_credit demo (queue, monitoring and panel)."""
    with demo_copy(demo_templates, tmp_path_factory, "fairpanel-home") as copy:
        yield DemoEnv(env=copy.env, url=copy.url, demo=copy.demo.state)


@pytest.fixture
def app_env(demo_env: DemoEnv, monkeypatch: pytest.MonkeyPatch) -> DemoEnv:
    """Point the dashboard at the prepared demo store for one test."""
    for key, value in demo_env.env.items():
        monkeypatch.setenv(key, value)
    return demo_env


@pytest.fixture
def store(app_env: DemoEnv) -> Iterator[Store]:
    """A store of the test's own on the prepared demo database."""
    with Store(app_env.url) as opened:
        yield opened


def new_app() -> AppTest:
    """Return the dashboard, run once (the sign-in page)."""
    at = app_support.new_app()
    at.run()
    assert not at.exception, at.exception
    return at


def sign_in_as(role: Role) -> AppTest:
    """Return the dashboard after clicking the demo persona of ``role``."""
    at = new_app()
    at.button(key=f"sign_in.persona.{PERSONAS[role].username}").click().run()
    assert not at.exception, at.exception
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# -- page-specific content --------------------------------------------------------------


def check_overview(at: AppTest, env: DemoEnv) -> None:
    demo = env.demo
    assert demo.model is not None
    codes = [c.value for c in at.code]
    assert demo.dataset.sha256 in codes
    assert demo.model.sha256 in codes
    shown = metrics(at)
    assert shown["Rows"] == "1,000"
    assert shown["Held-out rows"] == f"{demo.model.split['n_test']:,}"
    assert shown["Training rows"] == f"{demo.model.split['n_train']:,}"
    assert shown["Run"] == f"#{demo.audit_run.id}"
    assert shown["Status"] == "completed"
    assert shown["Decisions audited"] == f"{demo.model.split['n_test']:,}"
    assert shown["Accuracy"] == f"{demo.model.metrics['accuracy']:.3f}"
    assert shown["ROC AUC"] == f"{demo.model.metrics['roc_auc']:.3f}"
    assert {"Dataset", "Model", "Latest audit run"} <= {h.value for h in at.header}
    assert [s.value for s in at.subheader][0] == "German credit (UCI Statlog)"
    roles = at.table[0].value
    assert "sex, age_group, foreign_worker" in roles["columns"].tolist()
    assert len(at.get("plotly_chart")) == 2


def check_audit_runs(at: AppTest, env: DemoEnv) -> None:
    table = at.dataframe[0].value
    assert env.demo.audit_run.id in table["id"].tolist()
    assert table.loc[table["id"] == env.demo.audit_run.id, "status"].item() == "completed"
    assert at.selectbox(key="audit_runs.selected").value == table["id"].max()
    assert at.json, "config and results are shown as JSON"


def check_audit_log(at: AppTest, env: DemoEnv) -> None:
    table = at.dataframe[0].value
    assert len(table) > 0
    assert {"id", "ts", "actor", "action", "entity", "entity_id", "hash"} <= set(table.columns)
    with Store(env.url) as store:
        newest = store.log_head()[0]
    assert table["id"].max() == newest  # newest first
    # The simulated panel's ratings are older than the page tests' sign-ins: the action
    # filter finds them.
    at.selectbox(key="audit_log.filter.action").set_value("rating_created").run()
    assert not at.exception, at.exception
    assert set(at.dataframe[0].value["action"]) == {"rating_created"}
    at.button(key="audit_log.verify").click().run()
    assert not at.exception
    assert at.success and "Chain intact" in at.success[0].value


def check_users(at: AppTest, env: DemoEnv) -> None:
    table = at.dataframe[0].value
    assert {p.username for p in DEMO_PERSONAS} <= set(table["username"])


def check_account(at: AppTest, env: DemoEnv) -> None:
    user = at.session_state[state.KEY_USER]
    identity = dict(at.table[0].value.itertuples(index=False, name=None))
    assert identity["Role"] == Role(user["role"]).label
    assert identity["Username"] == user["username"]


def check_findings(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (each role's sections, fresh after writes): test_findings_page.py.
    role = Role(at.session_state[state.KEY_USER]["role"])
    expected = {Role.DATA_SCIENTIST: ["Latest audit: worst disparities"],
                Role.COMPLIANCE_OFFICER: ["Verdicts that fail", "Reports"],
                Role.PANEL_LEAD: ["Reviews"],
                Role.ADMIN: ["Latest audit: worst disparities", "Reviews", "Reports"]}
    assert [h.value for h in at.header] == expected[role]
    assert len(at.get("plotly_chart")) == 0


def check_live(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (a live stream, by role): tests/app/test_live_page.py.
    assert at.info and "No system has sent live decisions yet" in at.info[0].value


def check_fairness(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (an audit run, stored runs per role): tests/app/test_fairness_page.py.
    role = Role(at.session_state[state.KEY_USER]["role"])
    can_run = role in PERMISSIONS["run an audit"]
    assert ("fairness.form.run" in [b.key for b in at.button]) is can_run
    if can_run:
        assert env.demo.model is not None
        assert at.selectbox(key="fairness.data").value == (env.demo.dataset.id,
                                                           env.demo.model.id)
    else:
        assert any("only data scientists" in i.value.lower() for i in at.info)


def check_explanations(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (computing, stored runs per role): tests/app/test_explanations_page.py.
    role = Role(at.session_state[state.KEY_USER]["role"])
    can_run = role in PERMISSIONS["run an audit"]
    assert ("explanations.compute" in [b.key for b in at.button]) is can_run
    if can_run:
        assert env.demo.model is not None
        assert at.selectbox(key="explanations.data").value == (env.demo.dataset.id,
                                                               env.demo.model.id)
    else:
        assert any("only data scientists" in i.value.lower() for i in at.info)


def check_slices(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (run, stored or not by role, columns): tests/app/test_slices_page.py.
    assert at.selectbox(key="slices.audit_run_id").value is not None
    assert at.selectbox(key="slices.metric").value == "error_rate"
    assert "slices.run" in [b.key for b in at.button]
    assert (any("No slice discovery is stored" in i.value for i in at.info)
            or "Subgroups tested" in metrics(at))


def check_review_queue(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (reasons, the gold answer never shown): tests/app/test_queue_pages.py.
    shown = metrics(at)
    assert shown["Cases queued"] != "0"
    assert at.selectbox(key="review_queue.case").value is not None


def check_deferral(at: AppTest, env: DemoEnv) -> None:
    # The demo panel has rated the gold cases: human accuracy is estimated from them.
    stated = [m.value for m in at.success if m.value.startswith("Human accuracy")]
    assert stated and "estimated from" in stated[0]
    assert len(at.get("plotly_chart")) == 2


def check_retraining(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (retrain, lineage, before/after, approval): test_retraining_page.py.
    role = Role(at.session_state[state.KEY_USER]["role"])
    keys = {b.key for b in at.button}
    assert ("retraining.submit" in keys) == (role in PERMISSIONS["register a model"])
    assert any("No retrained version" in i.value for i in at.info)
    assert at.dataframe[0].value["Status"].tolist() == ["deployed"]


def check_monitoring(at: AppTest, env: DemoEnv) -> None:
    assert any("age_band=50+" in e.value for e in at.error)
    assert len(at.get("plotly_chart")) == 1


def check_my_reviews(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (rating, resubmits, blinding, others' cases): test_review_pages.py.
    shown = metrics(at)
    assert set(shown) == {"Assigned", "Rated", "Still to rate"} and shown["Assigned"] != "0"
    assert [s.value for s in at.subheader if s.value.startswith("Case ")]


def check_adjudication(at: AppTest, env: DemoEnv) -> None:
    assert "Disputed cases waiting" in metrics(at)
    assert at.selectbox(key="adjudication.run_id").value is not None


def check_panel(at: AppTest, env: DemoEnv) -> None:
    role = Role(at.session_state[state.KEY_USER]["role"])
    headings = {s.value for s in at.subheader}
    assert {"Review progress", "Panel composition"} <= headings
    assert ("Reviewers" in headings) is (role in PERMISSIONS["manage the panel"])


def check_agreement(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (values, names hidden, no ratings): tests/app/test_panel_pages.py.
    role = Role(at.session_state[state.KEY_USER]["role"])
    assert any(w.value.startswith("Simulated panel") for w in at.warning)
    assert "Krippendorff's alpha" in metrics(at)
    pairs = [c for c in at.get("plotly_chart") if "kappa between pairs" in c.proto.spec]
    assert bool(pairs) is (role in PERMISSIONS["read every rating"])


def check_reviewer_bias(at: AppTest, env: DemoEnv) -> None:
    role = Role(at.session_state[state.KEY_USER]["role"])
    assert any(w.value.startswith("Simulated panel") for w in at.warning)
    assert ("Reviewers flagged" in metrics(at)) is (role not in PERMISSIONS["read every rating"])
    assert "Effect of showing the model" in metrics(at)


def check_reports(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (draft, submit, approve, return, verify): tests/app/test_report_pages.py.
    role = Role(at.session_state[state.KEY_USER]["role"])
    keys = [b.key for b in at.button]
    assert ("reports.draft.submit" in keys) is (role in PERMISSIONS["draft a report"])
    read_only = role not in PERMISSIONS["draft a report"] | PERMISSIONS["approve a report"]
    assert any("Read-only" in i.value for i in at.info) is read_only
    assert "reports.verify.file" in [u.key for u in at.file_uploader]


def check_evidence(at: AppTest, env: DemoEnv) -> None:
    # The crosswalk of the demo system, gaps first, every requirement listed once.
    from audits.evidence.requirements import REQUIREMENTS

    table = at.dataframe[0].value
    assert len(table) == len(REQUIREMENTS)
    order = {"Not met": 0, "Met": 1, "Not applicable": 2}
    assert table["status"].map(order).is_monotonic_increasing
    assert (table["status"] == "Not met").any() and (table["status"] == "Met").any()
    assert at.metric[0].label == "Not met"
    assert "evidence.verify" in [u.key for u in at.file_uploader]


def check_new_system(at: AppTest, env: DemoEnv) -> None:
    # Deeper checks (register, audit, bad input): tests/app/test_new_system_page.py.
    assert at.radio(key="new_system.kind").value == "Upload a file"
    assert "new_system.upload" in [u.key for u in at.file_uploader]
    assert any("Give the decisions first" in i.value for i in at.info)


def check_conversations(at: AppTest, env: DemoEnv) -> None:
    # This demo copy holds no conversation system; the page with one:
    # tests/app/test_conversations_page.py.
    assert any("No conversation system is registered yet" in i.value for i in at.info)


CHECKS: dict[str, Callable[[AppTest, DemoEnv], None]] = {
    "app_pages/conversations.py": check_conversations,
    "app_pages/evidence.py": check_evidence,
    "app_pages/home.py": check_findings,
    "app_pages/live.py": check_live,
    "app_pages/new_system.py": check_new_system,
    "app_pages/my_reviews.py": check_my_reviews,
    "app_pages/adjudication.py": check_adjudication,
    "app_pages/panel.py": check_panel,
    "app_pages/agreement.py": check_agreement,
    "app_pages/reviewer_bias.py": check_reviewer_bias,
    "app_pages/overview.py": check_overview,
    "app_pages/fairness.py": check_fairness,
    "app_pages/explanations.py": check_explanations,
    "app_pages/slices.py": check_slices,
    "app_pages/review_queue.py": check_review_queue,
    "app_pages/deferral.py": check_deferral,
    "app_pages/monitoring.py": check_monitoring,
    "app_pages/audit_runs.py": check_audit_runs,
    "app_pages/reports.py": check_reports,
    "app_pages/retraining.py": check_retraining,
    "app_pages/audit_log.py": check_audit_log,
    "app_pages/users.py": check_users,
    "app_pages/account.py": check_account,
}


def test_every_page_has_a_check() -> None:
    assert set(CHECKS) == {p.path for p in PAGES}


@pytest.mark.parametrize(("role", "spec"), ROLE_PAGES,
                         ids=[f"{r.value}-{s.url_path}" for r, s in ROLE_PAGES])
def test_page_renders_for_role(app_env: DemoEnv, role: Role, spec: PageSpec) -> None:
    at = sign_in_as(role)
    at.switch_page(spec.path).run()
    assert not at.exception, at.exception
    assert titles(at) == [spec.title]
    if spec.path != "app_pages/monitoring.py":  # where alerts of new failures are errors
        assert not at.error, [e.value for e in at.error]
    CHECKS[spec.path](at, app_env)


# -- navigation and sign-in -------------------------------------------------------------


def test_sign_in_page_shows_demo_banner_and_personas(app_env: DemoEnv) -> None:
    at = new_app()
    assert titles(at) == ["fairpanel"]
    assert any("DEMO" in w.value for w in at.warning)
    labels = [b.label for b in at.button]
    assert labels == [p.role.label for p in DEMO_PERSONAS]
    assert {p.display_name for p in DEMO_PERSONAS} <= {m.value.strip("*") for m in at.markdown}


def test_first_run_on_an_empty_store_prepares_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path))
    monkeypatch.setenv("FAIRPANEL_DATABASE_URL", url)
    monkeypatch.setenv("FAIRPANEL_DEMO_DATASET", "german_credit")
    monkeypatch.setenv("FAIRPANEL_AUTH", "demo")
    at = new_app()
    assert [b.label for b in at.button] == [p.role.label for p in DEMO_PERSONAS]
    with Store(url) as store:
        assert loaders.demo_is_prepared(store)
        run = next((r for r in store.list_audit_runs() if r.config.get("demo")), None)
        assert run is not None and run.status == "completed"
        assert run.config["dataset"] == "german_credit"
        assert full_demo_prepared(store)
        n_runs = len(store.list_audit_runs())
    new_app()  # a second visit prepares nothing more
    with Store(url) as store:
        assert len(store.list_audit_runs()) == n_runs


def test_overview_of_logged_decisions(compas_copy: DemoCopy) -> None:
    # compas carries the decisions of a deployed system: no model of ours to show.
    at = sign_in_as(Role.COMPLIANCE_OFFICER)
    assert titles(at.switch_page("app_pages/overview.py").run()) == ["Dataset & model"]
    assert any("logged decisions" in i.value for i in at.info)
    shown = metrics(at)
    assert shown["Status"] == "completed"
    assert shown["Decisions audited"] == shown["Rows"]
    assert len(at.get("plotly_chart")) == 1


def test_unknown_demo_dataset_is_reported(app_env: DemoEnv,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_DEMO_DATASET", "no_such_data")
    at = new_app()
    assert at.error and "no_such_data" in at.error[0].value
    assert not [b for b in at.button if b.label == "Admin"]


def test_first_page_after_sign_in_is_the_overview(app_env: DemoEnv) -> None:
    at = sign_in_as(Role.DATA_SCIENTIST)
    assert titles(at) == ["Findings"]
    assert at.session_state[state.KEY_USER] == {
        "username": "demo-data-scientist", "role": "data_scientist", "mode": "demo",
        "display_name": PERSONAS[Role.DATA_SCIENTIST].display_name,
    }
    sidebar_text = [t.value for t in at.sidebar.text]
    assert PERSONAS[Role.DATA_SCIENTIST].display_name in sidebar_text


@pytest.mark.parametrize("path", ["app_pages/users.py", "app_pages/audit_log.py",
                                  "app_pages/audit_runs.py", "app_pages/review_queue.py",
                                  "app_pages/deferral.py", "app_pages/monitoring.py",
                                  "app_pages/adjudication.py", "app_pages/panel.py",
                                  "app_pages/agreement.py", "app_pages/reviewer_bias.py",
                                  "app_pages/reports.py"])
def test_reviewer_navigation_hides_other_roles_pages(app_env: DemoEnv, path: str) -> None:
    assert [p.title for p in pages_for(Role.REVIEWER)] == ["My reviews", "Dataset & model",
                                                           "My account"]
    at = sign_in_as(Role.REVIEWER)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(path)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_admin_sees_users(app_env: DemoEnv, role: Role) -> None:
    at = sign_in_as(role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/users.py")


def test_switch_persona_signs_out(app_env: DemoEnv) -> None:
    at = sign_in_as(Role.ADMIN)
    at.switch_page("app_pages/users.py").run()
    at.sidebar.button(key="sidebar.sign_out").click().run()
    assert not at.exception
    assert titles(at) == ["fairpanel"]
    assert state.KEY_USER not in at.session_state


def test_account_page_signs_out(app_env: DemoEnv) -> None:
    at = sign_in_as(Role.REVIEWER)
    at.switch_page("app_pages/account.py").run()
    at.button(key="account.sign_out").click().run()
    assert titles(at) == ["fairpanel"]


def test_deactivated_user_is_signed_out(app_env: DemoEnv, store: Store) -> None:
    # A demo account: demo mode signs in no other (and the store stays a demo store).
    store.add_user(Actor.system(), "short-lived", Role.PANEL_LEAD, demo=True)
    at = new_app()
    at.session_state[state.KEY_USER] = {"username": "short-lived", "role": "panel_lead",
                                     "mode": "demo", "display_name": "short-lived"}
    at.run()
    assert titles(at) == ["Findings"]
    store.deactivate_user(Actor.system(), "short-lived")
    at.run()
    assert titles(at) == ["fairpanel"]


def test_role_comes_from_the_store_not_the_session(app_env: DemoEnv) -> None:
    at = new_app()
    # A session claiming admin for the reviewer persona gets the reviewer's pages.
    at.session_state[state.KEY_USER] = {"username": "demo-reviewer", "role": "admin",
                                     "mode": "demo", "display_name": "x"}
    at.run()
    assert at.session_state[state.KEY_USER]["role"] == "reviewer"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/users.py")


def test_local_sign_in(real_store: Store) -> None:
    real_store.add_user(Actor.system(), "lena", Role.COMPLIANCE_OFFICER,
                        password="correct horse battery", display_name="Lena")
    at = new_app()  # local accounts are the default
    assert not at.warning, "no demo banner in local mode"
    at.text_input(key="sign_in.username").input("lena")
    at.text_input(key="sign_in.password").input("wrong password")
    at.button[0].click().run()
    assert at.error and "wrong password" in at.error[0].value
    assert titles(at) == ["fairpanel"]
    at.text_input(key="sign_in.password").input("correct horse battery")
    at.button[0].click().run()
    assert not at.exception
    assert titles(at) == ["Findings"]
    at.switch_page("app_pages/audit_log.py").run()
    assert "sign_in" in at.dataframe[0].value["action"].tolist()


def test_local_mode_refuses_demo_personas(app_env: DemoEnv,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_AUTH", "local")
    at = new_app()
    # A demo session carried over into local mode is not accepted.
    at.session_state[state.KEY_USER] = {"username": "demo-admin", "role": "admin",
                                     "mode": "demo", "display_name": "x"}
    at.run()
    assert titles(at) == ["fairpanel"]
    assert not [b for b in at.button if b.label == "Admin"]


def test_bad_auth_setting_is_reported(app_env: DemoEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_AUTH", "ldap")
    at = new_app()
    assert at.error and "FAIRPANEL_AUTH='ldap'" in at.error[0].value


OIDC_SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback",
                         "cookie_secret": "x" * 32, "client_id": "id",
                         "client_secret": "secret",
                         "server_metadata_url": "https://idp.example/.well-known/openid"}}


def test_oidc_registered_user(real_store: Store) -> None:
    real_store.add_user(Actor.system(), "ada@example.org", Role.ADMIN, display_name="Ada")
    at = app_support.new_app()
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": "ada@example.org", "name": "Ada"}
    at.run()
    assert not at.exception, at.exception
    assert titles(at) == ["Findings"]
    assert at.session_state[state.KEY_USER]["mode"] == "oidc"
    at.switch_page("app_pages/users.py").run()
    assert titles(at) == ["Users"]
    signed = [e for e in real_store.log_entries() if e.action == "sign_in"]
    assert [(e.actor, e.payload["method"]) for e in signed] == [("ada@example.org", "oidc")]


def test_oidc_unregistered_user_is_told_to_ask_an_admin(app_env: DemoEnv) -> None:
    at = app_support.new_app()
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": "mallory@example.org"}
    at.run()
    assert not at.exception, at.exception
    assert titles(at) == ["fairpanel"]
    assert at.error and "not registered" in at.error[0].value
    assert "ask an admin" in at.error[0].value.lower()


def test_oidc_unverified_email_is_not_trusted(real_store: Store) -> None:
    real_store.add_user(Actor.system(), "ada@example.org", Role.ADMIN, display_name="Ada")
    at = app_support.new_app()
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": "ada@example.org", "email_verified": False}
    at.run()
    assert not at.exception, at.exception
    assert titles(at) == ["fairpanel"]
    assert at.error and "verified e-mail" in at.error[0].value


def test_oidc_logged_out_sees_sign_in_button(app_env: DemoEnv) -> None:
    at = app_support.new_app()
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.warning, "no demo banner when single sign-on is configured"


# -- the Users form and the engine's own check ------------------------------------------


def add_user_through_form(at: AppTest, username: str, role: Role, password: str = "") -> None:
    at.text_input(key="users.add.username").input(username)
    at.selectbox(key="users.add.role").set_value(role)
    at.text_input(key="users.add.display_name").input(f"{username} (test)")
    at.text_input(key="users.add.password").input(password)
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception, at.exception


def test_admin_adds_user_through_the_form(app_env: DemoEnv, store: Store) -> None:
    at = sign_in_as(Role.ADMIN)
    at.switch_page("app_pages/users.py").run()
    add_user_through_form(at, "new-reviewer", Role.REVIEWER, password="a long passphrase")
    assert not at.error, [e.value for e in at.error]
    assert at.success and "new-reviewer" in at.success[0].value
    created = store.get_user("new-reviewer")
    assert created is not None
    assert created.role is Role.REVIEWER
    assert created.has_password and created.display_name == "new-reviewer (test)"
    assert "new-reviewer" in at.dataframe[0].value["username"].tolist()
    entry = store.log_entries(limit=1)[0]
    assert (entry.action, entry.actor) == ("add_user", "demo-admin")


@pytest.mark.parametrize(("username", "password", "message"), [
    ("demo-reviewer", "", "already taken"),
    ("bad name!", "", "invalid"),
    ("short-pw", "short", "password must be"),
])
def test_users_form_shows_engine_errors(app_env: DemoEnv, store: Store, username: str,
                                        password: str, message: str) -> None:
    at = sign_in_as(Role.ADMIN)
    at.switch_page("app_pages/users.py").run()
    n_users = len(store.list_users())
    add_user_through_form(at, username, Role.REVIEWER, password=password)
    assert at.error and message in at.error[0].value
    assert len(store.list_users()) == n_users


def test_engine_refuses_non_admin(store: Store) -> None:
    reviewer = Actor("demo-reviewer", Role.REVIEWER)
    with pytest.raises(PermissionDenied, match="may not manage users"):
        store.add_user(reviewer, "sneaky", Role.ADMIN)
    assert store.get_user("sneaky") is None
