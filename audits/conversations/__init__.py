"""Conversations: a chatbot's conversations as decisions a panel reviews.

Owns reading and checking a conversation log (:mod:`~audits.conversations.records`:
turns, the bot's signals, the outcome, user attributes and consented demographics, an
LLM judge's rubric scores), the simulated conversations fairpanel bundles, with effects
planted for the analysis to find (:mod:`~audits.conversations.simulated`), and the
bot's fairness across its users: escalation, resolution and hand-over rates audited by
the fairness engine, and mean rubric scores bootstrapped per group
(:mod:`~audits.conversations.rates`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.conversations.rates import RATES, BotRates, bot_rates, score_means
    from audits.conversations.records import (
        Conversations,
        Turn,
        conversations_from_records,
        read_conversations,
    )
    from audits.conversations.signals import (
        SIGNALS,
        PolicyRule,
        SignalPolicy,
        conversation_signals,
        signal_coverage,
    )
    from audits.conversations.simulated import (
        SimulatedConversations,
        bundled_conversations,
        simulate_conversations,
    )

__all__ = [
    "BotRates",
    "Conversations",
    "PolicyRule",
    "RATES",
    "SIGNALS",
    "SignalPolicy",
    "SimulatedConversations",
    "Turn",
    "bot_rates",
    "bundled_conversations",
    "conversation_signals",
    "conversations_from_records",
    "read_conversations",
    "score_means",
    "signal_coverage",
    "simulate_conversations",
]

__getattr__ = lazy_getattr(__name__, __file__)
