"""What fairpanel finds about a conversation system: the bot across its users, its judge
held to the panel's standard, and the bot's knowledge gaps.

:func:`conversation_findings` reads a conversation system's latest version and its
reviewed queue from the store and computes, for the pages, the report and
``fairpanel judges --system``:

- the bot's escalation, resolution and hand-over rates per user group and intersection
  (:func:`~audits.conversations.rates.bot_rates`: the fairness engine's intervals,
  ratios and verdicts) and the judge's mean rubric scores per group
  (:func:`~audits.conversations.rates.score_means`);
- the judge against the panel per criterion and group
  (:func:`~audits.raters.judges.judge_analysis`: agreement with intervals, the
  alternative annotator test, the judge's offset, the reviewers' automation bias);
- the intents whose answers the panel corrects most
  (:func:`~audits.conversations.feedback.knowledge_gaps`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from audits.conversations.feedback import evaluation_records, knowledge_gaps, training_records
from audits.conversations.rates import bot_rates, score_means
from audits.conversations.records import JUDGE_PREFIX, Conversations
from audits.conversations.stored import (
    CONVERSATIONS_ROLE,
    NOT_GIVEN,
    conversation_version,
    load_conversations,
    panel_rubric_ratings,
    reviewed,
    rubric_of,
)
from audits.raters.judges import judge_analysis
from audits.roles import PERMISSIONS, Actor, require_role
from audits.store import Store

__all__ = ["ConversationFindings", "MSG_BY", "MSG_NOT_REVIEWED", "MSG_NO_JUDGE", "MSG_TOO_FEW",
           "conversation_findings", "reviewed_records", "stored_judge_analysis"]

Progress = Callable[[float, str], None]

MSG_BY = "user attribute {name!r} is not one of {system!r}'s; it has: {known}"
MSG_NOT_REVIEWED = "system {name!r} has no reviewed conversations yet (build its queue and rate)"
MSG_NO_JUDGE = "system {name!r} holds no judge scores (a record's judge.scores)"
MSG_TOO_FEW = ("the panel has rated too few conversations of {name!r} on the judge's criteria "
               "(fewer than {n} ratings): build its queue, assign it and rate")
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
        return {"system": self.system, "version": self.version, "by": self.by,
                "groups": list(self.groups),
                "conversations": self.conversations, "audit_run_id": self.audit_run_id,
                "rated": self.rated, "rates": rows(self.rates), "scores": rows(self.scores),
                "judges": self.judges, "knowledge_gaps": rows(self.gaps)}


def conversation_findings(store: Store, actor: Actor, name: str, *, by: str | None = None,
                          n_boot: int = 1000, random_state: int = 0, epsilon: float = 0.2,
                          progress: Progress | None = None) -> ConversationFindings:
    """Compute a conversation system's findings (needs "read panel aggregates" and, for
    the knowledge gaps, "read every rating"; without it they are left empty).

    Parameters
    ----------
    by : str or None
        The user attribute whose groups are compared (default: the system's first).

    Raises
    ------
    LookupError, ValueError
        No such system, not a conversation system, or an unknown attribute.
    """
    require_role(actor, "read panel aggregates")
    report = progress or (lambda fraction, message: None)
    dataset = conversation_version(store, name)
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
    report(0.45, "The judge's mean scores per group (bootstrap)")
    scores = pd.concat([score_means(log, JUDGE_PREFIX + c, by=[chosen], n_boot=n_boot,
                                    random_state=random_state).assign(criterion=c)
                        for c in log.judge_criteria], ignore_index=True) \
        if log.judge_criteria else pd.DataFrame()
    run = _queued_run(store, dataset.id)
    gaps = pd.DataFrame()
    report(0.6, "The judge against the panel (bootstrap)")
    judges, rated = _judged(store, actor, run, log, chosen, criteria=None, epsilon=epsilon,
                            n_boot=n_boot, random_state=random_state)
    if run is not None and actor.role in PERMISSIONS["read every rating"]:
        report(0.9, "The knowledge gaps")
        reviews, final = reviewed(store, actor, run)
        if len(reviews):
            gaps = knowledge_gaps(log, reviews, final=final, rubric=rubric_of(dataset))
    report(1.0, "Done")
    return ConversationFindings(system=name, version=dataset.version, by=chosen,
                                groups=tuple(sorted(frame[chosen].astype(str).unique())),
                                conversations=len(frame), audit_run_id=run, rates=rates,
                                scores=scores, judges=judges, gaps=gaps, rated=rated)


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
    run = _queued_run(store, dataset.id)
    found, _ = _judged(store, actor, run, log, by, criteria=criteria, epsilon=epsilon,
                       n_boot=n_boot, random_state=random_state)
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
    run = _queued_run(store, dataset.id)
    reviews, final = (pd.DataFrame(), pd.Series(dtype=bool)) if run is None \
        else reviewed(store, actor, run)
    if reviews.empty:
        raise ValueError(MSG_NOT_REVIEWED.format(name=name))
    log = load_conversations(store, actor, dataset)
    make = evaluation_records if evaluation else training_records
    return make(log, reviews, system=name, final=final)


def _judged(store: Store, actor: Actor, run: int | None, log: Conversations, by: str, *,
            criteria: Sequence[str] | None, epsilon: float, n_boot: int,
            random_state: int) -> tuple[dict[str, Any] | None, int]:
    """The judge analysis of a queue's panel ratings (None with too few), and how many
    conversations the panel rated."""
    if run is None:
        return None, 0
    panel = panel_rubric_ratings(store, actor, run)
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


def _by(attributes: Sequence[str], chosen: str) -> list[str]:
    """The rates' attributes: the chosen one first, then the other user attributes."""
    return [chosen, *(a for a in attributes if a != chosen)]


def _queued_run(store: Store, dataset_id: int) -> int | None:
    """The newest queued audit run of a version, or None."""
    runs = [i for i in store.queued_audit_runs()
            if (r := store.get_audit_run(i)) is not None and r.dataset_id == dataset_id]
    return runs[-1] if runs else None


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
