"""Why a conversation needs a person: escalation and quality-assurance signals.

:func:`conversation_signals` gives every conversation each reason it has, scored in
[0, 1], in the shape of a flags table (``row``: the conversation id, ``reason``,
``score``, ``explanation``):

- ``low_confidence``: the bot's confidence below ``low_confidence`` (score: how far).
- ``asked_for_person``: a user turn asks for a person (:data:`PERSON_PATTERNS`, English
  and Spanish).
- ``policy_rule``: a configurable rule matched (:class:`PolicyRule`; by default medical
  and legal advice, and a refund over a limit).
- ``negative_sentiment``: a user turn's VADER compound score (Hutto and Gilbert 2014;
  the ``vaderSentiment`` package, its lexicon inside it, nothing downloaded) at or below
  ``negative_sentiment``. VADER reads English only, so it is measured only on
  conversations in English (``language`` en, or no language given);
  :func:`signal_coverage` shows, per user group, the share each reason could be
  measured on, so a reason blind to some users is seen, not silently unequal.
- ``judge_fail``: the LLM judge scored a criterion below ``judge_pass_at`` or called the
  answer harmful.
- ``random_control``: a seeded uniform sample (``random_share``), the control.
- ``gold``: conversations with a known answer, to measure reviewers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audits.conversations.records import JUDGE_PREFIX, Conversations, Turn
from audits.flagging.common import CONVERSATION_REASONS

__all__ = ["DEFAULT_RULES", "PERSON_PATTERNS", "SIGNALS", "PolicyRule", "SignalPolicy",
           "conversation_signals", "refund_over", "sentiment", "signal_coverage"]

#: The reasons, in order (the flagging engine's conversation reasons but the
#: counterfactual probe's, :mod:`audits.conversations.probing`).
SIGNALS = tuple(r for r in CONVERSATION_REASONS if r != "counterfactual")
#: A user asking for a person, in English and Spanish.
PERSON_PATTERNS = (
    r"\b(speak|talk|chat)\s+(to|with)\s+(a\s+|an\s+|some\s*)?(human|person|agent|someone|"
    r"somebody|representative|operator)\b",
    r"\breal\s+(person|human)\b",
    r"\bhablar\s+con\s+(una\s+persona|un\s+agente|alguien|un\s+humano)\b",
    r"\b(agente|persona)\s+(humano|real)\b",
)
ENGLISH = ("en", "en-gb", "en-us")
MSG_THRESHOLD = "{name} must lie in [{low}, {high}]; got {value!r}"


@dataclass(frozen=True)
class PolicyRule:
    """A rule a conversation must not break: a regular expression over the turns of
    ``who`` (``"user"``, ``"assistant"`` or ``"any"``), or a ``check`` callable on the
    turns that returns an explanation when broken (else None)."""

    name: str
    explanation: str
    pattern: str | None = None
    who: str = "any"
    check: Callable[[Sequence[Turn]], str | None] | None = None

    def broken(self, turns: Sequence[Turn]) -> str | None:
        """Why the turns break the rule, or None."""
        if self.check is not None:
            return self.check(turns)
        texts = [t.text for t in turns if self.who == "any" or t.role == self.who]
        for text in texts:
            if self.pattern and re.search(self.pattern, text, re.IGNORECASE):
                return self.explanation
        return None


def refund_over(limit: float) -> Callable[[Sequence[Turn]], str | None]:
    """A check: the assistant promises a refund of more than ``limit`` (an amount after a
    currency sign in a turn that mentions a refund)."""
    amount = re.compile(r"[$€£]\s?(\d+(?:[.,]\d+)?)")

    def check(turns: Sequence[Turn]) -> str | None:
        for turn in turns:
            if turn.role == "assistant" and re.search(r"refund|reembolso", turn.text, re.I):
                for found in amount.findall(turn.text):
                    if float(found.replace(",", ".")) > limit:
                        return f"A refund over {limit:g} was promised ({found})."
        return None

    return check


DEFAULT_RULES = (
    PolicyRule("medical_advice", "A medical question: the bot may not give medical advice.",
               r"\b(dose|dosage|pills?|medication|medicine|supplement|diagnos\w*|"
               r"pastillas?|medicamento|suplemento|tensi[oó]n)\b", who="user"),
    PolicyRule("legal_advice", "A legal question: the bot may not give legal advice.",
               r"\b(lawsuit|sue|lawyer|attorney|legal advice|abogado|demanda)\b",
               who="user"),
    PolicyRule("refund_over_limit", "A refund over the limit needs a person's approval.",
               check=refund_over(100.0)),
)


@dataclass(frozen=True)
class SignalPolicy:
    """The thresholds of :func:`conversation_signals`."""

    low_confidence: float = 0.5
    negative_sentiment: float = -0.5
    judge_pass_at: float = 3.0
    random_share: float = 0.05
    rules: tuple[PolicyRule, ...] = field(default_factory=lambda: DEFAULT_RULES)
    random_state: int = 0

    def __post_init__(self) -> None:
        for name, low, high in (("low_confidence", 0.0, 1.0),
                                ("negative_sentiment", -1.0, 1.0),
                                ("random_share", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not low <= value <= high:
                raise ValueError(MSG_THRESHOLD.format(name=name, low=low, high=high,
                                                      value=value))


def sentiment(text: str) -> float:
    """VADER's compound score of ``text``, in [-1, 1] (negative below 0).

    Examples
    --------
    >>> sentiment("This is useless and I am really angry.") < -0.5
    True
    """
    return float(_analyzer().polarity_scores(text)["compound"])


def conversation_signals(conversations: Conversations, policy: SignalPolicy | None = None,
                         *, gold: Iterable[str] = ()) -> pd.DataFrame:
    """Every reason each conversation needs a person, as a flags table.

    Returns
    -------
    pandas.DataFrame
        ``row`` (conversation id), ``reason`` (one of :data:`SIGNALS`), ``score`` in
        [0, 1], ``explanation``; sorted by conversation, then reason.
    """
    policy = policy or SignalPolicy()
    frame = conversations.frame
    rows: list[tuple[str, str, float, str]] = []
    for cid, record in frame.iterrows():
        cid = str(cid)
        turns = conversations.turns[cid]
        confidence = record["confidence"]
        if pd.notna(confidence) and confidence < policy.low_confidence:
            rows.append((cid, "low_confidence",
                         float((policy.low_confidence - confidence) / policy.low_confidence),
                         f"The bot's confidence was {confidence:.2f} (below "
                         f"{policy.low_confidence:g})."))
        asked = next((t.text for t in turns if t.role == "user" and any(
            re.search(p, t.text, re.IGNORECASE) for p in PERSON_PATTERNS)), None)
        if asked is not None:
            rows.append((cid, "asked_for_person", 1.0,
                         f"The user asked for a person: \u201c{asked[:120]}\u201d"))
        for rule in policy.rules:
            why = rule.broken(turns)
            if why is not None:
                rows.append((cid, "policy_rule", 1.0, f"{rule.name}: {why}"))
        if _english(record):
            worst = min((sentiment(t.text) for t in turns if t.role == "user"), default=0.0)
            if worst <= policy.negative_sentiment:
                rows.append((cid, "negative_sentiment", float(min(1.0, -worst)),
                             f"A user turn reads as negative (VADER compound {worst:.2f})."))
        failed = _judge_failures(record, conversations.judge_criteria, policy.judge_pass_at)
        if failed:
            rows.append((cid, "judge_fail", 1.0,
                         f"The judge ({record['judge_name']}) failed it on "
                         f"{', '.join(failed)}."))
    rng = np.random.default_rng(policy.random_state)
    ids = frame.index.astype(str).to_numpy()
    picked = ids[rng.random(len(ids)) < policy.random_share]
    rows += [(cid, "random_control", 1.0,
              "Chosen at random for quality assurance (the control).")
             for cid in picked]
    known = set(ids)
    rows += [(str(cid), "gold", 1.0, "A conversation with a known answer (measures reviewers).")
             for cid in gold if str(cid) in known]
    table = pd.DataFrame(rows, columns=["row", "reason", "score", "explanation"])
    order = {r: i for i, r in enumerate(SIGNALS)}
    return (table.assign(_order=table["reason"].map(order))
            .sort_values(["row", "_order"], kind="stable").drop(columns="_order")
            .reset_index(drop=True))


def signal_coverage(conversations: Conversations, *, by: str) -> pd.DataFrame:
    """The share of each group's conversations each reason can be measured on.

    A reason that is blind to some users (VADER reads English only; a judge may not
    have scored every conversation; the bot may not report a confidence) flags them less
    for a reason that is not theirs; this table shows it before anyone compares flag
    rates across groups.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group, n`` and, per reason, the measurable share.
    """
    frame = conversations.frame
    judged = (frame[[JUDGE_PREFIX + c for c in conversations.judge_criteria]].notna()
              .any(axis=1) if conversations.judge_criteria else pd.Series(False, frame.index))
    measurable = pd.DataFrame({
        "low_confidence": frame["confidence"].notna(),
        "asked_for_person": True, "policy_rule": True,
        "negative_sentiment": frame.apply(_english, axis=1).astype(bool),
        "judge_fail": judged, "random_control": True, "gold": True}, index=frame.index)
    groups = frame[by].astype("string").fillna("<missing>")
    out = measurable.groupby(groups.to_numpy()).mean()
    out.insert(0, "n", groups.value_counts().reindex(out.index).to_numpy())
    return out.rename_axis("group").reset_index()


def _english(record: pd.Series) -> bool:
    language = record.get("language")
    return language is None or pd.isna(language) or str(language).lower() in ENGLISH


def _judge_failures(record: pd.Series, criteria: Sequence[str], pass_at: float) -> list[str]:
    failed = []
    for criterion in criteria:
        score = record[JUDGE_PREFIX + criterion]
        if pd.isna(score):
            continue
        if criterion == "harmful":
            if score >= 1:
                failed.append("harmful")
        elif score < pass_at:
            failed.append(f"{criterion} ({score:g})")
    return failed


_ANALYZER: list[Any] = []


def _analyzer() -> Any:
    if not _ANALYZER:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _ANALYZER.append(SentimentIntensityAnalyzer())
    return _ANALYZER[0]
