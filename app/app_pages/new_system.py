"""New system: register an organisation's own decisions (and model), then audit them.

For data scientists and admins. The decisions come from an uploaded file, a file or glob
of Parquet files on the server, or a SQL table or query; the page previews them, suggests
what each column is for (:func:`audits.systems.mapping.suggest_mapping`), and registers
them with :func:`audits.systems.registry.register_system` (one transaction: a bad input
stores nothing), then runs the first audit with
:func:`audits.fairness.stored.run_fairness_audit`. Every check and number is the engine's;
this page only lays them out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import streamlit as st

from app import auth, fairness_tables, loaders, state
from app.formatting import plain
from app.state import SignedInUser
from audits.roles import PermissionDenied
from audits.store import Store
from audits.systems.card import column_summary
from audits.systems.mapping import suggest_mapping
from audits.systems.sources import DataSource, read_source

PAGE = "app_pages/new_system.py"
FAIRNESS_PAGE = "app_pages/fairness.py"
KEY_TABLE = "new_system.table"
KEY_SOURCE = "new_system.source"
#: Upload limit in megabytes (``FAIRPANEL_MAX_UPLOAD_MB``): given to each uploader (it
#: overrides Streamlit's ``server.maxUploadSize``), checked again on the server, and
#: passed to the engine as ``max_bytes`` for every other source.
ENV_MAX_UPLOAD = "FAIRPANEL_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 200
SOURCES = ("Upload a file", "A file or Parquet glob on the server", "A SQL database")
DECISION_KINDS = ("A logged decision column", "A score and a threshold",
                  "None: the uploaded model decides")
NONE = "(none)"
MSG_BAD_LIMIT = "{env} must be a positive number of megabytes; got {value!r}"
MSG_TOO_BIG = "{name} is {size:,.1f} MB, over this deployment's {limit} MB upload limit"
MSG_NO_SOURCE = "Give the decisions first: upload a file, name a path, or a SQL source."
MSG_READ_FAILED = "Could not read the decisions: {error}"
MSG_FAILED = "Nothing was registered: {error}"
MSG_AUDIT_FAILED = "The system was registered, but its first audit failed: {error}"
MSG_NEED_NAME = "Give the system a name."


MSG_CHAT_NEEDS = "Give the system's name and a conversation log (uploaded or on the server)."
CONVERSATIONS_PAGE = "app_pages/conversations.py"


def max_upload_mb() -> int:
    """The upload limit in megabytes (``FAIRPANEL_MAX_UPLOAD_MB``, default 200)."""
    raw = os.environ.get(ENV_MAX_UPLOAD, str(DEFAULT_MAX_UPLOAD_MB))
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(MSG_BAD_LIMIT.format(env=ENV_MAX_UPLOAD, value=raw))
    return value


def render() -> None:
    """Draw the page."""
    user = auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("New system")
    st.caption("Register your own decisions — and, optionally, your model — then run the "
               "first audit. The data are copied once into the store as Parquet with their "
               "sha256; sensitive data given as a separate file are stored apart and can "
               "be purged later.")
    _register(store, user)
    _conversations(store, user)
    # Below the page's main job: fixing an existing system's description (e.g. for a
    # report returned with "add the intended use") needs no new version.
    _edit_existing(store, user)


def _register(store: Store, user: SignedInUser) -> None:
    limit = max_upload_mb()
    source, uploads = _source(limit)
    table = _read(source, limit)
    if table is None:
        return
    _preview(table)
    settings = _mapping_form(table, limit)
    if settings is None:
        return
    _register_and_audit(store, user, source, uploads, settings, limit)


def _conversations(store: Store, user: SignedInUser) -> None:
    """Register a chatbot's conversation log as a system, or add a batch to one."""
    with st.expander("A chatbot's conversations instead (JSON Lines or Parquet)",
                     icon=":material/forum:"):
        st.caption("One record per conversation: its turns, the bot's signals, the "
                   "outcome, the user's attributes (demographics only with consent) and an "
                   "LLM judge's scores (the format: README, \"Conversations\"). A name "
                   "already registered gets a new version with the batch's new "
                   "conversations. Then build its review queue on the Conversations page (or with "
                   "`fairpanel conversations queue NAME`).")
        with st.form("new_system.chat", border=False):
            name = st.text_input("System name", key="new_system.chat.name",
                                 placeholder="e.g. helpdesk")
            log = st.file_uploader("Conversation log", type=["jsonl", "parquet"],
                                   key="new_system.chat.log")
            path = st.text_input("Or a file on the server", key="new_system.chat.path")
            sent = st.form_submit_button("Register the conversations", icon=":material/upload:",
                                         key="new_system.chat.submit")
        if not sent:
            return
        if not name.strip() or (log is None and not path.strip()):
            st.error(MSG_CHAT_NEEDS)
            return
        _register_conversations(store, user, name.strip(), log, path.strip())


def _register_conversations(store: Store, user: SignedInUser, name: str, log: Any,
                            path: str) -> None:
    from audits.conversations.stored import load_conversations, register_conversations

    bar = st.progress(0.0, text="Reading the conversations")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    with tempfile.TemporaryDirectory(prefix="fairpanel-chat-") as folder:
        source = _saved(log, folder) if log is not None else path
        try:
            version = register_conversations(
                store, user.actor, name, Path(str(source)), progress=progress,
                source=_uploaded(log) if log is not None else f"file {Path(path).name}")
            held = len(load_conversations(store, user.actor, version))
        except (PermissionDenied, ValueError, LookupError, OSError) as error:
            st.error(MSG_FAILED.format(error=plain(error)))
            return
        finally:
            bar.empty()
    st.success(f"Conversation system {plain(name)} version {version.version}: "
               f"{held:,} conversations, sha256 {version.sha256[:16]}…")
    st.page_link(CONVERSATIONS_PAGE, label="Open it on the Conversations page",
                 icon=":material/forum:")


def _edit_existing(store: Store, user: SignedInUser) -> None:
    """Edit what an existing system is for, without registering a new version."""
    systems = {s.name: s for s in store.list_systems()}
    if not systems:
        return
    with st.expander("Edit an existing system's intended use and description",
                     icon=":material/edit:"):
        st.caption("For a report returned with \"add the intended use\": the text is saved "
                   "on the system (logged with the old and the new text); draft the report "
                   "again to carry it. No new version is registered.")
        name = st.selectbox("System", list(systems), key="new_system.edit.system")
        system = systems[str(name)]
        with st.form("new_system.edit", border=False):
            intended = st.text_area("Intended use", value=system.intended_use,
                                    key=f"new_system.edit.intended_use.{system.name}")
            description = st.text_area("Description", value=system.description,
                                       key=f"new_system.edit.description.{system.name}")
            saved = st.form_submit_button("Save", icon=":material/save:",
                                          key="new_system.edit.save")
        if not saved:
            return
        try:
            store.describe_system(user.actor, system.name, intended_use=intended,
                                  description=description)
        except (PermissionDenied, ValueError, LookupError, TypeError) as error:
            st.error(f"Not saved: {plain(error)}")
            return
        st.success(f"Saved the intended use and description of {plain(system.name)}.")


def _source(limit: int) -> tuple[DataSource | None, dict[str, Any]]:
    """Where the decisions are; uploads are kept in memory until registration."""
    kind = st.radio("Where are the decisions?", SOURCES, horizontal=True,
                    key="new_system.kind")
    uploads: dict[str, Any] = {}
    if kind == SOURCES[0]:
        file = st.file_uploader(f"Decisions file (CSV, CSV.gz or Parquet; up to {limit} MB)",
                                type=["csv", "gz", "parquet"], key="new_system.upload",
                                max_upload_size=limit)
        if file is None:
            return None, uploads
        if file.size > limit * 1024 * 1024:
            st.error(MSG_TOO_BIG.format(name=file.name, size=file.size / 2**20, limit=limit))
            return None, uploads
        uploads["data"] = file
        return DataSource(path=_spooled(file)), uploads
    if kind == SOURCES[1]:
        path = st.text_input("Path or glob on the server",
                             placeholder="/data/decisions.parquet or /data/2026/*.parquet",
                             key="new_system.path").strip()
        return (DataSource(path=path) if path else None), uploads
    url = st.text_input("SQLAlchemy URL", type="password", key="new_system.url",
                        help="e.g. postgresql+psycopg://user@host/db; never shown back").strip()
    how = st.radio("Read", ["A table", "A query"], horizontal=True, key="new_system.sql_kind")
    text = st.text_input("Table" if how == "A table" else "Query (read-only)",
                         key="new_system.sql_text").strip()
    if not url or not text:
        return None, uploads
    source = (DataSource(url=url, table=text) if how == "A table"
              else DataSource(url=url, query=text))
    return source, uploads


def _spooled(file: Any) -> str:
    """Write an upload to a private temporary file once per upload; return its path."""
    key = f"new_system.spooled.{file.file_id}"
    path = state.recall(key)
    if path and Path(path).exists():
        return str(path)
    folder = Path(tempfile.mkdtemp(prefix="fairpanel-upload-"))
    target = folder / Path(file.name).name
    target.write_bytes(file.getvalue())
    state.remember(key, str(target))
    return str(target)


def _uploaded(file: Any) -> str | None:
    """How the store describes uploaded decisions (not the temporary copy's path)."""
    return None if file is None else f"uploaded file {Path(file.name).name}"


def _drop_spooled(file: Any) -> None:
    """Delete an upload's temporary copy (the store holds its own copy once registered)."""
    if file is None:
        return
    key = f"new_system.spooled.{file.file_id}"
    path = state.recall(key)
    if path:
        shutil.rmtree(Path(path).parent, ignore_errors=True)
    state.forget(key)


def _read(source: DataSource | None, limit: int) -> pa.Table | None:
    if source is None:
        st.info(MSG_NO_SOURCE)
        return None
    described = source.describe()
    cached = state.recall(KEY_TABLE)
    if cached is not None and state.recall(KEY_SOURCE) == described:
        return cached
    try:
        with st.spinner(f"Reading {described}"):
            table = read_source(source, max_bytes=limit * 1024 * 1024)
    except (ValueError, LookupError, OSError) as error:
        st.error(MSG_READ_FAILED.format(error=plain(error)))
        return None
    state.remember(KEY_TABLE, table)
    state.remember(KEY_SOURCE, described)
    return table


def _preview(table: pa.Table) -> None:
    st.subheader("Preview")
    st.caption(f"{table.num_rows:,} rows, {table.num_columns} columns.")
    left, right = st.columns([3, 2], gap="large")
    left.dataframe(table.slice(0, 20).to_pandas(), hide_index=True, width="stretch",
                   key="new_system.head")
    summary = pd.DataFrame(column_summary(table))
    right.dataframe(summary, hide_index=True, width="stretch", key="new_system.columns",
                    column_config={"missing_rate": st.column_config.NumberColumn(
                        "missing", format="percent")})


def _mapping_form(table: pa.Table, limit: int) -> dict[str, Any] | None:
    """Column roles, metadata, optional model and sensitive file; None until submitted."""
    names = list(table.column_names)
    guess = suggest_mapping([(n, str(t)) for n, t in zip(names, table.schema.types,
                                                          strict=True)])
    optional = [NONE, *names]

    def index(column: str | None, choices: list[str]) -> int:
        return choices.index(column) if column in choices else 0

    st.subheader("What each column is for")
    st.caption("Suggested from the column names and types; check each one.")
    with st.form("new_system.form"):
        a, b, c = st.columns(3)
        id_col = a.selectbox("Id (unique per decision)", names,
                             index=index(guess.get("id"), names), key="new_system.id")
        target = b.selectbox("Target (observed outcome)", names,
                             index=index(guess.get("target"), names), key="new_system.target")
        positive = c.text_input("Positive label (if not 0/1 or true/false)",
                                key="new_system.positive")
        default_kind = 0 if guess.get("prediction") else (1 if guess.get("score") else 0)
        decisions = st.radio("The system's decisions", DECISION_KINDS, index=default_kind,
                             horizontal=True, key="new_system.decisions")
        d, e, f = st.columns(3)
        prediction = d.selectbox("Decision column", optional,
                                 index=index(guess.get("prediction"), optional),
                                 key="new_system.prediction")
        score = e.selectbox("Score column", optional, index=index(guess.get("score"), optional),
                            key="new_system.score")
        threshold = f.number_input("Threshold (a score at or above it is a positive decision)",
                                   value=float(guess.get("threshold") or 0.5),
                                   key="new_system.threshold")
        sensitive = st.multiselect("Sensitive features (groups to audit)", names,
                                   default=[s for s in guess.get("sensitive", []) if s in names],
                                   key="new_system.sensitive")
        features = st.multiselect("Model features", names,
                                  default=[x for x in guess.get("features", []) if x in names],
                                  key="new_system.features")
        time = st.selectbox("Time column (optional)", optional,
                            index=index(guess.get("time"), optional), key="new_system.time")
        st.markdown("**The system**")
        g, h = st.columns(2)
        name = g.text_input("Name", key="new_system.name",
                            help="letters, digits, '-', '_' and '.'; e.g. credit-scoring")
        owner = h.text_input("Owner", key="new_system.owner")
        description = st.text_area("Description", key="new_system.description", height=68)
        intended = st.text_area("Intended use", key="new_system.intended_use", height=68)
        adverse = st.checkbox("A positive decision is adverse for the person (e.g. "
                              "'high risk'), not favourable", key="new_system.adverse")
        st.markdown("**Optional**")
        i, j = st.columns(2)
        model = i.file_uploader(f"Model (.skops; up to {limit} MB). Pickle and joblib are "
                                "refused: they can run code.", type=["skops"],
                                key="new_system.model", max_upload_size=limit)
        sens_file = j.file_uploader(f"Sensitive data held apart (CSV or Parquet; up to "
                                    f"{limit} MB)",
                                    type=["csv", "gz", "parquet"], key="new_system.sens_file",
                                    max_upload_size=limit)
        k, n, m = st.columns(3)
        join = k.text_input("Its id column to join on (default: the id above)",
                            key="new_system.join")
        held = n.text_input("Its sensitive features (comma-separated)",
                            key="new_system.sens_columns",
                            help="Columns of the sensitive-data file to audit, added to "
                                 "the sensitive features chosen above.")
        min_match = m.number_input("Smallest share of ids matched", min_value=0.0,
                                   max_value=1.0, value=0.99, step=0.01,
                                   key="new_system.min_match")
        submitted = st.form_submit_button("Register and run the first audit", type="primary")
    if not submitted:
        return None
    if not name.strip():
        st.error(MSG_NEED_NAME)
        return None
    for upload in (model, sens_file):
        if upload is not None and upload.size > limit * 1024 * 1024:
            st.error(MSG_TOO_BIG.format(name=upload.name, size=upload.size / 2**20, limit=limit))
            return None
    chosen = {
        "id": id_col, "target": target,
        "sensitive": list(dict.fromkeys([*sensitive, *(c.strip() for c in held.split(",")
                                                       if c.strip())])),
        "prediction": prediction if decisions == DECISION_KINDS[0] and prediction != NONE
        else None,
        "score": score if score != NONE and decisions != DECISION_KINDS[2] else None,
        "threshold": float(threshold) if decisions == DECISION_KINDS[1] else None,
        "features": list(features) or None,
        "positive_label": positive.strip() or None,
        "time": None if time == NONE else time,
        "description": description.strip(), "intended_use": intended.strip(),
        "adverse": bool(adverse), "owner": owner.strip(),
    }
    return {"name": name.strip(), "mapping": chosen, "model": model, "sensitive": sens_file,
            "join": (join.strip() or None) if sens_file is not None else None,
            "min_match": float(min_match)}


def _register_and_audit(store: Any, user: state.SignedInUser, source: DataSource | None,
                        uploads: dict[str, Any], settings: dict[str, Any], limit: int) -> None:
    from audits.fairness.stored import run_fairness_audit
    from audits.systems.registry import register_system

    assert source is not None
    bar = st.progress(0.0, text="Registering")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    with tempfile.TemporaryDirectory(prefix="fairpanel-new-system-") as folder:
        model_path = _saved(settings["model"], folder)
        sensitive_path = _saved(settings["sensitive"], folder)
        try:
            done = register_system(
                store, user.actor, settings["name"], source, **settings["mapping"],
                model=model_path, sensitive_data=sensitive_path, join=settings["join"],
                min_match=settings["min_match"], max_bytes=limit * 1024 * 1024,
                source=_uploaded(uploads.get("data")),
                progress=lambda f, m: progress(0.6 * f, m))
        except (PermissionDenied, ValueError, LookupError, OSError) as error:
            bar.empty()
            st.error(MSG_FAILED.format(error=plain(error)))
            return
        finally:
            _drop_spooled(uploads.get("data"))
    version = done.dataset
    (st.success if done.created else st.info)(
        f"System {done.system.name!r} version {version.version}: {version.n_rows:,} rows, "
        f"sha256 {version.sha256[:16]}…" + ("" if done.created else
                                            " (identical data were registered before)"))
    try:
        run = run_fairness_audit(store, user.actor, version, done.model,
                                 progress=lambda f, m: progress(0.6 + 0.4 * f, m))
    except (PermissionDenied, ValueError, LookupError) as error:
        bar.empty()
        st.error(MSG_AUDIT_FAILED.format(error=plain(error)))
        return
    bar.empty()
    state.forget(KEY_TABLE)
    st.success(f"First audit stored as run #{run.id}.")
    _headline(run.results or {})
    state.preselect("fairness.run_id", run.id)
    st.page_link(FAIRNESS_PAGE, label="Open it on the Fairness audit page",
                 icon=":material/balance:")


def _saved(upload: Any, folder: str) -> str | None:
    if upload is None:
        return None
    path = Path(folder) / Path(upload.name).name
    path.write_bytes(upload.getvalue())
    return str(path)


def _headline(results: dict[str, Any]) -> None:
    """The run's verdict counts and its failing disparities, as the Fairness page shows them."""
    verdicts = fairness_tables.verdict_counts(results)
    tiles = fairness_tables.headline_tiles(results, verdicts)
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    st.markdown("**Verdicts** " + fairness_tables.verdict_badges(verdicts))
    shown = fairness_tables.disparity_table(results, verdicts=["fail"])
    if shown.empty:
        return
    st.caption("The failing disparities (the Fairness audit page has every group, chart "
               "and threshold):")
    st.dataframe(shown, hide_index=True, width="stretch", key="new_system.headline")


render()
