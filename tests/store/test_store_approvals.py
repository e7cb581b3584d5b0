"""The one approver check behind every decision on someone else's work, on each path.

Four paths change a status by a person's decision: approving or rejecting a candidate
model, approving or returning a submitted report. Each is tried with every kind of
wrong decider (a system actor, a name not in the store, a deactivated user, another
spelling of a user, a role the store does not give, the work's author and a case
variant of the author's name) and refused with the reason named and nothing written;
then the right person succeeds and the log entry records who decided and how they were
authenticated. Runs on SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as PathLib
from typing import Any

import pytest
from db_support import REVIEWER, SCIENTIST, add_dataset, row_counts

from audits.reports.stored import approve as approve_report
from audits.roles import Actor, Authentication, PermissionDenied, Role
from audits.store import Store
from audits.store.approvals import (
    MSG_INACTIVE_USER,
    MSG_NOT_A_PERSON,
    MSG_OTHER_SPELLING,
    MSG_UNKNOWN_USER,
)
from audits.store.log import canonical_json
from audits.store.reports import MSG_SELF_APPROVAL as MSG_SELF_APPROVED_REPORT
from audits.store.versions import MSG_SELF_APPROVAL as MSG_SELF_APPROVED_MODEL

ADA = Actor("ada", Role.ADMIN)  # ran the audit and trained the candidate
CASEY = Actor("casey", Role.COMPLIANCE_OFFICER)  # the independent approver
ROOT = Actor("root_admin", Role.ADMIN)
SESSION = Authentication("session", "dashboard", asserted="casey")


@dataclass(frozen=True)
class Path:
    """One decision path: how to prepare the work, decide on it, and read its status."""

    name: str
    permission: str
    prepare: Callable[[Store], int]
    decide: Callable[[Store, Actor, int, Authentication | None], Any]
    status: Callable[[Store, int], str]
    decided: str
    independent: bool  # whether the work's author is refused (approvals) or not


@pytest.fixture(autouse=True)
def _deployment_home(tmp_path: PathLib, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports are signed with this test's own deployment key."""
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))


def _candidate(store: Store) -> int:
    common: dict[str, Any] = {"dataset_id": add_dataset(store), "kind": "logistic_regression",
                              "path": "m.skops", "params": {}, "metrics": {},
                              "feature_names": ["age"], "split": {}}
    n = len(store.list_models())  # a fresh file hash per family
    root = store.record_model(SCIENTIST, sha256=f"{n + 1:064x}", **common)
    return store.record_model(ADA, sha256=f"{n + 2:064x}", parent_id=root.id, **common).id


def _submitted_report(store: Store, *, submitter: Actor = SCIENTIST) -> int:
    """A report of a run by ada, drafted by dana, submitted by ``submitter``."""
    run = store.create_audit_run(ADA, dataset_id=add_dataset(store), model_id=None, config={})
    store.finish_audit_run(ADA, run.id, results={"rows": 10})
    body = {"title": "Audit"}
    sha = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    draft = store.create_report(SCIENTIST, run.id, body=body, body_sha256=sha,
                                generated_at="2026-11-26T03:00:00+00:00")
    return store.submit_report(submitter, draft.id).id


def _model_status(store: Store, key: int) -> str:
    model = store.get_model(key)
    assert model is not None
    return model.status


def _report_status(store: Store, key: int) -> str:
    report = store.get_report(key)
    assert report is not None
    return report.status


PATHS = [
    Path("approve_model", "approve a model", _candidate,
         lambda s, a, k, how: s.approve_model(a, k, note="fairer", authentication=how),
         _model_status, "deployed", True),
    Path("reject_model", "approve a model", _candidate,
         lambda s, a, k, how: s.reject_model(a, k, "less accurate", authentication=how),
         _model_status, "rejected", False),
    Path("approve_report", "approve a report", _submitted_report,
         lambda s, a, k, how: approve_report(s, a, k, note="checked",
                                             authentication=how),
         _report_status, "approved", True),
    Path("return_report", "approve a report", _submitted_report,
         lambda s, a, k, how: s.return_report(a, k, comment="cite the card",
                                              authentication=how),
         _report_status, "returned", False),
]
IDS = [p.name for p in PATHS]


def _people(store: Store) -> None:
    for actor in (ADA, CASEY, ROOT, SCIENTIST, REVIEWER):
        store.add_user(Actor.system(), actor.username, actor.role)
    store.add_user(Actor.system(), "anonymous", Role.ADMIN)  # a real account, a system name


def _wrong_deciders(path: Path, key: int, run_id: int | None) -> list[tuple[Actor, str]]:
    """Every kind of wrong decider for ``path`` and the exact refusal each gets."""
    action = path.permission
    cases = [(actor, MSG_NOT_A_PERSON.format(actor=actor.username, action=action))
             for actor in (Actor.system(), Actor("system:monitor", Role.ADMIN),
                           Actor("anonymous", Role.ADMIN))]
    cases += [
        (Actor("mallory", Role.COMPLIANCE_OFFICER),
         MSG_UNKNOWN_USER.format(actor="mallory", action=action)),
        (Actor("CASEY", Role.COMPLIANCE_OFFICER),
         MSG_OTHER_SPELLING.format(actor="CASEY", stored="casey", action=action)),
        # Claims a role the store does not give rita.
        (Actor(REVIEWER.username, Role.COMPLIANCE_OFFICER),
         f"rita (role reviewer) may not {action}; allowed roles: admin, compliance_officer"),
    ]
    if not path.independent:
        return cases
    for name in ("ada", "ADA", "Ada"):  # the author, under any case
        if path.name == "approve_model":
            refusal = MSG_SELF_APPROVED_MODEL.format(actor=name, id=key)
        else:
            refusal = MSG_SELF_APPROVED_REPORT.format(actor=name, did=f"ran audit run {run_id}",
                                                      id=key)
        if name != "ada":
            refusal += f" ({name!r} and 'ada' are one account: usernames compare ignoring case)"
        cases.append((Actor(name, Role.ADMIN), refusal))
    return cases


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_wrong_decider_is_refused_with_its_reason(store: Store, path: Path) -> None:
    _people(store)
    key = path.prepare(store)
    report = store.get_report(key) if path.name.endswith("report") else None
    run_id = None if report is None else report.audit_run_id
    cases = _wrong_deciders(path, key, run_id)
    store.add_user(Actor.system(), "olga", Role.COMPLIANCE_OFFICER)
    store.deactivate_user(Actor.system(), "olga")
    cases.append((Actor("olga", Role.COMPLIANCE_OFFICER),
                  MSG_INACTIVE_USER.format(actor="olga", action=path.permission)))
    before, head = row_counts(store), store.log_head()
    for actor, message in cases:
        with pytest.raises(PermissionDenied) as info:
            path.decide(store, actor, key, SESSION)
        assert str(info.value) == message, actor
    assert (row_counts(store), store.log_head()) == (before, head)
    assert path.status(store, key) in {"candidate", "submitted"}
    assert path.decide(store, CASEY, key, SESSION).status == path.decided


def _entry(store: Store, path: Path) -> Any:
    return next(e for e in store.log_entries() if e.action == path.name)


def test_who_drafted_or_submitted_a_report_never_approves_it(store: Store) -> None:
    _people(store)
    # Submitted by an admin on the author's behalf: the submitter is an author too.
    key = _submitted_report(store, submitter=ROOT)
    with pytest.raises(PermissionDenied) as info:
        approve_report(store, Actor("ROOT_ADMIN", Role.ADMIN), key)
    assert str(info.value).startswith(MSG_SELF_APPROVED_REPORT.format(
        actor="ROOT_ADMIN", did="submitted this report", id=key))
    # The drafter, even claiming a role that could approve: refused as the drafter.
    with pytest.raises(PermissionDenied, match="dana drafted this report"):
        approve_report(store, Actor("dana", Role.ADMIN), key)
    assert _report_status(store, key) == "submitted"
    assert approve_report(store, CASEY, key).status == "approved"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_the_right_person_decides_and_the_log_says_how_they_were_authenticated(
        store: Store, path: Path) -> None:
    _people(store)
    first, second = path.prepare(store), path.prepare(store)
    how = Authentication("password", "cli", asserted="casey", os_user="ops")
    done = path.decide(store, CASEY, first, how)
    assert (done.status, done.decided_by) == (path.decided, "casey")
    entry = _entry(store, path)
    assert (entry.actor, entry.entity_id) == ("casey", str(first))
    assert entry.payload["authentication"] == {"authenticated_by": "password", "via": "cli",
                                               "asserted_user": "casey", "os_user": "ops"}
    # A library call that states nothing is recorded as authenticated by nobody.
    path.decide(store, CASEY, second, None)
    assert _entry(store, path).payload["authentication"] == {
        "authenticated_by": "none", "via": "python", "asserted_user": None, "os_user": None}
    if not path.independent:
        # Rejecting or returning is no sign-off: an admin author may take their work back.
        assert path.decide(store, ADA, path.prepare(store), SESSION).status == path.decided
    assert store.verify_log().ok


def test_authentication_must_be_an_authentication(store: Store) -> None:
    _people(store)
    key = _candidate(store)
    before = row_counts(store)
    for bad in (Authentication, "password", {"authenticated_by": "password"}):
        with pytest.raises(TypeError, match="authentication must be an audits.roles."
                                            "Authentication or None"):
            store.approve_model(CASEY, key, authentication=bad)  # type: ignore[arg-type]
    assert row_counts(store) == before


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "magic", "via": "cli"}, "authentication method must be one of"),
    ({"method": "password", "via": "fax"}, "authentication via must be one of"),
    ({"method": "password", "via": "cli", "asserted": ""}, "authentication asserted must"),
    ({"method": "password", "via": "cli", "os_user": "x" * 201}, "authentication os_user"),
])
def test_an_authentication_names_a_known_method_and_channel(kwargs: dict[str, Any],
                                                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Authentication(**kwargs)
