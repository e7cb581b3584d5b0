"""The New system page: a data scientist registers decisions fairpanel has never seen.

The page runs in-process with ``streamlit.testing.v1.AppTest`` on a private copy of the
demo store. AppTest cannot drive a file uploader, so these tests name a server-side
file (the browser test, ``tests/e2e/test_new_system_browser.py``, uploads one). What a
bad input gets: an inline error naming the column and the ids, and nothing stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import app_support
import numpy as np
import pandas as pd
import pytest
from db_support import row_counts
from demo_support import DemoCopy, DemoTemplates
from streamlit.testing.v1 import AppTest

from app.navigation import pages_for
from audits.roles import Role
from audits.store import Store
from audits.systems.registry import register_system

PAGE = "app_pages/new_system.py"


@pytest.fixture(scope="module")
def copy(demo_templates: DemoTemplates,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCopy]:
    with app_support.full_demo_copy(demo_templates, tmp_path_factory, "new-system") as made:
        yield made


@pytest.fixture
def app_env(copy: DemoCopy, monkeypatch: pytest.MonkeyPatch) -> DemoCopy:
    for key, value in copy.env.items():
        monkeypatch.setenv(key, value)
    return copy


def _decisions(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gender = rng.choice(["woman", "man", "nonbinary"], n, p=[0.45, 0.45, 0.10])
    income = rng.gamma(4.0, 10.0, n).round(1)
    approved = (income + np.where(gender == "man", 6, 0) + rng.normal(0, 8, n) > 40)
    return pd.DataFrame({"loan_id": np.arange(n), "gender": gender, "income": income,
                         "approved": approved.astype(int),
                         "repaid": (rng.random(n) < 0.7).astype(int)})


def _open(path: Path) -> AppTest:
    at = app_support.open_page(PAGE, "New system", Role.DATA_SCIENTIST)
    at.radio(key="new_system.kind").set_value("A file or Parquet glob on the server").run()
    at.text_input(key="new_system.path").set_value(str(path)).run()
    assert not at.exception, at.exception
    return at


def test_only_data_scientists_and_admins_see_the_page() -> None:
    seen = {role for role in Role if PAGE in {p.path for p in pages_for(role)}}
    assert seen == {Role.DATA_SCIENTIST, Role.ADMIN}


def test_suggested_mapping_registers_and_audits_a_new_system(app_env: DemoCopy,
                                                             tmp_path: Path) -> None:
    frame = _decisions()
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    at = _open(path)
    # The preview and the suggestions come from the engine.
    assert "600 rows, 5 columns." in [c.value for c in at.caption]
    assert at.selectbox(key="new_system.id").value == "loan_id"
    assert at.selectbox(key="new_system.target").value == "repaid"
    assert at.selectbox(key="new_system.prediction").value == "approved"
    assert at.multiselect(key="new_system.sensitive").value == ["gender"]
    at.text_input(key="new_system.name").set_value("loans-page")
    at.text_area(key="new_system.description").set_value("Small-loan approvals")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("First audit stored as run" in s.value for s in at.success)
    with Store(app_env.url) as store:
        version = store.latest_version("loans-page")
        assert (version.version, version.n_rows) == (1, 600)
        assert store.get_system("loans-page").description == "Small-loan approvals"
        runs = [r for r in store.list_audit_runs() if r.dataset_id == version.id]
        assert len(runs) == 1 and runs[0].status == "completed"
        # The stored selection rates are the data's own (an independent pandas oracle).
        groups = runs[0].results["groups"]
    rates = frame.groupby("gender")["approved"].mean()
    stored = {g["attributes"]["gender"]: g["metrics"]["selection_rate"]["value"]
              for g in groups if list(g["attributes"]) == ["gender"]}
    assert stored == pytest.approx(rates.to_dict())


def test_duplicate_ids_are_named_inline_and_nothing_is_stored(app_env: DemoCopy,
                                                              tmp_path: Path) -> None:
    frame = _decisions(200)
    frame.loc[[5, 9], "loan_id"] = 1  # ids 1 three times
    path = tmp_path / "dupes.csv"
    frame.to_csv(path, index=False)
    at = _open(path)  # signing in writes a log entry: count after it
    with Store(app_env.url) as store:
        before = row_counts(store)
    at.text_input(key="new_system.name").set_value("dupes")
    at.button[0].click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Nothing was registered" in errors and "loan_id" in errors and "1" in errors
    with Store(app_env.url) as store:
        assert row_counts(store) == before
        assert store.get_system("dupes") is None


def test_an_unreadable_path_is_an_inline_error(app_env: DemoCopy, tmp_path: Path) -> None:
    at = _open(tmp_path / "missing.csv")
    assert any("Could not read the decisions" in e.value and "missing.csv" in e.value
               for e in at.error)


def test_a_bad_upload_limit_is_named(app_env: DemoCopy,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_MAX_UPLOAD_MB", "lots")
    at = app_support.new_app()
    at.run()
    at.button(key=f"sign_in.persona.{app_support.PERSONAS[Role.DATA_SCIENTIST].username}"
              ).click().run()
    at.switch_page(PAGE).run()
    assert at.exception and "FAIRPANEL_MAX_UPLOAD_MB" in at.exception[0].value


def test_pages_name_versions_and_say_a_logged_system_has_no_model(app_env: DemoCopy,
                                                                   tmp_path: Path) -> None:
    frame = _decisions(300, seed=8)
    path = tmp_path / "logged.csv"
    frame.to_csv(path, index=False)
    with Store(app_env.url) as store:
        done = register_system(
            store, app_support.DATA_SCIENTIST, "logged-loans", path, id="loan_id",
            target="repaid", prediction="approved", sensitive=["gender"],
            description="Loans decided by a vendor's rules", intended_use="Small loans",
            adverse=False, owner="credit team")
    label = "logged-loans · v1 · 300 rows"
    # Dataset & model: the picker names the version; the system's own words are shown.
    at = app_support.open_page("app_pages/overview.py", "Dataset & model",
                               Role.DATA_SCIENTIST)
    picker = at.selectbox(key="overview.dataset")
    assert any(label in o for o in picker.options), picker.options
    picker.set_value(done.dataset.id).run()
    assert not at.exception, at.exception
    texts = [t.value for t in at.text]
    assert "Loans decided by a vendor's rules" in texts and "Small loans" in texts
    assert any("favourable" in m.value and "credit team" in m.value for m in at.markdown)
    # The fairness page offers its logged decisions under the same name.
    at.switch_page("app_pages/fairness.py").run()
    assert not at.exception, at.exception
    assert any(o.startswith(label) and o.endswith("logged decisions")
               for o in at.selectbox(key="fairness.data").options)
    # Explanations and retraining need a model: they say so, naming the system.
    for page, title in (("app_pages/explanations.py", "Explanations"),
                        ("app_pages/retraining.py", "Retraining")):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert [t.value for t in at.title] == [title]
        assert any("'logged-loans'" in i.value and "need a model" in i.value
                   for i in at.info), [i.value for i in at.info]


def test_an_existing_systems_intended_use_is_edited_and_logged(app_env: DemoCopy) -> None:
    with Store(app_env.url) as store:
        name = store.list_systems()[0].name
        at = app_support.open_page(PAGE, "New system", Role.DATA_SCIENTIST)
        at.selectbox(key="new_system.edit.system").set_value(name).run()
        key = f"new_system.edit.intended_use.{name}"
        assert at.text_area(key=key).value == store.get_system(name).intended_use  # type: ignore[union-attr]
        at.text_area(key=key).input("Ranking applications for a human credit officer.")
        at.button(key="new_system.edit.save").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any(f"Saved the intended use and description of {name}" in s.value
                   for s in at.success)
        saved = store.get_system(name)
        assert saved is not None
        assert saved.intended_use == "Ranking applications for a human credit officer."
        entry = store.log_entries(limit=1)[0]
        assert (entry.action, entry.payload["system"]) == ("update_system", name)
        at.text_area(key=key).input("   ")
        at.button(key="new_system.edit.save").click().run()
        assert at.error and "intended_use" in at.error[0].value
        assert store.get_system(name).intended_use == saved.intended_use  # type: ignore[union-attr]
