"""Drawing a conversation's case: the chat, the LLM judge's scores, the rubric's inputs.

Shared by My reviews and Adjudication (pages never import each other). The snapshot a
reviewer gets is already blinded by the engine (:func:`audits.store.blinded_snapshot`):
the judge's scores are in it only when the assignment shows them, so what it lacks is
not drawn. A person's words are drawn as text, never as Markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from app.formatting import plain

__all__ = ["ACCEPTABLE", "is_conversation", "judge_line", "rubric_inputs", "show_chat",
           "show_judge"]

#: The two verdicts on a conversation, acceptable first (the rating's label 1 and 0).
ACCEPTABLE = {1: "Acceptable as it is", 0: "Not acceptable"}
#: How each role is drawn (Streamlit's chat avatars).
AVATARS = {"user": "user", "assistant": "assistant", "agent": ":material/support_agent:",
           "system": ":material/settings:"}
NAMES = {"user": "User", "assistant": "Bot", "agent": "Agent (a person)", "system": "System"}


def is_conversation(snapshot: Mapping[str, Any]) -> bool:
    """Whether a case's snapshot is a chatbot conversation."""
    return snapshot.get("kind") == "conversation"


def show_chat(snapshot: Mapping[str, Any]) -> None:
    """The conversation's turns, as a chat (``st.chat_message``), with the bot's signals."""
    features = snapshot.get("features") or {}
    facts = [f"intent **{plain(features['intent'])}**" if features.get("intent") else None,
             "escalated to a person" if features.get("escalated") else None,
             "handed over to an agent" if features.get("handed_over") else None,
             None if features.get("confidence") is None
             else f"bot confidence {float(features['confidence']):.2f}"]
    sensitive = snapshot.get("sensitive") or {}
    about = [f"{plain(k)}: {plain(v)}" for k, v in sensitive.items()]
    st.caption(" · ".join(f for f in facts if f) + ("" if not about else
                                                    "  \nUser: " + " · ".join(about)))
    with st.container(border=True, key="conversation.chat"):
        for turn in snapshot.get("turns") or []:
            role = str(turn.get("role", "user"))
            with st.chat_message(NAMES.get(role, role), avatar=AVATARS.get(role)):
                st.text(str(turn.get("text", "")))


def judge_line(judge: Mapping[str, Any], rubric: list[Mapping[str, Any]]) -> str:
    """The judge's scores in words, criterion by criterion.

    Examples
    --------
    >>> judge_line({"name": "j", "scores": {"tone": 2.0, "harmful": 0.0}},
    ...            [{"name": "tone", "kind": "scale", "high": 5},
    ...             {"name": "harmful", "kind": "yes_no", "high": 1}])
    'tone 2/5 · harmful no'
    """
    scores = judge.get("scores") or {}
    parts = []
    for criterion in rubric:
        name = str(criterion["name"])
        if name not in scores:
            continue
        value = float(scores[name])
        shown = ("yes" if value >= 0.5 else "no") if criterion.get("kind") == "yes_no" \
            else f"{value:g}/{criterion.get('high', 5)}"
        parts.append(f"{name.replace('_', ' ')} {shown}")
    return " · ".join(parts)


def show_judge(snapshot: Mapping[str, Any]) -> None:
    """The LLM judge's verdict and scores (nothing when they are hidden)."""
    judge, decision = snapshot.get("judge"), snapshot.get("decision")
    if not judge or not decision:
        return
    with st.container(border=True, key="conversation.judge"):
        # The verdict and the line are our own words and the rubric's names (a-z, 0-9
        # and _ only); the judge's name comes from the log.
        st.markdown(f"**The LLM judge ({plain(judge.get('name', 'judge'))})**: "
                    f"{'acceptable' if decision.get('value') else 'not acceptable'}  \n"
                    + judge_line(judge, list(snapshot.get("rubric") or [])))


def rubric_inputs(snapshot: Mapping[str, Any], key: str,
                  given: Mapping[str, int] | None) -> dict[str, int | None]:
    """One choice per rubric criterion (a scale's values, or No/Yes); returns the answers
    (None where not chosen)."""
    answers: dict[str, int | None] = {}
    for criterion in snapshot.get("rubric") or []:
        name = str(criterion["name"])
        low, high = int(criterion["low"]), int(criterion["high"])
        values = list(range(low, high + 1))
        if criterion.get("kind") == "yes_no":
            labels = {0: "No", 1: "Yes"}
        else:
            labels = {v: str(v) + (" · worst" if v == low else " · best" if v == high else "")
                      for v in values}
        before = None if given is None else given.get(name)
        answers[name] = st.radio(plain(str(criterion.get("question") or name)), values,
                                 format_func=labels.__getitem__, horizontal=True,
                                 index=None if before is None else values.index(int(before)),
                                 key=f"{key}.rubric.{name}")
    return answers
