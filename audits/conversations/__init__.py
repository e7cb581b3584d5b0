"""Conversations: a chatbot's conversations as decisions a panel reviews.

Owns reading and checking a conversation log (:mod:`~audits.conversations.records`:
turns, the bot's signals, the outcome, user attributes and consented demographics, an
LLM judge's rubric scores), the simulated conversations fairpanel bundles, with effects
planted for the analysis to find (:mod:`~audits.conversations.simulated`), and the
bot's fairness across its users: escalation, resolution and hand-over rates audited by
the fairness engine, and mean rubric scores bootstrapped per group
(:mod:`~audits.conversations.rates`).

Conversation systems live in the store like any system
(:mod:`~audits.conversations.stored`: registered and ingested in batches, queued by the
escalation and QA signals under the budgeted stratified policy, rated with a
configurable :mod:`~audits.conversations.rubric`); :mod:`~audits.conversations.findings`
gathers what the pages, the report and ``fairpanel judges --system`` show;
:mod:`~audits.conversations.feedback` turns the reviews into fine-tuning and evaluation
sets and lists the knowledge gaps; :mod:`~audits.conversations.probing` replays
conversations with a user attribute swapped against an OpenAI-compatible endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.conversations.feedback import (
        evaluation_records,
        knowledge_gaps,
        training_records,
    )
    from audits.conversations.findings import (
        ConversationFindings,
        conversation_findings,
        reviewed_records,
    )
    from audits.conversations.probing import (
        Endpoint,
        ProbeError,
        ProbeResult,
        probe_conversation,
        probe_conversations,
    )
    from audits.conversations.rates import RATES, BotRates, bot_rates, score_means
    from audits.conversations.records import (
        Conversations,
        Turn,
        conversations_from_records,
        read_conversations,
        records_of,
    )
    from audits.conversations.rubric import DEFAULT_RUBRIC, Criterion, Rubric
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
    from audits.conversations.stored import (
        build_conversation_queue,
        load_conversations,
        panel_rubric_ratings,
        register_conversations,
    )

__all__ = [
    "BotRates",
    "ConversationFindings",
    "Conversations",
    "Criterion",
    "DEFAULT_RUBRIC",
    "Endpoint",
    "PolicyRule",
    "ProbeError",
    "ProbeResult",
    "RATES",
    "Rubric",
    "SIGNALS",
    "SignalPolicy",
    "SimulatedConversations",
    "Turn",
    "bot_rates",
    "build_conversation_queue",
    "bundled_conversations",
    "conversation_findings",
    "conversation_signals",
    "conversations_from_records",
    "evaluation_records",
    "knowledge_gaps",
    "load_conversations",
    "panel_rubric_ratings",
    "probe_conversation",
    "probe_conversations",
    "read_conversations",
    "records_of",
    "register_conversations",
    "reviewed_records",
    "score_means",
    "signal_coverage",
    "simulate_conversations",
    "training_records",
]

__getattr__ = lazy_getattr(__name__, __file__)
