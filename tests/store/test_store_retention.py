"""Retention: the policy (at least six months), deletion schedules of sensitive data, the
purge when a schedule is due, and each rule of the retention check appearing when broken
and disappearing when fixed. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from db_support import ADMIN, REVIEWER, SCIENTIST, SHA_A, SHA_B, SHA_C
from panel_support import LEAD, add_reviewers, assign, queue_cases, reviewer_actor
from sqlalchemy import delete, insert, select, update

from audits.roles import Actor, PermissionDenied, Role
from audits.store import (
    LogEntryRecord,
    RetentionCheck,
    RetentionPolicy,
    RetentionPurge,
    Store,
    SystemInput,
    VersionInput,
)
from audits.store.retention import (
    MSG_MONTHS_MAXIMUM,
    MSG_MONTHS_MINIMUM,
    MSG_MONTHS_TYPE,
    MSG_NAIVE,
    MSG_NOT_DATETIME,
    MSG_NOTHING_HELD,
)
from audits.store.retention_rules import RULES, months_before
from audits.store.systems import MSG_BAD_SYSTEM_NAME
from audits.store.tables import (
    Adjudication,
    AuditLog,
    Base,
    CannotTellRow,
    PanelSetting,
    Rating,
)

CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)
SOON = datetime(2030, 1, 1, tzinfo=UTC)
REASON = "bias monitoring of the 2029 release"


def _sensitive(sha: str = SHA_C) -> dict[str, Any]:
    return {"path": f"sensitive/{sha}.parquet", "sha256": sha, "columns": ["sex"],
            "join": "applicant_id"}


def _version(sha: str = SHA_A, sensitive: dict[str, Any] | None = None) -> VersionInput:
    return VersionInput(source="loans.csv", sha256=sha, n_rows=10, roles={}, card="",
                        card_data={}, data_path=f"data/{sha}.parquet", sensitive=sensitive)


def _register(store: Store, name: str = "credit", sha: str = SHA_A,
              sensitive: str | None = SHA_C) -> None:
    apart = None if sensitive is None else _sensitive(sensitive)
    store.register_system_version(SCIENTIST, SystemInput(name), _version(sha, apart))


def _n_log(store: Store) -> int:
    return len(store.log_entries())


def _last(store: Store) -> LogEntryRecord:
    """The newest entry, not counting the signing key's pinning by the first write."""
    return next(e for e in store.log_entries() if e.actor != "system:signing")


def _rules(check: RetentionCheck) -> list[tuple[str, str]]:
    return [(v.rule, v.subject) for v in check.violations]


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data folder of this test's own, holding the sensitive file of SHA_C."""
    folder = tmp_path / "home"
    monkeypatch.setenv("FAIRPANEL_HOME", str(folder))
    (folder / "sensitive").mkdir(parents=True)
    (folder / "sensitive" / f"{SHA_C}.parquet").write_bytes(b"sex")
    return folder


# -- the policy ---------------------------------------------------------------------------


def test_the_policy_is_six_months_until_set_then_logged_with_the_previous_one(
        store: Store) -> None:
    assert store.retention_policy() == RetentionPolicy(6, 6, None, None)
    set_ = store.set_retention_policy(CASEY, log_months=12, oversight_months=7)
    assert (set_.log_months, set_.oversight_months, set_.updated_by) == (12, 7, "casey")
    assert store.retention_policy() == set_ and set_.updated_at is not None
    entry = _last(store)
    assert (entry.action, entry.actor, entry.entity, entry.entity_id) == (
        "set_retention_policy", "casey", "panel_setting", "retention")
    assert entry.payload == {"log_months": 12, "oversight_months": 7, "previous": None}
    n = _n_log(store)
    assert store.set_retention_policy(ADMIN, log_months=12, oversight_months=7) == set_
    assert _n_log(store) == n  # nothing changed: nothing written
    store.set_retention_policy(ADMIN, log_months=24, oversight_months=6)
    assert _last(store).payload == {
        "log_months": 24, "oversight_months": 6,
        "previous": {"log_months": 12, "oversight_months": 7}}
    assert store.verify_log().ok


#: Bad month counts: (value, the error, its message with "{field}" for the field).
BAD_MONTHS: list[tuple[Any, type[Exception], str]] = [
    (5, ValueError, MSG_MONTHS_MINIMUM.format(field="{field}", minimum=6, value=5)),
    (0, ValueError, MSG_MONTHS_MINIMUM.format(field="{field}", minimum=6, value=0)),
    (-6, ValueError, MSG_MONTHS_MINIMUM.format(field="{field}", minimum=6, value=-6)),
    (1201, ValueError, MSG_MONTHS_MAXIMUM.format(field="{field}", maximum=1200, value=1201)),
    (True, TypeError, MSG_MONTHS_TYPE.format(field="{field}", value=True)),
    (6.0, TypeError, MSG_MONTHS_TYPE.format(field="{field}", value=6.0)),
    ("6", TypeError, MSG_MONTHS_TYPE.format(field="{field}", value="6")),
    (None, TypeError, MSG_MONTHS_TYPE.format(field="{field}", value=None)),
]


def test_a_bad_policy_is_refused_and_nothing_is_written(store: Store) -> None:
    store.set_retention_policy(CASEY, log_months=9, oversight_months=9)
    before, n = store.retention_policy(), _n_log(store)
    for value, error, message in BAD_MONTHS:
        for field in ("log_months", "oversight_months"):
            months = {"log_months": 9, "oversight_months": 9, field: value}
            with pytest.raises(error) as info:
                store.set_retention_policy(CASEY, **months)
            assert str(info.value) == message.replace("{field}", field)
    assert "six months" in MSG_MONTHS_MINIMUM and "Art. 19(1), 26(6)" in MSG_MONTHS_MINIMUM
    assert store.retention_policy() == before and _n_log(store) == n


def test_only_compliance_officers_and_admins_set_retention(store: Store, home: Path) -> None:
    _register(store)
    n = _n_log(store)
    for actor in (REVIEWER, SCIENTIST, LEAD):
        with pytest.raises(PermissionDenied, match="may not set retention"):
            store.set_retention_policy(actor, log_months=12, oversight_months=12)
        with pytest.raises(PermissionDenied, match="may not set retention"):
            store.schedule_sensitive_deletion(actor, "credit", delete_at=SOON, reason=REASON)
        with pytest.raises(PermissionDenied, match="may not purge sensitive data"):
            store.apply_retention(actor, now=SOON)
    assert _n_log(store) == n and store.retention_schedules() == []
    assert store.retention_policy().updated_by is None


# -- schedules ----------------------------------------------------------------------------


#: Bad schedules: (the arguments changed, the error, its message).
BAD_SCHEDULES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"delete_at": datetime(2030, 1, 1)}, ValueError,
     MSG_NAIVE.format(field="delete_at", value="2030-01-01T00:00:00")),
    ({"delete_at": date(2030, 1, 1)}, TypeError,
     MSG_NOT_DATETIME.format(field="delete_at", type="date")),
    ({"delete_at": "2030-01-01"}, TypeError,
     MSG_NOT_DATETIME.format(field="delete_at", type="str")),
    ({"reason": "  "}, ValueError, "reason must not be empty"),
    ({"reason": None}, TypeError, "reason must be a string; got NoneType"),
    ({"system": "no-such"}, LookupError, "no system named 'no-such'; known systems: bare, "
                                         "credit, purged"),
    ({"system": "../credit"}, ValueError, MSG_BAD_SYSTEM_NAME.format(name="../credit")),
    ({"system": "bare"}, ValueError, MSG_NOTHING_HELD.format(name="bare")),
    ({"system": "purged"}, ValueError, MSG_NOTHING_HELD.format(name="purged")),
]


def test_a_bad_schedule_is_refused_and_nothing_is_written(store: Store, home: Path) -> None:
    _register(store)
    _register(store, "bare", sensitive=None)
    _register(store, "purged", SHA_B)
    store.purge_sensitive(CASEY, "purged", "erasure request")
    n = _n_log(store)
    for changes, error, message in BAD_SCHEDULES:
        arguments: dict[str, Any] = {"system": "credit", "delete_at": SOON, "reason": REASON,
                                     **changes}
        with pytest.raises(error) as info:
            store.schedule_sensitive_deletion(CASEY, **arguments)
        assert str(info.value) == message
    assert _n_log(store) == n and store.retention_schedules() == []


def test_a_schedule_is_listed_and_a_new_one_replaces_it_keeping_the_old_date_in_the_log(
        store: Store, home: Path) -> None:
    _register(store)
    paris = timezone(timedelta(hours=1))
    made = store.schedule_sensitive_deletion(
        CASEY, "credit", delete_at=datetime(2030, 1, 1, 1, tzinfo=paris), reason=f"  {REASON} ")
    assert (made.system, made.delete_at, made.reason, made.set_by, made.purged,
            made.purged_at) == ("credit", SOON, REASON, "casey", False, None)
    assert made.delete_at.tzinfo is UTC and store.retention_schedules() == [made]
    entry = _last(store)
    assert (entry.action, entry.actor, entry.entity) == ("schedule_sensitive_deletion",
                                                          "casey", "system")
    assert entry.payload == {"system": "credit", "delete_at": "2030-01-01T00:00:00+00:00",
                             "reason": REASON, "previous": None}
    later = store.schedule_sensitive_deletion(ADMIN, "credit", delete_at=SOON + timedelta(days=31),
                                              reason="the review moved")
    assert store.retention_schedules() == [later] and later.set_by == ADMIN.username
    payload = _last(store).payload
    assert payload["delete_at"] == "2030-02-01T00:00:00+00:00"
    assert payload["previous"] == {"delete_at": "2030-01-01T00:00:00+00:00", "reason": REASON,
                                   "set_by": "casey", "set_at": made.set_at.isoformat()}
    assert store.verify_log().ok


# -- applying schedules -------------------------------------------------------------------


def test_a_due_schedule_purges_once_and_a_schedule_not_yet_due_does_nothing(
        store: Store, home: Path) -> None:
    _register(store)
    _register(store, "hiring", SHA_B, sensitive=SHA_B)
    store.schedule_sensitive_deletion(CASEY, "credit", delete_at=SOON, reason=REASON)
    store.schedule_sensitive_deletion(CASEY, "hiring", delete_at=SOON + timedelta(days=1),
                                      reason="later")
    n = _n_log(store)
    assert store.apply_retention(CASEY, now=SOON - timedelta(microseconds=1)) == []
    assert _n_log(store) == n and (home / "sensitive" / f"{SHA_C}.parquet").exists()
    purges = store.apply_retention(CASEY, now=SOON)
    assert [type(p) for p in purges] == [RetentionPurge] and _n_log(store) == n + 1
    purge = purges[0]
    assert (purge.system, purge.versions, purge.sha256s, purge.purged_by, purge.scheduled,
            purge.delete_at) == ("credit", (1,), (SHA_C,), "casey", True, SOON)
    assert not (home / "sensitive" / f"{SHA_C}.parquet").exists()
    entry = _last(store)
    assert (entry.id, entry.action, entry.actor) == (purge.log_entry_id, "purge_sensitive",
                                                     "casey")
    reason = entry.payload["reason"]
    assert reason.startswith("retention schedule") and "2030-01-01" in reason and REASON in reason
    assert entry.payload["retention"] == {"delete_at": SOON.isoformat(), "reason": REASON,
                                          "set_by": "casey"}
    version = store.latest_version("credit")
    assert (version.sensitive_purged_by, version.sensitive_purged_at is not None) == (
        "casey", True)
    assert store.latest_version("hiring").sensitive_purged_at is None
    assert store.retention_purges() == purges
    credit = next(s for s in store.retention_schedules() if s.system == "credit")
    assert credit.purged and credit.purged_at == version.sensitive_purged_at
    assert store.apply_retention(CASEY, now=SOON) == [] and _n_log(store) == n + 1
    assert store.verify_log().ok


def test_data_registered_again_after_a_scheduled_purge_need_a_new_schedule(
        store: Store, home: Path) -> None:
    _register(store)
    past = datetime.now(UTC) - timedelta(days=1)
    store.schedule_sensitive_deletion(CASEY, "credit", delete_at=past, reason=REASON)
    assert len(store.apply_retention(CASEY)) == 1
    (home / "sensitive" / f"{SHA_C}.parquet").write_bytes(b"again")
    _register(store)  # the same data again, after the date: version 2, not covered
    n = _n_log(store)
    assert store.apply_retention(CASEY) == [] and _n_log(store) == n
    assert (home / "sensitive" / f"{SHA_C}.parquet").exists()
    assert _rules(store.retention_check()) == [("sensitive_unscheduled", "credit")]


# -- the check ----------------------------------------------------------------------------


def test_a_clean_store_passes_and_a_naive_now_is_refused(store: Store) -> None:
    check = store.retention_check(now=SOON)
    assert (check.ok, check.violations, check.checked_at) == (True, (), SOON)
    assert check.policy == RetentionPolicy(6, 6, None, None)
    assert RULES == ("sensitive_overdue", "sensitive_unscheduled", "log_broken",
                     "oversight_missing", "policy_below_minimum")
    naive = re.escape(MSG_NAIVE.format(field="now", value="2030-01-01T00:00:00"))
    with pytest.raises(ValueError, match=naive):
        store.apply_retention(CASEY, now=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match=naive):
        store.retention_check(now=datetime(2030, 1, 1))
    assert _n_log(store) == 0


def test_sensitive_data_unscheduled_then_overdue_then_purged(store: Store, home: Path) -> None:
    _register(store)
    _register(store, "bare", SHA_B, sensitive=None)
    check = store.retention_check(now=SOON)
    assert not check.ok and _rules(check) == [("sensitive_unscheduled", "credit")]
    assert "version(s) 1" in check.violations[0].detail
    assert check.violations[0].since == store.latest_version("credit").created_at
    store.schedule_sensitive_deletion(CASEY, "credit", delete_at=SOON, reason=REASON)
    n = _n_log(store)
    assert store.retention_check(now=SOON - timedelta(seconds=1)).ok
    overdue = store.retention_check(now=SOON)
    assert _rules(overdue) == [("sensitive_overdue", "credit")]
    assert overdue.violations[0].since == SOON and "2030-01-01" in overdue.violations[0].detail
    assert _n_log(store) == n  # the check wrote nothing
    store.apply_retention(CASEY, now=SOON)
    assert store.retention_check(now=SOON).ok


def test_an_edited_log_entry_breaks_the_check_until_restored(store: Store, home: Path) -> None:
    _register(store)
    store.schedule_sensitive_deletion(CASEY, "credit", delete_at=SOON, reason=REASON)
    entry = store.log_entries(newest_first=False)[0]
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == entry.id)
                     .values(payload_json={**entry.payload, "name": "edited"}))
    check = store.retention_check(now=SOON - timedelta(days=1))
    assert _rules(check) == [("log_broken", "audit log")] and check.violations[0].since is None
    assert f"entry {entry.id}" in check.violations[0].detail
    with store.engine.begin() as conn:
        conn.execute(update(AuditLog).where(AuditLog.id == entry.id)
                     .values(payload_json=entry.payload))
    assert store.retention_check(now=SOON - timedelta(days=1)).ok


def test_a_policy_under_six_months_written_into_the_database_is_reported(
        store: Store) -> None:
    store.set_retention_policy(CASEY, log_months=6, oversight_months=6)
    with store.engine.begin() as conn:
        conn.execute(update(PanelSetting).where(PanelSetting.key == "retention")
                     .values(value_json={"log_months": 3, "oversight_months": "six"}))
    check = store.retention_check()
    assert _rules(check) == [("policy_below_minimum", "retention policy")] * 2
    assert [v.detail.split(" is ")[0] for v in check.violations] == ["log_months",
                                                                      "oversight_months"]
    assert check.policy.log_months == 3 and check.policy.oversight_months == 0
    store.set_retention_policy(CASEY, log_months=6, oversight_months=6)
    assert store.retention_check().ok


def _oversight_records(store: Store) -> int:
    """A rating, a "cannot tell" answer and an adjudication (of the case no one could
    tell, which went to the panel lead); return that case's id."""
    store.add_user(ADMIN, LEAD.username, Role.PANEL_LEAD)
    ids = add_reviewers(store, 1)
    run_id, (rated, untold) = queue_cases(store, 2)
    reviewer = reviewer_actor(0)
    assign(store, run_id, [(rated, ids[reviewer.username]), (untold, ids[reviewer.username])])
    store.submit_rating(reviewer, rated, label=1, confidence=4, rationale="fine",
                        seconds_spent=3.0, idempotency_key=uuid.uuid4().hex)
    store.cannot_tell(reviewer, untold, reason="income missing")
    store.adjudicate(LEAD, untold, label=0, reason="no income, no loan")
    return untold


def test_oversight_records_the_log_names_but_the_database_lost_are_reported(
        store: Store) -> None:
    untold = _oversight_records(store)
    now = datetime.now(UTC)
    assert store.retention_check(now=now).ok
    tables: tuple[type[Base], ...] = (Rating, CannotTellRow, Adjudication)
    with store.engine.begin() as conn:
        kept = [[dict(r) for r in conn.execute(select(t.__table__)).mappings()] for t in tables]
        for table in tables:
            conn.execute(delete(table))
    check = store.retention_check(now=now)
    rating_id = kept[0][0]["id"]
    assert _rules(check) == [
        ("oversight_missing", f"rating {rating_id}"),
        ("oversight_missing", f"'cannot tell' answer of reviewer {kept[1][0]['reviewer_id']} "
                              f"on case {untold}"),
        ("oversight_missing", f"adjudication of case {untold}")]
    assert "6-month oversight retention period" in check.violations[0].detail
    # Past the oversight period (six months after the records), nothing is reported.
    assert store.retention_check(now=now + timedelta(days=200)).ok
    store.set_retention_policy(CASEY, log_months=6, oversight_months=12)
    assert len(store.retention_check(now=now + timedelta(days=200)).violations) == 3
    with store.engine.begin() as conn:
        for table, rows in zip(tables, kept, strict=True):
            conn.execute(insert(table), rows)
    assert store.retention_check(now=now + timedelta(days=200)).ok
    assert store.verify_log().ok


def test_months_before_keeps_the_day_or_takes_the_last_of_the_month() -> None:
    assert months_before(datetime(2026, 3, 31, 12, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 12, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 6) == datetime(
        2025, 7, 15, tzinfo=UTC)
    assert months_before(datetime(2024, 8, 29, tzinfo=UTC), 6) == datetime(
        2024, 2, 29, tzinfo=UTC)

