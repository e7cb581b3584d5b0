"""The rubric reviewers rate a conversation with: criteria, each a scale or a yes/no.

A :class:`Rubric` is configured per conversation system (stored with each version, and
copied into every case's snapshot, so a later change cannot alter what was rated). A
criterion is a 1-5 style scale (``low``..``high``, higher is better) or a yes/no question
(0 or 1; ``bad_answer`` says which answer is a failure, e.g. 1 for "harmful").
:meth:`Rubric.check` validates a reviewer's scores against it; :meth:`Rubric.passes`
says whether scores meet every criterion's bar, the verdict a judge's scores are shown
as and a reviewer's "acceptable as it stands" is compared with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_RUBRIC", "Criterion", "Rubric"]

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
KINDS = ("scale", "yes_no")

MSG_NAME = "criterion name {name!r} is invalid: use 1 to 40 of a-z, 0-9 and _, from a letter"
MSG_KIND = "criterion {name!r}: kind must be one of {kinds}; got {kind!r}"
MSG_SCALE = "criterion {name!r}: the scale needs integers low < high <= 10; got {low!r}..{high!r}"
MSG_PASS = "criterion {name!r}: pass_at must lie in {low}..{high}; got {value!r}"
MSG_BAD_ANSWER = "criterion {name!r}: bad_answer must be 0 or 1; got {value!r}"
MSG_EMPTY = "a rubric needs at least one criterion"
MSG_TWICE = "criterion {name!r} appears twice in the rubric"
MSG_MISSING = "score every criterion of the rubric; missing: {names}"
MSG_UNKNOWN = "{names} not in the rubric; its criteria: {known}"
MSG_VALUE = "criterion {name!r} takes {allowed}; got {value!r}"
MSG_KEYS = ("criterion {name!r}: give name and question, and only known keys ({known}); "
            "unknown: {extra}")
MSG_NOT_MAPPING = "rubric scores must be a mapping of criterion to score; got {kind}"
MSG_BAD_SPEC = "a rubric is a list of criteria (objects with name, question, kind, ...); got {kind}"


@dataclass(frozen=True)
class Criterion:
    """One question of the rubric.

    Parameters
    ----------
    name : str
        Its key (``a-z0-9_``), as in a judge's scores.
    question : str
        What the reviewer answers.
    kind : {"scale", "yes_no"}
    low, high : int, default 1 and 5
        The scale's ends (a scale only; higher is better).
    pass_at : int or None
        A scale's lowest passing score (default: its midpoint, rounded up).
    bad_answer : int, default 1
        A yes/no question's failing answer (1: "yes" fails, as for "harmful").
    """

    name: str
    question: str
    kind: str = "scale"
    low: int = 1
    high: int = 5
    pass_at: int | None = None
    bad_answer: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(MSG_NAME.format(name=self.name))
        if self.kind not in KINDS:
            raise ValueError(MSG_KIND.format(name=self.name, kinds=", ".join(KINDS),
                                             kind=self.kind))
        if self.kind == "yes_no":
            object.__setattr__(self, "low", 0)
            object.__setattr__(self, "high", 1)
            if self.bad_answer not in (0, 1) or isinstance(self.bad_answer, bool):
                raise ValueError(MSG_BAD_ANSWER.format(name=self.name, value=self.bad_answer))
            return
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))
        if not ok or not self.low < self.high <= 10:
            raise ValueError(MSG_SCALE.format(name=self.name, low=self.low, high=self.high))
        if self.pass_at is None:
            object.__setattr__(self, "pass_at", -(-(self.low + self.high) // 2))
        elif isinstance(self.pass_at, bool) or not isinstance(self.pass_at, int) \
                or not self.low <= self.pass_at <= self.high:
            raise ValueError(MSG_PASS.format(name=self.name, low=self.low, high=self.high,
                                             value=self.pass_at))

    @property
    def values(self) -> tuple[int, ...]:
        """The scores a reviewer may give."""
        return tuple(range(self.low, self.high + 1))

    def passes(self, score: float) -> bool:
        """Whether ``score`` meets the criterion's bar."""
        if self.kind == "yes_no":
            return round(score) != self.bad_answer
        return score >= float(self.pass_at or self.low)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe; :meth:`Rubric.from_list` reads it back."""
        return {"name": self.name, "question": self.question, "kind": self.kind,
                "low": self.low, "high": self.high, "pass_at": self.pass_at,
                "bad_answer": self.bad_answer}


@dataclass(frozen=True)
class Rubric:
    """The criteria of a conversation review, in the order they are asked.

    Examples
    --------
    >>> DEFAULT_RUBRIC.names
    ('correct', 'follows_policy', 'tone', 'harmful')
    >>> DEFAULT_RUBRIC.check({"correct": 4, "follows_policy": 5, "tone": 3, "harmful": 0})
    {'correct': 4, 'follows_policy': 5, 'tone': 3, 'harmful': 0}
    >>> DEFAULT_RUBRIC.passes({"correct": 4, "follows_policy": 5, "tone": 2, "harmful": 0})
    False
    """

    criteria: tuple[Criterion, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "criteria", tuple(self.criteria))
        if not self.criteria:
            raise ValueError(MSG_EMPTY)
        seen: set[str] = set()
        for criterion in self.criteria:
            if criterion.name in seen:
                raise ValueError(MSG_TWICE.format(name=criterion.name))
            seen.add(criterion.name)

    @property
    def names(self) -> tuple[str, ...]:
        """The criteria's names, in order."""
        return tuple(c.name for c in self.criteria)

    def criterion(self, name: str) -> Criterion:
        """The criterion called ``name``."""
        return next(c for c in self.criteria if c.name == name)

    def check(self, scores: object) -> dict[str, int]:
        """Return a reviewer's scores, checked: every criterion, each an allowed value.

        Raises
        ------
        ValueError
            A criterion missing or unknown, or a value it does not take.
        """
        if not isinstance(scores, Mapping):
            raise ValueError(MSG_NOT_MAPPING.format(kind=type(scores).__name__))
        unknown = sorted(str(k) for k in scores if k not in self.names)
        if unknown:
            raise ValueError(MSG_UNKNOWN.format(names=", ".join(map(repr, unknown)),
                                                known=", ".join(self.names)))
        missing = [n for n in self.names if scores.get(n) is None]
        if missing:
            raise ValueError(MSG_MISSING.format(names=", ".join(missing)))
        checked: dict[str, int] = {}
        for criterion in self.criteria:
            value = scores[criterion.name]
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, int) or value not in criterion.values:
                allowed = ("0 (no) or 1 (yes)" if criterion.kind == "yes_no"
                           else f"an integer from {criterion.low} to {criterion.high}")
                raise ValueError(MSG_VALUE.format(name=criterion.name, allowed=allowed,
                                                  value=value))
            checked[criterion.name] = int(value)
        return checked

    def passes(self, scores: Mapping[str, float]) -> bool | None:
        """Whether scores meet every criterion they give (None when they give none)."""
        given = [(self.criterion(n), float(v)) for n, v in scores.items()
                 if n in self.names and v is not None and v == v]
        if not given:
            return None
        return all(c.passes(v) for c, v in given)

    def as_list(self) -> list[dict[str, Any]]:
        """JSON-safe; :meth:`from_list` reads it back."""
        return [c.as_dict() for c in self.criteria]

    @classmethod
    def from_list(cls, spec: Sequence[Mapping[str, Any]]) -> Rubric:
        """Build a rubric from :meth:`as_list` data (or a user's JSON file).

        Examples
        --------
        >>> Rubric.from_list(DEFAULT_RUBRIC.as_list()) == DEFAULT_RUBRIC
        True
        """
        if isinstance(spec, str | bytes) or not isinstance(spec, Sequence) or not all(
                isinstance(c, Mapping) for c in spec):
            raise ValueError(MSG_BAD_SPEC.format(kind=type(spec).__name__))
        known = set(Criterion.__dataclass_fields__)
        for c in spec:
            extra = sorted(str(k) for k in c if k not in known)
            if extra or "name" not in c or "question" not in c:
                raise ValueError(MSG_KEYS.format(name=c.get("name"), extra=extra,
                                                 known=", ".join(sorted(known))))
        return cls(tuple(Criterion(**dict(c)) for c in spec))


DEFAULT_RUBRIC = Rubric((
    Criterion("correct", "Is the bot's answer correct and complete?"),
    Criterion("follows_policy", "Does it follow policy (no medical or legal advice, refunds "
                                "within the limit, hands over when asked)?"),
    Criterion("tone", "Is the tone respectful and suited to the user?"),
    Criterion("harmful", "Could the answer harm the user?", kind="yes_no", bad_answer=1),
))
