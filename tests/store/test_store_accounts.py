"""Account administration: deactivate, reactivate and change roles, with the refusals
(own account, last active admin, wrong role) and what happens to a reviewer's cases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from db_support import ADMIN, row_counts
from panel_support import LEAD, add_reviewers, assign, queue_cases

from audits.roles import MSG_DENIED, Actor, PermissionDenied, Role
from audits.store import Store
from audits.store.accounts import MSG_LAST_ADMIN, MSG_OWN_ACCOUNT, MSG_UNKNOWN_USER
from audits.store.panel import MSG_INACTIVE_REVIEWER

PASSWORD = "correct horse battery"
ADA = Actor("ada", Role.ADMIN)


@pytest.fixture
def admins(store: Store) -> Store:
    """A store with two admins (root_admin, ada) and a reviewer rita, all with passwords."""
    store.add_user(Actor.system(), "root_admin", Role.ADMIN, password=PASSWORD)
    store.add_user(Actor.system(), "ada", Role.ADMIN, password=PASSWORD)
    store.add_user(Actor.system(), "rita", Role.REVIEWER, password=PASSWORD)
    return store


def test_deactivate_then_reactivate_restores_sign_in(admins: Store) -> None:
    assert admins.deactivate_user(ADMIN, "rita") == 0
    assert admins.authenticate("rita", PASSWORD) is None
    assert admins.log_entries(limit=1)[0].payload == {"username": "rita",
                                                      "reason": "inactive"}
    admins.reactivate_user(ADMIN, "rita")
    assert admins.get_user("rita").active
    assert admins.authenticate("rita", PASSWORD) is not None
    actions = [(e.actor, e.action, e.payload) for e in admins.log_entries()
               if e.action.endswith("activate_user")]
    assert actions == [("root_admin", "reactivate_user", {"username": "rita"}),
                       ("root_admin", "deactivate_user", {"username": "rita"})]
    assert admins.verify_log().ok


def test_reactivating_an_active_user_writes_nothing(admins: Store) -> None:
    before = row_counts(admins)
    admins.reactivate_user(ADMIN, "rita")
    assert row_counts(admins) == before


def test_set_role_changes_and_logs_old_and_new(admins: Store) -> None:
    assert admins.set_role(ADMIN, "rita", "panel lead") == 0
    assert admins.get_user("rita").role is Role.PANEL_LEAD
    entry = admins.log_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.entity) == ("root_admin", "set_role", "user")
    assert entry.payload == {"username": "rita", "old_role": "reviewer",
                             "new_role": "panel_lead"}
    before = row_counts(admins)
    admins.set_role(ADMIN, "rita", Role.PANEL_LEAD)  # unchanged: nothing written
    assert row_counts(admins) == before


@pytest.mark.parametrize(("call", "action"), [
    (lambda s: s.deactivate_user(ADA, "ada"), "deactivate"),
    (lambda s: s.set_role(ADA, "ada", Role.REVIEWER), "change the role of"),
    (lambda s: s.set_role(ADA, "ADA", Role.REVIEWER), "change the role of"),
])
def test_own_account_is_refused(admins: Store, call: Callable[[Store], object],
                                action: str) -> None:
    before = row_counts(admins)
    with pytest.raises(PermissionDenied) as refused:
        call(admins)
    assert str(refused.value) == MSG_OWN_ACCOUNT.format(actor="ada", action=action)
    assert row_counts(admins) == before
    assert admins.get_user("ada").role is Role.ADMIN and admins.get_user("ada").active


def test_the_last_active_admin_is_never_removed(admins: Store) -> None:
    admins.deactivate_user(ADA, "root_admin")  # ada stays: allowed
    before = row_counts(admins)
    for call, change in [(lambda: admins.deactivate_user(Actor.system(), "ada"),
                          "deactivating them"),
                         (lambda: admins.set_role(Actor.system(), "ada", "reviewer"),
                          "making them a reviewer")]:
        with pytest.raises(ValueError) as refused:
            call()
        assert str(refused.value) == MSG_LAST_ADMIN.format(username="ada", change=change)
    assert row_counts(admins) == before
    admins.reactivate_user(ADA, "root_admin")
    admins.set_role(ADMIN, "ada", Role.REVIEWER)  # root_admin is active again: allowed
    assert admins.get_user("ada").role is Role.REVIEWER


def test_an_inactive_admin_does_not_count(admins: Store) -> None:
    admins.set_role(ADMIN, "ada", Role.DATA_SCIENTIST)
    with pytest.raises(ValueError, match="last active admin"):
        admins.set_role(Actor.system(), "root_admin", Role.PANEL_LEAD)


@pytest.mark.parametrize("actor", [LEAD, Actor("rita", Role.REVIEWER),
                                   Actor("casey", Role.COMPLIANCE_OFFICER)])
def test_wrong_role_is_refused_with_the_usual_message(admins: Store, actor: Actor) -> None:
    expected = MSG_DENIED.format(actor=actor.username, role=actor.role.value,
                                 action="manage users", allowed="admin")
    before = row_counts(admins)
    for call in (lambda: admins.deactivate_user(actor, "ada"),
                 lambda: admins.reactivate_user(actor, "ada"),
                 lambda: admins.set_role(actor, "ada", Role.REVIEWER),
                 lambda: admins.set_password(actor, "ada", "hijacked passphrase")):
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert str(refused.value) == expected
    assert row_counts(admins) == before


def test_unknown_users_and_roles(admins: Store) -> None:
    for call in (lambda: admins.reactivate_user(ADMIN, "ghost"),
                 lambda: admins.set_role(ADMIN, "ghost", Role.ADMIN)):
        with pytest.raises(LookupError, match=MSG_UNKNOWN_USER.format(username="ghost")):
            call()
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        admins.set_role(ADMIN, "rita", "boss")


def test_deactivating_a_reviewer_withdraws_their_open_cases_only(store: Store) -> None:
    ids = add_reviewers(store, 2)
    run_id, cases = queue_cases(store, 4)
    first, second = ids["reviewer00"], ids["reviewer01"]
    assign(store, run_id, [(cases[0], first), (cases[1], first), (cases[2], second)])
    store.submit_rating(Actor("reviewer00", Role.REVIEWER), cases[0], label=1,
                        confidence=3, rationale="fine", seconds_spent=5.0,
                        idempotency_key="k" * 32)
    assert store.deactivate_user(ADMIN, "reviewer00") == 1
    table = {(a["case_id"], a["reviewer_id"]): a["status"]
             for a in store.assignment_table(LEAD, run_id)}
    assert table == {(cases[0], first): "rated", (cases[1], first): "withdrawn",
                     (cases[2], second): "open"}
    panel = {r.username: r for r in store.list_reviewers(LEAD)}
    assert not panel["reviewer00"].available and panel["reviewer01"].available
    entry = store.log_entries(limit=1)[0]
    # A count, never which cases: the entry is readable by compliance officers.
    assert entry.payload == {"username": "reviewer00", "withdrawn_assignments": 1}
    store.reactivate_user(ADMIN, "reviewer00")
    assert not {r.username: r for r in store.list_reviewers(LEAD)}["reviewer00"].available


def test_a_reviewer_given_another_role_leaves_their_open_cases(store: Store) -> None:
    ids = add_reviewers(store, 1)
    run_id, cases = queue_cases(store, 2)
    assign(store, run_id, [(cases[0], ids["reviewer00"]), (cases[1], ids["reviewer00"])])
    assert store.set_role(ADMIN, "reviewer00", Role.PANEL_LEAD) == 2
    statuses = {a["status"] for a in store.assignment_table(LEAD, run_id)}
    assert statuses == {"withdrawn"}
    assert store.log_entries(limit=1)[0].payload["withdrawn_assignments"] == 2


def test_a_deactivated_reviewer_cannot_be_made_available(store: Store) -> None:
    add_reviewers(store, 1)
    store.deactivate_user(ADMIN, "reviewer00")
    before = row_counts(store)
    with pytest.raises(ValueError) as refused:
        store.set_reviewer_available(LEAD, "reviewer00", True)
    assert str(refused.value) == MSG_INACTIVE_REVIEWER.format(username="reviewer00")
    assert row_counts(store) == before
    store.set_reviewer_available(LEAD, "reviewer00", False)  # off stays allowed
    store.reactivate_user(ADMIN, "reviewer00")
    store.set_reviewer_available(LEAD, "reviewer00", True)
    assert {r.username: r for r in store.list_reviewers(LEAD)}["reviewer00"].available
