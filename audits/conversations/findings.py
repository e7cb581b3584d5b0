"""What fairpanel finds about a conversation system: the bot across its users, its judge
held to the panel's standard, and the bot's knowledge gaps.

:func:`conversation_findings` reads a conversation system's latest version and its
reviewed queue from the store and computes, for the pages, the report and
``fairpanel judges --system``:

- the bot's escalation, resolution and hand-over rates per user group and intersection
  (:func:`~audits.conversations.rates.bot_rates`: the fairness engine's intervals,
  ratios and verdicts) and the mean rubric scores per group, the judge's over every
  conversation and the panel's over those it rated
  (:func:`~audits.conversations.rates.score_means`);
- the judge against the panel per criterion and group
  (:func:`~audits.raters.judges.judge_analysis`: agreement with intervals, the
  alternative annotator test, the judge's offset, the reviewers' automation bias);
- the intents whose answers the panel corrects most
  (:func:`~audits.conversations.feedback.knowledge_gaps`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from audits.conversations.feedback import evaluation_records, knowledge_gaps, training_records
from audits.conversations.rates import bot_rates, score_means
from audits.conversations.records import JUDGE_PREFIX, Conversations
from audits.conversations.stored import (
    CONVERSATIONS_ROLE,
    NOT_GIVEN,
    conversation_audit,
    conversation_version,
    load_conversations,
    panel_rubric_ratings,
    queued_run,
    reviewed,
    rubric_of,
)
from audits.fairness.stored import json_safe, latest_run_of, reused_or_recorded
from audits.raters.judges import judge_analysis
from audits.roles import PERMISSIONS, Actor, require_role
from audits.store import AuditRunRecord, DatasetRecord, Store

__all__ = ["FINDINGS_KIND", "ConversationFindings", "MSG_BY", "MSG_NOT_REVIEWED", "MSG_NO_JUDGE",
           "MSG_TOO_FEW", "conversation_findings", "latest_conversation_findings",
           "record_conversation_findings", "reviewed_records", "stored_judge_analysis"]

Progress = Callable[[float, str], None]

MSG_BY = "user attribute {name!r} is not one of {system!r}'s; it has: {known}"
MSG_NOT_REVIEWED = "system {name!r} has no reviewed conversations yet (build its queue and rate)"
MSG_OTHER_RUN = "audit run {id} is not an audit of conversation system {name!r}"
MSG_NO_JUDGE = "system {name!r} holds no judge scores (a record's judge.scores)"
MSG_TOO_FEW = ("the panel has rated too few conversations of {name!r} on the judge's criteria "
               "(fewer than {n} ratings): build its queue, assign it and rate")
#: The kind of the audit run that keeps a conversation system's findings.
FINDINGS_KIND = "conversation_findings"
#: Fewer panel ratings than this per criterion: the judge analysis is not run.
MIN_RATED = 10


@dataclass(frozen=True)
class ConversationFindings:
    """A conversation system's findings (see the module); tables are tidy frames."""

    system: str
    version: int | None
    by: str
    groups: tuple[str, ...]
    conversations: int
    audit_run_id: int | None
    rates: pd.DataFrame
    scores: pd.DataFrame
    judges: dict[str, Any] | None
    gaps: pd.DataFrame
    rated: int
    #: The judge analysis by each attribute asked for (``by``'s is ``judges``).
    judges_by: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: json_safe(v) for k, v in r.items()} for r in frame.to_dict("records")]
        return {"system": self.system, "version": self.version, "by": self.by,
                "groups": list(self.groups),
                "conversations": self.conversations, "audit_run_id": self.audit_run_id,
                "rated": self.rated, "rates": rows(self.rates), "scores": rows(self.scores),
                "judges": self.judges, "judges_by": dict(self.judges_by),
                "knowledge_gaps": rows(self.gaps)}


def conversation_findings(store: Store, actor: Actor, name: str, *, by: str | None = None,
                          n_boot: int = 1000, random_state: int = 0, epsilon: float = 0.2,
                          dataset: DatasetRecord | None = None,
                          judges_by: Sequence[str] = (),
                          progress: Progress | None = None) -> ConversationFindings:
    """Compute a conversation system's findings (needs "read panel aggregates" and, for
    the knowledge gaps, "read every rating"; without it they are left empty).

    Parameters
    ----------
    by : str or None
        The user attribute whose groups are compared (default: the system's first).
    dataset : DatasetRecord or None
        A version of the system (default: its latest).
    judges_by : sequence of str
        Other attributes to run the judge analysis and the judge's mean scores by too
        (``judges_by``; the report asks for every one).

    Raises
    ------
    LookupError, ValueError
        No such system, not a conversation system, or an unknown attribute.
    """
    require_role(actor, "read panel aggregates")
    report = progress or (lambda fraction, message: None)
    dataset = dataset or conversation_version(store, name)
    settings = dict(dataset.roles)[CONVERSATIONS_ROLE]
    known = [*settings["user_attributes"], *settings["demographics"]]
    chosen = by or (known[0] if known else None)
    if chosen is None or chosen not in known:
        raise ValueError(MSG_BY.format(name=chosen, system=name, known=", ".join(known)))
    report(0.05, "Reading the conversations")
    log = load_conversations(store, actor, dataset)
    frame = log.frame.assign(**{a: log.frame[a].fillna(NOT_GIVEN) for a in known})
    log = type(log)(frame=frame, turns=log.turns, user_attributes=log.user_attributes,
                    demographics=log.demographics, judge_criteria=log.judge_criteria)
    report(0.15, "The bot's rates per user group (bootstrap)")
    rates = bot_rates(log, by=_by(settings["user_attributes"], chosen), n_boot=n_boot,
                      random_state=random_state).table()
    extra = [a for a in dict.fromkeys(judges_by) if a != chosen]
    unknown = [a for a in extra if a not in known]
    if unknown:
        raise ValueError(MSG_BY.format(name=unknown[0], system=name, known=", ".join(known)))
    report(0.45, "The judge's mean scores per group (bootstrap)")
    scores = [score_means(log, JUDGE_PREFIX + c, by=[chosen, *extra], n_boot=n_boot,
                          random_state=random_state).assign(criterion=c, rated_by="judge")
              for c in log.judge_criteria]
    run = queued_run(store, dataset.id)
    panel = _panel(store, actor, run)  # read once: the scores and every attribute use it
    # The panel's own scores of the conversations it rated.
    scores += _panel_scores(log, panel, [chosen, *extra], n_boot=n_boot,
                            random_state=random_state)
    gaps = pd.DataFrame()
    report(0.6, "The judge against the panel (bootstrap)")
    judges, rated = _judged(panel, log, chosen, criteria=None, epsilon=epsilon,
                            n_boot=n_boot, random_state=random_state)
    others = {a: _judged(panel, log, a, criteria=None, epsilon=epsilon,
                         n_boot=n_boot, random_state=random_state)[0] for a in extra}
    if run is not None and actor.role in PERMISSIONS["read every rating"]:
        report(0.9, "The knowledge gaps")
        reviews, final = reviewed(store, actor, run)
        if len(reviews):
            gaps = knowledge_gaps(log, reviews, final=final, rubric=rubric_of(dataset))
    report(1.0, "Done")
    return ConversationFindings(system=name, version=dataset.version, by=chosen,
                                groups=tuple(sorted(frame[chosen].astype(str).unique())),
                                conversations=len(frame), audit_run_id=run, rates=rates,
                                scores=pd.concat(scores, ignore_index=True) if scores
                                else pd.DataFrame(), judges=judges, gaps=gaps, rated=rated,
                                judges_by={chosen: judges, **others})


def record_conversation_findings(store: Store, actor: Actor, name: str, *,
                                 audit_run_id: int | None = None, by: str | None = None,
                                 n_boot: int = 1000, random_state: int = 0,
                                 progress: Progress | None = None) -> AuditRunRecord:
    """Keep a conversation system's findings as a completed audit run of kind
    :data:`FINDINGS_KIND` (what the report copies), reused while the version and the
    panel's ratings are unchanged.

    ``config`` holds ``audit_run_id`` (the given fairness audit of one of the system's
    versions, else the latest version's queued one, whose report copies the findings),
    the version's sha256, a sha256 of the panel's rubric ratings, ``by``, ``n_boot`` and
    ``random_state``; ``results`` are :meth:`ConversationFindings.to_dict`. Needs "run an
    audit". The findings are computed by the engine (the knowledge gaps from every
    rating, aggregated per intent), whoever asks, with the judge analysed by every user
    attribute (``judges_by``).
    """
    require_role(actor, "run an audit")
    report = progress or (lambda fraction, message: None)
    dataset = conversation_version(store, name)
    if audit_run_id is not None:  # a given audit of one of the system's versions
        audited = store.get_audit_run(audit_run_id)
        found = None if audited is None else store.get_dataset(audited.dataset_id)
        if found is None or found.name != dataset.name:
            raise ValueError(MSG_OTHER_RUN.format(id=audit_run_id, name=name))
        dataset = found
    queued = queued_run(store, dataset.id)
    run = audit_run_id or queued or conversation_audit(
        store, actor, dataset, progress=lambda f, m: report(0.2 * f, m)).id
    ratings = _panel(store, actor, queued)
    options = {"kind": FINDINGS_KIND, "audit_run_id": run, "dataset_sha256": dataset.sha256,
               "ratings_sha256": hashlib.sha256(ratings.sort_values(
                   ["conversation_id", "reviewer_id", "criterion"]).to_json(
                       orient="records").encode()).hexdigest(),
               "by": by, "judges_by": _attributes(dataset), "n_boot": n_boot,
               "random_state": random_state}
    return reused_or_recorded(
        store, actor, dataset, None, options,
        source=f"{name} version {dataset.version} and its panel's ratings",
        compute=lambda: conversation_findings(
            store, Actor.system(), name, by=by, n_boot=n_boot, random_state=random_state,
            dataset=dataset, judges_by=_attributes(dataset),
            progress=lambda f, m: report(0.2 + 0.8 * f, m)).to_dict(),
        report=report)


def latest_conversation_findings(store: Store, audit_run_id: int) -> AuditRunRecord | None:
    """The newest findings kept for a conversation version's fairness audit, or None."""
    return latest_run_of(store, FINDINGS_KIND, audit_run_id)


def stored_judge_analysis(store: Store, actor: Actor, name: str, *, by: str,
                          criteria: Sequence[str] | None = None, epsilon: float = 0.2,
                          n_boot: int = 1000, random_state: int = 0) -> dict[str, Any]:
    """The judge against the panel on a conversation system's latest version and its
    reviewed queue: the ``fairpanel judges --json`` contract (``{"by", "judges",
    "conversations", "rated", "agreement", "alt_test", "bias", "automation", "config"}``)
    with ``system``, ``version`` and ``audit_run_id``.

    Raises
    ------
    ValueError
        Not a conversation system, an unknown attribute, no judge scores, or too few
        panel ratings of the judge's criteria (:data:`MIN_RATED`).
    """
    require_role(actor, "read panel aggregates")
    dataset = conversation_version(store, name)
    settings = dict(dataset.roles)[CONVERSATIONS_ROLE]
    known = [*settings["user_attributes"], *settings["demographics"]]
    if by not in known:
        raise ValueError(MSG_BY.format(name=by, system=name, known=", ".join(known)))
    log = load_conversations(store, actor, dataset)
    if not log.judge_criteria:
        raise ValueError(MSG_NO_JUDGE.format(name=name))
    run = queued_run(store, dataset.id)
    found, _ = _judged(_panel(store, actor, run), log, by, criteria=criteria,
                       epsilon=epsilon, n_boot=n_boot, random_state=random_state)
    if found is None:
        raise ValueError(MSG_TOO_FEW.format(name=name, n=MIN_RATED))
    return {"system": name, "version": dataset.version, "audit_run_id": run, **found}


def reviewed_records(store: Store, actor: Actor, name: str, *,
                     evaluation: bool = False) -> list[dict[str, Any]]:
    """The reviewed conversations of a system's latest version as a fine-tuning set
    (:func:`~audits.conversations.feedback.training_records`: the chat with the panel's
    corrected answer, rubric scores and lineage) or, with ``evaluation``, an evaluation
    set (:func:`~audits.conversations.feedback.evaluation_records`). Needs "read every
    rating".

    Raises
    ------
    ValueError
        Not a conversation system, or nothing reviewed yet.
    """
    require_role(actor, "read every rating")
    dataset = conversation_version(store, name)
    run = queued_run(store, dataset.id)
    reviews, final = (pd.DataFrame(), pd.Series(dtype=bool)) if run is None \
        else reviewed(store, actor, run)
    if reviews.empty:
        raise ValueError(MSG_NOT_REVIEWED.format(name=name))
    log = load_conversations(store, actor, dataset)
    make = evaluation_records if evaluation else training_records
    return make(log, reviews, system=name, final=final)


def _panel(store: Store, actor: Actor, run: int | None) -> pd.DataFrame:
    """The panel's rubric ratings of a queue (none without a queue)."""
    if run is None:
        return pd.DataFrame(columns=["conversation_id", "reviewer_id", "criterion", "score",
                                     "judge_shown"])
    return panel_rubric_ratings(store, actor, run)


def _judged(panel: pd.DataFrame, log: Conversations, by: str, *,
            criteria: Sequence[str] | None, epsilon: float, n_boot: int,
            random_state: int) -> tuple[dict[str, Any] | None, int]:
    """The judge analysis of a queue's panel ratings (None with too few), and how many
    conversations the panel rated."""
    rated = int(panel["conversation_id"].nunique())
    shared = sorted(set(panel["criterion"]) & set(log.judge_criteria)
                    & set(criteria or log.judge_criteria))
    if not shared or len(panel) < MIN_RATED:
        return None, rated
    frame = log.frame
    groups = frame[by].astype("string").fillna(NOT_GIVEN).astype(str)
    found = judge_analysis(panel, log.judge_scores(), groups, criteria=shared,
                           epsilon=epsilon, n_boot=n_boot, random_state=random_state)
    return {"by": by, "judges": sorted(str(j) for j in frame["judge_name"].dropna().unique()),
            "conversations": len(frame), "rated": rated, **found.to_dict()}, rated


def _panel_scores(log: Conversations, panel: pd.DataFrame, by: list[str], *, n_boot: int,
                  random_state: int) -> list[pd.DataFrame]:
    """The panel's mean score per criterion and group: each rated conversation's mean
    over its reviewers, bootstrapped over the rated conversations."""
    if panel.empty:
        return []
    means = panel.pivot_table(index="conversation_id", columns="criterion", values="score",
                              aggfunc="mean")
    rated = log.frame.loc[log.frame.index.isin(means.index)]
    frame = rated.assign(**{f"panel_{c}": means[c].reindex(rated.index) for c in means})
    sub = type(log)(frame=frame, turns={}, user_attributes=log.user_attributes,
                    demographics=log.demographics, judge_criteria=log.judge_criteria)
    return [score_means(sub, f"panel_{c}", by=by, n_boot=n_boot,
                        random_state=random_state).assign(criterion=c, rated_by="panel")
            for c in means.columns]


def _attributes(dataset: DatasetRecord) -> list[str]:
    settings = dict(dataset.roles)[CONVERSATIONS_ROLE]
    return [*settings["user_attributes"], *settings["demographics"]]


def _by(attributes: Sequence[str], chosen: str) -> list[str]:
    """The rates' attributes: the chosen one first, then the other user attributes."""
    return [chosen, *(a for a in attributes if a != chosen)]
