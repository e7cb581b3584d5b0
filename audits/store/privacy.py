"""The audit log as each role may read it: whole for panel leads and admins, with
individual ratings and reviewer backgrounds removed for everyone else.

The panel's promise (the same rule the pages follow): who rated what, and any reviewer's
background, only for those who may "read every rating"; everyone else gets aggregates
over at least :data:`~audits.store.panel.MIN_AGGREGATE` entries. The log holds both (a
rating entry names its reviewer, their label and their reviewer id; a background entry
links a reviewer id to a name), so a reader without that permission gets each such entry
with its actor replaced by ``"reviewer"``, its payload replaced by ``{"redacted": ...}``
and, for entries about a reviewer, no entity id; the accounts of reviewers are listed
without their names. Nothing is left to join with
:meth:`~audits.store.Store.background_groups` or the ratings' reviewer ids. Hashes are
kept, so the chain can still be followed; :meth:`~audits.store.Store.verify_log` checks
it without returning data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from audits.roles import PERMISSIONS, Actor, require_role
from audits.store.base import StoreBase
from audits.store.panel import MIN_AGGREGATE
from audits.store.records import LogEntryRecord
from audits.store.tables import AuditLog
from audits.store.validation import check_actor

__all__ = ["LogActivity", "LogReadOps", "PRIVATE_ACTIONS", "REDACTED"]

#: Actions whose entries carry an individual rating, a background or a reviewer's link
#: to cases; redacted for readers without "read every rating".
PRIVATE_ACTIONS = frozenset({
    "rating_created", "rating_updated", "report_background", "withdraw_background",
    "record_assignments", "withdraw_assignments", "add_exclusion", "add_reviewer",
    "set_reviewer_available",
})
#: Of those, the ones the reviewer themself may write (their name is the actor).
_REVIEWER_ACTIONS = frozenset({"rating_created", "rating_updated", "report_background",
                               "withdraw_background"})
REDACTED = "individual ratings and reviewer backgrounds are shown to panel leads and admins"


@dataclass(frozen=True)
class LogActivity:
    """How many log entries of one action, and for ratings the labels given.

    ``labels`` counts ratings per label, None for a label given fewer than
    :data:`~audits.store.panel.MIN_AGGREGATE` times (and {} for other actions).
    """

    action: str
    entries: int
    labels: dict[int, int | None]


class LogReadOps(StoreBase):
    """The role-checked reads of the audit log of :class:`~audits.store.Store`."""

    def read_log(self, actor: Actor, *, limit: int | None = None,
                 newest_first: bool = True) -> list[LogEntryRecord]:
        """Return log entries as ``actor`` may read them (requires "read the audit log").

        Panel leads and admins get every entry whole; other roles get the entries of
        :data:`PRIVATE_ACTIONS` redacted (see the module docstring).

        Examples
        --------
        >>> from audits.roles import Role
        >>> from audits.store import Store
        >>> with Store("sqlite://") as store:
        ...     _ = store.add_user(Actor.system(), "ada", "admin")
        ...     [e.action for e in store.read_log(Actor("casey", Role.COMPLIANCE_OFFICER))]
        ['pin_signing_key', 'add_user']
        """
        require_role(check_actor(actor), "read the audit log")
        entries = self.log_entries(limit=limit, newest_first=newest_first)
        if actor.role in PERMISSIONS["read every rating"]:
            return entries
        return [redact(e) for e in entries]

    def log_activity(self, actor: Actor) -> list[LogActivity]:
        """Return entries per action, with rating labels counted in groups of 5 or more.

        Requires "read the audit log". An aggregate for every reader: a label given fewer
        than :data:`~audits.store.panel.MIN_AGGREGATE` times is None.
        """
        require_role(check_actor(actor), "read the audit log")
        with self._read() as session:
            rows = session.execute(select(AuditLog.action, AuditLog.payload_json)).all()
        entries = Counter(action for action, _ in rows)
        labels: dict[str, Counter[int]] = {}
        for action, payload in rows:
            if action.startswith("rating_") and isinstance(payload, dict) \
                    and isinstance(payload.get("label"), int):
                labels.setdefault(action, Counter())[payload["label"]] += 1
        return [LogActivity(action, n, {label: (k if k >= MIN_AGGREGATE else None)
                                        for label, k in sorted(labels.get(action, {}).items())})
                for action, n in sorted(entries.items())]


def redact(entry: LogEntryRecord) -> LogEntryRecord:
    """Return ``entry`` without what ties a reviewer to a rating or a background."""
    # Who joined as a reviewer, in order, would map the redacted reviewer ids to names.
    reviewer_account = entry.action == "add_user" and entry.payload.get("role") == "reviewer"
    if entry.action not in PRIVATE_ACTIONS and not reviewer_account:
        return entry
    payload: dict[str, Any] = {"redacted": REDACTED}
    if entry.action == "record_assignments":
        payload["n_assignments"] = len(entry.payload.get("assignments", []))
    actor = "reviewer" if entry.action in _REVIEWER_ACTIONS else entry.actor
    entity_id = entry.entity_id if entry.entity in ("case", "audit_run") else None
    return replace(entry, actor=actor, entity_id=entity_id, payload=payload)
