"""Audit log: the hash-chained log filtered by actor, action, object and time, a page at
a time, and a check of the chain.

The entries come from :func:`audits.store.log.search_log`, which filters and pages in
the database query and applies the panel's privacy rule in the engine: panel leads and
admins read every entry whole; everyone else (compliance officers) reads the entries of
individual ratings and reviewer backgrounds redacted, and the ratings only as counts of
5 or more (:meth:`Store.log_activity`).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from app import auth, loaders, state
from app.formatting import plain, short_hash
from app.state import SignedInUser
from audits.roles import PERMISSIONS
from audits.store import LogEntryRecord, Store
from audits.store.log import LogFilter
from audits.store.log_search import log_facets, search_log
from audits.store.privacy import LogActivity

PAGE = "app_pages/audit_log.py"
ANY = "(any)"
PAGE_SIZES = [25, 50, 100, 500]
KEY_PAGE = "audit_log.page"
KEY_SIZE = "audit_log.page_size"
#: The filters and page size the page number belongs to.
KEY_SEEN = "audit_log.seen_filter"
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
    log_filter = _filters(store, user)
    if log_filter is None:
        return
    pager, sizes, _ = st.columns([1, 1, 3], vertical_alignment="bottom")
    size = int(sizes.selectbox("Entries per page", PAGE_SIZES, index=1, key=KEY_SIZE))
    found = search_log(store.engine, user.actor, log_filter,
                       page=_page_number(log_filter, size), page_size=size)
    if found.page > found.n_pages:
        state.preselect(KEY_PAGE, found.n_pages)
    pager.number_input(f"Page (of {found.n_pages:,})", min_value=1, max_value=found.n_pages,
                       key=KEY_PAGE)
    if found.total == 0:
        st.info("No entry matches these filters." if log_filter != LogFilter()
                else "The log is empty.")
    else:
        first = (found.page - 1) * found.page_size + 1
        st.caption(f"Entries {first:,} to {first + len(found.entries) - 1:,} of "
                   f"{found.total:,} matching, newest first.")
        st.dataframe(_table(list(found.entries)), hide_index=True, width="stretch",
                     key="audit_log.table")
    st.subheader("Activity")
    st.dataframe(_activity(store.log_activity(user.actor)), hide_index=True,
                 key="audit_log.activity")


def _filters(store: Store, user: SignedInUser) -> LogFilter | None:
    """Draw the filters; return what they select, or None after showing what is wrong."""
    facets = log_facets(store.engine, user.actor)
    a, b, c, d = st.columns(4)
    actor = a.selectbox("Actor", [ANY, *facets.actors], key="audit_log.filter.actor")
    action = b.selectbox("Action", [ANY, *facets.actions], key="audit_log.filter.action")
    entity = c.selectbox("Object", [ANY, *facets.entities], key="audit_log.filter.entity")
    entity_id = d.text_input("Object id", key="audit_log.filter.entity_id",
                             placeholder="e.g. 42").strip()
    today = datetime.now(UTC).date()
    days = st.date_input("Written between (UTC dates, inclusive)", value=(), max_value=today,
                         key="audit_log.filter.days", format="YYYY-MM-DD")
    since, until = _range(days)
    try:
        return LogFilter(actor=None if actor == ANY else actor,
                         action=None if action == ANY else action,
                         entity=None if entity == ANY else entity,
                         entity_id=entity_id or None, since=since, until=until)
    except ValueError as error:
        st.error(f"Filter not applied: {plain(error)}")
        return None


def _range(days: object) -> tuple[datetime | None, datetime | None]:
    chosen = [d for d in (days if isinstance(days, (list, tuple)) else [days])
              if isinstance(d, date)]
    if not chosen:
        return None, None
    start = datetime.combine(min(chosen), time.min, tzinfo=UTC)
    end = datetime.combine(max(chosen), time.min, tzinfo=UTC) + timedelta(days=1)
    return start, end


def _page_number(log_filter: LogFilter, size: int) -> int:
    """The page asked for, back to 1 whenever the filters or the page size change."""
    if state.recall(KEY_SEEN) != (log_filter, size):
        state.remember(KEY_SEEN, (log_filter, size))
        state.preselect(KEY_PAGE, 1)
        return 1
    return int(state.recall(KEY_PAGE) or 1)


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
