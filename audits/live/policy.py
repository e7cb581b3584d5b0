"""Which live decisions are held for a person before they take effect, and why.

A live decision arrives alone or in a small batch, before it takes effect. The batch
flag reasons of :mod:`audits.flagging` apply to it unchanged, with one difference: a row
alone knows only its own group, so the groups and their proxies' typical values for a
counterfactual come from the system's registered data (``reference``), and each row is
flagged exactly as it would be in a batch of that data. The random control is a
Bernoulli draw per decision, a seeded hash of its row key (:func:`random_control_drawn`;
the decision service's row key is ``live:`` and the call's idempotency key), so a
decision is drawn or not whatever it is sent with, and an auditor can redraw it.

:func:`evaluate_live` says which rows a person should see; whether the review budget
lets them be held (:mod:`audits.live.budget`) is decided by the caller, which keeps the
budget's state.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.flagging.common import seeded_key
from audits.flagging.flags import attribution_flags, combine_flags, low_confidence_flags
from audits.flagging.reasons import counterfactual_flags

__all__ = ["FALLBACKS", "LIVE_COLUMNS", "WHEN_SPENT", "LivePolicy", "evaluate_live",
           "random_control_drawn"]

#: What happens to a decision the policy would hold once the review budget is spent.
WHEN_SPENT = ("auto", "hold")
#: What takes effect when nobody decides a held decision in time.
FALLBACKS = ("model", "positive", "negative")
#: The columns of :func:`evaluate_live`'s table, one row per decision.
LIVE_COLUMNS = ("score", "model_decision", "held", "primary_reason", "reasons")
#: Reasons in the order they are listed for one decision (the first is its primary one).
_ORDER = ("counterfactual", "attribution", "low_confidence", "random_control")

MSG_SHARE = "{name} must lie in [0, 1]; got {value!r}"
MSG_POSITIVE = "{name} must be a finite number > 0; got {value!r}"
MSG_CHOICE = "{name} must be one of {choices}; got {value!r}"
MSG_SEED = "random_state must be an int; got {value!r}"
MSG_SCORES = "scores must be a pandas Series on the frame's index; got {kind}"
MSG_INDEX = "scores and frame must have the same index (one score per decision)"
MSG_NEEDS_MODEL = ("the counterfactual reason needs the model (pipeline), its features and "
                   "the sensitive features; pass them or set counterfactual=False")
MSG_NEEDS_SHAP = ("the attribution reason needs each decision's SHAP contributions and the "
                  "watched features; pass them or set attribution_min_share=None")


def _number(value: Any) -> bool:
    return (isinstance(value, int | float | np.floating | np.integer)
            and not isinstance(value, bool) and bool(np.isfinite(value)))


@dataclass(frozen=True)
class LivePolicy:
    """How a system's live decisions are held for a person.

    Attributes
    ----------
    low_confidence_margin : float or None, default 0.1
        Hold a decision whose score lies within this of the threshold (None: never).
    counterfactual : bool, default True
        Hold a decision that flips when only its group (and the group's proxies) changes.
    attribution_min_share : float or None, default None
        Hold a decision whose SHAP attribution on sensitive features and their proxies is
        at least this share (None: off; it costs one SHAP explanation per decision).
    random_rate : float, default 0.02
        Share of decisions held at random as a control, in [0, 1].
    random_state : int, default 0
        Seed of the control's draw.
    reviews_per_day : float, default 200
        The review budget: held decisions per day the panel can take (a token bucket).
    burst : float or None, default None
        The most the bucket holds (None: one day's budget).
    when_spent : {"auto", "hold"}, default "auto"
        When the budget is spent: decide automatically and mark the decision
        "unreviewed: budget", or hold it anyway.
    sla_hours : float, default 4
        How long a held decision waits for the panel before it goes to the panel lead.
    lead_hours : float, default 4
        How long it then waits for the lead before the fallback takes effect.
    fallback : {"model", "positive", "negative"}, default "model"
        What takes effect when nobody decides in time.
    """

    low_confidence_margin: float | None = 0.1
    counterfactual: bool = True
    attribution_min_share: float | None = None
    random_rate: float = 0.02
    random_state: int = 0
    reviews_per_day: float = 200.0
    burst: float | None = None
    when_spent: str = "auto"
    sla_hours: float = 4.0
    lead_hours: float = 4.0
    fallback: str = "model"

    def __post_init__(self) -> None:
        margin = self.low_confidence_margin
        if margin is not None and not (_number(margin) and 0 < margin <= 1):
            raise ValueError(MSG_SHARE.format(name="low_confidence_margin", value=margin)
                             .replace("[0, 1]", "(0, 1]"))
        share = self.attribution_min_share
        if share is not None and not (_number(share) and 0 < share <= 1):
            raise ValueError(MSG_SHARE.format(name="attribution_min_share", value=share)
                             .replace("[0, 1]", "(0, 1]"))
        if not isinstance(self.counterfactual, bool):
            raise ValueError(MSG_CHOICE.format(name="counterfactual", choices="True, False",
                                               value=self.counterfactual))
        if not (_number(self.random_rate) and 0 <= self.random_rate <= 1):
            raise ValueError(MSG_SHARE.format(name="random_rate", value=self.random_rate))
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ValueError(MSG_SEED.format(value=self.random_state))
        for name in ("reviews_per_day", "sla_hours", "lead_hours"):
            value = getattr(self, name)
            if not (_number(value) and value > 0):
                raise ValueError(MSG_POSITIVE.format(name=name, value=value))
        if self.burst is not None and not (_number(self.burst) and self.burst >= 1):
            raise ValueError(MSG_POSITIVE.format(name="burst", value=self.burst)
                             .replace("> 0", ">= 1"))
        if self.when_spent not in WHEN_SPENT:
            raise ValueError(MSG_CHOICE.format(name="when_spent", choices=", ".join(WHEN_SPENT),
                                               value=self.when_spent))
        if self.fallback not in FALLBACKS:
            raise ValueError(MSG_CHOICE.format(name="fallback", choices=", ".join(FALLBACKS),
                                               value=self.fallback))

    @property
    def capacity(self) -> float:
        """The most review budget the bucket holds (``burst``, else one day's)."""
        return float(self.burst if self.burst is not None else self.reviews_per_day)

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-ready values (for the store and the log)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def random_control_drawn(key: Hashable, rate: float, random_state: int) -> bool:
    """Whether decision ``key`` is drawn into the random control.

    A Bernoulli draw with probability ``rate`` from a seeded hash of the key alone: the
    same key, rate and seed give the same answer in any batch and on any machine.

    Examples
    --------
    >>> random_control_drawn("a-1", 1.0, 0), random_control_drawn("a-1", 0.0, 0)
    (True, False)
    >>> random_control_drawn("a-1", 0.5, 3) == random_control_drawn("a-1", 0.5, 3)
    True
    """
    if rate <= 0:
        return False
    uniform = seeded_key(key, random_state)[0] / 2.0**64
    return uniform < rate


def evaluate_live(
    frame: pd.DataFrame,
    scores: pd.Series,
    *,
    threshold: float,
    policy: LivePolicy,
    pipeline: Any = None,
    features: Sequence[str] = (),
    sensitive_features: Sequence[str] = (),
    proxies: Mapping[str, Sequence[str]] | None = None,
    reference: pd.DataFrame | None = None,
    contributions: pd.DataFrame | None = None,
    watched: Sequence[str] = (),
    positive_is_favourable: bool = True,
) -> pd.DataFrame:
    """Say, for each live decision, whether the policy holds it for a person and why.

    Parameters
    ----------
    frame : pandas.DataFrame
        The decisions' features and sensitive features; its index is the decision ids.
    scores : pandas.Series
        The model's scores on ``frame``'s index.
    threshold : float
        The decision threshold: a score at or above it is a positive decision.
    policy : LivePolicy
    pipeline, features, sensitive_features, proxies, reference
        For the counterfactual reason (see
        :func:`audits.flagging.reasons.counterfactual_flags`); ``reference`` is the
        system's data, where the groups and the proxies' typical values come from.
    contributions, watched
        For the attribution reason: SHAP contributions of these rows and the features
        to watch (see :func:`audits.flagging.flags.attribution_flags`).
    positive_is_favourable : bool, default True

    Returns
    -------
    pandas.DataFrame
        On ``frame``'s index, columns :data:`LIVE_COLUMNS`: ``score``,
        ``model_decision`` (0/1), ``held`` (whether any reason fired),
        ``primary_reason`` (None when not held) and ``reasons`` (a list of
        ``{"reason", "score", "explanation"}``, strongest reason first).

    Examples
    --------
    >>> frame = pd.DataFrame({"x": [0.0, 1.0]}, index=["d1", "d2"])
    >>> out = evaluate_live(frame, pd.Series([0.55, 0.95], index=frame.index),
    ...                     threshold=0.5, policy=LivePolicy(counterfactual=False,
    ...                                                      random_rate=0.0))
    >>> out["held"].tolist(), out["primary_reason"].tolist()
    ([True, False], ['low_confidence', None])
    """
    if not isinstance(policy, LivePolicy):
        raise TypeError(f"policy must be a LivePolicy; got {type(policy).__name__}")
    if not isinstance(scores, pd.Series):
        raise TypeError(MSG_SCORES.format(kind=type(scores).__name__))
    if not scores.index.equals(frame.index):
        raise ValueError(MSG_INDEX)
    tables = []
    if policy.low_confidence_margin is not None:
        tables.append(low_confidence_flags(scores, threshold=threshold,
                                           margin=policy.low_confidence_margin))
    if policy.counterfactual:
        if pipeline is None or not features or not sensitive_features:
            raise ValueError(MSG_NEEDS_MODEL)
        tables.append(counterfactual_flags(
            pipeline, frame, features=features, sensitive_features=sensitive_features,
            proxies=proxies, threshold=threshold,
            positive_is_favourable=positive_is_favourable, reference=reference))
    if policy.attribution_min_share is not None:
        if contributions is None or not watched:
            raise ValueError(MSG_NEEDS_SHAP)
        tables.append(attribution_flags(contributions, watched=watched,
                                        min_share=policy.attribution_min_share))
    drawn = [key for key in frame.index
             if random_control_drawn(key, policy.random_rate, policy.random_state)]
    if drawn:
        notes = [f"Held at random (rate {policy.random_rate:.2%}, seed "
                 f"{policy.random_state}) as a control: measures how often decisions that "
                 "are not held are wrong." for _ in drawn]
        tables.append(pd.DataFrame({"row": pd.Series(drawn, dtype=object),
                                    "reason": "random_control", "score": 0.5,
                                    "explanation": notes}))
    flags = combine_flags(*tables) if tables else None
    reasons: dict[Hashable, list[dict[str, Any]]] = {key: [] for key in frame.index}
    if flags is not None:
        rank = {reason: i for i, reason in enumerate(_ORDER)}
        ordered = flags.assign(_rank=flags["reason"].map(rank))
        ordered = ordered.sort_values(["_rank"], kind="stable")
        for row in ordered.itertuples(index=False):
            reasons[row.row].append({"reason": row.reason, "score": round(float(row.score), 4),
                                     "explanation": row.explanation})
    values = scores.astype(np.float64)
    out = pd.DataFrame({
        "score": values,
        "model_decision": (values >= threshold).astype(int),
        "held": [bool(reasons[key]) for key in frame.index],
        "primary_reason": pd.Series([reasons[key][0]["reason"] if reasons[key] else None
                                     for key in frame.index], index=frame.index, dtype=object),
        "reasons": pd.Series([reasons[key] for key in frame.index], index=frame.index,
                             dtype=object),
    }, index=frame.index)
    return out
