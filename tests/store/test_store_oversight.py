"""Reviewers' qualifications and the human-oversight record, on SQLite and PostgreSQL.

A small hand-built panel: four cases, three reviewers, known labels, times and
blinding, so every figure of the record can be computed by hand; agreement is checked
against the ``krippendorff`` package and the override intervals against statsmodels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import krippendorff
import numpy as np
import pytest
from db_support import ADMIN, SCIENTIST
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor
from statsmodels.stats.proportion import proportion_confint

from audits.evidence.oversight import oversight_record, touch_action
from audits.roles import Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.qualifications import MSG_EXPIRES, MSG_FUTURE, MSG_KIND, MSG_NO_REVIEWER

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
NOW = datetime.now(UTC)
#: case index -> the three reviewers' labels (every model decision is 1).
LABELS = {0: (1, 1, 1), 1: (1, 0, 0), 2: (0, 0, 1), 3: (1, 1, 0)}


def _panel(store: Store) -> tuple[int, list[int], dict[str, int]]:
    store.add_user(ADMIN, SCIENTIST.username, Role.DATA_SCIENTIST)
    store.add_user(ADMIN, LEAD.username, Role.PANEL_LEAD)
    store.add_user(ADMIN, CASEY.username, Role.COMPLIANCE_OFFICER)
    ids = add_reviewers(store, 3)
    run_id, cases = queue_cases(store, 4)
    assign(store, run_id, [(c, ids[reviewer_actor(r).username])
                           for c in cases for r in range(3)])
    for i, case in enumerate(cases):
        for r in range(3):
            label = LABELS[i][r]
            store.submit_rating(reviewer_actor(r), case, label=label, confidence=3,
                                rationale="" if label == 1 else "the data say otherwise",
                                seconds_spent=5.0 if r == 2 else 60.0,
                                idempotency_key=f"key-{i}-{r}-abcdefghijkl")
    return run_id, cases, ids


def test_qualifications_are_recorded_logged_and_held_by_date(store: Store) -> None:
    _panel(store)
    done = NOW - timedelta(days=30)
    q = store.record_qualification(LEAD, "reviewer00", kind="training",
                                   title="Fair lending review course", completed_at=done,
                                   expires_at=NOW + timedelta(days=300),
                                   evidence="certificate 42")
    assert store.log_entries(1)[0].action == "record_qualification"
    assert q.valid_at(NOW) and not q.valid_at(done - timedelta(days=1))
    assert not q.valid_at(NOW + timedelta(days=301))
    listed = store.qualifications(CASEY)
    assert [(x.username, x.kind, x.title) for x in listed] == [
        ("reviewer00", "training", "Fair lending review course")]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"kind": "diploma"}, ValueError, MSG_KIND.split("{")[0]),
    ({"title": ""}, ValueError, "title must not be empty"),
    ({"completed_at": datetime(2026, 1, 1)}, ValueError, "timezone-aware"),  # noqa: DTZ001
    ({"completed_at": NOW + timedelta(days=2)}, ValueError, MSG_FUTURE.split("(")[0]),
    ({"expires_at": NOW - timedelta(days=400)}, ValueError, MSG_EXPIRES.split("(")[0]),
])
def test_bad_qualifications_are_refused_and_nothing_is_written(
        store: Store, kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    _panel(store)
    before = len(store.log_entries())
    values: dict[str, object] = {"kind": "training", "title": "Course",
                                 "completed_at": NOW - timedelta(days=10)}
    values.update(kwargs)
    with pytest.raises(error, match=message.strip()):
        store.record_qualification(LEAD, "reviewer00", **values)  # type: ignore[arg-type]
    assert len(store.log_entries()) == before and store.qualifications(CASEY) == []


def test_qualifications_need_the_panel_lead_and_a_panel_member(store: Store) -> None:
    _panel(store)
    with pytest.raises(PermissionDenied, match="may not manage the panel"):
        store.record_qualification(reviewer_actor(0), "reviewer00", kind="training",
                                   title="x", completed_at=NOW)
    with pytest.raises(LookupError, match=MSG_NO_REVIEWER.format(username="pat")):
        store.record_qualification(LEAD, "pat", kind="training", title="x", completed_at=NOW)
    with pytest.raises(PermissionDenied, match="may not read the oversight record"):
        store.oversight_rows(reviewer_actor(0), 1)
    with pytest.raises(PermissionDenied, match="may not read the oversight record"):
        store.oversight_rows(SCIENTIST, 1)


def test_oversight_record_by_hand(store: Store) -> None:
    run_id, cases, ids = _panel(store)
    store.record_qualification(LEAD, "reviewer00", kind="training", title="Course",
                               completed_at=NOW - timedelta(days=5))
    store.record_qualification(LEAD, "reviewer01", kind="competence", title="Underwriter",
                               completed_at=NOW - timedelta(days=5),
                               expires_at=NOW - timedelta(days=1))  # lapsed before rating
    assert store.case_review(LEAD, cases[1]).status == "disputed"  # 1 of 3 disagreed
    store.adjudicate(LEAD, cases[1], label=0, reason="two of three said no")
    record = oversight_record(store, CASEY, run_id, n_boot=50)
    t = record.touches
    ratings = t[t["touch"] == "rating"]
    assert len(ratings) == 12
    expected = [("accept" if lab == 1 else "override") for i in range(4) for lab in LABELS[i]]
    assert sorted(ratings["action"]) == sorted(expected)
    assert set(ratings["snapshot_sha256"]) == {c.snapshot_sha256 for c in
                                                store.list_cases(run_id)}
    assert ratings["threshold"].eq(0.5).all() and ratings["model_shown"].all()
    assert ratings["model_sha256"].eq("ab" * 32).all()  # the snapshot's model
    # Qualifications held when rating: reviewer00 yes, reviewer01's had lapsed, 02 none.
    held = ratings.groupby("username")["qualifications"].first().to_dict()
    assert held == {"reviewer00": "training: Course", "reviewer01": "", "reviewer02": ""}
    assert set(record.unqualified["username"]) == {"reviewer01", "reviewer02"}
    # Override rates by reviewer, and Wilson intervals against statsmodels.
    by = record.by_reviewer.set_index("username")
    for r in range(3):
        name = reviewer_actor(r).username
        k = sum(1 for i in range(4) if LABELS[i][r] == 0)
        assert by.loc[name, "overrides"] == k and by.loc[name, "n"] == 4
        low, high = proportion_confint(k, 4, method="wilson")
        assert by.loc[name, "ci_low"] == pytest.approx(low)
        assert by.loc[name, "ci_high"] == pytest.approx(high)
    assert by.loc["reviewer02", "fast_share"] == 1.0 and by.loc["reviewer00", "fast_share"] == 0
    # Agreement: Krippendorff's alpha from the independent package.
    data = np.array([[LABELS[i][r] for i in range(4)] for r in range(3)], dtype=float)
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert record.agreement is not None
    assert record.agreement.krippendorff_alpha.value == pytest.approx(alpha)
    # Every decision touched is one row; the escalated one went to adjudication.
    assert list(record.decisions["case_id"]) == cases
    summary = record.summary()
    assert summary["overrides"] == sum(lab == 0 for v in LABELS.values() for lab in v)
    assert summary["decisions"] == 4 and summary["reviewers"] == 3
    # Cases 1-3 split two to one (disagreement 1/3 > 0.25): escalated; case 1 decided.
    assert summary["adjudications"] == 1 and summary["escalated"] == 3
    adjudicated = t[t["touch"] == "adjudication"].iloc[0]
    assert (adjudicated["username"], adjudicated["action"]) == ("pat", "adjudicate")
    # Shown to everyone: automation bias cannot be estimated, and it says so.
    assert record.automation is None and any("automation" in n for n in record.notes)
    assert ids  # the panel exists


def test_rubber_stamping_signs_need_enough_reviews(store: Store) -> None:
    store.add_user(ADMIN, SCIENTIST.username, Role.DATA_SCIENTIST)
    store.add_user(ADMIN, LEAD.username, Role.PANEL_LEAD)
    store.add_user(ADMIN, CASEY.username, Role.COMPLIANCE_OFFICER)
    ids = add_reviewers(store, 1)
    run_id, cases = queue_cases(store, 25)
    assign(store, run_id, [(c, ids["reviewer00"]) for c in cases])
    for i, case in enumerate(cases):
        store.submit_rating(reviewer_actor(0), case, label=1, confidence=5, seconds_spent=2.0,
                            idempotency_key=f"stamp-{i:04d}-abcdefghij")
    record = oversight_record(store, CASEY, run_id, n_boot=0)
    signs = record.by_reviewer.set_index("username").loc["reviewer00", "signs"]
    assert "100% of reviews under 10 s" in signs
    assert "agrees with the shown suggestion 100%" in signs
    assert record.rubber_stamping == ["reviewer00"]


def test_touch_actions() -> None:
    assert touch_action("rating", 1, None) == "decide"
    assert touch_action("rating", 0, float("nan")) == "decide"
    assert touch_action("rating", 0, 0) == "accept"


def test_an_evidence_pack_is_logged_and_needs_the_compliance_officer(store: Store) -> None:
    run_id, _, _ = _panel(store)
    assert run_id
    with pytest.raises(PermissionDenied, match="may not build an evidence pack"):
        store.record_evidence_pack(SCIENTIST, "x", release="r1", version=1,
                                   sha256="ab" * 32, counts={"met": 1})
    with pytest.raises(ValueError, match="sha256"):
        store.record_evidence_pack(CASEY, "x", release="r1", version=1, sha256="zz",
                                   counts={"met": 1})
