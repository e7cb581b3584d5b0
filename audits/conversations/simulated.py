"""Simulated chatbot conversations with effects planted for the analysis to find.

No openly licensed log of customer-support conversations with user attributes, bot
signals and judge scores ships in a package on PyPI or Debian (ConvoKit and the
HuggingFace ``datasets`` package download their corpora at run time), so fairpanel
bundles a generated one, clearly labelled simulated (``datasets/conversations.jsonl``,
card ``datasets/conversations.md``). :func:`simulate_conversations` makes it from a seed;
``python -m audits.conversations.simulated --out PATH`` writes it.

Planted effects (:data:`EFFECTS`), which the tests require the analysis to find:

- **Escalation**: users writing in Spanish (``language=es``) are escalated to a person
  more often at the same bot confidence (log-odds +1.0).
- **A harsher judge**: the LLM judge scores the tone of answers to users writing in the
  regional dialect one point lower (on 1-5) than the answers deserve.

Everything else is alike across users: the same intents, the same answer quality, the
same resolution given quality.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audits.conversations.records import Conversations, conversations_from_records

__all__ = ["CRITERIA", "EFFECTS", "JUDGE", "SimulatedConversations", "bundled_conversations",
           "simulate_conversations", "simulated_panel_ratings", "simulated_rubric",
           "write_jsonl"]

#: The rubric the judge scores: 1-5 scales, and harmful (0/1).
CRITERIA = ("correct", "follows_policy", "tone", "harmful")
JUDGE = "judge-sim-1"
EFFECTS = {
    "escalation_log_odds": {"language": {"es": 1.0}},
    "judge_tone_offset": {"dialect": {"regional": -1.0}},
}
_INTENTS = {
    "billing": ("Why was I charged twice this month?",
                "¿Por qué me cobraron dos veces este mes?",
                "I can see two charges; the second is refunded within 5 days."),
    "refund": ("I want my money back for the broken kettle.",
               "Quiero que me devuelvan el dinero del hervidor roto.",
               "I have started a refund of the kettle to your card."),
    "password": ("I can't log in, my password doesn't work.",
                 "No puedo entrar, mi contraseña no funciona.",
                 "I have sent a reset link to your email."),
    "delivery": ("Where is my parcel? It was due yesterday.",
                 "¿Dónde está mi paquete? Debía llegar ayer.",
                 "Your parcel is at the depot and arrives tomorrow."),
    "medical": ("Can I take this supplement with my blood pressure pills?",
                "¿Puedo tomar este suplemento con mis pastillas de la tensión?",
                "I can't give medical advice; please ask your pharmacist or doctor."),
}
_REGIONAL = ("Aye, ", "Wee question: ", "I reckon ")
_NEGATIVE = (" This is useless and I am really angry.", " Terrible service, again.")
_NEGATIVE_ES = (" Esto no sirve para nada y estoy muy enfadado.",
                " Un servicio terrible, otra vez.")
_ASK = ("Can I speak to a real person, please?", "Quiero hablar con una persona, por favor.")


@dataclass(frozen=True)
class SimulatedConversations:
    """The records (the log's contract) and what the simulation knows: each
    conversation's deserved rubric scores (before the judge's noise and bias)."""

    records: list[dict[str, Any]]
    truth: dict[str, dict[str, float]]


def simulate_conversations(n: int = 2_000, *, seed: int = 0) -> SimulatedConversations:
    """Simulate ``n`` conversations with the planted :data:`EFFECTS`.

    Examples
    --------
    >>> sim = simulate_conversations(5, seed=1)
    >>> len(sim.records), sorted(sim.records[0])
    (5, ['bot', 'conversation_id', 'judge', 'outcome', 'simulated', 'turns', 'user'])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    rng = np.random.default_rng(seed)
    asks = np.random.default_rng([seed, 1])  # who asks for a person
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    intents = list(_INTENTS)
    records: list[dict[str, Any]] = []
    truth: dict[str, dict[str, float]] = {}
    for i in range(n):
        cid = f"conv-{i + 1:05d}"
        language = "es" if rng.random() < 0.3 else "en"
        dialect = "regional" if language == "en" and rng.random() < 0.35 else "standard"
        region = str(rng.choice(["north", "south", "east", "west"]))
        channel = str(rng.choice(["web", "app", "phone"], p=[0.5, 0.35, 0.15]))
        intent = str(rng.choice(intents, p=[0.25, 0.2, 0.25, 0.2, 0.1]))
        confidence = float(np.clip(rng.beta(6, 2) - (0.25 if intent == "medical" else 0),
                                   0.02, 0.99))
        # Deserved quality: the same for everyone.
        correct = float(np.clip(round(1 + 4 * confidence + rng.normal(0, 0.7)), 1, 5))
        policy = 5.0 if intent != "medical" else float(rng.choice([3, 4, 5]))
        tone = float(np.clip(round(rng.normal(4.1, 0.7)), 1, 5))
        harmful = float(intent == "medical" and rng.random() < 0.08)
        truth[cid] = {"correct": correct, "follows_policy": policy, "tone": tone,
                      "harmful": harmful}
        logit = -1.2 - 4.0 * (confidence - 0.7) + (1.3 if intent == "medical" else 0.0)
        logit += EFFECTS["escalation_log_odds"]["language"].get(language, 0.0)
        escalated = bool(rng.random() < 1 / (1 + np.exp(-logit)))
        handed_over = escalated and bool(rng.random() < 0.8)
        resolved = bool(rng.random() < (0.35 + 0.12 * correct if not handed_over else 0.8))
        angry = rng.random() < (0.08 if resolved else 0.3)
        user_text = _INTENTS[intent][1 if language == "es" else 0]
        if dialect == "regional":
            user_text = str(rng.choice(_REGIONAL)) + user_text[0].lower() + user_text[1:]
        at = start + timedelta(minutes=int(i * 7 + rng.integers(0, 5)))
        turns = [{"role": "user", "text": user_text, "at": _iso(at)},
                 {"role": "assistant", "text": _INTENTS[intent][2],
                  "at": _iso(at + timedelta(seconds=4))}]
        if angry:
            said = str(rng.choice(_NEGATIVE_ES if language == "es" else _NEGATIVE)).strip()
            turns.append({"role": "user", "text": said,
                          "at": _iso(at + timedelta(seconds=40))})
        if asks.random() < (0.5 if escalated else 0.03):  # its own stream: the rest stays
            turns.append({"role": "user", "text": _ASK[language == "es"],
                          "at": _iso(at + timedelta(seconds=50))})
        if handed_over:
            turns.append({"role": "agent", "text": "Hello, I'm Sam from the support team; "
                          "I'll sort this out for you.",
                          "at": _iso(at + timedelta(minutes=2))})
        offset = EFFECTS["judge_tone_offset"]["dialect"].get(dialect, 0.0)
        scores = {"correct": _judged(rng, correct), "follows_policy": _judged(rng, policy),
                  "tone": _judged(rng, tone + offset),
                  "harmful": int(harmful if rng.random() > 0.05 else 1 - harmful)}
        records.append({
            "conversation_id": cid, "simulated": True, "turns": turns,
            "bot": {"confidence": round(confidence, 4), "intent": intent,
                    "escalated": escalated, "handed_over": handed_over},
            "outcome": {"resolved": resolved,
                        "user_rating": int(np.clip(round(2 + 2.5 * resolved
                                                         + rng.normal(0, 0.8)), 1, 5))},
            "user": {"language": language, "dialect": dialect, "region": region,
                     "channel": channel},
            "judge": {"name": JUDGE, "scores": scores},
        })
    return SimulatedConversations(records, truth)


def simulated_panel_ratings(sim: SimulatedConversations, *, n_conversations: int = 400,
                            n_reviewers: int = 6, per_conversation: int = 3,
                            automation_bias: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """A simulated panel's rubric ratings of a sample of the conversations.

    Each sampled conversation is rated by ``per_conversation`` of ``n_reviewers``
    reviewers: the deserved score plus noise (sd 0.6, rounded to the 1-5 scale; harmful
    flipped 3% of the time), the same for every user. Whether a reviewer saw the judge's
    scores is drawn per (conversation, reviewer), a fair coin (``judge_shown``); with
    ``automation_bias`` > 0 a reviewer who saw them copies the judge's score of each
    criterion with that probability (the planted automation bias; 0: an unbiased
    panel). Long format: ``conversation_id, reviewer_id, criterion, score,
    judge_shown``.

    Examples
    --------
    >>> sim = simulate_conversations(50, seed=2)
    >>> r = simulated_panel_ratings(sim, n_conversations=10)
    >>> len(r), sorted(r["criterion"].unique()) == sorted(CRITERIA)
    (120, True)
    """
    if not 0.0 <= automation_bias <= 1.0:
        raise ValueError(f"automation_bias must lie in [0, 1]; got {automation_bias!r}")
    rng = np.random.default_rng(seed)
    shown_rng = np.random.default_rng([seed, 2])  # its own stream: the scores stay
    ids = list(sim.truth)
    judged = {r["conversation_id"]: r["judge"]["scores"] for r in sim.records}
    chosen = rng.choice(len(ids), size=min(n_conversations, len(ids)), replace=False)
    reviewers = [f"reviewer-{k + 1}" for k in range(n_reviewers)]
    rows = []
    for index in sorted(chosen):
        cid = ids[index]
        for reviewer in rng.choice(reviewers, size=per_conversation, replace=False):
            shown = bool(shown_rng.random() < 0.5)
            scores = simulated_rubric(sim.truth[cid], judged[cid] if shown else None, rng,
                                      shown_rng, automation_bias=automation_bias)
            rows += [{"conversation_id": cid, "reviewer_id": str(reviewer),
                      "criterion": criterion, "score": score, "judge_shown": shown}
                     for criterion, score in scores.items()]
    return pd.DataFrame(rows)


def simulated_rubric(deserved: Mapping[str, float], judge: Mapping[str, float] | None,
                     rng: np.random.Generator, shown_rng: np.random.Generator, *,
                     automation_bias: float = 0.0) -> dict[str, float]:
    """One simulated reviewer's rubric scores of one conversation: the deserved score
    plus noise (sd 0.6, rounded to 1-5; harmful flipped 3% of the time), each replaced
    by the judge's with probability ``automation_bias`` when the judge's scores were
    shown (``judge`` given). ``shown_rng`` draws the copying, so the scores' own stream
    is the same with or without it."""
    scores = {}
    for criterion in CRITERIA:
        value = deserved[criterion]
        if criterion == "harmful":
            score = float(value if rng.random() > 0.03 else 1 - value)
        else:
            score = float(np.clip(round(value + rng.normal(0, 0.6)), 1, 5))
        if judge is not None and shown_rng.random() < automation_bias:
            score = float(judge[criterion])
        scores[criterion] = score
    return scores


def bundled_conversations() -> Conversations:
    """The bundled conversations (card: ``datasets/conversations.md``): 2,000 simulated
    with seed 0, read through the same checks as a user's log."""
    return conversations_from_records(simulate_conversations(2_000, seed=0).records,
                                      where="the bundled simulated conversations")


def write_jsonl(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write conversation records as JSON Lines (one object per line, sorted keys)."""
    out = Path(path)
    out.write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                           for r in records), encoding="utf-8")
    return out


def _judged(rng: np.random.Generator, deserved: float) -> int:
    return int(np.clip(round(deserved + rng.normal(0, 0.5)), 1, 5))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the simulated conversations.")
    parser.add_argument("--out", required=True)
    parser.add_argument("-n", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_jsonl(simulate_conversations(args.n, seed=args.seed).records, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
