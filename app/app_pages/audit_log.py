"""Audit log: the newest entries of the hash-chained log, and a check of the chain.

The entries come from :meth:`~audits.store.Store.read_log`, which applies the panel's
privacy rule in the engine: panel leads and admins read every entry whole; everyone else
(compliance officers) reads the entries of individual ratings and reviewer backgrounds
redacted, and the ratings only as counts of 5 or more (:meth:`Store.log_activity`).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import auth, loaders
from app.formatting import plain, short_hash
from audits.roles import PERMISSIONS
from audits.store import LogEntryRecord
from audits.store.privacy import LogActivity

PAGE = "app_pages/audit_log.py"
REDACTED_NOTE = (
    "Entries of individual ratings and reviewer backgrounds are shown without who, what "
    "or which reviewer (the panel's privacy rule: those are for panel leads and admins); "
    "their hashes still chain. Ratings are counted below where 5 or more share a label."
)


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Audit log")
    st.caption("Every change and sign-in is appended to a hash chain: each entry's hash "
               "covers its contents and the previous entry's hash, so an edit, a deletion "
               "or a truncation shows up when the chain is verified.")
    last_id, last_hash = store.log_head()
    a, b, c = st.columns([1, 2, 1], vertical_alignment="bottom")
    a.metric("Entries", f"{last_id:,}")
    b.markdown(f"**Head hash** `{last_hash}`")
    verify = c.button("Verify chain", key="audit_log.verify", type="primary",
                      icon=":material/verified:")
    if verify:
        result = store.verify_log()
        if result.ok:
            st.success(f"Chain intact: every one of the {result.n_entries} entries verified.")
        else:
            st.error(f"Chain broken at entry {result.first_bad_id}: {plain(result.reason)}")
    full = user.role in PERMISSIONS["read every rating"]
    if not full:
        st.info(REDACTED_NOTE, icon=":material/visibility_off:")
    limit = st.number_input("Show the newest", min_value=10, max_value=10_000, value=200,
                            step=50, key="audit_log.limit")
    entries = store.read_log(user.actor, limit=int(limit))
    if not entries:
        st.info("The log is empty.")
        return
    st.dataframe(_table(entries), hide_index=True, width="stretch", key="audit_log.table")
    st.subheader("Activity")
    st.dataframe(_activity(store.log_activity(user.actor)), hide_index=True,
                 key="audit_log.activity")


def _table(entries: list[LogEntryRecord]) -> pd.DataFrame:
    return pd.DataFrame([
        {"id": e.id, "ts": e.ts, "actor": e.actor, "action": e.action, "entity": e.entity,
         "entity_id": e.entity_id, "hash": short_hash(e.hash),
         "prev_hash": short_hash(e.prev_hash),
         "payload": json.dumps(e.payload, sort_keys=True)}
        for e in entries
    ])


def _activity(rows: list[LogActivity]) -> pd.DataFrame:
    def labels(row: LogActivity) -> str:
        return ", ".join(f"label {label}: {'fewer than 5' if n is None else f'{n:,}'}"
                         for label, n in row.labels.items())

    return pd.DataFrame([{"action": r.action, "entries": r.entries, "ratings by label":
                          labels(r)} for r in rows])


render()
