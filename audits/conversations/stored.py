"""Conversation systems in the store: registered, ingested in batches, queued, reviewed.

A conversation system is a system like any other (:func:`audits.systems.register_system`):
each version is the whole log so far, one row per conversation, copied into the store
as Parquet with its checked record (``record_json``), the bot's decision (``escalated``)
as the prediction, the outcome (``resolved``) as the target, and the user attributes
and consented demographics as sensitive features (``"not given"`` where absent, a group
of its own). The rubric reviewers rate with, and which columns are user attributes,
demographics and judge criteria, are kept in the version's roles under
``"conversations"``.

:func:`register_conversations` registers a first log or ingests a batch: the new version
holds the earlier conversations and the batch's new ones (a conversation sent again
unchanged is skipped; changed, it is refused). :func:`build_conversation_queue` runs the
fairness audit of the version (the escalation rate per user group, the engine's usual
audit) and queues the conversations that need a person: the escalation and QA signals
(:func:`~audits.conversations.signals.conversation_signals`) selected under the same
budgeted, stratified :class:`~audits.flagging.policy.FlagPolicy` as decisions, each
case's snapshot holding the chat, its rubric and the judge's verdict (shown or hidden by
the assignment's randomization). :func:`panel_rubric_ratings` and :func:`reviewed` read
the panel's ratings back for :func:`~audits.raters.judges.judge_analysis` and the export.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from audits.conversations.probing import ProbeResult
from audits.conversations.records import (
    JUDGE_PREFIX,
    Conversations,
    conversations_from_records,
    read_conversations,
    records_of,
)
from audits.conversations.rubric import DEFAULT_RUBRIC, Rubric
from audits.conversations.signals import SignalPolicy, conversation_signals
from audits.fairness.stored import json_safe, run_fairness_audit
from audits.flagging.cases import subject_groups
from audits.flagging.policy import CONVERSATION_QUOTAS, FlagPolicy, select_cases
from audits.flagging.stored import Queue
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, CaseInput, DatasetRecord, Store
from audits.systems.registry import load_version, register_system

__all__ = ["CONVERSATIONS_ROLE", "NOT_GIVEN", "build_conversation_queue",
           "conversation_audit", "conversation_version", "is_conversation_version",
           "load_conversations", "panel_rubric_ratings", "queued_run",
           "register_conversations", "reviewed", "rubric_of"]

Progress = Callable[[float, str], None]

#: The version roles' key that marks a conversation system and holds its settings.
CONVERSATIONS_ROLE = "conversations"
#: The group of a user attribute or demographic that a conversation does not give.
NOT_GIVEN = "not given"
#: The snapshot's schema version for a conversation's case.
SNAPSHOT_SCHEMA = 1
#: What the version's fairness audit measures: the escalation rate.
CONVERSATION_METRICS = ("selection_rate",)
#: The columns of the flat table a reviewer sees beside the chat.
SHOWN = ("intent", "escalated", "handed_over", "confidence")

MSG_NOT_CONVERSATIONS = (
    "system {name!r} is not a conversation system (its versions hold decisions); register "
    "conversations under another name"
)
MSG_UNRESOLVED = (
    "{n} conversation(s) have no outcome.resolved (e.g. {ids}): a conversation system's "
    "outcome is whether the conversation was resolved; ingest conversations once it is known"
)
MSG_CHANGED = (
    "conversation(s) {ids} were ingested before with other content; a conversation's record "
    "never changes (give the new one another conversation_id)"
)
MSG_NOTHING_NEW = "every conversation of the batch was ingested before; nothing to add"
MSG_OTHER_POLICY = (
    "audit run {id} already has a conversation queue built with another policy ({stored}); a "
    "queue is built once per version"
)
MSG_PROBE_UNKNOWN = "probes of conversation(s) {ids}, which the version does not hold"
MSG_GOLD = "gold answers must be 0 or 1 (the answer acceptable as it stands); {cid!r} has {value!r}"


def _no_progress(fraction: float, message: str) -> None:
    """Progress nobody watches."""


def is_conversation_version(dataset: DatasetRecord) -> bool:
    """Whether a registered version is a conversation log."""
    return CONVERSATIONS_ROLE in dict(dataset.roles)


def rubric_of(dataset: DatasetRecord) -> Rubric:
    """The rubric a conversation version's reviewers rate with."""
    return Rubric.from_list(dict(dataset.roles)[CONVERSATIONS_ROLE]["rubric"])


def conversation_version(store: Store, name: str) -> DatasetRecord:
    """The latest version of conversation system ``name``.

    Raises
    ------
    LookupError
        No such system.
    ValueError
        The system holds decisions, not conversations.
    """
    latest = store.latest_version(name)
    if not is_conversation_version(latest):
        raise ValueError(MSG_NOT_CONVERSATIONS.format(name=name))
    return latest


def load_conversations(store: Store, actor: Actor, dataset: DatasetRecord) -> Conversations:
    """Read a conversation version back as checked :class:`Conversations` (the stored
    files' hashes and the permission to read sensitive data checked on the way)."""
    if not is_conversation_version(dataset):
        raise ValueError(MSG_NOT_CONVERSATIONS.format(name=dataset.name))
    frame = load_version(store, actor, dataset).frame
    return conversations_from_records([json.loads(text) for text in frame["record_json"]],
                                      where=f"{dataset.name} v{dataset.version}")


def register_conversations(
    store: Store, actor: Actor, name: str, log: Conversations | str | os.PathLike[str], *,
    rubric: Rubric | None = None, description: str = "", intended_use: str = "",
    owner: str = "", source: str | None = None, progress: Progress | None = None,
) -> DatasetRecord:
    """Register a conversation log as a system, or ingest a batch into it.

    Parameters
    ----------
    store, actor : Store, Actor
        The actor needs "register a dataset".
    name : str
        The system's name. A new name registers version 1; an existing conversation
        system gets a new version holding its conversations and the batch's new ones.
    log : Conversations, str or path
        A ``.jsonl`` or ``.parquet`` log (:func:`~audits.conversations.read_conversations`)
        or conversations already read.
    rubric : Rubric or None
        The rubric reviewers rate with (default: the previous version's, else
        :data:`~audits.conversations.rubric.DEFAULT_RUBRIC`).
    description, intended_use, owner, source : str
        What the system is and is for, who answers for it, and where the log came from
        (a batch keeps the system's own where these are empty).
    progress : callable ``(fraction, message) -> None`` or None

    Returns
    -------
    DatasetRecord
        The new version (or the latest one when the batch and the rubric are the same).

    Raises
    ------
    ValueError
        A broken log (line and field), an unresolved conversation, a conversation sent
        again with other content, a batch with nothing new, or a system of decisions.
        Nothing is stored then.

    Examples
    --------
    >>> from audits.conversations.simulated import simulate_conversations
    >>> log = conversations_from_records(simulate_conversations(40, seed=1).records)
    >>> with Store("sqlite://") as store:
    ...     v1 = register_conversations(store, Actor.system(), "helpdesk", log)
    ...     back = load_conversations(store, Actor.system(), v1)
    >>> v1.version, len(back), rubric_of(v1).names[:2]
    (1, 40, ('correct', 'follows_policy'))
    """
    report = progress or _no_progress
    require_role(actor, "register a dataset")
    report(0.05, "Reading the conversations")
    batch = log if isinstance(log, Conversations) else read_conversations(Path(log))
    known = {s.name for s in store.list_systems()}
    previous = conversation_version(store, name) if name in known else None
    records = records_of(batch)
    if previous is not None:
        report(0.2, "Adding the batch to the conversations ingested before")
        records = _merged(records_of(load_conversations(store, actor, previous)), records)
        rubric = rubric or rubric_of(previous)
        system = store.get_system(name)
        if system is not None:  # a batch keeps what the system says unless told otherwise
            description = description or system.description
            intended_use = intended_use or system.intended_use
            owner = owner or system.owner
    merged = conversations_from_records(records, where=name)
    unresolved = merged.frame.index[merged.frame["resolved"].isna()]
    if len(unresolved):
        raise ValueError(MSG_UNRESOLVED.format(n=len(unresolved),
                                               ids=", ".join(map(repr, unresolved[:3]))))
    chosen = rubric or DEFAULT_RUBRIC
    attributes = [*merged.user_attributes, *merged.demographics]
    table = _table(merged, records)
    settings = {"rubric": chosen.as_list(), "user_attributes": list(merged.user_attributes),
                "demographics": list(merged.demographics),
                "judge_criteria": list(merged.judge_criteria)}
    done = register_system(
        store, actor, name, table, id="conversation_id", target="resolved",
        prediction="escalated", sensitive=attributes,
        features=[c for c in SHOWN if c != "escalated"] + ["n_turns", "user_rating"],
        description=description or "A chatbot's conversations with its users.",
        intended_use=intended_use, owner=owner,
        source=source or f"{len(batch):,} conversations ingested",
        outcome_label="escalated to a person", extra_roles={CONVERSATIONS_ROLE: settings},
        progress=lambda f, m: report(0.3 + 0.7 * f, m))
    return done.dataset


def conversation_audit(store: Store, actor: Actor, dataset: DatasetRecord, *,
                       n_boot: int = 1000, progress: Progress | None = None
                       ) -> AuditRunRecord:
    """The stored fairness audit of a conversation version across its user attributes,
    computed once: the selection rate only, which is the escalation rate (a model's
    error rates, with the bot's escalation as the decision and the resolution as the
    outcome, would mean nothing)."""
    attributes = list(dict(dataset.roles)[CONVERSATIONS_ROLE]["user_attributes"]) or None
    return run_fairness_audit(store, actor, dataset, None, sensitive_features=attributes,
                              n_boot=n_boot, metrics=CONVERSATION_METRICS, progress=progress)


def build_conversation_queue(
    store: Store, actor: Actor, name: str, *, policy: FlagPolicy | None = None,
    signals: SignalPolicy | None = None, gold: Mapping[str, int] | None = None,
    probes: Sequence[ProbeResult] = (), progress: Progress | None = None,
) -> Queue:
    """Queue the conversations of a system's latest version that need a person.

    The version's fairness audit is run (or reused) first: the queue belongs to that
    run, like a model's. Each conversation gets every signal it has; the queue is
    selected from them under ``policy`` (default: a budget of 100 with
    :data:`~audits.flagging.policy.CONVERSATION_QUOTAS`, stratified by user group), and
    each case's snapshot freezes the chat, the rubric, the bot's signals, the user
    attributes and the judge's scores (its verdict: every criterion passed). Built once:
    asked again, the stored queue is returned.

    Parameters
    ----------
    gold : mapping of conversation id to 0/1, or None
        Conversations whose answer is known (1: the bot's answer is acceptable), to
        measure the reviewers; their answer is hidden from reviewers.
    probes : sequence of ProbeResult
        Counterfactual probes of the version's conversations
        (:func:`~audits.conversations.probing.probe_conversations`); each held one is
        flagged ``counterfactual`` (score: 1 minus its adjusted p-value).

    Raises
    ------
    ValueError
        Not a conversation system, a bad gold answer, or a queue built with another
        policy.
    """
    require_role(actor, "run an audit")
    report = progress or _no_progress
    chosen = policy or FlagPolicy(budget=100, quotas=CONVERSATION_QUOTAS)
    dataset = conversation_version(store, name)
    run = conversation_audit(store, actor, dataset,
                             progress=lambda f, m: report(0.4 * f, m))
    stored = store.get_flag_policy(run.id)
    if stored is not None:
        before = FlagPolicy.from_dict(stored["policy"])
        if policy is not None and policy != before:
            raise ValueError(MSG_OTHER_POLICY.format(id=run.id, stored=before.as_dict()))
        report(1.0, f"Reusing the stored queue of audit run #{run.id}")
        return Queue(run, before, store.list_cases(run.id),
                                 dict(stored.get("summary", {})), False)
    answers = {str(k): _gold(k, v) for k, v in (gold or {}).items()}
    report(0.45, "Reading the conversations and finding the signals")
    conversations = load_conversations(store, actor, dataset)
    settings = dict(dataset.roles)[CONVERSATIONS_ROLE]
    flags = _with_probes(conversation_signals(conversations, signals, gold=list(answers)),
                         probes, set(conversations.frame.index.astype(str)))
    attributes = settings["user_attributes"]
    frame = conversations.frame.assign(**{a: conversations.frame[a].fillna(NOT_GIVEN)
                                          for a in attributes})
    groups = (subject_groups(frame, attributes) if attributes
              else pd.Series("all users", index=frame.index))
    report(0.7, "Selecting the queue")
    selection = select_cases(flags, groups, chosen)
    rubric = rubric_of(dataset)
    cases = [_case(conversations, frame, row, flags, rubric, attributes, answers,
                   {"dataset_sha256": dataset.sha256, "audit_run_id": run.id,
                    "system": dataset.name, "version": dataset.version})
             for row in selection.cases.itertuples(index=False)]
    summary = {"flagged": int(flags["row"].nunique()),
               "flagged_by_reason": {str(k): int(v) for k, v in
                                     flags.groupby("reason")["row"].nunique().items()},
               "selected": len(cases)}
    stored_json = {"policy": chosen.as_dict(), "summary": summary, "kind": "conversations",
                   "signals": _signal_settings(signals or SignalPolicy())}
    report(0.9, "Storing the cases")
    recorded = store.record_queue(actor, run.id, policy=stored_json, cases=cases)
    report(1.0, f"Queued {len(recorded)} conversations")
    return Queue(run, chosen, recorded, summary, True)


def queued_run(store: Store, dataset_id: int) -> int | None:
    """The newest audit run of a conversation version that has a review queue, or None."""
    runs = [i for i in store.queued_audit_runs()
            if (r := store.get_audit_run(i)) is not None and r.dataset_id == dataset_id]
    return runs[-1] if runs else None


def panel_rubric_ratings(store: Store, actor: Actor, audit_run_id: int) -> pd.DataFrame:
    """The panel's rubric scores of a conversation queue, long: ``conversation_id,
    reviewer_id, criterion, score, judge_shown`` (the form
    :func:`~audits.raters.judges.judge_analysis` reads). Needs "read panel aggregates"."""
    rows = [{"conversation_id": r["row_key"], "reviewer_id": str(r["reviewer_id"]),
             "criterion": criterion, "score": float(score),
             "judge_shown": bool(r["model_shown"])}
            for r in store.ratings_for_analysis(actor, audit_run_id) if r["rubric"]
            for criterion, score in r["rubric"].items()]
    return pd.DataFrame(rows, columns=["conversation_id", "reviewer_id", "criterion", "score",
                                       "judge_shown"])


def reviewed(store: Store, actor: Actor, audit_run_id: int) -> tuple[pd.DataFrame, pd.Series]:
    """The panel's reviews of a conversation queue, one row per (conversation, reviewer):
    ``conversation_id, reviewer_id, acceptable, corrected_answer, rubric, rationale,
    rated_at, case_id, snapshot_sha256, judge_shown``; and the final verdict of each
    closed case (``conversation_id -> acceptable``). Needs "read every rating"."""
    rows = [r for r in store.ratings_table(actor, audit_run_id) if r["rubric"] is not None]
    frame = pd.DataFrame({
        "conversation_id": [r["row_key"] for r in rows],
        "reviewer_id": [str(r["reviewer_id"]) for r in rows],
        "acceptable": [bool(r["label"]) for r in rows],
        "corrected_answer": [r["corrected_answer"] for r in rows],
        "rubric": [dict(r["rubric"]) for r in rows],
        "rationale": [r["rationale"] for r in rows],
        "rated_at": [r["rated_at"] for r in rows],
        "case_id": [int(r["case_id"]) for r in rows],
        "snapshot_sha256": [r["snapshot_sha256"] for r in rows],
        "judge_shown": [bool(r["model_shown"]) for r in rows]})
    final = pd.Series({c.row_key: bool(c.final_label) for c in store.list_cases(audit_run_id)
                       if c.final_label is not None}, dtype=bool, name="acceptable")
    return frame, final


def _with_probes(flags: pd.DataFrame, probes: Sequence[ProbeResult],
                 known: set[str]) -> pd.DataFrame:
    """The signals, and a ``counterfactual`` flag per held probe."""
    unknown = sorted(p.conversation_id for p in probes if p.conversation_id not in known)
    if unknown:
        raise ValueError(MSG_PROBE_UNKNOWN.format(ids=", ".join(map(repr, unknown[:5]))))
    held = [p for p in probes if p.held]
    if not held:
        return flags
    extra = pd.DataFrame({
        "row": pd.Series([p.conversation_id for p in held], dtype=object),
        "reason": "counterfactual",
        "score": [round(1.0 - p.p_adjusted, 6) for p in held],
        "explanation": [
            "The bot answered differently beyond sampling noise when "
            + ", ".join(f"{a!r} became {b!r}" for a, b in p.swaps)
            + f" (adjusted p {p.p_adjusted:.2g}, {p.adjustment})." for p in held]})
    return pd.concat([flags, extra], ignore_index=True)


def _merged(before: list[dict[str, Any]], batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {r["conversation_id"]: r for r in before}
    changed = [r["conversation_id"] for r in batch
               if r["conversation_id"] in seen and r != seen[r["conversation_id"]]]
    if changed:
        raise ValueError(MSG_CHANGED.format(ids=", ".join(map(repr, changed[:5]))))
    new = [r for r in batch if r["conversation_id"] not in seen]
    if not new:
        raise ValueError(MSG_NOTHING_NEW)
    return [*before, *new]


def _table(conversations: Conversations, records: list[dict[str, Any]]) -> pa.Table:
    frame = conversations.frame.reset_index()
    for column in (*conversations.user_attributes, *conversations.demographics):
        frame[column] = frame[column].astype("string").fillna(NOT_GIVEN)
    for column in ("escalated", "handed_over", "resolved"):
        frame[column] = frame[column].astype(int)
    by_id = {r["conversation_id"]: r for r in records}
    frame["record_json"] = [json.dumps(by_id[cid], sort_keys=True, ensure_ascii=False)
                            for cid in frame["conversation_id"]]
    return pa.Table.from_pandas(frame, preserve_index=False)


def _gold(cid: object, value: object) -> int:
    if isinstance(value, bool) or value not in (0, 1):
        raise ValueError(MSG_GOLD.format(cid=cid, value=value))
    return int(value)


def _case(conversations: Conversations, frame: pd.DataFrame, chosen: Any, flags: pd.DataFrame,
          rubric: Rubric, attributes: Sequence[str], gold: Mapping[str, int],
          provenance: dict[str, Any]) -> CaseInput:
    cid = str(chosen.row)
    mine = flags[flags["row"] == chosen.row]
    reasons = [{"reason": str(r.reason), "score": round(float(r.score), 6),
                "explanation": str(r.explanation)} for r in mine.itertuples(index=False)]
    row = frame.loc[cid]
    snapshot: dict[str, Any] = {
        "schema": SNAPSHOT_SCHEMA, "kind": "conversation", "conversation_id": cid,
        "row": cid,
        "turns": [{"role": t.role, "text": t.text, "at": t.at}
                  for t in conversations.transcript(cid)],
        "features": {c: _plain(row[c]) for c in SHOWN},
        "sensitive": {a: _plain(row[a]) for a in attributes},
        "rubric": rubric.as_list(), "reasons": reasons, "provenance": provenance}
    scores = {c: float(row[JUDGE_PREFIX + c]) for c in conversations.judge_criteria
              if c in rubric.names and pd.notna(row[JUDGE_PREFIX + c])}
    if scores:
        verdict = rubric.passes(scores)
        snapshot["judge"] = {"name": _plain(row["judge_name"]), "scores": scores}
        snapshot["decision"] = {"value": int(bool(verdict)),
                                "label": "The judge: acceptable" if verdict
                                else "The judge: not acceptable"}
    if cid in gold:
        snapshot["hidden"] = {"gold_answer": gold[cid]}
    return CaseInput(row_key=cid, subject_group=str(chosen.group),
                     primary_reason=str(chosen.primary_reason), reasons=reasons,
                     priority=float(chosen.priority), rank=int(chosen.rank), snapshot=snapshot)


def _plain(value: Any) -> Any:
    return None if value is None or value is pd.NA else json_safe(value)


def _signal_settings(policy: SignalPolicy) -> dict[str, Any]:
    return {"low_confidence": policy.low_confidence,
            "negative_sentiment": policy.negative_sentiment,
            "judge_pass_at": policy.judge_pass_at, "random_share": policy.random_share,
            "rules": [r.name for r in policy.rules], "random_state": policy.random_state}
