"""Audit log: the newest entries of the hash-chained log, and a check of the chain."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import auth, loaders
from app.formatting import short_hash
from audits.store import LogEntryRecord

PAGE = "app_pages/audit_log.py"


def render() -> None:
    """Draw the page."""
    auth.require_page(PAGE)
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
            st.error(f"Chain broken at entry {result.first_bad_id}: {result.reason}")
    limit = st.number_input("Show the newest", min_value=10, max_value=10_000, value=200,
                            step=50, key="audit_log.limit")
    entries = store.log_entries(limit=int(limit))
    if not entries:
        st.info("The log is empty.")
        return
    st.dataframe(_table(entries), hide_index=True, width="stretch", key="audit_log.table")


def _table(entries: list[LogEntryRecord]) -> pd.DataFrame:
    return pd.DataFrame([
        {"id": e.id, "ts": e.ts, "actor": e.actor, "action": e.action, "entity": e.entity,
         "entity_id": e.entity_id, "hash": short_hash(e.hash),
         "prev_hash": short_hash(e.prev_hash),
         "payload": json.dumps(e.payload, sort_keys=True)}
        for e in entries
    ])


render()
