"""A system whose decisions stay in their database: registered without a copy, audited
where the rows are, each run keyed on the counts it read and carrying its exact query.

Oracle: the same decisions registered as a copy (the Parquet path, audited by pandas):
the stored audit of the table kept in place is the same JSON to the last digit (same
seed), apart from ``aggregation``, which says where each was counted. The decisions
table lives in PostgreSQL (a scratch schema) or a SQLite file; the store on SQLite or
PostgreSQL (``database_url``).

What bad input gets: a URL holding a password is refused before anything is read (no
password is ever stored); no logged decisions, a column that is not there, a table that
is not there: each named, nothing stored; a model with a version kept in place, and
anything that needs the rows themselves (``load_version``): refused with what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from db_support import database_holding, write_table
from sqlalchemy import create_engine, text
from systems_support import credit_frame

from audits.data.schema import DataValidationError
from audits.fairness.stored import in_place_audit, run_fairness_audit
from audits.reports.report import build_report
from audits.roles import Actor, Role
from audits.slices.stored import find_audit_slices, run_slice_discovery
from audits.store import Store
from audits.systems.in_place import register_in_place
from audits.systems.registry import load_version, register_system

SCIENTIST = Actor("dana", Role.DATA_SCIENTIST)
COMPLIANCE = Actor("casey", Role.COMPLIANCE_OFFICER)
ROLES: dict[str, Any] = {"id": "id", "target": "repaid", "sensitive": ["sex", "race"],
                         "prediction": "approved", "score": "score"}


@pytest.fixture(params=["sqlite", "postgresql"])
def decisions_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database holding the table ``decisions`` (2,000 credit decisions)."""
    with database_holding(request.param, tmp_path, credit_frame(n=2_000, seed=4)) as url:
        yield url


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Store]:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    with Store(database_url) as opened:
        yield opened


def without_place(results: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in results.items() if k != "aggregation"},
                      sort_keys=True, default=str)


def test_a_table_kept_in_place_audits_as_its_copy_does(store: Store,
                                                       decisions_url: str) -> None:
    kept = register_in_place(store, SCIENTIST, "credit", decisions_url, table="decisions",
                             **ROLES, intended_use="consumer credit")
    assert kept.created and kept.dataset.data_path is None and kept.dataset.n_rows == 2_000
    assert kept.dataset.source.startswith("in place: ") and "table decisions" in (
        kept.dataset.source)
    sexes = {c["value"]: c["n"] for c in kept.dataset.card_data["sensitive"][0]["categories"]}
    frame = credit_frame(n=2_000, seed=4)
    assert sexes == frame["sex"].value_counts().to_dict()
    copy = register_system(store, SCIENTIST, "credit-copy", frame, **ROLES)
    in_place = run_fairness_audit(store, SCIENTIST, kept.dataset, None, n_boot=120)
    copied = run_fairness_audit(store, SCIENTIST, copy.dataset, None, n_boot=120)
    assert without_place(in_place.results or {}) == without_place(copied.results or {})
    where = (in_place.results or {})["aggregation"]
    assert where["backend"] in ("sqlite", "postgresql") and where["source"] == '"decisions"'
    assert (copied.results or {})["aggregation"]["backend"] == "pandas"
    assert in_place.config["decisions"].startswith("every decision in ")
    # The gate's audit object: counted again, the same verdicts as stored.
    again = in_place_audit(kept.dataset, in_place)
    assert again.to_dict()["verdicts"] == (in_place.results or {})["verdicts"]


def test_a_run_is_reused_only_while_the_table_is_the_same(store: Store,
                                                          decisions_url: str) -> None:
    kept = register_in_place(store, SCIENTIST, "credit", decisions_url, table="decisions",
                             **ROLES)
    first = run_fairness_audit(store, SCIENTIST, kept.dataset, None, n_boot=50)
    assert run_fairness_audit(store, SCIENTIST, kept.dataset, None, n_boot=50).id == first.id
    more = credit_frame(n=300, seed=9).assign(id=lambda d: d["id"] + 10_000)
    engine = create_engine(decisions_url)
    try:
        more.to_sql("decisions", engine, index=False, if_exists="append")
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match=rf"changed since run #{first.id}"):
        in_place_audit(kept.dataset, first)
    second = run_fairness_audit(store, SCIENTIST, kept.dataset, None, n_boot=50)
    assert second.id != first.id
    assert second.config["counts_sha256"] != first.config["counts_sha256"]
    groups = (second.results or {})["groups"]
    assert sum(g["n"] for g in groups if list(g["attributes"]) == ["sex"]) == 2_300


def test_the_report_prints_the_query_that_reruns_to_the_counts(
        store: Store, decisions_url: str) -> None:
    kept = register_in_place(store, SCIENTIST, "credit", decisions_url,
                             query="SELECT * FROM decisions WHERE income > 0", **ROLES)
    run = run_fairness_audit(store, SCIENTIST, kept.dataset, None, n_boot=50)
    report = build_report(store, COMPLIANCE, run.id)
    method = next(s for s in report.body["sections"] if s["key"] == "method")
    queries = [b["text"] for b in method["blocks"] if b["type"] == "code"]
    assert queries == list((run.results or {})["aggregation"]["queries"]) and queries
    engine = create_engine(decisions_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(queries[-1])).fetchall()
    finally:
        engine.dispose()
    # Keys: sex, race, the outcome, the decision and the score's bin; then count(*).
    assert sum(int(r[5]) for r in rows) == 2_000


def test_bad_input_is_named_and_nothing_is_stored(store: Store, decisions_url: str,
                                                  tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"dana:\*\*\*@127.0.0.1:5432/x holds a password"
                       ) as refused:
        register_in_place(store, SCIENTIST, "credit",
                          "postgresql://dana:hunter2@127.0.0.1:5432/x", table="decisions",
                          **ROLES)
    assert "hunter2" not in str(refused.value)
    with pytest.raises(ValueError, match="needs its logged decisions"):
        register_in_place(store, SCIENTIST, "credit", decisions_url, table="decisions",
                          **{**ROLES, "prediction": None})
    with pytest.raises(DataValidationError, match="'outcome'"):
        register_in_place(store, SCIENTIST, "credit", decisions_url, table="decisions",
                          **{**ROLES, "target": "outcome"})
    with pytest.raises(DataValidationError, match="cannot read"):
        register_in_place(store, SCIENTIST, "credit", decisions_url, table="nope", **ROLES)
    assert store.list_systems() == []
    kept = register_in_place(store, SCIENTIST, "credit", decisions_url, table="decisions",
                             **ROLES)
    assert not register_in_place(store, SCIENTIST, "credit", decisions_url,
                                 table="decisions", **ROLES).created
    with pytest.raises(ValueError, match="stays in its database.*register a copy"):
        load_version(store, SCIENTIST, kept.dataset)
    with pytest.raises(ValueError, match="without a model"):
        run_fairness_audit(store, SCIENTIST, kept.dataset, _a_model(store, tmp_path),
                           n_boot=20)


def _a_model(store: Store, tmp_path: Path) -> Any:
    """Any registered model record (the audit refuses before reading it)."""
    from systems_support import fit_model, save_skops

    frame = credit_frame(n=300)
    path = save_skops(fit_model(frame), tmp_path / "model.skops")
    done = register_system(store, SCIENTIST, "with-model", frame, **ROLES, model=path)
    assert done.model is not None
    return done.model


def test_slices_of_a_table_kept_in_place_are_its_copys(store: Store,
                                                       decisions_url: str) -> None:
    # Errors planted for group_b in the south; the table sits beside the fixture's, in
    # the same database.
    frame = credit_frame(n=3_000, seed=5)
    rng = np.random.default_rng(5)
    bad = (frame["region"] == "south") & (frame["race"] == "group_b")
    flip = np.where(bad, rng.random(len(frame)) < 0.6, False)
    frame["approved"] = np.where(flip, 1 - frame["approved"], frame["approved"])
    write_table(decisions_url, frame, "planted")
    kept = register_in_place(store, SCIENTIST, "credit", decisions_url, table="planted",
                             **ROLES)
    copy = register_system(store, SCIENTIST, "credit-copy", frame, **ROLES)
    runs = [run_fairness_audit(store, SCIENTIST, v.dataset, None, n_boot=20)
            for v in (kept, copy)]
    in_place, copied = (run_slice_discovery(store, SCIENTIST, r.id) for r in runs)
    assert without_place(in_place.results or {}) == without_place(copied.results or {})
    found = [s["attributes"] for s in (in_place.results or {})["slices"]]
    assert {"race": "group_b", "region": "south"} in found
    where = (in_place.results or {})["aggregation"]
    assert where["backend"] in ("sqlite", "postgresql") and len(where["queries"]) >= 3
    assert (copied.results or {})["aggregation"]["backend"] == "pandas"
    # The same table: the run is reused; the report of the in-place audit lists the slice.
    assert run_slice_discovery(store, SCIENTIST, runs[0].id).id == in_place.id
    report = build_report(store, COMPLIANCE, runs[0].id)
    section = next(s for s in report.body["sections"] if s["key"] == "slices")
    assert "region=south" in json.dumps(section)
    # The page's discovery on chosen columns (nothing stored) counts where it lives too.
    chosen = find_audit_slices(store, SCIENTIST, runs[0].id, columns=["region", "sex"])
    assert chosen.columns == ("region", "sex")
